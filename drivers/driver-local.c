/* driver-local.c: the `local` provider: the template's command on this host. */
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "deadman.h"

/*
 * A local instance is a process group led by the template's command. Its
 * environment carries FLEET_LABEL and FLEET_PORT, so the instance is found
 * again by scanning /proc even when the fleet process that started it was
 * killed before writing anything down: the label is the provider id.
 * FLEET_LOCAL_OWNER names the state dir, so two fleets on one machine
 * (or two test runs) never see each other's processes.
 *
 * With the template's deadman_timeout, the shell starts the dead-man
 * watcher (in $FLEET_DEADMAN) in the background before it execs the
 * command: the watcher is in the same process group, ends the group when
 * the heartbeat stops, and leaves by itself when the command exits.
 */

#define LOCAL_HOST		"127.0.0.1"
#define LOCAL_TERM_WAIT_MS	5000
#define LOCAL_TAIL_LINES	10	/* of its log, when it exited */
#define LOCAL_TAIL_BYTES	4096

/*
 * The workload never sees a cloud key: every driver's default variable
 * and every api_key_env fleet.yaml names (a key file's key is exported
 * under that name too).
 */
static void
local_drop_keys(const struct fleet_config *conf)
{
	const struct fleet_driver	**d;
	int				 i;

	for (d = driver_table; *d != NULL; d++)
		if ((*d)->key_env != NULL)
			unsetenv((*d)->key_env);
	for (i = 0; conf != NULL && i < conf->nproviders; i++)
		if (conf->providers[i].api_key_env != NULL)
			unsetenv(conf->providers[i].api_key_env);
}

struct local_proc {
	pid_t	 pid;
	pid_t	 pgid;
	pid_t	 sid;
	int	 port;
	char	*label;
	int64_t	 started;
};

