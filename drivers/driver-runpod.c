/* driver-runpod.c: RunPod GPU pods through its GraphQL API. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-runpod.h"
#include "deadman.h"
#include "http.h"

/*
 * Wire format: shared/providers/runpod.md. Every call is one POST of
 * {"query", "variables"} to the GraphQL endpoint with the key in a Bearer
 * header, never in the URL. Arguments always travel as variables, so no
 * user text is ever spliced into query text.
 *
 * get() does not know the template, so create() leaves two notes in the
 * pod's own environment, which RunPod echoes back as "KEY=value" strings:
 * FLEET_PORTS (each port's fleet protocol: a ws port is exposed as /tcp,
 * yet is spoken to over http) and FLEET_PRICE (costPerHr has been seen
 * answering 0, runpod-python#438).
 *
 * Dead-man switch (deadman_timeout): the watcher goes in the pod's env as
 * FLEET_DEADMAN and dockerArgs becomes
 *	sh -c 'sh -c "$FLEET_DEADMAN" >/dev/null 2>&1 & exec "$@"' sh ARGS
 * which starts it and then execs the template's command as before. That
 * replaces the image's CMD, so the template must give args; an image
 * whose ENTRYPOINT does not run its arguments as a command (exec "$@")
 * would get the wrapper as arguments instead. The watcher ends the pod
 * with the pod-scoped key RunPod injects (RUNPOD_API_KEY, RUNPOD_POD_ID)
 * against the same GraphQL URL this driver uses.
 */

#define RUNPOD_URL		"https://api.runpod.io/graphql"
#define RUNPOD_PROXY_HOST	"{id}-{port}.proxy.runpod.net"
/* Extra attempts for reads and idempotent mutations; creates get none. */
#define RUNPOD_RETRIES		2
#define RUNPOD_TIMEOUT_MS	30000
#define RUNPOD_MAX_ENDPOINTS	64
#define RUNPOD_DISK_GB		50

/* Stopped-pod volume rate, $/GB/month (runpod.md, pricing notes). */
#define RUNPOD_STOPPED_GB_MONTH	0.20

#define RUNPOD_POD_FIELDS \
	"id name desiredStatus podType costPerHr lastStatusChange imageName " \
	"env gpuCount " \
	"vcpuCount memoryInGb containerDiskInGb volumeInGb ports machineId " \
	"machine { gpuDisplayName location podHostId } " \
	"runtime { uptimeInSeconds " \
	"ports { ip isIpPublic privatePort publicPort type } " \
	"gpus { id gpuUtilPercent memoryUtilPercent } }"

static const char runpod_q_pod[] =
    "query pod($podId: String!) { pod(input: {podId: $podId}) { "
    RUNPOD_POD_FIELDS " } }";
static const char runpod_q_pods[] =
    "query myPods { myself { pods { " RUNPOD_POD_FIELDS " } } }";
static const char runpod_q_create[] =
    "mutation createPod($input: PodFindAndDeployOnDemandInput!) { "
    "podFindAndDeployOnDemand(input: $input) { " RUNPOD_POD_FIELDS " } }";
static const char runpod_q_spot[] =
    "mutation createSpotPod($input: PodRentInterruptableInput!) { "
    "podRentInterruptable(input: $input) { " RUNPOD_POD_FIELDS " } }";
static const char runpod_q_stop[] =
    "mutation stopPod($podId: String!) { podStop(input: {podId: $podId}) "
    "{ id desiredStatus } }";
static const char runpod_q_resume[] =
    "mutation podResume($podId: String!, $gpuCount: Int!) { "
    "podResume(input: {podId: $podId, gpuCount: $gpuCount}) "
    "{ id desiredStatus costPerHr } }";
static const char runpod_q_bid_resume[] =
    "mutation podBidResume($podId: String!, $bidPerGpu: Float!, "
    "$gpuCount: Int!) { podBidResume(input: {podId: $podId, "
    "bidPerGpu: $bidPerGpu, gpuCount: $gpuCount}) { id desiredStatus } }";
static const char runpod_q_terminate[] =
    "mutation terminatePod($podId: String!) { "
    "podTerminate(input: {podId: $podId}) }";
/* The fields runpodctl reads for its `user` command (runpod.md 3.10). */
static const char runpod_q_account[] =
    "query myself { myself { id email clientBalance currentSpendPerHr "
    "spendLimit } }";
/* %d: the GPU count, an integer we format ourselves. */
static const char runpod_q_gpus[] =
    "query GpuTypes { gpuTypes { id displayName memoryInGb maxGpuCount "
    "secureCloud communityCloud securePrice communityPrice "
    "secureSpotPrice communitySpotPrice "
    "lowestPrice(input: {gpuCount: %d}) { minimumBidPrice "
    "uninterruptablePrice stockStatus availableGpuCounts } } }";

/* Substrings of errors[0].message (case-insensitive), first match wins. */
static const struct {
	const char	*needle;
	enum drv_err	 kind;
} runpod_messages[] = {
	{ "no longer any instances available", DRV_ERR_CAPACITY },
	{ "does not have the resources", DRV_ERR_CAPACITY },
	{ "no instances available", DRV_ERR_CAPACITY },
	{ "balance", DRV_ERR_QUOTA },
	{ "credit", DRV_ERR_QUOTA },
	{ "insufficient funds", DRV_ERR_QUOTA },
	{ "spend limit", DRV_ERR_QUOTA },
	{ "something went wrong", DRV_ERR_TRANSIENT },
	{ "unauthorized", DRV_ERR_AUTH },
	{ "unauthenticated", DRV_ERR_AUTH },
	{ "api key", DRV_ERR_AUTH },
	{ "permission", DRV_ERR_AUTH },
	{ "too many requests", DRV_ERR_RATE_LIMITED },
	{ "rate limit", DRV_ERR_RATE_LIMITED },
	{ "not found", DRV_ERR_NOT_FOUND },
	{ "does not exist", DRV_ERR_NOT_FOUND },
};

