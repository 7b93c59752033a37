/* fake-lambda.c: Lambda Cloud's REST API v1, per shared/providers/lambda.md. */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * Mounted at /lambda, so the base URL is http://127.0.0.1:PORT/lambda/api/v1:
 *
 *	GET  /instance-types		{"data": {TYPE: {instance_type,
 *					    regions_with_capacity_available}}}
 *	POST /instance-operations/launch	{"instance_ids": [ID]}
 *	POST /instance-operations/terminate	{"terminated_instances"}
 *	POST /instance-operations/restart	{"restarted_instances"}
 *	GET  /instances, GET|POST /instances/ID	Instance objects
 *	GET|POST /ssh-keys, GET|PUT /firewall-rules
 *
 * Errors are {"error": {"code", "message", "suggestion"}} with the codes
 * and statuses of the OpenAPI document. Auth: "Bearer K", "Basic
 * base64(K:)" or "Basic K". Capacity per instance type comes from
 * POST /_control/capacity {"provider": "lambda", "gpu": TYPE}; 429/5xx
 * from /_control/fail with a route under /lambda/api/v1.
 *
 * Instances: launch -> "booting" without ip -> "active" with ip 127.0.0.1
 * once the echo process listens; terminate -> "terminating" for
 * LF_TERMINATING_MS -> gone from the list and 404 on GET.
 *
 * Fake-only switches, for behaviour the docs leave open ([U] in lambda.md)
 * and for tests; this is fakecloud configuration, not Lambda's API:
 *
 *	POST /lambda/_control {"api_key": K|null, "account_inactive": b,
 *	    "instance_port": N, "terminated_visible": b,
 *	    "terminate_unknown_ok": b, "private_ip": b,
 *	    "active_without_ip": b, "unhealthy": ID}
 *
 * instance_port: Lambda VMs expose a service on their ip at the service's
 * own port, which fake instances (random loopback ports) cannot do. With
 * instance_port N, every launched instance also runs an echo server on
 * 127.0.0.1:N and is "active" only once that listens, so the real driver
 * path (ip + the template's port) works end to end, one instance at a
 * time. -1 picks a free port and returns it.
 */

#define LAMBDA			"lambda"
#define LF_TERMINATING_MS	500
#define LF_IP			"127.0.0.1"

struct lf_type {
	const char	*name;
	const char	*description;
	const char	*gpu;
	int		 cents;
	int		 vcpus;
	int		 memory_gib;
	int		 storage_gib;
	int		 gpus;
	const char	*regions[3];
};

/* A catalogue shaped like Lambda's (names, descriptions, cents/hour). */
static const struct lf_type lf_types[] = {
	{ "gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 75,
	  30, 200, 1400, 1, { "us-east-1", "us-west-1" } },
	{ "gpu_1x_a6000", "1x A6000 (48 GB)", "A6000 (48 GB)", 80,
	  14, 100, 512, 1, { "us-south-1" } },
	{ "gpu_1x_a100_sxm4", "1x A100 (40 GB SXM4)", "A100 (40 GB SXM4)",
	  129, 30, 200, 512, 1, { "us-east-1", "us-west-2" } },
	{ "gpu_1x_gh200", "1x GH200 (96 GB)", "GH200 (96 GB)", 149,
	  64, 432, 4096, 1, { "us-east-3" } },
	{ "gpu_1x_h100_pcie", "1x H100 (80 GB PCIe)", "H100 (80 GB PCIe)",
	  249, 26, 200, 1024, 1, { "us-west-3" } },
	{ "gpu_2x_a100_80gb_sxm4", "2x A100 (80 GB SXM4)",
	  "A100 (80 GB SXM4)", 358, 60, 450, 2048, 2, { "us-midwest-1" } },
	{ "gpu_8x_a100_80gb_sxm4", "8x A100 (80 GB SXM4)",
	  "A100 (80 GB SXM4)", 1432, 240, 1800, 19500, 8,
	  { "us-midwest-1", "us-east-1" } },
	{ "gpu_8x_h100_sxm5", "8x H100 (80 GB SXM5)", "H100 (80 GB SXM5)",
	  2392, 208, 1800, 24780, 8, { "us-south-2" } },
	{ "gpu_8x_v100", "8x Tesla V100 (16 GB)", "Tesla V100 (16 GB)", 440,
	  92, 448, 5900, 8, { NULL } },		/* sold out everywhere */
};

static const struct {
	const char	*name;
	const char	*description;
} lf_regions[] = {
	{ "us-east-1", "Virginia, USA" }, { "us-east-2", "Washington DC, USA" },
	{ "us-east-3", "Washington DC, USA" },
	{ "us-west-1", "California, USA" },
	{ "us-west-2", "Arizona, USA" }, { "us-west-3", "Utah, USA" },
	{ "us-south-1", "Texas, USA" }, { "us-south-2", "North Texas, USA" },
	{ "us-south-3", "Central Texas, USA" },
	{ "us-midwest-1", "Illinois, USA" }, { "us-midwest-2", "Ohio, USA" },
	{ "europe-central-1", "Frankfurt, Germany" },
	{ "asia-south-1", "Bangalore, India" },
	{ "asia-northeast-1", "Osaka, Japan" },
	{ "asia-northeast-2", "Tokyo, Japan" },
	{ "australia-east-1", "Sydney, Australia" },
	{ "me-west-1", "Israel" },
	{ "test-east-1", "Test East" }, { "test-west-1", "Test West" },
};

/* The fake's own switches and records (fakecloud is one process). */
static struct {
	char		*api_key;	/* NULL: any non-empty key */
	int		 account_inactive;
	int		 instance_port;
	int		 terminated_visible;
	int		 terminate_unknown_ok;
	int		 no_private_ip;
	int		 active_without_ip;
	cJSON		*ssh_keys;
	cJSON		*firewall;
	pid_t		*aliases;
	size_t		 naliases;
	unsigned int	 seq;
} lf;

static void
lf_error(struct fc_req *req, int status, const char *code, const char *msg,
    const char *suggestion)
{
	cJSON	*o, *e;

	o = cJSON_CreateObject();
	e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (suggestion != NULL)
		cJSON_AddStringToObject(e, "suggestion", suggestion);
	fc_reply_json(req, status, o);
}

static void
lf_invalid(struct fc_req *req, const char *msg)
{
	lf_error(req, 400, "global/invalid-parameters",
	    msg != NULL ? msg : "Invalid request data.", NULL);
}

static void
lf_not_found(struct fc_req *req)
{
	lf_error(req, 404, "global/object-does-not-exist",
	    "Specified instance does not exist.", NULL);
}

/* {"data": v}; takes v. */
static void
lf_data(struct fc_req *req, cJSON *v)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "data", v);
	fc_reply_json(req, 200, o);
}