/* Read a whole small /proc file; NULL if it cannot be read. */
static char *
local_read_file(const char *path, size_t *len)
{
	char	*buf;
	size_t	 cap = 4096, n = 0;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	buf = xmalloc(cap);
	while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += r;
		if (n + 1 == cap) {
			if (cap >= 1024 * 1024)
				break;
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return (buf);
}

/* Find VAR=value in a NUL-separated environ block. */
static const char *
local_env_get(const char *env, size_t len, const char *var)
{
	size_t	vlen = strlen(var), off = 0;

	while (off < len) {
		const char *e = env + off;
		if (strncmp(e, var, vlen) == 0 && e[vlen] == '=')
			return (e + vlen + 1);
		off += strlen(e) + 1;
	}
	return (NULL);
}

/* Boot time in epoch seconds, from /proc/stat btime. */
static int64_t
local_boot_time(void)
{
	char	*buf, *p;
	size_t	 len;
	int64_t	 bt = 0;

	if ((buf = local_read_file("/proc/stat", &len)) == NULL)
		return (0);
	if ((p = strstr(buf, "\nbtime ")) != NULL)
		bt = strtoll(p + 7, NULL, 10);
	free(buf);
	return (bt);
}

/* Fill pgid and start time from /proc/PID/stat; -1 for zombies. */
static int
local_stat(pid_t pid, struct local_proc *lp)
{
	char	 path[64], *buf, *p;
	size_t	 len;
	int	 field, rc = -1;
	long long start = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((buf = local_read_file(path, &len)) == NULL)
		return (-1);
	/* The command name may hold spaces: fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0' || p[2] == 'Z' ||
	    p[2] == 'X')
		goto out;
	p += 2;
	for (field = 3; field <= 22 && p != NULL; field++) {
		if (field == 5)
			lp->pgid = (pid_t)strtol(p, NULL, 10);
		if (field == 6)
			lp->sid = (pid_t)strtol(p, NULL, 10);
		if (field == 22)
			start = strtoll(p, NULL, 10);
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	lp->started = local_boot_time() + start / sysconf(_SC_CLK_TCK);
	rc = 0;
out:
	free(buf);
	return (rc);
}

/*
 * Scan /proc for our processes carrying a fleet label (all, or just one).
 * Several processes of one group share a label: keep the group leader.
 */
static int
local_scan(const char *owner, const char *want, struct local_proc **out,
    size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	struct local_proc lp, *dup;
	char		 path[64], *env;
	const char	*label, *port, *own;
	size_t		 len, cap = 0, i;

	*out = NULL;
	*n = 0;
	if ((d = opendir("/proc")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		memset(&lp, 0, sizeof lp);
		lp.pid = (pid_t)strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof path, "/proc/%d/environ", (int)lp.pid);
		if ((env = local_read_file(path, &len)) == NULL)
			continue;
		label = local_env_get(env, len, "FLEET_LABEL");
		port = local_env_get(env, len, "FLEET_PORT");
		own = local_env_get(env, len, "FLEET_LOCAL_OWNER");
		if (label == NULL || own == NULL || strcmp(own, owner) != 0 || strncmp(label, "fleet-", 6) != 0 ||
		    (want != NULL && strcmp(label, want) != 0) ||
		    local_stat(lp.pid, &lp) != 0) {
			free(env);
			continue;
		}
		lp.port = port != NULL ? atoi(port) : 0;
		dup = NULL;
		for (i = 0; i < *n; i++)
			if (strcmp((*out)[i].label, label) == 0)
				dup = &(*out)[i];
		if (dup != NULL) {
			if (lp.pid == lp.pgid) {
				dup->pid = lp.pid;
				dup->started = lp.started;
			}
			free(env);
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		lp.label = xstrdup(label);
		(*out)[(*n)++] = lp;
		free(env);
	}
	closedir(d);
	return (0);
}

static void
local_proc_free(struct local_proc *lp, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(lp[i].label);
	free(lp);
}

static char *
local_pidfile(const char *owner, const char *label)
{
	return (xprintf("%s/local/%s.pid", owner, label));
}

/*
 * Find one labelled process. /proc/PID/environ reads empty while a
 * process is inside execve (the shell exec'ing the workload), so a scan
 * alone can miss a live instance; the pidfile written at create ("PID
 * PORT") covers that window. The pid must still lead its own session, so
 * a recycled pid is not mistaken for ours. 1 found, 0 gone, -1 error.
 */
static int
local_find(const char *owner, const char *label, struct local_proc *out)
{
	struct local_proc	*lp, st;
	size_t			 n, len;
	char			*path, *buf;
	int			 pid = 0, port = 0;

	memset(out, 0, sizeof *out);
	if (local_scan(owner, label, &lp, &n) != 0)
		return (-1);
	if (n > 0) {
		*out = lp[0];
		lp[0].label = NULL;
		local_proc_free(lp, n);
		return (1);
	}
	free(lp);
	path = local_pidfile(owner, label);
	buf = local_read_file(path, &len);
	free(path);
	if (buf == NULL || sscanf(buf, "%d %d", &pid, &port) != 2 || pid <= 1) {
		free(buf);
		return (0);
	}
	free(buf);
	memset(&st, 0, sizeof st);
	if (local_stat(pid, &st) != 0 || st.sid != pid)
		return (0);
	st.pid = pid;
	st.port = port;
	st.label = xstrdup(label);
	*out = st;
	return (1);
}

/* Is something accepting connections on 127.0.0.1:port? */
static int
local_port_open(int port)
{
	struct sockaddr_in	sin;
	int			fd, ok;

	if (port <= 0)
		return (0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, LOCAL_HOST, &sin.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (ok);
}

static void
local_fill(const struct local_proc *lp, struct drv_instance *out)
{
	memset(out, 0, sizeof *out);
	out->id = xstrdup(lp->label);
	out->name = xstrdup(lp->label);
	out->state = local_port_open(lp->port) ? INST_RUNNING : INST_BOOTING;
	out->gpu = xstrdup("local");
	out->region = xstrdup("localhost");
	out->created_at = lp->started;
	if (lp->port > 0) {
		out->endpoints = xcalloc(1, sizeof *out->endpoints);
		out->nendpoints = 1;
		out->endpoints[0].port = 0;	/* matches any stable port */
		out->endpoints[0].scheme = xstrdup("http");
		out->endpoints[0].host = xstrdup(LOCAL_HOST);
		out->endpoints[0].public_port = lp->port;
	}
}

static const char *
local_owner(const struct drv_ctx *ctx)
{
	return (ctx->state_dir != NULL ? ctx->state_dir : "/tmp");
}

static int
local_offers(const struct drv_ctx *ctx __unused,
    const struct fleet_template *t, struct drv_offer **out, size_t *n,
    struct drv_error *err)
{
	*out = NULL;
	*n = 0;
	if (t->local.command == NULL)
		return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "template %s "
		    "has no local command", t->name));
	*out = xcalloc(1, sizeof **out);
	(*out)->provider = xstrdup("local");
	(*out)->offer_id = xstrdup("local");
	(*out)->gpu = xstrdup("local");
	(*out)->region = xstrdup("localhost");
	(*out)->available = 1;
	*n = 1;
	return (0);
}

/* Replace every {port} and {fleet} in the template's command. */
static char *
local_expand(const char *cmd, int port)
{
	char		*out, *exe, portbuf[16];
	const char	*p, *rep;
	size_t		 len = 0, cap, rlen;

	exe = self_exe();
	snprintf(portbuf, sizeof portbuf, "%d", port);
	cap = strlen(cmd) + 64 + strlen(exe) * 4;
	out = xmalloc(cap);
	for (p = cmd; *p != '\0';) {
		rep = NULL;
		if (strncmp(p, "{port}", 6) == 0) {
			rep = portbuf;
			p += 6;
		} else if (strncmp(p, "{fleet}", 7) == 0) {
			rep = exe;
			p += 7;
		}
		rlen = rep != NULL ? strlen(rep) : 1;
		if (len + rlen + 1 > cap) {
			cap = (len + rlen + 1) * 2;
			out = xreallocarray(out, cap, 1);
		}
		if (rep != NULL)
			memcpy(out + len, rep, rlen);
		else
			out[len] = *p++;
		len += rlen;
	}
	out[len] = '\0';
	free(exe);
	return (out);
}

/* In the grandchild: own session, environment, log file, exec. */
static void __attribute__((noreturn))
local_exec(const struct fleet_config *conf, const struct fleet_template *t,
    const char *label, int port, const char *cmd, const char *logpath,
    const char *owner, const char *deadman)
{
	char	 portbuf[16], *full, *v;
	int	 fd, i;

	setsid();
	snprintf(portbuf, sizeof portbuf, "%d", port);
	local_drop_keys(conf);
	for (i = 0; i < t->local.nenv; i++) {
		v = drv_env_expand(t->local.env[i].value);
		setenv(t->local.env[i].key, v, 1);
		freezero_str(v);
	}
	/* Set last: a template must not be able to hide its own process. */
	setenv("FLEET_LABEL", label, 1);
	setenv("FLEET_PORT", portbuf, 1);
	setenv("FLEET_LOCAL_OWNER", owner, 1);
	setenv("PORT", portbuf, 1);
	setenv("FLEET_INSTANCE_NAME", label, 1);
	if (deadman != NULL)
		setenv(DEADMAN_ENV, deadman, 1);
	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, 0);
		close(fd);
	}
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd != -1) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	signal(SIGPIPE, SIG_DFL);
	/* Nothing of ours (state db, sockets) may leak into the workload. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (deadman != NULL)
		full = xprintf("%s exec %s", DEADMAN_LAUNCH, cmd);
	else
		full = xprintf("exec %s", cmd);
	execl("/bin/sh", "sh", "-c", full, (char *)NULL);
	_exit(127);
}

/*
 * Start the command detached (double fork, own session) so it outlives
 * this process and is reparented away from it; report the grandchild pid.
 */
