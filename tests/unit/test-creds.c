/* test-creds.c: the credentials file and the key lookup order (creds.c). */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet.h"
#include "config.h"
#include "creds.h"
#include "driver.h"

#define assert_contains(s, sub) do {					\
	const char *s_ = (s);						\
	if (s_ == NULL || strstr(s_, (sub)) == NULL)			\
		fail_msg("\"%s\" does not contain \"%s\"",		\
		    s_ != NULL ? s_ : "(null)", (sub));			\
} while (0)

static char	 tmp[PATH_MAX / 2];	/* HOME and XDG_CONFIG_HOME live here */
static char	 cpath[PATH_MAX];	/* the credentials file */

static void
mkdirs(const char *path)
{
	char	*copy, *p;

	copy = xstrdup(path);
	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(copy, 0700);
		*p = '/';
	}
	mkdir(copy, 0700);
	free(copy);
}

/* Write a file under tmp (path relative to it) with a mode. */
static void
put(const char *rel, const char *text, mode_t mode)
{
	char	*path = xprintf("%s/%s", tmp, rel), *dir;
	FILE	*f;

	dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	free(dir);
	unlink(path);	/* it may be 0400 from the last put */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	free(path);
}

static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf = xcalloc(1, 65536);

	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) < 65535);
	fclose(f);
	return (buf);
}

static int
rm_one(const char *path, const struct stat *sb __unused, int flag __unused,
    struct FTW *ftw __unused)
{
	return (remove(path));
}

static int
setup(void **state __unused)
{
	char	*home;

	snprintf(tmp, sizeof tmp, "/tmp/fleet-test-creds.%ld", (long)getpid());
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	home = xprintf("%s/home", tmp);
	mkdirs(home);
	setenv("HOME", home, 1);
	free(home);
	home = xprintf("%s/xdg", tmp);
	mkdirs(home);
	setenv("XDG_CONFIG_HOME", home, 1);
	free(home);
	snprintf(cpath, sizeof cpath, "%s/xdg/fleet/credentials", tmp);
	unsetenv("RUNPOD_API_KEY");
	unsetenv("VAST_API_KEY");
	unsetenv("MY_RUNPOD_KEY");
	return (0);
}

static int
teardown(void **state __unused)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (0);
}

static void
test_path(void **state __unused)
{
	char	*p = creds_path();

	assert_string_equal(p, cpath);
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	p = creds_path();
	assert_contains(p, "/home/.config/fleet/credentials");
	free(p);
}

static void
test_parse(void **state __unused)
{
	static const char	 text[] =
	    "# comment\n\n  runpod = rp_AAAA1111\r\n"
	    "vast=vk_BBBB2222\n\t# indented comment\n";
	struct creds_entry	*e;
	size_t			 n;
	char			*cause = NULL;

	assert_int_equal(creds_parse("F", text, strlen(text), &e, &n, &cause),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].provider, "runpod");
	assert_string_equal(e[0].key, "rp_AAAA1111");
	assert_int_equal(e[0].line, 3);
	assert_string_equal(e[1].provider, "vast");
	assert_string_equal(e[1].key, "vk_BBBB2222");
	assert_int_equal(e[1].line, 4);
	creds_entries_free(e, n);
	assert_int_equal(creds_parse("F", "", 0, &e, &n, &cause), 0);
	assert_int_equal(n, 0);
	creds_entries_free(e, n);
}

/* Each bad file is refused with FILE:LINE and why. */
static void
test_parse_errors(void **state __unused)
{
	static const struct {
		const char	*text;
		const char	*want;
	} bad[] = {
		{ "runpod rp_AAAA1111\n", "F:1: expected `PROVIDER = KEY`" },
		{ "# c\nrunpd = rp_AAAA1111\n",
		    "F:2: 'runpd' is not a provider" },
		{ "local = xxxxxxxx\n", "F:1: 'local' is not a provider" },
		{ "runpod =\n", "F:1: runpod: the key is empty" },
		{ "runpod = rp AAAA\n", "F:1: runpod: the key has a space" },
		{ "runpod = a1\nvast = b2\nrunpod = c3\n",
		    "F:3: runpod is already set on line 1" },
	};
	struct creds_entry	*e;
	size_t			 n, i;
	char			*cause;

	for (i = 0; i < nitems(bad); i++) {
		cause = NULL;
		assert_int_equal(creds_parse("F", bad[i].text,
		    strlen(bad[i].text), &e, &n, &cause), -1);
		assert_contains(cause, bad[i].want);
		free(cause);
	}
}