static const struct lf_type *
lf_type_find(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < nitems(lf_types); i++)
		if (strcmp(lf_types[i].name, name) == 0)
			return (&lf_types[i]);
	return (NULL);
}

static const char *
lf_region_desc(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < nitems(lf_regions); i++)
		if (strcmp(lf_regions[i].name, name) == 0)
			return (lf_regions[i].description);
	return (NULL);
}

static cJSON *
lf_region_json(const char *name)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "description", lf_region_desc(name));
	return (o);
}

static cJSON *
lf_type_json(const struct lf_type *t)
{
	cJSON	*o = cJSON_CreateObject(), *s;

	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "description", t->description);
	cJSON_AddStringToObject(o, "gpu_description", t->gpu);
	cJSON_AddNumberToObject(o, "price_cents_per_hour", t->cents);
	s = cJSON_AddObjectToObject(o, "specs");
	cJSON_AddNumberToObject(s, "vcpus", t->vcpus);
	cJSON_AddNumberToObject(s, "memory_gib", t->memory_gib);
	cJSON_AddNumberToObject(s, "storage_gib", t->storage_gib);
	cJSON_AddNumberToObject(s, "gpus", t->gpus);
	return (o);
}

/* Minimal base64 decoder for Basic credentials; NULL if malformed. */
static char *
lf_base64_decode(const char *in)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	char			*out;
	size_t			 n = 0;
	unsigned int		 acc = 0;
	int			 bits = 0;

	out = xmalloc(strlen(in) + 1);
	for (p = in; *p != '\0' && *p != '='; p++) {
		const char *c = strchr(abc, *p);

		if (c == NULL) {
			free(out);
			return (NULL);
		}
		acc = (acc << 6) | (unsigned int)(c - abc);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return (out);
}

