/* control.c: the /_control/ API: fault injection, capacity, request log. */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fleet.h"
#include "fakecloud.h"

#define CONTROL_LOG_MAX		500	/* requests remembered */
#define CONTROL_BODY_LOG	4096	/* body bytes kept per request */

enum rule_kind { RULE_FAIL, RULE_DELAY, RULE_CAPACITY, RULE_LOSE, RULE_EXIT };

struct fc_rule {
	enum rule_kind	 kind;
	char		*route;		/* path prefix or "*" */
	int		 count;		/* uses left, -1 forever */
	int		 status;	/* fail */
	char		*body;
	char		*ctype;
	cJSON		*headers;	/* fail: e.g. Retry-After */
	int		 ms;		/* delay */
	char		*provider;	/* capacity */
	char		*gpu;
	int		 available;	/* -1 unlimited */
	int		 running;	/* exit: after it ran, not in boot */
	struct fc_rule	*next;
};

static void
control_rule_free(struct fc_rule *r)
{
	free(r->route);
	free(r->body);
	free(r->ctype);
	cJSON_Delete(r->headers);
	free(r->provider);
	free(r->gpu);
	free(r);
}

/* Append a rule: the oldest matching rule is used first. */
static struct fc_rule *
control_rule_add(struct fc *fc, enum rule_kind kind, const char *route)
{
	struct fc_rule	*r, **rp;

	r = xcalloc(1, sizeof *r);
	r->kind = kind;
	r->route = xstrdup(route != NULL ? route : "*");
	for (rp = &fc->rules; *rp != NULL; rp = &(*rp)->next)
		;
	*rp = r;
	return (r);
}

/* Drop rules of a kind whose route (or provider/gpu) equals the given. */
static void
control_rule_del(struct fc *fc, enum rule_kind kind, const char *a,
    const char *b)
{
	struct fc_rule	**rp = &fc->rules, *r;

	while ((r = *rp) != NULL) {
		if (r->kind == kind && (kind == RULE_CAPACITY ?
		    strcmp(r->provider, a) == 0 && strcasecmp(r->gpu, b) == 0 :
		    strcmp(r->route, a) == 0)) {
			*rp = r->next;
			control_rule_free(r);
		} else
			rp = &r->next;
	}
}

static int
control_route_matches(const struct fc_rule *r, const char *path)
{
	return (strcmp(r->route, "*") == 0 ||
	    strncmp(path, r->route, strlen(r->route)) == 0);
}

/* The first live rule of kind matching path; uses it up once. */
static struct fc_rule *
control_rule_take(struct fc *fc, enum rule_kind kind, const char *path)
{
	struct fc_rule	*r;

	for (r = fc->rules; r != NULL; r = r->next) {
		if (r->kind != kind || r->count == 0 ||
		    !control_route_matches(r, path))
			continue;
		if (r->count > 0)
			r->count--;
		return (r);
	}
	return (NULL);
}

/*
 * Before a provider sees a request: answer it with an injected failure (1),
 * park it for a delay (2), or let it through (0).
 */
int
control_apply(struct fc_req *req)
{
	struct fc	*fc = req->fc;
	struct fc_rule	*r;
	struct timeval	 tv;
	cJSON		*h;

	if ((r = control_rule_take(fc, RULE_FAIL, req->path)) != NULL) {
		cJSON_ArrayForEach(h, r->headers) {
			if (cJSON_IsString(h))
				evhttp_add_header(
				    evhttp_request_get_output_headers(req->req),
				    h->string, h->valuestring);
		}
		fc_reply(req, r->status, r->ctype, r->body);
		return (1);
	}
	if ((r = control_rule_take(fc, RULE_DELAY, req->path)) != NULL) {
		req->due_ms = fc_now_ms() + r->ms;
		TAILQ_INSERT_TAIL(&fc->delayed, req, entry);
		if (!evtimer_pending(fc->ev_delay, NULL)) {
			tv.tv_sec = r->ms / 1000;
			tv.tv_usec = (r->ms % 1000) * 1000;
			evtimer_add(fc->ev_delay, &tv);
		}
		return (2);
	}
	return (0);
}

