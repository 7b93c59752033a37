/* test-config.c: fleet.yaml and template loading (config.c, template.c). */
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

#define assert_contains(s, sub) do {					\
	const char *s_ = (s);						\
	if (s_ == NULL || strstr(s_, (sub)) == NULL)			\
		fail_msg("\"%s\" does not contain \"%s\"",		\
		    s_ != NULL ? s_ : "(null)", (sub));			\
} while (0)

/* Environment that changes what the loaders do: cleared for every test. */
static const char *const fleet_env[] = {
	"FLEET_CONFIG", "FLEET_TEMPLATE_DIR", "FLEET_STATE_DIR",
	"FLEET_RUNPOD_URL", "FLEET_LAMBDA_URL", "FLEET_VAST_URL",
	"FLEET_PAPERSPACE_URL",
};

static char	 tmp[PATH_MAX];		/* scratch dir for the whole group */
static char	 top[PATH_MAX];		/* the repository root (cwd) */
static int	 nfile;

/* mkdir -p, so the test does not lean on util.c. */
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

static int
rm_one(const char *path, const struct stat *sb __unused, int flag __unused,
    struct FTW *ftw __unused)
{
	return (remove(path));
}

static int
group_setup(void **state __unused)
{
	char	*dir;

	if (getcwd(top, sizeof top) == NULL)
		return (-1);
	snprintf(tmp, sizeof tmp, "/tmp/test-config.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return (-1);
	/* Keep the user's own ~/.config/fleet out of the results. */
	dir = xprintf("%s/xdg-none", tmp);
	setenv("XDG_CONFIG_HOME", dir, 1);
	free(dir);
	dir = xprintf("%s/home", tmp);
	setenv("HOME", dir, 1);
	free(dir);
	return (0);
}

static int
group_teardown(void **state __unused)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return (0);
}

static int
test_setup(void **state __unused)
{
	size_t	 i;

	for (i = 0; i < nitems(fleet_env); i++)
		unsetenv(fleet_env[i]);
	return (chdir(top));
}

/* Write text to DIR/NAME (DIR under tmp, made if needed); returns path. */
static char *
write_file(const char *dir, const char *name, const char *text)
{
	char	*d, *path;
	FILE	*f;

	d = xprintf("%s/%s", tmp, dir);
	mkdirs(d);
	path = xprintf("%s/%s", d, name);
	free(d);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return (path);
}

/* A fresh directory per case, so files never collide. */
static char *
write_conf(const char *text)
{
	char	*dir, *path;

	dir = xprintf("case%d", nfile++);
	path = write_file(dir, "fleet.yaml", text);
	free(dir);
	return (path);
}

/* Load text as fleet.yaml; expect failure with "PATH:MSG" exactly. */
static void
conf_fails(const char *text, const char *msg)
{
	char			*path, *want, *cause = NULL;
	struct fleet_config	*conf;

	path = write_conf(text);
	conf = config_load_file(path, &cause);
	if (conf != NULL)
		fail_msg("loaded, expected: %s", msg);
	want = xprintf("%s:%s", path, msg);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
}

static struct fleet_config *
conf_loads(const char *text)
{
	char			*path, *cause = NULL;
	struct fleet_config	*conf;

	path = write_conf(text);
	if ((conf = config_load_file(path, &cause)) == NULL)
		fail_msg("%s", cause);
	free(path);
	return (conf);
}

/* The values promised in config.h and fleet.yaml when nothing is set. */
static void
check_defaults(const struct fleet_config *conf)
{
	static const char *const names[] = {
		"runpod", "lambda", "vast", "paperspace", "local"
	};
	static const char *const keys[] = {
		"RUNPOD_API_KEY", "LAMBDA_API_KEY", "VAST_API_KEY",
		"PAPERSPACE_API_KEY", NULL
	};
	const struct provider_conf	*p;
	size_t				 i;

	assert_int_equal(conf->nproviders, 5);
	for (i = 0; i < nitems(names); i++) {
		assert_non_null(p = config_provider(conf, names[i]));
		assert_ptr_equal(p, &conf->providers[i]);
		assert_string_equal(p->name, names[i]);
		assert_int_equal(p->enabled, 1);
		assert_null(p->base_url);
		if (keys[i] == NULL)
			assert_null(p->api_key_env);
		else
			assert_string_equal(p->api_key_env, keys[i]);
		assert_null(p->ssh_key_name);
		assert_null(p->region);
		assert_true(p->max_price == 0);
	}
	assert_null(config_provider(conf, "aws"));
	assert_int_equal(conf->defaults.idle_timeout, 30 * 60);
	assert_int_equal(conf->defaults.max_lifetime, 12 * 3600);
	assert_int_equal(conf->defaults.idle_action, IDLE_ACTION_TERMINATE);
	assert_true(conf->defaults.max_price == 0);
	assert_true(conf->defaults.failover_max_ratio == 2.0);
	assert_true(conf->defaults.confirm_above_usd == 1.00);
	assert_true(conf->budget.daily_usd == 0);
	assert_true(conf->budget.monthly_usd == 0);
	assert_string_equal(conf->proxy.bind, "127.0.0.1");
	assert_int_equal(conf->proxy.shared_port, 7070);
	assert_int_equal(conf->proxy.port_min, 8900);
	assert_int_equal(conf->proxy.port_max, 8999);
	assert_int_equal(conf->proxy.hold_timeout, 60);
	assert_null(conf->proxy.token);
	assert_int_equal(conf->proxy.max_header_bytes, 65536);
	assert_int_equal(conf->proxy.body_timeout, 60);
	assert_int_equal(conf->proxy.upstream_timeout, 300);
	assert_int_equal(conf->proxy.nallowed_hosts, 0);
	assert_null(conf->state);
	assert_int_equal(conf->ntemplate_dirs, 0);
}

