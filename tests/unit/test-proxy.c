/* test-proxy.c: the proxy against real echo servers on 127.0.0.1. */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "fleet.h"
#include "proxy.h"
#include "proxy-int.h"

#define TOKEN		"s3cret-token-42"
#define IO_TIMEOUT_MS	10000
#define HOLD_MS		1500
#define HEAD_MS		1000
#define MAX_HEAD	8192
#define BODY_MS		1000
#define UP_MS		2000

/* A child process: echo server, TLS relay or proxy. */
struct child {
	pid_t	 pid;
	int	 port;		/* its listening port */
	int	 cmd;		/* proxy: command pipe, parent writes */
	int	 reply;		/* proxy: reply pipe, parent reads */
};

static char		 fleet_bin[PATH_MAX];
static char		 tmpdir[PATH_MAX];
static struct child	 echo1, echo2, tlsrelay, pxa, pxb;
static int		 app_port;	/* route "app" on pxa */

/* A client connection with its own read buffer (responses may pipeline). */
struct cl {
	int	 fd;
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int	 eof;
};

struct resp {
	int	 status;
	char	*head;		/* NUL-terminated, through the blank line */
	char	*body;		/* NUL-terminated */
	size_t	 blen;
};

/* ---- the proxy, run in a forked child with its own event base ---- */

struct croute {
	char	 name[64];
	int	 port;
	char	 up[256];
	int	 state;
	int	 tcp;
	int	 wake;
};

static struct proxy	*c_px;
static struct event_base *c_base;
static struct croute	 c_tab[32];
static int		 c_ntab;
static int		 c_wakes;
static int		 c_reply = -1;
static char		 c_line[4096];
static size_t		 c_linelen;

static void
c_wake(const char *name __unused, void *arg __unused)
{
	c_wakes++;
}

static void
c_metrics(struct proxy *px, char **text, void *arg __unused)
{
	uint64_t	 rq;
	int		 open;

	proxy_totals(px, &open, &rq, NULL, NULL);
	xasprintf(text, "# TYPE fleet_requests_total counter\n"
	    "fleet_requests_total %llu\nfleet_open_connections %d\n",
	    (unsigned long long)rq, open);
}

static void
c_say(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	if (write(c_reply, s, strlen(s)) < 0)
		_exit(3);
	free(s);
}

static int
c_state(const char *s)
{
	if (strcmp(s, "ready") == 0)
		return (ROUTE_READY);
	if (strcmp(s, "hold") == 0)
		return (ROUTE_HOLD);
	if (strcmp(s, "stopped") == 0)
		return (ROUTE_STOPPED);
	return (ROUTE_DOWN);
}

/* "route NAME PORT UPSTREAM STATE TCP WAKE": add or replace by name. */
static void
c_route(const char *line)
{
	struct croute	 r;
	char		 state[32];
	int		 i;

	memset(&r, 0, sizeof r);
	if (sscanf(line, "route %63s %d %255s %31s %d %d", r.name, &r.port,
	    r.up, state, &r.tcp, &r.wake) != 6) {
		c_say("err syntax\n");
		return;
	}
	r.state = c_state(state);
	for (i = 0; i < c_ntab; i++)
		if (strcmp(c_tab[i].name, r.name) == 0)
			break;
	if (i == c_ntab && c_ntab < (int)nitems(c_tab))
		c_ntab++;
	c_tab[i] = r;
	c_say("ok\n");
}

static void
c_commit(void)
{
	struct proxy_route	 r[32];
	char			*cause = NULL;
	int			 i;

	for (i = 0; i < c_ntab; i++) {
		r[i].name = c_tab[i].name;
		r[i].port = c_tab[i].port;
		r[i].upstream = c_tab[i].up;
		r[i].state = c_tab[i].state;
		r[i].tcp = c_tab[i].tcp;
		r[i].wake_on_request = c_tab[i].wake;
	}
	if (proxy_set_routes(c_px, r, c_ntab, &cause) == 0)
		c_say("ok\n");
	else
		c_say("err %s\n", cause);
	free(cause);
}

