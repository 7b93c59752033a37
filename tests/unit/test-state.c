/* test-state.c: the SQLite store: schema, intent ordering, ledger, ports. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fleet.h"
#include "state.h"

struct fixture {
	char		 dir[64];
	struct state	*st;
};

static int
setup(void **arg)
{
	struct fixture	*f = xcalloc(1, sizeof *f);
	char		*cause = NULL;

	snprintf(f->dir, sizeof f->dir, "/tmp/fleet-test-state.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->st = state_open(f->dir, &cause);
	assert_null(cause);
	assert_non_null(f->st);
	*arg = f;
	return (0);
}

static int
teardown(void **arg)
{
	struct fixture	*f = *arg;
	char		*cmd;

	state_close(f->st);
	cmd = xprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return (0);
}

static int64_t
add_deployment(struct state *st, const char *name, int port)
{
	struct st_deployment	 d;
	char			*cause = NULL;
	int64_t			 id;

	memset(&d, 0, sizeof d);
	d.name = xstrdup(name);
	d.template_name = xstrdup("demo-echo");
	d.desired = xstrdup("up");
	d.stable_port = port;
	d.idle_timeout = 1200;
	assert_int_equal(state_deployment_upsert(st, &d, &cause), 0);
	assert_true(d.id > 0);
	id = d.id;
	st_deployment_clear(&d);
	return (id);
}

static void
test_schema_and_mode(void **arg)
{
	struct fixture	*f = *arg;
	struct stat	 sb;
	struct state	*again;
	char		*cause = NULL;

	assert_int_equal(state_schema_version(f->st), STATE_SCHEMA_VERSION);
	assert_int_equal(stat(state_path(f->st), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Reopening migrates nothing and keeps the version. */
	again = state_open(f->dir, &cause);
	assert_non_null(again);
	assert_int_equal(state_schema_version(again), STATE_SCHEMA_VERSION);
	state_close(again);
}