static pid_t
local_spawn(const struct fleet_config *conf, const struct fleet_template *t,
    const char *label, int port, const char *cmd, const char *logpath,
    const char *owner, const char *deadman)
{
	pid_t	 mid, pid = -1;
	int	 fds[2], status;
	ssize_t	 n;
	char	 c;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return (-1);
	if ((mid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	if (mid == 0) {
		close(fds[0]);
		if ((pid = fork()) == 0)
			local_exec(conf, t, label, port, cmd, logpath, owner,
			    deadman);
		if (write(fds[1], &pid, sizeof pid) != sizeof pid)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &pid, sizeof pid) != sizeof pid)
		pid = -1;
	/*
	 * The grandchild holds the close-on-exec write end until it execs:
	 * EOF here means its labelled environment is visible in /proc.
	 */
	while (pid != -1 && (n = read(fds[0], &c, 1)) != 0) {
		if (n == -1 && errno != EINTR)
			break;
	}
	close(fds[0]);
	while (waitpid(mid, &status, 0) == -1 && errno == EINTR)
		;
	return (pid);
}

static void
local_write_pidfile(const char *owner, const char *label, pid_t pid,
    int port)
{
	char	*path = local_pidfile(owner, label), buf[32];
	int	 fd, len;

	len = snprintf(buf, sizeof buf, "%d %d\n", (int)pid, port);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd != -1) {
		if (write(fd, buf, len) != len)
			log_warn("cannot write %s", path);
		close(fd);
	}
	free(path);
}

