/* daemon.c: `fleet daemon`: owns the event loop, proxy, control socket. */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "driver.h"
#include "proxy.h"
#include "state.h"

#define DAEMON_REFRESH_MS	2000	/* state poll: backstop for reloads */
#define DAEMON_DRAIN_MS		10000	/* SIGTERM: wait this long for conns */
#define DAEMON_CTL_CLIENTS	64	/* control clients at once */
#define DAEMON_CTL_TIMEOUT_MS	10000	/* for a whole line; idle */
/* Largest integer a JSON number (a double) holds with no neighbour. */
#define DAEMON_JSON_INT_MAX	9007199254740991LL

/* One control client connection. */
struct daemon_client {
	struct daemon		*d;
	struct bufferevent	*bev;
	int			 closing;
	int64_t			 deadline;	/* mono ms: line by then */
};


static void
daemon_routes_free(struct daemon_route *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].upstream);
		free(r[i].state);
	}
	free(r);
}

/* Map an instance state to what the proxy should do with requests. */
static enum route_state
daemon_route_state(const struct st_instance *in, int has)
{
	if (!has)
		return (ROUTE_DOWN);
	switch (in->state) {
	case INST_RUNNING:
		return (in->upstream != NULL ? ROUTE_READY : ROUTE_HOLD);
	case INST_PENDING:
	case INST_BOOTING:
		return (ROUTE_HOLD);
	case INST_STOPPED:
	case INST_STOPPING:
		return (ROUTE_STOPPED);
	default:
		return (ROUTE_DOWN);
	}
}

/* Template facts the proxy needs (raw TCP? wake?), best effort. */
static void
daemon_route_template(struct daemon *d, const char *tmpl,
    struct daemon_route *r)
{
	struct fleet_template	*t;
	const struct tmpl_port	*sp;
	char			*cause = NULL;

	if ((t = template_find(d->ctx->conf, tmpl, &cause)) == NULL) {
		log_debug("template %s: %s", tmpl, cause);
		free(cause);
		return;
	}
	sp = template_stable_port(t);
	r->tcp = sp != NULL && sp->proto == PORT_TCP;
	r->wake = t->wake_on_request;
	r->idle_gpu_percent = t->idle_gpu_percent;
	r->gpu_count = t->gpu.count;
	r->deadman = t->deadman_timeout;
	template_free(t);
}

/* Read every deployment that wants to be up into a routing table. */
static int
daemon_load_routes(struct daemon *d, struct daemon_route **out, size_t *n)
{
	struct st_deployment	*deps;
	struct st_instance	 in;
	struct daemon_route	*r;
	char			*cause = NULL;
	int			 nd, i, has;

	*out = NULL;
	*n = 0;
	if (state_deployment_list(d->ctx->st, &deps, &nd, &cause) != 0) {
		log_warn("cannot read deployments: %s", cause);
		free(cause);
		return (-1);
	}
	*out = xcalloc(nd > 0 ? nd : 1, sizeof **out);
	daemon_ssh_mark(d);
	/*
	 * Every deployment keeps its stable port: one that is down answers
	 * 503 with its state instead of refusing the connection, so an app
	 * learns why, and the port stays ours for the next `fleet up`.
	 */
	for (i = 0; i < nd; i++) {
		has = state_instance_current(d->ctx->st, deps[i].id, &in,
		    NULL) == 1;
		r = &(*out)[(*n)++];
		r->name = xstrdup(deps[i].name);
		r->port = deps[i].stable_port;
		r->rstate = daemon_route_state(&in, has);
		r->state = xstrdup(has ? inst_state_name(in.state) : "down");
		r->price = has ? in.price_per_hour : 0;
		daemon_route_template(d, deps[i].template_name, r);
		/* Tunnelled upstreams become the session's local end. */
		r->upstream = has ? daemon_ssh_route(d, r->name, &in,
		    r->idle_gpu_percent > 0 && r->gpu_count > 0 &&
		    d->ctx->conf->ssh.gpu_sample_interval > 0) : NULL;
		if (has)
			daemon_ssh_heartbeat(d, r->name, &in, r->deadman);
		if (has && in.upstream != NULL && r->upstream == NULL &&
		    r->rstate == ROUTE_READY)
			r->rstate = ROUTE_HOLD;	/* tunnel not there yet */
		st_instance_clear(&in);
	}
	st_deployment_list_free(deps, nd);
	daemon_ssh_sweep(d);
	return (0);
}

