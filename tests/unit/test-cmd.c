/* test-cmd.c: the helpers every command shares (cmd.c): options, hints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"

static int
has(char **v, int n, const char *s)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (1);
	return (0);
}

static void
strv_free(char **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Every --option the help names, each once; no bare "--". */
static void
test_long_options(void **state __unused)
{
	const struct cmd_entry	*ce;
	char			**v;
	int			  n, i, j;

	for (ce = cmd_table[0], i = 0; ce != NULL; ce = cmd_table[++i]) {
		n = cmd_long_options(ce, &v);
		for (j = 0; j < n; j++) {
			assert_true(strncmp(v[j], "--", 2) == 0);
			assert_true(strlen(v[j]) > 3);
			assert_int_not_equal(v[j][2], '-');
		}
		strv_free(v, n);
	}
	n = cmd_long_options(cmd_find("up"), &v);
	assert_true(has(v, n, "--provider"));
	assert_true(has(v, n, "--max-price"));
	assert_true(has(v, n, "--replace"));
	assert_true(has(v, n, "--spot"));
	strv_free(v, n);
	n = cmd_long_options(cmd_find("rm"), &v);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "--force");
	strv_free(v, n);
	/* "ssh NAME [-- CMD...]": the end of options is no option. */
	n = cmd_long_options(cmd_find("ssh"), &v);
	assert_false(has(v, n, "--"));
	strv_free(v, n);
}

static void
test_suggest(void **state __unused)
{
	static const char *const cmds[] = { "status", "stop", "start", "up" };
	static const char *const provs[] = { "runpod", "lambda", "vast",
	    "local" };

	assert_string_equal(suggest_nearest("stauts", cmds, 4), "status");
	assert_string_equal(suggest_nearest("runpd", provs, 4), "runpod");
	assert_string_equal(suggest_nearest("lcoal", provs, 4), "local");
	assert_null(suggest_nearest("paperspace", provs, 4));
}

/* A driver's own prefix is said once. */
static void
test_drv_msg(void **state __unused)
{
	assert_string_equal(cmd_drv_msg("runpod", "runpod: HTTP 401"),
	    "HTTP 401");
	assert_string_equal(cmd_drv_msg("runpod", "HTTP 401"), "HTTP 401");
	assert_string_equal(cmd_drv_msg("lambda", "lambda cannot stop"),
	    "lambda cannot stop");
	assert_string_equal(cmd_drv_msg("vast", "vastai: x"), "vastai: x");
	assert_string_equal(cmd_drv_msg("vast", NULL), "");
}

static void
test_unknown_provider(void **state __unused)
{
	char	*s = cmd_unknown_provider("runpd");

	assert_non_null(strstr(s, "unknown provider 'runpd' (did you mean "
	    "'runpod'?)"));
	free(s);
	s = cmd_unknown_provider("zzzzzzzz");
	assert_null(strstr(s, "did you mean"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_options),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_drv_msg),
		cmocka_unit_test(test_unknown_provider),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