static void
c_stats(const char *name)
{
	struct proxy_stats	 st;
	unsigned long long	 lat = 0;
	size_t			 i;

	proxy_stats_get(c_px, name, &st);
	for (i = 0; i < nitems(st.latency_buckets); i++)
		lat += st.latency_buckets[i];
	c_say("%llu %d %llu %d %llu %llu %llu %d %llu %d\n",
	    (unsigned long long)st.requests, st.open_conns,
	    (unsigned long long)st.websockets, st.open_websockets,
	    (unsigned long long)st.upstream_errors,
	    (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
	    c_wakes, lat, proxy_open_conns(c_px));
}

static void
c_command(const char *line)
{
	if (strncmp(line, "route ", 6) == 0)
		c_route(line);
	else if (strcmp(line, "commit") == 0)
		c_commit();
	else if (strncmp(line, "stats ", 6) == 0)
		c_stats(line + 6);
	else if (strcmp(line, "quit") == 0) {
		c_say("bye\n");
		event_base_loopbreak(c_base);
	} else
		c_say("err unknown\n");
}

static void
c_cmd_cb(evutil_socket_t fd, short events __unused, void *arg __unused)
{
	char	*nl;
	ssize_t	 n;

	n = read(fd, c_line + c_linelen, sizeof c_line - c_linelen - 1);
	if (n <= 0) {
		event_base_loopbreak(c_base);	/* the parent went away */
		return;
	}
	c_linelen += n;
	c_line[c_linelen] = '\0';
	while ((nl = strchr(c_line, '\n')) != NULL) {
		*nl = '\0';
		c_command(c_line);
		c_linelen -= nl + 1 - c_line;
		memmove(c_line, nl + 1, c_linelen + 1);
	}
}

/* The child: run a proxy until "quit", then free it with conns open. */
static void __attribute__((noreturn))
c_main(int port, const char *token, const char *ca_file, int cmd, int reply)
{
	static char		 name0[] = "allowed.example";
	static char		*allowed[] = { name0 };
	struct proxy_config	 cf;
	struct event		*ev;
	char			*cause = NULL;

	signal(SIGPIPE, SIG_IGN);
	c_reply = reply;
	memset(&cf, 0, sizeof cf);
	cf.shared_port = port;
	cf.token = token;
	cf.ca_file = ca_file;
	cf.hold_timeout_ms = HOLD_MS;
	cf.max_header_bytes = MAX_HEAD;
	cf.header_timeout_ms = HEAD_MS;
	cf.idle_conn_timeout_ms = 10000;
	cf.body_timeout_ms = BODY_MS;
	cf.upstream_timeout_ms = UP_MS;
	cf.allowed_hosts = allowed;
	cf.nallowed_hosts = nitems(allowed);
	c_base = event_base_new();
	if ((c_px = proxy_create(c_base, &cf, &cause)) == NULL) {
		fprintf(stderr, "proxy_create: %s\n", cause);
		_exit(2);
	}
	proxy_set_callbacks(c_px, c_wake, c_metrics, NULL);
	ev = event_new(c_base, cmd, EV_READ | EV_PERSIST, c_cmd_cb, NULL);
	event_add(ev, NULL);
	event_base_dispatch(c_base);
	proxy_free(c_px);
	event_free(ev);
	event_base_free(c_base);
	libevent_global_shutdown();
	exit(0);	/* LeakSanitizer checks the child here */
}

/* ---- helpers in the parent ---- */

/*
 * A free port not handed out before: port_pick_free() seeds from the clock,
 * so two calls in one millisecond agree.
 */
static int
pick_port(void)
{
	static int	 used[256];
	static int	 nused;
	int		 i, j, p;

	for (i = 0; i < 200; i++) {
		p = port_pick_free("127.0.0.1");
		for (j = 0; j < nused; j++)
			if (used[j] == p)
				break;
		if (j == nused && nused < (int)nitems(used)) {
			used[nused++] = p;
			return (p);
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	return (-1);
}

static int64_t
ms_now(void)
{
	return (now_mono_ms());
}

static void
ms_sleep(int ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
tcp_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Wait (bounded) until something accepts on port. */
static int
wait_port(int port)
{
	int	 i, fd;

	for (i = 0; i < 500; i++) {
		if ((fd = tcp_connect(port)) != -1) {
			close(fd);
			return (0);
		}
		ms_sleep(10);
	}
	return (-1);
}

static void
child_stop(struct child *c)
{
	int	 i, status;

	if (c->pid <= 0)
		return;
	kill(c->pid, SIGTERM);
	for (i = 0; i < 300; i++) {
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = -1;
			return;
		}
		ms_sleep(10);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	c->pid = -1;
}

static void
devnull_stdio(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 1);
		if (getenv("TEST_PROXY_VERBOSE") == NULL)
			dup2(fd, 2);
		close(fd);
	}
}

static int
echo_start(struct child *c, const char *name)
{
	char	 port[16];

	c->port = pick_port();
	snprintf(port, sizeof port, "%d", c->port);
	fflush(NULL);
	if ((c->pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlive us */
		devnull_stdio();
		setenv("FLEET_INSTANCE_NAME", name, 1);
		execl(fleet_bin, "fleet", "echo-server", "--port", port,
		    (char *)NULL);
		_exit(127);
	}
	return (c->pid > 0 ? wait_port(c->port) : -1);
}

static int
px_start(struct child *c, const char *token, const char *ca_file)
{
	int	 cmd[2], reply[2];

	c->port = pick_port();
	if (pipe(cmd) != 0 || pipe(reply) != 0)
		return (-1);
	fflush(NULL);
	if ((c->pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(cmd[1]);
		close(reply[0]);
		if (getenv("TEST_PROXY_VERBOSE") != NULL)
			log_init("proxy", 2, stderr);
		c_main(c->port, token, ca_file, cmd[0], reply[1]);
	}
	close(cmd[0]);
	close(reply[1]);
	c->cmd = cmd[1];
	c->reply = reply[0];
	return (c->pid > 0 ? wait_port(c->port) : -1);
}

/* Send one command line to a proxy child; its one-line answer in buf. */
static int
px_cmd(struct child *c, char *buf, size_t size, const char *fmt, ...)
{
	struct pollfd	 pfd = { c->reply, POLLIN, 0 };
	va_list		 ap;
	char		*s;
	size_t		 n = 0;
	ssize_t		 r;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	r = write(c->cmd, s, strlen(s));
	free(s);
	if (r <= 0)
		return (-1);
	while (n < size - 1) {
		if (poll(&pfd, 1, IO_TIMEOUT_MS) != 1 ||
		    (r = read(c->reply, buf + n, 1)) != 1)
			return (-1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (strncmp(buf, "ok", 2) == 0 || strncmp(buf, "bye", 3) == 0 ?
	    0 : -1);
}

/* Set one route and apply the table. */
static void
px_route(struct child *c, const char *name, int port, const char *up,
    const char *state, int tcp, int wake)
{
	char	 buf[512];

	assert_int_equal(px_cmd(c, buf, sizeof buf, "route %s %d %s %s %d %d\n",
	    name, port, up, state, tcp, wake), 0);
	if (px_cmd(c, buf, sizeof buf, "commit\n") != 0)
		fail_msg("commit: %s", buf);
}

struct pstats {
	unsigned long long	 requests, ws, errors, in, out, lat;
	int			 open, ows, wakes, total_open;
};

static void
px_stats(struct child *c, const char *name, struct pstats *st)
{
	char	 buf[512];

	memset(st, 0, sizeof *st);
	px_cmd(c, buf, sizeof buf, "stats %s\n", name);
	assert_int_equal(sscanf(buf, "%llu %d %llu %d %llu %llu %llu %d %llu "
	    "%d", &st->requests, &st->open, &st->ws, &st->ows, &st->errors,
	    &st->in, &st->out, &st->wakes, &st->lat, &st->total_open), 10);
}

static char *
upstream(const char *scheme, const char *host, int port)
{
	static char	 buf[256];

	snprintf(buf, sizeof buf, "%s://%s:%d", scheme, host, port);
	return (buf);
}

static int
fd_count(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* ---- a tiny HTTP client over raw sockets ---- */

static struct cl *
cl_open(int port)
{
	struct cl	*c = xcalloc(1, sizeof *c);

	if ((c->fd = tcp_connect(port)) == -1)
		fail_msg("connect to %d: %s", port, strerror(errno));
	c->cap = 65536;
	c->buf = xmalloc(c->cap);
	c->buf[0] = '\0';
	return (c);
}

static void
cl_close(struct cl *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->buf);
	free(c);
}

static void
cl_send(struct cl *c, const void *p, size_t len)
{
	const char	*s = p;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(c->fd, s, len)) <= 0)
			fail_msg("write: %s", strerror(errno));
		s += n;
		len -= n;
	}
}

static void
cl_sendf(struct cl *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	cl_send(c, s, strlen(s));
	free(s);
}

/* Read more into the buffer within ms; 1 got bytes, 0 EOF, -1 timeout. */
static int
cl_fill(struct cl *c, int ms)
{
	struct pollfd	 pfd = { c->fd, POLLIN, 0 };
	ssize_t		 n;

	if (c->eof)
		return (0);
	if (c->len + 1 >= c->cap) {
		c->cap *= 2;
		c->buf = xreallocarray(c->buf, c->cap, 1);
	}
	if (poll(&pfd, 1, ms) != 1)
		return (-1);
	n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	if (n <= 0) {
		c->eof = 1;
		return (0);
	}
	c->len += n;
	c->buf[c->len] = '\0';
	return (1);
}

static void
cl_need(struct cl *c, size_t n)
{
	int64_t	 end = ms_now() + IO_TIMEOUT_MS;

	while (c->len < n)
		if (ms_now() > end || cl_fill(c, IO_TIMEOUT_MS) != 1)
			fail_msg("short read: %zu of %zu bytes", c->len, n);
}

static void
cl_take(struct cl *c, size_t n, char **out)
{
	*out = xmalloc(n + 1);
	memcpy(*out, c->buf, n);
	(*out)[n] = '\0';
	c->len -= n;
	memmove(c->buf, c->buf + n, c->len);
	c->buf[c->len] = '\0';
}

/* The value of a response header (first), or NULL; static buffer. */
static const char *
resp_hdr(const struct resp *r, const char *name)
{
	static char	 val[1024];
	const char	*p = r->head, *e;
	size_t		 n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " ");
			e = strstr(p, "\r\n");
			snprintf(val, sizeof val, "%.*s", (int)(e - p), p);
			return (val);
		}
	}
	return (NULL);
}

static void
resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Decode a chunked body from the buffer into r. */
static void
cl_chunked(struct cl *c, struct resp *r)
{
	struct evbuffer	*b = evbuffer_new();
	char		*e, *chunk;
	size_t		 size, i;

	for (i = 0; i < 100000; i++) {
		while ((e = strstr(c->buf, "\r\n")) == NULL)
			cl_need(c, c->len + 1);
		size = strtoul(c->buf, NULL, 16);
		cl_need(c, (e - c->buf) + 2 + size + 2);
		evbuffer_add(b, e + 2, size);
		cl_take(c, (e - c->buf) + 2 + size + 2, &chunk);
		free(chunk);
		if (size == 0)
			break;
	}
	r->blen = evbuffer_get_length(b);
	r->body = xmalloc(r->blen + 1);
	evbuffer_remove(b, r->body, r->blen);
	r->body[r->blen] = '\0';
	evbuffer_free(b);
}