static int
daemon_routes_equal(const struct daemon_route *a, size_t na,
    const struct daemon_route *b, size_t nb)
{
	size_t	i;

	if (na != nb)
		return (0);
	for (i = 0; i < na; i++) {
		if (strcmp(a[i].name, b[i].name) != 0 ||
		    a[i].port != b[i].port || a[i].rstate != b[i].rstate ||
		    a[i].tcp != b[i].tcp || a[i].wake != b[i].wake ||
		    (a[i].upstream == NULL) != (b[i].upstream == NULL) ||
		    (a[i].upstream != NULL &&
		    strcmp(a[i].upstream, b[i].upstream) != 0))
			return (0);
	}
	return (1);
}

/* Hand the table to the proxy; log what changed. */
static void
daemon_apply_routes(struct daemon *d, struct daemon_route *r, size_t n)
{
	struct proxy_route	*pr;
	char			*cause = NULL;
	size_t			 i;

	pr = xcalloc(n > 0 ? n : 1, sizeof *pr);
	for (i = 0; i < n; i++) {
		pr[i].name = r[i].name;
		pr[i].port = r[i].port;
		pr[i].upstream = r[i].upstream;
		pr[i].state = r[i].rstate;
		pr[i].tcp = r[i].tcp;
		pr[i].wake_on_request = r[i].wake;
		log_info("route %s: port %d -> %s (%s)", r[i].name, r[i].port,
		    r[i].upstream != NULL ? r[i].upstream : "-", r[i].state);
	}
	if (proxy_set_routes(d->proxy, pr, n, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
	}
	free(pr);
}

void
daemon_refresh(struct daemon *d)
{
	struct daemon_route	*r;
	size_t			 n;

	if (daemon_load_routes(d, &r, &n) != 0)
		return;
	if (daemon_routes_equal(r, n, d->routes, d->nroutes)) {
		/* Prices and states shown by status may still move. */
		daemon_routes_free(d->routes, d->nroutes);
		d->routes = r;
		d->nroutes = n;
		return;
	}
	daemon_apply_routes(d, r, n);
	daemon_routes_free(d->routes, d->nroutes);
	d->routes = r;
	d->nroutes = n;
}

static void
daemon_refresh_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	daemon_refresh(arg);
}

/* Control protocol: one request line in, one reply line out. */

