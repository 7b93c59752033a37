/* test-parse.c: durations, money, ports, integers and names (parse.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"

#define assert_contains(s, sub) do {					\
	const char *s_ = (s);						\
	if (s_ == NULL || strstr(s_, (sub)) == NULL)			\
		fail_msg("\"%s\" does not contain \"%s\"",		\
		    s_ != NULL ? s_ : "(null)", (sub));			\
} while (0)

static const struct {
	const char	*in;
	int64_t		 secs;
} good_durations[] = {
	{ "0", 0 },
	{ "0s", 0 },
	{ "1s", 1 },
	{ "90s", 90 },
	{ "20m", 1200 },
	{ "2h", 7200 },
	{ "1h30m", 5400 },
	{ "1d", 86400 },
	{ "1d1m", 86460 },
	{ "1d2h3m4s", 93784 },
	{ "05m", 300 },
	{ "36500d", 36500LL * 86400 },
	{ "90m", 5400 },	/* not normalised: 90m is fine as typed */
};

static const struct {
	const char	*in;
	const char	*cause;		/* exact */
} bad_durations[] = {
	{ "", "invalid duration '': empty value" },
	{ "1x", "invalid duration '1x': unknown unit 'x' (use s, m, h, d)" },
	{ "m", "invalid duration 'm': expected a number before 'm'" },
	{ "45", "invalid duration '45': missing unit after '45' "
	    "(use s, m, h, d)" },
	{ "1h1h", "invalid duration '1h1h': unit 'h' repeated or out of "
	    "order (use d, h, m, s in that order, each once)" },
	{ "1m1h", "invalid duration '1m1h': unit 'h' repeated or out of "
	    "order (use d, h, m, s in that order, each once)" },
	{ "-5m", "invalid duration '-5m': unexpected '-'" },
	{ "+5m", "invalid duration '+5m': unexpected '+'" },
	{ "1.5h", "invalid duration '1.5h': fractions are not allowed "
	    "(write 1h30m, not 1.5h)" },
	{ " 5m", "invalid duration ' 5m': unexpected space" },
	{ "5m ", "invalid duration '5m ': unexpected space" },
	{ "1h 30m", "invalid duration '1h 30m': unexpected space" },
	{ "5M", "invalid duration '5M': unknown unit 'M' (use s, m, h, d)" },
	{ "36501d", "invalid duration '36501d': too large (at most 36500d)" },
	{ "99999999999999999999s", "invalid duration "
	    "'99999999999999999999s': too large (at most 36500d)" },
	{ "36500d1s", "invalid duration '36500d1s': too large "
	    "(at most 36500d)" },
	{ "1h\x01", "invalid duration '1h\\x01': unexpected \\x01" },
	{ "00", "invalid duration '00': missing unit after '0' "
	    "(use s, m, h, d)" },
};

static void
test_duration_good(void **state __unused)
{
	int64_t	 secs;
	char	*cause;
	size_t	 i;

	for (i = 0; i < nitems(good_durations); i++) {
		cause = NULL;
		secs = -42;
		if (parse_duration(good_durations[i].in, &secs, &cause) != 0)
			fail_msg("'%s' refused: %s", good_durations[i].in,
			    cause);
		assert_null(cause);
		assert_int_equal(secs, good_durations[i].secs);
	}
}

static void
test_duration_bad(void **state __unused)
{
	int64_t	 secs;
	char	*cause;
	size_t	 i;

	for (i = 0; i < nitems(bad_durations); i++) {
		cause = NULL;
		secs = -42;
		assert_int_equal(parse_duration(bad_durations[i].in, &secs,
		    &cause), -1);
		assert_string_equal(cause, bad_durations[i].cause);
		assert_int_equal(secs, -42);	/* untouched on error */
		free(cause);
	}
}

static void
test_duration_null_cause(void **state __unused)
{
	int64_t	 secs = 7;

	/* A caller that does not want the message passes NULL. */
	assert_int_equal(parse_duration("1x", &secs, NULL), -1);
	assert_int_equal(parse_duration(NULL, &secs, NULL), -1);
	assert_int_equal(secs, 7);
}

