/* proxy.c: the stable endpoint: routes, listeners, holding and counters. */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "fleet.h"
#include "proxy-int.h"

#define PROXY_WARN_MS	1000	/* one upstream warning per route per second */

/* Seconds to first response byte; counts are per bucket, not cumulative. */
const double proxy_latency_bounds[12] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, INFINITY
};

const char *
proxy_state_name(enum route_state s)
{
	switch (s) {
	case ROUTE_READY: return ("ready");
	case ROUTE_HOLD: return ("booting");
	case ROUTE_STOPPED: return ("stopped");
	case ROUTE_DOWN: return ("down");
	}
	return ("down");
}

static void
proxy_accept_cb(struct evconnlistener *el __unused, evutil_socket_t fd,
    struct sockaddr *sa, int salen __unused, void *arg)
{
	proxy_conn_accept(arg, fd, sa);
}

/* Out of descriptors: pause accepting until the next sweep. */
static void
proxy_accept_error_cb(struct evconnlistener *el, void *arg)
{
	struct proxy_listener	*l = arg;

	log_warn("accept on port %d: %s", l->port, strerror(errno));
	evconnlistener_disable(el);
	l->paused = 1;
}

/* Listen on bind:port (SO_REUSEADDR); NULL with a cause on failure. */
static struct proxy_listener *
proxy_listen(struct proxy *px, struct proxy_rt *rt, int port, char **cause)
{
	struct proxy_listener	*l;
	struct addrinfo		 hints, *ai;
	char			 serv[16];
	int			 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(serv, sizeof serv, "%d", port);
	if ((error = getaddrinfo(px->bind, serv, &hints, &ai)) != 0) {
		xasprintf(cause, "%s:%d: %s", px->bind, port,
		    gai_strerror(error));
		return (NULL);
	}
	l = xcalloc(1, sizeof *l);
	l->px = px;
	l->rt = rt;
	l->port = port;
	l->el = evconnlistener_new_bind(px->base, proxy_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (l->el == NULL) {
		xasprintf(cause, "cannot listen on %s:%d: %s", px->bind, port,
		    strerror(errno));
		free(l);
		return (NULL);
	}
	evconnlistener_set_error_cb(l->el, proxy_accept_error_cb);
	return (l);
}

static void
proxy_listener_free(struct proxy_listener *l)
{
	if (l != NULL) {
		evconnlistener_free(l->el);
		free(l);
	}
}

/* Any route by name, active or not (stats outlive routes). */
static struct proxy_rt *
proxy_rt_any(struct proxy *px, const char *name)
{
	struct proxy_rt	*rt;

	TAILQ_FOREACH(rt, &px->routes, entry)
		if (strcmp(rt->name, name) == 0)
			return (rt);
	return (NULL);
}

struct proxy_rt *
proxy_rt_find(struct proxy *px, const char *name)
{
	struct proxy_rt	*rt = proxy_rt_any(px, name);

	return (rt != NULL && rt->active ? rt : NULL);
}

/* Count conn against rt (and no longer against its previous route). */
void
proxy_rt_bind(struct proxy_conn *conn, struct proxy_rt *rt)
{
	if (conn->rt == rt)
		return;
	if (conn->rt != NULL)
		conn->rt->stats.open_conns--;
	conn->rt = rt;
	rt->stats.open_conns++;
}

/* Park conn on rt; a stopped route with wake_on_request is woken once. */
void
proxy_rt_hold(struct proxy_rt *rt, struct proxy_conn *conn)
{
	struct proxy	*px = rt->px;

	if (conn->held)
		return;
	TAILQ_INSERT_TAIL(&rt->held, conn, hentry);
	conn->held = 1;
	conn->hold_rt = rt;
	if (rt->state == ROUTE_STOPPED && rt->wake && !rt->woken) {
		rt->woken = 1;
		rt->woken_at = now_mono_ms();
		rt->wake_pending = 1;
		event_active(px->ev_wake, 0, 0);	/* not from here */
	}
}

void
proxy_rt_unhold(struct proxy_conn *conn)
{
	if (!conn->held)
		return;
	TAILQ_REMOVE(&conn->hold_rt->held, conn, hentry);
	conn->held = 0;
	conn->hold_rt = NULL;
}

void
proxy_rt_count_request(struct proxy_rt *rt)
{
	rt->stats.requests++;
	rt->stats.last_request = now_wall();
	rt->stats.last_activity_mono = now_mono_ms();
}

void
proxy_rt_activity(struct proxy_rt *rt, uint64_t in, uint64_t out)
{
	rt->stats.bytes_in += in;
	rt->stats.bytes_out += out;
	rt->stats.last_activity_mono = now_mono_ms();
}

void
proxy_rt_latency(struct proxy_rt *rt, int64_t ms)
{
	double	 s = ms / 1000.0;
	size_t	 i;

	for (i = 0; i < nitems(proxy_latency_bounds) - 1; i++)
		if (s <= proxy_latency_bounds[i])
			break;
	rt->stats.latency_buckets[i]++;
	rt->stats.latency_sum += s;
}

/* Count an upstream failure; the log line is rate-limited per route. */
void
proxy_rt_error(struct proxy_rt *rt, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int64_t	 now = now_mono_ms();

	rt->stats.upstream_errors++;
	if (rt->warned_at != 0 && now - rt->warned_at < PROXY_WARN_MS)
		return;
	rt->warned_at = now;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	log_warn("%s: %s", rt->name, msg);
	free(msg);
}

static struct proxy_rt *
proxy_rt_new(struct proxy *px, const char *name)
{
	struct proxy_rt	*rt;

	rt = xcalloc(1, sizeof *rt);
	rt->px = px;
	rt->name = xstrdup(name);
	rt->upstream = xstrdup("");
	TAILQ_INIT(&rt->held);
	TAILQ_INSERT_TAIL(&px->routes, rt, entry);
	return (rt);
}

static void
proxy_rt_update(struct proxy_rt *rt, const struct proxy_route *r)
{
	free(rt->upstream);
	rt->upstream = xstrdup(r->upstream != NULL ? r->upstream : "");
	if (r->state != ROUTE_STOPPED)
		rt->woken = 0;
	rt->state = r->state;
	rt->port = r->port;
	rt->tcp = r->tcp;
	rt->wake = r->wake_on_request;
	rt->active = 1;
}

/* Held requests go on when the route is ready, or get 503 if it went away. */
static void
proxy_rt_release(struct proxy_rt *rt)
{
	struct proxy_conns	 tmp;
	struct proxy_conn	*conn;
	int			 fail;

	fail = !rt->active || rt->state == ROUTE_DOWN ||
	    (rt->state == ROUTE_STOPPED && !rt->wake);
	if (!fail && rt->state != ROUTE_READY)
		return;
	TAILQ_INIT(&tmp);
	while ((conn = TAILQ_FIRST(&rt->held)) != NULL) {
		proxy_rt_unhold(conn);
		TAILQ_INSERT_TAIL(&tmp, conn, hentry);
	}
	while ((conn = TAILQ_FIRST(&tmp)) != NULL) {
		TAILQ_REMOVE(&tmp, conn, hentry);
		proxy_conn_release(conn, fail);
	}
}

/* Open and close route listeners to match the table. */
static int
proxy_rt_listeners(struct proxy *px, char **cause)
{
	struct proxy_rt	*rt;
	char		*why, *old;
	int		 r = 0;

	TAILQ_FOREACH(rt, &px->routes, entry) {
		if (rt->lis != NULL && (!rt->active || px->shut ||
		    rt->lis->port != rt->port)) {
			proxy_listener_free(rt->lis);
			rt->lis = NULL;
		}
	}
	TAILQ_FOREACH(rt, &px->routes, entry) {
		if (!rt->active || px->shut || rt->port <= 0 || rt->lis != NULL)
			continue;
		if ((rt->lis = proxy_listen(px, rt, rt->port, &why)) != NULL)
			continue;
		if (cause != NULL && *cause != NULL) {
			old = *cause;
			xasprintf(cause, "%s; %s: %s", old, rt->name, why);
			free(old);
		} else if (cause != NULL)
			xasprintf(cause, "%s: %s", rt->name, why);
		free(why);
		r = -1;
	}
	return (r);
}

int
proxy_set_routes(struct proxy *px, const struct proxy_route *routes,
    size_t n, char **cause)
{
	struct proxy_rt	*rt;
	size_t		 i;
	int		 r;

	if (cause != NULL)
		*cause = NULL;
	TAILQ_FOREACH(rt, &px->routes, entry)
		rt->active = 0;
	for (i = 0; i < n; i++) {
		if (routes[i].name == NULL)
			continue;
		if ((rt = proxy_rt_any(px, routes[i].name)) == NULL)
			rt = proxy_rt_new(px, routes[i].name);
		proxy_rt_update(rt, &routes[i]);
	}
	r = proxy_rt_listeners(px, cause);
	TAILQ_FOREACH(rt, &px->routes, entry)
		proxy_rt_release(rt);
	return (r);
}

/* Deferred wake callbacks: never called from inside a connection. */
static void
proxy_wake_cb_run(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	struct proxy	*px = arg;
	struct proxy_rt	*rt;

	TAILQ_FOREACH(rt, &px->routes, entry) {
		if (!rt->wake_pending)
			continue;
		rt->wake_pending = 0;
		log_info("%s: waking on request", rt->name);
		if (px->wake_cb != NULL)
			px->wake_cb(rt->name, px->cb_arg);
	}
}

static void
proxy_reap_cb(evutil_socket_t fd __unused, short events __unused, void *arg)
{
	struct proxy		*px = arg;
	struct proxy_conn	*conn;
	struct proxy_up		*up;

	while ((conn = TAILQ_FIRST(&px->dead)) != NULL) {
		TAILQ_REMOVE(&px->dead, conn, entry);
		proxy_conn_free(conn);
	}
	while ((up = TAILQ_FIRST(&px->dead_ups)) != NULL) {
		TAILQ_REMOVE(&px->dead_ups, up, entry);
		proxy_up_free(up);
	}
}

/* The one timer: hold, head, idle and linger timeouts; paused listeners. */
static void
proxy_sweep_cb(evutil_socket_t fd __unused, short events __unused, void *arg)
{
	struct proxy		*px = arg;
	struct proxy_conn	*conn, *next;
	struct proxy_rt		*rt;
	int64_t			 now = now_mono_ms();

	for (conn = TAILQ_FIRST(&px->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		proxy_conn_sweep(conn, now);
	}
	TAILQ_FOREACH(rt, &px->routes, entry) {
		if (rt->woken && now - rt->woken_at >= px->hold_ms)
			rt->woken = 0;	/* the wake may be retried */
		if (rt->lis != NULL && rt->lis->paused) {
			rt->lis->paused = 0;
			evconnlistener_enable(rt->lis->el);
		}
	}
	if (px->shared != NULL && px->shared->paused) {
		px->shared->paused = 0;
		evconnlistener_enable(px->shared->el);
	}
}

/* 1 loopback, 0 not, -1 not a numeric address. */
static int
proxy_bind_loopback(const char *bind)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (inet_pton(AF_INET, bind, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, bind, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6));
	return (-1);
}

/*
 * The Host names served besides loopback ones: proxy.allowed_hosts, and
 * the bind address when it is a real one beyond loopback (clients reach
 * it by that address).
 */
static void
proxy_allow(struct proxy *px, const struct proxy_config *cf, int lo)
{
	size_t	 i;
	int	 any;

	px->allowed = xreallocarray(NULL, cf->nallowed_hosts + 1,
	    sizeof *px->allowed);
	for (i = 0; i < cf->nallowed_hosts; i++)
		px->allowed[px->nallowed++] =
		    proxy_host_norm(cf->allowed_hosts[i]);
	any = strcmp(px->bind, "0.0.0.0") == 0 || strcmp(px->bind, "::") == 0;
	if (!lo && !any)
		px->allowed[px->nallowed++] = proxy_host_norm(px->bind);
}

/* Copy the configuration, with defaults for what is unset. */
static int
proxy_configure(struct proxy *px, const struct proxy_config *cf,
    char **cause)
{
	int	 lo;

	px->bind = xstrdup(cf->bind != NULL ? cf->bind : "127.0.0.1");
	if ((lo = proxy_bind_loopback(px->bind)) == -1) {
		xasprintf(cause, "bind address %s is not numeric", px->bind);
		return (-1);
	}
	if (!lo && (cf->token == NULL || *cf->token == '\0')) {
		xasprintf(cause, "refusing to listen on %s without a bearer "
		    "token: set one, or bind 127.0.0.1", px->bind);
		return (-1);
	}
	if (cf->token != NULL && *cf->token != '\0') {
		px->token = xstrdup(cf->token);
		log_add_secret(px->token);
	}
	px->shared_port = cf->shared_port;
	px->hold_ms = cf->hold_timeout_ms > 0 ? cf->hold_timeout_ms : 30000;
	px->max_head = cf->max_header_bytes > 0 ?
	    (size_t)cf->max_header_bytes : 32768;
	px->head_ms = cf->header_timeout_ms > 0 ? cf->header_timeout_ms :
	    10000;
	px->idle_ms = cf->idle_conn_timeout_ms > 0 ?
	    cf->idle_conn_timeout_ms : 120000;
	px->body_ms = cf->body_timeout_ms > 0 ? cf->body_timeout_ms : 60000;
	px->up_ms = cf->upstream_timeout_ms > 0 ? cf->upstream_timeout_ms :
	    300000;
	proxy_allow(px, cf, lo);
	px->sweep_ms = px->hold_ms < px->head_ms ? px->hold_ms : px->head_ms;
	if (px->idle_ms < px->sweep_ms)
		px->sweep_ms = px->idle_ms;
	if (px->body_ms < px->sweep_ms)
		px->sweep_ms = px->body_ms;
	if (px->up_ms < px->sweep_ms)
		px->sweep_ms = px->up_ms;
	px->sweep_ms /= 4;
	px->sweep_ms = px->sweep_ms < 20 ? 20 : px->sweep_ms > 1000 ? 1000 :
	    px->sweep_ms;
	return (0);
}

/* Events, resolver and TLS context; the shared listener if configured. */
static int
proxy_start(struct proxy *px, const struct proxy_config *cf, char **cause)
{
	struct timeval	 tv;

	if ((px->ssl_ctx = proxy_tls_ctx(cf->ca_file, cause)) == NULL)
		return (-1);
	px->dns = evdns_base_new(px->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (px->dns == NULL)
		px->dns = evdns_base_new(px->base, 0);
	if (px->dns == NULL) {
		xasprintf(cause, "cannot start the DNS resolver");
		return (-1);
	}
	px->ev_reap = event_new(px->base, -1, 0, proxy_reap_cb, px);
	px->ev_wake = event_new(px->base, -1, 0, proxy_wake_cb_run, px);
	px->ev_sweep = event_new(px->base, -1, EV_PERSIST, proxy_sweep_cb, px);
	tv.tv_sec = px->sweep_ms / 1000;
	tv.tv_usec = (px->sweep_ms % 1000) * 1000;
	event_add(px->ev_sweep, &tv);
	if (px->shared_port > 0 &&
	    (px->shared = proxy_listen(px, NULL, px->shared_port, cause)) ==
	    NULL)
		return (-1);
	return (0);
}

struct proxy *
proxy_create(struct event_base *base, const struct proxy_config *cf,
    char **cause)
{
	struct proxy	*px;

	px = xcalloc(1, sizeof *px);
	px->base = base;
	TAILQ_INIT(&px->routes);
	TAILQ_INIT(&px->conns);
	TAILQ_INIT(&px->dead);
	TAILQ_INIT(&px->dead_ups);
	if (proxy_configure(px, cf, cause) != 0 ||
	    proxy_start(px, cf, cause) != 0) {
		proxy_free(px);
		return (NULL);
	}
	return (px);
}

void
proxy_set_callbacks(struct proxy *px, proxy_wake_cb wake,
    proxy_metrics_cb metrics, void *arg)
{
	px->wake_cb = wake;
	px->metrics_cb = metrics;
	px->cb_arg = arg;
}

int
proxy_stats_get(struct proxy *px, const char *name, struct proxy_stats *st)
{
	struct proxy_rt	*rt;

	if ((rt = proxy_rt_any(px, name)) == NULL) {
		memset(st, 0, sizeof *st);
		return (-1);
	}
	*st = rt->stats;
	return (0);
}

void
proxy_totals(struct proxy *px, int *open_conns, uint64_t *requests,
    uint64_t *bytes_in, uint64_t *bytes_out)
{
	struct proxy_rt	*rt;
	uint64_t	 rq = 0, in = 0, out = 0;

	TAILQ_FOREACH(rt, &px->routes, entry) {
		rq += rt->stats.requests;
		in += rt->stats.bytes_in;
		out += rt->stats.bytes_out;
	}
	if (open_conns != NULL)
		*open_conns = px->nconns;
	if (requests != NULL)
		*requests = rq;
	if (bytes_in != NULL)
		*bytes_in = in;
	if (bytes_out != NULL)
		*bytes_out = out;
}

void
proxy_shutdown(struct proxy *px)
{
	px->shut = 1;
	proxy_listener_free(px->shared);
	px->shared = NULL;
	proxy_rt_listeners(px, NULL);
}

int
proxy_open_conns(struct proxy *px)
{
	return (px->nconns);
}

void
proxy_free(struct proxy *px)
{
	struct proxy_rt		*rt;
	struct proxy_conn	*conn;

	if (px == NULL)
		return;
	if (px->ev_reap != NULL) {
		proxy_shutdown(px);
		while ((conn = TAILQ_FIRST(&px->conns)) != NULL)
			proxy_conn_close(conn);
		proxy_reap_cb(-1, 0, px);
	}
	while ((rt = TAILQ_FIRST(&px->routes)) != NULL) {
		TAILQ_REMOVE(&px->routes, rt, entry);
		free(rt->name);
		free(rt->upstream);
		free(rt);
	}
	if (px->ev_reap != NULL) {
		event_free(px->ev_reap);
		event_free(px->ev_wake);
		event_free(px->ev_sweep);
	}
	proxy_listener_free(px->shared);
	if (px->dns != NULL)
		evdns_base_free(px->dns, 0);
	SSL_CTX_free(px->ssl_ctx);
	while (px->nallowed > 0)
		free(px->allowed[--px->nallowed]);
	free(px->allowed);
	free(px->bind);
	free(px->token);
	free(px);
}
