/* proxy-int.h: the proxy's internal objects, shared by the proxy*.c files. */
#ifndef PROXY_INT_H
#define PROXY_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

struct bufferevent;
struct evbuffer;
struct evconnlistener;
struct evdns_base;
struct event;
struct sockaddr;
struct ssl_ctx_st;

#define PROXY_HEADERS_MAX	100
#define PROXY_OUT_HIGH		(512 * 1024)	/* stop moving above this */
#define PROXY_IN_HIGH		(256 * 1024)	/* socket read cap */
#define PROXY_PIPELINE_MAX	16	/* requests awaiting responses */
#define PROXY_CHUNK_LINE_MAX	1024
#define PROXY_TRAILER_MAX	(16 * 1024)
#define PROXY_RESP_HEAD_MAX	(64 * 1024)
#define PROXY_CONNS_MAX		4096
#define PROXY_BODY_MIN_RATE	500	/* bytes/s a request body must keep */

/* One header field, pointing into the parsed buffer. */
struct proxy_hdr {
	const char	*name;
	size_t		 nlen;
	const char	*value;
	size_t		 vlen;
};

/* A parsed request or response head; pointers into the caller's buffer. */
struct proxy_head {
	int		 response;
	const char	*line;		/* start line, without CRLF */
	size_t		 llen;
	const char	*method;	/* requests */
	size_t		 mlen;
	const char	*target;
	size_t		 tlen;
	int		 status;	/* responses */
	int		 minor;		/* HTTP/1.minor */
	struct proxy_hdr hdrs[PROXY_HEADERS_MAX];
	int		 nhdrs;
	size_t		 len;		/* through the blank line */
};

/* How a message body is delimited, and how far we are through it. */
enum proxy_body_kind {
	BODY_NONE,
	BODY_LENGTH,
	BODY_CHUNKED,
	BODY_EOF		/* response read until the upstream closes */
};

struct proxy_body {
	enum proxy_body_kind kind;
	int		 cstate;	/* chunked: size, data, CRLF, trailer */
	uint64_t	 left;
	size_t		 tlen;		/* trailer bytes so far */
};

/* Where an upstream URL points. */
struct proxy_url {
	int		 tls;
	int		 tcp;
	char		 host[256];
	int		 port;
	int		 dflt_port;	/* the scheme's default port */
};

/* What the request head sent upstream must say besides the client's. */
struct proxy_fwd {
	const struct proxy_body *body;	/* the framing fleet parsed */
	const char	*hostport;	/* upstream Host */
	const char	*peer;		/* client address for X-Forwarded-For */
	const char	*token;		/* fleet token to strip, or NULL */
	int		 upgrade;
	int		 close;
};

struct proxy_conn;

/* A deployment's route; kept (with its stats) until the proxy is freed. */
struct proxy_rt {
	struct proxy		*px;
	char			*name;
	int			 port;
	char			*upstream;
	enum route_state	 state;
	int			 tcp;
	int			 wake;
	int			 active;
	int			 woken;		/* wake callback called */
	int64_t			 woken_at;
	int			 wake_pending;
	int64_t			 warned_at;	/* log rate limit */
	struct proxy_stats	 stats;
	struct proxy_listener	*lis;
	TAILQ_HEAD(, proxy_conn) held;
	TAILQ_ENTRY(proxy_rt)	 entry;
};

struct proxy_listener {
	struct proxy		*px;
	struct proxy_rt		*rt;	/* NULL on the shared port */
	int			 port;
	int			 paused;	/* after an accept error */
	struct evconnlistener	*el;
};

/* One connection to an upstream, owned by one client connection. */
struct proxy_up {
	struct proxy_conn	*conn;	/* NULL once detached */
	struct bufferevent	*bev;
	struct proxy_rt		*rt;
	char			*url;
	char			*hostport;	/* Host sent upstream */
	int			 tls;
	int			 connected;
	int			 eof;		/* EOF or error seen */
	int			 error;
	TAILQ_ENTRY(proxy_up)	 entry;
};

/* One request forwarded upstream whose response has not finished. */
struct proxy_pend {
	int		 head_req;
	int		 upgrade;
	int		 keepalive;
	int		 minor;
	int64_t		 t0;		/* mono ms when forwarded */
	int		 timed;		/* latency recorded */
	int		 answered;	/* some response bytes reached client */
};

enum proxy_phase {
	PHASE_HEAD,		/* waiting for a request head */
	PHASE_BODY,		/* forwarding a request body */
	PHASE_TUNNEL,		/* WebSocket or raw TCP: bytes both ways */
	PHASE_CLOSING		/* flushing output, then close */
};