static void
daemon_client_close(struct daemon_client *c)
{
	c->d->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

static cJSON *
daemon_reply(int ok, const char *error)
{
	cJSON	*r = cJSON_CreateObject();

	cJSON_AddNumberToObject(r, "v", CONTROL_VERSION);
	cJSON_AddBoolToObject(r, "ok", ok);
	if (error != NULL)
		cJSON_AddStringToObject(r, "error", error);
	return (r);
}

static void
daemon_status(struct daemon *d, cJSON *r)
{
	struct proxy_stats	 ps;
	cJSON			*arr, *o;
	uint64_t		 req, bin, bout;
	int			 open;
	size_t			 i;

	proxy_totals(d->proxy, &open, &req, &bin, &bout);
	cJSON_AddNumberToObject(r, "pid", getpid());
	cJSON_AddNumberToObject(r, "uptime_seconds",
	    (double)(now_mono_ms() - d->started_mono) / 1000.0);
	cJSON_AddNumberToObject(r, "open_conns", open);
	cJSON_AddNumberToObject(r, "requests", (double)req);
	cJSON_AddNumberToObject(r, "bytes_in", (double)bin);
	cJSON_AddNumberToObject(r, "bytes_out", (double)bout);
	arr = cJSON_AddArrayToObject(r, "deployments");
	for (i = 0; i < d->nroutes; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", d->routes[i].name);
		cJSON_AddStringToObject(o, "state", d->routes[i].state);
		cJSON_AddNumberToObject(o, "port", d->routes[i].port);
		cJSON_AddStringToObject(o, "upstream",
		    d->routes[i].upstream != NULL ? d->routes[i].upstream : "");
		memset(&ps, 0, sizeof ps);
		proxy_stats_get(d->proxy, d->routes[i].name, &ps);
		cJSON_AddNumberToObject(o, "open_conns", ps.open_conns);
		cJSON_AddNumberToObject(o, "requests", (double)ps.requests);
		cJSON_AddNumberToObject(o, "bytes_in", (double)ps.bytes_in);
		cJSON_AddNumberToObject(o, "bytes_out", (double)ps.bytes_out);
		cJSON_AddNumberToObject(o, "last_request",
		    (double)ps.last_request);
		cJSON_AddNumberToObject(o, "upstream_errors",
		    (double)ps.upstream_errors);
		cJSON_AddItemToArray(arr, o);
	}
	daemon_ssh_status(d, cJSON_AddArrayToObject(r, "ssh"));
}

static void	daemon_begin_drain(struct daemon *, const char *);

/* "keys": only the configured api_key_env names may be set. */
static int
daemon_keys(struct daemon *d, const cJSON *req)
{
	const struct fleet_config	*c = d->ctx->conf;
	const cJSON			*keys, *k;
	const char			*v;
	int				 i, n = 0;

	keys = cJSON_GetObjectItemCaseSensitive(req, "keys");
	cJSON_ArrayForEach(k, keys) {
		if (!cJSON_IsString(k) || k->string == NULL)
			continue;
		for (i = 0; i < c->nproviders; i++) {
			if (c->providers[i].api_key_env == NULL ||
			    strcmp(c->providers[i].api_key_env, k->string) != 0)
				continue;
			log_add_secret(k->valuestring);
			/* The same key again keeps its source (a file's key
			   stays the file's, so `fleet auth rm` still works). */
			if ((v = getenv(k->string)) == NULL ||
			    strcmp(v, k->valuestring) != 0) {
				setenv(k->string, k->valuestring, 1);
				daemon_keys_handed(d, k->string);
			}
			n++;
			break;
		}
	}
	return (n);
}

/*
 * A whole number in [min, max] from a JSON number (a double): anything
 * else (1.5, 1e300, a string) is refused before any cast, which would be
 * undefined behaviour out of range.
 */
static int
daemon_json_int(const cJSON *j, int64_t min, int64_t max, int64_t *out)
{
	double	 v;

	if (!cJSON_IsNumber(j))
		return (-1);
	v = j->valuedouble;
	if (!isfinite(v) || v != floor(v) || v < (double)min ||
	    v > (double)max)
		return (-1);
	*out = (int64_t)v;
	return (0);
}

/* "forward" {instance}: the local end of the instance's tunnel. */
static cJSON *
daemon_forward(struct daemon *d, const cJSON *req, cJSON *r)
{
	const cJSON	*id = cJSON_GetObjectItemCaseSensitive(req, "instance");
	char		*cause = NULL;
	int64_t		 n;

	if (daemon_json_int(id, 1, DAEMON_JSON_INT_MAX, &n) != 0) {
		cJSON_Delete(r);
		return (daemon_reply(0, "forward needs \"instance\", a whole "
		    "number from 1"));
	}
	if (daemon_ssh_forward(d, n, r, &cause) != 0) {
		cJSON_Delete(r);
		r = daemon_reply(0, cause);
		free(cause);
	}
	return (r);
}

/* "guard" [reload]: which providers' live instances it could not stop. */
static void
daemon_guard_reply(struct daemon *d, const cJSON *req, cJSON *r)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "reload")))
		daemon_keys_load(d, "asked by a fleet command");
	cJSON_AddItemToObject(r, "guard", daemon_guard(d));
}