/* The watcher, its files in STATEDIR/deadman, made private first. */
static char *
local_deadman(const struct drv_ctx *ctx, const char *label, int64_t timeout,
    char **cause)
{
	char	*dir, *s = NULL;

	dir = deadman_local_dir(local_owner(ctx));
	if (deadman_dir_prepare(dir, cause) == 0)
		s = deadman_script_local(label, timeout, dir, cause);
	free(dir);
	return (s);
}

static int
local_create(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_instance *out, struct drv_error *err)
{
	const struct fleet_template	*t = req->tmpl;
	struct local_proc		*lp;
	size_t				 n;
	char				*cmd, *logdir, *logpath;
	char				*deadman = NULL, *cause = NULL;
	int				 port;
	pid_t				 pid;

	memset(out, 0, sizeof *out);
	if (t->local.command == NULL)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "template %s "
		    "has no local command (add local.command to %s)", t->name,
		    t->path != NULL ? t->path : "the template"));
	if (t->deadman_timeout > 0 &&
	    (deadman = local_deadman(ctx, req->name, t->deadman_timeout,
	    &cause)) == NULL) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "dead-man switch: %s",
		    cause);
		free(cause);
		return (-1);
	}
	if (local_scan(local_owner(ctx), req->name, &lp, &n) == 0 && n > 0) {
		local_proc_free(lp, n);
		free(deadman);
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "a process "
		    "labelled %s is already running", req->name));
	}
	if ((port = port_pick_free(LOCAL_HOST)) == -1) {
		free(deadman);
		return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "no free "
		    "local port: %s", strerror(errno)));
	}
	logdir = xprintf("%s/local", local_owner(ctx));
	mkdir_p(logdir, 0700);
	logpath = xprintf("%s/%s.log", logdir, req->name);
	cmd = local_expand(t->local.command, port);
	pid = local_spawn(ctx->conf, t, req->name, port, cmd, logpath,
	    local_owner(ctx), deadman);
	free(deadman);
	free(cmd);
	free(logdir);
	free(logpath);
	if (pid == -1)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "cannot start "
		    "local process: %s", strerror(errno)));
	local_write_pidfile(local_owner(ctx), req->name, pid, port);
	local_fill(&(struct local_proc){ .pid = pid, .pgid = pid,
	    .port = port, .label = (char *)req->name, .started = now_wall() },
	    out);
	out->state = INST_BOOTING;
	return (0);
}

/* The last LOCAL_TAIL_LINES lines of the instance's log, or NULL. */
static char *
local_log_tail(const char *owner, const char *label)
{
	char	*path, buf[LOCAL_TAIL_BYTES], *p;
	off_t	 size;
	ssize_t	 n;
	int	 fd, lines = 0;

	path = xprintf("%s/local/%s.log", owner, label);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return (NULL);
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof buf)
		lseek(fd, size - (off_t)sizeof buf, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof buf);
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n <= 0)
		return (NULL);
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && ++lines == LOCAL_TAIL_LINES)
			break;
	return (drv_text_clean(p, (size_t)(buf + n - p), 1));
}