static void
test_default(void **state __unused)
{
	struct fleet_config	*conf;
	int			 i;

	conf = config_default();
	check_defaults(conf);
	assert_null(conf->path);
	for (i = 0; i < conf->nproviders; i++)
		assert_int_equal(conf->providers[i].line, 0);
	config_free(conf);
	config_free(NULL);
}

/* The shipped example must load, and say what the defaults say. */
static void
test_shipped_fleet_yaml(void **state __unused)
{
	struct fleet_config		*conf;
	const struct provider_conf	*p;
	char				*cause = NULL;

	conf = config_load_file("fleet.yaml", &cause);
	if (conf == NULL)
		fail_msg("%s", cause);
	check_defaults(conf);
	assert_string_equal(conf->path, "fleet.yaml");
	p = config_provider(conf, "runpod");
	assert_true(p->line > 0);	/* listed in the file */
	assert_true(config_provider(conf, "local")->line > p->line);
	config_free(conf);
}

static void
test_empty_files(void **state __unused)
{
	static const char *const texts[] = {
		"", "# only a comment\n", "---\n", "~\n", "providers:\n",
		"providers: {}\ndefaults:\nbudget: ~\ntemplate_dirs:\n",
	};
	struct fleet_config	*conf;
	size_t			 i;

	for (i = 0; i < nitems(texts); i++) {
		conf = conf_loads(texts[i]);
		check_defaults(conf);
		config_free(conf);
	}
}

static void
test_values(void **state __unused)
{
	struct fleet_config		*conf;
	const struct provider_conf	*p;
	char				*dir;

	conf = conf_loads(
	    "providers:\n"
	    "  vast:\n"
	    "    enabled: no\n"
	    "    base_url: http://127.0.0.1:9103\n"
	    "    api_key_env: MY_VAST_KEY\n"
	    "    ssh_key_name: laptop\n"
	    "    region: EU\n"
	    "    max_price: $1.25\n"
	    "  local:\n"
	    "defaults:\n"
	    "  idle_timeout: 0\n"
	    "  max_lifetime: 1d2h\n"
	    "  idle_action: stop\n"
	    "  max_price: 0.6\n"
	    "budget: {daily_usd: 20, monthly_usd: \"$300.50\"}\n"
	    "proxy:\n"
	    "  bind: 0.0.0.0\n"
	    "  shared_port: 9000\n"
	    "  port_min: 10000\n"
	    "  port_max: 10010\n"
	    "  hold_timeout: 2m\n"
	    "  token: s3cret-0123456789ab\n"
	    "  max_header_bytes: 8192\n"
	    "  body_timeout: 5s\n"
	    "  upstream_timeout: 10m\n"
	    "  allowed_hosts: [gpu.lan, 10.0.0.2]\n"
	    "ssh: {key: ~/.ssh/fleet_ed25519, known_hosts: /etc/fleet/kh,\n"
	    "  connect_timeout: 3s, keepalive: 5s, gpu_sample_interval: 0s}\n"
	    "state: /var/lib/fleet\n"
	    "template_dirs: [/opt/tpl, mine, ~/tpl]\n");
	p = config_provider(conf, "vast");
	assert_int_equal(p->enabled, 0);
	assert_string_equal(p->base_url, "http://127.0.0.1:9103");
	assert_string_equal(p->api_key_env, "MY_VAST_KEY");
	assert_string_equal(p->ssh_key_name, "laptop");
	assert_string_equal(p->region, "EU");
	assert_true(p->max_price == 1.25);
	assert_int_equal(p->line, 2);
	assert_int_equal(config_provider(conf, "local")->line, 9);
	assert_int_equal(config_provider(conf, "local")->enabled, 1);
	assert_string_equal(config_provider(conf, "runpod")->api_key_env,
	    "RUNPOD_API_KEY");
	assert_int_equal(conf->defaults.idle_timeout, 0);
	assert_int_equal(conf->defaults.max_lifetime, 26 * 3600);
	assert_int_equal(conf->defaults.idle_action, IDLE_ACTION_STOP);
	assert_true(conf->defaults.max_price == 0.6);
	assert_true(conf->budget.daily_usd == 20);
	assert_true(conf->budget.monthly_usd == 300.5);
	assert_string_equal(conf->proxy.bind, "0.0.0.0");
	assert_int_equal(conf->proxy.shared_port, 9000);
	assert_int_equal(conf->proxy.port_min, 10000);
	assert_int_equal(conf->proxy.port_max, 10010);
	assert_int_equal(conf->proxy.hold_timeout, 120);
	assert_string_equal(conf->proxy.token, "s3cret-0123456789ab");
	assert_int_equal(conf->proxy.max_header_bytes, 8192);
	assert_int_equal(conf->proxy.body_timeout, 5);
	assert_int_equal(conf->proxy.upstream_timeout, 600);
	assert_int_equal(conf->proxy.nallowed_hosts, 2);
	assert_string_equal(conf->proxy.allowed_hosts[1], "10.0.0.2");
	assert_string_equal(conf->state, "/var/lib/fleet");
	assert_int_equal(conf->ntemplate_dirs, 3);
	assert_string_equal(conf->template_dirs[0], "/opt/tpl");
	/* Relative to the config file, not to wherever fleet runs. */
	dir = xprintf("%s/case%d/mine", tmp, nfile - 1);
	assert_string_equal(conf->template_dirs[1], dir);
	free(dir);
	dir = xprintf("%s/tpl", getenv("HOME"));
	assert_string_equal(conf->template_dirs[2], dir);
	free(dir);
	/* ~/ in the key path is expanded once, at load. */
	dir = xprintf("%s/.ssh/fleet_ed25519", getenv("HOME"));
	assert_string_equal(conf->ssh.key, dir);
	free(dir);
	assert_string_equal(conf->ssh.known_hosts, "/etc/fleet/kh");
	assert_int_equal(conf->ssh.connect_timeout, 3);
	assert_int_equal(conf->ssh.keepalive, 5);
	assert_int_equal(conf->ssh.gpu_sample_interval, 0);
	config_free(conf);
}

