/* control.c: client side of the daemon's control socket. */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "creds.h"
#include "driver.h"
#include "state.h"

#define CONTROL_START_WAIT_MS	10000

char *
control_path(const char *state_dir, const char *file)
{
	return (xprintf("%s/%s", state_dir, file));
}

/*
 * Connect within timeout_ms: a daemon that is stopped (SIGSTOP) with a
 * full backlog would otherwise hold connect() and write() forever; on
 * Linux SO_SNDTIMEO bounds both for a Unix socket.
 */
static int
control_connect(const char *state_dir, int timeout_ms, char **cause)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { timeout_ms / 1000,
				    (timeout_ms % 1000) * 1000 };
	char			*path = control_path(state_dir, CONTROL_SOCKET);
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		*cause = xprintf("control socket path too long: %s", path);
		free(path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		*cause = xprintf("no daemon at %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	free(path);
	return (fd);
}

/* Read one line (the reply) within the deadline. */
static char *
control_read_line(int fd, int64_t deadline, char **cause)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 left;

	for (;;) {
		left = (int)(deadline - now_mono_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			*cause = xstrdup("daemon did not answer in time");
			break;
		}
		if (len + 4096 > cap) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((n = read(fd, buf + len, cap - len - 1)) <= 0) {
			*cause = xstrdup("daemon closed the connection");
			break;
		}
		len += n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			return (buf);
		if (len > CONTROL_MAX_LINE) {
			*cause = xstrdup("daemon reply too long");
			break;
		}
	}
	free(buf);
	return (NULL);
}

int
control_request(const char *state_dir, const cJSON *req, cJSON **reply,
    int timeout_ms, char **cause)
{
	char	*line, *txt;
	int	 fd, rc = -1;
	size_t	 len;
	int64_t	 deadline = now_mono_ms() + timeout_ms;

	*reply = NULL;
	if ((fd = control_connect(state_dir, timeout_ms, cause)) == -1)
		return (-1);
	txt = cJSON_PrintUnformatted(req);
	line = xprintf("%s\n", txt);
	free(txt);
	len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len)
		*cause = xprintf("cannot write to daemon: %s", strerror(errno));
	else if ((txt = control_read_line(fd, deadline, cause)) != NULL) {
		if ((*reply = cJSON_Parse(txt)) == NULL)
			*cause = xstrdup("daemon sent a reply that is not JSON");
		else
			rc = 0;
		free(txt);
	}
	free(line);
	close(fd);
	return (rc);
}

/* A command without arguments; an ok:false reply is an error too. */
int
control_simple(const char *state_dir, const char *cmd, cJSON **reply,
    char **cause)
{
	cJSON		*req = cJSON_CreateObject();
	const cJSON	*ok, *err;
	int		 rc;

	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", cmd);
	rc = control_request(state_dir, req, reply, 5000, cause);
	cJSON_Delete(req);
	if (rc != 0)
		return (-1);
	ok = cJSON_GetObjectItemCaseSensitive(*reply, "ok");
	if (!cJSON_IsTrue(ok)) {
		err = cJSON_GetObjectItemCaseSensitive(*reply, "error");
		*cause = xprintf("daemon: %s", cJSON_IsString(err) ?
		    err->valuestring : "request refused");
		cJSON_Delete(*reply);
		*reply = NULL;
		return (-1);
	}
	return (0);
}

int
control_alive(const char *state_dir)
{
	cJSON	*reply = NULL;
	char	*cause = NULL;
	int	 rc;

	rc = control_simple(state_dir, "hello", &reply, &cause) == 0;
	cJSON_Delete(reply);
	free(cause);
	return (rc);
}

/*
 * In the child about to become the daemon: a key this command exported
 * from a file (creds_export) is left for the daemon to read from that
 * file itself, so it knows where the key came from and a later `fleet
 * auth rm` or SIGHUP applies to it.
 */
static void
control_daemon_env(struct cmd_ctx *ctx)
{
	const struct fleet_driver	**dp;
	struct creds_key		  k;
	const char			 *env, *v;
	char				 *cause = NULL;

	for (dp = driver_table; *dp != NULL; dp++) {
		if (!((*dp)->flags & DRV_NEEDS_KEY) ||
		    (env = creds_env_name(*dp, ctx->conf)) == NULL ||
		    (v = getenv(env)) == NULL)
			continue;
		if (creds_lookup(*dp, ctx->conf, CREDS_SKIP_ENV, &k,
		    &cause) != 0) {
			free(cause);
			cause = NULL;
			continue;
		}
		if (k.key != NULL && strcmp(k.key, v) == 0)
			unsetenv(env);
		creds_key_clear(&k);
	}
}

