/* cmd-echo-server.c: built-in HTTP+WebSocket echo server (demo upstream). */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fleet.h"
#include "echo.h"

#define ECHO_HEADERS_MAX	100
#define ECHO_CHUNK_LINE_MAX	1024
#define ECHO_OUT_HIGH		(4 * 1024 * 1024) /* pause reading above */
#define ECHO_IN_HIGH		(2 * 1024 * 1024)
#define ECHO_IDLE_SECS		120	/* keep-alive, head timeout */
#define ECHO_LINGER_SECS	2	/* discard input after close */
#define ECHO_CONNS_MAX		1024

enum echo_phase {
	ECHO_HEAD,		/* reading request line and headers */
	ECHO_BODY,		/* Content-Length body */
	ECHO_CHUNK_SIZE,
	ECHO_CHUNK_DATA,
	ECHO_CHUNK_END,		/* CRLF after chunk data */
	ECHO_TRAILER,
	ECHO_STREAM,		/* sending SSE; input waits */
	ECHO_WS,		/* WebSocket frames */
	ECHO_DRAIN		/* flushing output, then close */
};

struct echo_header {
	char	*name;
	char	*value;
};

struct echo_req {
	char			*method;
	char			*target;
	int			 minor;		/* HTTP/1.minor */
	struct echo_header	 hdrs[ECHO_HEADERS_MAX];
	int			 nhdrs;
	size_t			 head_len;
	uint64_t		 left;		/* body/chunk bytes left */
	struct evbuffer		*body;
	int			 keepalive;
};

struct echo_server;

struct echo_conn {
	struct echo_server	*srv;
	struct bufferevent	*bev;
	enum echo_phase		 phase;
	struct echo_req		 req;
	int			 dead;
	int			 shut;		/* SHUT_WR done */
	int			 eof;		/* the peer sent FIN */

	struct event		*tick;		/* SSE timer */
	int			 sse_seq;
	int			 sse_n;
	int			 sse_ms;
	int			 sse_chunked;

	struct evbuffer		*ws_msg;	/* fragments so far */
	int			 ws_opcode;

	TAILQ_ENTRY(echo_conn)	 entry;
};
TAILQ_HEAD(echo_conns, echo_conn);

struct echo_server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_reap;
	const char		*name;
	struct echo_conns	 conns;
	struct echo_conns	 dead;
	int			 nconns;
};

static int	 echo_process(struct echo_conn *);
static void	 echo_conn_close(struct echo_conn *);

static const char echo_help[] =
    "Serve a small HTTP/1.1 + WebSocket echo service on ADDR:PORT (default\n"
    "127.0.0.1 and $PORT, else 8080). It is the `local` stand-in for every\n"
    "template and the instance process of the fake clouds.\n"
    "\n"
    "  GET /health          {\"status\":\"ok\"}\n"
    "  GET /                page naming the instance ($FLEET_INSTANCE_NAME)\n"
    "  GET /headers         the request headers as JSON (lower-case names)\n"
    "  GET /stream?n=5&ms=100  server-sent events, n events ms apart\n"
    "  GET /ws              WebSocket echo (any path with Upgrade: websocket)\n"
    "  POST, PUT (any path) the body back with the request's content type\n"
    "\n"
    "Exits 0 on SIGTERM or SIGINT.\n";

/* Sec-WebSocket-Accept: base64(SHA1(key + GUID)). */
char *
echo_ws_accept(const char *key)
{
	unsigned char	 md[SHA_DIGEST_LENGTH];
	unsigned char	 out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
	char		*s;

	s = xprintf("%s%s", key, ECHO_WS_GUID);
	SHA1((unsigned char *)s, strlen(s), md);
	free(s);
	EVP_EncodeBlock(out, md, sizeof md);
	return (xstrdup((char *)out));
}

static int
echo_is_tchar(int c)
{
	return (isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c)));
}

static const char *
echo_status_text(int status)
{
	switch (status) {
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 400: return ("Bad Request");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 413: return ("Content Too Large");
	case 426: return ("Upgrade Required");
	case 431: return ("Request Header Fields Too Large");
	case 501: return ("Not Implemented");
	}
	return ("Unknown");
}

/* The value of header name, or NULL; the first one if repeated. */
static const char *
echo_header(struct echo_req *req, const char *name)
{
	int	 i;

	for (i = 0; i < req->nhdrs; i++)
		if (strcasecmp(req->hdrs[i].name, name) == 0)
			return (req->hdrs[i].value);
	return (NULL);
}