/* The API key of the request, in any of the accepted shapes; caller frees. */
static char *
lf_key(struct fc_req *req)
{
	const char	*a = fc_req_header(req, "Authorization");
	char		*dec;
	size_t		 len;

	if (a == NULL)
		return (NULL);
	if (strncmp(a, "Bearer ", 7) == 0)
		return (xstrdup(a + 7));
	if (strncmp(a, "Basic ", 6) != 0)
		return (NULL);
	if ((dec = lf_base64_decode(a + 6)) != NULL &&
	    (len = strlen(dec)) > 0 && dec[len - 1] == ':') {
		dec[len - 1] = '\0';
		return (dec);
	}
	free(dec);
	return (xstrdup(a + 6));	/* "Basic <api_key>", also allowed */
}

static int
lf_auth(struct fc_req *req)
{
	char	*key = lf_key(req);
	int	 ok;

	ok = key != NULL && *key != '\0' &&
	    (lf.api_key == NULL || strcmp(key, lf.api_key) == 0);
	free(key);
	if (!ok) {
		lf_error(req, 401, "global/invalid-api-key",
		    "API key was invalid, expired, or deleted.",
		    "Check your API key or create a new one, then try again.");
		return (-1);
	}
	if (lf.account_inactive) {
		lf_error(req, 403, "global/account-inactive",
		    "Your account is inactive.", "Make sure you have verified "
		    "your email address and have a valid payment method. "
		    "Contact Support if problems continue.");
		return (-1);
	}
	return (0);
}

static const char *
lf_meta(struct fc_instance *inst, const char *key)
{
	return (fc_json_string(inst->meta, key));
}