static cJSON *
daemon_dispatch(struct daemon *d, const cJSON *req)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(req, "v");
	const cJSON	*cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	cJSON		*r;
	int64_t		 ver;

	if (v == NULL || !cJSON_IsString(cmd))
		return (daemon_reply(0, "request needs \"v\" and \"cmd\""));
	if (daemon_json_int(v, 1, DAEMON_JSON_INT_MAX, &ver) != 0)
		return (daemon_reply(0, "\"v\" must be a whole number from 1"));
	if (ver > CONTROL_VERSION)
		return (daemon_reply(0, "protocol version too new for this "
		    "daemon; restart it with `fleet daemon stop`"));
	r = daemon_reply(1, NULL);
	/* Any request may carry the caller's keys (control_add_keys). */
	if (strcmp(cmd->valuestring, "keys") != 0 &&
	    cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(req, "keys")))
		daemon_keys(d, req);
	if (strcmp(cmd->valuestring, "hello") == 0) {
		cJSON_AddNumberToObject(r, "pid", getpid());
		cJSON_AddStringToObject(r, "version", FLEET_VERSION);
		cJSON_AddNumberToObject(r, "started_at",
		    (double)d->started_wall);
	} else if (strcmp(cmd->valuestring, "status") == 0)
		daemon_status(d, r);
	else if (strcmp(cmd->valuestring, "reload") == 0)
		daemon_refresh(d);
	else if (strcmp(cmd->valuestring, "stop") == 0)
		daemon_begin_drain(d, "stop requested");
	else if (strcmp(cmd->valuestring, "keys") == 0)
		cJSON_AddNumberToObject(r, "accepted", daemon_keys(d, req));
	else if (strcmp(cmd->valuestring, "forward") == 0)
		r = daemon_forward(d, req, r);
	else if (strcmp(cmd->valuestring, "guard") == 0)
		daemon_guard_reply(d, req, r);
	else {
		cJSON_Delete(r);
		r = daemon_reply(0, "unknown command");
	}
	return (r);
}

static void
daemon_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct daemon_client	*c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		daemon_client_close(c);
}

static void
daemon_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct daemon_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	cJSON			*req, *r;
	char			*line, *txt;
	size_t			 len;

	if (c->closing)
		return;
	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
		/* A trickle resets the idle timer, not this deadline. */
		if (evbuffer_get_length(in) > CONTROL_MAX_LINE ||
		    now_mono_ms() >= c->deadline)
			daemon_client_close(c);
		return;
	}
	if ((req = cJSON_ParseWithLength(line, len)) == NULL)
		r = daemon_reply(0, "request is not JSON");
	else
		r = daemon_dispatch(c->d, req);
	free(line);
	cJSON_Delete(req);
	txt = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	evbuffer_add_printf(bufferevent_get_output(bev), "%s\n", txt);
	free(txt);
	c->closing = 1;
	bufferevent_disable(bev, EV_READ);
}

static void
daemon_client_event_cb(struct bufferevent *bev __unused, short what,
    void *arg)
{
	struct daemon_client	*c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control client idle %d s (%s): closed",
		    DAEMON_CTL_TIMEOUT_MS / 1000, c->closing ?
		    "not reading its answer" : "no whole line");
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		daemon_client_close(c);
}

static void
daemon_accept_cb(struct evconnlistener *l __unused, evutil_socket_t fd,
    struct sockaddr *sa __unused, int salen __unused, void *arg)
{
	static const char	 busy[] = "{\"v\":1,\"ok\":false,\"error\":"
				    "\"too many control clients\"}\n";
	struct daemon		*d = arg;
	struct daemon_client	*c;
	struct timeval		 tv = { DAEMON_CTL_TIMEOUT_MS / 1000, 0 };

