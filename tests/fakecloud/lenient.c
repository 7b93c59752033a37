/* lenient.c: `fakecloud lenient` (a forgiving upstream) and `stall`. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * `fakecloud lenient --port N --raw FILE --requests FILE`: an HTTP/1.1
 * server as forgiving as many real ones. Lines end at LF (a CR before it
 * is optional), Content-Length and chunked bodies are read, trailers
 * skipped, and it waits for a body for ever (a patient upstream). Every
 * byte it receives is appended to the raw file, and one line per request
 * head to the requests file:
 *
 *	REQ <conn> <method> <target> xff=<X-Forwarded-For or ->
 *
 * so a test can tell what a proxy in front of it really sent: if fleet
 * and this server disagree on where a message ends, the requests file
 * shows a request fleet never saw. Each request gets 200 with
 * "seen METHOD TARGET\n".
 */

#define LN_CONNS	2048
#define LN_BUF		(1024 * 1024)

enum ln_state { LN_HEAD, LN_LENGTH, LN_CSIZE, LN_CDATA, LN_CEND, LN_TRAILER };

struct ln_conn {
	int		 fd;
	int		 id;
	char		*buf;
	size_t		 len;
	enum ln_state	 state;
	unsigned long long left;
	int		 close;
	char		 line[512];	/* "seen METHOD TARGET" */
};

static struct ln_conn	*ln_conns[LN_CONNS];
static FILE		*ln_raw, *ln_req;

/* The next line, without LF and an optional CR; NULL until it is in. */
static char *
ln_line(struct ln_conn *c, size_t *used)
{
	char	*nl, *s;
	size_t	 n;

	if ((nl = memchr(c->buf, '\n', c->len)) == NULL)
		return (NULL);
	n = nl - c->buf;
	*used = n + 1;
	if (n > 0 && c->buf[n - 1] == '\r')
		n--;
	s = xstrndup(c->buf, n);
	return (s);
}

static void
ln_take(struct ln_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static void
ln_reply(struct ln_conn *c)
{
	char	 out[1024];
	int	 n;

	n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: "
	    "text/plain\r\nContent-Length: %zu\r\n%s\r\n%s\n",
	    strlen(c->line) + 1, c->close ? "Connection: close\r\n" : "",
	    c->line);
	if (write(c->fd, out, n) != n)
		c->close = 1;
}

/* A request head, lenient: its start line logged, its framing found. */
static int
ln_head(struct ln_conn *c)
{
	char	*line, *v, method[64] = "-", target[400] = "-", xff[200] = "-";
	size_t	 used;
	int	 first = 1, chunked = 0;

	c->left = 0;
	c->close = 0;
	for (;;) {
		if ((line = ln_line(c, &used)) == NULL)
			return (0);
		if (first && *line == '\0') {	/* stray empty line */
			ln_take(c, used);
			free(line);
			continue;
		}
		if (!first && *line == '\0') {
			free(line);
			break;
		}
		if (first)
			sscanf(line, "%63s %399s", method, target);
		else if ((v = strchr(line, ':')) != NULL) {
			*v++ = '\0';
			v += strspn(v, " \t");
			if (strcasecmp(line, "Content-Length") == 0)
				c->left = strtoull(v, NULL, 10);
			else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
			    strcasestr(v, "chunked") != NULL)
				chunked = 1;
			else if (strcasecmp(line, "Connection") == 0 &&
			    strcasestr(v, "close") != NULL)
				c->close = 1;
			else if (strcasecmp(line, "X-Forwarded-For") == 0)
				snprintf(xff, sizeof xff, "%s", v);
		}
		first = 0;
		ln_take(c, used);
		free(line);
	}
	ln_take(c, used);
	fprintf(ln_req, "REQ %d %s %s xff=%s\n", c->id, method, target, xff);
	fflush(ln_req);
	snprintf(c->line, sizeof c->line, "seen %s %s", method, target);
	c->state = chunked ? LN_CSIZE : LN_LENGTH;
	return (1);
}

