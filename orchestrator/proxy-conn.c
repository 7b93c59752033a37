/* proxy-conn.c: one client connection: heads, bodies, tunnels, upstreams. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "fleet.h"
#include "proxy-int.h"

#define PROXY_LINGER_MS	2000	/* reading after SHUT_WR, then close */
#define PROXY_READ_CHUNK 4096	/* libevent's most per read */
#define PROXY_FILL_MAX	(16 * 1024)	/* our top-up read */

static void	conn_up_process(struct proxy_conn *);
static void	conn_up_drop(struct proxy_conn *);
static void	conn_finish(struct proxy_conn *);
static void	conn_body_window(struct proxy_conn *);
static void	conn_abort(struct proxy_conn *, int, const char *);

/*
 * No Nagle on either side: the proxy forwards in pieces (libevent reads
 * at most 4 KiB), and a small tail held for the peer's delayed ACK cost
 * ~40 ms per request (seen by make bench on 4 KiB POSTs).
 */
static void
conn_nodelay(evutil_socket_t fd)
{
	int	one = 1;

	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static size_t
conn_room(struct bufferevent *bev)
{
	size_t	 n = evbuffer_get_length(bufferevent_get_output(bev));

	return (n >= PROXY_OUT_HIGH ? 0 : PROXY_OUT_HIGH - n);
}

/*
 * Write what a callback queued before returning to the loop. Left to the
 * bufferevent, every response costs two epoll_ctl calls (EV_WRITE added
 * when bytes are queued, removed once they are out) and one more pass of
 * the loop. So a plain socket keeps EV_WRITE disabled while its output
 * is empty; the bufferevent writes only what the socket would not take
 * at once (and reports errors), then conn_io_drained hands back. Its
 * output is frozen at the front against other drains: thawed for this.
 */
static void
conn_io_flush(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	size_t		 n = evbuffer_get_length(out);

	if (n == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	/* At the high mark a producer may wait for the write callback. */
	if (n < PROXY_OUT_HIGH) {
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) != 0)
		bufferevent_enable(bev, EV_WRITE);
}

/* The bufferevent wrote everything: write at once again from now on. */
static void
conn_io_drained(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/*
 * libevent reads at most 4 KiB per callback (EVBUFFER_MAX_READ), so a
 * 4 KiB POST came in two reads and went on in two writes, both ways.
 * With 4 KiB or more waiting the read was likely full (or input waits
 * for room: then this read is early, not wasted): read the rest now, up
 * to the high mark. Returns a socket error to report once the input is
 * used, as libevent would on its next read, or 0.
 */
static int
conn_io_fill(struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 len = evbuffer_get_length(in), high, want, got;
	ssize_t			 r;
	int			 n, i, err = 0;

	bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	if (len < PROXY_READ_CHUNK || len >= high)
		return (0);
	want = high - len < PROXY_FILL_MAX ? high - len : PROXY_FILL_MAX;
	evbuffer_unfreeze(in, 0);
	if ((n = evbuffer_reserve_space(in, want, v, 2)) > 0) {
		for (i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		if ((r = readv(bufferevent_getfd(bev), iov, n)) == -1 &&
		    errno != EAGAIN && errno != EINTR)
			err = errno;
		got = r > 0 ? (size_t)r : 0;	/* EOF: libevent sees it next */
		for (i = 0; i < n; i++) {
			if (v[i].iov_len > got)
				v[i].iov_len = got;
			got -= v[i].iov_len;
		}
		evbuffer_commit_space(in, v, n);
	}
	evbuffer_freeze(in, 0);
	return (err);
}

/* Both sides, at the end of a callback. */
static void
conn_flush(struct proxy_conn *conn)
{
	if (conn->dead)
		return;
	conn_io_flush(conn->bev);
	if (conn->up != NULL)
		conn_io_flush(conn->up->bev);
}

static void
conn_activity(struct proxy_conn *conn, size_t in, size_t out)
{
	conn->last_mono = now_mono_ms();
	if (conn->rt != NULL && (in != 0 || out != 0))
		proxy_rt_activity(conn->rt, in, out);
}

static int
conn_keepalive(const struct proxy_head *h)
{
	if (h->minor == 1)
		return (!proxy_head_has(h, "Connection", "close"));
	return (proxy_head_has(h, "Connection", "keep-alive"));
}

/* A response of our own; JSON or text, always Content-Length framed. */
void
proxy_conn_reply(struct proxy_conn *conn, int status, const char *extra,
    const char *ctype, const char *body, int keep)
{
	struct evbuffer	*out = bufferevent_get_output(conn->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s"
	    "Connection: %s\r\n\r\n%s", status, proxy_status_text(status),
	    ctype, strlen(body), extra, keep ? "keep-alive" : "close", body);
	if (!keep)
		conn_finish(conn);
}

/* Answer bad input and close; waits until earlier responses are out. */
static int
conn_fail(struct proxy_conn *conn, int status, const char *why)
{
	char	*body;

	if (conn->npend != 0)
		return (0);
	log_debug("%s: %d %s", conn->peer, status, why);
	body = xprintf("{\"error\":\"%s\"}\n", why);
	proxy_conn_reply(conn, status, "", "application/json", body, 0);
	free(body);
	return (0);
}

/* Answer a whole request ourselves; keep the connection if we can. */
static int
conn_local(struct proxy_conn *conn, const struct proxy_head *h,
    const struct proxy_body *b, int status, const char *extra,
    const char *ctype, const char *body)
{
	int	 keep = b->kind == BODY_NONE && conn_keepalive(h);

	if (conn->npend != 0)
		return (0);
	if (conn->rt != NULL)
		proxy_rt_count_request(conn->rt);
	evbuffer_drain(bufferevent_get_input(conn->bev), h->len);
	conn->head_since = conn->hold_since = 0;
	conn->head_scan = 0;
	proxy_conn_reply(conn, status, extra, ctype, body, keep);
	return (keep);
}

/* 503 for a route that is not ready, saying why. */
static int
conn_unavailable(struct proxy_conn *conn, const struct proxy_head *h,
    const struct proxy_body *b, struct proxy_rt *rt)
{
	const char	*state = rt->active ? proxy_state_name(rt->state) :
			    "down";
	char		*body;
	int		 r;

	body = xprintf("{\"error\":\"deployment %s\",\"deployment\":\"%s\","
	    "\"state\":\"%s\"}\n", state, rt->name, state);
	r = conn_local(conn, h, b, 503, "Retry-After: 5\r\n",
	    "application/json", body);
	free(body);
	return (r);
}

/* The shared port without a deployment Host: /metrics, else 404. */
static int
conn_no_route(struct proxy_conn *conn, const struct proxy_head *h,
    const struct proxy_body *b)
{
	struct proxy	*px = conn->px;
	char		*text = NULL;
	int		 r;

	if (h->mlen != 3 || memcmp(h->method, "GET", 3) != 0 ||
	    h->tlen < 8 || memcmp(h->target, "/metrics", 8) != 0 ||
	    (h->tlen > 8 && h->target[8] != '?'))
		return (conn_local(conn, h, b, 404, "", "application/json",
		    "{\"error\":\"unknown deployment\"}\n"));
	if (px->metrics_cb != NULL)
		px->metrics_cb(px, &text, px->cb_arg);
	r = conn_local(conn, h, b, 200, "", "text/plain; version=0.0.4",
	    text != NULL ? text : "");
	free(text);
	return (r);
}

static int
conn_auth(struct proxy *px, const struct proxy_head *h)
{
	int	 i, ok = 0;

	for (i = 0; i < h->nhdrs; i++)
		if (h->hdrs[i].nlen == 13 &&
		    strncasecmp(h->hdrs[i].name, "Authorization", 13) == 0)
			ok |= proxy_auth_is(&h->hdrs[i], px->token);
	return (ok);
}

static void	up_event_cb(struct bufferevent *, short, void *);

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct proxy_up	*up = arg;
	struct proxy_conn *conn = up->conn;
	int		 err = 0;

	if (conn == NULL)
		return;
	if (!up->tls)
		err = conn_io_fill(bev);
	conn_up_process(conn);
	conn_flush(conn);
	if (err != 0 && up->conn != NULL) {
		bufferevent_disable(bev, EV_READ);
		EVUTIL_SET_SOCKET_ERROR(err);
		up_event_cb(bev, BEV_EVENT_READING | BEV_EVENT_ERROR, up);
	}
}

/* Room again upstream: move more of the client's bytes. */
static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	struct proxy_up	*up = arg;
	struct proxy_conn *conn = up->conn;

	if (conn == NULL)
		return;
	/* Connecting uses EV_WRITE, and TLS does its own writing. */
	if (up->connected && !up->tls)
		conn_io_drained(bev);
	proxy_conn_process(conn);
	conn_flush(conn);
}

/* Why an upstream failed, for the one log line. */
static void
up_explain(struct proxy_up *up, char *buf, size_t size)
{
	int	 e;

	if ((e = bufferevent_socket_get_dns_error(up->bev)) != 0)
		snprintf(buf, size, "%s", evutil_gai_strerror(e));
	else if (up->tls && proxy_tls_explain(up->bev, buf, size))
		;
	else
		snprintf(buf, size, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_up		*up = arg;
	struct proxy_conn	*conn;
	char			 why[256];

	if (up->conn == NULL)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		up->connected = 1;
		conn_nodelay(bufferevent_getfd(bev));
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		up_explain(up, why, sizeof why);
		proxy_rt_error(up->rt, "upstream %s: %s", up->url, why);
		up->error = 1;
	}
	up->eof = 1;
	bufferevent_disable(up->bev, EV_READ);
	conn = up->conn;
	conn_up_process(conn);
	conn_flush(conn);
}

/* Host header value for the upstream: host[:port], brackets for IPv6. */
static char *
conn_hostport(const struct proxy_url *u)
{
	int	 v6 = strchr(u->host, ':') != NULL;

	if (u->port == u->dflt_port)
		return (xprintf(v6 ? "[%s]" : "%s", u->host));
	return (xprintf(v6 ? "[%s]:%d" : "%s:%d", u->host, u->port));
}

/* Start connecting to rt's current upstream. */
static int
conn_up_connect(struct proxy_conn *conn, struct proxy_rt *rt)
{
	struct proxy		*px = conn->px;
	struct proxy_url	 u;
	struct proxy_up		*up;
	struct bufferevent	*bev;

	if (proxy_url_parse(rt->upstream, &u) != 0) {
		proxy_rt_error(rt, "bad upstream URL '%s'", rt->upstream);
		return (-1);
	}
	if (u.tls && !conn->tcp)
		bev = proxy_tls_bev(px, &u);
	else
		bev = bufferevent_socket_new(px->base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		proxy_rt_error(rt, "upstream %s: no bufferevent", rt->upstream);
		return (-1);
	}
	up = xcalloc(1, sizeof *up);
	up->conn = conn;
	up->bev = bev;
	up->rt = rt;
	up->url = xstrdup(rt->upstream);
	up->hostport = conn_hostport(&u);
	up->tls = u.tls && !conn->tcp;
	conn->up = up;
	bufferevent_setcb(bev, up_read_cb, up_write_cb, up_event_cb, up);
	bufferevent_setwatermark(bev, EV_READ, 0, PROXY_IN_HIGH);
	bufferevent_setwatermark(bev, EV_WRITE, PROXY_OUT_HIGH / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(bev, px->dns, AF_UNSPEC,
	    u.host, u.port) != 0) {
		proxy_rt_error(rt, "upstream %s: cannot connect", up->url);
		conn_up_drop(conn);
		return (-1);
	}
	return (0);
}

/* An upstream for rt: reuse, switch once idle, or connect. 1 ok, 0 wait. */
static int
conn_upstream(struct proxy_conn *conn, struct proxy_rt *rt)
{
	struct proxy_up	*up = conn->up;

	if (up != NULL && (up->rt != rt || up->eof ||
	    strcmp(up->url, rt->upstream) != 0)) {
		if (conn->npend != 0)
			return (0);	/* finish on the old one first */
		conn_up_drop(conn);
	}
	if (conn->up != NULL)
		return (1);
	return (conn_up_connect(conn, rt) == 0 ? 1 : -1);
}

/* 502 with a JSON body, then close: the exchange cannot go on. */
static void
conn_bad_gateway(struct proxy_conn *conn, const char *why)
{
	char	*body;

	body = xprintf("{\"error\":\"bad gateway\",\"detail\":\"%s\"}\n",
	    why);
	conn->npend = 0;
	proxy_conn_reply(conn, 502, "", "application/json", body, 0);
	free(body);
}

/* Forward one request head upstream and get ready for its body. */
static int
conn_forward(struct proxy_conn *conn, const struct proxy_head *h,
    const struct proxy_body *b, struct proxy_rt *rt)
{
	struct proxy_pend	*p;
	struct proxy_fwd	 fwd;
	struct evbuffer		*out;
	size_t			 before;
	int			 r;

	if ((r = conn_upstream(conn, rt)) != 1) {
		if (r == -1 && conn->npend == 0)
			conn_bad_gateway(conn, "upstream unavailable");
		return (0);
	}
	memset(&fwd, 0, sizeof fwd);
	fwd.body = b;
	fwd.hostport = conn->up->hostport;
	fwd.peer = conn->peer;
	fwd.token = conn->px->token;
	fwd.upgrade = proxy_head_get(h, "Upgrade") != NULL &&
	    proxy_head_has(h, "Connection", "upgrade");
	fwd.close = !conn_keepalive(h);
	out = bufferevent_get_output(conn->up->bev);
	before = evbuffer_get_length(out);
	proxy_write_request(h, &fwd, out);
	p = &conn->pend[conn->npend++];
	memset(p, 0, sizeof *p);
	p->head_req = h->mlen == 4 && memcmp(h->method, "HEAD", 4) == 0;
	p->upgrade = fwd.upgrade;
	p->keepalive = !fwd.close;
	p->minor = h->minor;
	p->t0 = now_mono_ms();
	evbuffer_drain(bufferevent_get_input(conn->bev), h->len);
	proxy_rt_count_request(rt);
	conn_activity(conn, evbuffer_get_length(out) - before, 0);
	conn->req = *b;
	conn->phase = b->kind == BODY_NONE ? PHASE_HEAD : PHASE_BODY;
	conn->body_mono = conn->body_since = now_mono_ms();
	conn->body_bytes = 0;
	conn->head_since = conn->hold_since = 0;
	conn->head_scan = 0;
	conn->no_more |= fwd.close;
	return (1);
}

/*
 * 421 for a Host that is not ours (DNS rebinding), naming it, and close.
 * Not counted as a request: a hostile page must not keep a GPU awake.
 */
static int
conn_misdirected(struct proxy_conn *conn, const char *host, size_t len)
{
	char	 safe[65], *why;
	size_t	 i;
	int	 r;

	for (i = 0; i < len && i < sizeof safe - 1; i++)
		safe[i] = isalnum((unsigned char)host[i]) ||
		    strchr("-.:[]", host[i]) != NULL ? host[i] : '?';
	safe[i] = '\0';
	why = xprintf("misdirected request: host '%s' is not allowed "
	    "(proxy.allowed_hosts)", safe);
	r = conn_fail(conn, 421, why);
	free(why);
	return (r);
}

/* Park the request until the route is ready (or the hold times out). */
static int
conn_park(struct proxy_conn *conn, struct proxy_rt *rt)
{
	if (conn->npend != 0)
		return (0);
	if (conn->hold_since == 0)
		conn->hold_since = now_mono_ms();
	proxy_rt_hold(rt, conn);
	bufferevent_disable(conn->bev, EV_READ);
	return (0);
}

/* A complete, valid head: authorise, route, then forward/hold/answer. */
static int
conn_request(struct proxy_conn *conn, const struct proxy_head *h)
{
	struct proxy	*px = conn->px;
	struct proxy_rt	*rt;
	struct proxy_body b;
	const char	*host;
	size_t		 hlen;
	char		 name[128];

	if (proxy_req_host(h, &host, &hlen) != 0)
		return (conn_fail(conn, 400, "missing, repeated or bad Host"));
	if (proxy_req_framing(h, &b) != 0)
		return (conn_fail(conn, 400, "bad message framing"));
	if (h->mlen == 7 && memcmp(h->method, "CONNECT", 7) == 0)
		return (conn_fail(conn, 405, "CONNECT not supported"));
	if (host != NULL && !proxy_host_allowed(host, hlen, px->allowed,
	    px->nallowed))
		return (conn_misdirected(conn, host, hlen));
	if (px->token != NULL && !conn_auth(px, h))
		return (conn_local(conn, h, &b, 401,
		    "WWW-Authenticate: Bearer\r\n", "application/json",
		    "{\"error\":\"bearer token required\"}\n"));
	if ((rt = conn->port_rt) == NULL &&
	    (proxy_host_route(h, name, sizeof name) != 0 ||
	    (rt = proxy_rt_find(px, name)) == NULL || rt->tcp))
		return (conn_no_route(conn, h, &b));
	proxy_rt_bind(conn, rt);
	if (rt->active && rt->state == ROUTE_READY) {
		conn->hold_expired = 0;
		return (conn_forward(conn, h, &b, rt));
	}
	if (!conn->hold_expired && rt->active && (rt->state == ROUTE_HOLD ||
	    (rt->state == ROUTE_STOPPED && rt->wake)))
		return (conn_park(conn, rt));
	if (conn->npend != 0)
		return (0);
	conn->hold_expired = 0;
	return (conn_unavailable(conn, h, &b, rt));
}

/* Read a request head; the head is capped at max_head bytes. */
static int
conn_head(struct proxy_conn *conn)
{
	struct evbuffer		*in = bufferevent_get_input(conn->bev);
	struct evbuffer_ptr	 pos;
	struct proxy_head	 h;
	const char		*buf;
	size_t			 len;
	int			 r;

	if (conn->held || conn->no_more ||
	    conn->npend == PROXY_PIPELINE_MAX ||
	    (conn->npend != 0 && conn->pend[conn->npend - 1].upgrade))
		return (0);
	while ((buf = (const char *)evbuffer_pullup(in, 2)) != NULL &&
	    buf[0] == '\r' && buf[1] == '\n')
		evbuffer_drain(in, 2);	/* stray CRLF between requests */
	if ((len = evbuffer_get_length(in)) == 0)
		return (0);
	if (conn->head_since == 0)
		conn->head_since = now_mono_ms();
	evbuffer_ptr_set(in, &pos, conn->head_scan, EVBUFFER_PTR_SET);
	pos = evbuffer_search(in, "\r\n\r\n", 4, &pos);
	if (pos.pos == -1 || (size_t)pos.pos + 4 > conn->px->max_head) {
		if (len > conn->px->max_head)
			return (conn_fail(conn, 431, "request head too large"));
		conn->head_scan = len > 3 ? len - 3 : 0;
		return (0);
	}
	buf = (const char *)evbuffer_pullup(in, pos.pos + 4);
	r = proxy_parse_head(buf, pos.pos + 4, 0, &h);
	if (r == -2)
		return (conn_fail(conn, 431, "too many header fields"));
	if (r != 1)
		return (conn_fail(conn, 400, "malformed request head"));
	return (conn_request(conn, &h));
}

/* Move request body bytes upstream while there is room. */
static int
conn_req_body(struct proxy_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	size_t		 room, moved;
	int		 r;

	if (conn->up == NULL) {
		proxy_conn_close(conn);
		return (0);
	}
	if ((room = conn_room(conn->up->bev)) == 0) {
		conn_body_window(conn);	/* the upstream is the slow one */
		return (0);	/* up_write_cb resumes */
	}
	r = proxy_body_move(&conn->req, in,
	    bufferevent_get_output(conn->up->bev), room, &moved);
	conn_activity(conn, moved, 0);
	if (moved != 0) {
		conn->body_mono = now_mono_ms();
		conn->body_bytes += moved;
	}
	if (r == -1) {
		conn_abort(conn, 400, "bad chunked framing");
		return (0);
	}
	if (r == 1) {
		conn->phase = PHASE_HEAD;
		return (1);
	}
	if (conn->eof && evbuffer_get_length(in) == 0) {
		/* The client left mid-body: the request can never end. */
		log_debug("%s: EOF in a request body", conn->peer);
		proxy_conn_close(conn);
		return (0);
	}
	return (moved != 0 && evbuffer_get_length(in) != 0);
}

/* Restart the body's rate window (the upstream held the body back). */
static void
conn_body_window(struct proxy_conn *conn)
{
	conn->body_mono = conn->body_since = now_mono_ms();
	conn->body_bytes = 0;
}

/*
 * The request cannot go on (its body is bad or late, or the upstream is
 * silent): the upstream goes at once, since it may hold half a request.
 * Answer status if it is the one request waiting and no response to it
 * has begun (none if the upstream answered before the body ended), else
 * just close.
 */
static void
conn_abort(struct proxy_conn *conn, int status, const char *why)
{
	log_debug("%s: %s", conn->peer, why);
	conn_up_drop(conn);
	if (conn->npend != 1 || !conn->resp_head) {
		proxy_conn_close(conn);
		return;
	}
	conn->npend = 0;
	conn_fail(conn, status, why);
}

/* Raw bytes from one side to the other, as far as there is room. */
static int
conn_pump(struct proxy_conn *conn, struct bufferevent *from,
    struct bufferevent *to, int inbound)
{
	struct evbuffer	*in = bufferevent_get_input(from);
	size_t		 n = evbuffer_get_length(in), room = conn_room(to);

	if (n > room)
		n = room;
	if (n == 0)
		return (0);
	evbuffer_remove_buffer(in, bufferevent_get_output(to), n);
	conn_activity(conn, inbound ? n : 0, inbound ? 0 : n);
	return (0);
}

/* A raw TCP route: connect once the route is ready. */
static int
conn_tcp_start(struct proxy_conn *conn)
{
	struct proxy_rt	*rt = conn->port_rt;

	if (conn->held)
		return (0);
	if (rt->active && rt->state == ROUTE_READY) {
		if (conn_up_connect(conn, rt) != 0) {
			proxy_conn_close(conn);
			return (0);
		}
		proxy_rt_count_request(rt);
		conn->phase = PHASE_TUNNEL;
		return (1);
	}
	if (!conn->hold_expired && rt->active && (rt->state == ROUTE_HOLD ||
	    (rt->state == ROUTE_STOPPED && rt->wake)))
		return (conn_park(conn, rt));
	proxy_conn_close(conn);
	return (0);
}

/* Run the client side over whatever input there is. */
void
proxy_conn_process(struct proxy_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	int		 r = 1;

	while (r == 1 && !conn->dead) {
		switch (conn->phase) {
		case PHASE_HEAD:
			r = conn->tcp ? conn_tcp_start(conn) : conn_head(conn);
			break;
		case PHASE_BODY:
			r = conn_req_body(conn);
			break;
		case PHASE_TUNNEL:
			if (conn->up != NULL)
				conn_pump(conn, conn->bev, conn->up->bev, 1);
			r = 0;
			break;
		case PHASE_CLOSING:
			evbuffer_drain(in, evbuffer_get_length(in));
			r = 0;
			break;
		}
	}
}

/* A 101 answered an Upgrade request: relay bytes both ways from now on. */
static int
conn_switch(struct proxy_conn *conn, const struct proxy_head *h)
{
	struct evbuffer	*out = bufferevent_get_output(conn->bev);
	size_t		 before = evbuffer_get_length(out);

	if (conn->npend != 1 || !conn->pend[0].upgrade) {
		conn_bad_gateway(conn, "unexpected 101 response");
		return (0);
	}
	proxy_write_response(h, "Upgrade", out);
	evbuffer_drain(bufferevent_get_input(conn->up->bev), h->len);
	conn_activity(conn, 0, evbuffer_get_length(out) - before);
	conn->npend = 0;
	conn->phase = PHASE_TUNNEL;
	conn->websocket = 1;
	if (conn->rt != NULL) {
		conn->rt->stats.websockets++;
		conn->rt->stats.open_websockets++;
	}
	proxy_conn_process(conn);	/* frames sent after the request */
	return (1);
}

/* Forward a response head; 1xx heads go through and the wait goes on. */
static int
conn_resp_forward(struct proxy_conn *conn, const struct proxy_head *h)
{
	struct evbuffer		*out = bufferevent_get_output(conn->bev);
	struct proxy_pend	*p = &conn->pend[0];
	size_t			 before = evbuffer_get_length(out);
	const char		*c = NULL;
	int			 keep;

	if (h->status == 101)
		return (conn_switch(conn, h));
	if (h->status / 100 != 1) {
		if (proxy_resp_framing(h, p->head_req, &conn->resp) != 0) {
			conn_bad_gateway(conn, "bad response framing");
			return (0);
		}
		keep = p->keepalive && conn->resp.kind != BODY_EOF;
		c = !keep ? "close" : p->minor == 0 ? "keep-alive" : NULL;
		conn->resp_close = !keep;
		conn->resp_head = 0;
		/*
		 * Will the upstream close after this response? Then do not
		 * send the next request down it: it would race the EOF.
		 */
		conn->up_close = conn->resp.kind == BODY_EOF ||
		    proxy_head_has(h, "Connection", "close") ||
		    (h->minor == 0 &&
		    !proxy_head_has(h, "Connection", "keep-alive"));
	}
	proxy_write_response(h, c, out);
	evbuffer_drain(bufferevent_get_input(conn->up->bev), h->len);
	conn_activity(conn, 0, evbuffer_get_length(out) - before);
	p->answered = 1;
	conn->up_scan = 0;
	return (1);
}

/* Read a response head for the oldest pending request. */
static int
conn_resp_head(struct proxy_conn *conn)
{
	struct evbuffer		*in = bufferevent_get_input(conn->up->bev);
	struct proxy_pend	*p = &conn->pend[0];
	struct evbuffer_ptr	 pos;
	struct proxy_head	 h;
	const char		*buf;
	size_t			 len = evbuffer_get_length(in);

	if (len == 0 || conn_room(conn->bev) == 0)
		return (0);
	if (conn->npend == 0) {
		log_debug("%s: unsolicited upstream bytes", conn->up->url);
		conn_up_drop(conn);
		return (0);
	}
	if (!p->timed) {
		p->timed = 1;
		proxy_rt_latency(conn->up->rt, now_mono_ms() - p->t0);
	}
	evbuffer_ptr_set(in, &pos, conn->up_scan, EVBUFFER_PTR_SET);
	pos = evbuffer_search(in, "\r\n\r\n", 4, &pos);
	if (pos.pos == -1) {
		if (len > PROXY_RESP_HEAD_MAX)
			conn_bad_gateway(conn, "response head too large");
		conn->up_scan = len > 3 ? len - 3 : 0;
		return (0);
	}
	buf = (const char *)evbuffer_pullup(in, pos.pos + 4);
	if (pos.pos + 4 > PROXY_RESP_HEAD_MAX ||
	    proxy_parse_head(buf, pos.pos + 4, 1, &h) != 1) {
		conn_bad_gateway(conn, "malformed response head");
		return (0);
	}
	return (conn_resp_forward(conn, &h));
}

/* The response is complete: next request, or close. */
static int
conn_resp_done(struct proxy_conn *conn)
{
	conn->npend--;
	memmove(&conn->pend[0], &conn->pend[1],
	    conn->npend * sizeof conn->pend[0]);
	conn->resp_head = 1;
	conn->up_scan = 0;
	if (conn->resp_close || (conn->eof && conn->npend == 0)) {
		conn_finish(conn);
		return (0);
	}
	if (conn->up_close && conn->npend == 0 && conn->up != NULL)
		conn_up_drop(conn);	/* the next request gets a fresh one */
	conn->up_close = 0;
	proxy_conn_process(conn);	/* requests waiting their turn */
	return (1);
}

/* Move response body bytes to the client while there is room. */
static int
conn_resp_body(struct proxy_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->up->bev);
	size_t		 room, moved;
	int		 r;

	if ((room = conn_room(conn->bev)) == 0)
		return (0);	/* conn_write_cb resumes */
	r = proxy_body_move(&conn->resp, in, bufferevent_get_output(conn->bev),
	    room, &moved);
	conn_activity(conn, 0, moved);
	if (r == -1) {
		log_debug("%s: bad response body framing", conn->up->url);
		conn_finish(conn);
		return (0);
	}
	if (r == 1)
		return (conn_resp_done(conn));
	return (moved != 0 && evbuffer_get_length(in) != 0);
}