struct proxy_conn {
	struct proxy		*px;
	struct proxy_rt		*port_rt;	/* stable port's route */
	struct proxy_rt		*rt;		/* counted in rt's open_conns */
	struct bufferevent	*bev;
	struct proxy_up		*up;
	char			 peer[64];
	enum proxy_phase	 phase;
	struct proxy_body	 req;
	int			 resp_head;	/* 1 = waiting for a head */
	struct proxy_body	 resp;
	int			 resp_close;	/* close after this response */
	int			 up_close;	/* upstream closes after this */
	struct proxy_pend	 pend[PROXY_PIPELINE_MAX];
	int			 npend;
	int			 no_more;	/* no further requests */
	int			 eof;		/* client sent FIN */
	int			 websocket;
	int			 tcp;		/* raw relay route */
	int			 held;		/* on hold_rt->held */
	int			 hold_expired;	/* answer 503 now */
	int			 shut;		/* SHUT_WR done */
	int			 dead;
	struct proxy_rt		*hold_rt;
	int64_t			 head_since;	/* head started, mono ms */
	int64_t			 last_mono;	/* last byte either way */
	int64_t			 hold_since;	/* parked since, 0 = not */
	int64_t			 body_mono;	/* last request body byte */
	int64_t			 body_since;	/* body rate window start */
	uint64_t		 body_bytes;	/* body bytes in that window */
	size_t			 head_scan;
	size_t			 up_scan;
	TAILQ_ENTRY(proxy_conn)	 entry;		/* px conns or dead */
	TAILQ_ENTRY(proxy_conn)	 hentry;	/* rt->held */
};

TAILQ_HEAD(proxy_conns, proxy_conn);
TAILQ_HEAD(proxy_ups, proxy_up);
TAILQ_HEAD(proxy_rts, proxy_rt);

struct proxy {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct ssl_ctx_st	*ssl_ctx;
	char			*bind;
	int			 shared_port;
	char			*token;
	int64_t			 hold_ms;
	size_t			 max_head;
	int64_t			 head_ms;
	int64_t			 idle_ms;
	int64_t			 body_ms;
	int64_t			 up_ms;
	int64_t			 sweep_ms;
	char			**allowed;	/* Host names besides loopback */
	size_t			 nallowed;
	int			 shut;
	struct proxy_listener	*shared;
	struct proxy_rts	 routes;
	struct proxy_conns	 conns;
	struct proxy_conns	 dead;
	struct proxy_ups	 dead_ups;
	int			 nconns;
	struct event		*ev_sweep;
	struct event		*ev_reap;
	struct event		*ev_wake;
	proxy_wake_cb		 wake_cb;
	proxy_metrics_cb	 metrics_cb;
	void			*cb_arg;
};

/* proxy-http.c: strict parsing and rewriting of HTTP/1.x heads. */
int	 proxy_parse_head(const char *, size_t, int response,
	    struct proxy_head *);
const struct proxy_hdr *proxy_head_get(const struct proxy_head *,
	    const char *);
int	 proxy_head_has(const struct proxy_head *, const char *,
	    const char *);
int	 proxy_req_framing(const struct proxy_head *, struct proxy_body *);
int	 proxy_resp_framing(const struct proxy_head *, int head_req,
	    struct proxy_body *);
int	 proxy_body_move(struct proxy_body *, struct evbuffer *,
	    struct evbuffer *, size_t max, size_t *moved);
void	 proxy_write_request(const struct proxy_head *,
	    const struct proxy_fwd *, struct evbuffer *);
void	 proxy_write_response(const struct proxy_head *, const char *conn,
	    struct evbuffer *);
int	 proxy_auth_is(const struct proxy_hdr *, const char *token);
int	 proxy_url_parse(const char *, struct proxy_url *);
int	 proxy_req_host(const struct proxy_head *, const char **, size_t *);
int	 proxy_host_allowed(const char *, size_t, char *const *, size_t);
char	*proxy_host_norm(const char *);
int	 proxy_host_route(const struct proxy_head *, char *, size_t);
const char *proxy_status_text(int);

/* proxy-tls.c: https upstreams. */
struct ssl_ctx_st *proxy_tls_ctx(const char *ca_file, char **cause);
struct bufferevent *proxy_tls_bev(struct proxy *, const struct proxy_url *);
int	 proxy_tls_explain(struct bufferevent *, char *, size_t);

/* proxy-conn.c: one client connection and its upstream. */
void	 proxy_conn_accept(struct proxy_listener *, int fd,
	    const struct sockaddr *);
void	 proxy_conn_process(struct proxy_conn *);
void	 proxy_conn_close(struct proxy_conn *);
void	 proxy_conn_free(struct proxy_conn *);
void	 proxy_conn_reply(struct proxy_conn *, int status, const char *extra,
	    const char *ctype, const char *body, int keep);
void	 proxy_conn_release(struct proxy_conn *, int expired);
void	 proxy_conn_sweep(struct proxy_conn *, int64_t now);
void	 proxy_up_free(struct proxy_up *);

/* proxy.c: routes, holding and counters. */
void	 proxy_rt_bind(struct proxy_conn *, struct proxy_rt *);
struct proxy_rt *proxy_rt_find(struct proxy *, const char *);
void	 proxy_rt_hold(struct proxy_rt *, struct proxy_conn *);
void	 proxy_rt_unhold(struct proxy_conn *);
void	 proxy_rt_count_request(struct proxy_rt *);
void	 proxy_rt_activity(struct proxy_rt *, uint64_t in, uint64_t out);
void	 proxy_rt_latency(struct proxy_rt *, int64_t ms);
void	 proxy_rt_error(struct proxy_rt *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
const char *proxy_state_name(enum route_state);

#endif