/* One step of the request; 1 progress, 0 wait. */
static int
ln_step(struct ln_conn *c)
{
	char	*line;
	size_t	 used, n;

	switch (c->state) {
	case LN_HEAD:
		return (ln_head(c));
	case LN_LENGTH:
	case LN_CDATA:
		n = c->left < c->len ? c->left : c->len;
		ln_take(c, n);
		if ((c->left -= n) != 0)
			return (0);
		if (c->state == LN_CDATA) {
			c->state = LN_CEND;
			return (1);
		}
		break;
	case LN_CSIZE:
	case LN_CEND:
	case LN_TRAILER:
		if ((line = ln_line(c, &used)) == NULL)
			return (0);
		ln_take(c, used);
		if (c->state == LN_CSIZE) {
			c->left = strtoull(line, NULL, 16);
			c->state = c->left != 0 ? LN_CDATA : LN_TRAILER;
		} else if (c->state == LN_CEND)
			c->state = LN_CSIZE;
		else if (*line == '\0') {
			free(line);
			break;
		}
		free(line);
		return (1);
	}
	ln_reply(c);
	c->state = LN_HEAD;
	return (!c->close);
}

static void
ln_close(int i)
{
	close(ln_conns[i]->fd);
	free(ln_conns[i]->buf);
	free(ln_conns[i]);
	ln_conns[i] = NULL;
}

static void
ln_read(int i)
{
	struct ln_conn	*c = ln_conns[i];
	ssize_t		 n;

	if (c->len == LN_BUF) {
		ln_close(i);
		return;
	}
	if ((n = read(c->fd, c->buf + c->len, LN_BUF - c->len)) <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		ln_close(i);
		return;
	}
	fwrite(c->buf + c->len, 1, n, ln_raw);
	fflush(ln_raw);
	c->len += n;
	while (ln_step(c) == 1)
		;
	if (c->close && c->state == LN_HEAD)
		ln_close(i);
}

static void
ln_accept(int lfd, int *next_id)
{
	struct ln_conn	*c;
	int		 fd, i;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	for (i = 0; i < LN_CONNS && ln_conns[i] != NULL; i++)
		;
	if (i == LN_CONNS) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->id = (*next_id)++;
	c->buf = xmalloc(LN_BUF);
	ln_conns[i] = c;
}

static int
ln_listen(const char *bind_addr, int port)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, bind_addr, &sin.sin_addr) != 1)
		return (-1);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(fd, 512) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
lenient_main(int argc, char **argv)
{
	static struct pollfd	 pfd[LN_CONNS + 1];
	const char		*bind_addr = "127.0.0.1", *raw = NULL,
				*req = NULL;
	int			 i, n, port = -1, lfd, next_id = 1, map[LN_CONNS];

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--bind") == 0)
			bind_addr = argv[i + 1];
		else if (strcmp(argv[i], "--raw") == 0)
			raw = argv[i + 1];
		else if (strcmp(argv[i], "--requests") == 0)
			req = argv[i + 1];
		else
			break;
	}
	if (i != argc || port < 0 || raw == NULL || req == NULL) {
		fprintf(stderr, "usage: fakecloud lenient --port N [--bind A] "
		    "--raw FILE --requests FILE\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ln_raw = fopen(raw, "a")) == NULL ||
	    (ln_req = fopen(req, "a")) == NULL ||
	    (lfd = ln_listen(bind_addr, port)) == -1) {
		fprintf(stderr, "lenient: %s\n", strerror(errno));
		return (1);
	}
	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		for (i = 0, n = 1; i < LN_CONNS; i++) {
			if (ln_conns[i] == NULL)
				continue;
			pfd[n].fd = ln_conns[i]->fd;
			pfd[n].events = POLLIN;
			map[n - 1] = i;
			n++;
		}
		if (poll(pfd, n, -1) == -1 && errno != EINTR)
			return (1);
		if (pfd[0].revents & POLLIN)
			ln_accept(lfd, &next_id);
		for (i = 1; i < n; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				ln_read(map[i - 1]);
	}
}

/*
 * `fakecloud stall -n N -m close|stall|trickle -t SECS HOST PORT`: N
 * clients each send a POST head with Content-Length: 1000 and 3 bytes of
 * body. close: wait SECS (the proxy has forwarded them), close all.
 * stall: send nothing more; trickle: one more byte a second each. Both
 * wait up to SECS for the server to answer and close, then print
 *
 *	clients N closed K status408 M max_ms X total_ms Y
 *
 * where X is the longest time from a client's last byte to its close,
 * and Y the longest from its first byte.
 */