/* The upstream closed or failed and its input is used up. */
static void
conn_up_gone(struct proxy_conn *conn)
{
	struct proxy_up	*up = conn->up;

	if (conn->phase == PHASE_TUNNEL || !conn->resp_head) {
		if (!conn->resp_head && conn->resp.kind != BODY_EOF)
			log_debug("%s: upstream closed mid-response",
			    up->url);
		conn_finish(conn);
	} else if (conn->npend != 0) {
		if (!up->error)
			proxy_rt_error(up->rt, "upstream %s: closed before "
			    "responding", up->url);
		if (conn->pend[0].answered)
			conn_finish(conn);
		else
			conn_bad_gateway(conn, up->error ?
			    "upstream connection failed" :
			    "upstream closed the connection");
	} else
		conn_up_drop(conn);	/* idle keep-alive upstream went away */
}

/* Run the upstream side over whatever input there is. */
static void
conn_up_process(struct proxy_conn *conn)
{
	struct proxy_up	*up;
	int		 r = 1;

	while (r == 1 && !conn->dead && (up = conn->up) != NULL) {
		if (conn->phase == PHASE_TUNNEL)
			r = conn_pump(conn, up->bev, conn->bev, 0);
		else if (conn->resp_head)
			r = conn_resp_head(conn);
		else
			r = conn_resp_body(conn);
	}
	/* Closed, and what is left can never be used: give up on it. */
	if (conn->dead || (up = conn->up) == NULL || !up->eof)
		return;
	if (evbuffer_get_length(bufferevent_get_input(up->bev)) == 0 ||
	    conn_room(conn->bev) != 0)
		conn_up_gone(conn);
}