enum drv_err
runpod_classify(const char *message)
{
	size_t	i;

	for (i = 0; i < nitems(runpod_messages); i++)
		if (strcasestr(message, runpod_messages[i].needle) != NULL)
			return (runpod_messages[i].kind);
	return (DRV_ERR_INVALID);
}

/* A finite number in [lo, hi], else dflt. */
static double
runpod_num(const cJSON *o, const char *key, double lo, double hi,
    double dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble < lo || v->valuedouble > hi)
		return (dflt);
	return (v->valuedouble);
}

/* Provider text for one line of output: control characters become '?'. */
static void
runpod_clean(char *dst, size_t size, const char *src)
{
	size_t	i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = iscntrl((unsigned char)src[i]) ? '?' : src[i];
	dst[i] = '\0';
}

int
runpod_response(long status, const cJSON *json, const char *root,
    const cJSON **value, struct drv_error *err)
{
	const cJSON	*errs, *e0, *data;
	const char	*m = NULL;
	char		 msg[400];

	*value = NULL;
	errs = cJSON_IsObject(json) ?
	    cJSON_GetObjectItemCaseSensitive(json, "errors") : NULL;
	if (cJSON_IsArray(errs) && (e0 = cJSON_GetArrayItem(errs, 0)) != NULL)
		m = drv_json_str(e0, "message");
	if (m != NULL)
		runpod_clean(msg, sizeof msg, m);
	if (status == 401 || status == 403)
		return (drv_error_set(err, DRV_ERR_AUTH, (int)status,
		    "runpod: HTTP %ld: %s (check the API key)", status,
		    m != NULL ? msg : "unauthorized"));
	if (status == 429)
		return (drv_error_set(err, DRV_ERR_RATE_LIMITED, (int)status,
		    "runpod: HTTP 429: %s", m != NULL ? msg :
		    "too many requests"));
	if (status >= 500)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, (int)status,
		    "runpod: HTTP %ld: %s", status, m != NULL ? msg :
		    "server error"));
	if (status < 200 || status > 299)
		return (drv_error_set(err, status == 400 || m == NULL ?
		    DRV_ERR_INVALID : runpod_classify(msg), (int)status,
		    "runpod: HTTP %ld: %s", status, m != NULL ? msg :
		    "unexpected answer (is the URL the GraphQL endpoint?)"));
	if (m != NULL)
		return (drv_error_set(err, runpod_classify(msg), (int)status,
		    "runpod: %s", msg));
	if (cJSON_IsArray(errs) && cJSON_GetArraySize(errs) > 0)
		return (drv_error_set(err, DRV_ERR_INVALID, (int)status,
		    "runpod: error without a message"));
	data = cJSON_IsObject(json) ?
	    cJSON_GetObjectItemCaseSensitive(json, "data") : NULL;
	if (!cJSON_IsObject(data))
		return (drv_error_set(err, DRV_ERR_TRANSIENT, (int)status,
		    "runpod: HTTP %ld answer without GraphQL data", status));
	if ((*value = cJSON_GetObjectItemCaseSensitive(data, root)) == NULL)
		return (drv_error_set(err, DRV_ERR_INVALID, (int)status,
		    "runpod: answer has no %s", root));
	return (0);
}

/*
 * One GraphQL call. Takes vars; on success *out is the caller's copy of
 * data.<root> (it may be a JSON null).
 */
static int
runpod_call_t(const struct drv_ctx *ctx, const char *query, cJSON *vars,
    const char *root, int retries, long timeout_ms, cJSON **out,
    struct drv_error *err)
{
	struct http_request	 req;
	struct http_response	 resp;
	const cJSON		*v;
	cJSON			*body;
	char			*s, *cause = NULL;
	int			 rc = -1;

	*out = NULL;
	if (ctx->api_key == NULL || *ctx->api_key == '\0') {
		cJSON_Delete(vars);
		return (drv_error_set(err, DRV_ERR_AUTH, 0, "runpod: no API "
		    "key (set RUNPOD_API_KEY)"));
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "query", query);
	cJSON_AddItemToObject(body, "variables",
	    vars != NULL ? vars : cJSON_CreateObject());
	if ((s = cJSON_PrintUnformatted(body)) == NULL)
		fatalx("cJSON_PrintUnformatted: out of memory");
	cJSON_Delete(body);

	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = ctx->base_url != NULL ? ctx->base_url : RUNPOD_URL;
	req.auth = HTTP_AUTH_BEARER;
	req.secret = ctx->api_key;
	req.body = s;
	req.timeout_ms = timeout_ms;
	req.retries = retries;
	if (http_do(&req, &resp, &cause) != 0)
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "runpod: %s", cause);
	else if (runpod_response(resp.status, resp.json, root, &v, err) == 0) {
		*out = cJSON_Duplicate(v, 1);
		rc = 0;
	}
	free(cause);
	/* The body may carry expanded template secrets (env). */
	explicit_bzero(s, strlen(s));
	cJSON_free(s);
	http_response_free(&resp);
	return (rc);
}

static int
runpod_call(const struct drv_ctx *ctx, const char *query, cJSON *vars,
    const char *root, int retries, cJSON **out, struct drv_error *err)
{
	return (runpod_call_t(ctx, query, vars, root, retries,
	    RUNPOD_TIMEOUT_MS, out, err));
}

/*
 * data.myself of the account query. Numbers RunPod leaves out (or null)
 * stay unknown rather than 0: a limit of 0 would read as "no spend".
 */
int
runpod_parse_account(const cJSON *me, struct drv_account *a)
{
	const cJSON	*v;
	const char	*who;

	memset(a, 0, sizeof *a);
	if (!cJSON_IsObject(me))
		return (-1);
	if ((who = drv_json_str(me, "email")) == NULL || *who == '\0')
		who = drv_json_str(me, "id");
	if (who != NULL && *who != '\0')
		a->who = drv_text_clean(who, strlen(who), 0);
	v = cJSON_GetObjectItemCaseSensitive(me, "clientBalance");
	if ((a->has_balance = cJSON_IsNumber(v) && isfinite(v->valuedouble)))
		a->balance = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(me, "spendLimit");
	if ((a->has_limit = cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
	    v->valuedouble >= 0)) {
		a->limit = v->valuedouble;
		a->limit_secs = 3600;
	}
	v = cJSON_GetObjectItemCaseSensitive(me, "currentSpendPerHr");
	if ((a->has_spend = cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
	    v->valuedouble >= 0))
		a->spend_per_hour = v->valuedouble;
	return (0);
}