struct st_client {
	int		 fd;
	int		 done;
	int		 status;
	int64_t		 first;	/* head sent, mono ms */
	int64_t		 last;	/* last byte sent */
	int64_t		 closed;
	char		 head[16];
	size_t		 hlen;
};

static int
st_connect(const char *host, int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static void
st_sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Read what the server says; mark the client done at EOF or an error. */
static void
st_read(struct st_client *c, int64_t now)
{
	char	 buf[4096];
	size_t	 room;
	ssize_t	 n;

	n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n > 0) {
		room = sizeof c->head - 1 - c->hlen;
		if ((size_t)n < room)
			room = n;
		memcpy(c->head + c->hlen, buf, room);
		c->hlen += room;
		c->head[c->hlen] = '\0';
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	c->done = 1;
	c->closed = now;
	if (c->hlen >= 12 && strncmp(c->head, "HTTP/1.", 7) == 0)
		c->status = atoi(c->head + 9);
}

static void
st_report(struct st_client *cl, int n)
{
	int64_t	 max = 0, total = 0;
	int	 i, closed = 0, s408 = 0;

	for (i = 0; i < n; i++) {
		if (!cl[i].done)
			continue;
		closed++;
		s408 += cl[i].status == 408;
		if (cl[i].closed - cl[i].last > max)
			max = cl[i].closed - cl[i].last;
		if (cl[i].closed - cl[i].first > total)
			total = cl[i].closed - cl[i].first;
	}
	printf("clients %d closed %d status408 %d max_ms %lld total_ms %lld\n",
	    n, closed, s408, (long long)max, (long long)total);
}

int
stall_main(int argc, char **argv)
{
	static const char head[] = "POST /stall HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\nContent-Length: 1000\r\n\r\nabc";
	struct st_client	*cl;
	struct pollfd		*pfd;
	const char		*mode = "stall";
	int64_t			 t0, now, next_tick;
	int			 ch, i, n = 10, secs = 10, left;

	optind = 0;
	while ((ch = getopt(argc, argv, "n:m:t:")) != -1) {
		switch (ch) {
		case 'n': n = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 't': secs = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || n < 1 || n > 4000 || secs < 1 ||
	    secs > 600 || (strcmp(mode, "close") != 0 &&
	    strcmp(mode, "stall") != 0 && strcmp(mode, "trickle") != 0))
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	cl = xcalloc(n, sizeof *cl);
	pfd = xcalloc(n, sizeof *pfd);
	for (i = 0; i < n; i++) {
		if ((cl[i].fd = st_connect(argv[optind],
		    atoi(argv[optind + 1]))) == -1) {
			fprintf(stderr, "stall: connect: %s\n",
			    strerror(errno));
			return (1);
		}
		if (write(cl[i].fd, head, sizeof head - 1) !=
		    (ssize_t)sizeof head - 1)
			cl[i].done = 1;
		cl[i].first = cl[i].last = now_mono_ms();
	}
	if (strcmp(mode, "close") == 0) {
		st_sleep_ms(secs * 1000);
		for (i = 0; i < n; i++)
			close(cl[i].fd);
		printf("clients %d closed mid-body\n", n);
		return (0);
	}
	t0 = now_mono_ms();
	next_tick = t0 + 1000;
	for (;;) {
		now = now_mono_ms();
		for (i = 0, left = 0; i < n; i++) {
			pfd[i].fd = cl[i].done ? -1 : cl[i].fd;
			pfd[i].events = POLLIN;
			left += !cl[i].done;
		}
		if (left == 0 || now - t0 >= secs * 1000)
			break;
		if (poll(pfd, n, 100) == -1 && errno != EINTR)
			return (1);
		now = now_mono_ms();
		for (i = 0; i < n; i++)
			if (!cl[i].done && pfd[i].revents != 0)
				st_read(&cl[i], now);
		if (strcmp(mode, "trickle") != 0 || now < next_tick)
			continue;
		next_tick += 1000;
		for (i = 0; i < n; i++) {
			if (cl[i].done)
				continue;
			if (write(cl[i].fd, "x", 1) == 1)
				cl[i].last = now;
		}
	}
	st_report(cl, n);
	for (i = 0; i < n; i++)
		close(cl[i].fd);
	free(cl);
	free(pfd);
	return (0);
usage:
	fprintf(stderr, "usage: fakecloud stall [-n N] [-m close|stall|"
	    "trickle] [-t SECS] HOST PORT\n");
	return (2);
}
