/* test-deadman.c: heartbeat path, command, interval, watcher (deadman.c). */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet.h"
#include "deadman.h"

#define assert_contains(s, sub) do {					\
	const char *s_ = (s);						\
	if (s_ == NULL || strstr(s_, (sub)) == NULL)			\
		fail_msg("\"%s\" does not contain \"%s\"",		\
		    s_ != NULL ? s_ : "(null)", (sub));			\
} while (0)

#define RP_URL	"http://127.0.0.1:9/runpod/graphql"

static const char *providers_ok[] = { "runpod", "vast", "paperspace",
    "local" };

static void
test_label(void **state __unused)
{
	static const char *good[] = { "fleet-personaplex-7b-12", "a",
	    "A.b_c-9", "..", "-x" };
	static const char *bad[] = { "", "a b", "a/b", "a'b", "$(id)",
	    "a;b", "a\nb", "é", "a*", "`x`" };
	char	 longest[DEADMAN_LABEL_MAX + 2];
	size_t	 i;

	for (i = 0; i < nitems(good); i++)
		if (!deadman_label_ok(good[i]))
			fail_msg("'%s' should be a valid label", good[i]);
	for (i = 0; i < nitems(bad); i++)
		if (deadman_label_ok(bad[i]))
			fail_msg("'%s' should be refused", bad[i]);
	assert_false(deadman_label_ok(NULL));
	memset(longest, 'a', sizeof longest);
	longest[DEADMAN_LABEL_MAX] = '\0';
	assert_true(deadman_label_ok(longest));
	longest[DEADMAN_LABEL_MAX] = 'a';
	longest[DEADMAN_LABEL_MAX + 1] = '\0';
	assert_false(deadman_label_ok(longest));
}

static void
test_paths(void **state __unused)
{
	char	*s;

	s = deadman_heartbeat_path("fleet-llm-3");
	assert_string_equal(s, "/tmp/fleet-heartbeat-fleet-llm-3");
	free(s);
	s = deadman_log_path("fleet-llm-3");
	assert_string_equal(s, "/tmp/fleet-deadman-fleet-llm-3.log");
	free(s);
	s = deadman_heartbeat_command("fleet-llm-3");
	assert_string_equal(s, "touch /tmp/fleet-heartbeat-fleet-llm-3");
	free(s);
	assert_null(deadman_heartbeat_path("../etc/passwd"));
	assert_null(deadman_log_path("a b"));
	assert_null(deadman_heartbeat_command("x; rm -rf /"));
	assert_null(deadman_heartbeat_command(NULL));
}

static void
test_interval(void **state __unused)
{
	assert_int_equal(deadman_heartbeat_interval(0), 0);
	assert_int_equal(deadman_heartbeat_interval(-5), 0);
	assert_int_equal(deadman_heartbeat_interval(1), 1);
	assert_int_equal(deadman_heartbeat_interval(3), 1);
	assert_int_equal(deadman_heartbeat_interval(4), 1);
	assert_int_equal(deadman_heartbeat_interval(9), 2);
	assert_int_equal(deadman_heartbeat_interval(600), 150);
	assert_int_equal(deadman_heartbeat_interval(7 * 86400), 151200);
}

static void
test_supported(void **state __unused)
{
	char	*cause = NULL;
	size_t	 i;

	for (i = 0; i < nitems(providers_ok); i++)
		assert_true(deadman_supported(providers_ok[i], NULL));
	assert_false(deadman_supported("lambda", &cause));
	assert_contains(cause, "no dead-man switch on lambda");
	assert_contains(cause, "no credential of its own");
	assert_contains(cause, "bills until it is terminated");
	free(cause);
	cause = NULL;
	assert_false(deadman_supported("nimbus", &cause));
	assert_contains(cause, "no dead-man switch on nimbus");
	free(cause);
	assert_false(deadman_supported(NULL, NULL));
}