static void
test_format_duration(void **state __unused)
{
	static const struct {
		int64_t		 secs;
		const char	*out;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1s" },
		{ 59, "59s" },
		{ 60, "1m" },
		{ 3600, "1h" },
		{ 5400, "1h30m" },
		{ 86400, "1d" },
		{ 86400 + 60, "1d1m" },
		{ 90061, "1d1h1m1s" },
		{ -90, "-1m30s" },
	};
	char	*s, *cause = NULL;
	int64_t	 back;
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		s = format_duration(cases[i].secs);
		assert_string_equal(s, cases[i].out);
		/* What we print, we parse back to the same value. */
		if (cases[i].secs >= 0) {
			assert_int_equal(parse_duration(s, &back, &cause), 0);
			assert_int_equal(back, cases[i].secs);
		}
		free(s);
	}
}

static const struct {
	const char	*in;
	double		 usd;
} good_money[] = {
	{ "0", 0 },
	{ "0.60", 0.60 },
	{ "$0.60", 0.60 },
	{ "12", 12 },
	{ "1.5", 1.5 },
	{ "0.0001", 0.0001 },
	{ "$1234.5678", 1234.5678 },
	{ "007.10", 7.1 },
	{ "999999999", 999999999 },
};

static const struct {
	const char	*in;
	const char	*cause;
} bad_money[] = {
	{ "", "invalid money '': empty value" },
	{ "$", "invalid money '$': missing amount" },
	{ "0.6.0", "invalid money '0.6.0': unexpected '.'" },
	{ "1e3", "invalid money '1e3': unexpected 'e'" },
	{ "-1", "invalid money '-1': must not be negative" },
	{ "$-1", "invalid money '$-1': must not be negative" },
	{ "abc", "invalid money 'abc': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "nan", "invalid money 'nan': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "inf", "invalid money 'inf': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "1.23456", "invalid money '1.23456': at most 4 decimal places" },
	{ "1.", "invalid money '1.': expected digits after '.'" },
	{ ".5", "invalid money '.5': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "$$1", "invalid money '$$1': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "1,000", "invalid money '1,000': unexpected ','" },
	{ " 1", "invalid money ' 1': not a number (write e.g. 0.60 or "
	    "$0.60)" },
	{ "1 ", "invalid money '1 ': unexpected space" },
	{ "1234567890", "invalid money '1234567890': too large" },
	{ "0.60/h", "invalid money '0.60/h': unexpected '/'" },
};

static void
test_money_good(void **state __unused)
{
	double	 usd;
	char	*cause;
	size_t	 i;

	for (i = 0; i < nitems(good_money); i++) {
		cause = NULL;
		if (parse_money(good_money[i].in, &usd, &cause) != 0)
			fail_msg("'%s' refused: %s", good_money[i].in, cause);
		/* Built from integers: exactly the double the literal is. */
		assert_true(usd == good_money[i].usd);
	}
}

static void
test_money_bad(void **state __unused)
{
	double	 usd = -1;
	char	*cause;
	size_t	 i;

	for (i = 0; i < nitems(bad_money); i++) {
		cause = NULL;
		assert_int_equal(parse_money(bad_money[i].in, &usd, &cause),
		    -1);
		assert_string_equal(cause, bad_money[i].cause);
		assert_true(usd == -1);
		free(cause);
	}
}

static void
test_format_money(void **state __unused)
{
	static const struct {
		double		 usd;
		const char	*out;
	} cases[] = {
		{ 0, "$0.00" },
		{ 0.6, "$0.6000" },
		{ 0.44, "$0.4400" },
		{ 1, "$1.00" },
		{ 1.5, "$1.50" },
		{ 12, "$12.00" },
		{ 0.01, "$0.0100" },
		{ 0.0087, "$0.0087" },
		{ 0.005, "$0.0050" },
		{ 0.0001, "$0.0001" },
		{ 0.99996, "$1.00" },
		{ 0.99994, "$0.9999" },
		{ 1234.5, "$1234.50" },
		{ -0.6, "-$0.6000" },
		{ -2, "-$2.00" },
	};
	char	*s;
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		s = format_money(cases[i].usd);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void
test_port(void **state __unused)
{
	static const char *bad[] = {
		"", "0", "65536", "-1", "abc", "80 ", " 80", "+80", "8o",
		"99999999999999999999"
	};
	char	*cause = NULL;
	int	 port = 0;
	size_t	 i;

	assert_int_equal(parse_port("1", &port, &cause), 0);
	assert_int_equal(port, 1);
	assert_int_equal(parse_port("8998", &port, &cause), 0);
	assert_int_equal(port, 8998);
	assert_int_equal(parse_port("65535", &port, &cause), 0);
	assert_int_equal(port, 65535);
	assert_null(cause);

	for (i = 0; i < nitems(bad); i++) {
		port = -7;
		assert_int_equal(parse_port(bad[i], &port, &cause), -1);
		assert_int_equal(port, -7);
		assert_contains(cause, "must be a number between 1 and 65535");
		free(cause);
		cause = NULL;
	}
	assert_int_equal(parse_port("0", &port, &cause), -1);
	assert_string_equal(cause,
	    "invalid port '0': must be a number between 1 and 65535");
	free(cause);
}

static void
test_int(void **state __unused)
{
	long long	 v = 0;
	char		*cause = NULL;

	assert_int_equal(parse_int("42", 0, 100, &v, &cause), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_int("-5", -10, 10, &v, &cause), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_int("0", 0, 0, &v, &cause), 0);
	assert_int_equal(v, 0);
	assert_null(cause);

	v = 99;
	assert_int_equal(parse_int("101", 0, 100, &v, &cause), -1);
	assert_string_equal(cause,
	    "invalid number '101': must be between 0 and 100");
	assert_int_equal(v, 99);
	free(cause);

	assert_int_equal(parse_int("-1", 0, 100, &v, &cause), -1);
	assert_string_equal(cause,
	    "invalid number '-1': must be between 0 and 100");
	free(cause);

	assert_int_equal(parse_int("12a", 0, 100, &v, &cause), -1);
	assert_string_equal(cause, "invalid number '12a': not a number");
	free(cause);

	assert_int_equal(parse_int("0x10", 0, 100, &v, &cause), -1);
	assert_string_equal(cause, "invalid number '0x10': not a number");
	free(cause);

	assert_int_equal(parse_int("", 0, 100, &v, &cause), -1);
	assert_string_equal(cause, "invalid number '': empty value");
	free(cause);

	assert_int_equal(parse_int("99999999999999999999", 0, LLONG_MAX, &v,
	    &cause), -1);
	assert_contains(cause, "must be between 0 and");
	free(cause);

	assert_int_equal(parse_int(" 1", 0, 100, &v, &cause), -1);
	free(cause);
	assert_int_equal(parse_int("+1", 0, 100, &v, &cause), -1);
	free(cause);
	assert_int_equal(v, 99);
}

static void
test_name_is_valid(void **state __unused)
{
	static const char *good[] = {
		"a", "0", "demo-echo", "personaplex-7b", "llama-3.3-70b-vllm",
		"a.b", "a-", "9lives",
		/* 63 characters, the limit */
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"
		"bc",
	};
	static const char *bad[] = {
		"", "-a", ".a", "A", "Demo", "a_b", "a..b", "a/b", "a b", "..",
		"é", "a\n",
		/* 64 characters */
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"
		"bcd",
	};
	size_t	 i;

	for (i = 0; i < nitems(good); i++) {
		if (!name_is_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	}
	for (i = 0; i < nitems(bad); i++) {
		if (name_is_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	}
	assert_int_equal(strlen(good[nitems(good) - 1]), 63);
	assert_int_equal(name_is_valid(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_good),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_duration_null_cause),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_money_good),
		cmocka_unit_test(test_money_bad),
		cmocka_unit_test(test_format_money),
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_name_is_valid),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