/* Does the comma-separated header value list contain token? */
static int
echo_header_has(struct echo_req *req, const char *name, const char *token)
{
	const char	*v, *p;
	size_t		 n = strlen(token);
	int		 i;

	for (i = 0; i < req->nhdrs; i++) {
		if (strcasecmp(req->hdrs[i].name, name) != 0)
			continue;
		v = req->hdrs[i].value;
		for (p = v; (p = strcasestr(p, token)) != NULL; p += n) {
			if ((p == v || strchr(", \t", p[-1]) != NULL) &&
			    strchr(", \t", p[n]) != NULL)
				return (1);
		}
	}
	return (0);
}

static void
echo_req_clear(struct echo_req *req)
{
	int	 i;

	free(req->method);
	free(req->target);
	for (i = 0; i < req->nhdrs; i++) {
		free(req->hdrs[i].name);
		free(req->hdrs[i].value);
	}
	if (req->body != NULL)
		evbuffer_free(req->body);
	memset(req, 0, sizeof *req);
}

/* Write a complete response; Content-Length framed. */
static void
echo_respond(struct echo_conn *conn, int status, const char *ctype,
    const char *extra, const void *body, size_t len)
{
	struct echo_req		*req = &conn->req;
	struct evbuffer		*out = bufferevent_get_output(conn->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Server: fleet-echo\r\nX-Fleet-Instance: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: %s\r\n%s\r\n", status, echo_status_text(status),
	    conn->srv->name, ctype, len,
	    req->keepalive ? "keep-alive" : "close", extra);
	if (req->method == NULL || strcmp(req->method, "HEAD") != 0)
		evbuffer_add(out, body, len);
	log_info("%s %s -> %d", req->method != NULL ? req->method : "-",
	    req->target != NULL ? req->target : "-", status);
}

/* Stop reading requests: flush what is queued, then close. */
static int
echo_drain(struct echo_conn *conn)
{
	struct timeval	 tv = { ECHO_LINGER_SECS, 0 };

	conn->phase = ECHO_DRAIN;
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) != 0)
		return (-1);	/* the write callback goes on */
	if (conn->eof)
		echo_conn_close(conn);
	else {
		shutdown(bufferevent_getfd(conn->bev), SHUT_WR);
		conn->shut = 1;
		bufferevent_enable(conn->bev, EV_READ);
	}
	return (-1);
}

/* Answer a bad request and close: the stream cannot be trusted after it. */
static int
echo_fail(struct echo_conn *conn, int status, const char *msg)
{
	char	*body;

	body = xprintf("%s\n", msg);
	conn->req.keepalive = 0;
	echo_respond(conn, status, "text/plain", "", body, strlen(body));
	free(body);
	return (echo_drain(conn));
}

/* Parse "METHOD SP target SP HTTP/1.x". */
static int
echo_parse_request_line(struct echo_req *req, char *line)
{
	char	*sp1, *sp2, *p;

	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || sp1 == line)
		return (-1);
	*sp1 = *sp2 = '\0';
	for (p = line; *p != '\0'; p++)
		if (!echo_is_tchar((unsigned char)*p))
			return (-1);
	if (sp1[1] != '/')
		return (-1);
	for (p = sp1 + 1; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return (-1);
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		req->minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		req->minor = 0;
	else
		return (-1);
	req->method = xstrdup(line);
	req->target = xstrdup(sp1 + 1);
	return (0);
}

