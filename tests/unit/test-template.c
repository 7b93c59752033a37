/* test-template.c: ${VAR} in templates (template_check_vars, drv_env_subst). */
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
#include "driver.h"

#define assert_contains(s, sub) do {					\
	const char *s_ = (s);						\
	if (s_ == NULL || strstr(s_, (sub)) == NULL)			\
		fail_msg("\"%s\" does not contain \"%s\"",		\
		    s_ != NULL ? s_ : "(null)", (sub));			\
} while (0)

static int
test_setup(void **state __unused)
{
	unsetenv("TT_SET");
	unsetenv("TT_EMPTY");
	unsetenv("TT_UNSET");
	setenv("TT_SET", "hf_value", 1);
	setenv("TT_EMPTY", "", 1);
	return (0);
}

/* Expand one value: its result, and the reason when it fails. */
static int
subst(const char *value, char **out, char **cause)
{
	int	 rc = drv_env_subst(value, out, cause);

	assert_non_null(*out);
	if (rc == 0)
		assert_null(*cause);
	else
		assert_non_null(*cause);
	return (rc);
}

static void
test_subst_plain(void **state __unused)
{
	char	*out, *cause;

	assert_int_equal(subst("", &out, &cause), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(subst("8080", &out, &cause), 0);
	assert_string_equal(out, "8080");
	free(out);
	/* Only ${...} is fleet's: $VAR and a lone $ are for the shell. */
	assert_int_equal(subst("$HOME/x $ $$ {y}", &out, &cause), 0);
	assert_string_equal(out, "$HOME/x $ $$ {y}");
	free(out);
	assert_int_equal(subst("a${TT_SET}b${TT_SET}", &out, &cause), 0);
	assert_string_equal(out, "ahf_valuebhf_value");
	free(out);
}

static void
test_subst_unset_empty(void **state __unused)
{
	char	*out, *cause;

	assert_int_equal(subst("${TT_UNSET}", &out, &cause), -1);
	assert_string_equal(cause, "${TT_UNSET} is not set (export it, or "
	    "write ${TT_UNSET:-} to allow empty)");
	/* The drivers' lenient reading: unset as empty. */
	assert_string_equal(out, "");
	free(out);
	free(cause);
	assert_int_equal(subst("x${TT_EMPTY}y", &out, &cause), -1);
	assert_contains(cause, "${TT_EMPTY} is empty");
	assert_string_equal(out, "xy");
	free(out);
	free(cause);
	/* The first problem is the one named. */
	assert_int_equal(subst("${TT_UNSET}${TT_EMPTY}", &out, &cause), -1);
	assert_contains(cause, "TT_UNSET");
	free(out);
	free(cause);
}

static void
test_subst_default(void **state __unused)
{
	char	*out, *cause;

	assert_int_equal(subst("${TT_UNSET:-dflt}", &out, &cause), 0);
	assert_string_equal(out, "dflt");
	free(out);
	assert_int_equal(subst("${TT_EMPTY:-dflt}", &out, &cause), 0);
	assert_string_equal(out, "dflt");
	free(out);
	assert_int_equal(subst("${TT_SET:-dflt}", &out, &cause), 0);
	assert_string_equal(out, "hf_value");
	free(out);
	/* ${VAR:-} allows empty. */
	assert_int_equal(subst("<${TT_UNSET:-}>", &out, &cause), 0);
	assert_string_equal(out, "<>");
	free(out);
	assert_int_equal(subst("${TT_EMPTY:-}", &out, &cause), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(subst("${TT_UNSET:-a b:-c$d}", &out, &cause), 0);
	assert_string_equal(out, "a b:-c$d");
	free(out);
}

static void
test_subst_malformed(void **state __unused)
{
	static const char *const bad[] = {
		"${", "${TT_SET", "x${TT_SET:-y", "${}", "${1X}", "${A-B}",
		"${A:=b}", "${A:b}", "${ A}", "${A }", "${TT_UNSET:-${TT_SET}}",
		"${${TT_SET}}", "${A.B}",
	};
	char	*out, *cause;
	size_t	 i;

	for (i = 0; i < nitems(bad); i++) {
		if (subst(bad[i], &out, &cause) != -1)
			fail_msg("'%s' expanded to '%s'", bad[i], out);
		free(out);
		free(cause);
	}
	assert_int_equal(subst("a${TT_SET", &out, &cause), -1);
	assert_contains(cause, "has no closing '}'");
	/* Kept as written, so nothing is lost by the lenient reading. */
	assert_string_equal(out, "a${TT_SET");
	free(out);
	free(cause);
	assert_int_equal(subst("${1X}", &out, &cause), -1);
	assert_contains(cause, "\"${1X}\" is not a variable");
	free(out);
	free(cause);
	assert_int_equal(subst("${TT_UNSET:-${TT_SET}}", &out, &cause), -1);
	assert_contains(cause, "a ${ inside a default");
	free(out);
	free(cause);
}

/* drv_env_expand is the same expander, leniently. */
static void
test_expand_same(void **state __unused)
{
	char	*out;

	out = drv_env_expand("${TT_UNSET:-d}/${TT_SET}/${TT_UNSET}");
	assert_string_equal(out, "d/hf_value/");
	free(out);
}

static const char tmpl_text[] =
    "name: vars\n"
    "image: example/image\n"
    "env:\n"
    "  PLAIN: \"8080\"\n"
    "  OK: ${TT_SET}\n"
    "  DEFAULTED: ${TT_UNSET:-fallback}\n"
    "  MAYBE: ${TT_EMPTY:-}\n"
    "  HF_TOKEN: ${TT_UNSET}\n"
    "ports:\n"
    "  - port: 8080\n"
    "local:\n"
    "  command: \"{fleet} echo-server --port {port}\"\n"
    "  env:\n"
    "    LOCAL_ONLY: ${TT_EMPTY}\n";

static struct fleet_template *
tmpl(const char *text)
{
	struct fleet_template	*t;
	char			*cause = NULL;

	t = template_load_buffer("templates/vars.yaml", text, strlen(text),
	    &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	return (t);
}

static void
test_check_vars(void **state __unused)
{
	struct fleet_template	*t = tmpl(tmpl_text);
	char			*cause = NULL;

	assert_int_equal(t->env[4].line, 8);
	assert_string_equal(t->env[4].key, "HF_TOKEN");
	assert_int_equal(template_check_vars(t, TMPL_VARS_ENV, &cause), -1);
	assert_string_equal(cause, "templates/vars.yaml:8: env HF_TOKEN: "
	    "${TT_UNSET} is not set (export it, or write ${TT_UNSET:-} to "
	    "allow empty)");
	free(cause);
	cause = NULL;
	assert_int_equal(template_check_vars(t, TMPL_VARS_LOCAL, &cause), -1);
	assert_string_equal(cause, "templates/vars.yaml:14: local.env "
	    "LOCAL_ONLY: ${TT_EMPTY} is empty (export it, or write "
	    "${TT_EMPTY:-} to allow empty)");
	free(cause);
	cause = NULL;
	assert_int_equal(template_check_vars(t, 0, &cause), 0);
	assert_null(cause);
	/* Exported, everything passes. */
	setenv("TT_UNSET", "now_set", 1);
	setenv("TT_EMPTY", "x", 1);
	assert_int_equal(template_check_vars(t, TMPL_VARS_ALL, &cause), 0);
	assert_null(cause);
	template_free(t);
}

static void
test_check_vars_malformed(void **state __unused)
{
	struct fleet_template	*t;
	char			*cause = NULL;

	t = tmpl("name: vars\nimage: i\nports: [{port: 80}]\n"
	    "env: {A: \"x\", B: \"${TT_SET\"}\n");
	assert_int_equal(template_check_vars(t, TMPL_VARS_ALL, &cause), -1);
	assert_string_equal(cause, "templates/vars.yaml:4: env B: "
	    "\"${TT_SET\" has no closing '}'");
	free(cause);
	template_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(test_subst_plain),
		T(test_subst_unset_empty),
		T(test_subst_default),
		T(test_subst_malformed),
		T(test_expand_same),
		T(test_check_vars),
		T(test_check_vars_malformed),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