static int
lf_port_open(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	if (port <= 0 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (r);
}

/* Lambda's status of a fake instance; NULL once it is gone for good. */
static const char *
lf_status(struct fc_instance *inst)
{
	int	 alias = (int)fc_json_number(inst->meta, "alias_port", 0);

	switch (inst->state) {
	case FC_GONE:
		return (NULL);
	case FC_TERMINATED:
		if (fc_now_ms() - (int64_t)fc_json_number(inst->meta,
		    "terminated_ms", 0) < LF_TERMINATING_MS)
			return ("terminating");
		return (lf.terminated_visible ? "terminated" : NULL);
	case FC_RUNNING:
		if (cJSON_IsTrue(cJSON_GetObjectItem(inst->meta, "unhealthy")))
			return ("unhealthy");
		if (alias > 0 && !lf_port_open(alias))
			return ("booting");
		return ("active");
	default:
		return ("booting");
	}
}

static cJSON *
lf_instance_json(struct fc_instance *inst, const char *status)
{
	const struct lf_type	*t = lf_type_find(lf_meta(inst, "type"));
	cJSON			*o, *a, *act;
	const char		*acts[] = { "migrate", "rebuild", "restart",
				    "cold_reboot", "terminate" };
	char			 tok[40];
	size_t			 i;
	int			 has_ip;

	has_ip = inst->started != 0 && strcmp(status, "booting") != 0 &&
	    !(lf.active_without_ip && strcmp(status, "active") == 0);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", inst->id);
	if (cJSON_IsTrue(cJSON_GetObjectItem(inst->meta, "named")))
		cJSON_AddStringToObject(o, "name", inst->label);
	if (has_ip) {
		cJSON_AddStringToObject(o, "ip", LF_IP);
		if (!lf.no_private_ip)
			cJSON_AddStringToObject(o, "private_ip", "10.0.2.100");
	}
	cJSON_AddStringToObject(o, "status", status);
	a = cJSON_AddArrayToObject(o, "ssh_key_names");
	cJSON_AddItemToArray(a, cJSON_CreateString(lf_meta(inst, "ssh_key")));
	cJSON_AddArrayToObject(o, "file_system_names");
	cJSON_AddItemToObject(o, "region",
	    lf_region_json(lf_meta(inst, "region")));
	if (t != NULL)
		cJSON_AddItemToObject(o, "instance_type", lf_type_json(t));
	if (has_ip) {
		snprintf(tok, sizeof tok, "%.32s", inst->id);
		cJSON_AddStringToObject(o, "hostname", "127-0-0-1.fake.lambda");
		cJSON_AddStringToObject(o, "jupyter_token", tok);
		cJSON_AddItemToObject(o, "jupyter_url", cJSON_CreateString(
		    "https://jupyter.invalid/?token=fake"));
	}
	act = cJSON_AddObjectToObject(o, "actions");
	for (i = 0; i < nitems(acts); i++) {
		cJSON *x = cJSON_AddObjectToObject(act, acts[i]);
		int ok = strcmp(status, "active") == 0 ||
		    (strcmp(acts[i], "terminate") == 0 &&
		    strcmp(status, "terminating") != 0);

		cJSON_AddBoolToObject(x, "available", ok);
		if (!ok) {
			cJSON_AddStringToObject(x, "reason_code",
			    strcmp(status, "booting") == 0 ?
			    "vm-has-not-launched" : "vm-is-terminating");
			cJSON_AddStringToObject(x, "reason_description",
			    "Not available in this state.");
		}
	}
	return (o);
}

/* A Lambda instance that the API still shows (any status), or NULL. */
static struct fc_instance *
lf_find(struct fc *fc, const char *id)
{
	struct fc_instance	*inst;

	if ((inst = instance_find(fc, LAMBDA, id)) == NULL ||
	    lf_status(inst) == NULL)
		return (NULL);
	return (inst);
}

static void
lf_instance_types(struct fc_req *req)
{
	const struct lf_type	*t;
	cJSON			*data, *item, *regions;
	size_t			 i, j;

	data = cJSON_CreateObject();
	for (i = 0; i < nitems(lf_types); i++) {
		t = &lf_types[i];
		item = cJSON_AddObjectToObject(data, t->name);
		cJSON_AddItemToObject(item, "instance_type", lf_type_json(t));
		regions = cJSON_AddArrayToObject(item,
		    "regions_with_capacity_available");
		if (control_capacity(req->fc, LAMBDA, t->name) == 0)
			continue;
		for (j = 0; j < nitems(t->regions) && t->regions[j] != NULL;
		    j++)
			cJSON_AddItemToArray(regions,
			    lf_region_json(t->regions[j]));
	}
	lf_data(req, data);
}

static int
lf_key_known(const char *name)
{
	cJSON	*k;

	cJSON_ArrayForEach(k, lf.ssh_keys) {
		const char *n = fc_json_string(k, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return (1);
	}
	return (0);
}

/* Run an echo server on the fixed instance port (see instance_port). */
static pid_t
lf_alias_spawn(struct fc *fc, const char *label, int port)
{
	pid_t	 pid, parent = getpid();
	char	 portstr[16];
	int	 fd;

	if ((pid = fork()) != 0) {
		if (pid > 0) {
			lf.aliases = xreallocarray(lf.aliases, lf.naliases + 1,
			    sizeof *lf.aliases);
			lf.aliases[lf.naliases++] = pid;
		}
		return (pid);
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	signal(SIGPIPE, SIG_DFL);
	for (fd = 3; fd < 1024; fd++)
		close(fd);
	snprintf(portstr, sizeof portstr, "%d", port);
	setenv("FLEET_INSTANCE_NAME", label, 1);
	execl(fc->fleet != NULL ? fc->fleet : "/proc/self/exe", "fleet",
	    "echo-server", "--port", portstr, "--bind", LF_IP, (char *)NULL);
	_exit(127);
}

static void
lf_alias_kill(struct fc_instance *inst)
{
	pid_t	 pid = (pid_t)fc_json_number(inst->meta, "alias_pid", 0);
	size_t	 i;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	cJSON_DeleteItemFromObject(inst->meta, "alias_pid");
	for (i = 0; i < lf.naliases; i++) {
		if (lf.aliases[i] == pid) {
			lf.aliases[i] = lf.aliases[--lf.naliases];
			break;
		}
	}
}

/* Check a launch request the way the API does; 0 if it may go ahead. */
static int
lf_launch_check(struct fc_req *req, cJSON *j, const struct lf_type **tp)
{
	const char	*region, *type, *name, *key;
	cJSON		*keys;
	size_t		 i;

	region = fc_json_string(j, "region_name");
	type = fc_json_string(j, "instance_type_name");
	keys = cJSON_GetObjectItemCaseSensitive(j, "ssh_key_names");
	name = fc_json_string(j, "name");
	if (region == NULL || type == NULL || !cJSON_IsArray(keys) ||
	    cJSON_GetArraySize(keys) != 1 ||
	    !cJSON_IsString(cJSON_GetArrayItem(keys, 0))) {
		lf_invalid(req, NULL);
		return (-1);
	}
	key = cJSON_GetArrayItem(keys, 0)->valuestring;
	if (fc_json_number(j, "quantity", 1) > 1) {
		lf_invalid(req, "Requested too many instances.");
		return (-1);
	}
	if (name != NULL && strlen(name) > 64) {
		lf_invalid(req, "name: String should have at most 64 "
		    "characters");
		return (-1);
	}
	if (lf_region_desc(region) == NULL) {
		lf_invalid(req, "region_name: Input should be a valid region");
		return (-1);
	}
	if ((*tp = lf_type_find(type)) == NULL || !lf_key_known(key)) {
		lf_error(req, 404, "global/object-does-not-exist", *tp == NULL ?
		    "Specified instance type does not exist." :
		    "Specified SSH key does not exist.", "Check the name.");
		return (-1);
	}
	for (i = 0; i < nitems((*tp)->regions); i++)
		if ((*tp)->regions[i] != NULL &&
		    strcmp((*tp)->regions[i], region) == 0)
			break;
	if (i == nitems((*tp)->regions) ||
	    !control_capacity_take(req->fc, LAMBDA, type)) {
		lf_error(req, 400, "instance-operations/launch/"
		    "insufficient-capacity", "Not enough capacity to fulfill "
		    "launch request.", "Choose another instance type or "
		    "region, or try again later.");
		return (-1);
	}
	return (0);
}

static void
lf_launch(struct fc_req *req)
{
	const struct lf_type	*t = NULL;
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req), *d, *ids;
	const char		*name;
	char			 id[33];
	pid_t			 pid;

	if (!cJSON_IsObject(j)) {
		lf_invalid(req, NULL);
		return;
	}
	if (lf_launch_check(req, j, &t) != 0)
		return;
	lf.seq++;
	snprintf(id, sizeof id, "%08x%08x%08x%08x", (unsigned int)fc_now(),
	    (unsigned int)getpid(), lf.seq, lf.seq * 2654435761u);
	name = fc_json_string(j, "name");
	inst = instance_create(req->fc, LAMBDA, id, name, t->gpu,
	    t->cents / 100.0);
	cJSON_AddStringToObject(inst->meta, "type", t->name);
	cJSON_AddStringToObject(inst->meta, "region",
	    fc_json_string(j, "region_name"));
	cJSON_AddStringToObject(inst->meta, "ssh_key", cJSON_GetArrayItem(
	    cJSON_GetObjectItem(j, "ssh_key_names"), 0)->valuestring);
	cJSON_AddBoolToObject(inst->meta, "named", name != NULL);
	if (lf.instance_port > 0 && (pid = lf_alias_spawn(req->fc, inst->label,
	    lf.instance_port)) > 0) {
		cJSON_AddNumberToObject(inst->meta, "alias_pid", pid);
		cJSON_AddNumberToObject(inst->meta, "alias_port",
		    lf.instance_port);
	}
	d = cJSON_CreateObject();
	ids = cJSON_AddArrayToObject(d, "instance_ids");
	cJSON_AddItemToArray(ids, cJSON_CreateString(id));
	lf_data(req, d);
}

static void
lf_list(struct fc_req *req)
{
	struct fc_instance	*inst;
	const char		*st;
	cJSON			*a = cJSON_CreateArray();

	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, LAMBDA) != 0 ||
		    (st = lf_status(inst)) == NULL ||
		    strcmp(st, "terminated") == 0)
			continue;
		cJSON_AddItemToArray(a, lf_instance_json(inst, st));
	}
	lf_data(req, a);
}