/* Parse "name: value"; no obs-fold, no space before the colon. */
static int
echo_parse_header(struct echo_req *req, char *line)
{
	char	*colon, *v, *end, *p;

	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return (-1);
	for (p = line; p < colon; p++)
		if (!echo_is_tchar((unsigned char)*p))
			return (-1);
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (p = v; p < end; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return (-1);
	req->hdrs[req->nhdrs].name = xstrndup(line, colon - line);
	req->hdrs[req->nhdrs].value = xstrndup(v, end - v);
	req->nhdrs++;
	return (0);
}

/* One head line: returns 1 to go on, 0 at the end of the head, -1 bad. */
static int
echo_head_line(struct echo_conn *conn, char *line, size_t n)
{
	struct echo_req	*req = &conn->req;

	if (strlen(line) != n)
		return (echo_fail(conn, 400, "NUL in request head"));
	if (req->method == NULL) {
		if (n == 0)
			return (1);	/* stray CRLF between requests */
		if (echo_parse_request_line(req, line) != 0)
			return (echo_fail(conn, 400, "bad request line"));
		return (1);
	}
	if (n == 0)
		return (0);
	if (req->nhdrs == ECHO_HEADERS_MAX)
		return (echo_fail(conn, 431, "too many header fields"));
	if (echo_parse_header(req, line) != 0)
		return (echo_fail(conn, 400, "bad header field"));
	return (1);
}

/* Content-Length: digits only; all copies must agree. */
static int
echo_content_length(struct echo_req *req, uint64_t *len)
{
	const char	*v;
	char		*end;
	uint64_t	 n;
	int		 i, seen = 0;

	*len = 0;
	for (i = 0; i < req->nhdrs; i++) {
		if (strcasecmp(req->hdrs[i].name, "Content-Length") != 0)
			continue;
		v = req->hdrs[i].value;
		if (*v < '0' || *v > '9' || strlen(v) > 18)
			return (-1);
		n = strtoull(v, &end, 10);
		if (*end != '\0' || (seen && n != *len))
			return (-1);
		*len = n;
		seen = 1;
	}
	return (seen);
}

/* A client waiting for "100 Continue" before its body gets it now. */
static void
echo_continue(struct echo_conn *conn)
{
	const char	*v = echo_header(&conn->req, "Expect");

	if (conn->req.minor == 1 && v != NULL &&
	    strcasecmp(v, "100-continue") == 0)
		evbuffer_add_printf(bufferevent_get_output(conn->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
}

static int	echo_ws_upgrade(struct echo_conn *);
static int	echo_dispatch(struct echo_conn *);

/* The head is complete: decide framing, then body or dispatch. */
static int
echo_head_done(struct echo_conn *conn)
{
	struct echo_req	*req = &conn->req;
	const char	*te;
	uint64_t	 len;
	int		 has_len;

	req->keepalive = req->minor == 1 ?
	    !echo_header_has(req, "Connection", "close") :
	    echo_header_has(req, "Connection", "keep-alive");
	if (echo_header_has(req, "Upgrade", "websocket"))
		return (echo_ws_upgrade(conn));
	te = echo_header(req, "Transfer-Encoding");
	if ((has_len = echo_content_length(req, &len)) == -1)
		return (echo_fail(conn, 400, "bad Content-Length"));
	req->body = evbuffer_new();
	if (te != NULL) {
		if (has_len || req->minor == 0)
			return (echo_fail(conn, 400, "bad message framing"));
		if (strcasecmp(te, "chunked") != 0)
			return (echo_fail(conn, 501, "unsupported encoding"));
		echo_continue(conn);
		conn->phase = ECHO_CHUNK_SIZE;
		return (1);
	}
	if (len > ECHO_BODY_MAX)
		return (echo_fail(conn, 413, "body too large"));
	if (len == 0)
		return (echo_dispatch(conn));
	echo_continue(conn);
	req->left = len;
	conn->phase = ECHO_BODY;
	return (1);
}

/* Read head lines; the head is capped at ECHO_HEAD_MAX bytes. */
static int
echo_read_head(struct echo_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	struct echo_req	*req = &conn->req;
	char		*line;
	size_t		 n;
	int		 r;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		req->head_len += n + 2;
		if (req->head_len > ECHO_HEAD_MAX) {
			free(line);
			return (echo_fail(conn, 431, "request head too large"));
		}
		r = echo_head_line(conn, line, n);
		free(line);
		if (r == 0)
			return (echo_head_done(conn));
		if (r == -1)
			return (-1);
	}
	if (req->head_len + evbuffer_get_length(in) > ECHO_HEAD_MAX)
		return (echo_fail(conn, 431, "request head too large"));
	return (0);
}

/* Move up to req->left body bytes from the socket into the body. */
static int
echo_read_body(struct echo_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	struct echo_req	*req = &conn->req;
	size_t		 n;

	n = evbuffer_get_length(in);
	if (n > req->left)
		n = req->left;
	if (n == 0 && req->left != 0)
		return (0);
	evbuffer_remove_buffer(in, req->body, n);
	req->left -= n;
	if (req->left != 0)
		return (0);
	if (conn->phase == ECHO_CHUNK_DATA) {
		conn->phase = ECHO_CHUNK_END;
		return (1);
	}
	return (echo_dispatch(conn));
}

/* "1a;ext=1" CRLF: the chunk size; 0 starts the trailer. */
static int
echo_read_chunk_size(struct echo_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	struct echo_req	*req = &conn->req;
	char		*line, *end;
	size_t		 n;
	uint64_t	 size;

	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(in) > ECHO_CHUNK_LINE_MAX)
			return (echo_fail(conn, 400, "chunk size too long"));
		return (0);
	}
	errno = 0;
	size = strtoull(line, &end, 16);
	if (!isxdigit((unsigned char)line[0]) || errno != 0 ||
	    (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')) {
		free(line);
		return (echo_fail(conn, 400, "bad chunk size"));
	}
	free(line);
	if (size > ECHO_BODY_MAX ||
	    evbuffer_get_length(req->body) + size > ECHO_BODY_MAX)
		return (echo_fail(conn, 413, "body too large"));
	conn->phase = size == 0 ? ECHO_TRAILER : ECHO_CHUNK_DATA;
	req->left = size;
	return (1);
}

/* The empty line after chunk data, or trailer lines up to an empty one. */
static int
echo_read_chunk_end(struct echo_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	struct echo_req	*req = &conn->req;
	char		*line;
	size_t		 n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		free(line);
		if (conn->phase == ECHO_CHUNK_END) {
			if (n != 0)
				return (echo_fail(conn, 400, "bad chunk end"));
			conn->phase = ECHO_CHUNK_SIZE;
			return (1);
		}
		if (n == 0)
			return (echo_dispatch(conn));
		req->head_len += n + 2;
		if (req->head_len > ECHO_HEAD_MAX)
			return (echo_fail(conn, 431, "trailer too large"));
	}
	if (evbuffer_get_length(in) > ECHO_CHUNK_LINE_MAX)
		return (echo_fail(conn, 400, "bad chunk end"));
	return (0);
}