/*
 * Gone without a terminate (which removes the pidfile): the command
 * ended by itself. Its exit status went to init, so the log must say.
 */
static int
local_exited(const char *owner, const char *id, struct drv_instance *out)
{
	char	*path = local_pidfile(owner, id), *buf;
	size_t	 len;
	int	 pid = 0, port = 0;

	buf = local_read_file(path, &len);
	free(path);
	if (buf == NULL || sscanf(buf, "%d %d", &pid, &port) != 2) {
		free(buf);
		return (0);
	}
	free(buf);
	memset(out, 0, sizeof *out);
	out->id = xstrdup(id);
	out->name = xstrdup(id);
	out->state = INST_FAILED;
	out->gpu = xstrdup("local");
	out->region = xstrdup("localhost");
	out->exited = 1;
	out->exit_reason = xprintf("process %d exited", pid);
	out->exit_output = local_log_tail(owner, id);
	return (1);
}

static int
local_get(const struct drv_ctx *ctx, const char *id,
    struct drv_instance *out, struct drv_error *err)
{
	struct local_proc	lp;
	int			r;

	memset(out, 0, sizeof *out);
	if ((r = local_find(local_owner(ctx), id, &lp)) == -1)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "cannot read "
		    "/proc: %s", strerror(errno)));
	if (r == 0 && local_exited(local_owner(ctx), id, out))
		return (0);
	if (r == 0)
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "no process "
		    "labelled %s is running", id));
	local_fill(&lp, out);
	free(lp.label);
	return (0);
}

static int
local_list(const struct drv_ctx *ctx, struct drv_instance **out,
    size_t *n, struct drv_error *err)
{
	struct local_proc	*lp;
	size_t			 i;

	*out = NULL;
	if (local_scan(local_owner(ctx), NULL, &lp, n) != 0)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "cannot read "
		    "/proc: %s", strerror(errno)));
	if (*n > 0)
		*out = xcalloc(*n, sizeof **out);
	for (i = 0; i < *n; i++)
		local_fill(&lp[i], &(*out)[i]);
	local_proc_free(lp, *n);
	return (0);
}

static int
local_unsupported(const struct drv_ctx *ctx __unused, const char *id,
    struct drv_error *err)
{
	return (drv_error_set(err, DRV_ERR_UNSUPPORTED, 0, "local instance "
	    "%s cannot be stopped and kept; terminate it instead", id));
}

/* SIGTERM the group, wait for it to go, then SIGKILL. Idempotent. */
static int
local_terminate(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	struct local_proc	 lp;
	pid_t			 pgid;
	int64_t			 deadline;
	int			 r;
	char			*path;
	struct timespec		 ts = { 0, 50 * 1000 * 1000 };

	if ((r = local_find(local_owner(ctx), id, &lp)) == -1)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "cannot read "
		    "/proc: %s", strerror(errno)));
	path = local_pidfile(local_owner(ctx), id);
	if (r == 0) {
		unlink(path);
		free(path);
		return (0);
	}
	pgid = lp.pgid > 1 ? lp.pgid : lp.pid;
	free(lp.label);
	if (kill(-pgid, SIGTERM) == -1 && errno == EPERM) {
		free(path);
		return (drv_error_set(err, DRV_ERR_AUTH, 0, "cannot signal "
		    "process group %d: %s", (int)pgid, strerror(errno)));
	}
	deadline = now_mono_ms() + LOCAL_TERM_WAIT_MS;
	while (now_mono_ms() < deadline) {
		if ((r = local_find(local_owner(ctx), id, &lp)) != 1)
			break;
		free(lp.label);
		nanosleep(&ts, NULL);
	}
	if (r == 1)
		kill(-pgid, SIGKILL);
	unlink(path);
	free(path);
	return (0);
}

const struct fleet_driver driver_local = {
	.name = "local",
	.flags = DRV_LOCAL | DRV_DEADMAN,
	.key_env = NULL,
	.url_env = NULL,
	.default_url = NULL,
	.offers = local_offers,
	.create = local_create,
	.get = local_get,
	.list = local_list,
	.stop = local_unsupported,
	.start = local_unsupported,
	.terminate = local_terminate,
};