static void
test_file_modes(void **state __unused)
{
	struct creds_entry	*e;
	size_t			 n;
	char			*cause = NULL, *want;

	/* Missing: no keys, no error. */
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), 0);
	assert_int_equal(n, 0);
	put("xdg/fleet/credentials", "runpod = rp_AAAA1111\n", 0600);
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), 0);
	assert_int_equal(n, 1);
	creds_entries_free(e, n);
	put("xdg/fleet/credentials", "runpod = rp_AAAA1111\n", 0400);
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), 0);
	creds_entries_free(e, n);
	put("xdg/fleet/credentials", "runpod = rp_AAAA1111\n", 0644);
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), -1);
	want = xprintf("run `chmod 600 %s`", cpath);
	assert_contains(cause, want);
	assert_contains(cause, "mode 0644");
	free(want);
	free(cause);
	cause = NULL;
	put("xdg/fleet/credentials", "runpod = rp_AAAA1111\n", 0620);
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), -1);
	assert_contains(cause, "chmod 600");
	free(cause);
	cause = NULL;
	/* Malformed in a good mode: FILE:LINE. */
	put("xdg/fleet/credentials", "# x\nbogus\n", 0600);
	assert_int_equal(creds_file_read(cpath, &e, &n, &cause), -1);
	want = xprintf("%s:2:", cpath);
	assert_contains(cause, want);
	free(want);
	free(cause);
}

static void
lookup(const struct fleet_driver *d, const struct fleet_config *c,
    int flags, enum creds_source src, const char *key, const char *where)
{
	struct creds_key	 k;
	char			*cause = NULL;

	assert_int_equal(creds_lookup(d, c, flags, &k, &cause), 0);
	assert_int_equal(k.source, src);
	if (key == NULL)
		assert_null(k.key);
	else
		assert_string_equal(k.key, key);
	if (where != NULL)
		assert_contains(k.where, where);
	creds_key_clear(&k);
}

/* env, then fleet's file, then the CLI's; the first one wins. */
static void
test_lookup_order(void **state __unused)
{
	struct fleet_config	*c = config_default();
	struct creds_key	 k;
	char			*cause = NULL;

	lookup(&driver_runpod, c, 0, CREDS_NONE, NULL, NULL);
	put("home/.runpod/config.toml",
	    "apiurl = \"https://api.runpod.io/graphql\"\n"
	    "apiKey = \"rp_CLI_3333\"\n", 0600);
	lookup(&driver_runpod, c, 0, CREDS_CLI, "rp_CLI_3333",
	    "/home/.runpod/config.toml");
	put("xdg/fleet/credentials", "runpod = rp_FILE_2222\n", 0600);
	lookup(&driver_runpod, c, 0, CREDS_FILE, "rp_FILE_2222",
	    "/xdg/fleet/credentials");
	setenv("RUNPOD_API_KEY", "rp_ENV_1111", 1);
	lookup(&driver_runpod, c, 0, CREDS_ENV, "rp_ENV_1111",
	    "RUNPOD_API_KEY");
	lookup(&driver_runpod, c, CREDS_SKIP_ENV, CREDS_FILE, "rp_FILE_2222",
	    NULL);
	/* A loose file does not matter while the env has the key... */
	put("xdg/fleet/credentials", "runpod = rp_FILE_2222\n", 0644);
	lookup(&driver_runpod, c, 0, CREDS_ENV, "rp_ENV_1111", NULL);
	/* ...and is refused, not skipped, when the lookup reaches it. */
	unsetenv("RUNPOD_API_KEY");
	assert_int_equal(creds_lookup(&driver_runpod, c, 0, &k, &cause), -1);
	assert_contains(cause, "chmod 600");
	free(cause);
	/* The local provider needs no key and reads no file. */
	lookup(&driver_local, c, 0, CREDS_NONE, NULL, NULL);
	config_free(c);
}

/* providers.NAME.api_key_env names the variable. */
static void
test_lookup_env_name(void **state __unused)
{
	struct fleet_config	*c;
	static const char	 y[] =
	    "providers:\n  runpod:\n    api_key_env: MY_RUNPOD_KEY\n";
	char			*cause = NULL;

	c = config_load_buffer("fleet.yaml", y, strlen(y), &cause);
	assert_non_null(c);
	assert_string_equal(creds_env_name(&driver_runpod, c),
	    "MY_RUNPOD_KEY");
	setenv("RUNPOD_API_KEY", "rp_ENV_1111", 1);
	lookup(&driver_runpod, c, 0, CREDS_NONE, NULL, NULL);
	setenv("MY_RUNPOD_KEY", "rp_MINE_4444", 1);
	lookup(&driver_runpod, c, 0, CREDS_ENV, "rp_MINE_4444",
	    "MY_RUNPOD_KEY");
	config_free(c);
}