static void	conn_event_cb(struct bufferevent *, short, void *);

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct proxy_conn	*conn = arg;
	int			 err;

	if (conn->dead)
		return;
	err = conn_io_fill(bev);
	proxy_conn_process(conn);
	conn_flush(conn);
	if (err != 0 && !conn->dead) {
		bufferevent_disable(bev, EV_READ);
		EVUTIL_SET_SOCKET_ERROR(err);
		conn_event_cb(bev, BEV_EVENT_READING | BEV_EVENT_ERROR, conn);
	}
}

/* Output drained: finish a close, or resume the upstream side. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct proxy_conn	*conn = arg;

	if (conn->dead)
		return;
	if (conn->phase == PHASE_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
		    conn->shut)
			return;
		if (conn->eof) {
			proxy_conn_close(conn);
			return;
		}
		/* Half-close, read until EOF: the reply then survives. */
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		conn->shut = 1;
		conn->last_mono = now_mono_ms();
		bufferevent_enable(bev, EV_READ);
		return;
	}
	conn_io_drained(bev);
	if (conn->up != NULL)
		conn_up_process(conn);
	conn_flush(conn);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_conn	*conn = arg;

	if (conn->dead)
		return;
	if ((what & BEV_EVENT_ERROR) || conn->phase == PHASE_CLOSING ||
	    conn->phase == PHASE_TUNNEL) {
		proxy_conn_close(conn);
		return;
	}
	conn->eof = 1;
	conn->no_more = 1;
	/*
	 * Gone mid-stream, in a body that can never end now, or with
	 * nothing left to answer: close, the upstream too.
	 */
	if (conn->npend == 0 || !conn->resp_head ||
	    (conn->phase == PHASE_BODY &&
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0))
		proxy_conn_close(conn);
}