/* The script for provider, which must be generated. */
static char *
script(const char *provider, const char *url, const char *label,
    int64_t timeout)
{
	char	*s, *cause = NULL;

	if ((s = deadman_script(provider, url, label, timeout, &cause)) ==
	    NULL)
		fail_msg("%s: %s", provider, cause);
	return (s);
}

static void
test_script_runpod(void **state __unused)
{
	char	*s = script("runpod", RP_URL, "fleet-llm-3", 600);

	assert_null(strchr(s, '\n'));
	assert_contains(s, "H=/tmp/fleet-heartbeat-fleet-llm-3;");
	assert_contains(s, "G=/tmp/fleet-deadman-fleet-llm-3.log;");
	assert_contains(s, "T=600; S=30;");
	assert_contains(s, "U='" RP_URL "';");
	assert_contains(s, "RUNPOD_POD_ID");
	assert_contains(s, "RUNPOD_API_KEY");
	assert_contains(s, "podTerminate(input: {podId: $podId})");
	assert_contains(s, "podStop(input: {podId: $podId})");
	/* The key reaches curl on stdin (-K -), never as an argument. */
	assert_contains(s, "curl -sS -m 30");
	assert_contains(s, "-K -");
	assert_null(strstr(s, "-H \"Authorization"));
	assert_null(strstr(s, "--header=\"Authorization"));
	assert_null(strstr(s, "$PPID"));
	free(s);
	s = script("runpod", RP_URL, "x", 3);
	assert_contains(s, "T=3; S=1;");
	free(s);
}

static void
test_script_vast(void **state __unused)
{
	char	*s;

	s = script("vast", "http://127.0.0.1:9/vast/", "fleet-a-1", 40);

	assert_null(strchr(s, '\n'));
	assert_contains(s, "U='http://127.0.0.1:9/vast';");
	assert_contains(s, "T=40; S=10;");
	assert_contains(s, "CONTAINER_ID");
	assert_contains(s, "CONTAINER_API_KEY");
	assert_contains(s, "http DELETE \"$U/api/v0/instances/$ID/\"");
	assert_contains(s, "{\"state\":\"stopped\"}");
	free(s);
}

static void
test_script_others(void **state __unused)
{
	char	*s;

	s = script("paperspace", NULL, "fleet-a-1", 120);
	assert_null(strchr(s, '\n'));
	assert_contains(s, "poweroff");
	assert_null(strstr(s, "curl"));
	assert_null(strstr(s, "U='"));
	free(s);
	s = script("local", NULL, "fleet-a-1", 120);
	assert_contains(s, "kill -s TERM 0");
	assert_contains(s, "kill -0 $PPID");
	assert_null(strstr(s, "curl"));
	free(s);
}

/* deadman_script must fail with a cause containing want. */
static void
script_fails(const char *provider, const char *url, const char *label,
    int64_t timeout, const char *want)
{
	char	*s, *cause = NULL;

	s = deadman_script(provider, url, label, timeout, &cause);
	if (s != NULL)
		fail_msg("%s %s: generated, expected '%s'", provider,
		    label != NULL ? label : "(null)", want);
	assert_contains(cause, want);
	free(cause);
}

static void
test_script_refused(void **state __unused)
{
	script_fails("lambda", NULL, "fleet-a-1", 60,
	    "no dead-man switch on lambda");
	script_fails("runpod", RP_URL, "a b", 60, "label 'a b'");
	script_fails("runpod", RP_URL, NULL, 60, "label ''");
	script_fails("runpod", RP_URL, "fleet-a-1", 0, "above 0");
	script_fails("local", NULL, "fleet-a-1", -1, "above 0");
	script_fails("runpod", NULL, "fleet-a-1", 60, "not http(s)");
	script_fails("vast", "ftp://x/", "fleet-a-1", 60, "not http(s)");
	script_fails("runpod", "http://x/'; rm -rf /'", "fleet-a-1", 60,
	    "will not quote");
	script_fails("runpod", "http://x/$(id)", "fleet-a-1", 60,
	    "will not quote");
	script_fails("vast", "http://x/a b", "fleet-a-1", 60,
	    "will not quote");
}