/* The two lines a daemon that could not start left (its error, a hint). */
static char *
control_start_error(const char *state_dir)
{
	char	*path = control_path(state_dir, CONTROL_ERRFILE);
	char	 buf[2048];
	FILE	*f;
	size_t	 n = 0;

	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	free(path);
	if (n == 0)
		return (NULL);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (xstrdup(buf));
}

/* Does some process hold the daemon's pidfile lock (a daemon runs)? */
static int
control_lock_held(const char *state_dir)
{
	char	*path = control_path(state_dir, CONTROL_PIDFILE);
	int	 fd, held = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		held = flock(fd, LOCK_SH | LOCK_NB) == -1 &&
		    errno == EWOULDBLOCK;
		close(fd);
	}
	free(path);
	return (held);
}

/* Why the daemon is not answering, for the command that wanted it. */
static char *
control_start_cause(struct cmd_ctx *ctx, const char *err)
{
	char	*log = control_path(ctx->state_dir, CONTROL_LOGFILE), *c;

	if (err != NULL)
		c = xprintf("the daemon could not start: %s\n(log: %s)", err,
		    log);
	else if (control_lock_held(ctx->state_dir))
		c = xprintf("the daemon did not answer: another fleet daemon "
		    "for state dir %s holds %s/%s but does not answer; see "
		    "`fleet daemon status` and %s", ctx->state_dir,
		    ctx->state_dir, CONTROL_PIDFILE, log);
	else
		c = xprintf("the daemon did not start; see %s", log);
	free(log);
	return (c);
}

/*
 * Start the daemon the way tmux starts its server: fork, exec ourselves
 * as `fleet daemon --detach`, then wait until the socket answers, or
 * until it says why it could not (CONTROL_ERRFILE) or exits.
 */
int
control_ensure_daemon(struct cmd_ctx *ctx, char **cause)
{
	char	*exe, *argv[8], *err = NULL, *errpath;
	int	 n = 0, status;
	pid_t	 pid;
	int64_t	 deadline;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	if (cmd_find("daemon") == NULL || control_alive(ctx->state_dir))
		return (0);
	exe = self_exe();
	argv[n++] = exe;
	if (ctx->config_path != NULL) {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)ctx->config_path;
	}
	argv[n++] = (char *)"daemon";
	argv[n++] = (char *)"--detach";
	argv[n] = NULL;
	errpath = control_path(ctx->state_dir, CONTROL_ERRFILE);
	unlink(errpath);
	free(errpath);
	if ((pid = fork()) == 0) {
		control_daemon_env(ctx);
		setenv("FLEET_STATE_DIR", ctx->state_dir, 1);
		/* A crash point meant for this command is not the daemon's. */
		unsetenv("FLEET_TEST_CRASH");
		execv(exe, argv);
		_exit(127);
	}
	free(exe);
	if (pid == -1) {
		*cause = xprintf("cannot start the daemon: %s",
		    strerror(errno));
		return (-1);
	}
	/* --detach forks again and the first process exits. */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	/* It failed before detaching, not for a rival daemon: say so now. */
	if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) &&
	    !control_lock_held(ctx->state_dir) &&
	    !control_alive(ctx->state_dir)) {
		err = control_start_error(ctx->state_dir);
		*cause = control_start_cause(ctx, err);
		free(err);
		return (-1);
	}
	deadline = now_mono_ms() + CONTROL_START_WAIT_MS;
	while (now_mono_ms() < deadline) {
		if (control_alive(ctx->state_dir))
			return (0);
		if ((err = control_start_error(ctx->state_dir)) != NULL)
			break;
		nanosleep(&ts, NULL);
	}
	*cause = control_start_cause(ctx, err);
	free(err);
	return (-1);
}

/*
 * Add {"keys": {VAR: key}} for every provider key this CLI finds (the
 * lookup in creds.h), so whatever the command asks, the daemon's jobs
 * get the keys too. The socket is 0600 in a 0700 dir. Returns how many.
 */