/* A key GraphQL accepts yet maps to no user is no key at all. */
static int
driver_runpod_account(const struct drv_ctx *ctx, struct drv_account *a,
    struct drv_error *err)
{
	cJSON	*me;
	int	 rc;

	memset(a, 0, sizeof *a);
	if (runpod_call_t(ctx, runpod_q_account, NULL, "myself", 0,
	    DRV_ACCOUNT_TIMEOUT_MS, &me, err) != 0)
		return (-1);
	if ((rc = runpod_parse_account(me, a)) != 0)
		drv_error_set(err, DRV_ERR_AUTH, 200, "runpod: myself is "
		    "null: the key belongs to no account");
	cJSON_Delete(me);
	return (rc);
}

/* A pod's env entry: "KEY=value" strings, or {key, value} objects. */
static const char *
runpod_env_get(const cJSON *pod, const char *key)
{
	const cJSON	*e;
	const char	*s, *k;
	size_t		 n = strlen(key);

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pod, "env")) {
		if ((s = cJSON_IsString(e) ? e->valuestring : NULL) != NULL &&
		    strncmp(s, key, n) == 0 && s[n] == '=')
			return (s + n + 1);
		if ((k = drv_json_str(e, "key")) != NULL && strcmp(k, key) == 0)
			return (drv_json_str(e, "value"));
	}
	return (NULL);
}

/*
 * Find port's protocol in a "8080/http,22/tcp" list; NULL if absent. The
 * answer is copied into proto (at most 7 characters).
 */
static const char *
runpod_port_proto(const char *list, int port, char *proto, size_t size)
{
	const char	*p = list, *slash, *end;
	char		*e;
	long		 n;
	size_t		 len;

	while (p != NULL && *p != '\0') {
		end = p + strcspn(p, ",");
		n = strtol(p, &e, 10);
		slash = e;
		if (e != p && slash < end && *slash == '/' && n == port) {
			len = (size_t)(end - slash - 1);
			if (len == 0 || len >= size)
				return (NULL);
			memcpy(proto, slash + 1, len);
			proto[len] = '\0';
			return (proto);
		}
		p = *end == ',' ? end + 1 : NULL;
	}
	return (NULL);
}

static enum inst_state
runpod_state(const cJSON *pod)
{
	const char	*st = drv_json_str(pod, "desiredStatus");
	const cJSON	*rt, *ports, *gpus;
	const char	*declared = drv_json_str(pod, "ports");

	rt = cJSON_GetObjectItemCaseSensitive(pod, "runtime");
	if (st == NULL)
		return (INST_UNKNOWN);
	if (strcmp(st, "CREATED") == 0 || strcmp(st, "RESTARTING") == 0)
		return (INST_BOOTING);
	if (strcmp(st, "EXITED") == 0 || strcmp(st, "PAUSED") == 0)
		return (INST_STOPPED);
	if (strcmp(st, "DEAD") == 0 || strcmp(st, "ERROR") == 0)
		return (INST_FAILED);
	if (strcmp(st, "TERMINATED") == 0)
		return (INST_TERMINATED);
	if (strcmp(st, "RUNNING") != 0)
		return (INST_UNKNOWN);
	/* The container is up only once runtime is there, ports included. */
	if (!cJSON_IsObject(rt))
		return (INST_BOOTING);
	ports = cJSON_GetObjectItemCaseSensitive(rt, "ports");
	if (declared != NULL && *declared != '\0' &&
	    cJSON_GetArraySize(ports) == 0)
		return (INST_BOOTING);
	/* Resumed on a host whose GPUs were taken: a zero-GPU pod. */
	gpus = cJSON_GetObjectItemCaseSensitive(rt, "gpus");
	if (cJSON_IsArray(gpus) && cJSON_GetArraySize(gpus) == 0 &&
	    runpod_num(pod, "gpuCount", 0, 1e6, -1) == 0)
		return (INST_FAILED);
	return (INST_RUNNING);
}

static int
runpod_host_ok(const char *s)
{
	return (*s != '\0' && strlen(s) < 256 && strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    ".-:") == strlen(s));
}

static void
runpod_endpoint_add(struct drv_instance *in, int port, const char *scheme,
    const char *host, int public_port)
{
	struct drv_endpoint	*e;
	int			 i;

	for (i = 0; i < in->nendpoints; i++)
		if (in->endpoints[i].port == port)
			return;
	if (in->nendpoints == RUNPOD_MAX_ENDPOINTS)
		return;
	in->endpoints = xreallocarray(in->endpoints, in->nendpoints + 1,
	    sizeof *in->endpoints);
	e = &in->endpoints[in->nendpoints++];
	memset(e, 0, sizeof *e);
	e->port = port;
	e->scheme = xstrdup(scheme);
	e->host = xstrdup(host);
	e->public_port = public_port;
}

/* The RunPod HTTPS proxy for pod:port ({id}, {port} in the pattern). */
static void
runpod_proxy_add(struct drv_instance *in, int port)
{
	const char	*pat = getenv("FLEET_RUNPOD_PROXY_HOST"), *p;
	char		 host[256], num[16];
	size_t		 len = 0, n;
	const char	*rep;

	if (pat == NULL || *pat == '\0')
		pat = RUNPOD_PROXY_HOST;
	snprintf(num, sizeof num, "%d", port);
	for (p = pat; *p != '\0';) {
		rep = NULL;
		if (strncmp(p, "{id}", 4) == 0) {
			rep = in->id;
			p += 4;
		} else if (strncmp(p, "{port}", 6) == 0) {
			rep = num;
			p += 6;
		}
		n = rep != NULL ? strlen(rep) : 1;
		if (len + n + 1 > sizeof host)
			return;
		memcpy(host + len, rep != NULL ? rep : p, n);
		if (rep == NULL)
			p++;
		len += n;
	}
	host[len] = '\0';
	if (runpod_host_ok(host))
		runpod_endpoint_add(in, port, "https", host, 443);
}

