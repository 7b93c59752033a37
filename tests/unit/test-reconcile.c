/* test-reconcile.c: the state queries reconcile, reap and cost stand on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fleet.h"
#include "config.h"
#include "state.h"
#include "reconcile.h"

/* 2023-11-15 00:00:00 UTC; the tests run with TZ=UTC. */
#define MIDNIGHT	1700006400LL
#define HOUR		3600LL

/* reconcile.o links cmd.o, whose table is in fleet.c, not the archive. */
const struct cmd_entry *cmd_table[] = { NULL };

struct fixture {
	char		 dir[64];
	struct state	*st;
	int64_t		 dep;
	struct st_instance in;
};

static int
setup(void **arg)
{
	struct fixture		*f = xcalloc(1, sizeof *f);
	struct st_deployment	 d;
	char			*cause = NULL;

	snprintf(f->dir, sizeof f->dir, "/tmp/fleet-test-reconcile.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->st = state_open(f->dir, &cause);
	assert_non_null(f->st);
	memset(&d, 0, sizeof d);
	d.name = xstrdup("gpu");
	d.template_name = xstrdup("demo-echo");
	d.stable_port = 8950;
	assert_int_equal(state_deployment_upsert(f->st, &d, &cause), 0);
	f->dep = d.id;
	st_deployment_clear(&d);
	assert_int_equal(state_instance_intent(f->st, f->dep, "runpod", "gpu",
	    &f->in, &cause), 0);
	*arg = f;
	return (0);
}

static int
teardown(void **arg)
{
	struct fixture	*f = *arg;
	char		*cmd;

	st_instance_clear(&f->in);
	state_close(f->st);
	cmd = xprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return (0);
}

/* Write rows the API only writes at "now", through a second connection. */
static void
raw(struct fixture *f, const char *sql)
{
	sqlite3	*db;
	char	*err = NULL;

	assert_int_equal(sqlite3_open(state_path(f->st), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* A closed segment [start, end) at rate $/h for the fixture's instance. */
static void
segment(struct fixture *f, const char *provider, int64_t start, int64_t end,
    double rate)
{
	char	*sql;

	sql = xprintf("INSERT INTO ledger (instance_id, deployment_id, "
	    "provider, start_ts, end_ts, rate, usd) VALUES (%lld, %lld, '%s', "
	    "%lld, %lld, %f, %f)", (long long)f->in.id, (long long)f->dep,
	    provider, (long long)start, (long long)end, rate,
	    rate * (double)(end - start) / 3600.0);
	raw(f, sql);
	free(sql);
}

static void
cost(struct fixture *f, enum st_cost_by by, int64_t since, int64_t now,
    struct st_cost **c, int *n)
{
	char	*cause = NULL;

	assert_int_equal(state_cost(f->st, by, since, now, c, n, &cause), 0);
	assert_null(cause);
}

static void
test_by_label(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 in;

	assert_int_equal(state_instance_by_label(f->st, f->in.label, &in,
	    NULL), 1);
	assert_int_equal(in.id, f->in.id);
	assert_null(in.provider_id);
	assert_int_equal(in.ended_at, 0);
	st_instance_clear(&in);
	assert_int_equal(state_instance_set_state(f->st, f->in.id,
	    INST_TERMINATED, NULL), 0);
	assert_int_equal(state_instance_by_label(f->st, f->in.label, &in,
	    NULL), 1);
	assert_true(in.ended_at != 0);
	st_instance_clear(&in);
	assert_int_equal(state_instance_by_label(f->st, "fleet-nope-99", &in,
	    NULL), 0);
}

/* 23:00 -> 01:00 at $3.60/h: $3.60 on each side of midnight. */
static void
test_cost_split_at_midnight(void **arg)
{
	struct fixture	*f = *arg;
	struct st_cost	*c;
	int		 n;

	segment(f, "runpod", MIDNIGHT - HOUR, MIDNIGHT + HOUR, 3.6);
	cost(f, ST_COST_DAY, 0, MIDNIGHT + 48 * HOUR, &c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].key, "2023-11-14");
	assert_string_equal(c[1].key, "2023-11-15");
	assert_true(fabs(c[0].usd - 3.6) < 1e-9);
	assert_true(fabs(c[1].usd - 3.6) < 1e-9);
	assert_int_equal(c[0].seconds, HOUR);
	st_cost_list_free(c, n);
	cost(f, ST_COST_DEPLOYMENT, 0, MIDNIGHT + 48 * HOUR, &c, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].key, "gpu");
	assert_true(fabs(c[0].usd - 7.2) < 1e-9);
	assert_int_equal(c[0].seconds, 2 * HOUR);
	st_cost_list_free(c, n);
}

/* A window that starts inside a segment gets only its part of it. */
static void
test_cost_since_prorates(void **arg)
{
	struct fixture	*f = *arg;
	struct st_cost	*c;
	int		 n;

	segment(f, "runpod", MIDNIGHT - HOUR, MIDNIGHT + HOUR, 3.6);
	segment(f, "vast", MIDNIGHT - 10 * HOUR, MIDNIGHT - 9 * HOUR, 1.0);
	cost(f, ST_COST_PROVIDER, MIDNIGHT - HOUR / 2, MIDNIGHT + 48 * HOUR,
	    &c, &n);
	assert_int_equal(n, 1);	/* vast ended before the window */
	assert_string_equal(c[0].key, "runpod");
	assert_true(fabs(c[0].usd - 5.4) < 1e-9);
	st_cost_list_free(c, n);
	/* A window that ends inside a segment (now) clips it too. */
	cost(f, ST_COST_PROVIDER, 0, MIDNIGHT, &c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].key, "runpod");
	assert_true(fabs(c[0].usd - 3.6) < 1e-9);
	assert_string_equal(c[1].key, "vast");
	assert_true(fabs(c[1].usd - 1.0) < 1e-9);
	st_cost_list_free(c, n);
}

/* An open segment counts from billing_since (or the window) up to now. */
static void
test_cost_open_segment(void **arg)
{
	struct fixture	*f = *arg;
	struct st_cost	*c;
	char		*sql;
	int		 n;

	sql = xprintf("UPDATE instances SET price_per_hour = 2.0, "
	    "billing_rate = 2.0, billing_since = %lld WHERE id = %lld",
	    MIDNIGHT + HOUR,
	    (long long)f->in.id);
	raw(f, sql);
	free(sql);
	cost(f, ST_COST_DEPLOYMENT, 0, MIDNIGHT + 4 * HOUR, &c, &n);
	assert_int_equal(n, 1);
	assert_true(fabs(c[0].usd - 6.0) < 1e-9);
	st_cost_list_free(c, n);
	cost(f, ST_COST_DAY, MIDNIGHT + 3 * HOUR, MIDNIGHT + 4 * HOUR, &c, &n);
	assert_int_equal(n, 1);
	assert_true(fabs(c[0].usd - 2.0) < 1e-9);
	st_cost_list_free(c, n);
	/* Nothing billed before it started. */
	cost(f, ST_COST_DAY, 0, MIDNIGHT, &c, &n);
	assert_int_equal(n, 0);
	st_cost_list_free(c, n);
}

/* An event at a chosen time: state_event stamps now, the log is insert-only. */
static void
event_at(struct fixture *f, int64_t ts, const char *dep, const char *kind,
    const char *msg)
{
	char	*sql;

	sql = xprintf("INSERT INTO events (ts, deployment, kind, message) "
	    "VALUES (%lld, '%s', '%s', '%s')", (long long)ts, dep, kind, msg);
	raw(f, sql);
	free(sql);
}

/* Re-creations count over a rolling 24h, per deployment, from the log. */
static void
test_recreate_window(void **arg)
{
	struct fixture		*f = *arg;
	struct cmd_ctx		 ctx;
	struct st_deployment	 d;
	struct rc_recreates	 rr;

	memset(&ctx, 0, sizeof ctx);
	ctx.st = f->st;
	assert_int_equal(state_deployment_get(f->st, "gpu", &d, NULL), 1);
	event_at(f, MIDNIGHT - 25 * HOUR, "gpu", "recreate", "old");
	event_at(f, MIDNIGHT - 2 * HOUR, "gpu", "recreate", "one");
	event_at(f, MIDNIGHT - HOUR, "gpu", "recreate-failed", "not one");
	event_at(f, MIDNIGHT - HOUR, "other", "recreate", "not ours");
	assert_int_equal(state_event_count(f->st, "gpu", "recreate",
	    MIDNIGHT - 24 * HOUR, NULL), 1);
	assert_int_equal(state_event_count(f->st, "gpu", "recreate", 0,
	    NULL), 2);
	/* No config: the template table's defaults, recreate up to 3. */
	assert_int_equal(reconcile_recreates(&ctx, &d, MIDNIGHT, &rr), 0);
	assert_int_equal(rr.count, 1);
	assert_int_equal(rr.max, 3);
	assert_int_equal(rr.known, 0);
	assert_int_equal(reconcile_vanish_verdict(&rr), RC_VERDICT_RECREATE);
	event_at(f, MIDNIGHT - HOUR, "gpu", "recreate", "two");
	event_at(f, MIDNIGHT - 1, "gpu", "recreate", "three");
	assert_int_equal(reconcile_recreates(&ctx, &d, MIDNIGHT, &rr), 0);
	assert_int_equal(rr.count, 3);
	assert_int_equal(reconcile_vanish_verdict(&rr), RC_VERDICT_LIMIT);
	/* Just over a day after the first, two are left in the window. */
	assert_int_equal(reconcile_recreates(&ctx, &d, MIDNIGHT + 22 * HOUR + 1,
	    &rr), 0);
	assert_int_equal(rr.count, 2);
	assert_int_equal(reconcile_vanish_verdict(&rr), RC_VERDICT_RECREATE);
	rr.max = 0;
	rr.count = 0;
	assert_int_equal(reconcile_vanish_verdict(&rr), RC_VERDICT_LIMIT);
	rr.max = 3;
	rr.on_vanish = VANISH_DOWN;
	assert_int_equal(reconcile_vanish_verdict(&rr), RC_VERDICT_POLICY);
	st_deployment_clear(&d);
}

/* Taken down on a vanish: said until a rent, a day, or an up. */
static void
test_taken_down(void **arg)
{
	struct fixture		*f = *arg;
	struct cmd_ctx		 ctx;
	struct st_deployment	 d;
	struct st_event		 e;
	char			*why;

	memset(&ctx, 0, sizeof ctx);
	ctx.st = f->st;
	assert_int_equal(state_deployment_get(f->st, "gpu", &d, NULL), 1);
	assert_int_equal(state_event_last(f->st, "gpu", "vanish-down", &e,
	    NULL), 0);
	assert_int_equal(state_deployment_set_desired(f->st, d.id, "down",
	    NULL), 0);
	free(d.desired);
	d.desired = xstrdup("down");
	assert_int_equal(reconcile_taken_down(&ctx, &d, MIDNIGHT, &why), 0);
	assert_null(why);
	event_at(f, MIDNIGHT - 3 * HOUR, "gpu", "created", "runpod a");
	event_at(f, MIDNIGHT - 2 * HOUR, "gpu", "vanish-down", "first");
	event_at(f, MIDNIGHT - HOUR, "gpu", "vanish-down", "limit");
	assert_int_equal(state_event_last(f->st, "gpu", "vanish-down", &e,
	    NULL), 1);
	assert_string_equal(e.message, "limit");
	st_event_clear(&e);
	assert_int_equal(reconcile_taken_down(&ctx, &d, MIDNIGHT, &why), 1);
	assert_string_equal(why, "limit");
	free(why);
	/* Old news after the window. */
	assert_int_equal(reconcile_taken_down(&ctx, &d, MIDNIGHT + 24 * HOUR,
	    &why), 0);
	/* Wanted up again: not down any more. */
	free(d.desired);
	d.desired = xstrdup("up");
	assert_int_equal(reconcile_taken_down(&ctx, &d, MIDNIGHT, &why), 0);
	free(d.desired);
	d.desired = xstrdup("down");
	/* A rent after it (then a user's down): not the vanish's doing. */
	event_at(f, MIDNIGHT - 1, "gpu", "created", "runpod b");
	assert_int_equal(reconcile_taken_down(&ctx, &d, MIDNIGHT, &why), 0);
	st_deployment_clear(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_by_label, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cost_split_at_midnight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cost_since_prorates,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cost_open_segment, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recreate_window, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_taken_down, setup,
		    teardown),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