/* A new client connection on one of our listeners. */
void
proxy_conn_accept(struct proxy_listener *l, int fd, const struct sockaddr *sa)
{
	struct proxy		*px = l->px;
	struct proxy_conn	*conn;
	size_t			 high = PROXY_IN_HIGH;

	if (px->nconns >= PROXY_CONNS_MAX) {
		log_warn("too many connections");
		evutil_closesocket(fd);
		return;
	}
	conn_nodelay(fd);
	conn = xcalloc(1, sizeof *conn);
	conn->px = px;
	conn->port_rt = l->rt;
	conn->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		evutil_closesocket(fd);
		free(conn);
		return;
	}
	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    conn->peer, sizeof conn->peer, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(conn->peer, sizeof conn->peer, "unknown");
	conn->resp_head = 1;
	conn->head_since = conn->last_mono = now_mono_ms();
	TAILQ_INSERT_TAIL(&px->conns, conn, entry);
	px->nconns++;
	if (high <= px->max_head)
		high = px->max_head + 1;
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, high);
	bufferevent_setwatermark(conn->bev, EV_WRITE, PROXY_OUT_HIGH / 2, 0);
	bufferevent_enable(conn->bev, EV_READ);
	if (l->rt != NULL) {
		proxy_rt_bind(conn, l->rt);
		conn->tcp = l->rt->tcp;
		if (conn->tcp)
			proxy_conn_process(conn);
	}
}