/* Read one response (1xx included); body framed as the head says. */
static void
cl_resp(struct cl *c, struct resp *r, int head_req)
{
	const char	*te, *cl;
	char		*e;

	memset(r, 0, sizeof *r);
	while ((e = strstr(c->buf, "\r\n\r\n")) == NULL)
		if (c->len != 0 || !c->eof)
			cl_need(c, c->len + 1);
		else
			fail_msg("connection closed before a response");
	cl_take(c, e - c->buf + 4, &r->head);
	r->status = atoi(r->head + 9);
	te = resp_hdr(r, "Transfer-Encoding");
	if (head_req || r->status / 100 == 1 || r->status == 204 ||
	    r->status == 304) {
		r->body = xstrdup("");
	} else if (te != NULL && strcasecmp(te, "chunked") == 0)
		cl_chunked(c, r);
	else if ((cl = resp_hdr(r, "Content-Length")) != NULL) {
		r->blen = strtoul(cl, NULL, 10);
		cl_need(c, r->blen);
		cl_take(c, r->blen, &r->body);
	} else {
		while (cl_fill(c, IO_TIMEOUT_MS) == 1)
			;
		r->blen = c->len;
		cl_take(c, c->len, &r->body);
	}
}

/* Does the peer close within ms (EOF or reset)? */
static int
cl_closed(struct cl *c, int ms)
{
	int64_t	 end = ms_now() + ms;
	int	 r;

	while (ms_now() < end) {
		if ((r = cl_fill(c, 100)) == 0)
			return (1);
		if (r == 1) {
			c->len = 0;
			c->buf[0] = '\0';
		}
	}
	return (0);
}

/* One request on a fresh connection; the whole response. */
static void
get1(int port, const char *host, const char *path, const char *extra,
    struct resp *r)
{
	struct cl	*c = cl_open(port);

	cl_sendf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host,
	    extra != NULL ? extra : "");
	cl_resp(c, r, 0);
	cl_close(c);
}

static char *
hostport(int port)
{
	static char	 buf[64];

	snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
	return (buf);
}

/* ---- tests ---- */

static int	count_str(const char *, const char *);

static int
parse_str(const char *s, int response, struct proxy_head *h)
{
	return (proxy_parse_head(s, strlen(s), response, h));
}

static void
test_parse_head(void **state __unused)
{
	static const char ok[] = "GET /x?y=1 HTTP/1.1\r\nHost: a\r\n"
	    "X-A:  v  \r\n\r\nrest";
	static const char *bad[] = {
	    "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
	    "GET / HTTP/1.1\r\nX : y\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
	    "\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n" };
	struct proxy_head	 h;
	struct proxy_body	 b;
	const struct proxy_hdr	*f;
	size_t			 i;

	assert_int_equal(proxy_parse_head(ok, sizeof ok - 1, 0, &h), 1);
	assert_int_equal(h.len, sizeof ok - 1 - 4);
	assert_int_equal(h.nhdrs, 2);
	assert_int_equal(h.minor, 1);
	assert_non_null(f = proxy_head_get(&h, "x-a"));
	assert_int_equal(f->vlen, 1);
	assert_int_equal(proxy_parse_head(ok, 20, 0, &h), 0);
	for (i = 0; i < nitems(bad); i++)
		assert_int_equal(proxy_parse_head(bad[i], strlen(bad[i]), 0,
		    &h), -1);
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 3\r\n\r\n", 1, &h), 1);
	assert_int_equal(h.status, 200);
	assert_int_equal(proxy_resp_framing(&h, 0, &b), 0);
	assert_int_equal(b.kind, BODY_LENGTH);
	assert_int_equal(proxy_resp_framing(&h, 1, &b), 0);
	assert_int_equal(b.kind, BODY_NONE);
	/* Smuggling shapes are refused. */
	assert_int_equal(parse_str("POST / HTTP/1.1\r\nContent-Length: "
	    "3\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_framing(&h, &b), -1);
	assert_int_equal(parse_str("POST / HTTP/1.1\r\nContent-Length: "
	    "3\r\nContent-Length: 4\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_framing(&h, &b), -1);
}

/* Feed s to a fresh chunked body byte by byte; the result, out in *out. */
static int
chunked_feed(const char *s, struct evbuffer *in, struct evbuffer *out)
{
	struct proxy_body	 b;
	size_t			 i, moved, n = strlen(s);
	int			 r = 0;

	memset(&b, 0, sizeof b);
	b.kind = BODY_CHUNKED;
	evbuffer_drain(in, evbuffer_get_length(in));
	evbuffer_drain(out, evbuffer_get_length(out));
	for (i = 0; i < n && r == 0; i++) {
		evbuffer_add(in, s + i, 1);
		r = proxy_body_move(&b, in, out, 1 << 20, &moved);
	}
	return (r);
}

static void
test_body_move(void **state __unused)
{
	static const char	 msg[] = "5;x=1\r\nhello\r\n10 ; y\r\n"
	    "0123456789abcdef\r\n1 \r\n!\r\n0\r\nT: 1\r\n\r\nNEXT";
	static const char	 want[] = "5\r\nhello\r\n10\r\n"
	    "0123456789abcdef\r\n1\r\n!\r\n0\r\n\r\n";
	static const char	*bad[] = {
	    "zz\r\n",
	    "5 zz\r\nhello\r\n0\r\n\r\n",	/* extension without ';' */
	    "5\nhello\r\n0\r\n\r\n",		/* bare LF: size line */
	    "5\r\nhello\n0\r\n\r\n",		/* after the data */
	    "5\r\nhelloX\r\n0\r\n\r\n",
	    "0\r\n\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",	/* trailer */
	    "0\r\nGET /x HTTP/1.1\r\n\r\n",	/* a trailer that is no field */
	    "0\r\nX-T: 1\nX-U: 2\r\n\r\n",
	    "0\r\n : v\r\n\r\n",
	    "0\r\nX-T: a\rb\r\n\r\n",
	    "1234567890abcdef0\r\n" };
	struct evbuffer		*in = evbuffer_new(), *out = evbuffer_new();
	size_t			 i;
	char			*got;

	/* Byte by byte: the end is found exactly, nothing after it taken. */
	assert_int_equal(chunked_feed(msg, in, out), 1);
	assert_int_equal(evbuffer_get_length(out), sizeof want - 1);
	got = xstrndup((char *)evbuffer_pullup(out, -1),
	    evbuffer_get_length(out));
	/* Sizes written by fleet: no extensions, no trailers. */
	assert_string_equal(got, want);
	free(got);
	for (i = 0; i < nitems(bad); i++) {
		if (chunked_feed(bad[i], in, out) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	evbuffer_free(in);
	evbuffer_free(out);
}

/* Host rules: what is one, and which are ours (DNS rebinding). */
static void
test_host_rules(void **state __unused)
{
	static const char *ok[] = { "127.0.0.1", "127.0.0.1:8998", "localhost",
	    "LOCALHOST:1", "localhost.", "[::1]", "[::1]:7070",
	    "app.localhost", "app.localhost.:7070", "lan.example:80",
	    "[fd00::1]:9" };
	static const char *no[] = { "evil.example", "evil.example:8998",
	    "localhost.evil.example", "127.0.0.2", "[::2]", "0.0.0.0",
	    ".localhost", "lan.example.com", "", ":80", "[::1", "a:b" };
	char			*extra[2];
	struct proxy_head	 h;
	const char		*v;
	size_t			 i, n;
	char			 name[64];

	extra[0] = proxy_host_norm("lan.example.");
	extra[1] = proxy_host_norm("fd00::1");
	assert_string_equal(extra[1], "[fd00::1]");
	for (i = 0; i < nitems(ok); i++)
		if (!proxy_host_allowed(ok[i], strlen(ok[i]), extra, 2))
			fail_msg("refused: %s", ok[i]);
	for (i = 0; i < nitems(no); i++)
		if (proxy_host_allowed(no[i], strlen(no[i]), extra, 2))
			fail_msg("allowed: %s", no[i]);
	free(extra[0]);
	free(extra[1]);
	/* HTTP/1.1 needs exactly one Host; HTTP/1.0 may have none. */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), -1);
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: a\r\n"
	    "host: a\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), -1);
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	    0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), -1);
	assert_int_equal(parse_str("GET / HTTP/1.0\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), 0);
	assert_null(v);
	/* Absolute form: the target's authority wins over Host. */
	assert_int_equal(parse_str("GET http://App.localhost:7/x HTTP/1.1\r\n"
	    "Host: other.localhost\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), 0);
	assert_int_equal(n, 15);
	assert_int_equal(proxy_host_route(&h, name, sizeof name), 0);
	assert_string_equal(name, "app");
	assert_int_equal(parse_str("GET http://u@a/x HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", 0, &h), 1);
	assert_int_equal(proxy_req_host(&h, &v, &n), -1);
}

/* The head fleet writes upstream for req (parsed), as a string. */
static char *
written_head(const char *req)
{
	struct proxy_head	 h;
	struct proxy_body	 b;
	struct proxy_fwd	 fwd;
	struct evbuffer		*out = evbuffer_new();
	char			*s;

	assert_int_equal(parse_str(req, 0, &h), 1);
	assert_int_equal(proxy_req_framing(&h, &b), 0);
	memset(&fwd, 0, sizeof fwd);
	fwd.body = &b;
	fwd.hostport = "up:1";
	fwd.peer = "127.0.0.1";
	proxy_write_request(&h, &fwd, out);
	s = xstrndup((char *)evbuffer_pullup(out, -1),
	    evbuffer_get_length(out));
	evbuffer_free(out);
	return (s);
}

static void
test_write_request(void **state __unused)
{
	char	*s;

	/* A Connection option never drops the framing, or Host. */
	s = written_head("POST /a HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: Content-Length, Host, X-Forwarded-For, X-Drop\r\n"
	    "X-Drop: 1\r\nContent-Length: 0005\r\n\r\n");
	assert_non_null(strstr(s, "\r\nContent-Length: 5\r\n"));
	assert_non_null(strstr(s, "\r\nHost: up:1\r\n"));
	assert_non_null(strstr(s, "\r\nX-Forwarded-Host: localhost\r\n"));
	assert_null(strstr(s, "X-Drop"));
	assert_null(strstr(s, "0005"));
	free(s);
	s = written_head("POST /a HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: Transfer-Encoding\r\n"
	    "transfer-encoding: Chunked\r\n\r\n");
	assert_non_null(strstr(s, "\r\nTransfer-Encoding: chunked\r\n"));
	assert_null(strstr(s, "Chunked"));
	free(s);
	s = written_head("POST /a HTTP/1.1\r\nHost: a.localhost\r\n"
	    "Content-Length: 0\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(count_str(s, "Content-Length"), 1);
	free(s);
	/* Absolute form goes upstream in origin form. */
	s = written_head("GET http://app.localhost:7070/x?q=1 HTTP/1.1\r\n"
	    "Host: app.localhost\r\n\r\n");
	assert_true(strncmp(s, "GET /x?q=1 HTTP/1.1\r\n", 21) == 0);
	assert_non_null(strstr(s, "X-Forwarded-Host: app.localhost:7070\r\n"));
	free(s);
	s = written_head("GET HTTP://app.localhost?q HTTP/1.0\r\n\r\n");
	assert_true(strncmp(s, "GET /?q HTTP/1.0\r\n", 18) == 0);
	free(s);
}

static void
test_plain(void **state __unused)
{
	struct resp	 r;
	cJSON		*j;
	const char	*v;

	get1(app_port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	assert_string_equal(resp_hdr(&r, "X-Fleet-Instance"), "echo1");
	resp_free(&r);
	get1(app_port, hostport(app_port), "/headers",
	    "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
	    "TE: trailers\r\nX-Keep: yes\r\nX-Forwarded-For: 10.0.0.1\r\n",
	    &r);
	assert_int_equal(r.status, 200);
	assert_non_null(j = cJSON_Parse(r.body));
	v = cJSON_GetStringValue(cJSON_GetObjectItem(j, "host"));
	assert_string_equal(v, hostport(echo1.port));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "x-forwarded-for")), "10.0.0.1, 127.0.0.1");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "x-forwarded-proto")), "http");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "x-forwarded-host")), hostport(app_port));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "x-keep")), "yes");
	assert_null(cJSON_GetObjectItem(j, "x-hop"));
	assert_null(cJSON_GetObjectItem(j, "keep-alive"));
	assert_null(cJSON_GetObjectItem(j, "te"));
	cJSON_Delete(j);
	resp_free(&r);
}

