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

	s = deadman_local_dir("/var/lib/fleet");
	assert_string_equal(s, "/var/lib/fleet/deadman");
	free(s);
	s = deadman_heartbeat_path("/d", "fleet-llm-3");
	assert_string_equal(s, "/d/heartbeat-fleet-llm-3");
	free(s);
	s = deadman_log_path("/d", "fleet-llm-3");
	assert_string_equal(s, "/d/fleet-llm-3.log");
	free(s);
	/* Over SSH: only a file of ours in a watcher's private dir (or the
	 * old name, for watchers from before), never through a symlink. */
	s = deadman_heartbeat_command("fleet-llm-3");
	assert_string_equal(s, "sh -c 'n=0; for f in /tmp/fleet-deadman.*/"
	    "heartbeat-fleet-llm-3 /tmp/fleet-heartbeat-fleet-llm-3; do if "
	    "[ -f \"$f\" ] && [ ! -h \"$f\" ] && [ -O \"$f\" ]; then touch "
	    "-c \"$f\" && n=1; fi; done; [ $n = 1 ]'");
	free(s);
	assert_null(deadman_heartbeat_path("/d", "../etc/passwd"));
	assert_null(deadman_heartbeat_path(NULL, "a"));
	assert_null(deadman_log_path("/d", "a b"));
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

	if (strcmp(provider, "local") == 0)
		s = deadman_script_local(label, timeout, "/tmp/fleet-unit-dm",
		    &cause);
	else
		s = deadman_script(provider, url, label, timeout, &cause);
	if (s == NULL)
		fail_msg("%s: %s", provider, cause);
	return (s);
}