/* A held request goes on: the route is ready, or it gets its 503. */
void
proxy_conn_release(struct proxy_conn *conn, int expired)
{
	if (conn->dead)
		return;
	if (conn->held)
		proxy_rt_unhold(conn);
	conn->hold_expired = expired;
	bufferevent_enable(conn->bev, EV_READ);
	proxy_conn_process(conn);
	conn_flush(conn);
}

/*
 * Is the client too slow with a request body? Nothing for body_timeout
 * (nginx's client_body_timeout), or, against a trickle that never stops,
 * under PROXY_BODY_MIN_RATE on average once body_timeout has passed
 * (Apache's mod_reqtimeout MinRate). Time the upstream held the body
 * back does not count.
 */
static int
conn_body_late(struct proxy_conn *conn, int64_t now)
{
	int64_t	 ms = conn->px->body_ms;

	if (conn->up != NULL && conn_room(conn->up->bev) == 0) {
		conn_body_window(conn);
		return (0);
	}
	return (now - conn->body_mono >= ms || now - conn->body_since >= ms +
	    (int64_t)(conn->body_bytes * 1000 / PROXY_BODY_MIN_RATE));
}

/* Timeouts, checked by the one sweep timer. */
void
proxy_conn_sweep(struct proxy_conn *conn, int64_t now)
{
	struct proxy	*px = conn->px;

	if (conn->dead)
		return;
	if (conn->held) {
		if (now - conn->hold_since >= px->hold_ms)
			proxy_conn_release(conn, 1);
		return;
	}
	if (conn->phase == PHASE_CLOSING) {
		if (now - conn->last_mono >= (conn->shut ? PROXY_LINGER_MS :
		    px->idle_ms))
			proxy_conn_close(conn);
		return;
	}
	if (conn->phase == PHASE_TUNNEL || conn->tcp)
		return;
	if (conn->phase == PHASE_BODY && conn_body_late(conn, now)) {
		conn_abort(conn, 408, "request body timeout");
		return;
	}
	if (conn->npend != 0) {
		/* No byte moved either way: the upstream is stuck. */
		if (now - conn->last_mono >= px->up_ms)
			conn_abort(conn, 504, "upstream timeout");
		return;
	}
	if (conn->head_since != 0 && now - conn->head_since >= px->head_ms)
		conn_fail(conn, 408, "request head timeout");
	else if (conn->head_since == 0 && now - conn->last_mono >= px->idle_ms)
		proxy_conn_close(conn);
}