/* Done with one request: get ready for the next or close. */
static int
echo_next(struct echo_conn *conn)
{
	struct timeval	 tv = { ECHO_IDLE_SECS, 0 };
	int		 keepalive = conn->req.keepalive;

	echo_req_clear(&conn->req);
	if (!keepalive)
		return (echo_drain(conn));
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
	conn->phase = ECHO_HEAD;
	return (1);
}

/* GET /headers: the received headers, lower-case names, repeats joined. */
static void
echo_get_headers(struct echo_conn *conn)
{
	struct echo_req	*req = &conn->req;
	cJSON		*obj, *old;
	char		*name, *v, *s;
	int		 i;

	obj = cJSON_CreateObject();
	for (i = 0; i < req->nhdrs; i++) {
		name = xstrdup(req->hdrs[i].name);
		for (s = name; *s != '\0'; s++)
			*s = tolower((unsigned char)*s);
		old = cJSON_GetObjectItemCaseSensitive(obj, name);
		if (old != NULL) {
			v = xprintf("%s, %s", cJSON_GetStringValue(old),
			    req->hdrs[i].value);
			cJSON_ReplaceItemInObjectCaseSensitive(obj, name,
			    cJSON_CreateString(v));
			free(v);
		} else
			cJSON_AddStringToObject(obj, name, req->hdrs[i].value);
		free(name);
	}
	s = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	echo_respond(conn, 200, "application/json", "", s, strlen(s));
	cJSON_free(s);
}

/* Append s to b with &, <, >, " escaped. */
static void
echo_html_escape(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': evbuffer_add_printf(b, "&amp;"); break;
		case '<': evbuffer_add_printf(b, "&lt;"); break;
		case '>': evbuffer_add_printf(b, "&gt;"); break;
		case '"': evbuffer_add_printf(b, "&quot;"); break;
		default: evbuffer_add(b, s, 1); break;
		}
	}
}

/* GET /: which instance this is, and a tiny WebSocket demo. */
static void
echo_get_index(struct echo_conn *conn)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 len;

	evbuffer_add_printf(b, "<!doctype html>\n<html><head>"
	    "<meta charset=\"utf-8\"><title>");
	echo_html_escape(b, conn->srv->name);
	evbuffer_add_printf(b, "</title></head><body>\n<h1>fleet echo: ");
	echo_html_escape(b, conn->srv->name);
	evbuffer_add_printf(b, "</h1>\n<p>instance <b id=\"name\">");
	echo_html_escape(b, conn->srv->name);
	evbuffer_add_printf(b, "</b> is up.</p>\n"
	    "<input id=\"msg\" value=\"hello\"> "
	    "<button onclick=\"send()\">send over WebSocket</button>\n"
	    "<pre id=\"log\"></pre>\n<script>\n"
	    "var log = document.getElementById('log');\n"
	    "var p = location.protocol === 'https:' ? 'wss://' : 'ws://';\n"
	    "var ws = new WebSocket(p + location.host + '/ws');\n"
	    "ws.onopen = function () { log.textContent += 'open\\n'; };\n"
	    "ws.onmessage = function (e) {\n"
	    "  log.textContent += 'echo: ' + e.data + '\\n'; };\n"
	    "ws.onclose = function () { log.textContent += 'closed\\n'; };\n"
	    "function send() {\n"
	    "  ws.send(document.getElementById('msg').value); }\n"
	    "</script>\n</body></html>\n");
	len = evbuffer_get_length(b);
	echo_respond(conn, 200, "text/html; charset=utf-8", "",
	    evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
}