static void
test_script_runpod(void **state __unused)
{
	char	*s = script("runpod", RP_URL, "fleet-llm-3", 600);

	assert_null(strchr(s, '\n'));
	assert_contains(s, "W=$(umask 077 && mktemp -d "
	    "/tmp/fleet-deadman.XXXXXXXXXX) || exit 1;");
	assert_contains(s, "H=$W/heartbeat-fleet-llm-3;");
	assert_contains(s, "G=$W/fleet-llm-3.log;");
	assert_contains(s, "(umask 077 && : >\"$H\") || exit 1;");
	assert_null(strstr(s, "chown"));
	assert_null(strstr(s, "/tmp/fleet-heartbeat"));
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
	free(s);
	/* Paperspace: root watches, the SSH user beats: hand it over. */
	s = deadman_script_user("paperspace", NULL, "fleet-a-1", 120,
	    "paperspace", NULL);
	assert_contains(s, "chmod 711 \"$W\" && chown paperspace \"$H\"");
	assert_null(strstr(s, "curl"));
	assert_null(strstr(s, "U='"));
	free(s);
	s = deadman_script_local("fleet-a-1", 120, "/st/it's/deadman", NULL);
	assert_contains(s, "H='/st/it'\\''s/deadman'/heartbeat-fleet-a-1; "
	    "G='/st/it'\\''s/deadman'/fleet-a-1.log;");
	assert_null(strstr(s, "mktemp"));
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
	char	*cause = NULL;

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
	script_fails("local", NULL, "fleet-a-1", 60, "needs its directory");
	assert_null(deadman_script_local("fleet-a-1", 60, NULL, &cause));
	assert_contains(cause, "needs its directory");
	free(cause);
	assert_null(deadman_script_user("paperspace", NULL, "fleet-a-1", 60,
	    "x; reboot", &cause));
	assert_contains(cause, "not a plain user name");
	free(cause);
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
	s = deadman_script_user("paperspace", NULL, "fleet-a-1", 60,
	    "paperspace", NULL);
	for (j = 0; j < nitems(shells); j++)
		if (access(shells[j], X_OK) == 0 &&
		    sh_parses(shells[j], s) != 0)
			fail_msg("%s does not parse the handed-over watcher",
			    shells[j]);
	free(s);
	s = deadman_heartbeat_command("fleet-a-1");
	for (j = 0; j < nitems(shells); j++)
		if (access(shells[j], X_OK) == 0 &&
		    sh_parses(shells[j], s) != 0)
			fail_msg("%s does not parse the heartbeat", shells[j]);
	free(s);
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

/* A private temp dir for a test; rm_rf() removes it. */
static char *
tmp_dir(const char *tmpl)
{
	char	*d = xstrdup(tmpl);

	if (mkdtemp(d) == NULL)
		fail_msg("mkdtemp %s failed", tmpl);
	return (d);
}

static void
rm_rf(char *dir)
{
	char	*cmd = xprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
	free(cmd);
	free(dir);
}

/* Set path's mtime (not following a symlink) an hour back. */
static void
age(const char *path)
{
	struct timespec	 ts[2] = { { time(NULL) - 3600, 0 },
			    { time(NULL) - 3600, 0 } };

	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
		fail_msg("cannot age %s", path);
}

/* Was path's mtime changed in the last minute? */
static int
fresh(const char *path)
{
	struct stat	 sb;

	if (stat(path, &sb) != 0)
		fail_msg("no %s", path);
	return (sb.st_mtime > time(NULL) - 60);
}

/*
 * The daemon's local touch: creates the heartbeat (O_EXCL), touches it
 * again, and never follows a symlink planted in its place nor touches a
 * file that is not a plain one of ours; the directory must be ours and
 * private.
 */
static void
test_touch_safe(void **state __unused)
{
	char		*root = tmp_dir("/tmp/fleet-unit-touch.XXXXXX");
	char		*dir = xprintf("%s/deadman", root), *hb, *p;
	char		*cause = NULL;
	struct stat	 sb;
	int		 other = geteuid() == 0;

	assert_int_equal(deadman_dir_prepare(dir, &cause), 0);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	chmod(dir, 0777);	/* opened up: closed again */
	assert_int_equal(deadman_dir_prepare(dir, &cause), 0);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	hb = deadman_heartbeat_path(dir, "fleet-t-1");
	assert_int_equal(deadman_heartbeat_touch(dir, "fleet-t-1", &cause), 0);
	assert_int_equal(lstat(hb, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	age(hb);
	assert_int_equal(deadman_heartbeat_touch(dir, "fleet-t-1", &cause), 0);
	assert_true(fresh(hb));

	/* A symlink where the heartbeat goes: refused, target untouched. */
	p = xprintf("%s/target", root);
	touch_file(p);
	age(p);
	unlink(hb);
	assert_int_equal(symlink(p, hb), 0);
	assert_int_equal(deadman_heartbeat_touch(dir, "fleet-t-1", &cause), -1);
	assert_contains(cause, "a symlink: not followed");
	free(cause);
	cause = NULL;
	assert_false(fresh(p));
	/* A hard link to another file: refused too. */
	unlink(hb);
	assert_int_equal(link(p, hb), 0);
	assert_int_equal(deadman_heartbeat_touch(dir, "fleet-t-1", &cause), -1);
	assert_contains(cause, "not a plain file of this user's");
	free(cause);
	cause = NULL;
	assert_false(fresh(p));
	unlink(hb);
	/* Someone else's file, someone else's directory (root only). */
	if (other) {
		touch_file(hb);
		age(hb);
		assert_int_equal(chown(hb, 65534, 65534), 0);
		assert_int_equal(deadman_heartbeat_touch(dir, "fleet-t-1",
		    &cause), -1);
		assert_contains(cause, "not a plain file of this user's");
		free(cause);
		cause = NULL;
		assert_false(fresh(hb));
		unlink(hb);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(deadman_dir_prepare(dir, &cause), -1);
		assert_contains(cause, "someone else's");
		free(cause);
		cause = NULL;
		assert_int_equal(chown(dir, 0, 0), 0);
	}
	/* The directory itself a symlink: refused. */
	rmdir(dir);
	assert_int_equal(symlink(root, dir), 0);
	assert_int_equal(deadman_dir_prepare(dir, &cause), -1);
	assert_contains(cause, "refusing it");
	free(cause);
	free(hb);
	free(p);
	free(dir);
	rm_rf(root);
}

/* sh -c cmd: its exit status. */
static int
run_sh(const char *cmd)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == -1)
		fail_msg("fork failed");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/*
 * The SSH heartbeat as the instance runs it: it touches the heartbeat
 * in a watcher's private dir, and neither a symlink planted there or at
 * the old /tmp name, nor (as root) a file someone else owns.
 */
static void
test_heartbeat_command_runs(void **state __unused)
{
	char	 label[64], *own, *evil, *cmd, *hb, *eh, *old, *target;

	snprintf(label, sizeof label, "fleet-unit-%d-hb", (int)getpid());
	cmd = deadman_heartbeat_command(label);
	assert_int_not_equal(run_sh(cmd), 0);	/* none there: says so */
	own = tmp_dir(DEADMAN_PRIVATE ".unitXXXXXX");
	evil = tmp_dir(DEADMAN_PRIVATE ".evilXXXXXX");
	chmod(evil, 01777);
	target = xprintf("%s/target", evil);
	touch_file(target);
	age(target);
	hb = xprintf("%s/heartbeat-%s", own, label);
	touch_file(hb);
	age(hb);
	eh = xprintf("%s/heartbeat-%s", evil, label);
	assert_int_equal(symlink(target, eh), 0);
	old = xprintf("/tmp/fleet-heartbeat-%s", label);
	unlink(old);
	assert_int_equal(symlink(target, old), 0);
	assert_int_equal(run_sh(cmd), 0);
	assert_true(fresh(hb));
	assert_false(fresh(target));
	if (geteuid() == 0) {
		unlink(eh);
		touch_file(eh);
		age(eh);
		assert_int_equal(chown(eh, 65534, 65534), 0);
		assert_int_equal(run_sh(cmd), 0);
		assert_false(fresh(eh));
	}
	unlink(old);
	free(cmd);
	free(hb);
	free(eh);
	free(old);
	free(target);
	rm_rf(own);
	rm_rf(evil);
}

/* Start `sh -c "$FLEET_DEADMAN"; exec tail` in a group of its own. */
static pid_t
start_watcher(const char *s, const char *then)
{
	pid_t	 pid;
	char	*cmd;

	if ((pid = fork()) == -1)
		fail_msg("fork failed");
	if (pid == 0) {
		setpgid(0, 0);
		setenv(DEADMAN_ENV, s, 1);
		unsetenv("RUNPOD_POD_ID");
		unsetenv("RUNPOD_API_KEY");
		cmd = xprintf(DEADMAN_LAUNCH " exec %s", then);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return (pid);
}

/*
 * An instance's watcher (RunPod's, with nothing to call) makes its own
 * private directory: 0700, ours, the heartbeat made in it, its log
 * there, nothing at the old /tmp names.
 */
static void
test_cloud_private_dir(void **state __unused)
{
	char		 label[64], *s, *hb, *find, *old;
	char		 dir[256];
	struct stat	 sb;
	pid_t		 pid;
	FILE		*f;
	int		 i, status, found = 0;

	snprintf(label, sizeof label, "fleet-unit-%d-c", (int)getpid());
	s = script("runpod", RP_URL, label, 2);
	pid = start_watcher(s, "sleep 30");
	find = xprintf("ls -d " DEADMAN_PRIVATE ".*/%s.log 2>/dev/null | "
	    "head -n 1", label);
	for (i = 0; i < 50 && !found; i++) {
		sleep_ms(100);
		if ((f = popen(find, "r")) == NULL)
			continue;
		if (fgets(dir, sizeof dir, f) != NULL)
			found = 1;
		pclose(f);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (!found)
		fail_msg("the watcher made no log under " DEADMAN_PRIVATE ".*");
	*strrchr(dir, '/') = '\0';
	assert_int_equal(lstat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(sb.st_uid, geteuid());
	hb = xprintf("%s/heartbeat-%s", dir, label);
	assert_int_equal(lstat(hb, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	old = xprintf("/tmp/fleet-heartbeat-%s", label);
	assert_int_not_equal(access(old, F_OK), 0);
	free(old);
	old = xprintf("/tmp/fleet-deadman-%s.log", label);
	assert_int_not_equal(access(old, F_OK), 0);
	free(old);
	free(hb);
	free(find);
	free(s);
	rm_rf(xstrdup(dir));
}

/*
 * The local watcher, started as the local driver starts it (its own
 * process group, the workload exec'd after it), its files in a private
 * directory: alive while the daemon's touch goes on, the whole group gone
 * once it stops.
 */
static void
test_script_local_runs(void **state __unused)
{
	char	 label[64], *s, *lg, *log, *root, *dir, *cause = NULL;
	pid_t	 pid, r;
	int	 status = 0, i;
	size_t	 len;
	FILE	*f;

	snprintf(label, sizeof label, "fleet-unit-%d-1", (int)getpid());
	root = tmp_dir("/tmp/fleet-unit-dm.XXXXXX");
	dir = deadman_local_dir(root);
	assert_int_equal(deadman_dir_prepare(dir, &cause), 0);
	lg = deadman_log_path(dir, label);
	/* stale from before: it still counts down */
	assert_int_equal(deadman_heartbeat_touch(dir, label, &cause), 0);
	s = deadman_script_local(label, 2, dir, &cause);
	assert_non_null(s);
	pid = start_watcher(s, "sleep 60");
	for (i = 0; i < 20; i++) {	/* 4 s of heartbeats, twice T */
		sleep_ms(200);
		assert_int_equal(deadman_heartbeat_touch(dir, label, &cause),
		    0);
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
	free(lg);
	free(s);
	free(dir);
	rm_rf(root);
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
		cmocka_unit_test(test_touch_safe),
		cmocka_unit_test(test_heartbeat_command_runs),
		cmocka_unit_test(test_cloud_private_dir),
		cmocka_unit_test(test_script_local_runs),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