/*
 * terminate or restart {"instance_ids": [...]}: every id is checked
 * before any is acted on, as one request is one operation.
 */
static void
lf_operation(struct fc_req *req, int terminate)
{
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req), *ids, *id;
	cJSON			*out, *list;
	char			*cause = NULL;
	const char		*st;

	ids = cJSON_GetObjectItemCaseSensitive(j, "instance_ids");
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0) {
		lf_invalid(req, NULL);
		return;
	}
	cJSON_ArrayForEach(id, ids) {
		if (!cJSON_IsString(id)) {
			lf_invalid(req, NULL);
			return;
		}
		inst = lf_find(req->fc, id->valuestring);
		st = inst != NULL ? lf_status(inst) : NULL;
		if ((inst == NULL || strcmp(st, "terminated") == 0 ||
		    (!terminate && strcmp(st, "terminating") == 0)) &&
		    !(terminate && lf.terminate_unknown_ok)) {
			lf_not_found(req);
			return;
		}
	}
	out = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(out, terminate ?
	    "terminated_instances" : "restarted_instances");
	cJSON_ArrayForEach(id, ids) {
		if ((inst = lf_find(req->fc, id->valuestring)) == NULL ||
		    strcmp(lf_status(inst), "terminated") == 0)
			continue;	/* terminate_unknown_ok: left out */
		if (terminate && inst->state != FC_TERMINATED) {
			lf_alias_kill(inst);
			instance_terminate(inst, &cause);
			cJSON_AddNumberToObject(inst->meta, "terminated_ms",
			    (double)fc_now_ms());
		} else if (!terminate) {
			instance_stop(inst, &cause);
			instance_start(inst, &cause);
		}
		free(cause);
		cause = NULL;
		cJSON_AddItemToArray(list, lf_instance_json(inst,
		    lf_status(inst)));
	}
	lf_data(req, out);
}