/* A query parameter as a bounded integer, else the default. */
static int
echo_query_int(const char *target, const char *key, int min, int max,
    int dflt)
{
	const char	*q, *p;
	size_t		 klen = strlen(key);
	long		 v;

	if ((q = strchr(target, '?')) == NULL)
		return (dflt);
	for (p = q + 1; p != NULL && *p != '\0'; p = strchr(p, '&')) {
		if (*p == '&')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			v = strtol(p + klen + 1, NULL, 10);
			if (v < min)
				return (min);
			return (v > max ? max : (int)v);
		}
	}
	return (dflt);
}

/* Send one SSE event; after the last, end the response. */
static void
echo_sse_tick(evutil_socket_t fd __unused, short events __unused, void *arg)
{
	struct echo_conn	*conn = arg;
	struct evbuffer		*out = bufferevent_get_output(conn->bev);
	struct timeval		 tv;
	char			*ev;

	if (conn->dead)
		return;
	conn->sse_seq++;
	ev = xprintf("id: %d\ndata: {\"seq\":%d,\"n\":%d}\n\n",
	    conn->sse_seq, conn->sse_seq, conn->sse_n);
	if (conn->sse_chunked)
		evbuffer_add_printf(out, "%zx\r\n%s\r\n", strlen(ev), ev);
	else
		evbuffer_add(out, ev, strlen(ev));
	free(ev);
	if (conn->sse_seq < conn->sse_n) {
		tv.tv_sec = conn->sse_ms / 1000;
		tv.tv_usec = (conn->sse_ms % 1000) * 1000;
		evtimer_add(conn->tick, &tv);
		return;
	}
	if (conn->sse_chunked)
		evbuffer_add_printf(out, "0\r\n\r\n");
	if (echo_next(conn) == 1)
		echo_process(conn);	/* pipelined requests waited */
}

/* GET /stream?n=5&ms=100: text/event-stream, flushed event by event. */
static void
echo_sse_start(struct echo_conn *conn)
{
	struct echo_req	*req = &conn->req;
	struct timeval	 tv = { 0, 0 };

	conn->sse_n = echo_query_int(req->target, "n", 1, 10000, 5);
	conn->sse_ms = echo_query_int(req->target, "ms", 0, 60000, 100);
	conn->sse_seq = 0;
	conn->sse_chunked = req->minor == 1;
	if (!conn->sse_chunked)
		req->keepalive = 0;
	evbuffer_add_printf(bufferevent_get_output(conn->bev),
	    "HTTP/1.1 200 OK\r\nServer: fleet-echo\r\n"
	    "X-Fleet-Instance: %s\r\nContent-Type: text/event-stream\r\n"
	    "Cache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
	    conn->srv->name,
	    conn->sse_chunked ? "Transfer-Encoding: chunked\r\n" : "",
	    req->keepalive ? "keep-alive" : "close");
	log_info("%s %s -> 200 (stream)", req->method, req->target);
	conn->phase = ECHO_STREAM;
	bufferevent_set_timeouts(conn->bev, NULL, NULL); /* may be long */
	if (conn->tick == NULL)
		conn->tick = evtimer_new(conn->srv->base, echo_sse_tick, conn);
	evtimer_add(conn->tick, &tv);
}

/* Route a complete request. */
static int
echo_dispatch(struct echo_conn *conn)
{
	struct echo_req	*req = &conn->req;
	const char	*m = req->method, *ct;
	size_t		 plen = strcspn(req->target, "?");
	size_t		 len;

#define PATH_IS(s) (plen == strlen(s) && strncmp(req->target, s, plen) == 0)
	if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
		if ((ct = echo_header(req, "Content-Type")) == NULL)
			ct = "application/octet-stream";
		len = evbuffer_get_length(req->body);
		echo_respond(conn, 200, ct, "",
		    evbuffer_pullup(req->body, -1), len);
	} else if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		echo_respond(conn, 405, "text/plain",
		    "Allow: GET, HEAD, POST, PUT\r\n", "method not allowed\n",
		    19);
	} else if (PATH_IS("/health"))
		echo_respond(conn, 200, "application/json", "",
		    "{\"status\":\"ok\"}", 15);
	else if (PATH_IS("/"))
		echo_get_index(conn);
	else if (PATH_IS("/headers"))
		echo_get_headers(conn);
	else if (PATH_IS("/stream") && strcmp(m, "GET") == 0) {
		echo_sse_start(conn);
		return (0);
	} else if (PATH_IS("/ws"))
		echo_respond(conn, 426, "text/plain",
		    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
		    "websocket only\n", 15);
	else
		echo_respond(conn, 404, "text/plain", "", "not found\n", 10);
#undef PATH_IS
	return (echo_next(conn));
}

