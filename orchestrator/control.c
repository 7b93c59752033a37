/* control.c: client side of the daemon's control socket. */
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
 * Start the daemon the way tmux starts its server: fork, exec ourselves
 * as `fleet daemon --detach`, then wait until the socket answers.
 */
int
control_ensure_daemon(struct cmd_ctx *ctx, char **cause)
{
	char	*exe, *argv[8];
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
	if ((pid = fork()) == 0) {
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
	deadline = now_mono_ms() + CONTROL_START_WAIT_MS;
	while (now_mono_ms() < deadline) {
		if (control_alive(ctx->state_dir))
			return (0);
		nanosleep(&ts, NULL);
	}
	*cause = xprintf("the daemon did not start; see %s/%s",
	    ctx->state_dir, CONTROL_LOGFILE);
	return (-1);
}

void
control_notify(struct cmd_ctx *ctx)
{
	cJSON	*reply = NULL;
	char	*cause = NULL;

	if (ctx->state_dir == NULL)
		return;
	if (control_simple(ctx->state_dir, "reload", &reply, &cause) != 0)
		log_debug("no daemon to notify: %s", cause);
	cJSON_Delete(reply);
	free(cause);
}

/*
 * Hand the daemon the API keys this CLI has (over the 0600 socket), so
 * the jobs it runs to stop or terminate an instance can reach its
 * provider even if the daemon was started before the key was exported.
 */
void
control_send_keys(struct cmd_ctx *ctx)
{
	const struct fleet_config	*c = ctx->conf;
	cJSON				*req, *keys, *reply = NULL;
	const char			*v;
	char				*cause = NULL;
	int				 i, n = 0;

	if (c == NULL || ctx->state_dir == NULL)
		return;
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "keys");
	keys = cJSON_AddObjectToObject(req, "keys");
	for (i = 0; i < c->nproviders; i++) {
		if (c->providers[i].api_key_env == NULL ||
		    (v = getenv(c->providers[i].api_key_env)) == NULL ||
		    *v == '\0')
			continue;
		cJSON_AddStringToObject(keys, c->providers[i].api_key_env, v);
		n++;
	}
	if (n > 0 && control_request(ctx->state_dir, req, &reply, 5000,
	    &cause) != 0) {
		log_warn("could not hand the API keys to the daemon: %s", cause);
		free(cause);
	}
	cJSON_Delete(reply);
	cJSON_Delete(req);
}