int
control_add_keys(struct cmd_ctx *ctx, cJSON *req)
{
	const struct fleet_driver	**dp;
	const char			*v, *env;
	cJSON				*keys = NULL;
	char				*cause = NULL;
	int				 n = 0;

	if (ctx->conf == NULL && cmd_load_config(ctx) != 0)
		return (0);
	for (dp = driver_table; *dp != NULL; dp++) {
		if (!((*dp)->flags & DRV_NEEDS_KEY) ||
		    (env = creds_env_name(*dp, ctx->conf)) == NULL)
			continue;
		if ((v = creds_export(*dp, ctx->conf, NULL, &cause)) == NULL) {
			if (cause != NULL)
				log_debug("%s", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (keys == NULL)
			keys = cJSON_AddObjectToObject(req, "keys");
		cJSON_AddStringToObject(keys, env, v);
		n++;
	}
	return (n);
}

void
control_notify(struct cmd_ctx *ctx)
{
	cJSON	*req, *reply = NULL;
	char	*cause = NULL;

	if (ctx->state_dir == NULL)
		return;
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "reload");
	control_add_keys(ctx, req);
	if (control_request(ctx->state_dir, req, &reply, 5000, &cause) != 0)
		log_debug("no daemon to notify: %s", cause);
	cJSON_Delete(reply);
	cJSON_Delete(req);
	free(cause);
}

/*
 * Hand the daemon the API keys this CLI has (over the 0600 socket), so
 * the jobs it runs to stop or terminate an instance can reach its
 * provider even if the daemon was started without the key.
 */
void
control_send_keys(struct cmd_ctx *ctx)
{
	cJSON	*req, *reply = NULL;
	char	*cause = NULL;

	if (ctx->state_dir == NULL)
		return;
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "keys");
	if (control_add_keys(ctx, req) > 0 && control_request(ctx->state_dir,
	    req, &reply, 5000, &cause) != 0) {
		log_warn("could not hand the API keys to the daemon: %s", cause);
		free(cause);
	}
	cJSON_Delete(reply);
	cJSON_Delete(req);
}

/* Ask the daemon (handing it our keys) which providers it lacks keys for. */
int
control_guard(struct cmd_ctx *ctx, int reload, cJSON **guard, char **cause)
{
	cJSON	*req, *reply = NULL, *g;
	int	 rc = -1;

	*guard = NULL;
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "guard");
	if (reload)
		cJSON_AddBoolToObject(req, "reload", 1);
	control_add_keys(ctx, req);
	if (control_request(ctx->state_dir, req, &reply, 5000, cause) == 0) {
		g = cJSON_DetachItemFromObjectCaseSensitive(reply, "guard");
		if (cJSON_IsObject(g)) {
			*guard = g;
			rc = 0;
		} else {
			cJSON_Delete(g);
			*cause = xstrdup("the daemon does not answer \"guard\" "
			    "(an older fleet daemon: restart it)");
		}
	}
	cJSON_Delete(reply);
	cJSON_Delete(req);
	return (rc);
}

/* "a (fleet-a-3), b (fleet-b-4)": the instances of one guard entry. */
char *
control_guard_names(const cJSON *p)
{
	const cJSON	*o;
	char		*s = xstrdup(""), *t;
	const char	*dep, *label;

	cJSON_ArrayForEach(o, cJSON_GetObjectItem(p, "instances")) {
		dep = cJSON_GetStringValue(cJSON_GetObjectItem(o,
		    "deployment"));
		label = cJSON_GetStringValue(cJSON_GetObjectItem(o, "label"));
		t = s;
		s = xprintf("%s%s%s (%s)", t, *t != '\0' ? ", " : "",
		    dep != NULL ? dep : "?", label != NULL ? label : "?");
		free(t);
	}
	return (s);
}

/*
 * Print one warning per provider whose live instances the daemon cannot
 * stop for want of a key. Returns how many instances are unguarded.
 */
int
control_guard_warn(const cJSON *guard, const char *who, FILE *f)
{
	const cJSON	*p;
	const char	*name, *err;
	char		*names;
	int		 n, total = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItem(guard, "providers")) {
		name = cJSON_GetStringValue(cJSON_GetObjectItem(p, "provider"));
		n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p,
		    "unguarded"));
		if (name == NULL || n <= 0)
			continue;
		total += n;
		names = control_guard_names(p);
		fprintf(f, "fleet %s: warning: the daemon has no API key for "
		    "%s: it cannot stop %s; run `fleet auth set %s`, then "
		    "`kill -HUP` the daemon or run any fleet command\n", who,
		    name, names, name);
		if ((err = cJSON_GetStringValue(cJSON_GetObjectItem(p,
		    "error"))) != NULL)
			fprintf(f, "fleet %s: the daemon's key lookup for %s "
			    "failed: %s\n", who, name, err);
		free(names);
	}
	return (total);
}