	/* The socket is 0600, but a runaway script of the user's could still
	 * hold every descriptor: past the cap, answer at once and close. */
	if (d->nclients >= DAEMON_CTL_CLIENTS) {
		if (write(fd, busy, sizeof busy - 1) == -1)
			log_debug("control: %s", strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->d = d;
	c->deadline = now_mono_ms() + DAEMON_CTL_TIMEOUT_MS;
	d->nclients++;
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, daemon_client_read_cb,
	    daemon_client_write_cb, daemon_client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_MAX_LINE + 1);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Bind the control socket (0600), replacing a stale one. */
static int
daemon_listen_control(struct daemon *d, char **cause)
{
	struct sockaddr_un	 sun;
	mode_t			 old;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(d->sock_path) >= sizeof sun.sun_path) {
		*cause = xprintf("control socket path too long: %s",
		    d->sock_path);
		return (-1);
	}
	strcpy(sun.sun_path, d->sock_path);
	unlink(d->sock_path);	/* we hold the pidfile lock: it is stale */
	old = umask(077);
	d->ctl = evconnlistener_new_bind(d->base, daemon_accept_cb, d,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (d->ctl == NULL) {
		*cause = xprintf("cannot listen on %s: %s", d->sock_path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Prometheus text for GET /metrics on the shared port. */
static void
daemon_metrics_cb(struct proxy *p, char **text, void *arg)
{
	struct daemon		*d = arg;
	struct proxy_stats	 ps;
	struct evbuffer		*b = evbuffer_new();
	const char		*n;
	size_t			 i, k, len;
	uint64_t		 cum;
	int64_t			 now = now_wall();
	int			 byst[4] = { 0, 0, 0, 0 };
	static const char	*stn[] = { "ready", "booting", "stopped",
				    "down" };

	for (i = 0; i < d->nroutes; i++)
		byst[d->routes[i].rstate]++;
	evbuffer_add_printf(b, "# HELP fleet_deployments Deployments, "
	    "by proxy state.\n# TYPE fleet_deployments gauge\n");
	for (k = 0; k < 4; k++)
		evbuffer_add_printf(b, "fleet_deployments{state=\"%s\"} %d\n",
		    stn[k], byst[k]);
	evbuffer_add_printf(b, "# TYPE fleet_price_per_hour_usd gauge\n"
	    "# TYPE fleet_spent_usd counter\n"
	    "# TYPE fleet_proxy_requests_total counter\n"
	    "# TYPE fleet_proxy_bytes_total counter\n"
	    "# TYPE fleet_proxy_open_connections gauge\n"
	    "# TYPE fleet_proxy_upstream_errors_total counter\n"
	    "# TYPE fleet_proxy_upstream_latency_seconds histogram\n");
	for (i = 0; i < d->nroutes; i++) {
		n = d->routes[i].name;
		memset(&ps, 0, sizeof ps);
		proxy_stats_get(p, n, &ps);
		evbuffer_add_printf(b, "fleet_price_per_hour_usd{deployment="
		    "\"%s\"} %.4f\n", n, d->routes[i].price);
		evbuffer_add_printf(b, "fleet_proxy_requests_total{deployment="
		    "\"%s\"} %llu\n", n, (unsigned long long)ps.requests);
		evbuffer_add_printf(b, "fleet_proxy_bytes_total{deployment="
		    "\"%s\",direction=\"in\"} %llu\n", n,
		    (unsigned long long)ps.bytes_in);
		evbuffer_add_printf(b, "fleet_proxy_bytes_total{deployment="
		    "\"%s\",direction=\"out\"} %llu\n", n,
		    (unsigned long long)ps.bytes_out);
		evbuffer_add_printf(b, "fleet_proxy_open_connections{"
		    "deployment=\"%s\"} %d\n", n, ps.open_conns);
		evbuffer_add_printf(b, "fleet_proxy_upstream_errors_total{"
		    "deployment=\"%s\"} %llu\n", n,
		    (unsigned long long)ps.upstream_errors);
		for (k = 0, cum = 0; k < nitems(ps.latency_buckets); k++) {
			cum += ps.latency_buckets[k];
			if (k == nitems(ps.latency_buckets) - 1)
				evbuffer_add_printf(b, "fleet_proxy_upstream_"
				    "latency_seconds_bucket{deployment=\"%s\","
				    "le=\"+Inf\"} %llu\n", n,
				    (unsigned long long)cum);
			else
				evbuffer_add_printf(b, "fleet_proxy_upstream_"
				    "latency_seconds_bucket{deployment=\"%s\","
				    "le=\"%g\"} %llu\n", n,
				    proxy_latency_bounds[k],
				    (unsigned long long)cum);
		}
		evbuffer_add_printf(b, "fleet_proxy_upstream_latency_seconds_"
		    "sum{deployment=\"%s\"} %.6f\n", n, ps.latency_sum);
		evbuffer_add_printf(b, "fleet_proxy_upstream_latency_seconds_"
		    "count{deployment=\"%s\"} %llu\n", n,
		    (unsigned long long)cum);
	}
	daemon_guard_metrics(d, b);
	evbuffer_add_printf(b, "fleet_spent_usd %.6f\n",
	    state_spent_since(d->ctx->st, 0, now));
	len = evbuffer_get_length(b);
	*text = xmalloc(len + 1);
	evbuffer_remove(b, *text, len);
	(*text)[len] = '\0';
	evbuffer_free(b);
}

/* Drain: stop accepting, let open connections finish, then exit. */
static void
daemon_drain_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 tv = { 0, 100 * 1000 };
	int		 open = proxy_open_conns(d->proxy);

	if (open == 0 || now_mono_ms() >= d->drain_deadline) {
		if (open > 0)
			log_warn("exiting with %d connections still open", open);
		event_base_loopexit(d->base, NULL);
		return;
	}
	evtimer_add(d->ev_drain, &tv);
}

static void
daemon_begin_drain(struct daemon *d, const char *why)
{
	struct timeval	tv = { 0, 0 };

	if (d->draining)
		return;
	d->draining = 1;
	log_info("%s: draining %d connections", why,
	    proxy_open_conns(d->proxy));
	proxy_shutdown(d->proxy);
	d->drain_deadline = now_mono_ms() + DAEMON_DRAIN_MS;
	evtimer_add(d->ev_drain, &tv);
}

static void
daemon_signal_cb(evutil_socket_t sig, short ev __unused, void *arg)
{
	struct daemon		*d = arg;
	struct fleet_config	*conf;
	char			*cause = NULL;

	if (sig != SIGHUP) {
		daemon_begin_drain(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
	if ((conf = config_load(d->ctx->config_path, &cause)) == NULL) {
		log_error("SIGHUP: keeping the old configuration: %s", cause);
		free(cause);
		daemon_keys_load(d, "SIGHUP");
		return;
	}
	config_free(d->ctx->conf);
	d->ctx->conf = conf;
	log_info("SIGHUP: configuration reloaded (proxy bind and ports "
	    "apply at the next daemon start)");
	daemon_routes_free(d->routes, d->nroutes);
	d->routes = NULL;
	d->nroutes = 0;
	daemon_keys_load(d, "SIGHUP");
	daemon_refresh(d);
}

/* One daemon per state dir: an exclusive lock on the pidfile. */
static int
daemon_lock(struct daemon *d, char **cause)
{
	char	buf[32];
	ssize_t	n;

	d->pid_fd = open(d->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->pid_fd == -1) {
		*cause = xprintf("cannot open %s: %s", d->pid_path,
		    strerror(errno));
		return (-1);
	}
	if (flock(d->pid_fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(d->pid_fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		*cause = xprintf("a daemon is already running for %s (pid %s)",
		    d->ctx->state_dir, buf);
		/* Its pidfile: daemon_free() must not unlink it. */
		close(d->pid_fd);
		d->pid_fd = -1;
		return (-1);
	}
	return (0);
}

static void
daemon_write_pid(struct daemon *d)
{
	char	buf[32];
	int	len;

	len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(d->pid_fd, 0) != 0 ||
	    pwrite(d->pid_fd, buf, len, 0) != len)
		log_warn("cannot write %s: %s", d->pid_path, strerror(errno));
}

/* Fork into the background; the parent returns 1 and exits. */
static int
daemon_detach(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		fatalx("fork: %s", strerror(errno));
	if (pid != 0)
		return (1);
	setsid();
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return (0);
}

/* A request reached a stopped deployment with wake_on_request: start it. */
static void
daemon_wake_cb(const char *name, void *arg)
{
	struct daemon	*d = arg;
	const char	*args[] = { "start", name, NULL };

	if (d->draining || job_running(d, name))
		return;
	log_info("%s: request while stopped: waking it (fleet start)", name);
	state_event(d->ctx->st, name, "wake", "request while stopped");
	job_run(d, name, "wake", args);
}

static struct proxy *
daemon_proxy(struct daemon *d, char **cause)
{
	const struct fleet_config	*c = d->ctx->conf;
	struct proxy_config		 pc;
	struct proxy			*p;

	memset(&pc, 0, sizeof pc);
	pc.bind = c->proxy.bind;
	pc.shared_port = c->proxy.shared_port;
	pc.token = c->proxy.token;
	pc.hold_timeout_ms = c->proxy.hold_timeout * 1000;
	pc.max_header_bytes = c->proxy.max_header_bytes;
	pc.header_timeout_ms = 10000;
	pc.idle_conn_timeout_ms = 120000;
	pc.body_timeout_ms = c->proxy.body_timeout * 1000;
	pc.upstream_timeout_ms = c->proxy.upstream_timeout * 1000;
	pc.allowed_hosts = c->proxy.allowed_hosts;
	pc.nallowed_hosts = c->proxy.nallowed_hosts;
	pc.ca_file = getenv("FLEET_CA_FILE");
	if ((p = proxy_create(d->base, &pc, cause)) == NULL)
		return (NULL);
	proxy_set_callbacks(p, daemon_wake_cb, daemon_metrics_cb, d);
	return (p);
}

static void
daemon_free(struct daemon *d)
{
	struct event	*evs[] = { d->ev_term, d->ev_int, d->ev_hup,
			    d->ev_refresh, d->ev_drain, d->ev_chld,
			    d->ev_watch };
	size_t		 i;

	for (i = 0; i < nitems(evs); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (d->ctl != NULL) {
		evconnlistener_free(d->ctl);
		unlink(d->sock_path);
	}
	if (d->proxy != NULL)
		proxy_free(d->proxy);
	daemon_routes_free(d->routes, d->nroutes);
	daemon_keys_free(d);
	daemon_ssh_free(d);
	job_free_all(d);
	watchdog_free(d);
	if (d->base != NULL)
		event_base_free(d->base);
	if (d->pid_fd != -1) {
		unlink(d->pid_path);
		close(d->pid_fd);
	}
	free(d->sock_path);
	free(d->pid_path);
}

static void
daemon_chld_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	job_reap(arg);
}

/* The watchdog, and the reconciler as a child job when it is due. */
static void
daemon_watch_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct daemon		*d = arg;
	const struct fleet_config *c = d->ctx->conf;
	static const char	*rec[] = { "reconcile", "--once", NULL };
	static const char	*reap[] = { "reap", NULL };

	if (d->draining)
		return;
	watchdog_sweep(d);
	daemon_guard_sweep(d);
	if (c->daemon.reconcile_interval <= 0 ||
	    cmd_find("reconcile") == NULL || job_running(d, "*reconcile*"))
		return;
	if (now_mono_ms() < d->next_reconcile_mono)
		return;
	d->next_reconcile_mono = now_mono_ms() +
	    c->daemon.reconcile_interval * 1000;
	job_run(d, "*reconcile*", "reconcile", rec);
	if (c->daemon.reap == 1 && !job_running(d, "*reap*"))
		job_run(d, "*reap*", "reap", reap);
}

static void
daemon_events(struct daemon *d)
{
	struct timeval	tv = { DAEMON_REFRESH_MS / 1000,
			    (DAEMON_REFRESH_MS % 1000) * 1000 };
	struct timeval	wt = { d->ctx->conf->daemon.watch_interval, 0 };

	d->ev_term = evsignal_new(d->base, SIGTERM, daemon_signal_cb, d);
	d->ev_int = evsignal_new(d->base, SIGINT, daemon_signal_cb, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, daemon_signal_cb, d);
	d->ev_refresh = event_new(d->base, -1, EV_PERSIST, daemon_refresh_cb,
	    d);
	d->ev_drain = evtimer_new(d->base, daemon_drain_cb, d);
	d->ev_chld = evsignal_new(d->base, SIGCHLD, daemon_chld_cb, d);
	d->ev_watch = event_new(d->base, -1, EV_PERSIST, daemon_watch_cb, d);
	evsignal_add(d->ev_chld, NULL);
	event_add(d->ev_watch, &wt);
	evsignal_add(d->ev_term, NULL);
	evsignal_add(d->ev_int, NULL);
	evsignal_add(d->ev_hup, NULL);
	event_add(d->ev_refresh, &tv);
}

/* Open the log file for a detached daemon (or --log), mode 0600. */
static FILE *
daemon_logfile(struct cmd_ctx *ctx, int detach, const char *logfile)
{
	char	*path;
	FILE	*f;
	int	 fd;

	if (logfile == NULL && !detach)
		return (NULL);
	path = logfile != NULL ? xstrdup(logfile) :
	    control_path(ctx->state_dir, CONTROL_LOGFILE);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	f = fd == -1 ? NULL : fdopen(fd, "a");
	if (f == NULL)
		fprintf(stderr, "fleet daemon: cannot open log %s: %s\n", path,
		    strerror(errno));
	free(path);
	return (f);
}

/*
 * Tell the command that started us why we could not: the detached
 * daemon's stderr is /dev/null, and its log line is not where they look.
 */
static void
daemon_start_error(struct daemon *d, const char *cause, const char *hint)
{
	char	*path = control_path(d->ctx->state_dir, CONTROL_ERRFILE);
	FILE	*f;
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd != -1 && (f = fdopen(fd, "w")) != NULL) {
		fprintf(f, "%s\n%s\n", cause, hint != NULL ? hint : "");
		fclose(f);
	} else if (fd != -1)
		close(fd);
	free(path);
}

/* Which config this daemon runs with, for the CLI's mismatch warning. */
static void
daemon_write_config(struct daemon *d, int on)
{
	char	*path = control_path(d->ctx->state_dir, CONTROL_CONFFILE);
	char	*id;
	FILE	*f;
	int	 fd;

	if (!on) {
		unlink(path);
		free(path);
		return;
	}
	id = control_config_id(d->ctx->conf->path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd != -1 && (f = fdopen(fd, "w")) != NULL) {
		fprintf(f, "%s\n", id);
		fclose(f);
	} else if (fd != -1)
		close(fd);
	free(id);
	free(path);
}

int
daemon_run(struct cmd_ctx *ctx, int detach, const char *logfile)
{
	struct daemon	 d;
	FILE		*log = NULL;
	char		*cause = NULL, *hint = NULL, *conf;
	int		 rc = FLEET_EXIT_FAIL, ready = 0;

	memset(&d, 0, sizeof d);
	d.pid_fd = -1;
	d.log_fd = -1;
	d.ctx = ctx;
	d.sock_path = control_path(ctx->state_dir, CONTROL_SOCKET);
	d.pid_path = control_path(ctx->state_dir, CONTROL_PIDFILE);
	if (daemon_lock(&d, &cause) != 0)
		goto out;
	log = daemon_logfile(ctx, detach, logfile);
	if (detach && daemon_detach() == 1) {
		/* The parent: the child holds the lock and the log now. */
		close(d.pid_fd);
		d.pid_fd = -1;
		if (log != NULL)
			fclose(log);
		free(d.sock_path);
		free(d.pid_path);
		return (FLEET_EXIT_OK);
	}
	if (log != NULL) {
		log_set_file(log);
		d.log_fd = fileno(log);
	}
	/* The daemon logs one line per event: info level at least. */
	if (log_level() < LOG_INFO)
		log_init("fleet", LOG_INFO - LOG_WARN, log);
	daemon_write_pid(&d);
	/* Opened after the fork: an SQLite handle must not cross one. */
	if (cmd_open_state(ctx) != 0) {
		cause = xprintf("cannot open the state in %s", ctx->state_dir);
		goto out;
	}
	/* Before the first sweep: its catch-up jobs need the keys. */
	daemon_keys_load(&d, "start");
	d.base = event_base_new();
	d.started_mono = now_mono_ms();
	d.started_wall = now_wall();
	if ((d.proxy = daemon_proxy(&d, &cause)) == NULL) {
		conf = control_config_id(ctx->conf->path);
		hint = xprintf("hint: proxy.shared_port %d on %s is taken by "
		    "another program (or another fleet state dir's daemon); "
		    "free it, or set another proxy.shared_port in %s",
		    ctx->conf->proxy.shared_port, ctx->conf->proxy.bind,
		    *conf != '\0' ? conf : "fleet.yaml");
		free(conf);
		goto out;
	}
	if (daemon_listen_control(&d, &cause) != 0)
		goto out;
	ready = 1;
	conf = control_path(ctx->state_dir, CONTROL_ERRFILE);
	unlink(conf);	/* an earlier start's error is history now */
	free(conf);
	daemon_write_config(&d, 1);
	daemon_events(&d);
	daemon_ssh_start(&d);
	daemon_refresh(&d);
	/* Catch up at once: what became idle while no daemon ran dies now. */
	watchdog_sweep(&d);
	daemon_guard_sweep(&d);
	d.next_reconcile_mono = now_mono_ms();
	log_info("daemon %d ready: state %s, shared port %s:%d", (int)getpid(),
	    ctx->state_dir, ctx->conf->proxy.bind,
	    ctx->conf->proxy.shared_port);
	event_base_dispatch(d.base);
	log_info("daemon %d exiting", (int)getpid());
	rc = FLEET_EXIT_OK;
out:
	if (ready)
		daemon_write_config(&d, 0);
	if (cause != NULL) {
		log_error("%s", cause);
		/* Not when the lock said another daemon runs: not ours. */
		if (!ready && d.pid_fd != -1)
			daemon_start_error(&d, cause, hint);
		free(cause);
	}
	free(hint);
	daemon_free(&d);
	if (log != NULL) {
		log_set_file(NULL);
		fclose(log);
	}
	return (rc);
}