/*
 * Endpoints from runtime.ports: public tcp mappings are dialled directly
 * (http for http/ws services, tcp for raw ones, 22 is ssh); http ports
 * without one go through the RunPod proxy.
 */
static void
runpod_endpoints(const cJSON *pod, struct drv_instance *in)
{
	const cJSON	*rt, *p;
	const char	*ip, *type, *fleet_ports, *declared, *s;
	char		 proto[8], *end;
	int		 priv, pub;

	rt = cJSON_GetObjectItemCaseSensitive(pod, "runtime");
	if (!cJSON_IsObject(rt))
		return;
	fleet_ports = runpod_env_get(pod, "FLEET_PORTS");
	declared = drv_json_str(pod, "ports");
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(rt, "ports")) {
		priv = (int)runpod_num(p, "privatePort", 1, 65535, 0);
		pub = (int)runpod_num(p, "publicPort", 1, 65535, 0);
		ip = drv_json_str(p, "ip");
		type = drv_json_str(p, "type");
		if (priv == 0 || type == NULL)
			continue;
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p,
		    "isIpPublic")) || strcmp(type, "tcp") != 0 ||
		    ip == NULL || !runpod_host_ok(ip) || pub == 0)
			continue;
		if (priv == 22) {
			if (in->ssh_host == NULL) {
				in->ssh_host = xstrdup(ip);
				in->ssh_port = pub;
			}
			continue;
		}
		if (runpod_port_proto(fleet_ports, priv, proto,
		    sizeof proto) == NULL)
			snprintf(proto, sizeof proto, "http");
		runpod_endpoint_add(in, priv, strcmp(proto, "tcp") == 0 ?
		    "tcp" : "http", ip, pub);
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(rt, "ports")) {
		type = drv_json_str(p, "type");
		priv = (int)runpod_num(p, "privatePort", 1, 65535, 0);
		if (priv != 0 && type != NULL && strcmp(type, "http") == 0)
			runpod_proxy_add(in, priv);
	}
	/* Declared http ports that runtime does not list (yet). */
	for (s = declared; s != NULL && *s != '\0';) {
		priv = (int)strtol(s, &end, 10);
		if (end != s && strncmp(end, "/http", 5) == 0 &&
		    (end[5] == ',' || end[5] == '\0') && priv > 0 &&
		    priv <= 65535)
			runpod_proxy_add(in, priv);
		s = strchr(s, ',');
		if (s != NULL)
			s++;
	}
}

/* The busiest GPU's utilisation: the watchdog's second idle signal. */
static void
runpod_gpu_util(const cJSON *pod, struct drv_instance *out)
{
	const cJSON	*rt, *gpus, *g;
	double		 u;

	rt = cJSON_GetObjectItemCaseSensitive(pod, "runtime");
	gpus = cJSON_GetObjectItemCaseSensitive(rt, "gpus");
	cJSON_ArrayForEach(g, gpus) {
		u = runpod_num(g, "gpuUtilPercent", 0, 100, -1);
		if (u < 0)
			continue;
		out->has_gpu_util = 1;
		if ((int)u > out->gpu_util)
			out->gpu_util = (int)u;
	}
}

/* The provider's text is untrusted: no control bytes, bounded. */
static void
runpod_clean_reason(struct drv_instance *out)
{
	char	*c = drv_text_clean(out->exit_reason,
		    strnlen(out->exit_reason, 300), 0);

	free(out->exit_reason);
	out->exit_reason = c;
}

int
runpod_parse_pod(const cJSON *pod, struct drv_instance *out)
{
	const cJSON	*machine;
	const char	*id, *s;
	char		*reason;
	double		 price;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(pod) || (id = drv_json_str(pod, "id")) == NULL ||
	    *id == '\0')
		return (-1);
	out->id = xstrdup(id);
	if ((s = drv_json_str(pod, "name")) != NULL)
		out->name = xstrdup(s);
	out->state = runpod_state(pod);
	/* EXITED: the container stopped, by a podStop or by itself. */
	if ((s = drv_json_str(pod, "desiredStatus")) != NULL &&
	    strcmp(s, "EXITED") == 0) {
		out->exited = 1;
		s = drv_json_str(pod, "lastStatusChange");
		out->exit_reason = s != NULL && *s != '\0' ?
		    xprintf("pod EXITED (%s)", s) : xstrdup("pod EXITED");
		/* RunPod gives no reason: an outbid spot pod exits too. */
		if ((s = drv_json_str(pod, "podType")) != NULL &&
		    strcmp(s, "INTERRUPTABLE") == 0) {
			reason = out->exit_reason;
			out->exit_reason = xprintf("%s; a spot pod, it may "
			    "have been outbid", reason);
			free(reason);
		}
		runpod_clean_reason(out);
	}
	machine = cJSON_GetObjectItemCaseSensitive(pod, "machine");
	if ((s = drv_json_str(machine, "gpuDisplayName")) != NULL)
		out->gpu = xstrdup(s);
	if ((s = drv_json_str(machine, "location")) != NULL)
		out->region = xstrdup(s);
	out->gpu_count = (int)runpod_num(pod, "gpuCount", 0, 1024, 0);
	price = runpod_num(pod, "costPerHr", 0, 1e6, 0);
	if (price <= 0 && (s = runpod_env_get(pod, "FLEET_PRICE")) != NULL) {
		price = strtod(s, NULL);
		if (!isfinite(price) || price < 0 || price > 1e6)
			price = 0;
	}
	out->price_per_hour = price;
	/* A stopped pod still pays for its volume: $0.20/GB/month. */
	out->stopped_price_per_hour = runpod_num(pod, "volumeInGb", 0, 1e6, 0) *
	    RUNPOD_STOPPED_GB_MONTH / 730.0;
	runpod_endpoints(pod, out);
	runpod_gpu_util(pod, out);
	return (0);
}

