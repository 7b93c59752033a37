/* test-budget.c: UTC periods, the breaker's verdict and what it says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"
#include "budget.h"

/* 2026-12-31 13:30:00 UTC: the last day of a month and of a year. */
#define NYE_1330	1798723800LL
#define DEC31		1798675200LL	/* 2026-12-31 00:00:00Z */
#define JAN1		1798761600LL	/* 2027-01-01 00:00:00Z */
#define DEC1		1796083200LL	/* 2026-12-01 00:00:00Z */
#define DEC15		1797336000LL	/* 2026-12-15 12:00:00Z */

static void
test_bounds(void **arg __unused)
{
	int64_t	start, next;

	budget_bounds(NYE_1330, BUDGET_DAILY, &start, &next);
	assert_int_equal(start, DEC31);
	assert_int_equal(next, JAN1);
	budget_bounds(NYE_1330, BUDGET_MONTHLY, &start, &next);
	assert_int_equal(start, DEC1);
	assert_int_equal(next, JAN1);
	/* Midnight itself starts the new day. */
	budget_bounds(JAN1, BUDGET_DAILY, &start, &next);
	assert_int_equal(start, JAN1);
	assert_int_equal(next, JAN1 + 86400);
}

/* A budget as budget_read fills it, with spend given. */
static void
fill_at(struct budget *b, int64_t now, double dcap, double dspent,
    double mcap, double mspent)
{
	budget_read(NULL, NULL, now, b);
	b->p[BUDGET_DAILY].cap = dcap;
	b->p[BUDGET_DAILY].spent = dspent;
	b->p[BUDGET_MONTHLY].cap = mcap;
	b->p[BUDGET_MONTHLY].spent = mspent;
}
#define fill(b, ...)	fill_at(b, NYE_1330, __VA_ARGS__)

static void
test_tripped(void **arg __unused)
{
	struct budget	b;

	fill(&b, 0, 5, 0, 5);
	assert_null(budget_tripped(&b));	/* no caps: never */
	fill(&b, 10, 9.99, 0, 0);
	assert_null(budget_tripped(&b));
	fill(&b, 10, 10, 0, 0);
	assert_int_equal(budget_tripped(&b)->kind, BUDGET_DAILY);
	/* Both reached: the month opens last, so it is the one to name. */
	fill_at(&b, DEC15, 10, 12, 100, 100);
	assert_int_equal(budget_tripped(&b)->kind, BUDGET_MONTHLY);
	fill_at(&b, DEC15, 10, 1, 100, 150);
	assert_int_equal(budget_tripped(&b)->kind, BUDGET_MONTHLY);
}

static void
test_refusal(void **arg __unused)
{
	struct budget	 b;
	char		*s;

	fill(&b, 10, 1, 0, 0);
	assert_null(budget_refusal(&b, 2.0, "vast"));
	s = budget_refusal(&b, 9.5, "vast");
	assert_non_null(s);
	assert_string_equal(s, "refused by budget.daily_usd: spent $1.00 "
	    "today + $9.50 for the first hour of vast > cap $10.00");
	free(s);
	fill(&b, 0.0001, 0.0123, 0, 0);
	s = budget_refusal(&b, 0.01, "vast");
	assert_string_equal(s, "the budget breaker is tripped: daily $0.0123 "
	    "of $0.0001 (budget.daily_usd); new launches open at "
	    "2027-01-01T00:00:00Z (in 10h30m)");
	free(s);
	s = budget_breaker_line(&b);
	assert_string_equal(s, "stopped by the budget breaker: daily $0.0123 "
	    "of $0.0001; new launches open at 2027-01-01T00:00:00Z (in "
	    "10h30m)");
	free(s);
	fill(&b, 0, 0, 50, 60);
	s = budget_figures(budget_tripped(&b));
	assert_string_equal(s, "monthly $60.00 of $50.00");
	free(s);
	fill(&b, 10, 1, 0, 0);
	assert_null(budget_breaker_line(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_tripped),
		cmocka_unit_test(test_refusal),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