/* Capacity left for provider/gpu: -1 unlimited; the last rule set wins. */
int
control_capacity(struct fc *fc, const char *provider, const char *gpu)
{
	struct fc_rule	*r;
	int		 avail = -1;

	for (r = fc->rules; r != NULL; r = r->next) {
		if (r->kind != RULE_CAPACITY)
			continue;
		if ((strcmp(r->provider, "*") == 0 ||
		    strcmp(r->provider, provider) == 0) &&
		    (strcmp(r->gpu, "*") == 0 ||
		    (gpu != NULL && strcasecmp(r->gpu, gpu) == 0)))
			avail = r->available;
	}
	return (avail);
}

/* Take one unit for a create: 1 if there was capacity, else 0. */
int
control_capacity_take(struct fc *fc, const char *provider, const char *gpu)
{
	struct fc_rule	*r, *last = NULL;

	for (r = fc->rules; r != NULL; r = r->next) {
		if (r->kind == RULE_CAPACITY &&
		    (strcmp(r->provider, "*") == 0 ||
		    strcmp(r->provider, provider) == 0) &&
		    (strcmp(r->gpu, "*") == 0 ||
		    (gpu != NULL && strcasecmp(r->gpu, gpu) == 0)))
			last = r;
	}
	if (last == NULL || last->available < 0)
		return (1);
	if (last->available == 0)
		return (0);
	last->available--;
	return (1);
}

/* Remember a finished request: tests assert on paths, headers, bodies. */
void
control_log(struct fc_req *req, int status)
{
	static unsigned int	 seq;
	struct evkeyvalq	*hs;
	struct evkeyval		*kv;
	cJSON			*e, *h;
	const char		*auth;
	char			*body;

	e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "seq", ++seq);
	cJSON_AddNumberToObject(e, "time", (double)fc_now());
	cJSON_AddNumberToObject(e, "time_ms", (double)fc_now_wall_ms());
	cJSON_AddStringToObject(e, "method", req->method);
	cJSON_AddStringToObject(e, "path", req->path);
	cJSON_AddStringToObject(e, "uri", req->uri);
	cJSON_AddNumberToObject(e, "status", status);
	auth = fc_req_header(req, "Authorization");
	cJSON_AddBoolToObject(e, "has_auth", auth != NULL);
	if (auth != NULL)
		cJSON_AddStringToObject(e, "authorization", auth);
	else
		cJSON_AddNullToObject(e, "authorization");
	h = cJSON_AddObjectToObject(e, "headers");
	hs = evhttp_request_get_input_headers(req->req);
	TAILQ_FOREACH(kv, hs, next)
		cJSON_AddStringToObject(h, kv->key, kv->value);
	body = xstrndup(req->body, req->bodylen > CONTROL_BODY_LOG ?
	    CONTROL_BODY_LOG : req->bodylen);
	cJSON_AddStringToObject(e, "body", body);
	free(body);
	cJSON_AddItemToArray(req->fc->log, e);
	if (cJSON_GetArraySize(req->fc->log) > CONTROL_LOG_MAX)
		cJSON_DeleteItemFromArray(req->fc->log, 0);
}