/* Split s at spaces, '-' and '_' into lowercase tokens in buf. */
static int
runpod_tokens(const char *s, char *buf, size_t size, char **tok, int max)
{
	int	 n = 0;
	size_t	 i;
	char	*p;

	for (i = 0; i + 1 < size && s[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[i] = '\0';
	for (p = strtok(buf, " -_"); p != NULL && n < max;
	    p = strtok(NULL, " -_"))
		tok[n++] = p;
	return (n);
}

/*
 * "RTX 4090" matches "NVIDIA GeForce RTX 4090"; "A100 80GB" matches
 * "NVIDIA A100 80GB PCIe" and "NVIDIA A100-SXM4-80GB"; "A40" does not
 * match "RTX A4000": every word asked for must be a word of the name.
 */
int
runpod_gpu_matches(const char *want, const char *id, const char *display)
{
	char	 wb[128], ib[128], db[128], *wt[16], *it[32];
	int	 nw, ni, i, j, found;

	if ((id != NULL && strcasecmp(want, id) == 0) ||
	    (display != NULL && strcasecmp(want, display) == 0))
		return (1);
	nw = runpod_tokens(want, wb, sizeof wb, wt, 16);
	ni = runpod_tokens(id != NULL ? id : "", ib, sizeof ib, it, 16);
	ni += runpod_tokens(display != NULL ? display : "", db, sizeof db,
	    it + ni, 16);
	if (nw == 0)
		return (0);
	for (i = 0; i < nw; i++) {
		found = 0;
		for (j = 0; j < ni && !found; j++)
			found = strcmp(wt[i], it[j]) == 0;
		if (!found)
			return (0);
	}
	return (1);
}

static int
runpod_offer_cmp(const void *a, const void *b)
{
	const struct drv_offer	*x = a, *y = b;
	int			 c;

	if (x->price_per_hour != y->price_per_hour)
		return (x->price_per_hour < y->price_per_hour ? -1 : 1);
	if ((c = strcmp(x->gpu, y->gpu)) != 0)
		return (c);
	return (strcmp(x->offer_id, y->offer_id));
}

/* Does the template want this GPU type, in this count? */
static int
runpod_gpu_fits(const cJSON *g, const struct fleet_template *t, int count)
{
	const cJSON	*lp, *counts, *c;
	const char	*id = drv_json_str(g, "id");
	const char	*stock;
	int		 i, ok;

	if (id == NULL || *id == '\0')
		return (0);
	if (runpod_num(g, "memoryInGb", 0, 1e6, 0) < t->gpu.min_vram_gb)
		return (0);
	if (runpod_num(g, "maxGpuCount", 0, 1e6, 1e6) < count)
		return (0);
	for (i = 0, ok = t->gpu.nmodels == 0; i < t->gpu.nmodels && !ok; i++)
		ok = runpod_gpu_matches(t->gpu.models[i], id,
		    drv_json_str(g, "displayName"));
	if (!ok)
		return (0);
	/* Stock is a hint (High can still fail); only None rules out. */
	lp = cJSON_GetObjectItemCaseSensitive(g, "lowestPrice");
	if ((stock = drv_json_str(lp, "stockStatus")) != NULL &&
	    strcasecmp(stock, "None") == 0)
		return (0);
	counts = cJSON_GetObjectItemCaseSensitive(lp, "availableGpuCounts");
	if (cJSON_IsArray(counts) && cJSON_GetArraySize(counts) > 0) {
		ok = 0;
		cJSON_ArrayForEach(c, counts)
			if (cJSON_IsNumber(c) && c->valuedouble == count)
				ok = 1;
	}
	return (ok);
}

static void
runpod_offer_add(struct drv_offer **out, size_t *n, const cJSON *g,
    const char *cloud, double per_gpu, int count, int spot)
{
	struct drv_offer	*o;
	const char		*name = drv_json_str(g, "displayName");

	*out = xreallocarray(*out, *n + 1, sizeof **out);
	o = &(*out)[(*n)++];
	memset(o, 0, sizeof *o);
	o->provider = xstrdup("runpod");
	o->offer_id = xprintf("%s:%s", cloud, drv_json_str(g, "id"));
	o->gpu = xstrdup(name != NULL && *name != '\0' ? name :
	    drv_json_str(g, "id"));
	o->gpu_count = count;
	o->vram_gb = (int)runpod_num(g, "memoryInGb", 0, 1e6, 0);
	o->price_per_hour = per_gpu * count;
	o->region = xstrdup(strcmp(cloud, "SECURE") == 0 ? "secure cloud" :
	    "community cloud");
	o->available = -1;
	o->spot = spot;
}

int
runpod_parse_offers(const cJSON *gpu_types, const struct fleet_template *t,
    int spot, struct drv_offer **out, size_t *n)
{
	static const struct {
		const char *cloud, *flag, *price, *spot_price;
	} clouds[] = {
		{ "SECURE", "secureCloud", "securePrice", "secureSpotPrice" },
		{ "COMMUNITY", "communityCloud", "communityPrice",
		  "communitySpotPrice" },
	};
	const cJSON	*g, *flag;
	double		 price;
	int		 count = t->gpu.count > 0 ? t->gpu.count : 1;
	size_t		 i;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(gpu_types))
		return (-1);
	cJSON_ArrayForEach(g, gpu_types) {
		if (!cJSON_IsObject(g) || !runpod_gpu_fits(g, t, count))
			continue;
		for (i = 0; i < nitems(clouds); i++) {
			/* The flags are sometimes null for true: only false
			 * rules a cloud out; a price says it is offered. */
			flag = cJSON_GetObjectItemCaseSensitive(g,
			    clouds[i].flag);
			if (cJSON_IsFalse(flag))
				continue;
			price = runpod_num(g, clouds[i].price, 0, 1e5, 0);
			if (price > 0)
				runpod_offer_add(out, n, g, clouds[i].cloud,
				    price, count, 0);
			price = runpod_num(g, clouds[i].spot_price, 0, 1e5, 0);
			if (spot && price > 0)
				runpod_offer_add(out, n, g, clouds[i].cloud,
				    price, count, 1);
		}
	}
	if (*n > 1)
		qsort(*out, *n, sizeof **out, runpod_offer_cmp);
	return (0);
}

int
runpod_offers_ex(const struct drv_ctx *ctx, const struct fleet_template *t,
    int spot, struct drv_offer **out, size_t *n, struct drv_error *err)
{
	cJSON	*types;
	char	*q;
	int	 rc;

	*out = NULL;
	*n = 0;
	q = xprintf(runpod_q_gpus, t->gpu.count > 0 ? t->gpu.count : 1);
	rc = runpod_call(ctx, q, NULL, "gpuTypes", RUNPOD_RETRIES, &types,
	    err);
	free(q);
	if (rc != 0)
		return (-1);
	if (runpod_parse_offers(types, t, spot, out, n) != 0)
		rc = drv_error_set(err, DRV_ERR_TRANSIENT, 0, "runpod: "
		    "gpuTypes is not a list");
	cJSON_Delete(types);
	return (rc);
}

/*
 * The watcher starts from dockerArgs, which replaces the image's CMD:
 * fleet does not know that command, so the template must give it.
 */
static int
runpod_deadman_check(const struct fleet_template *t, struct drv_error *err)
{
	if (t->deadman_timeout > 0 && t->nargs == 0)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "runpod: "
		    "template %s sets deadman_timeout but no args: the "
		    "dead-man watcher starts from dockerArgs, which replaces "
		    "the image's command, so args must give it", t->name));
	return (0);
}