/* Queue one unmasked server frame. */
static void
echo_ws_send(struct echo_conn *conn, int opcode, const void *data,
    size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(conn->bev);
	unsigned char	 h[10];
	size_t		 hlen = 2;
	int		 i;

	h[0] = 0x80 | opcode;
	if (len < 126)
		h[1] = len;
	else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = len >> 8;
		h[3] = len & 0xff;
		hlen = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = ((uint64_t)len >> (56 - 8 * i)) & 0xff;
		hlen = 10;
	}
	evbuffer_add(out, h, hlen);
	evbuffer_add(out, data, len);
}

/* Close the WebSocket with a status code; the connection follows. */
static int
echo_ws_fail(struct echo_conn *conn, int code)
{
	unsigned char	 b[2] = { code >> 8, code & 0xff };

	echo_ws_send(conn, 0x8, b, sizeof b);
	return (echo_drain(conn));
}

/* Answer the opening handshake (RFC 6455 section 4.2). */
static int
echo_ws_upgrade(struct echo_conn *conn)
{
	struct echo_req	*req = &conn->req;
	const char	*key, *ver;
	char		*accept;

	key = echo_header(req, "Sec-WebSocket-Key");
	ver = echo_header(req, "Sec-WebSocket-Version");
	if (strcmp(req->method, "GET") != 0 || req->minor != 1 ||
	    key == NULL || strlen(key) != 24 ||
	    !echo_header_has(req, "Connection", "upgrade"))
		return (echo_fail(conn, 400, "bad websocket handshake"));
	if (ver == NULL || strcmp(ver, "13") != 0) {
		req->keepalive = 0;
		echo_respond(conn, 426, "text/plain",
		    "Sec-WebSocket-Version: 13\r\n", "version 13 only\n", 16);
		return (echo_drain(conn));
	}
	accept = echo_ws_accept(key);
	evbuffer_add_printf(bufferevent_get_output(conn->bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "X-Fleet-Instance: %s\r\n\r\n", accept, conn->srv->name);
	free(accept);
	log_info("%s %s -> 101", req->method, req->target);
	echo_req_clear(req);
	conn->phase = ECHO_WS;
	bufferevent_set_timeouts(conn->bev, NULL, NULL);
	return (1);
}

/* Act on one whole, unmasked frame. */
static int
echo_ws_handle(struct echo_conn *conn, int fin, int op, unsigned char *p,
    size_t len)
{
	switch (op) {
	case 0x0:
		if (conn->ws_msg == NULL)
			return (echo_ws_fail(conn, 1002));
		if (evbuffer_get_length(conn->ws_msg) + len > ECHO_FRAME_MAX)
			return (echo_ws_fail(conn, 1009));
		evbuffer_add(conn->ws_msg, p, len);
		if (!fin)
			return (1);
		len = evbuffer_get_length(conn->ws_msg);
		echo_ws_send(conn, conn->ws_opcode,
		    evbuffer_pullup(conn->ws_msg, -1), len);
		evbuffer_free(conn->ws_msg);
		conn->ws_msg = NULL;
		return (1);
	case 0x1:
	case 0x2:
		if (conn->ws_msg != NULL)
			return (echo_ws_fail(conn, 1002));
		if (fin) {
			echo_ws_send(conn, op, p, len);
			return (1);
		}
		conn->ws_msg = evbuffer_new();
		conn->ws_opcode = op;
		evbuffer_add(conn->ws_msg, p, len);
		return (1);
	case 0x8:
		echo_ws_send(conn, 0x8, p, len >= 2 ? 2 : 0);
		return (echo_drain(conn));
	case 0x9:
		echo_ws_send(conn, 0xa, p, len);
		return (1);
	case 0xa:
		return (1);
	}
	return (echo_ws_fail(conn, 1002));
}

/* Parse one client frame if it is all here: masked, capped, strict. */
static int
echo_ws_read(struct echo_conn *conn)
{
	struct evbuffer	*in = bufferevent_get_input(conn->bev);
	size_t		 avail = evbuffer_get_length(in), hlen, i;
	unsigned char	*h, mask[4], *p;
	uint64_t	 len;
	int		 fin, op, r;

	if (avail < 2)
		return (0);
	h = evbuffer_pullup(in, 2);
	fin = h[0] & 0x80;
	op = h[0] & 0x0f;
	if ((h[0] & 0x70) != 0 || (h[1] & 0x80) == 0)
		return (echo_ws_fail(conn, 1002));
	len = h[1] & 0x7f;
	hlen = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + 4;
	if (avail < hlen)
		return (0);
	h = evbuffer_pullup(in, hlen);
	if (len >= 126) {
		for (len = 0, i = 2; i < hlen - 4; i++)
			len = (len << 8) | h[i];
	}
	if (len > ECHO_FRAME_MAX)
		return (echo_ws_fail(conn, 1009));
	if (op >= 0x8 && (!fin || len > 125))
		return (echo_ws_fail(conn, 1002));
	if (avail < hlen + len)
		return (0);
	memcpy(mask, h + hlen - 4, 4);
	evbuffer_drain(in, hlen);
	p = xmalloc(len + 1);
	evbuffer_remove(in, p, len);
	for (i = 0; i < len; i++)
		p[i] ^= mask[i % 4];
	r = echo_ws_handle(conn, fin, op, p, len);
	free(p);
	return (r);
}

/* Run the connection's state machine over what input there is. */
static int
echo_process(struct echo_conn *conn)
{
	struct evbuffer	*out = bufferevent_get_output(conn->bev);
	int		 r = 1;

	while (r == 1 && !conn->dead) {
		if (evbuffer_get_length(out) > ECHO_OUT_HIGH) {
			bufferevent_disable(conn->bev, EV_READ);
			return (0);	/* resumed by the write callback */
		}
		switch (conn->phase) {
		case ECHO_HEAD:
			r = echo_read_head(conn);
			break;
		case ECHO_BODY:
		case ECHO_CHUNK_DATA:
			r = echo_read_body(conn);
			break;
		case ECHO_CHUNK_SIZE:
			r = echo_read_chunk_size(conn);
			break;
		case ECHO_CHUNK_END:
		case ECHO_TRAILER:
			r = echo_read_chunk_end(conn);
			break;
		case ECHO_WS:
			r = echo_ws_read(conn);
			break;
		case ECHO_STREAM:
			return (0);
		case ECHO_DRAIN:
			evbuffer_drain(bufferevent_get_input(conn->bev),
			    evbuffer_get_length(
			    bufferevent_get_input(conn->bev)));
			return (-1);
		}
	}
	return (r);
}

static void
echo_read_cb(struct bufferevent *bev __unused, void *arg)
{
	struct echo_conn	*conn = arg;

	if (!conn->dead)
		echo_process(conn);
}

/* Output drained: finish a close, or resume reading after backpressure. */
static void
echo_write_cb(struct bufferevent *bev, void *arg)
{
	struct echo_conn	*conn = arg;

	if (conn->dead)
		return;
	if (conn->phase == ECHO_DRAIN) {
		if (!conn->shut)
			echo_drain(conn);
		return;
	}
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		echo_process(conn);
	}
}