/* Live instances that bill at a provider (not this machine). */
int
control_billing(struct cmd_ctx *ctx)
{
	struct st_instance		*in;
	const struct fleet_driver	*d;
	char				*cause = NULL;
	int				 n, i, live = 0;

	if (state_instance_list(ctx->st, 1, &in, &n, &cause) != 0) {
		free(cause);
		return (0);
	}
	for (i = 0; i < n; i++) {
		d = driver_find(in[i].provider);
		if (inst_state_bills(in[i].state) &&
		    (d == NULL || !(d->flags & DRV_LOCAL)))
			live++;
	}
	st_instance_list_free(in, n);
	return (live);
}

/*
 * Nothing runs unwatched: with live billing instances and no daemon,
 * start one (as `fleet up` does) and say so; then warn about providers
 * the daemon has no key for. 1 when a daemon watches, 0 when none does.
 */
int
control_watch(struct cmd_ctx *ctx, const char *who, cJSON **guardp)
{
	cJSON	*guard = NULL;
	char	*cause = NULL;
	int	 live;

	if (guardp != NULL)
		*guardp = NULL;

	if (ctx->st == NULL || ctx->state_dir == NULL)
		return (control_alive(ctx->state_dir));
	live = control_billing(ctx);
	if (!control_alive(ctx->state_dir)) {
		if (live == 0)
			return (0);
		if (control_ensure_daemon(ctx, &cause) != 0) {
			fprintf(stderr, "fleet %s: warning: no daemon: %d live "
			    "deployment%s ha%s no watchdog: %s\n", who, live,
			    live == 1 ? "" : "s", live == 1 ? "s" : "ve",
			    cause);
			free(cause);
			return (0);
		}
		fprintf(stderr, "fleet %s: started the daemon: %d live "
		    "deployment%s had no watchdog\n", who, live,
		    live == 1 ? "" : "s");
	}
	if (control_guard(ctx, 0, &guard, &cause) != 0) {
		log_debug("guard: %s", cause);
		free(cause);
		return (1);
	}
	control_guard_warn(guard, who, stderr);
	if (guardp != NULL)
		*guardp = guard;
	else
		cJSON_Delete(guard);
	return (1);
}

/* Does the daemon's guard say it has no key for provider? */
int
control_guard_lacks(const cJSON *guard, const char *provider)
{
	const cJSON	*p;
	const char	*name;

	cJSON_ArrayForEach(p, cJSON_GetObjectItem(guard, "providers")) {
		name = cJSON_GetStringValue(cJSON_GetObjectItem(p, "provider"));
		if (name != NULL && strcmp(name, provider) == 0)
			return (cJSON_IsFalse(cJSON_GetObjectItem(p, "key")));
	}
	return (0);
}

char *
control_config_id(const char *path)
{
	char	*abs;

	if (path == NULL || *path == '\0')
		return (xstrdup(""));
	if ((abs = realpath(path, NULL)) == NULL)
		return (xstrdup(path));
	return (abs);
}

/*
 * All configs share one state dir and one daemon, so a budget in one
 * config does not apply to a daemon started with another: say so, once.
 */
void
control_config_warn(struct cmd_ctx *ctx)
{
	static int	 warned;
	char		*path, *mine, buf[4096];
	FILE		*f;
	size_t		 n = 0;

	if (warned || ctx->state_dir == NULL || ctx->conf == NULL ||
	    !control_lock_held(ctx->state_dir))
		return;
	path = control_path(ctx->state_dir, CONTROL_CONFFILE);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	free(path);
	if (f == NULL)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	mine = control_config_id(ctx->conf->path);
	if (strcmp(mine, buf) != 0) {
		warned = 1;
		fprintf(stderr, "fleet: warning: this command loaded %s, but "
		    "the daemon for %s runs with %s: its budget, watchdog and "
		    "proxy settings are that file's (`fleet daemon stop` and "
		    "run again to switch)\n", *mine != '\0' ? mine :
		    "no config (the built-in defaults)", ctx->state_dir,
		    *buf != '\0' ? buf : "no config (the built-in defaults)");
	}
	free(mine);
}