static int
driver_runpod_offers(const struct drv_ctx *ctx,
    const struct fleet_template *t, struct drv_offer **out, size_t *n,
    struct drv_error *err)
{
	*out = NULL;
	*n = 0;
	if (runpod_deadman_check(t, err) != 0)
		return (-1);
	/* Spot (interruptible, with a bid) when the template or --spot asks. */
	return (runpod_offers_ex(ctx, t, ctx->spot, out, n, err));
}

static const char *
runpod_proto_name(enum port_proto p)
{
	return (p == PORT_HTTP ? "http" : p == PORT_WS ? "ws" : "tcp");
}

/*
 * HTTP ports go through RunPod's proxy (/http); ws and tcp ports are
 * exposed as /tcp for a public ip:port, since the proxy's CDN cuts every
 * request at 100 s. 22/tcp is always there for ssh.
 */
char *
runpod_ports_string(const struct fleet_template *t)
{
	char	*s = xstrdup(""), *tmp;
	int	 i, ssh = 0;

	for (i = 0; i < t->nports; i++) {
		if (t->ports[i].number == 22)
			ssh = 1;
		tmp = s;
		s = xprintf("%s%s%d/%s", tmp, *tmp != '\0' ? "," : "",
		    t->ports[i].number, t->ports[i].proto == PORT_HTTP &&
		    t->ports[i].number != 22 ? "http" : "tcp");
		free(tmp);
	}
	if (!ssh) {
		tmp = s;
		s = xprintf("%s%s22/tcp", tmp, *tmp != '\0' ? "," : "");
		free(tmp);
	}
	return (s);
}

/* The FLEET_PORTS note: each port's fleet protocol. */
static char *
runpod_fleet_ports(const struct fleet_template *t)
{
	char	*s = xstrdup(""), *tmp;
	int	 i;

	for (i = 0; i < t->nports; i++) {
		tmp = s;
		s = xprintf("%s%s%d/%s", tmp, *tmp != '\0' ? "," : "",
		    t->ports[i].number, runpod_proto_name(t->ports[i].proto));
		free(tmp);
	}
	return (s);
}

static void
runpod_env_add(cJSON *env, const char *key, const char *value)
{
	cJSON	*e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "key", key);
	cJSON_AddStringToObject(e, "value", value);
	cJSON_AddItemToArray(env, e);
}

/* dockerArgs is one string: join args, quoting those that need it. */
static char *
runpod_docker_args(const struct fleet_template *t)
{
	char		*s = xstrdup(""), *tmp, *q, *p;
	const char	*a;
	int		 i;

	for (i = 0; i < t->nargs; i++) {
		a = t->args[i];
		if (*a != '\0' && strpbrk(a, " \t\n'\"\\$`") == NULL)
			q = xstrdup(a);
		else {
			/* 'it'\''s' */
			q = xmalloc(strlen(a) * 4 + 3);
			p = q;
			*p++ = '\'';
			for (; *a != '\0'; a++) {
				if (*a == '\'') {
					memcpy(p, "'\\''", 4);
					p += 4;
				} else
					*p++ = *a;
			}
			*p++ = '\'';
			*p = '\0';
		}
		tmp = s;
		s = xprintf("%s%s%s", tmp, *tmp != '\0' ? " " : "", q);
		free(tmp);
		free(q);
	}
	return (s);
}

/* dockerArgs that start the watcher, then exec the template's args. */
static char *
runpod_deadman_args(const struct fleet_template *t)
{
	char	*args = runpod_docker_args(t), *s;

	s = xprintf("sh -c '" DEADMAN_LAUNCH " exec \"$@\"' sh %s", args);
	free(args);
	return (s);
}