/* EOF, error or timeout: a peer that half-closed still gets its reply. */
static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct echo_conn	*conn = arg;

	if (conn->dead)
		return;
	if (what & BEV_EVENT_EOF)
		conn->eof = 1;
	if ((what & BEV_EVENT_EOF) && conn->phase != ECHO_DRAIN &&
	    conn->phase != ECHO_STREAM &&
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0) {
		echo_drain(conn);
		return;
	}
	if ((what & BEV_EVENT_EOF) && conn->phase == ECHO_DRAIN &&
	    !conn->shut)
		return;	/* the write callback flushes, then closes */
	echo_conn_close(conn);
}

/* The one close function: unhook now, free later from the reaper. */
static void
echo_conn_close(struct echo_conn *conn)
{
	struct echo_server	*srv = conn->srv;

	if (conn->dead)
		return;
	conn->dead = 1;
	bufferevent_setcb(conn->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	if (conn->tick != NULL)
		evtimer_del(conn->tick);
	TAILQ_REMOVE(&srv->conns, conn, entry);
	TAILQ_INSERT_TAIL(&srv->dead, conn, entry);
	srv->nconns--;
	event_active(srv->ev_reap, 0, 0);
}

static void
echo_conn_free(struct echo_conn *conn)
{
	echo_req_clear(&conn->req);
	if (conn->ws_msg != NULL)
		evbuffer_free(conn->ws_msg);
	if (conn->tick != NULL)
		event_free(conn->tick);
	bufferevent_free(conn->bev);
	free(conn);
}

static void
echo_reap_cb(evutil_socket_t fd __unused, short events __unused, void *arg)
{
	struct echo_server	*srv = arg;
	struct echo_conn	*conn;

	while ((conn = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, conn, entry);
		echo_conn_free(conn);
	}
}

static void
echo_accept_cb(struct evconnlistener *l __unused, evutil_socket_t fd,
    struct sockaddr *sa __unused, int salen __unused, void *arg)
{
	struct echo_server	*srv = arg;
	struct echo_conn	*conn;
	struct timeval		 tv = { ECHO_IDLE_SECS, 0 };

	if (srv->nconns >= ECHO_CONNS_MAX) {
		log_warn("too many connections");
		evutil_closesocket(fd);
		return;
	}
	conn = xcalloc(1, sizeof *conn);
	conn->srv = srv;
	conn->phase = ECHO_HEAD;
	conn->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(conn->bev, echo_read_cb, echo_write_cb,
	    echo_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, ECHO_IN_HIGH);
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&srv->conns, conn, entry);
	srv->nconns++;
}