static void
test_shared_host(void **state __unused)
{
	struct resp	 r;
	char		 host[64];

	snprintf(host, sizeof host, "app.localhost:%d", pxa.port);
	get1(pxa.port, host, "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);
	get1(pxa.port, "APP.localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	get1(pxa.port, "nope.localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(resp_hdr(&r, "Content-Type"), "application/json");
	assert_non_null(strstr(r.body, "unknown deployment"));
	assert_null(strstr(r.body, "app"));
	resp_free(&r);
	get1(pxa.port, hostport(pxa.port), "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_hdr(&r, "Content-Type"),
	    "text/plain; version=0.0.4");
	assert_non_null(strstr(r.body, "fleet_requests_total "));
	resp_free(&r);
}

static void
test_keepalive(void **state __unused)
{
	struct cl	*c = cl_open(app_port);
	struct resp	 r;
	int		 i;

	for (i = 0; i < 3; i++) {
		cl_sendf(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
		cl_resp(c, &r, 0);
		assert_int_equal(r.status, 200);
		assert_null(resp_hdr(&r, "Connection"));
		resp_free(&r);
	}
	/* HTTP/1.0 with keep-alive is kept; without, closed after. */
	cl_sendf(c, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_hdr(&r, "Connection"), "keep-alive");
	resp_free(&r);
	cl_sendf(c, "GET /health HTTP/1.0\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_hdr(&r, "Connection"), "close");
	resp_free(&r);
	assert_true(cl_closed(c, IO_TIMEOUT_MS));
	cl_close(c);
}

static void
test_pipeline(void **state __unused)
{
	struct cl	*c = cl_open(app_port);
	struct resp	 r;

	cl_sendf(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 3\r\n\r\nabc"
	    "HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
	    "GET /headers HTTP/1.1\r\nHost: localhost\r\nX-Last: 1\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);
	cl_resp(c, &r, 0);
	assert_string_equal(r.body, "abc");
	resp_free(&r);
	cl_resp(c, &r, 1);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_hdr(&r, "Content-Length"), "15");
	resp_free(&r);
	cl_resp(c, &r, 0);
	assert_string_equal(r.body, "def");
	resp_free(&r);
	cl_resp(c, &r, 0);
	assert_non_null(strstr(r.body, "\"x-last\":\"1\""));
	resp_free(&r);
	assert_int_equal(c->len, 0);
	cl_close(c);
}

static void
test_chunked_upload(void **state __unused)
{
	struct cl	*c = cl_open(app_port);
	struct resp	 r;
	size_t		 total = 3 * 1024 * 1024, chunk = 65536, i;
	char		*data = xmalloc(total);

	for (i = 0; i < total; i++)
		data[i] = 'a' + (i * 7 + i / 1000) % 26;
	cl_sendf(c, "POST /up HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < total; i += chunk) {
		cl_sendf(c, "%zx\r\n", chunk);
		cl_send(c, data + i, chunk);
		cl_send(c, "\r\n", 2);
	}
	cl_send(c, "0\r\n\r\n", 5);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.blen, total);
	assert_memory_equal(r.body, data, total);
	resp_free(&r);
	/* Expect: 100-continue: the interim response comes through. */
	cl_sendf(c, "PUT /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
	    "Expect: 100-continue\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 100);
	resp_free(&r);
	cl_send(c, "hello", 5);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	resp_free(&r);
	free(data);
	cl_close(c);
}

static int
count_str(const char *s, const char *needle)
{
	int	 n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return (n);
}

static void
test_stream(void **state __unused)
{
	struct cl	*c = cl_open(app_port);
	struct resp	 r;
	char		*e, *head;

	cl_sendf(c, "GET /stream?n=4&ms=300 HTTP/1.1\r\nHost: localhost\r\n\r\n");
	while ((e = strstr(c->buf, "\r\n\r\n")) == NULL)
		cl_need(c, c->len + 1);
	cl_take(c, e - c->buf + 4, &head);
	assert_non_null(strstr(head, "text/event-stream"));
	assert_non_null(strstr(head, "Transfer-Encoding: chunked"));
	free(head);
	/* The first event arrives while the stream is still going. */
	while (strstr(c->buf, "data:") == NULL)
		cl_need(c, c->len + 1);
	assert_null(strstr(c->buf, "\r\n0\r\n"));
	memset(&r, 0, sizeof r);
	cl_chunked(c, &r);
	assert_int_equal(count_str(r.body, "data:"), 4);
	resp_free(&r);
	cl_close(c);
	/* HTTP/1.0: close-delimited, passed through until the end. */
	c = cl_open(app_port);
	cl_sendf(c, "GET /stream?n=3&ms=50 HTTP/1.0\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(count_str(r.body, "data:"), 3);
	assert_null(resp_hdr(&r, "Transfer-Encoding"));
	resp_free(&r);
	cl_close(c);
}

/* One masked client frame. */
static void
ws_send(struct cl *c, int op, const void *p, size_t len)
{
	unsigned char	 h[14], mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	unsigned char	*m = xmalloc(len + 1);
	size_t		 hl = 2, i;

	h[0] = 0x80 | op;
	if (len < 126)
		h[1] = 0x80 | len;
	else {
		h[1] = 0x80 | 126;
		h[2] = len >> 8;
		h[3] = len & 0xff;
		hl = 4;
	}
	memcpy(h + hl, mask, 4);
	for (i = 0; i < len; i++)
		m[i] = ((const unsigned char *)p)[i] ^ mask[i % 4];
	cl_send(c, h, hl + 4);
	cl_send(c, m, len);
	free(m);
}

/* One unmasked server frame; payload in *p. */
static int
ws_recv(struct cl *c, char **p, size_t *len)
{
	unsigned char	*b;
	size_t		 hl = 2;
	int		 op;

	cl_need(c, 2);
	b = (unsigned char *)c->buf;
	op = b[0] & 0x0f;
	*len = b[1] & 0x7f;
	if (*len == 126) {
		cl_need(c, 4);
		b = (unsigned char *)c->buf;
		*len = (b[2] << 8) | b[3];
		hl = 4;
	}
	cl_need(c, hl + *len);
	memmove(c->buf, c->buf + hl, c->len - hl);
	c->len -= hl;
	c->buf[c->len] = '\0';
	cl_take(c, *len, p);
	return (op);
}

/* The opening handshake through the proxy (RFC 6455's sample key). */
static void
ws_open(struct cl *c)
{
	struct resp	 r;

	cl_sendf(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
	cl_resp(c, &r, 1);
	assert_int_equal(r.status, 101);
	assert_string_equal(resp_hdr(&r, "Sec-WebSocket-Accept"),
	    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_string_equal(resp_hdr(&r, "Upgrade"), "websocket");
	resp_free(&r);
}

static void
test_websocket(void **state __unused)
{
	struct cl	*c = cl_open(app_port);
	struct pstats	 st, st0;
	unsigned char	 bin[300];
	char		*p;
	size_t		 len, i;

	px_stats(&pxa, "app", &st0);
	ws_open(c);
	ws_send(c, 1, "hello", 5);
	assert_int_equal(ws_recv(c, &p, &len), 1);
	assert_string_equal(p, "hello");
	free(p);
	for (i = 0; i < sizeof bin; i++)
		bin[i] = i & 0xff;
	ws_send(c, 2, bin, sizeof bin);
	assert_int_equal(ws_recv(c, &p, &len), 2);
	assert_int_equal(len, sizeof bin);
	assert_memory_equal(p, bin, sizeof bin);
	free(p);
	px_stats(&pxa, "app", &st);
	assert_int_equal(st.ws, st0.ws + 1);
	assert_int_equal(st.ows, 1);
	ws_send(c, 8, "\x03\xe8", 2);
	assert_int_equal(ws_recv(c, &p, &len), 8);
	free(p);
	assert_true(cl_closed(c, IO_TIMEOUT_MS));
	cl_close(c);
	for (i = 0; i < 200; i++) {
		px_stats(&pxa, "app", &st);
		if (st.ows == 0)
			break;
		ms_sleep(10);
	}
	assert_int_equal(st.ows, 0);
}

static void
test_switch(void **state __unused)
{
	struct cl	*c1 = cl_open(app_port), *c2;
	struct resp	 r;
	char		*e, *head;

	cl_sendf(c1, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_resp(c1, &r, 0);
	assert_string_equal(resp_hdr(&r, "X-Fleet-Instance"), "echo1");
	resp_free(&r);
	/* A stream in flight on echo1 while the route moves to echo2. */
	c2 = cl_open(app_port);
	cl_sendf(c2, "GET /stream?n=5&ms=100 HTTP/1.1\r\nHost: localhost\r\n\r\n");
	while ((e = strstr(c2->buf, "\r\n\r\n")) == NULL)
		cl_need(c2, c2->len + 1);
	cl_take(c2, e - c2->buf + 4, &head);
	assert_non_null(strstr(head, "X-Fleet-Instance: echo1"));
	free(head);
	assert_int_equal(echo_start(&echo2, "echo2"), 0);
	px_route(&pxa, "app", app_port, upstream("http", "127.0.0.1",
	    echo2.port), "ready", 0, 0);
	get1(app_port, "localhost", "/health", NULL, &r);
	assert_string_equal(resp_hdr(&r, "X-Fleet-Instance"), "echo2");
	resp_free(&r);
	memset(&r, 0, sizeof r);
	cl_chunked(c2, &r);
	assert_int_equal(count_str(r.body, "data:"), 5);
	resp_free(&r);
	cl_close(c2);
	/* The idle keep-alive connection follows on its next request. */
	cl_sendf(c1, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_resp(c1, &r, 0);
	assert_string_equal(resp_hdr(&r, "X-Fleet-Instance"), "echo2");
	resp_free(&r);
	cl_close(c1);
	px_route(&pxa, "app", app_port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 0);
	child_stop(&echo2);
}

/* Nothing arrives within ms? */
static int
cl_quiet(struct cl *c, int ms)
{
	return (cl_fill(c, ms) == -1);
}

static void
test_hold_ready(void **state __unused)
{
	int		 port = pick_port();
	struct cl	*c;
	struct resp	 r;
	char		 host[64];

	px_route(&pxa, "boot", port, upstream("http", "127.0.0.1",
	    echo1.port), "hold", 0, 0);
	c = cl_open(port);
	cl_sendf(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	assert_true(cl_quiet(c, 300));
	px_route(&pxa, "boot", port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 0);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cl_close(c);
	/* The same through the shared port. */
	px_route(&pxa, "boot", port, upstream("http", "127.0.0.1",
	    echo1.port), "hold", 0, 0);
	c = cl_open(pxa.port);
	snprintf(host, sizeof host, "boot.localhost:%d", pxa.port);
	cl_sendf(c, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", host);
	assert_true(cl_quiet(c, 300));
	px_route(&pxa, "boot", port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 0);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cl_close(c);
}

static void
check_503(struct resp *r, const char *name, const char *state)
{
	char	 want[256];

	assert_int_equal(r->status, 503);
	assert_string_equal(resp_hdr(r, "Retry-After"), "5");
	assert_string_equal(resp_hdr(r, "Content-Type"), "application/json");
	snprintf(want, sizeof want, "{\"error\":\"deployment %s\","
	    "\"deployment\":\"%s\",\"state\":\"%s\"}\n", state, name, state);
	assert_string_equal(r->body, want);
}

static void
test_hold_timeout(void **state __unused)
{
	int		 port = pick_port();
	struct resp	 r;
	int64_t		 t0 = ms_now();

	px_route(&pxa, "late", port, upstream("http", "127.0.0.1",
	    echo1.port), "hold", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	assert_true(ms_now() - t0 >= HOLD_MS - 100);
	check_503(&r, "late", "booting");
	resp_free(&r);
	px_route(&pxa, "late", port, upstream("http", "127.0.0.1",
	    echo1.port), "down", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	check_503(&r, "late", "down");
	resp_free(&r);
	px_route(&pxa, "late", port, upstream("http", "127.0.0.1",
	    echo1.port), "stopped", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	check_503(&r, "late", "stopped");
	resp_free(&r);
}

static void
test_wake(void **state __unused)
{
	int		 port = pick_port(), i;
	struct cl	*a, *b;
	struct resp	 r;
	struct pstats	 st;

	px_stats(&pxa, "app", &st);
	assert_int_equal(st.wakes, 0);
	px_route(&pxa, "sleepy", port, upstream("http", "127.0.0.1",
	    echo1.port), "stopped", 0, 1);
	a = cl_open(port);
	b = cl_open(port);
	cl_sendf(a, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_sendf(b, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	for (i = 0; i < 500 && st.wakes == 0; i++) {
		ms_sleep(10);
		px_stats(&pxa, "sleepy", &st);
	}
	assert_int_equal(st.wakes, 1);
	assert_true(cl_quiet(a, 200));
	px_stats(&pxa, "sleepy", &st);
	assert_int_equal(st.wakes, 1);	/* once, not per request */
	px_route(&pxa, "sleepy", port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 1);
	cl_resp(a, &r, 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cl_resp(b, &r, 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	px_stats(&pxa, "sleepy", &st);
	assert_int_equal(st.wakes, 1);
	cl_close(a);
	cl_close(b);
}

static void
expect_fail(const char *req, size_t len, int status)
{
	struct cl	*c = cl_open(app_port);
	struct resp	 r;

	cl_send(c, req, len);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, status);
	assert_string_equal(resp_hdr(&r, "Connection"), "close");
	resp_free(&r);
	assert_true(cl_closed(c, IO_TIMEOUT_MS));
	cl_close(c);
}

static void
test_bad_heads(void **state __unused)
{
	static const char smuggle[] = "POST / HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	struct resp	 r;
	char		*big;
	size_t		 n = MAX_HEAD + 2000;

	expect_fail("GARBAGE\r\n\r\n", 11, 400);
	expect_fail("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 32, 400);
	expect_fail(smuggle, sizeof smuggle - 1, 400);
	big = xmalloc(n + 64);
	memset(big, 'a', n + 64);
	memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
	memcpy(big + n, "\r\n\r\n", 4);
	expect_fail(big, n + 4, 431);
	free(big);
	/* Slowloris: a head that never ends. */
	expect_fail("GET / HTTP/1.1\r\nHost: localhost\r\n", 25, 408);
	get1(app_port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_bad_gateway(void **state __unused)
{
	int		 port = pick_port();
	int		 dead = pick_port();
	struct resp	 r;
	struct pstats	 st;

	px_route(&pxa, "gone", port, upstream("http", "127.0.0.1", dead),
	    "ready", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 502);
	assert_string_equal(resp_hdr(&r, "Content-Type"), "application/json");
	assert_non_null(strstr(r.body, "\"error\":\"bad gateway\""));
	resp_free(&r);
	px_stats(&pxa, "gone", &st);
	assert_true(st.errors >= 1);
	/* By name (resolved without blocking, from /etc/hosts): the same. */
	px_route(&pxa, "gone", port, upstream("http", "localhost", dead),
	    "ready", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 502);
	resp_free(&r);
}

static void
test_token(void **state __unused)
{
	int			 port = pick_port();
	struct proxy_config	 cf;
	struct event_base	*base;
	struct resp		 r;
	cJSON			*j;
	char			*cause = NULL;

	px_route(&pxb, "app", port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(resp_hdr(&r, "WWW-Authenticate"), "Bearer");
	resp_free(&r);
	get1(port, "localhost", "/health", "Authorization: Bearer nope\r\n", &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	get1(pxb.port, "localhost", "/metrics", NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	get1(port, "localhost", "/headers", "Authorization: Bearer " TOKEN "\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(j = cJSON_Parse(r.body));
	assert_null(cJSON_GetObjectItem(j, "authorization"));
	assert_null(strstr(r.body, TOKEN));
	cJSON_Delete(j);
	resp_free(&r);
	/* Not on loopback without a token: refused, and the cause says why. */
	base = event_base_new();
	memset(&cf, 0, sizeof cf);
	cf.bind = "0.0.0.0";
	assert_null(proxy_create(base, &cf, &cause));
	assert_non_null(strstr(cause, "token"));
	free(cause);
	event_base_free(base);
}

static void
test_tls(void **state __unused)
{
	int		 port = pick_port();
	int		 portb = pick_port();
	char		 want[64];
	struct resp	 r;
	struct pstats	 st;
	cJSON		*j;

	px_route(&pxa, "secure", port, upstream("https", "localhost",
	    tlsrelay.port), "ready", 0, 0);
	get1(port, "localhost", "/headers", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(j = cJSON_Parse(r.body));
	snprintf(want, sizeof want, "localhost:%d", tlsrelay.port);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "host")), want);
	cJSON_Delete(j);
	resp_free(&r);
	/* By IP address: the certificate carries IP:127.0.0.1 too. */
	px_route(&pxa, "secure", port, upstream("https", "127.0.0.1",
	    tlsrelay.port), "ready", 0, 0);
	get1(port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* Proxy B does not know the test CA: verification fails, 502. */
	px_route(&pxb, "secure", portb, upstream("https", "localhost",
	    tlsrelay.port), "ready", 0, 0);
	get1(portb, "localhost", "/health", "Authorization: Bearer " TOKEN "\r\n", &r);
	assert_int_equal(r.status, 502);
	resp_free(&r);
	px_stats(&pxb, "secure", &st);
	assert_true(st.errors >= 1);
}

static void
test_tcp(void **state __unused)
{
	int		 port = pick_port();
	struct cl	*c;
	struct resp	 r;
	cJSON		*j;

	px_route(&pxa, "raw", port, upstream("tcp", "127.0.0.1", echo1.port),
	    "ready", 1, 0);
	c = cl_open(port);
	cl_sendf(c, "GET /headers HTTP/1.1\r\nHost: raw\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_non_null(j = cJSON_Parse(r.body));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "host")), "raw");
	assert_null(cJSON_GetObjectItem(j, "x-forwarded-for"));
	cJSON_Delete(j);
	resp_free(&r);
	cl_close(c);
}

/* Wait (bounded) for the proxy child's descriptor count to settle at n. */
static int
fd_settle(pid_t pid, int n)
{
	int	 i, now = -1;

	for (i = 0; i < 300; i++) {
		if ((now = fd_count(pid)) == n)
			break;
		ms_sleep(10);
	}
	return (now);
}

/* The descriptor count once it has not changed for 200 ms (bounded). */
static int
fd_quiet(pid_t pid)
{
	int	 i, same = 0, last = -1, now;

	for (i = 0; i < 500 && same < 20; i++) {
		now = fd_count(pid);
		same = now == last ? same + 1 : 0;
		last = now;
		ms_sleep(10);
	}
	return (last);
}

static void
test_client_gone(void **state __unused)
{
	struct cl	*c;
	char		*e;
	struct pstats	 st;
	int		 before = fd_quiet(pxa.pid);

	c = cl_open(app_port);
	cl_sendf(c, "GET /stream?n=200&ms=20 HTTP/1.1\r\nHost: localhost\r\n\r\n");
	while ((e = strstr(c->buf, "data:")) == NULL)
		cl_need(c, c->len + 1);
	px_stats(&pxa, "app", &st);
	assert_true(st.open >= 1);
	assert_true(fd_count(pxa.pid) >= before + 2);
	cl_close(c);
	assert_int_equal(fd_settle(pxa.pid, before), before);
}

static void
test_fd_stable(void **state __unused)
{
	struct cl	*c;
	struct resp	 r;
	int		 before, i;

	get1(app_port, "localhost", "/health", NULL, &r);	/* warm up */
	resp_free(&r);
	before = fd_quiet(pxa.pid);
	for (i = 0; i < 1000; i++) {
		c = cl_open(app_port);
		cl_sendf(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n"
		    "Connection: close\r\n\r\n");
		cl_resp(c, &r, 0);
		assert_int_equal(r.status, 200);
		resp_free(&r);
		cl_close(c);
	}
	assert_int_equal(fd_settle(pxa.pid, before), before);
}

/* Send req on a fresh connection; status and Connection: close, then EOF. */
static void
expect_close(int port, const char *req, size_t len, int status,
    const char *body)
{
	struct cl	*c = cl_open(port);
	struct resp	 r;

	cl_send(c, req, len);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, status);
	assert_string_equal(resp_hdr(&r, "Connection"), "close");
	if (body != NULL)
		assert_string_equal(r.body, body);
	resp_free(&r);
	assert_true(cl_closed(c, IO_TIMEOUT_MS));
	cl_close(c);
}

#define EXPECT_CLOSE(port, req, status, body) \
	expect_close(port, req, sizeof req - 1, status, body)

static void
test_smuggle(void **state __unused)
{
	static const char inner[] = "GET /health HTTP/1.1\r\nHost: "
	    "localhost\r\n\r\n";
	struct cl	*c = cl_open(app_port);
	struct resp	 r;

	/* Connection: Content-Length: the body stays a body (nginx too). */
	cl_sendf(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: Content-Length\r\nContent-Length: %zu\r\n\r\n%s",
	    sizeof inner - 1, inner);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, inner);
	resp_free(&r);
	cl_sendf(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "abc");
	resp_free(&r);
	/* Still in step: the next request gets its own answer. */
	cl_sendf(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_resp(c, &r, 0);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);
	assert_true(cl_quiet(c, 200));
	cl_close(c);
	/* Bad chunk framing: 400, then close. */
	EXPECT_CLOSE(app_port, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\nGET /x HTTP/1.1\r\n"
	    "Host: localhost\r\n\r\n", 400,
	    "{\"error\":\"bad chunked framing\"}\n");
	EXPECT_CLOSE(app_port, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5 zz\r\nhello\r\n0\r\n\r\n",
	    400, NULL);
	EXPECT_CLOSE(app_port, "POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
	    400, NULL);
}

static void
test_hosts_live(void **state __unused)
{
	struct resp	 r;

	EXPECT_CLOSE(app_port, "GET /health HTTP/1.1\r\nHost: evil.example"
	    "\r\n\r\n", 421, "{\"error\":\"misdirected request: host "
	    "'evil.example' is not allowed (proxy.allowed_hosts)\"}\n");
	EXPECT_CLOSE(pxa.port, "GET /metrics HTTP/1.1\r\nHost: evil.example:"
	    "7070\r\n\r\n", 421, NULL);
	EXPECT_CLOSE(app_port, "GET http://evil.example/health HTTP/1.1\r\n"
	    "Host: localhost\r\n\r\n", 421, NULL);
	EXPECT_CLOSE(app_port, "GET /health HTTP/1.1\r\n\r\n", 400, NULL);
	EXPECT_CLOSE(app_port, "GET /health HTTP/1.1\r\nHost: localhost\r\n"
	    "Host: localhost\r\n\r\n", 400, NULL);
	get1(app_port, "allowed.example:99", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	get1(app_port, "[::1]:1", "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	get1(pxa.port, "localhost", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* Absolute form: rewritten to origin form (the echo routes it). */
	get1(app_port, "localhost", "http://localhost/health", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);
	/* And it routes on the shared port as Host would. */
	get1(pxa.port, "localhost", "http://app.localhost/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* A listener that never accepts: connections wait in its backlog. */
static int
mute_listen(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(fd, 256) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		fail_msg("mute listener: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return (fd);
}

static void
test_body_timeout(void **state __unused)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: localhost"
	    "\r\nContent-Length: 100\r\n\r\n";
	struct cl	*c;
	struct resp	 r;
	int64_t		 t0;
	int		 i, before;

	get1(app_port, "localhost", "/health", NULL, &r);	/* warm up */
	resp_free(&r);
	before = fd_quiet(pxa.pid);
	/* Stalled: nothing after 3 bytes; 408 after about BODY_MS. */
	c = cl_open(app_port);
	cl_sendf(c, "%sabc", head);
	t0 = ms_now();
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 408);
	assert_true(ms_now() - t0 >= BODY_MS - 100);
	resp_free(&r);
	assert_true(cl_closed(c, IO_TIMEOUT_MS));
	cl_close(c);
	/* A trickle (a byte every 100 ms) never idles, but is too slow. */
	c = cl_open(app_port);
	cl_sendf(c, "%s", head);
	for (i = 0; i < 99 && cl_fill(c, 100) == -1; i++)
		cl_send(c, "x", 1);
	assert_true(i < 40);
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 408);
	resp_free(&r);
	cl_close(c);
	assert_int_equal(fd_settle(pxa.pid, before), before);
}

static void
test_body_eof(void **state __unused)
{
	int		 port = pick_port(), up, mute, before, i;
	struct cl	*c[20];
	struct resp	 r;
	int64_t		 t0;

	mute = mute_listen(&up);
	px_route(&pxa, "mute", port, upstream("http", "127.0.0.1", up),
	    "ready", 0, 0);
	before = fd_quiet(pxa.pid);
	/* Clients that leave mid-body: both sides close at once. */
	for (i = 0; i < (int)nitems(c); i++) {
		c[i] = cl_open(port);
		cl_sendf(c[i], "POST /x HTTP/1.1\r\nHost: localhost\r\n"
		    "Content-Length: 1000\r\n\r\nabc");
	}
	assert_true(fd_quiet(pxa.pid) >= before + 2 * (int)nitems(c));
	for (i = 0; i < (int)nitems(c); i++)
		cl_close(c[i]);
	assert_int_equal(fd_settle(pxa.pid, before), before);
	/* A silent upstream: 504 after UP_MS (nginx: proxy_read_timeout). */
	t0 = ms_now();
	get1(port, "localhost", "/health", NULL, &r);
	assert_int_equal(r.status, 504);
	assert_true(ms_now() - t0 >= UP_MS - 100);
	resp_free(&r);
	close(mute);
	assert_int_equal(fd_settle(pxa.pid, before), before);
}

/* An upstream that answers 413 as soon as it has a head, keeping alive. */
static void __attribute__((noreturn))
early_main(int lfd)
{
	static const char ans[] = "HTTP/1.1 413 Payload Too Large\r\n"
	    "Content-Length: 0\r\n\r\n";
	char	 buf[4096];
	size_t	 len;
	ssize_t	 n;
	int	 fd;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		len = 0;
		while (len < sizeof buf - 1 &&
		    (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
			len += n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
		if (write(fd, ans, sizeof ans - 1) != sizeof ans - 1)
			_exit(1);
		while (read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
	}
}

static void
test_early_answer(void **state __unused)
{
	int		 port = pick_port(), up, lfd;
	struct child	 early;
	struct cl	*c;
	struct resp	 r;

	lfd = mute_listen(&up);
	fflush(NULL);
	if ((early.pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		early_main(lfd);
	}
	close(lfd);
	px_route(&pxa, "early", port, upstream("http", "127.0.0.1", up),
	    "ready", 0, 0);
	/* Answered before its body ended, then stalled: closed, no 408. */
	c = cl_open(port);
	cl_sendf(c, "POST /x HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Length: 100\r\n\r\nabc");
	cl_resp(c, &r, 0);
	assert_int_equal(r.status, 413);
	resp_free(&r);
	while (cl_fill(c, IO_TIMEOUT_MS) == 1)
		;
	assert_true(c->eof);
	assert_int_equal(c->len, 0);
	cl_close(c);
	child_stop(&early);
}

/* Quit a proxy child with connections open; it must exit 0 (no leaks). */
static void
quit_proxy(struct child *c)
{
	char	 buf[64];
	int	 status, i;

	assert_int_equal(px_cmd(c, buf, sizeof buf, "quit\n"), 0);
	for (i = 0; i < 1000; i++) {
		if (waitpid(c->pid, &status, WNOHANG) == c->pid)
			break;
		ms_sleep(10);
	}
	assert_int_not_equal(i, 1000);
	c->pid = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_free_with_conns(void **state __unused)
{
	int		 port = pick_port();
	struct cl	*idle, *held, *ws, *partial;
	struct resp	 r;

	idle = cl_open(app_port);
	cl_sendf(idle, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_resp(idle, &r, 0);
	resp_free(&r);
	px_route(&pxa, "frozen", port, upstream("http", "127.0.0.1",
	    echo1.port), "hold", 0, 0);
	held = cl_open(port);
	cl_sendf(held, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ws = cl_open(app_port);
	ws_open(ws);
	partial = cl_open(app_port);
	cl_sendf(partial, "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9"
	    "\r\n\r\nabc");
	assert_true(cl_quiet(held, 100));
	quit_proxy(&pxa);
	quit_proxy(&pxb);
	cl_close(idle);
	cl_close(held);
	cl_close(ws);
	cl_close(partial);
}

/* ---- the TLS-terminating relay in front of echo1 (test CA) ---- */

struct relay_pair {
	struct bufferevent	*a;
	struct bufferevent	*b;
};

static void
relay_read(struct bufferevent *bev, void *arg)
{
	struct relay_pair	*p = arg;

	bufferevent_write_buffer(bev == p->a ? p->b : p->a,
	    bufferevent_get_input(bev));
}

static void
relay_event(struct bufferevent *bev __unused, short what, void *arg)
{
	struct relay_pair	*p = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(p->a);
		bufferevent_free(p->b);
		free(p);
	}
}

static void
relay_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa __unused, int salen __unused, void *arg)
{
	struct event_base	*base = evconnlistener_get_base(l);
	struct relay_pair	*p = xcalloc(1, sizeof *p);
	struct sockaddr_in	 sin;

	p->a = bufferevent_openssl_socket_new(base, fd, SSL_new(arg),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	p->b = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(echo1.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_setcb(p->a, relay_read, NULL, relay_event, p);
	bufferevent_setcb(p->b, relay_read, NULL, relay_event, p);
	bufferevent_enable(p->a, EV_READ | EV_WRITE);
	bufferevent_enable(p->b, EV_READ | EV_WRITE);
	bufferevent_socket_connect(p->b, (struct sockaddr *)&sin, sizeof sin);
}

static void __attribute__((noreturn))
relay_main(int port)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin;
	SSL_CTX			*ctx = SSL_CTX_new(TLS_server_method());
	char			 path[PATH_MAX + 16];

	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof path, "%s/srv.crt", tmpdir);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
		_exit(2);
	snprintf(path, sizeof path, "%s/srv.key", tmpdir);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1)
		_exit(2);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (evconnlistener_new_bind(base, relay_accept, ctx,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 16,
	    (struct sockaddr *)&sin, sizeof sin) == NULL)
		_exit(2);
	event_base_dispatch(base);
	_exit(0);
}

/* A CA and a server certificate for localhost and 127.0.0.1. */
static int
make_certs(void)
{
	char	*cmd;
	int	 r;

	cmd = xprintf("( cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
	    " -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=fleet-test-ca"
	    " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
	    " -nodes -keyout srv.key -out srv.csr -subj /CN=localhost &&"
	    " printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext &&"
	    " openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key"
	    " -CAcreateserial -out srv.crt -days 2 -extfile ext"
	    " ) >/dev/null 2>&1", tmpdir);
	r = system(cmd);
	free(cmd);
	return (r == 0 ? 0 : -1);
}

static int
setup(void **state __unused)
{
	char	 exe[PATH_MAX], *ca;
	ssize_t	 n;

	signal(SIGPIPE, SIG_IGN);
	log_init("test-proxy", 0, stderr);
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return (-1);
	exe[n] = '\0';
	snprintf(fleet_bin, sizeof fleet_bin, "%s/fleet",
	    dirname(dirname(exe)));
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-proxy.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || make_certs() != 0) {
		fprintf(stderr, "cannot make test certificates\n");
		return (-1);
	}
	if (echo_start(&echo1, "echo1") != 0)
		return (-1);
	ca = xprintf("%s/ca.crt", tmpdir);
	if (px_start(&pxa, NULL, ca) != 0 || px_start(&pxb, TOKEN, NULL) != 0)
		return (-1);
	free(ca);
	tlsrelay.port = pick_port();
	fflush(NULL);
	if ((tlsrelay.pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		relay_main(tlsrelay.port);
	}
	if (wait_port(tlsrelay.port) != 0)
		return (-1);
	app_port = pick_port();
	px_route(&pxa, "app", app_port, upstream("http", "127.0.0.1",
	    echo1.port), "ready", 0, 0);
	return (0);
}

static int
teardown(void **state __unused)
{
	char	*cmd;

	child_stop(&pxa);
	child_stop(&pxb);
	child_stop(&tlsrelay);
	child_stop(&echo1);
	child_stop(&echo2);
	if (tmpdir[0] != '\0') {
		cmd = xprintf("rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
		free(cmd);
	}
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_head),
		cmocka_unit_test(test_body_move),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_write_request),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_shared_host),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_chunked_upload),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_websocket),
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_hold_ready),
		cmocka_unit_test(test_hold_timeout),
		cmocka_unit_test(test_wake),
		cmocka_unit_test(test_bad_heads),
		cmocka_unit_test(test_bad_gateway),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_fd_stable),
		cmocka_unit_test(test_smuggle),
		cmocka_unit_test(test_hosts_live),
		cmocka_unit_test(test_body_timeout),
		cmocka_unit_test(test_body_eof),
		cmocka_unit_test(test_early_answer),
		cmocka_unit_test(test_free_with_conns),
	};

	echo1.pid = echo2.pid = tlsrelay.pid = pxa.pid = pxb.pid = -1;
	return (cmocka_run_group_tests(tests, setup, teardown));
}