/* The podFindAndDeployOnDemand / podRentInterruptable input object. */
static cJSON *
runpod_create_input(const struct drv_ctx *ctx,
    const struct drv_create_req *req, const char *cloud, const char *gpu,
    int count, double price, const char *deadman)
{
	const struct fleet_template	*t = req->tmpl;
	cJSON				*in, *env;
	char				*s, *v;
	int				 i, disk;

	in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "cloudType", cloud);
	cJSON_AddStringToObject(in, "gpuTypeId", gpu);
	cJSON_AddNumberToObject(in, "gpuCount", count);
	cJSON_AddStringToObject(in, "name", req->name);
	cJSON_AddStringToObject(in, "imageName", t->image);
	if (t->nargs > 0) {
		s = deadman != NULL ? runpod_deadman_args(t) :
		    runpod_docker_args(t);
		cJSON_AddStringToObject(in, "dockerArgs", s);
		free(s);
	}
	s = runpod_ports_string(t);
	cJSON_AddStringToObject(in, "ports", s);
	free(s);
	disk = t->disk_gb > 0 ? t->disk_gb : RUNPOD_DISK_GB;
	cJSON_AddNumberToObject(in, "containerDiskInGb", disk);
	cJSON_AddNumberToObject(in, "volumeInGb", disk);
	cJSON_AddStringToObject(in, "volumeMountPath", "/workspace");
	cJSON_AddBoolToObject(in, "supportPublicIp", 1);
	cJSON_AddBoolToObject(in, "startSsh", 1);
	if (ctx->pconf != NULL && ctx->pconf->region != NULL)
		cJSON_AddStringToObject(in, "dataCenterId", ctx->pconf->region);
	env = cJSON_AddArrayToObject(in, "env");
	for (i = 0; i < t->nenv; i++) {
		v = drv_env_expand(t->env[i].value);
		/* Only ${VAR} values can hold secrets; "8080" must not be
		 * redacted from every later log line. */
		if (strstr(t->env[i].value, "${") != NULL)
			log_add_secret(v);
		runpod_env_add(env, t->env[i].key, v);
		freezero_str(v);
	}
	runpod_env_add(env, "FLEET_LABEL", req->name);
	s = runpod_fleet_ports(t);
	runpod_env_add(env, "FLEET_PORTS", s);
	free(s);
	s = xprintf("%.4f", price);
	runpod_env_add(env, "FLEET_PRICE", s);
	free(s);
	if (deadman != NULL)
		runpod_env_add(env, DEADMAN_ENV, deadman);
	return (in);
}

/* "SECURE:NVIDIA GeForce RTX 4090" -> cloud and GPU type id. */
static void
runpod_offer_split(const char *offer_id, char *cloud, size_t size,
    const char **gpu)
{
	const char	*colon = strchr(offer_id, ':');

	if (colon == NULL || (size_t)(colon - offer_id) >= size ||
	    (strncmp(offer_id, "SECURE:", 7) != 0 &&
	    strncmp(offer_id, "COMMUNITY:", 10) != 0 &&
	    strncmp(offer_id, "ALL:", 4) != 0)) {
		snprintf(cloud, size, "ALL");
		*gpu = offer_id;
		return;
	}
	memcpy(cloud, offer_id, colon - offer_id);
	cloud[colon - offer_id] = '\0';
	*gpu = colon + 1;
}

/* Create: one mutation, never repeated (a timed-out POST may have run). */
static int
driver_runpod_create(const struct drv_ctx *ctx,
    const struct drv_create_req *req, struct drv_instance *out,
    struct drv_error *err)
{
	const struct fleet_template	*t = req->tmpl;
	const struct drv_offer		*o = req->offer;
	struct drv_offer		*list = NULL;
	size_t				 n = 0;
	cJSON				*input, *vars, *pod = NULL;
	const char			*gpu, *root;
	char				 cloud[16], *deadman = NULL;
	char				*cause = NULL;
	int				 spot, count, rc = -1;
	double				 bid;

	memset(out, 0, sizeof *out);
	spot = req->spot || (o != NULL && o->spot);
	if (t->image == NULL || *t->image == '\0')
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "runpod: "
		    "template %s has no image", t->name));
	if (runpod_deadman_check(t, err) != 0)
		return (-1);
	if (t->deadman_timeout > 0 && (deadman = deadman_script("runpod",
	    ctx->base_url != NULL ? ctx->base_url : RUNPOD_URL, req->name,
	    t->deadman_timeout, &cause)) == NULL) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "runpod: dead-man "
		    "switch: %s", cause);
		free(cause);
		return (-1);
	}
	if (o == NULL) {
		if (runpod_offers_ex(ctx, t, spot, &list, &n, err) != 0)
			goto out;
		if (n == 0) {
			drv_error_set(err, DRV_ERR_CAPACITY, 0, "runpod: no "
			    "GPU type fits template %s", t->name);
			goto out;
		}
		o = &list[0];
	}
	runpod_offer_split(o->offer_id, cloud, sizeof cloud, &gpu);
	count = o->gpu_count > 0 ? o->gpu_count : 1;
	input = runpod_create_input(ctx, req, cloud, gpu, count,
	    o->price_per_hour, deadman);
	if (spot) {
		bid = req->bid > 0 ? req->bid : o->price_per_hour / count;
		cJSON_AddNumberToObject(input, "bidPerGpu", bid);
	}
	vars = cJSON_CreateObject();
	cJSON_AddItemToObject(vars, "input", input);
	root = spot ? "podRentInterruptable" : "podFindAndDeployOnDemand";
	if (runpod_call(ctx, spot ? runpod_q_spot : runpod_q_create, vars,
	    root, 0, &pod, err) != 0)
		goto out;
	if (runpod_parse_pod(pod, out) != 0) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "runpod: %s answered "
		    "without a pod", root);
		goto out;
	}
	if (out->name == NULL)
		out->name = xstrdup(req->name);
	if (out->gpu == NULL)
		out->gpu = xstrdup(o->gpu);
	if (out->gpu_count == 0)
		out->gpu_count = count;
	if (out->price_per_hour <= 0)
		out->price_per_hour = o->price_per_hour;
	out->created_at = now_wall();
	rc = 0;
out:
	free(deadman);
	cJSON_Delete(pod);
	drv_offer_list_free(list, n);
	return (rc);
}

static cJSON *
runpod_pod_vars(const char *id)
{
	cJSON	*vars = cJSON_CreateObject();

	cJSON_AddStringToObject(vars, "podId", id);
	return (vars);
}

static int
driver_runpod_get(const struct drv_ctx *ctx, const char *id,
    struct drv_instance *out, struct drv_error *err)
{
	cJSON	*pod;
	int	 rc = 0;