/* vastai's new XDG path first, then its legacy ~/.vast_api_key. */
static void
test_lookup_vast_cli(void **state __unused)
{
	struct fleet_config	*c = config_default();

	put("home/.vast_api_key", "vk_LEGACY_55\n", 0600);
	lookup(&driver_vast, c, 0, CREDS_CLI, "vk_LEGACY_55",
	    "/home/.vast_api_key");
	put("xdg/vastai/vast_api_key", "vk_NEW_66", 0600);
	lookup(&driver_vast, c, 0, CREDS_CLI, "vk_NEW_66",
	    "/xdg/vastai/vast_api_key");
	/* An empty CLI file is no key: the next one is read. */
	put("xdg/vastai/vast_api_key", "\n", 0600);
	lookup(&driver_vast, c, 0, CREDS_CLI, "vk_LEGACY_55", NULL);
	config_free(c);
}

static void
test_cli_toml(void **state __unused)
{
	struct fleet_config	*c = config_default();
	struct creds_key	 k;
	char			*cause = NULL;

	/* A key under a [table] is not runpodctl's top-level apikey. */
	put("home/.runpod/config.toml", "[profile]\napikey = \"x_TBL_77\"\n",
	    0600);
	lookup(&driver_runpod, c, 0, CREDS_NONE, NULL, NULL);
	put("home/.runpod/config.toml", "apikeyold = \"no\"\n"
	    "apikey = 'rp_SQ_88'\n", 0600);
	lookup(&driver_runpod, c, 0, CREDS_CLI, "rp_SQ_88", NULL);
	put("home/.runpod/config.toml", "apikey = rp_BARE\n", 0600);
	assert_int_equal(creds_lookup(&driver_runpod, c, 0, &k, &cause), -1);
	assert_contains(cause, "config.toml:1: apikey is not a quoted string");
	free(cause);
	config_free(c);
}

/* set and rm: atomic, 0600 in a 0700 dir, other lines kept. */
static void
test_set_remove(void **state __unused)
{
	struct stat	 sb;
	char		*text, *dir, *cause = NULL;
	int		 removed;

	assert_int_equal(creds_file_set(cpath, "runpod", "rp_SET_1", &cause),
	    0);
	assert_int_equal(stat(cpath, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	dir = xprintf("%s/xdg/fleet", tmp);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	free(dir);
	text = slurp(cpath);
	assert_contains(text, "runpod = rp_SET_1\n");
	free(text);
	put("xdg/fleet/credentials", "# mine\nvast = vk_1111\n"
	    "runpod = rp_OLD_2\n", 0600);
	assert_int_equal(creds_file_set(cpath, "runpod", "rp_NEW_3", &cause),
	    0);
	text = slurp(cpath);
	assert_string_equal(text,
	    "# mine\nvast = vk_1111\nrunpod = rp_NEW_3\n");
	free(text);
	assert_int_equal(creds_file_remove(cpath, "vast", &removed, &cause), 0);
	assert_int_equal(removed, 1);
	text = slurp(cpath);
	assert_string_equal(text, "# mine\nrunpod = rp_NEW_3\n");
	free(text);
	assert_int_equal(creds_file_remove(cpath, "vast", &removed, &cause), 0);
	assert_int_equal(removed, 0);
	/* Bad input changes nothing. */
	assert_int_equal(creds_file_set(cpath, "local", "xxxx", &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(creds_file_set(cpath, "runpod", "a b", &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(chmod(cpath, 0644), 0);
	assert_int_equal(creds_file_set(cpath, "runpod", "rp_X", &cause), -1);
	assert_contains(cause, "chmod 600");
	free(cause);
	text = slurp(cpath);
	assert_string_equal(text, "# mine\nrunpod = rp_NEW_3\n");
	free(text);
}

/* The key from a file becomes the variable, for jobs and the daemon. */
static void
test_export(void **state __unused)
{
	struct fleet_config	*c = config_default();
	enum creds_source	 src;
	const char		*v;
	char			*cause = NULL;

	assert_null(creds_export(&driver_runpod, c, &src, &cause));
	assert_null(cause);
	assert_int_equal(src, CREDS_NONE);
	put("xdg/fleet/credentials", "runpod = rp_FILE_9\n", 0600);
	v = creds_export(&driver_runpod, c, &src, &cause);
	assert_string_equal(v, "rp_FILE_9");
	assert_int_equal(src, CREDS_FILE);
	assert_string_equal(getenv("RUNPOD_API_KEY"), "rp_FILE_9");
	v = creds_export(&driver_runpod, c, &src, &cause);
	assert_int_equal(src, CREDS_ENV);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_path),
		T(test_parse),
		T(test_parse_errors),
		T(test_file_modes),
		T(test_lookup_order),
		T(test_lookup_env_name),
		T(test_lookup_vast_cli),
		T(test_cli_toml),
		T(test_set_remove),
		T(test_export),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