/* Run `shell -n -c text` (busybox: `busybox sh -n ...`): 0 if it parses. */
static int
sh_parses(const char *shell, const char *text)
{
	int	 bb = strstr(shell, "busybox") != NULL;

	pid_t	 pid;
	int	 status, fd;

	if ((pid = fork()) == -1)
		fail_msg("fork failed");
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, 2);
		if (bb)
			execl(shell, "busybox", "sh", "-n", "-c", text,
			    (char *)NULL);
		else
			execl(shell, shell, "-n", "-c", text, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Every watcher is valid sh for every shell this machine has. */
static void
test_script_syntax(void **state __unused)
{
	static const char *shells[] = { "/bin/sh", "/bin/dash", "/bin/bash",
	    "/bin/busybox" };
	char	*s;
	size_t	 i, j;

	for (i = 0; i < nitems(providers_ok); i++) {
		s = script(providers_ok[i], RP_URL, "fleet-a-1", 60);
		for (j = 0; j < nitems(shells); j++) {
			if (access(shells[j], X_OK) != 0)
				continue;
			if (sh_parses(shells[j], s) != 0)
				fail_msg("%s does not parse the %s watcher",
				    shells[j], providers_ok[i]);
		}
		free(s);
	}
}

static void
touch_file(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) == -1)
		fail_msg("cannot create %s", path);
	futimens(fd, NULL);
	close(fd);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * The local watcher, started as the local driver starts it (its own
 * process group, the workload exec'd after it): alive while the heartbeat
 * changes, the whole group gone once it stops.
 */
static void
test_script_local_runs(void **state __unused)
{
	char	 label[64], *s, *hb, *lg, *log;
	pid_t	 pid, r;
	int	 status = 0, i;
	size_t	 len;
	FILE	*f;

	snprintf(label, sizeof label, "fleet-unit-%d-1", (int)getpid());
	hb = deadman_heartbeat_path(label);
	lg = deadman_log_path(label);
	unlink(lg);
	touch_file(hb);		/* stale from before: it still counts down */
	s = script("local", NULL, label, 2);
	if ((pid = fork()) == -1)
		fail_msg("fork failed");
	if (pid == 0) {
		setpgid(0, 0);
		setenv(DEADMAN_ENV, s, 1);
		execl("/bin/sh", "sh", "-c", DEADMAN_LAUNCH " exec sleep 60",
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 20; i++) {	/* 4 s of heartbeats, twice T */
		sleep_ms(200);
		touch_file(hb);
	}
	r = waitpid(pid, &status, WNOHANG);
	if (r != 0) {
		kill(-pid, SIGKILL);
		fail_msg("the workload died although the heartbeat went on");
	}
	for (i = 0; i < 150 && (r = waitpid(pid, &status, WNOHANG)) == 0;
	    i++)
		sleep_ms(100);
	if (r == 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the workload still runs 15 s after the heartbeat "
		    "stopped");
	}
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	for (i = 0; i < 50 && kill(-pid, 0) == 0; i++)
		sleep_ms(100);
	assert_int_not_equal(kill(-pid, 0), 0);	/* the watcher too */
	if ((f = fopen(lg, "r")) == NULL)
		fail_msg("no log %s", lg);
	log = xcalloc(1, 4096);
	len = fread(log, 1, 4095, f);
	fclose(f);
	log[len] = '\0';
	assert_contains(log, "fleet dead-man switch (local)");
	assert_contains(log, "no heartbeat for 2s");
	assert_contains(log, "ending the process group");
	free(log);
	unlink(hb);
	unlink(lg);
	free(hb);
	free(lg);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_script_runpod),
		cmocka_unit_test(test_script_vast),
		cmocka_unit_test(test_script_others),
		cmocka_unit_test(test_script_refused),
		cmocka_unit_test(test_script_syntax),
		cmocka_unit_test(test_script_local_runs),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