	memset(out, 0, sizeof *out);
	if (runpod_call(ctx, runpod_q_pod, runpod_pod_vars(id), "pod",
	    RUNPOD_RETRIES, &pod, err) != 0)
		return (-1);
	if (cJSON_IsNull(pod))
		rc = drv_error_set(err, DRV_ERR_NOT_FOUND, 200, "runpod: pod "
		    "%s not found", id);
	else if (runpod_parse_pod(pod, out) != 0)
		rc = drv_error_set(err, DRV_ERR_TRANSIENT, 200, "runpod: "
		    "unreadable pod %s", id);
	cJSON_Delete(pod);
	return (rc);
}

/* Every pod of the account whose name carries fleet's label prefix. */
static int
driver_runpod_list(const struct drv_ctx *ctx, struct drv_instance **out,
    size_t *n, struct drv_error *err)
{
	cJSON		*me, *p;
	const cJSON	*pods;
	const char	*name;

	*out = NULL;
	*n = 0;
	if (runpod_call(ctx, runpod_q_pods, NULL, "myself", RUNPOD_RETRIES,
	    &me, err) != 0)
		return (-1);
	pods = cJSON_GetObjectItemCaseSensitive(me, "pods");
	if (!cJSON_IsArray(pods)) {
		cJSON_Delete(me);
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "runpod: "
		    "myself.pods is not a list"));
	}
	cJSON_ArrayForEach(p, pods) {
		name = drv_json_str(p, "name");
		if (name == NULL || strncmp(name, "fleet-", 6) != 0)
			continue;
		*out = xreallocarray(*out, *n + 1, sizeof **out);
		if (runpod_parse_pod(p, &(*out)[*n]) == 0)
			(*n)++;
	}
	cJSON_Delete(me);
	return (0);
}

static int
driver_runpod_stop(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	cJSON	*r;

	if (runpod_call(ctx, runpod_q_stop, runpod_pod_vars(id), "podStop",
	    RUNPOD_RETRIES, &r, err) != 0)
		return (-1);
	cJSON_Delete(r);
	return (0);
}

/* Resume on the same host; spot pods resume with a bid. Ports change. */
static int
driver_runpod_start(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	cJSON		*pod, *vars, *r;
	const char	*type;
	int		 count, bid;
	double		 price;

	if (runpod_call(ctx, runpod_q_pod, runpod_pod_vars(id), "pod",
	    RUNPOD_RETRIES, &pod, err) != 0)
		return (-1);
	if (!cJSON_IsObject(pod)) {
		cJSON_Delete(pod);
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 200, "runpod: "
		    "pod %s not found", id));
	}
	count = (int)runpod_num(pod, "gpuCount", 1, 1024, 1);
	type = drv_json_str(pod, "podType");
	bid = type != NULL && (strcmp(type, "INTERRUPTABLE") == 0 ||
	    strcmp(type, "BID") == 0);
	price = runpod_num(pod, "costPerHr", 0, 1e6, 0);
	cJSON_Delete(pod);
	vars = runpod_pod_vars(id);
	cJSON_AddNumberToObject(vars, "gpuCount", count);
	if (bid) {
		cJSON_AddNumberToObject(vars, "bidPerGpu", price / count);
		if (runpod_call(ctx, runpod_q_bid_resume, vars,
		    "podBidResume", RUNPOD_RETRIES, &r, err) != 0)
			return (-1);
	} else if (runpod_call(ctx, runpod_q_resume, vars, "podResume",
	    RUNPOD_RETRIES, &r, err) != 0)
		return (-1);
	cJSON_Delete(r);
	return (0);
}

/*
 * Terminate is idempotent for the orchestrator: an unknown pod answers
 * DRV_ERR_NOT_FOUND. RunPod's error for that case is not documented, so
 * any error is checked against the pod itself before it is believed.
 */
static int
driver_runpod_terminate(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	struct drv_instance	 in;
	struct drv_error	 gerr;
	cJSON			*r;

	if (runpod_call(ctx, runpod_q_terminate, runpod_pod_vars(id),
	    "podTerminate", RUNPOD_RETRIES, &r, err) == 0) {
		cJSON_Delete(r);
		return (0);
	}
	if (err->kind == DRV_ERR_AUTH || err->kind == DRV_ERR_RATE_LIMITED ||
	    err->kind == DRV_ERR_NOT_FOUND)
		return (-1);
	memset(&gerr, 0, sizeof gerr);
	if (driver_runpod_get(ctx, id, &in, &gerr) != 0) {
		if (gerr.kind == DRV_ERR_NOT_FOUND)
			err->kind = DRV_ERR_NOT_FOUND;
		return (-1);
	}
	if (in.state == INST_TERMINATED)
		err->kind = DRV_ERR_NOT_FOUND;
	drv_instance_clear(&in);
	return (-1);
}

/*
 * runpodctl keeps its key in ~/.runpod/config.toml as `apikey = "..."`
 * (viper writes its "apiKey" setting lowercased; runpodctl cmd/root.go).
 */
static const struct drv_key_file runpod_cli_keys[] = {
	{ "runpodctl", "~/.runpod/config.toml", DRV_KEYFILE_TOML, "apikey" },
	{ NULL, NULL, DRV_KEYFILE_PLAIN, NULL }
};

const struct fleet_driver driver_runpod = {
	.name = "runpod",
	.flags = DRV_CAN_STOP | DRV_NEEDS_KEY | DRV_DEADMAN,
	.key_env = "RUNPOD_API_KEY",
	.url_env = "FLEET_RUNPOD_URL",
	.default_url = RUNPOD_URL,
	.ssh_user = "root",
	.cli_key_files = runpod_cli_keys,
	.offers = driver_runpod_offers,
	.create = driver_runpod_create,
	.get = driver_runpod_get,
	.list = driver_runpod_list,
	.stop = driver_runpod_stop,
	.start = driver_runpod_start,
	.terminate = driver_runpod_terminate,
	.account = driver_runpod_account,
};