/* Stop reading, flush what is queued, then close. */
static void
conn_finish(struct proxy_conn *conn)
{
	if (conn->dead || conn->phase == PHASE_CLOSING)
		return;
	if (conn->held)
		proxy_rt_unhold(conn);
	if (conn->up != NULL)
		conn_up_drop(conn);
	conn->phase = PHASE_CLOSING;
	conn->last_mono = now_mono_ms();
	bufferevent_disable(conn->bev, EV_READ);
	bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	conn_io_flush(conn->bev);	/* what is left: the bufferevent's */
	conn_write_cb(conn->bev, conn);
}

/* Detach the upstream; it is freed later, outside its callbacks. */
static void
conn_up_drop(struct proxy_conn *conn)
{
	struct proxy_up	*up = conn->up;

	if (up == NULL)
		return;
	conn->up = NULL;
	up->conn = NULL;
	bufferevent_setcb(up->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(up->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&conn->px->dead_ups, up, entry);
	event_active(conn->px->ev_reap, 0, 0);
}

/* The one close function: unhook now, free later from the reaper. */
void
proxy_conn_close(struct proxy_conn *conn)
{
	struct proxy	*px = conn->px;

	if (conn->dead)
		return;
	conn->dead = 1;
	if (conn->held)
		proxy_rt_unhold(conn);
	conn_up_drop(conn);
	bufferevent_setcb(conn->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	if (conn->rt != NULL) {
		conn->rt->stats.open_conns--;
		if (conn->websocket)
			conn->rt->stats.open_websockets--;
	}
	TAILQ_REMOVE(&px->conns, conn, entry);
	TAILQ_INSERT_TAIL(&px->dead, conn, entry);
	px->nconns--;
	event_active(px->ev_reap, 0, 0);
}

void
proxy_conn_free(struct proxy_conn *conn)
{
	bufferevent_free(conn->bev);
	free(conn);
}

void
proxy_up_free(struct proxy_up *up)
{
	bufferevent_free(up->bev);
	free(up->url);
	free(up->hostport);
	free(up);
}