static void
test_newer_schema_refused(void **arg)
{
	struct fixture	*f = *arg;
	sqlite3		*db;
	char		*cause = NULL;

	assert_int_equal(sqlite3_open(state_path(f->st), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '99' "
	    "WHERE key = 'schema_version'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(state_open(f->dir, &cause));
	assert_non_null(strstr(cause, "newer than this fleet"));
	free(cause);
}

static void
test_deployment_roundtrip(void **arg)
{
	struct fixture		*f = *arg;
	struct st_deployment	 d, *all;
	char			*cause = NULL;
	int			 n;

	add_deployment(f->st, "b-dep", 8901);
	add_deployment(f->st, "a-dep", 8902);
	assert_int_equal(state_deployment_get(f->st, "a-dep", &d, &cause), 1);
	assert_string_equal(d.template_name, "demo-echo");
	assert_int_equal(d.stable_port, 8902);
	assert_int_equal(d.idle_timeout, 1200);
	assert_int_equal(state_deployment_set_desired(f->st, d.id, "down",
	    &cause), 0);
	st_deployment_clear(&d);
	assert_int_equal(state_deployment_get(f->st, "a-dep", &d, &cause), 1);
	assert_string_equal(d.desired, "down");
	st_deployment_clear(&d);
	assert_int_equal(state_deployment_get(f->st, "zzz", &d, &cause), 0);
	assert_int_equal(state_deployment_list(f->st, &all, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "a-dep");	/* sorted by name */
	st_deployment_list_free(all, n);
}

static void
test_stable_port_unique(void **arg)
{
	struct fixture		*f = *arg;
	struct st_deployment	 d;
	char			*cause = NULL;
	int			 port;

	add_deployment(f->st, "one", 8950);
	memset(&d, 0, sizeof d);
	d.name = xstrdup("two");
	d.template_name = xstrdup("demo-echo");
	d.stable_port = 8950;
	assert_int_equal(state_deployment_upsert(f->st, &d, &cause), -1);
	assert_non_null(strstr(cause, "UNIQUE"));
	free(cause);
	cause = NULL;
	st_deployment_clear(&d);
	/* The allocator skips ports a deployment holds. */
	assert_int_equal(state_port_allocate(f->st, 8950, 8960, "127.0.0.1",
	    (int[]){ 8951 }, 1, &port, &cause), 0);
	assert_true(port > 8951 && port <= 8960);	/* 8951 reserved */
	assert_int_equal(state_port_allocate(f->st, 8950, 8950, "127.0.0.1",
	    NULL, 0, &port, &cause), -1);
	assert_non_null(strstr(cause, "no free port"));
	free(cause);
}

static void
test_intent_then_provider_id(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 in, cur;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "llm", 8903);

	assert_int_equal(state_instance_intent(f->st, dep, "local", "llm",
	    &in, &cause), 0);
	assert_int_equal(in.state, INST_PENDING);
	assert_null(in.provider_id);
	assert_non_null(strstr(in.label, "fleet-llm-"));
	/* A crash here leaves a live, findable row. */
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_int_equal(cur.id, in.id);
	assert_null(cur.provider_id);
	st_instance_clear(&cur);
	assert_int_equal(state_instance_set_provider_id(f->st, in.id, "pod-7",
	    &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_string_equal(cur.provider_id, "pod-7");
	st_instance_clear(&cur);
	assert_int_equal(state_instance_set_state(f->st, in.id,
	    INST_TERMINATED, &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 0);
	st_instance_clear(&in);
}

/*
 * A down that finds nothing by label and an up whose create returns race
 * for the row: whichever writes first wins, and the other learns it.
 */
static void
test_claim_or_give_up(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 a, b, cur;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "race", 8904);

	/* The down first: the create's answer finds the row gone. */
	assert_int_equal(state_instance_intent(f->st, dep, "vast", "race",
	    &a, &cause), 0);
	assert_int_equal(state_instance_give_up(f->st, a.id, &cause), 1);
	assert_int_equal(state_instance_claim(f->st, a.id, "v-1", &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 0);
	/* The up first: the down has an id to terminate after all. */
	assert_int_equal(state_instance_intent(f->st, dep, "vast", "race",
	    &b, &cause), 0);
	assert_int_equal(state_instance_claim(f->st, b.id, "v-2", &cause), 1);
	assert_int_equal(state_instance_give_up(f->st, b.id, &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_string_equal(cur.provider_id, "v-2");
	assert_null(cause);
	st_instance_clear(&cur);
	st_instance_clear(&a);
	st_instance_clear(&b);
}

/* The last word wins: a create's answer after a down is never claimed. */
static void
test_claim_after_down(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 a, cur;
	struct st_deployment	 d;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "late", 8905);
	int64_t			 t0;

	assert_int_equal(state_deployment_get(f->st, "late", &d, &cause), 1);
	t0 = d.desired_at;
	assert_true(t0 > 0);
	st_deployment_clear(&d);
	assert_int_equal(state_instance_intent(f->st, dep, "vast", "late",
	    &a, &cause), 0);
	/* The down is recorded while the create is in flight. */
	usleep(2000);
	assert_int_equal(state_deployment_set_desired(f->st, dep, "down",
	    &cause), 0);
	assert_int_equal(state_deployment_get(f->st, "late", &d, &cause), 1);
	assert_string_equal(d.desired, "down");
	assert_true(d.desired_at > t0);
	st_deployment_clear(&d);
	assert_int_equal(state_instance_claim(f->st, a.id, "v-9", &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_null(cur.provider_id);
	assert_null(cause);
	st_instance_clear(&cur);
	st_instance_clear(&a);
}

/* Backdate the open billing segment so spend is measurable at once. */
static void
backdate(struct state *st, int64_t id, int64_t secs)
{
	sqlite3	*db;
	char	*sql;

	assert_int_equal(sqlite3_open(state_path(st), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	sql = xprintf("UPDATE instances SET billing_since = billing_since - "
	    "%lld, created_at = created_at - %lld WHERE id = %lld",
	    (long long)secs, (long long)secs, (long long)id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);
}

static void
test_ledger(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 in;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "gpu", 8904), now;
	double			 spent;

	assert_int_equal(state_instance_intent(f->st, dep, "runpod", "gpu",
	    &in, &cause), 0);
	in.price_per_hour = 2.0;
	assert_int_equal(state_instance_update(f->st, &in, &cause), 0);
	/* Pending does not bill; running does. */
	assert_true(state_spent_deployment(f->st, dep, now_wall()) == 0);
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_RUNNING,
	    &cause), 0);
	backdate(f->st, in.id, 1800);
	now = now_wall();
	spent = state_spent_deployment(f->st, dep, now);
	assert_true(spent > 0.99 && spent < 1.01);	/* 30 min at $2/h */
	/* Stopping closes the segment into the append-only ledger. */
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_STOPPED,
	    &cause), 0);
	spent = state_spent_deployment(f->st, dep, now_wall() + 3600);
	assert_true(spent > 0.99 && spent < 1.01);	/* no longer grows */
	spent = state_spent_since(f->st, now - 900, now_wall());
	assert_true(spent > 0.49 && spent < 0.51);	/* prorated half */
	st_instance_clear(&in);
}

/* Stopped, an instance still pays for its disk, as its own segment. */
static void
test_stopped_disk(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 in, cur;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "disk", 8906);
	double			 spent;

	assert_int_equal(state_instance_intent(f->st, dep, "runpod", "disk",
	    &in, &cause), 0);
	in.price_per_hour = 2.0;
	in.stopped_price = 0.10;
	assert_int_equal(state_instance_update(f->st, &in, &cause), 0);
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_RUNNING,
	    &cause), 0);
	backdate(f->st, in.id, 1800);		/* 30 min at $2/h = $1 */
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_STOPPED,
	    &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_true(cur.billing_since != 0);	/* the disk segment is open */
	assert_true(cur.billing_rate > 0.099 && cur.billing_rate < 0.101);
	st_instance_clear(&cur);
	backdate(f->st, in.id, 3600);		/* 1 h stopped = $0.10 */
	spent = state_spent_deployment(f->st, dep, now_wall());
	assert_true(spent > 1.09 && spent < 1.11);
	assert_int_equal(state_instance_set_state(f->st, in.id,
	    INST_TERMINATED, &cause), 0);
	spent = state_spent_deployment(f->st, dep, now_wall() + 7200);
	assert_true(spent > 1.09 && spent < 1.11);	/* closed for good */
	st_instance_clear(&in);
}

/*
 * Before a terminate: stopping, the segment closed at once, so a record
 * the full disk leaves behind does not accrue; after a failed terminate
 * it bills again. Failed writes (the full-disk hook) change nothing.
 */
static void
test_terminating(void **arg)
{
	struct fixture		*f = *arg;
	struct st_instance	 in, cur;
	char			*cause = NULL;
	int64_t			 dep;
	double			 spent;

	dep = add_deployment(f->st, "term", 8907);
	assert_int_equal(state_instance_intent(f->st, dep, "runpod", "term",
	    &in, &cause), 0);
	in.price_per_hour = 2.0;
	assert_int_equal(state_instance_update(f->st, &in, &cause), 0);
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_RUNNING,
	    &cause), 0);
	backdate(f->st, in.id, 1800);		/* $1 so far */
	assert_int_equal(state_instance_terminating(f->st, in.id, &cause), 0);
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_int_equal(cur.state, INST_STOPPING);
	assert_true(cur.billing_since == 0);
	st_instance_clear(&cur);
	spent = state_spent_deployment(f->st, dep, now_wall() + 86400);
	assert_true(spent > 0.99 && spent < 1.01);	/* stands still */
	/* The terminate failed: still stopping, billing again. */
	assert_int_equal(state_instance_set_state(f->st, in.id, INST_STOPPING,
	    &cause), 0);
	spent = state_spent_deployment(f->st, dep, now_wall() + 1800);
	assert_true(spent > 1.99 && spent < 2.01);
	/* The disk fills: every write fails, and nothing changes. */
	setenv("FLEET_TEST_STATE_FAIL", "unit", 1);
	state_test_fail(f->st, "other");
	assert_int_equal(state_instance_terminating(f->st, in.id, &cause), 0);
	state_test_fail(f->st, "unit");
	unsetenv("FLEET_TEST_STATE_FAIL");
	assert_int_equal(state_instance_set_state(f->st, in.id,
	    INST_TERMINATED, &cause), -1);
	assert_non_null(strstr(cause, state_path(f->st)));
	free(cause);
	cause = NULL;
	assert_int_equal(state_instance_current(f->st, dep, &cur, &cause), 1);
	assert_int_equal(cur.state, INST_STOPPING);	/* as it was */
	st_instance_clear(&cur);
	st_instance_clear(&in);
}