static void
test_booleans(void **state __unused)
{
	static const struct {
		const char	*text;
		int		 value;
	} cases[] = {
		{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
		{ "on", 1 }, { "off", 0 }, { "True", 1 }, { "OFF", 0 },
		{ "\"yes\"", 1 },
	};
	struct fleet_config	*conf;
	char			*text;
	size_t			 i;

	for (i = 0; i < nitems(cases); i++) {
		text = xprintf("providers:\n  lambda:\n    enabled: %s\n",
		    cases[i].text);
		conf = conf_loads(text);
		assert_int_equal(config_provider(conf, "lambda")->enabled,
		    cases[i].value);
		config_free(conf);
		free(text);
	}
	conf_fails("providers:\n  lambda:\n    enabled: maybe\n",
	    "3:14: providers.lambda.enabled: invalid boolean 'maybe' "
	    "(use true or false)");
	conf_fails("providers:\n  lambda:\n    enabled: 1\n",
	    "3:14: providers.lambda.enabled: invalid boolean '1' "
	    "(use true or false)");
}

/* Every error names file:line:column of the offending node. */
static void
test_errors(void **state __unused)
{
	conf_fails("defaults:\n  idel_timeout: 5m\n",
	    "2:3: unknown key 'idel_timeout' in 'defaults' "
	    "(did you mean 'idle_timeout'?)");
	conf_fails("budgett:\n  daily_usd: 5\n",
	    "1:1: unknown key 'budgett' (did you mean 'budget'?)");
	conf_fails("proxy:\n  zzz: 1\n", "2:3: unknown key 'zzz' in 'proxy'");
	conf_fails("providers:\n  runpod:\n    max_price: 0.6.0\n",
	    "3:16: providers.runpod.max_price: invalid money '0.6.0': "
	    "unexpected '.'");
	conf_fails("providers:\n  runpod:\n    api_key: X\n",
	    "3:5: unknown key 'api_key' in 'providers.runpod' "
	    "(did you mean 'api_key_env'?)");
	conf_fails("defaults:\n  idle_timeout: 1x\n",
	    "2:17: defaults.idle_timeout: invalid duration '1x': unknown "
	    "unit 'x' (use s, m, h, d)");
	conf_fails("defaults:\n  idle_timeout: 45\n",
	    "2:17: defaults.idle_timeout: invalid duration '45': missing "
	    "unit after '45' (use s, m, h, d)");
	conf_fails("defaults:\n  idle_timeout:\n",
	    "2:16: defaults.idle_timeout: missing value");
	conf_fails("defaults:\n  idle_action: termiante\n",
	    "2:16: defaults.idle_action: invalid value 'termiante' (did you "
	    "mean 'terminate'? expected one of: terminate, stop)");
	conf_fails("defaults: 5\n",
	    "1:11: defaults: expected a mapping, got a scalar");
	conf_fails("- a\n- b\n",
	    "1:1: top level: expected a mapping, got a sequence");
	conf_fails("defaults:\n  - idle_timeout\n",
	    "2:3: defaults: expected a mapping, got a sequence");
	conf_fails("proxy:\n  port_min: [1]\n",
	    "2:13: proxy.port_min: expected a single value, got a sequence");
	conf_fails("template_dirs: /opt/tpl\n",
	    "1:16: template_dirs: expected a sequence, got a scalar");
	conf_fails("template_dirs:\n  - {a: b}\n",
	    "2:5: template_dirs[0]: expected a string, got a mapping");
	conf_fails("budget:\n  daily_usd: 1\n  daily_usd: 2\n",
	    "3:3: duplicate key 'daily_usd' (first defined at line 2)");
	conf_fails("providers:\n  runpd: {}\n",
	    "2:3: unknown provider 'runpd' (did you mean 'runpod'?)");
	conf_fails("providers:\n  aws:\n    enabled: true\n",
	    "2:3: unknown provider 'aws' (known: runpod, lambda, vast, "
	    "paperspace, local)");
	conf_fails("providers:\n  vast: true\n",
	    "2:9: providers.vast: expected a mapping, got a scalar");
	conf_fails("providers:\n  vast:\n    base_url: ftp://x\n",
	    "3:15: providers.vast.base_url: invalid value 'ftp://x': must "
	    "start with http:// or https://");
	conf_fails("providers:\n  vast:\n    api_key_env: 1KEY\n",
	    "3:18: providers.vast.api_key_env: invalid value '1KEY': not a "
	    "valid environment variable name");
	conf_fails("proxy:\n  shared_port: 70000\n",
	    "2:16: proxy.shared_port: invalid port '70000': must be a number "
	    "between 1 and 65535");
	conf_fails("proxy:\n  max_header_bytes: 10\n",
	    "2:21: proxy.max_header_bytes: invalid number '10': must be "
	    "between 1024 and 1048576");
	conf_fails("proxy:\n  hold_timeout: 2h\n",
	    "2:17: proxy.hold_timeout: invalid duration '2h': must be "
	    "between 0s and 1h");
	conf_fails("proxy:\n  bind:\n", "2:8: proxy.bind: missing value");
	conf_fails("defaults:\n  failover_max_ratio: 0.5\n",
	    "2:23: defaults.failover_max_ratio: invalid number '0.5': must "
	    "be between 1 and 1000");
	conf_fails("defaults:\n  failover_max_ratio: 2x\n",
	    "2:23: defaults.failover_max_ratio: invalid number '2x': must "
	    "be between 1 and 1000");
	conf_fails("defaults:\n  confirm_above_usd: cheap\n",
	    "2:22: defaults.confirm_above_usd: invalid money 'cheap': not a "
	    "number (write e.g. 0.60 or $0.60)");
	conf_fails("{a: b}: c\n",
	    "1:1: keys must be plain strings, not a mapping");
}

static void
test_cross_field_errors(void **state __unused)
{
	conf_fails("proxy:\n  port_max: 8999\n  port_min: 9000\n",
	    "3:13: proxy.port_min (9000) is greater than proxy.port_max "
	    "(8999)");
	/* Only port_max set: blame what is there. */
	conf_fails("proxy:\n  port_max: 8000\n",
	    "2:3: proxy.port_min (8900) is greater than proxy.port_max "
	    "(8000)");
	conf_fails("proxy:\n  shared_port: 8950\n",
	    "2:16: proxy.shared_port (8950) is inside the stable port range "
	    "8900-8999");
}

/* A guessable proxy.token is refused where it is written. */
#define TOKEN_ERR "2:10: proxy.token: use at least 16 characters, not " \
	"only spaces (e.g. `openssl rand -hex 24`)"
static void
test_token_errors(void **state __unused)
{
	struct fleet_config	*conf;

	conf_fails("proxy:\n  token: s3cret\n", TOKEN_ERR);
	conf_fails("proxy:\n  token: 0123456789abcde\n", TOKEN_ERR);
	conf_fails("proxy:\n  token: \"                    \"\n", TOKEN_ERR);
	conf_fails("proxy:\n  token: \"\\t \\t \\t \\t \\t \\t \\t \\t \\t\"\n",
	    TOKEN_ERR);
	conf = conf_loads("proxy:\n  token: 0123456789abcdef\n");
	assert_string_equal(conf->proxy.token, "0123456789abcdef");
	config_free(conf);
	/* "" is unset, as before: no token, no check. */
	conf = conf_loads("proxy: {token: ''}\n");
	config_free(conf);
}

static void
test_yaml_errors(void **state __unused)
{
	conf_fails("defaults:\n  idle_timeout: [5m\n",
	    "3:1: syntax error: did not find expected ',' or ']' (while "
	    "parsing a flow sequence at line 2)");
	conf_fails("defaults:\n  idle_timeout: 5m\n   bad: x\n",
	    "3:7: syntax error: mapping values are not allowed in this "
	    "context");
	conf_fails("defaults:\n\tidle_timeout: 5m\n",
	    "2:1: syntax error: found character that cannot start any token "
	    "(while scanning for the next token at line 2) (YAML does not "
	    "allow tabs for indentation)");
	conf_fails("budget: {}\n---\nbudget: {}\n",
	    "2:1: only one YAML document is allowed");
	conf_fails("defaults: &d\n  idle_timeout: 5m\nbudget: *d\n",
	    "3:9: aliases (*name) are not supported");
	conf_fails("state: \"a\\0b\"\n", "1:8: NUL character in a value");
}

static void
test_nesting_limit(void **state __unused)
{
	char	*text, *path, *cause = NULL;
	size_t	 i, n = 200;

	text = xcalloc(2 * n + 1, 1);
	for (i = 0; i < n; i++) {
		text[i] = '[';
		text[2 * n - 1 - i] = ']';
	}
	path = write_conf(text);
	assert_null(config_load_file(path, &cause));
	assert_contains(cause, "nested too deeply");
	free(cause);
	free(path);
	free(text);
}

static void
test_missing_file(void **state __unused)
{
	char	*path, *want, *cause = NULL;

	path = xprintf("%s/nope/fleet.yaml", tmp);
	assert_null(config_load_file(path, &cause));
	want = xprintf("%s: cannot open: No such file or directory", path);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
}

static void
test_load_buffer(void **state __unused)
{
	static const char	 text[] = "defaults:\n  idle_timeout: 7m\n";
	struct fleet_config	*conf;
	char			*cause = NULL;

	conf = config_load_buffer("mem.yaml", text, sizeof text - 1, &cause);
	assert_non_null(conf);
	assert_int_equal(conf->defaults.idle_timeout, 420);
	assert_string_equal(conf->path, "mem.yaml");
	config_free(conf);

	assert_null(config_load_buffer("mem.yaml", "a: [", 4, &cause));
	assert_contains(cause, "mem.yaml:2:1: syntax error");
	free(cause);
}

static void
test_env_overrides(void **state __unused)
{
	struct fleet_config	*conf;
	char			*path, *cause = NULL;

	path = write_conf("providers:\n  runpod:\n    base_url: "
	    "https://file.example\n  vast:\n    base_url: https://v.example\n"
	    "state: /from/file\n");
	setenv("FLEET_RUNPOD_URL", "http://127.0.0.1:9101", 1);
	setenv("FLEET_LAMBDA_URL", "http://127.0.0.1:9102", 1);
	setenv("FLEET_PAPERSPACE_URL", "", 1);	/* empty = unset */
	setenv("FLEET_STATE_DIR", "/tmp/fleet-state", 1);
	assert_non_null(conf = config_load(path, &cause));
	assert_string_equal(config_provider(conf, "runpod")->base_url,
	    "http://127.0.0.1:9101");
	assert_string_equal(config_provider(conf, "lambda")->base_url,
	    "http://127.0.0.1:9102");
	assert_string_equal(config_provider(conf, "vast")->base_url,
	    "https://v.example");
	assert_null(config_provider(conf, "paperspace")->base_url);
	assert_string_equal(conf->state, "/tmp/fleet-state");
	config_free(conf);

	/* config_load_file is the file alone: tests compare it verbatim. */
	assert_non_null(conf = config_load_file(path, &cause));
	assert_string_equal(config_provider(conf, "runpod")->base_url,
	    "https://file.example");
	assert_string_equal(conf->state, "/from/file");
	config_free(conf);

	setenv("FLEET_VAST_URL", "127.0.0.1:9103", 1);
	assert_null(config_load(path, &cause));
	assert_string_equal(cause, "FLEET_VAST_URL: invalid value "
	    "'127.0.0.1:9103': must start with http:// or https://");
	free(cause);
	free(path);
}

/* --config, $FLEET_CONFIG, ./fleet.yaml, $XDG_CONFIG_HOME, ~/.config. */
static void
test_search_order(void **state __unused)
{
	struct fleet_config	*conf;
	char			*cwd, *xdg, *home, *p, *want, *cause = NULL;
	const char		*saved_home = getenv("HOME");
	char			*old_home;

	old_home = xstrdup(saved_home != NULL ? saved_home : "");
	cwd = xprintf("%s/search/cwd", tmp);
	xdg = xprintf("%s/search/xdg", tmp);
	home = xprintf("%s/search/home", tmp);
	mkdirs(cwd);
	assert_int_equal(chdir(cwd), 0);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("HOME", home, 1);

	/* Nothing anywhere: defaults, with no path. */
	assert_null(config_find_path(NULL));
	assert_non_null(conf = config_load(NULL, &cause));
	assert_null(conf->path);
	check_defaults(conf);
	config_free(conf);

	/* ~/.config/fleet/fleet.yaml when XDG_CONFIG_HOME is unset. */
	free(write_file("search/home/.config/fleet", "fleet.yaml",
	    "budget: {daily_usd: 1}\n"));
	unsetenv("XDG_CONFIG_HOME");
	want = xprintf("%s/.config/fleet/fleet.yaml", home);
	p = config_find_path(NULL);
	assert_string_equal(p, want);
	free(p);
	free(want);

	/* $XDG_CONFIG_HOME/fleet/fleet.yaml wins over ~/.config. */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	free(write_file("search/xdg/fleet", "fleet.yaml",
	    "budget: {daily_usd: 2}\n"));
	want = xprintf("%s/fleet/fleet.yaml", xdg);
	p = config_find_path(NULL);
	assert_string_equal(p, want);
	free(p);
	free(want);
	assert_non_null(conf = config_load(NULL, &cause));
	assert_true(conf->budget.daily_usd == 2);
	config_free(conf);

	/* ./fleet.yaml wins over the user's. */
	free(write_file("search/cwd", "fleet.yaml",
	    "budget: {daily_usd: 3}\n"));
	p = config_find_path(NULL);
	assert_string_equal(p, "fleet.yaml");
	free(p);

	/* $FLEET_CONFIG wins, and is used even when it does not exist. */
	setenv("FLEET_CONFIG", "/nonexistent/fleet.yaml", 1);
	p = config_find_path(NULL);
	assert_string_equal(p, "/nonexistent/fleet.yaml");
	free(p);
	assert_null(config_load(NULL, &cause));
	assert_string_equal(cause, "/nonexistent/fleet.yaml: cannot open: "
	    "No such file or directory");
	free(cause);

	/* --config wins over everything. */
	p = config_find_path("/explicit.yaml");
	assert_string_equal(p, "/explicit.yaml");
	free(p);
	unsetenv("FLEET_CONFIG");
	assert_non_null(conf = config_load("fleet.yaml", &cause));
	assert_true(conf->budget.daily_usd == 3);
	config_free(conf);

	setenv("HOME", old_home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	free(old_home);
	free(cwd);
	free(xdg);
	free(home);
}

static struct fleet_template *
tmpl_loads(const char *path)
{
	struct fleet_template	*t;
	char			*cause = NULL;

	if ((t = template_load_file(path, &cause)) == NULL)
		fail_msg("%s", cause);
	return (t);
}

static void
test_shipped_templates(void **state __unused)
{
	char			**paths;
	struct fleet_template	 *t;
	int			  n, i;

	paths = template_list_paths(NULL, &n);
	assert_true(n >= 3);
	for (i = 0; i < n; i++) {
		t = tmpl_loads(paths[i]);
		assert_non_null(template_stable_port(t));
		assert_non_null(t->description);
		assert_non_null(t->local.command);
		assert_contains(t->local.command, "{port}");
		template_free(t);
		free(paths[i]);
	}
	free(paths);
}

static void
test_template_demo_echo(void **state __unused)
{
	struct fleet_template	*t;
	const struct tmpl_port	*sp;

	t = tmpl_loads("templates/demo-echo.yaml");
	assert_string_equal(t->name, "demo-echo");
	assert_string_equal(t->path, "templates/demo-echo.yaml");
	assert_int_equal(t->gpu.min_vram_gb, 0);
	assert_int_equal(t->gpu.count, 0);
	assert_int_equal(t->nports, 1);
	sp = template_stable_port(t);
	assert_ptr_equal(sp, &t->ports[0]);
	assert_int_equal(sp->number, 8080);
	assert_int_equal(sp->proto, PORT_HTTP);
	assert_int_equal(t->health.kind, HEALTH_HTTP);
	assert_string_equal(t->health.path, "/health");
	assert_int_equal(t->health.port, 8080);
	assert_int_equal(t->health.interval, 1);
	assert_int_equal(t->health.boot_timeout, 30);
	assert_int_equal(t->stable_port, 8990);
	assert_int_equal(t->idle_timeout, 20 * 60);
	assert_int_equal(t->max_lifetime, -1);
	assert_int_equal(t->idle_action, IDLE_ACTION_TERMINATE);
	assert_int_equal(t->wake_on_request, 1);
	assert_string_equal(t->local.command,
	    "{fleet} echo-server --port {port}");
	template_free(t);
}

static void
test_template_personaplex(void **state __unused)
{
	struct fleet_template	*t;
	const struct tmpl_port	*sp;

	t = tmpl_loads("templates/personaplex-7b.yaml");
	assert_string_equal(t->name, "personaplex-7b");
	sp = template_stable_port(t);
	assert_int_equal(sp->number, 8998);
	assert_int_equal(sp->proto, PORT_WS);
	assert_int_equal(t->stable_port, 8998);
	/* Ready means a WebSocket handshake, not just an HTTP 200. */
	assert_int_equal(t->health.kind, HEALTH_WS);
	assert_string_equal(t->health.path, "/api/chat");
	assert_int_equal(t->health.port, 8998);
	assert_int_equal(t->gpu.count, 1);
	assert_true(t->gpu.min_vram_gb >= 24);
	assert_int_equal(t->nenv, 1);
	assert_string_equal(t->env[0].key, "HF_TOKEN");
	assert_non_null(t->image);
	assert_contains(t->args[t->nargs - 1], "moshi.server");
	assert_contains(t->args[t->nargs - 1], "--port 8998");
	template_free(t);
}

static void
test_template_llama(void **state __unused)
{
	struct fleet_template	*t;
	int			 i, tp = -1;

	t = tmpl_loads("templates/llama-3.3-70b-vllm.yaml");
	assert_string_equal(t->name, "llama-3.3-70b-vllm");
	assert_string_equal(t->image, "vllm/vllm-openai:latest");
	assert_int_equal(t->gpu.count, 2);
	assert_int_equal(t->gpu.min_vram_gb, 80);
	assert_int_equal(t->gpu.nmodels, 2);
	for (i = 0; i + 1 < t->nargs; i++) {
		if (strcmp(t->args[i], "--tensor-parallel-size") == 0)
			tp = atoi(t->args[i + 1]);
	}
	/* Tensor parallelism has to match the GPUs rented. */
	assert_int_equal(tp, t->gpu.count);
	assert_string_equal(t->args[1], "meta-llama/Llama-3.3-70B-Instruct");
	assert_int_equal(template_stable_port(t)->number, 8000);
	assert_int_equal(t->health.kind, HEALTH_HTTP);
	assert_string_equal(t->health.path, "/health");
	assert_true(t->disk_gb >= 150);
	template_free(t);
}

static char *
write_tmpl(const char *dir, const char *name, const char *text)
{
	char	*file, *path;

	file = xprintf("%s.yaml", name);
	path = write_file(dir, file, text);
	free(file);
	return (path);
}

static void
test_template_defaults(void **state __unused)
{
	struct fleet_template	*t;
	char			*path;

	path = write_tmpl("tpl-defaults", "mini",
	    "image: busybox\nports:\n  - port: 80\n");
	t = tmpl_loads(path);
	assert_string_equal(t->name, "mini");	/* from the file name */
	assert_null(t->description);
	assert_int_equal(t->gpu.min_vram_gb, 0);
	assert_int_equal(t->gpu.count, 0);	/* no gpu section */
	assert_int_equal(t->gpu.nmodels, 0);
	assert_int_equal(t->disk_gb, 50);
	assert_int_equal(t->nports, 1);
	assert_int_equal(t->ports[0].stable, 1);
	assert_int_equal(t->ports[0].proto, PORT_HTTP);
	assert_int_equal(t->health.kind, HEALTH_HTTP);
	assert_string_equal(t->health.path, "/");
	assert_null(t->health.command);
	assert_int_equal(t->health.port, 80);
	assert_int_equal(t->health.interval, 2);
	assert_int_equal(t->health.timeout, 5);
	assert_int_equal(t->health.boot_timeout, 900);
	assert_int_equal(t->nproviders, 0);
	assert_true(t->max_price == 0);
	assert_int_equal(t->idle_timeout, -1);
	assert_int_equal(t->max_lifetime, -1);
	assert_int_equal(t->idle_action, -1);
	assert_int_equal(t->deadman_timeout, 0);
	assert_int_equal(t->idle_gpu_percent, 5);
	assert_int_equal(t->wake_on_request, 0);
	assert_int_equal(t->stable_port, 0);
	assert_null(t->local.command);
	assert_int_equal(t->local.nenv, 0);
	template_free(t);
	free(path);
}

static void
test_template_full(void **state __unused)
{
	struct fleet_template	*t;
	char			*path;

	path = write_tmpl("tpl-full", "full",
	    "name: full\n"
	    "description: everything\n"
	    "gpu: {min_vram_gb: 24, models: [RTX 4090, L40S], count: 2}\n"
	    "image: repo/img:1\n"
	    "args: [serve, --fast]\n"
	    "env: {A: \"1\", B_2: two, EMPTY: }\n"
	    "disk_gb: 120\n"
	    "ports:\n"
	    "  - {port: 8080, protocol: http}\n"
	    "  - {port: 9000, protocol: tcp, stable: yes}\n"
	    "  - {port: 9001, protocol: ws}\n"
	    "health: {type: ssh, command: nvidia-smi, interval: 3s, "
	    "timeout: 1m, boot_timeout: 1h, port: 22}\n"
	    "providers: [vast, runpod]\n"
	    "max_price: $0.45\n"
	    "idle_timeout: 0\n"
	    "max_lifetime: 2d\n"
	    "idle_action: stop\n"
	    "idle_gpu_percent: 0\n"
	    "wake_on_request: on\n"
	    "stable_port: 8950\n"
	    "deadman_timeout: 10m\n"
	    "local: {command: \"run --port {port}\", env: {DEBUG: \"1\"}}\n");
	t = tmpl_loads(path);
	assert_string_equal(t->description, "everything");
	assert_int_equal(t->gpu.min_vram_gb, 24);
	assert_int_equal(t->gpu.nmodels, 2);
	assert_string_equal(t->gpu.models[1], "L40S");
	assert_int_equal(t->gpu.count, 2);
	assert_int_equal(t->nargs, 2);
	assert_string_equal(t->args[1], "--fast");
	assert_int_equal(t->nenv, 3);
	assert_string_equal(t->env[1].key, "B_2");
	assert_string_equal(t->env[1].value, "two");
	assert_string_equal(t->env[2].value, "");
	assert_int_equal(t->disk_gb, 120);
	assert_int_equal(t->nports, 3);
	assert_ptr_equal(template_stable_port(t), &t->ports[1]);
	assert_int_equal(t->ports[1].proto, PORT_TCP);
	assert_int_equal(t->ports[2].proto, PORT_WS);
	assert_int_equal(t->health.kind, HEALTH_SSH);
	assert_string_equal(t->health.command, "nvidia-smi");
	assert_int_equal(t->health.interval, 3);
	assert_int_equal(t->health.timeout, 60);
	assert_int_equal(t->health.boot_timeout, 3600);
	assert_int_equal(t->health.port, 22);
	assert_int_equal(t->nproviders, 2);
	assert_string_equal(t->providers[0], "vast");
	assert_true(t->max_price == 0.45);
	assert_int_equal(t->idle_timeout, 0);
	assert_int_equal(t->max_lifetime, 2 * 86400);
	assert_int_equal(t->idle_action, IDLE_ACTION_STOP);
	assert_int_equal(t->idle_gpu_percent, 0);
	assert_int_equal(t->wake_on_request, 1);
	assert_int_equal(t->stable_port, 8950);
	assert_int_equal(t->deadman_timeout, 600);
	assert_string_equal(t->local.command, "run --port {port}");
	assert_int_equal(t->local.nenv, 1);
	assert_string_equal(t->local.env[0].key, "DEBUG");
	template_free(t);
	free(path);
}

/* Load text as templates/NAME.yaml; expect "PATH:MSG" exactly. */
static void
tmpl_fails(const char *name, const char *text, const char *msg)
{
	char			*dir, *path, *want, *cause = NULL;
	struct fleet_template	*t;

	dir = xprintf("tcase%d", nfile++);
	path = write_tmpl(dir, name, text);
	if ((t = template_load_file(path, &cause)) != NULL)
		fail_msg("loaded, expected: %s", msg);
	want = xprintf("%s:%s", path, msg);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
	free(dir);
}

#define BASE "image: x\nports:\n  - port: 80\n"

static void
test_template_errors(void **state __unused)
{
	tmpl_fails("svc", "name: other\n" BASE,
	    "1:7: name: 'other' does not match the file name 'svc.yaml'");
	tmpl_fails("Bad_Name", BASE, "1:1: name: invalid template name "
	    "'Bad_Name' (use a-z, 0-9, '.' and '-')");
	tmpl_fails("svc", BASE "gpu:\n  min_vram: 24\n",
	    "5:3: unknown key 'min_vram' in 'gpu' (did you mean "
	    "'min_vram_gb'?)");
	tmpl_fails("svc", BASE "gpu:\n  count: 4\n  count_max: 2\n",
	    "6:14: gpu.count_max: 2 is below gpu.count 4");
	tmpl_fails("svc", BASE "helth:\n  path: /\n",
	    "4:1: unknown key 'helth' (did you mean 'health'?)");
	tmpl_fails("svc", BASE "health:\n  interval: 1.5s\n",
	    "5:13: health.interval: invalid duration '1.5s': fractions are "
	    "not allowed (write 1h30m, not 1.5h)");
	tmpl_fails("svc", BASE "health:\n  interval: 0\n",
	    "5:13: health.interval: invalid duration '0': must be between "
	    "1s and 1h");
	tmpl_fails("svc", BASE "health:\n  type: grpc\n",
	    "5:9: health.type: invalid value 'grpc' (expected one of: http, "
	    "tcp, ws, ssh)");
	tmpl_fails("svc", BASE "health:\n  type: ssh\n",
	    "5:3: health: type ssh needs a 'command'");
	tmpl_fails("svc", BASE "health:\n  path: health\n",
	    "5:9: health.path: invalid value 'health': must start with '/'");
	tmpl_fails("svc", BASE "providers: [vast, runpd]\n",
	    "4:19: providers[1]: invalid value 'runpd': unknown provider "
	    "(known: runpod, lambda, vast, paperspace, local)");
	tmpl_fails("svc", BASE "idle_gpu_percent: 101\n",
	    "4:19: idle_gpu_percent: invalid number '101': must be between "
	    "0 and 100");
	tmpl_fails("svc", BASE "deadman_timeout: 10\n",
	    "4:18: deadman_timeout: invalid duration '10': missing unit "
	    "after '10' (use s, m, h, d)");
	tmpl_fails("svc", BASE "deadman_timeout: 8d\n",
	    "4:18: deadman_timeout: invalid duration '8d': must be between "
	    "0s and 7d");
	tmpl_fails("svc", BASE "deadman_timeout: [5m]\n",
	    "4:18: deadman_timeout: expected a single value, got a "
	    "sequence");
	tmpl_fails("svc", BASE "max_price: 1e3\n",
	    "4:12: max_price: invalid money '1e3': unexpected 'e'");
	tmpl_fails("svc", BASE "env:\n  BAD-NAME: x\n",
	    "5:3: env: invalid name 'BAD-NAME': not a valid environment "
	    "variable name");
	tmpl_fails("svc", BASE "env:\n  A: [x]\n",
	    "5:6: env: expected a single value, got a sequence");
	tmpl_fails("svc", "image: x\n",
	    "1:1: ports: at least one port is required");
	tmpl_fails("svc", "image: x\nports: []\n",
	    "2:8: ports: at least one port is required");
	tmpl_fails("svc", "ports:\n  - port: 80\n",
	    "1:1: a template needs 'image' (cloud providers) or "
	    "'local.command' (local provider)");
	tmpl_fails("svc", "image: x\nports:\n  - 80\n",
	    "3:5: ports[0]: expected a mapping, got a scalar");
	tmpl_fails("svc", "image: x\nports:\n  - protocol: ws\n",
	    "3:5: ports[0]: missing 'port'");
	tmpl_fails("svc", "image: x\nports:\n  - {port: 80, proto: ws}\n",
	    "3:16: unknown key 'proto' in 'ports[0]' (did you mean "
	    "'protocol'?)");
	tmpl_fails("svc", "image: x\nports:\n  - port: 80\n  - port: 80\n",
	    "4:11: ports[1]: port 80 is listed twice");
	tmpl_fails("svc", "image: x\nports:\n  - port: 80\n  - port: 81\n",
	    "3:3: ports: mark one port 'stable: true' (the one behind the "
	    "stable URL)");
	tmpl_fails("svc", "image: x\nports:\n  - {port: 80, stable: true}\n"
	    "  - {port: 81, stable: true}\n",
	    "4:5: ports[1]: only one port can be stable (port 80 already is)");
	tmpl_fails("svc", "", " empty template");
}

static void
test_template_find(void **state __unused)
{
	struct fleet_config	*conf;
	struct fleet_template	*t;
	char			*dir, *cause = NULL, *want;

	/* The shipped ones are found from the repository root. */
	assert_non_null(t = template_find(NULL, "demo-echo", &cause));
	assert_string_equal(t->path, "./templates/demo-echo.yaml");
	template_free(t);

	/* FLEET_TEMPLATE_DIR comes before ./templates. */
	free(write_tmpl("envtpl", "demo-echo", "description: mine\n" BASE));
	free(write_tmpl("envtpl", "my-svc", BASE));
	dir = xprintf("%s/envtpl", tmp);
	setenv("FLEET_TEMPLATE_DIR", dir, 1);
	assert_non_null(t = template_find(NULL, "my-svc", &cause));
	assert_string_equal(t->name, "my-svc");
	template_free(t);
	assert_non_null(t = template_find(NULL, "demo-echo", &cause));
	assert_string_equal(t->description, "mine");
	want = xprintf("%s/demo-echo.yaml", dir);
	assert_string_equal(t->path, want);
	free(want);
	template_free(t);

	/* template_dirs in fleet.yaml come first of all. */
	free(write_tmpl("conftpl", "demo-echo", "description: conf\n" BASE));
	conf = conf_loads("template_dirs: [../conftpl]\n");
	assert_non_null(t = template_find(conf, "demo-echo", &cause));
	assert_string_equal(t->description, "conf");
	template_free(t);

	/* A broken template is reported, not skipped. */
	free(write_tmpl("envtpl", "broken", "image: x\n"));
	assert_null(template_find(conf, "broken", &cause));
	assert_contains(cause, "broken.yaml:1:1: ports: at least one port");
	free(cause);

	assert_null(template_find(conf, "demo-ecko", &cause));
	assert_string_equal(cause, "unknown template 'demo-ecko' (did you "
	    "mean 'demo-echo'?); see `fleet templates`");
	free(cause);
	assert_null(template_find(conf, "zzzzzzzz", &cause));
	assert_string_equal(cause,
	    "unknown template 'zzzzzzzz'; see `fleet templates`");
	free(cause);
	assert_null(template_find(conf, "../etc/passwd", &cause));
	assert_string_equal(cause, "invalid template name '../etc/passwd' "
	    "(use a-z, 0-9, '.' and '-')");
	free(cause);
	config_free(conf);
	free(dir);
}

static void
test_template_list(void **state __unused)
{
	char	**paths, *dir, *want, *prev = NULL, *name;
	int	  n, i, seen_echo = 0;

	free(write_tmpl("listtpl", "demo-echo", BASE));
	free(write_tmpl("listtpl", "aaa-first", BASE));
	free(write_file("listtpl", "notes.txt", "not a template\n"));
	free(write_file("listtpl", "Bad_Name.yaml", BASE));
	dir = xprintf("%s/listtpl", tmp);
	setenv("FLEET_TEMPLATE_DIR", dir, 1);

	paths = template_list_paths(NULL, &n);
	assert_true(n >= 4);
	for (i = 0; i < n; i++) {
		name = strrchr(paths[i], '/') + 1;
		assert_non_null(strstr(name, ".yaml"));
		assert_null(strstr(name, "Bad_Name"));
		if (prev != NULL && strcmp(prev, name) >= 0)
			fail_msg("not sorted or not unique: %s, %s", prev,
			    name);
		prev = name;
		if (strcmp(name, "demo-echo.yaml") == 0) {
			/* The first directory wins. */
			want = xprintf("%s/demo-echo.yaml", dir);
			assert_string_equal(paths[i], want);
			free(want);
			seen_echo = 1;
		}
	}
	assert_true(seen_echo);
	want = xprintf("%s/aaa-first.yaml", dir);
	assert_string_equal(paths[0], want);
	free(want);
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(dir);
}

static void
test_search_dirs(void **state __unused)
{
	struct fleet_config	*conf;
	char			**dirs, *want;
	int			  n, i;

	setenv("FLEET_TEMPLATE_DIR", "/env/tpl", 1);
	conf = conf_loads("template_dirs: [/conf/tpl]\n");
	dirs = template_search_dirs(conf, &n);
	assert_true(n >= 5);
	assert_string_equal(dirs[0], "/conf/tpl");
	assert_string_equal(dirs[1], "/env/tpl");
	want = xprintf("%s/fleet/templates", getenv("XDG_CONFIG_HOME"));
	assert_string_equal(dirs[2], want);
	free(want);
	assert_string_equal(dirs[3], "./templates");
	/* build/tests/test-config -> build/templates, then the datadir. */
	assert_string_equal(dirs[n - 1], FLEET_DATADIR "/templates");
	for (i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	config_free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(test_default),
		T(test_shipped_fleet_yaml),
		T(test_empty_files),
		T(test_values),
		T(test_booleans),
		T(test_errors),
		T(test_cross_field_errors),
		T(test_token_errors),
		T(test_yaml_errors),
		T(test_nesting_limit),
		T(test_missing_file),
		T(test_load_buffer),
		T(test_env_overrides),
		T(test_search_order),
		T(test_shipped_templates),
		T(test_template_demo_echo),
		T(test_template_personaplex),
		T(test_template_llama),
		T(test_template_defaults),
		T(test_template_full),
		T(test_template_errors),
		T(test_template_find),
		T(test_template_list),
		T(test_search_dirs),
#undef T
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
