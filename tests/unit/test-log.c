/* test-log.c: secret redaction and escaped log lines (log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"

/* log_redact(in) must give want exactly. */
static void
redacts(const char *in, const char *want)
{
	char	*got = log_redact(in);

	if (strcmp(got, want) != 0)
		fail_msg("redact \"%s\": got \"%s\", want \"%s\"", in, got,
		    want);
	free(got);
}

/* The tests share one process, so secrets pile up: each names its own. */
static void
test_no_secrets(void **state __unused)
{
	redacts("", "");
	redacts("nothing to hide", "nothing to hide");
}

/*
 * Secrets inside the marker used to loop forever: each replacement made
 * a new match. One pass over the original text ends, and redacts.
 */
static void
test_marker_secrets(void **state __unused)
{
	log_add_secret("[REDACTED]");
	log_add_secret("ACTED]");
	log_add_secret("RED");		/* too short: never a secret */
	redacts("key=[REDACTED] end", "key=[REDACTED] end");
	redacts("ACTED]ACTED]", "[REDACTED]");
	redacts("xACTED]y", "x[REDACTED]y");
	redacts("RED RED", "RED RED");
	log_add_secret("EDAC");
	redacts("[REDACTED]", "[REDACTED]");
	redacts("REDACTED", "R[REDACTED]TED");
}

/* No eviction: the first of 100 secrets is still hidden. */
static void
test_many_secrets(void **state __unused)
{
	char	 sec[100][32], *line, *out, *tmp;
	int	 i;

	line = xstrdup("");
	for (i = 0; i < 100; i++) {
		snprintf(sec[i], sizeof sec[i], "many-secret-%03d-zq", i);
		log_add_secret(sec[i]);
		tmp = xprintf("%s %s", line, sec[i]);
		free(line);
		line = tmp;
	}
	log_add_secret(sec[0]);		/* again: still one entry */
	out = log_redact(line);
	for (i = 0; i < 100; i++)
		if (strstr(out, sec[i]) != NULL)
			fail_msg("secret %d shows: %s", i, out);
	assert_int_equal(strlen(out), 100 * strlen(" [REDACTED]"));
	free(out);
	free(line);
}

/* Overlapping and adjacent secrets: one marker, no part of either. */
static void
test_overlapping(void **state __unused)
{
	log_add_secret("abcdQQ");
	log_add_secret("dQQefgh");
	log_add_secret("QQef");
	redacts("<abcdQQefgh>", "<[REDACTED]>");
	redacts("<dQQefgh abcdQQ>", "<[REDACTED] [REDACTED]>");
	redacts("abcdQQabcdQQ", "[REDACTED]");
	redacts("xQQefx", "x[REDACTED]x");
	log_add_secret("vvvv");
	redacts("vvvvvvv", "[REDACTED]");
}

/* What reaches the log file is redacted and escaped. */
static void
test_log_line(void **state __unused)
{
	char	 buf[512];
	FILE	*f = tmpfile();
	size_t	 n;

	assert_non_null(f);
	log_init("fleet", 0, f);
	log_add_secret("tok-Zz9-line");
	log_warn("auth %s\nforged: line", "tok-Zz9-line");
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	log_set_file(NULL);
	assert_null(strstr(buf, "tok-Zz9-line"));
	assert_non_null(strstr(buf, "auth [REDACTED]\\nforged: line\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_secrets),
		cmocka_unit_test(test_marker_secrets),
		cmocka_unit_test(test_many_secrets),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_log_line),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
