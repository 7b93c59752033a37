/* proxy.h: the stable endpoint: a libevent reverse proxy (daemon only). */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct proxy;

/* Where a deployment's traffic should go right now. */
enum route_state {
	ROUTE_READY,	/* upstream is healthy: forward */
	ROUTE_HOLD,	/* booting or being replaced: hold, then 503 */
	ROUTE_STOPPED,	/* stopped: 503, or wake if the route allows it */
	ROUTE_DOWN,	/* not running: 503 at once */
};

struct proxy_route {
	const char	*name;		/* deployment name (Host: NAME.localhost) */
	int		 port;		/* stable local port, 0 = shared only */
	const char	*upstream;	/* http://h:p, https://h:p, tcp://h:p */
	enum route_state state;
	int		 tcp;		/* raw TCP relay, not HTTP */
	int		 wake_on_request;
};

/* Per-deployment counters: the watchdog's input and /metrics. */
struct proxy_stats {
	int64_t		 last_request;	/* wall clock, 0 = never */
	int64_t		 last_activity_mono;	/* ms, any byte either way */
	uint64_t	 bytes_in;	/* client -> upstream */
	uint64_t	 bytes_out;	/* upstream -> client */
	uint64_t	 requests;
	uint64_t	 upstream_errors;
	uint64_t	 websockets;	/* upgraded connections, total */
	int		 open_conns;
	int		 open_websockets;
	uint64_t	 latency_buckets[12];	/* see proxy_latency_bounds */
	double		 latency_sum;	/* seconds, to first response byte */
};

struct proxy_config {
	const char	*bind;		/* default 127.0.0.1 */
	int		 shared_port;	/* 0 = none */
	const char	*token;		/* bearer token, NULL = none */
	int64_t		 hold_timeout_ms;
	int		 max_header_bytes;
	int64_t		 header_timeout_ms;	/* slowloris guard, def 10 s */
	int64_t		 idle_conn_timeout_ms;	/* keep-alive idle, def 120 s */
	int64_t		 body_timeout_ms;	/* request body idle, def 60 s */
	int64_t		 upstream_timeout_ms;	/* response idle, def 300 s */
	char *const	*allowed_hosts;	/* Host names besides loopback */
	size_t		 nallowed_hosts;
	const char	*ca_file;	/* extra CA for https upstreams */
};

/* Called when a request arrives for a stopped route with wake_on_request. */
typedef void (*proxy_wake_cb)(const char *name, void *arg);
/* Called to answer GET /metrics on the shared port (text appended). */
typedef void (*proxy_metrics_cb)(struct proxy *, char **text, void *arg);

struct proxy	*proxy_create(struct event_base *, const struct proxy_config *,
		    char **cause);
void		 proxy_set_callbacks(struct proxy *, proxy_wake_cb,
		    proxy_metrics_cb, void *arg);
/*
 * Replace the routing table. Opens listeners for new ports, closes those
 * of vanished routes (their open connections finish), and releases held
 * requests whose route became ready. Returns -1 if a port cannot be bound
 * (cause names it); the other routes are still applied.
 */
int		 proxy_set_routes(struct proxy *, const struct proxy_route *,
		    size_t, char **cause);
int		 proxy_stats_get(struct proxy *, const char *name,
		    struct proxy_stats *);
void		 proxy_totals(struct proxy *, int *open_conns,
		    uint64_t *requests, uint64_t *bytes_in, uint64_t *bytes_out);
/* Stop accepting; existing connections drain. */
void		 proxy_shutdown(struct proxy *);
int		 proxy_open_conns(struct proxy *);
void		 proxy_free(struct proxy *);
extern const double proxy_latency_bounds[12];

#endif
