/* test-docs.c: the docs say what the code does (as curl's test1139). */
#include <sys/stat.h>

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"
#include "config.h"
#include "yamlnode.h"

static char	*man;		/* docs/fleet.1 */
static char	*contributing;	/* CONTRIBUTING.md */
static char	*yaml;		/* the shipped fleet.yaml */

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s (run from the repository root)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc(n + 1);
	if (fread(buf, 1, n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

static int
docs_setup(void **state __unused)
{
	man = slurp("docs/fleet.1");
	contributing = slurp("CONTRIBUTING.md");
	yaml = slurp("fleet.yaml");
	return (0);
}

static int
docs_teardown(void **state __unused)
{
	free(man);
	free(contributing);
	free(yaml);
	return (0);
}

static int
word_char(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-');
}

/* Does text hold prefix+word, with no word character right after? */
static int
has_word(const char *text, const char *prefix, const char *word)
{
	char		*needle = xprintf("%s%s", prefix, word);
	const char	*p = text;
	size_t		 n = strlen(needle);
	int		 found = 0;

	while (!found && (p = strstr(p, needle)) != NULL) {
		found = !word_char(p[n]);
		p += n;
	}
	free(needle);
	return (found);
}

/* Every key of a table (and of its sections) is an `Ic key` in fleet.1. */
static int
check_keys(const struct yfield *tab, const char *where)
{
	char	*w;
	int	 missing = 0;

	for (; tab->key != NULL; tab++) {
		w = where != NULL ? xprintf("%s.%s", where, tab->key) :
		    xstrdup(tab->key);
		if (!has_word(man, "Ic ", tab->key)) {
			print_error("fleet.1 does not document key '%s'\n", w);
			missing++;
		}
		if (tab->sub != NULL)
			missing += check_keys(tab->sub, w);
		free(w);
	}
	return (missing);
}

static void
test_config_keys(void **state __unused)
{
	assert_int_equal(check_keys(config_table(), NULL), 0);
}

static void
test_template_keys(void **state __unused)
{
	assert_int_equal(check_keys(template_table(), NULL), 0);
}

/* The shipped fleet.yaml shows every section and every defaults key. */
static void
test_fleet_yaml_sections(void **state __unused)
{
	const struct yfield	*f, *d;
	int			 missing = 0;

	for (f = config_table(); f->key != NULL; f++) {
		if (f->type != YF_SECTION || strcmp(f->key, "defaults") != 0)
			continue;
		for (d = f->sub; d->key != NULL; d++)
			if (!has_word(yaml, "  ", d->key)) {
				print_error("fleet.yaml does not show "
				    "defaults.%s\n", d->key);
				missing++;
			}
	}
	assert_int_equal(missing, 0);
}

/* Every command and each of its long options is in fleet.1. */
static void
test_commands(void **state __unused)
{
	const struct cmd_entry	**ce;
	const char		 *p, *q;
	char			  opt[64];
	size_t			  n;
	int			  missing = 0;

	for (ce = cmd_table; *ce != NULL; ce++) {
		if ((*ce)->hidden)
			continue;
		if (!has_word(man, "Cm ", (*ce)->name)) {
			print_error("fleet.1 does not document command "
			    "'%s'\n", (*ce)->name);
			missing++;
		}
		for (p = (*ce)->help; (p = strstr(p, "--")) != NULL; p = q) {
			for (q = p + 2; word_char(*q); q++)
				;
			if ((n = q - (p + 2)) == 0 || n >= sizeof opt)
				continue;
			memcpy(opt, p + 2, n);
			opt[n] = '\0';
			if (!has_word(man, "Fl \\-", opt)) {
				print_error("fleet.1 does not document "
				    "%s --%s\n", (*ce)->name, opt);
				missing++;
			}
		}
	}
	assert_int_equal(missing, 0);
}

/* Every unit test and e2e script is in CONTRIBUTING.md's tables. */
static void
test_tests_listed(void **state __unused)
{
	static const char *const dirs[] = { "tests/unit", "tests/e2e" };
	struct dirent	*de;
	DIR		*d;
	char		*name, *dot;
	size_t		 i;
	int		 missing = 0;

	for (i = 0; i < nitems(dirs); i++) {
		if ((d = opendir(dirs[i])) == NULL)
			fail_msg("cannot open %s", dirs[i]);
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "test-", 5) != 0)
				continue;
			name = xstrdup(de->d_name);
			if ((dot = strrchr(name, '.')) != NULL)
				*dot = '\0';
			if (strstr(contributing, name) == NULL) {
				print_error("CONTRIBUTING.md does not list "
				    "%s/%s\n", dirs[i], de->d_name);
				missing++;
			}
			free(name);
		}
		closedir(d);
	}
	assert_int_equal(missing, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_template_keys),
		cmocka_unit_test(test_fleet_yaml_sections),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_tests_listed),
	};

	return (cmocka_run_group_tests(tests, docs_setup, docs_teardown));
}