/* GET or POST (rename) /instances/ID */
static void
lf_instance(struct fc_req *req, const char *id)
{
	struct fc_instance	*inst;
	const char		*name;

	if ((inst = lf_find(req->fc, id)) == NULL) {
		lf_not_found(req);
		return;
	}
	if (strcmp(req->method, "POST") == 0) {
		name = fc_json_string(fc_req_json(req), "name");
		if (name == NULL || strlen(name) > 64) {
			lf_invalid(req, NULL);
			return;
		}
		free(inst->label);
		inst->label = xstrdup(name);
		cJSON_ReplaceItemInObject(inst->meta, "named",
		    cJSON_CreateTrue());
	}
	lf_data(req, lf_instance_json(inst, lf_status(inst)));
}

static void
lf_ssh_keys(struct fc_req *req)
{
	cJSON		*j, *k;
	const char	*name;
	char		 id[33];

	if (strcmp(req->method, "GET") == 0) {
		lf_data(req, cJSON_Duplicate(lf.ssh_keys, 1));
		return;
	}
	j = fc_req_json(req);
	if ((name = fc_json_string(j, "name")) == NULL || *name == '\0') {
		lf_invalid(req, NULL);
		return;
	}
	if (lf_key_known(name)) {
		lf_error(req, 400, "global/duplicate", "An SSH key with this "
		    "name already exists.", NULL);
		return;
	}
	snprintf(id, sizeof id, "%032x", ++lf.seq);
	k = cJSON_CreateObject();
	cJSON_AddStringToObject(k, "id", id);
	cJSON_AddStringToObject(k, "name", name);
	cJSON_AddStringToObject(k, "public_key",
	    fc_json_string(j, "public_key") != NULL ?
	    fc_json_string(j, "public_key") : "ssh-ed25519 AAAAfake fleet");
	cJSON_AddItemToArray(lf.ssh_keys, cJSON_Duplicate(k, 1));
	lf_data(req, k);
}

/* GET, or PUT {"data": [...]} which replaces the whole account-wide set. */
static void
lf_firewall(struct fc_req *req)
{
	cJSON	*rules;

	if (strcmp(req->method, "PUT") == 0) {
		rules = cJSON_GetObjectItemCaseSensitive(fc_req_json(req),
		    "data");
		if (!cJSON_IsArray(rules)) {
			lf_invalid(req, NULL);
			return;
		}
		cJSON_Delete(lf.firewall);
		lf.firewall = cJSON_Duplicate(rules, 1);
	}
	lf_data(req, cJSON_Duplicate(lf.firewall, 1));
}

static int
lf_bool(cJSON *j, const char *key, int dflt)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, key);

	return (cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt);
}

/* POST /lambda/_control: the fake-only switches (see the top comment). */
static void
lf_control(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req), *v, *out;
	const char		*id;

	if (strcmp(req->method, "POST") != 0 || !cJSON_IsObject(j)) {
		fc_reply_error(req, 400, "POST a JSON object");
		return;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "api_key")) != NULL) {
		free(lf.api_key);
		lf.api_key = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
	}
	lf.account_inactive = lf_bool(j, "account_inactive",
	    lf.account_inactive);
	lf.terminated_visible = lf_bool(j, "terminated_visible",
	    lf.terminated_visible);
	lf.terminate_unknown_ok = lf_bool(j, "terminate_unknown_ok",
	    lf.terminate_unknown_ok);
	lf.no_private_ip = !lf_bool(j, "private_ip", !lf.no_private_ip);
	lf.active_without_ip = lf_bool(j, "active_without_ip",
	    lf.active_without_ip);
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "instance_port")) != NULL)
		lf.instance_port = v->valueint < 0 ?
		    port_pick_free(LF_IP) : v->valueint;
	if ((id = fc_json_string(j, "unhealthy")) != NULL) {
		if ((inst = lf_find(req->fc, id)) == NULL) {
			fc_reply_error(req, 404, "no such instance");
			return;
		}
		cJSON_DeleteItemFromObject(inst->meta, "unhealthy");
		cJSON_AddTrueToObject(inst->meta, "unhealthy");
	}
	out = cJSON_CreateObject();
	cJSON_AddTrueToObject(out, "ok");
	cJSON_AddNumberToObject(out, "instance_port", lf.instance_port);
	fc_reply_json(req, 200, out);
}