/* POST /_control/fail {"route","status","count","body","headers"} */
static void
control_fail(struct fc_req *req, cJSON *j)
{
	struct fc_rule	*r;
	cJSON		*h;
	const char	*body;
	int		 status = (int)fc_json_number(j, "status", 503);

	if (status < 100 || status > 599) {
		fc_reply_error(req, 400, "status must be 100-599");
		return;
	}
	r = control_rule_add(req->fc, RULE_FAIL, fc_json_string(j, "route"));
	r->status = status;
	r->count = (int)fc_json_number(j, "count", 1);
	if ((body = fc_json_string(j, "body")) != NULL)
		r->body = xstrdup(body);
	else
		r->body = xprintf("{\"error\":\"injected failure %d\"}",
		    status);
	r->ctype = xstrdup(fc_json_string(j, "content_type") != NULL ?
	    fc_json_string(j, "content_type") : "application/json");
	if ((h = cJSON_GetObjectItemCaseSensitive(j, "headers")) != NULL &&
	    cJSON_IsObject(h))
		r->headers = cJSON_Duplicate(h, 1);
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/*
 * POST /_control/lose {"route","count"}: the provider handles the request
 * (a create really creates), then the client gets a 502 instead of the
 * answer, as when a gateway times out after the backend did the work.
 */
static void
control_lose(struct fc_req *req, cJSON *j)
{
	struct fc_rule	*r;

	r = control_rule_add(req->fc, RULE_LOSE, fc_json_string(j, "route"));
	r->count = (int)fc_json_number(j, "count", 1);
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* After the provider answered: is this reply to be lost? (uses a rule) */
int
control_lost(struct fc_req *req)
{
	if (strncmp(req->path, "/_control", 9) == 0)
		return (0);
	return (control_rule_take(req->fc, RULE_LOSE, req->path) != NULL);
}

/* POST /_control/delay {"route","ms","count"}; ms 0 removes the route's. */
static void
control_delay(struct fc_req *req, cJSON *j)
{
	struct fc_rule	*r;
	const char	*route = fc_json_string(j, "route");
	int		 ms = (int)fc_json_number(j, "ms", 0);

	if (ms < 0 || ms > 600000) {
		fc_reply_error(req, 400, "ms must be 0-600000");
		return;
	}
	control_rule_del(req->fc, RULE_DELAY, route != NULL ? route : "*",
	    NULL);
	if (ms > 0) {
		r = control_rule_add(req->fc, RULE_DELAY, route);
		r->ms = ms;
		r->count = (int)fc_json_number(j, "count", -1);
	}
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* POST /_control/capacity {"provider","gpu","available"}; -1 unlimited. */
static void
control_set_capacity(struct fc_req *req, cJSON *j)
{
	struct fc_rule	*r;
	const char	*prov = fc_json_string(j, "provider");
	const char	*gpu = fc_json_string(j, "gpu");

	if (prov == NULL)
		prov = "*";
	if (gpu == NULL)
		gpu = "*";
	control_rule_del(req->fc, RULE_CAPACITY, prov, gpu);
	r = control_rule_add(req->fc, RULE_CAPACITY, NULL);
	r->provider = xstrdup(prov);
	r->gpu = xstrdup(gpu);
	r->available = (int)fc_json_number(j, "available", 0);
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/*
 * POST /_control/exit {"provider","after_ms","count","message","when"}:
 * the next count (default 1) instances created at provider ("*": any)
 * have their workload exit after_ms (default 300) into the boot, before
 * they run, as a container whose command fails at start does. With
 * "when": "running" it exits after_ms after it began running, and the
 * instance is booting again, with no process: a container restarting.
 */
static void
control_exit(struct fc_req *req, cJSON *j)
{
	struct fc_rule	*r;
	const char	*prov = fc_json_string(j, "provider");
	const char	*msg = fc_json_string(j, "message");
	const char	*when = fc_json_string(j, "when");
	int		 ms = (int)fc_json_number(j, "after_ms", 300);

	if (ms < 1 || ms > 600000) {
		fc_reply_error(req, 400, "after_ms must be 1-600000");
		return;
	}
	if (when != NULL && strcmp(when, "boot") != 0 &&
	    strcmp(when, "running") != 0) {
		fc_reply_error(req, 400, "when must be boot or running");
		return;
	}
	r = control_rule_add(req->fc, RULE_EXIT, NULL);
	r->provider = xstrdup(prov != NULL ? prov : "*");
	r->ms = ms;
	r->count = (int)fc_json_number(j, "count", 1);
	r->body = xstrdup(msg != NULL ? msg : "");
	r->running = when != NULL && strcmp(when, "running") == 0;
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* For a create: is this instance's workload to exit? 1 with *ms, *msg. */
int
control_exit_take(struct fc *fc, const char *provider, int *ms,
    int *running, char **msg)
{
	struct fc_rule	*r;

	for (r = fc->rules; r != NULL; r = r->next) {
		if (r->kind != RULE_EXIT || r->count == 0 ||
		    (strcmp(r->provider, "*") != 0 &&
		    strcmp(r->provider, provider) != 0))
			continue;
		if (r->count > 0)
			r->count--;
		*ms = r->ms;
		*running = r->running;
		*msg = xstrdup(r->body);
		return (1);
	}
	return (0);
}

/* POST /_control/vanish {"id"}: the cloud took the instance away. */
static void
control_vanish(struct fc_req *req, cJSON *j)
{
	struct fc_instance	*inst;
	const char		*id = fc_json_string(j, "id");

	if (id == NULL ||
	    (inst = instance_find(req->fc, fc_json_string(j, "provider"),
	    id)) == NULL) {
		fc_reply_error(req, 404, "no such instance");
		return;
	}
	instance_vanish(inst);
	fc_reply_json(req, 200, instance_json(inst));
}

/* GET /_control/requests[?prefix=/generic] */
static void
control_requests(struct fc_req *req)
{
	cJSON	*out, *e;
	char	*prefix;

	prefix = fc_req_query(req, "prefix");
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(e, req->fc->log) {
		if (prefix == NULL || strncmp(fc_json_string(e, "path"),
		    prefix, strlen(prefix)) == 0)
			cJSON_AddItemToArray(out, cJSON_Duplicate(e, 1));
	}
	free(prefix);
	fc_reply_json(req, 200, out);
}

static void
control_instances(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*out;

	out = cJSON_CreateArray();
	TAILQ_FOREACH(inst, &req->fc->instances, entry)
		cJSON_AddItemToArray(out, instance_json(inst));
	fc_reply_json(req, 200, out);
}

/* POST /_control/config {"boot_delay_ms": N} */
static void
control_config(struct fc_req *req, cJSON *j)
{
	int	 ms = (int)fc_json_number(j, "boot_delay_ms", -1);

	if (ms >= 0)
		req->fc->boot_delay_ms = ms;
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* Forget everything: rules, instances (processes killed), the log. */
void
control_reset(struct fc *fc)
{
	const struct fc_provider	**pp;

	fc_delay_flush(fc);
	control_free(fc);
	instance_free_all(fc, 0);
	cJSON_Delete(fc->log);
	fc->log = cJSON_CreateArray();
	for (pp = fc_provider_table; *pp != NULL; pp++)
		if ((*pp)->reset != NULL)
			(*pp)->reset(fc);
}

void
control_free(struct fc *fc)
{
	struct fc_rule	*r;

	while ((r = fc->rules) != NULL) {
		fc->rules = r->next;
		control_rule_free(r);
	}
}

/* A POST whose body must be a JSON object ({} if empty); NULL after 4xx. */
static cJSON *
control_body(struct fc_req *req)
{
	cJSON	*j;

	if (strcmp(req->method, "POST") != 0) {
		fc_reply_error(req, 405, "use POST");
		return (NULL);
	}
	if (req->bodylen == 0) {
		req->json_tried = 1;
		req->json = cJSON_CreateObject();
	}
	if ((j = fc_req_json(req)) == NULL || !cJSON_IsObject(j)) {
		fc_reply_error(req, 400, "body must be a JSON object");
		return (NULL);
	}
	return (j);
}

static void
control_health(struct fc_req *req)
{
	fc_reply(req, 200, "application/json", "{\"status\":\"ok\"}");
}

static void
control_reset_endpoint(struct fc_req *req, cJSON *j __unused)
{
	control_reset(req->fc);
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

static const struct {
	const char	*name;
	void		 (*post)(struct fc_req *, cJSON *);
	void		 (*get)(struct fc_req *);
} control_table[] = {
	{ "/fail", control_fail, NULL },
	{ "/lose", control_lose, NULL },
	{ "/delay", control_delay, NULL },
	{ "/capacity", control_set_capacity, NULL },
	{ "/vanish", control_vanish, NULL },
	{ "/exit", control_exit, NULL },
	{ "/config", control_config, NULL },
	{ "/reset", control_reset_endpoint, NULL },
	{ "/instances", NULL, control_instances },
	{ "/requests", NULL, control_requests },
	{ "/health", NULL, control_health },
};

void
control_handle(struct fc_req *req)
{
	const char	*p = req->path + strlen("/_control");
	cJSON		*j;
	size_t		 i;

	for (i = 0; i < nitems(control_table); i++) {
		if (strcmp(p, control_table[i].name) != 0)
			continue;
		if (control_table[i].get != NULL)
			control_table[i].get(req);
		else if ((j = control_body(req)) != NULL)
			control_table[i].post(req, j);
		return;
	}
	fc_reply_error(req, 404, "no control endpoint %s", p);
}