static void
echo_signal_cb(evutil_socket_t sig, short events __unused, void *arg)
{
	struct echo_server	*srv = arg;

	log_info("signal %d, exiting", (int)sig);
	event_base_loopexit(srv->base, NULL);
}

/* Bind and listen on addr:port; print the chosen address. */
static int
echo_listen(struct echo_server *srv, const char *addr, const char *port)
{
	struct addrinfo		 hints, *ai;
	struct sockaddr_storage	 ss;
	socklen_t		 slen = sizeof ss;
	char			 host[NI_MAXHOST], serv[NI_MAXSERV];
	int			 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((error = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		log_error("%s:%s: %s", addr, port, gai_strerror(error));
		return (-1);
	}
	srv->listener = evconnlistener_new_bind(srv->base, echo_accept_cb,
	    srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, 128, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (srv->listener == NULL) {
		log_error("listen on %s:%s: %s", addr, port, strerror(errno));
		return (-1);
	}
	getsockname(evconnlistener_get_fd(srv->listener),
	    (struct sockaddr *)&ss, &slen);
	getnameinfo((struct sockaddr *)&ss, slen, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
	fprintf(stderr, strchr(host, ':') != NULL ? "listening on [%s]:%s\n" :
	    "listening on %s:%s\n", host, serv);
	fflush(stderr);
	return (0);
}

static void
echo_server_free(struct echo_server *srv)
{
	struct echo_conn	*conn;

	while ((conn = TAILQ_FIRST(&srv->conns)) != NULL) {
		TAILQ_REMOVE(&srv->conns, conn, entry);
		echo_conn_free(conn);
	}
	while ((conn = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, conn, entry);
		echo_conn_free(conn);
	}
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	event_free(srv->ev_term);
	event_free(srv->ev_int);
	event_free(srv->ev_reap);
	event_base_free(srv->base);
}

/* --port N --bind ADDR; returns 0 or an exit code. */
static int
echo_parse_args(int argc, char **argv, const char **addr, char **port)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end;
	long	 n;
	int	 ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "p:b:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 0 ||
			    n > 65535) {
				fprintf(stderr, "fleet echo-server: bad port: "
				    "%s\n", optarg);
				return (FLEET_EXIT_USAGE);
			}
			free(*port);
			*port = xprintf("%ld", n);
			break;
		case 'b':
			*addr = optarg;
			break;
		default:
			fprintf(stderr, "fleet echo-server: unknown option or "
			    "missing argument: %s\nusage: fleet echo-server "
			    "%s\n", argv[optind - 1],
			    cmd_echo_server_entry.usage);
			return (FLEET_EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fleet echo-server: unexpected argument: %s\n",
		    argv[optind]);
		return (FLEET_EXIT_USAGE);
	}
	return (0);
}

static int
cmd_echo_server_exec(struct cmd_ctx *ctx __unused, int argc, char **argv)
{
	struct echo_server	 srv;
	const char		*addr = "127.0.0.1", *env;
	char			*port;
	int			 r;

	env = getenv("PORT");
	port = xstrdup(env != NULL && *env != '\0' ? env : "8080");
	if ((r = echo_parse_args(argc, argv, &addr, &port)) != 0) {
		free(port);
		return (r);
	}
	memset(&srv, 0, sizeof srv);
	env = getenv("FLEET_INSTANCE_NAME");
	srv.name = env != NULL && *env != '\0' ? env : "echo";
	TAILQ_INIT(&srv.conns);
	TAILQ_INIT(&srv.dead);
	signal(SIGPIPE, SIG_IGN);
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	srv.ev_term = evsignal_new(srv.base, SIGTERM, echo_signal_cb, &srv);
	srv.ev_int = evsignal_new(srv.base, SIGINT, echo_signal_cb, &srv);
	srv.ev_reap = event_new(srv.base, -1, 0, echo_reap_cb, &srv);
	evsignal_add(srv.ev_term, NULL);
	evsignal_add(srv.ev_int, NULL);
	r = echo_listen(&srv, addr, port);
	free(port);
	if (r == 0)
		event_base_dispatch(srv.base);
	echo_server_free(&srv);
	return (r == 0 ? FLEET_EXIT_OK : FLEET_EXIT_FAIL);
}

const struct cmd_entry cmd_echo_server_entry = {
	"echo-server",
	"[--port N] [--bind ADDR]",
	"run the built-in HTTP+WebSocket echo server (demo upstream)",
	echo_help,
	cmd_echo_server_exec,
	0
};
