/* fake-runpod.c: RunPod's GraphQL API for pods, over fake instances. */
#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * Mounted at /runpod, so the driver's URL is
 * http://127.0.0.1:PORT/runpod/graphql (shared/providers/runpod.md).
 *
 *	POST /graphql {"query","variables"}: dispatched on the root field
 *	    found in the query text: gpuTypes, myself (pods), pod,
 *	    podFindAndDeployOnDemand, podRentInterruptable, podStop,
 *	    podResume, podBidResume, podTerminate. Arguments come from
 *	    variables (podId also from an inline literal).
 *	POST /_fake {...}	switches, no auth; /_control/reset restores:
 *	    "api_key": the accepted key (default "test-key");
 *	    "query_auth": also accept the legacy ?api_key=KEY;
 *	    "http_ports": "public" (default: every declared port gets a
 *		public 127.0.0.1 tcp mapping to the instance's process, so
 *		tests can dial it) or "proxy" (as RunPod does: http ports
 *		show a private 100.65.x.x ip, isIpPublic false, type http);
 *	    "pod_missing": "null" (default: pod() of an unknown or
 *		terminated id is null) or "error" (an errors entry);
 *	    "zero_cost": costPerHr answers 0 (runpod-python#438);
 *	    "zero_gpu": resumed pods come back with no GPU;
 *	    "gpu_util": N, what every GPU reports as gpuUtilPercent;
 *	    "pod_key_terminate": false, a pod-scoped key may stop its pod
 *		but not terminate it (whether RunPod allows it is
 *		unconfirmed): podTerminate answers a GraphQL error.
 *	    "balance": N, myself.clientBalance (default 100; null: left out);
 *	    "spend_limit": N, myself.spendLimit, USD per hour (default 80,
 *		RunPod's default account limit; null: left out).
 *	    myself.currentSpendPerHr is the sum of its live pods' costPerHr.
 *	GET /_fake/input?pod=ID[&env=KEY|&field=NAME]	no auth: the create
 *	    input the fake kept for that pod (JSON), or one env value or
 *	    string field of it as text/plain (fc_reply_kept()).
 *
 * Declared ports map to the instance's echo process on 127.0.0.1, except
 * 22 under fakecloud --ssh-port N: 22/tcp -> 127.0.0.1:N, the test's sshd.
 *
 * Pod-scoped keys: RunPod gives every pod its own RUNPOD_API_KEY. Here
 * "Bearer pod-key-ID" is that key for pod ID while the pod exists: it may
 * read (pod), stop (podStop) and terminate (podTerminate) that pod and
 * nothing else (HTTP 403 otherwise), which is what the dead-man watcher
 * uses. Key missing or wrong -> HTTP 401. Unknown fields in variables.input ->
 * HTTP 400 (runpod-plugins-official#56). No capacity (POST
 * /_control/capacity {"provider":"runpod","gpu":<gpuTypeId>|"*",
 * "available":0}) -> HTTP 200 with RunPod's own message in errors[0].
 */

#define RUNPOD		"runpod"
#define RP_KEY		"test-key"
#define RP_POD_KEY	"pod-key-"	/* + pod id: the pod's own key */

#define RP_MSG_CAPACITY	"There are no longer any instances available " \
			"with the requested specifications. Please " \
			"refresh and try again."
#define RP_MSG_SPOT	"There are no longer any instances available " \
			"with the request specifications. Please try " \
			"again later."
#define RP_MSG_WRONG	"Something went wrong. Please try again later or " \
			"contact support."

static const struct rp_gpu {
	const char	*id;
	const char	*display;
	int		 mem;
	int		 secure, community;	/* -1: null flag */
	double		 secure_price, community_price;
	double		 secure_spot, community_spot;
	const char	*stock;			/* NULL: null */
} rp_gpus[] = {
	{ "NVIDIA GeForce RTX 4090", "RTX 4090", 24, 1, 1,
	  0.69, 0.34, 0.35, 0.20, "High" },
	{ "NVIDIA A40", "A40", 48, 1, 0, 0.44, 0, 0.24, 0, "Medium" },
	{ "NVIDIA RTX A6000", "RTX A6000", 48, 1, 1, 0.79, 0.49, 0.40, 0.25,
	  "High" },
	{ "NVIDIA A100 80GB PCIe", "A100 80GB PCIe", 80, 1, 1,
	  1.64, 1.19, 0.82, 0.60, "Medium" },
	{ "NVIDIA H100 80GB HBM3", "H100 80GB HBM3", 80, 1, -1,
	  2.99, 0, 1.75, 0, "Low" },
	{ "NVIDIA H200", "H200 SXM", 141, 1, 0, 3.99, 0, 0, 0, "None" },
};

/* Fields of PodFindAndDeployOnDemandInput the fake accepts. */
static const char *rp_input_fields[] = {
	"cloudType", "gpuTypeId", "gpuCount", "name", "imageName",
	"templateId", "dockerArgs", "ports", "env", "containerDiskInGb",
	"volumeInGb", "volumeMountPath", "minVcpuCount", "minMemoryInGb",
	"supportPublicIp", "startSsh", "startJupyter", "dataCenterId",
	"countryCode", "networkVolumeId", "allowedCudaVersions",
	"minDownload", "minUpload", "containerRegistryAuthId", "stopAfter",
	"terminateAfter", NULL
};

static struct {
	char	*key;
	int	 query_auth;
	int	 http_proxy;
	int	 pod_missing_error;
	int	 zero_cost;
	int	 zero_gpu;
	int	 gpu_util;	/* runtime.gpus[].gpuUtilPercent */
	int	 pod_key_no_terminate;
	int	 init;	/* reset ran: the defaults below are set */
	int	 no_balance;
	double	 balance;
	int	 no_limit;
	double	 spend_limit;
} rp;

static const char *
rp_key(void)
{
	return (rp.key != NULL ? rp.key : RP_KEY);
}

static void
rp_reset(struct fc *fc __unused)
{
	free(rp.key);
	memset(&rp, 0, sizeof rp);
	rp.init = 1;
	rp.balance = 100;
	rp.spend_limit = 80;
}

static const struct rp_gpu *
rp_gpu_find(const char *id)
{
	size_t	i;

	for (i = 0; id != NULL && i < nitems(rp_gpus); i++)
		if (strcmp(rp_gpus[i].id, id) == 0)
			return (&rp_gpus[i]);
	return (NULL);
}

/*
 * A GraphQL error answer: {"errors":[{message, locations, path,
 * extensions}], "data": {root: null}} (data null for HTTP 4xx).
 */
static void
rp_error(struct fc_req *req, int status, const char *root, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
rp_error(struct fc_req *req, int status, const char *root, const char *code,
    const char *fmt, ...)
{
	cJSON	*o, *errs, *e, *loc, *data;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	errs = cJSON_AddArrayToObject(o, "errors");
	e = cJSON_CreateObject();
	cJSON_AddItemToArray(errs, e);
	cJSON_AddStringToObject(e, "message", msg);
	loc = cJSON_AddArrayToObject(e, "locations");
	cJSON_AddItemToArray(loc, cJSON_CreateObject());
	cJSON_AddNumberToObject(cJSON_GetArrayItem(loc, 0), "line", 1);
	cJSON_AddNumberToObject(cJSON_GetArrayItem(loc, 0), "column", 1);
	if (root != NULL && status == 200) {
		cJSON_AddItemToObject(e, "path", cJSON_CreateArray());
		cJSON_AddItemToArray(cJSON_GetObjectItem(e, "path"),
		    cJSON_CreateString(root));
	}
	if (code != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(e,
		    "extensions"), "code", code);
	if (root != NULL && status == 200) {
		data = cJSON_AddObjectToObject(o, "data");
		cJSON_AddNullToObject(data, root);
	} else
		cJSON_AddNullToObject(o, "data");
	free(msg);
	fc_reply_json(req, status, o);
}

/* {"data": {root: value}}; takes value. */
static void
rp_data(struct fc_req *req, const char *root, cJSON *value)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToObject(cJSON_AddObjectToObject(o, "data"), root,
	    value != NULL ? value : cJSON_CreateNull());
	fc_reply_json(req, 200, o);
}

/*
 * The root field: the first name inside the outermost selection set,
 * skipping the operation's variable declarations.
 */
static char *
rp_root_field(const char *q)
{
	const char	*p, *s;
	int		 parens = 0;

	for (p = q; *p != '\0'; p++) {
		if (*p == '(')
			parens++;
		else if (*p == ')' && parens > 0)
			parens--;
		else if (*p == '{' && parens == 0)
			break;
	}
	if (*p != '{')
		return (NULL);
	for (p++; isspace((unsigned char)*p); p++)
		;
	for (s = p; isalnum((unsigned char)*p) || *p == '_'; p++)
		;
	return (p > s ? xstrndup(s, p - s) : NULL);
}

/* podId from the variables, variables.input, or an inline literal. */
static char *
rp_pod_id(struct fc_req *req, cJSON *vars, const char *query)
{
	const char	*id, *p, *e;

	if ((id = fc_json_string(vars, "podId")) != NULL ||
	    (id = fc_json_string(cJSON_GetObjectItem(vars, "input"),
	    "podId")) != NULL)
		return (xstrdup(id));
	(void)req;
	if ((p = strstr(query, "podId:")) == NULL)
		return (NULL);
	for (p += 6; isspace((unsigned char)*p); p++)
		;
	if (*p != '"' || (e = strchr(p + 1, '"')) == NULL)
		return (NULL);
	return (xstrndup(p + 1, e - p - 1));
}

static const char *
rp_status(struct fc_instance *inst)
{
	switch (inst->state) {
	case FC_PENDING:
	case FC_BOOTING:
	case FC_RUNNING:
		return ("RUNNING");
	case FC_STOPPED:
	case FC_EXITED:		/* runtime null too: it is not running */
		return ("EXITED");
	default:
		return ("TERMINATED");
	}
}

/* runtime.ports from the declared "8080/http,22/tcp" list. */
static cJSON *
rp_runtime_ports(struct fc_instance *inst)
{
	cJSON		*a = cJSON_CreateArray(), *e;
	const char	*decl = fc_json_string(inst->meta, "ports"), *p;
	char		*end, type[8];
	long		 port;
	size_t		 n;
	int		 http;

	for (p = decl; p != NULL && *p != '\0';) {
		port = strtol(p, &end, 10);
		n = strcspn(end, ",");
		if (end != p && *end == '/' && n > 1 && n < sizeof type + 1) {
			memcpy(type, end + 1, n - 1);
			type[n - 1] = '\0';
			http = strcmp(type, "http") == 0;
			e = cJSON_CreateObject();
			if (port == 22 && inst->fc->ssh_port > 0) {
				cJSON_AddStringToObject(e, "ip", "127.0.0.1");
				cJSON_AddBoolToObject(e, "isIpPublic", 1);
				cJSON_AddNumberToObject(e, "publicPort",
				    inst->fc->ssh_port);
				cJSON_AddStringToObject(e, "type", "tcp");
			} else if (http && rp.http_proxy) {
				cJSON_AddStringToObject(e, "ip",
				    "100.65.0.101");
				cJSON_AddBoolToObject(e, "isIpPublic", 0);
				cJSON_AddNumberToObject(e, "publicPort",
				    60000 + port % 5000);
				cJSON_AddStringToObject(e, "type", "http");
			} else {
				cJSON_AddStringToObject(e, "ip", "127.0.0.1");
				cJSON_AddBoolToObject(e, "isIpPublic", 1);
				cJSON_AddNumberToObject(e, "publicPort",
				    inst->port);
				cJSON_AddStringToObject(e, "type", "tcp");
			}
			cJSON_AddNumberToObject(e, "privatePort", port);
			cJSON_AddItemToArray(a, e);
		}
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return (a);
}

static cJSON *
rp_runtime(struct fc_instance *inst)
{
	cJSON	*rt, *gpus, *g;
	int	 i, n = (int)fc_json_number(inst->meta, "gpuCount", 1);

	if (inst->state != FC_RUNNING)
		return (cJSON_CreateNull());
	rt = cJSON_CreateObject();
	cJSON_AddNumberToObject(rt, "uptimeInSeconds",
	    (double)(fc_now() - inst->started));
	cJSON_AddItemToObject(rt, "ports", rp_runtime_ports(inst));
	gpus = cJSON_AddArrayToObject(rt, "gpus");
	for (i = 0; i < n; i++) {
		g = cJSON_CreateObject();
		cJSON_AddItemToObject(g, "id", cJSON_CreateString("GPU-fake"));
		cJSON_AddNumberToObject(g, "gpuUtilPercent", rp.gpu_util);
		cJSON_AddNumberToObject(g, "memoryUtilPercent", 0);
		cJSON_AddItemToArray(gpus, g);
	}
	g = cJSON_AddObjectToObject(rt, "container");
	cJSON_AddNumberToObject(g, "cpuPercent", 1);
	cJSON_AddNumberToObject(g, "memoryPercent", 2);
	return (rt);
}

/* The full pod object; selections are not honoured (runpod.md §10). */
static cJSON *
rp_pod_json(struct fc_instance *inst)
{
	cJSON		*o = cJSON_CreateObject(), *m;
	const char	*keys[] = { "imageName", "dockerArgs", "ports",
			    "podType", "machineId", "volumeMountPath" };
	size_t		 i;

	cJSON_AddStringToObject(o, "id", inst->id);
	cJSON_AddStringToObject(o, "name", inst->label);
	cJSON_AddStringToObject(o, "desiredStatus", rp_status(inst));
	cJSON_AddNumberToObject(o, "costPerHr", rp.zero_cost ? 0 :
	    inst->price);
	cJSON_AddNumberToObject(o, "uptimeSeconds", 0);
	for (i = 0; i < nitems(keys); i++)
		cJSON_AddStringToObject(o, keys[i],
		    fc_json_string(inst->meta, keys[i]) != NULL ?
		    fc_json_string(inst->meta, keys[i]) : "");
	cJSON_AddNumberToObject(o, "gpuCount",
	    fc_json_number(inst->meta, "gpuCount", 1));
	cJSON_AddNumberToObject(o, "vcpuCount", 8);
	cJSON_AddNumberToObject(o, "memoryInGb", 62);
	cJSON_AddNumberToObject(o, "containerDiskInGb",
	    fc_json_number(inst->meta, "containerDiskInGb", 10));
	cJSON_AddNumberToObject(o, "volumeInGb",
	    fc_json_number(inst->meta, "volumeInGb", 0));
	cJSON_AddItemToObject(o, "env", cJSON_Duplicate(
	    cJSON_GetObjectItem(inst->meta, "env"), 1));
	cJSON_AddStringToObject(o, "lastStatusChange",
	    inst->state == FC_EXITED && inst->exit_msg != NULL &&
	    *inst->exit_msg != '\0' ? inst->exit_msg : "Rented by User");
	m = cJSON_AddObjectToObject(o, "machine");
	cJSON_AddStringToObject(m, "gpuDisplayName", inst->gpu);
	cJSON_AddStringToObject(m, "location", "US");
	cJSON_AddStringToObject(m, "podHostId",
	    fc_json_string(inst->meta, "podHostId"));
	cJSON_AddItemToObject(o, "runtime", rp_runtime(inst));
	return (o);
}

/* A pod the API still knows: ours, not terminated, not vanished. */
static struct fc_instance *
rp_find(struct fc *fc, const char *id)
{
	struct fc_instance	*inst;

	if (id == NULL || (inst = instance_find(fc, RUNPOD, id)) == NULL ||
	    inst->state == FC_TERMINATED || inst->state == FC_GONE)
		return (NULL);
	return (inst);
}

/*
 * 0 for the account's key, 1 for a live pod's own key (*scope is that
 * pod's id, the caller's); -1 after answering 401.
 */
static int
rp_auth(struct fc_req *req, char **scope)
{
	const char	*a = fc_req_header(req, "Authorization");
	char		*q;
	int		 ok = 0;

	*scope = NULL;
	if (a != NULL && strncmp(a, "Bearer ", 7) == 0 &&
	    strcmp(a + 7, rp_key()) == 0)
		ok = 1;
	if (!ok && rp.query_auth && (q = fc_req_query(req, "api_key")) !=
	    NULL) {
		ok = strcmp(q, rp_key()) == 0;
		free(q);
	}
	if (!ok && a != NULL && strncmp(a, "Bearer " RP_POD_KEY,
	    7 + strlen(RP_POD_KEY)) == 0 && rp_find(req->fc,
	    a + 7 + strlen(RP_POD_KEY)) != NULL) {
		*scope = xstrdup(a + 7 + strlen(RP_POD_KEY));
		return (1);
	}
	if (!ok)
		fc_reply(req, 401, "application/json", "{\"errors\":[{"
		    "\"message\":\"401 Unauthorized\"}]}");
	return (ok ? 0 : -1);
}

static void
rp_gpu_types(struct fc_req *req, const char *query)
{
	const struct rp_gpu	*g;
	cJSON			*a, *o, *lp, *counts;
	size_t			 i;
	int			 c;

	(void)query;
	a = cJSON_CreateArray();
	for (i = 0; i < nitems(rp_gpus); i++) {
		g = &rp_gpus[i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", g->id);
		cJSON_AddStringToObject(o, "displayName", g->display);
		cJSON_AddNumberToObject(o, "memoryInGb", g->mem);
		cJSON_AddStringToObject(o, "manufacturer", "Nvidia");
		cJSON_AddNumberToObject(o, "maxGpuCount", 8);
		if (g->secure < 0)
			cJSON_AddNullToObject(o, "secureCloud");
		else
			cJSON_AddBoolToObject(o, "secureCloud", g->secure);
		if (g->community < 0)
			cJSON_AddNullToObject(o, "communityCloud");
		else
			cJSON_AddBoolToObject(o, "communityCloud",
			    g->community);
		cJSON_AddNumberToObject(o, "securePrice", g->secure_price);
		cJSON_AddNumberToObject(o, "communityPrice",
		    g->community_price);
		cJSON_AddNumberToObject(o, "secureSpotPrice", g->secure_spot);
		cJSON_AddNumberToObject(o, "communitySpotPrice",
		    g->community_spot);
		lp = cJSON_AddObjectToObject(o, "lowestPrice");
		cJSON_AddNumberToObject(lp, "minimumBidPrice",
		    g->community_spot > 0 ? g->community_spot : g->secure_spot);
		cJSON_AddNumberToObject(lp, "uninterruptablePrice",
		    g->community_price > 0 ? g->community_price :
		    g->secure_price);
		if (g->stock != NULL)
			cJSON_AddStringToObject(lp, "stockStatus", g->stock);
		else
			cJSON_AddNullToObject(lp, "stockStatus");
		counts = cJSON_AddArrayToObject(lp, "availableGpuCounts");
		for (c = 1; c <= 8 && g->stock != NULL &&
		    strcmp(g->stock, "None") != 0; c *= 2)
			cJSON_AddItemToArray(counts, cJSON_CreateNumber(c));
		cJSON_AddItemToArray(a, o);
	}
	rp_data(req, "gpuTypes", a);
}

static void
rp_myself(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*me, *pods;
	double			 spend = 0;

	me = cJSON_CreateObject();
	cJSON_AddStringToObject(me, "id", "user_fake0001");
	cJSON_AddStringToObject(me, "email", "fleet@example.com");
	if (!rp.no_balance)
		cJSON_AddNumberToObject(me, "clientBalance", rp.balance);
	if (!rp.no_limit)
		cJSON_AddNumberToObject(me, "spendLimit", rp.spend_limit);
	pods = cJSON_AddArrayToObject(me, "pods");
	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, RUNPOD) != 0 ||
		    rp_find(req->fc, inst->id) != inst)
			continue;
		cJSON_AddItemToArray(pods, rp_pod_json(inst));
		if (inst->state == FC_RUNNING || inst->state == FC_BOOTING)
			spend += inst->price;
	}
	cJSON_AddNumberToObject(me, "currentSpendPerHr", spend);
	rp_data(req, "myself", me);
}

static void
rp_pod(struct fc_req *req, cJSON *vars, const char *query)
{
	struct fc_instance	*inst;
	char			*id = rp_pod_id(req, vars, query);

	if (id == NULL)
		rp_error(req, 400, NULL, "BAD_USER_INPUT", "Variable "
		    "\"$podId\" of required type \"String!\" was not "
		    "provided.");
	else if ((inst = rp_find(req->fc, id)) != NULL)
		rp_data(req, "pod", rp_pod_json(inst));
	else if (rp.pod_missing_error)
		rp_error(req, 200, "pod", "INTERNAL_SERVER_ERROR",
		    "pod not found");
	else
		rp_data(req, "pod", NULL);
	free(id);
}

/* Unknown input fields are a validation error before anything runs. */
static int
rp_check_input(struct fc_req *req, cJSON *input, const char *type,
    int spot)
{
	cJSON	*f;
	size_t	 i;
	int	 known;

	if (!cJSON_IsObject(input)) {
		rp_error(req, 400, NULL, "BAD_USER_INPUT", "Variable "
		    "\"$input\" of required type \"%s!\" was not provided.",
		    type);
		return (-1);
	}
	cJSON_ArrayForEach(f, input) {
		known = spot && strcmp(f->string, "bidPerGpu") == 0;
		for (i = 0; rp_input_fields[i] != NULL && !known; i++)
			known = strcmp(f->string, rp_input_fields[i]) == 0;
		if (!known) {
			rp_error(req, 400, NULL, "BAD_USER_INPUT", "Variable "
			    "\"$input\" got invalid value; Field \"%s\" is not "
			    "defined by type \"%s\".", f->string, type);
			return (-1);
		}
	}
	return (0);
}

/* env [{key, value}] -> ["KEY=value"], as RunPod echoes it. */
static cJSON *
rp_env(cJSON *env)
{
	cJSON		*a = cJSON_CreateArray(), *e;
	const char	*k, *v;
	char		*s;

	cJSON_ArrayForEach(e, env) {
		if ((k = fc_json_string(e, "key")) == NULL)
			continue;
		v = fc_json_string(e, "value");
		s = xprintf("%s=%s", k, v != NULL ? v : "");
		cJSON_AddItemToArray(a, cJSON_CreateString(s));
		free(s);
	}
	return (a);
}

/* 14 lowercase alphanumerics, like RunPod's pod ids. */
static char *
rp_new_id(struct fc *fc)
{
	static const char	 al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned long		 x;
	char			 id[15];
	int			 i;

	x = (unsigned long)(++fc->next_id) * 2654435761UL + 977UL;
	for (i = 0; i < 14; i++) {
		id[i] = al[x % 36];
		x = x / 36 + (unsigned long)(i + 1) * 7919UL * fc->next_id;
	}
	id[14] = '\0';
	return (xstrdup(id));
}

static void
rp_deploy(struct fc_req *req, cJSON *vars, const char *root, int spot)
{
	const char		*type = spot ? "PodRentInterruptableInput" :
				    "PodFindAndDeployOnDemandInput";
	cJSON			*in = cJSON_GetObjectItem(vars, "input");
	const struct rp_gpu	*g;
	struct fc_instance	*inst;
	const char		*gpu, *cloud, *name;
	double			 per_gpu, bid;
	int			 count;
	char			*id;

	if (rp_check_input(req, in, type, spot) != 0)
		return;
	gpu = fc_json_string(in, "gpuTypeId");
	cloud = fc_json_string(in, "cloudType");
	name = fc_json_string(in, "name");
	count = (int)fc_json_number(in, "gpuCount", 1);
	if (fc_json_string(in, "imageName") == NULL &&
	    fc_json_string(in, "templateId") == NULL) {
		rp_error(req, 200, root, "INTERNAL_SERVER_ERROR", RP_MSG_WRONG);
		return;
	}
	if (cloud != NULL && strcmp(cloud, "SECURE") != 0 &&
	    strcmp(cloud, "COMMUNITY") != 0 && strcmp(cloud, "ALL") != 0) {
		rp_error(req, 400, NULL, "BAD_USER_INPUT", "Variable "
		    "\"$input\" got invalid value \"%s\" at "
		    "\"input.cloudType\"; Value \"%s\" does not exist in "
		    "\"CloudTypeEnum\" enum.", cloud, cloud);
		return;
	}
	g = rp_gpu_find(gpu);
	per_gpu = g == NULL ? 0 : cloud != NULL &&
	    strcmp(cloud, "COMMUNITY") == 0 ? (spot ? g->community_spot :
	    g->community_price) : (spot ? g->secure_spot : g->secure_price);
	bid = fc_json_number(in, "bidPerGpu", -1);
	if (spot && bid < 0) {
		rp_error(req, 200, root, "INTERNAL_SERVER_ERROR", RP_MSG_WRONG);
		return;
	}
	if (g == NULL || per_gpu <= 0 || count < 1 || count > 8 ||
	    (g->stock != NULL && strcmp(g->stock, "None") == 0) ||
	    (spot && bid < per_gpu) ||
	    !control_capacity_take(req->fc, RUNPOD, gpu)) {
		rp_error(req, 200, root, "INTERNAL_SERVER_ERROR", "%s",
		    spot ? RP_MSG_SPOT : RP_MSG_CAPACITY);
		return;
	}
	id = rp_new_id(req->fc);
	inst = instance_create(req->fc, RUNPOD, id, name != NULL ? name : "",
	    g->display, (spot ? bid : per_gpu) * count);
	free(id);
	cJSON_AddStringToObject(inst->meta, "imageName",
	    fc_json_string(in, "imageName") != NULL ?
	    fc_json_string(in, "imageName") : "");
	cJSON_AddStringToObject(inst->meta, "dockerArgs",
	    fc_json_string(in, "dockerArgs") != NULL ?
	    fc_json_string(in, "dockerArgs") : "");
	cJSON_AddStringToObject(inst->meta, "ports",
	    fc_json_string(in, "ports") != NULL ?
	    fc_json_string(in, "ports") : "");
	cJSON_AddStringToObject(inst->meta, "cloudType",
	    cloud != NULL ? cloud : "ALL");
	cJSON_AddStringToObject(inst->meta, "podType",
	    spot ? "INTERRUPTABLE" : "RESERVED");
	cJSON_AddStringToObject(inst->meta, "gpuTypeId", gpu);
	cJSON_AddNumberToObject(inst->meta, "gpuCount", count);
	cJSON_AddNumberToObject(inst->meta, "containerDiskInGb",
	    fc_json_number(in, "containerDiskInGb", 10));
	cJSON_AddNumberToObject(inst->meta, "volumeInGb",
	    fc_json_number(in, "volumeInGb", 0));
	cJSON_AddStringToObject(inst->meta, "volumeMountPath",
	    fc_json_string(in, "volumeMountPath") != NULL ?
	    fc_json_string(in, "volumeMountPath") : "/workspace");
	cJSON_AddStringToObject(inst->meta, "machineId", "hpvdausak8xb");
	id = xprintf("%s-64410065", inst->id);
	cJSON_AddStringToObject(inst->meta, "podHostId", id);
	free(id);
	cJSON_AddItemToObject(inst->meta, "env",
	    rp_env(cJSON_GetObjectItem(in, "env")));
	cJSON_AddItemToObject(inst->meta, "input", cJSON_Duplicate(in, 1));
	/* The pod is RUNNING at once; runtime stays null while it boots. */
	rp_data(req, root, rp_pod_json(inst));
}

/* podStop, podResume, podBidResume and podTerminate. */
static void
rp_action(struct fc_req *req, cJSON *vars, const char *query,
    const char *root)
{
	struct fc_instance	*inst;
	char			*id, *cause = NULL;
	const char		*gpu;
	cJSON			*o;
	int			 r;

	if ((id = rp_pod_id(req, vars, query)) == NULL) {
		rp_error(req, 400, NULL, "BAD_USER_INPUT", "Variable "
		    "\"$podId\" of required type \"String!\" was not "
		    "provided.");
		return;
	}
	inst = rp_find(req->fc, id);
	free(id);
	if (inst == NULL) {
		rp_error(req, 200, root, "INTERNAL_SERVER_ERROR", "pod not "
		    "found");
		return;
	}
	if (strcmp(root, "podStop") == 0)
		r = instance_stop(inst, &cause);
	else if (strcmp(root, "podTerminate") == 0)
		r = instance_terminate(inst, &cause);
	else {
		gpu = fc_json_string(inst->meta, "gpuTypeId");
		if (inst->state == FC_STOPPED &&
		    !control_capacity_take(req->fc, RUNPOD, gpu)) {
			rp_error(req, 200, root, "INTERNAL_SERVER_ERROR",
			    "%s", RP_MSG_CAPACITY);
			return;
		}
		if (rp.zero_gpu && inst->state == FC_STOPPED)
			cJSON_ReplaceItemInObject(inst->meta, "gpuCount",
			    cJSON_CreateNumber(0));
		r = instance_start(inst, &cause);
	}
	if (r != 0) {
		rp_error(req, 200, root, "INTERNAL_SERVER_ERROR", "%s", cause);
		free(cause);
		return;
	}
	if (strcmp(root, "podTerminate") == 0) {
		rp_data(req, root, NULL);	/* a scalar: null */
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", inst->id);
	cJSON_AddStringToObject(o, "desiredStatus", rp_status(inst));
	cJSON_AddNumberToObject(o, "costPerHr", rp.zero_cost ? 0 :
	    inst->price);
	rp_data(req, root, o);
}

/* POST /runpod/_fake: the switches described at the top. */
static void
rp_fake_config(struct fc_req *req)
{
	cJSON		*j = fc_req_json(req);
	const cJSON	*v;
	const char	*s;

	if (!cJSON_IsObject(j)) {
		fc_reply_error(req, 400, "body must be a JSON object");
		return;
	}
	if ((s = fc_json_string(j, "api_key")) != NULL) {
		free(rp.key);
		rp.key = xstrdup(s);
	}
	if (cJSON_GetObjectItem(j, "query_auth") != NULL)
		rp.query_auth = cJSON_IsTrue(cJSON_GetObjectItem(j,
		    "query_auth"));
	if ((s = fc_json_string(j, "http_ports")) != NULL)
		rp.http_proxy = strcmp(s, "proxy") == 0;
	if ((s = fc_json_string(j, "pod_missing")) != NULL)
		rp.pod_missing_error = strcmp(s, "error") == 0;
	if (cJSON_GetObjectItem(j, "zero_cost") != NULL)
		rp.zero_cost = cJSON_IsTrue(cJSON_GetObjectItem(j,
		    "zero_cost"));
	if (cJSON_GetObjectItem(j, "zero_gpu") != NULL)
		rp.zero_gpu = cJSON_IsTrue(cJSON_GetObjectItem(j, "zero_gpu"));
	if (cJSON_GetObjectItem(j, "gpu_util") != NULL)
		rp.gpu_util = (int)fc_json_number(j, "gpu_util", 0);
	if ((v = cJSON_GetObjectItem(j, "balance")) != NULL) {
		rp.no_balance = !cJSON_IsNumber(v);
		rp.balance = fc_json_number(j, "balance", 0);
	}
	if ((v = cJSON_GetObjectItem(j, "spend_limit")) != NULL) {
		rp.no_limit = !cJSON_IsNumber(v);
		rp.spend_limit = fc_json_number(j, "spend_limit", 0);
	}
	if (cJSON_GetObjectItem(j, "pod_key_terminate") != NULL)
		rp.pod_key_no_terminate = !cJSON_IsTrue(cJSON_GetObjectItem(j,
		    "pod_key_terminate"));
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* GET /runpod/_fake/input?pod=ID: the create input kept for the pod. */
static void
rp_fake_input(struct fc_req *req)
{
	struct fc_instance	*inst;
	char			*id = fc_req_query(req, "pod");

	inst = id != NULL ? instance_find(req->fc, RUNPOD, id) : NULL;
	free(id);
	fc_reply_kept(req, inst != NULL ? cJSON_GetObjectItem(inst->meta,
	    "input") : NULL);
}

/*
 * A pod's own key reaches only that pod: pod, podStop and podTerminate
 * (unless switched off). 0 if the request may go on; else answered.
 */
static int
rp_scope_check(struct fc_req *req, const char *scope, cJSON *vars,
    const char *query, const char *root)
{
	char	*id;
	int	 mine;

	if (strcmp(root, "pod") != 0 && strcmp(root, "podStop") != 0 &&
	    strcmp(root, "podTerminate") != 0) {
		rp_error(req, 403, NULL, "FORBIDDEN", "This API key is scoped "
		    "to pod %s and cannot run %s", scope, root);
		return (-1);
	}
	id = rp_pod_id(req, vars, query);
	mine = id != NULL && strcmp(id, scope) == 0;
	free(id);
	if (!mine) {
		rp_error(req, 403, NULL, "FORBIDDEN", "This API key is scoped "
		    "to pod %s", scope);
		return (-1);
	}
	if (strcmp(root, "podTerminate") == 0 && rp.pod_key_no_terminate) {
		rp_error(req, 200, root, "FORBIDDEN", "A pod's own API key "
		    "cannot terminate it");
		return (-1);
	}
	return (0);
}

static void
rp_graphql(struct fc_req *req, const char *scope)
{
	cJSON		*j = fc_req_json(req), *vars;
	const char	*query;
	char		*root;

	if (!cJSON_IsObject(j) || (query = fc_json_string(j, "query")) ==
	    NULL) {
		rp_error(req, 400, NULL, "BAD_REQUEST", "Must provide query "
		    "string.");
		return;
	}
	vars = cJSON_GetObjectItem(j, "variables");
	if ((root = rp_root_field(query)) == NULL) {
		rp_error(req, 400, NULL, "GRAPHQL_PARSE_FAILED", "Syntax "
		    "Error: Unexpected <EOF>.");
		return;
	}
	if (scope != NULL && rp_scope_check(req, scope, vars, query,
	    root) != 0) {
		free(root);
		return;
	}
	if (strcmp(root, "gpuTypes") == 0)
		rp_gpu_types(req, query);
	else if (strcmp(root, "myself") == 0)
		rp_myself(req);
	else if (strcmp(root, "pod") == 0)
		rp_pod(req, vars, query);
	else if (strcmp(root, "podFindAndDeployOnDemand") == 0)
		rp_deploy(req, vars, root, 0);
	else if (strcmp(root, "podRentInterruptable") == 0)
		rp_deploy(req, vars, root, 1);
	else if (strcmp(root, "podStop") == 0 ||
	    strcmp(root, "podResume") == 0 ||
	    strcmp(root, "podBidResume") == 0 ||
	    strcmp(root, "podTerminate") == 0)
		rp_action(req, vars, query, root);
	else
		rp_error(req, 400, NULL, "GRAPHQL_VALIDATION_FAILED", "Cannot "
		    "query field \"%s\" on type \"%s\".", root,
		    strncmp(query, "mutation", 8) == 0 ? "Mutation" : "Query");
	free(root);
}

static void
rp_handle(struct fc_req *req)
{
	char	*scope;

	if (!rp.init)
		rp_reset(req->fc);
	if (strcmp(req->subpath, "/_fake") == 0 &&
	    strcmp(req->method, "POST") == 0) {
		rp_fake_config(req);
		return;
	}
	if (strcmp(req->subpath, "/_fake/input") == 0 &&
	    strcmp(req->method, "GET") == 0) {
		rp_fake_input(req);
		return;
	}
	if (strcmp(req->subpath, "/graphql") != 0) {
		fc_reply(req, 404, "text/plain", "404 page not found");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		rp_error(req, 405, NULL, "BAD_REQUEST", "GET query missing.");
		return;
	}
	if (rp_auth(req, &scope) < 0)
		return;
	rp_graphql(req, scope);
	free(scope);
}

const struct fc_provider fc_provider_runpod = {
	RUNPOD,
	rp_handle,
	rp_reset
};