static void
lf_route(struct fc_req *req, char **seg, int n)
{
	const char	*m = req->method;
	int		 get = strcmp(m, "GET") == 0;
	int		 post = strcmp(m, "POST") == 0;

	if (n == 1 && get && strcmp(seg[0], "instance-types") == 0)
		lf_instance_types(req);
	else if (n == 1 && get && strcmp(seg[0], "instances") == 0)
		lf_list(req);
	else if (n == 2 && (get || post) && strcmp(seg[0], "instances") == 0)
		lf_instance(req, seg[1]);
	else if (n == 2 && post &&
	    strcmp(seg[0], "instance-operations") == 0 &&
	    strcmp(seg[1], "launch") == 0)
		lf_launch(req);
	else if (n == 2 && post &&
	    strcmp(seg[0], "instance-operations") == 0 &&
	    (strcmp(seg[1], "terminate") == 0 ||
	    strcmp(seg[1], "restart") == 0))
		lf_operation(req, strcmp(seg[1], "terminate") == 0);
	else if (n == 1 && (get || post) && strcmp(seg[0], "ssh-keys") == 0)
		lf_ssh_keys(req);
	else if (n == 1 && (get || strcmp(m, "PUT") == 0) &&
	    strcmp(seg[0], "firewall-rules") == 0)
		lf_firewall(req);
	else
		lf_error(req, 404, "global/object-does-not-exist",
		    "No such endpoint.", NULL);
}

static void
lf_defaults(void)
{
	cJSON	*k;

	if (lf.ssh_keys != NULL)
		return;
	lf.ssh_keys = cJSON_CreateArray();
	k = cJSON_CreateObject();
	cJSON_AddStringToObject(k, "id", "ddf9a910ceb744a0bb95242cbba6cb50");
	cJSON_AddStringToObject(k, "name", "fleet-test");
	cJSON_AddStringToObject(k, "public_key", "ssh-ed25519 AAAAfake test");
	cJSON_AddItemToArray(lf.ssh_keys, k);
	lf.firewall = cJSON_Parse("[{\"protocol\":\"tcp\",\"port_range\":"
	    "[22,22],\"source_network\":\"0.0.0.0/0\",\"description\":"
	    "\"Allow SSH\"}]");
}

static void
lambda_handle(struct fc_req *req)
{
	char	*seg[4];
	int	 n;

	lf_defaults();
	if (strcmp(req->subpath, "/_control") == 0) {
		lf_control(req);
		return;
	}
	if (strncmp(req->subpath, "/api/v1/", 8) != 0) {
		fc_reply_error(req, 404, "no route (the API is under "
		    "/lambda/api/v1)");
		return;
	}
	if (lf_auth(req) != 0)
		return;
	if ((n = fc_path_split(req->subpath + 7, seg, nitems(seg))) < 0) {
		lf_error(req, 404, "global/object-does-not-exist",
		    "No such endpoint.", NULL);
		return;
	}
	lf_route(req, seg, n);
	fc_path_free(seg, n);
}

/* /_control/reset: switches off, keys and rules back to the defaults. */
static void
lambda_reset(struct fc *fc __unused)
{
	unsigned int	 seq = lf.seq;	/* ids stay unique */
	size_t		 i;

	for (i = 0; i < lf.naliases; i++)
		kill(lf.aliases[i], SIGTERM);
	free(lf.aliases);
	free(lf.api_key);
	cJSON_Delete(lf.ssh_keys);
	cJSON_Delete(lf.firewall);
	memset(&lf, 0, sizeof lf);
	lf.seq = seq;
	lf_defaults();
}

const struct fc_provider fc_provider_lambda = {
	LAMBDA,
	lambda_handle,
	lambda_reset
};