static void
test_ledger_append_only(void **arg)
{
	struct fixture	*f = *arg;
	sqlite3		*db;

	test_ledger(arg);
	assert_int_equal(state_event(f->st, "gpu", "note", "kept"), 0);
	assert_int_equal(sqlite3_open(state_path(f->st), &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE ledger SET usd = 0",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE events SET kind = 'x'",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM ledger",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM events",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_events(void **arg)
{
	struct fixture	*f = *arg;
	struct st_event	*ev;
	char		*cause = NULL;
	int		 n, i;

	for (i = 0; i < 15; i++)
		assert_int_equal(state_event(f->st, i % 2 ? "a" : "b", "tick",
		    "n=%d", i), 0);
	assert_int_equal(state_event_list(f->st, "a", 5, &ev, &n, &cause), 0);
	assert_int_equal(n, 5);
	assert_string_equal(ev[0].message, "n=5");	/* oldest of newest 5 */
	assert_string_equal(ev[4].message, "n=13");
	st_event_list_free(ev, n);
	assert_int_equal(state_event_list(f->st, NULL, 100, &ev, &n, &cause),
	    0);
	assert_int_equal(n, 15);
	st_event_list_free(ev, n);
}

/* Two handles (CLI and daemon) write at once: the busy timeout serialises. */
static void
test_two_writers(void **arg)
{
	struct fixture		*f = *arg;
	struct state		*other;
	struct st_instance	*all;
	char			*cause = NULL;
	int64_t			 dep = add_deployment(f->st, "shared", 8905);
	int			 i, n;
	pid_t			 pid;

	if ((pid = fork()) == 0) {
		other = state_open(f->dir, &cause);
		for (i = 0; other != NULL && i < 50; i++) {
			struct st_instance in;
			if (state_instance_intent(other, dep, "local",
			    "shared", &in, &cause) != 0)
				_exit(1);
			st_instance_clear(&in);
		}
		state_close(other);
		_exit(other == NULL);
	}
	for (i = 0; i < 50; i++) {
		struct st_instance in;
		assert_int_equal(state_instance_intent(f->st, dep, "local",
		    "shared", &in, &cause), 0);
		st_instance_clear(&in);
	}
	assert_int_equal(waitpid(pid, &i, 0), pid);
	assert_true(WIFEXITED(i) && WEXITSTATUS(i) == 0);
	assert_int_equal(state_instance_list(f->st, 0, &all, &n, &cause), 0);
	assert_int_equal(n, 100);
	st_instance_list_free(all, n);
}

/*
 * Several processes opening one new state dir at once (a `fleet up` and
 * a `fleet ls` on first use) all get it: none fails "database is locked"
 * while another turns the new file to WAL.
 */
static void
test_first_open_race(void **arg __unused)
{
	char	 dir[64], *cmd;
	int	 round, k, status, failed = 0;
	pid_t	 pids[8];

	for (round = 0; round < 20; round++) {
		snprintf(dir, sizeof dir, "/tmp/fleet-test-race.XXXXXX");
		assert_non_null(mkdtemp(dir));
		for (k = 0; k < (int)nitems(pids); k++) {
			if ((pids[k] = fork()) == 0) {
				char		*cause = NULL;
				struct state	*st = state_open(dir, &cause);

				if (st == NULL)
					fprintf(stderr, "%s\n", cause);
				else
					state_close(st);
				_exit(st == NULL);
			}
			assert_true(pids[k] > 0);
		}
		for (k = 0; k < (int)nitems(pids); k++) {
			assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
			failed += !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0;
		}
		cmd = xprintf("rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_and_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deployment_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stable_port_unique, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_intent_then_provider_id,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_after_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claim_or_give_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopped_disk, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_terminating, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ledger_append_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, setup,
		    teardown),
		cmocka_unit_test(test_first_open_race),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
