/* driver-lambda.c: Lambda Cloud (Lambda Labs) over its REST API v1. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-lambda.h"
#include "http.h"

/*
 * Wire format: shared/providers/lambda.md and the OpenAPI document v1.6.0.
 * Success is {"data": ...}; failure {"error": {"code", "message",
 * "suggestion"}}, typed by code, never by message. Instances are whole VMs
 * with a public ip and no stop: only launch and terminate. Every service
 * port is reachable on the ip at its own number if (and only if) the
 * account-wide Lambda firewall allows it, so get() returns one endpoint
 * with port -1 ("the service port, unchanged": see drv_instance_upstream).
 * Where the firewall is closed, the SSH tunnel (ssh_host below) is the way
 * in; that is the orchestrator's job, not the driver's.
 */

#define LAMBDA_URL		"https://cloud.lambdalabs.com/api/v1"
#define LAMBDA_NAME_MAX		64	/* longer names are refused */
#define LAMBDA_GET_RETRIES	2
#define LAMBDA_SSH_PORT		22
#define LAMBDA_CONTAINER	"fleet-app"	/* the workload, for fleet logs */

/* A parsed 2xx answer: the whole response and its "data" member. */
struct lambda_reply {
	struct http_response	 resp;
	const cJSON		*data;
};

static const struct {
	const char	*code;
	enum drv_err	 kind;
} lambda_codes[] = {
	{ "global/invalid-api-key", DRV_ERR_AUTH },
	{ "global/account-inactive", DRV_ERR_AUTH },
	{ "global/invalid-address", DRV_ERR_AUTH },
	{ "global/invalid-parameters", DRV_ERR_INVALID },
	{ "global/object-does-not-exist", DRV_ERR_NOT_FOUND },
	{ "global/quota-exceeded", DRV_ERR_QUOTA },
	{ "global/duplicate", DRV_ERR_INVALID },
	{ "global/unknown", DRV_ERR_TRANSIENT },
	{ "instance-operations/launch/insufficient-capacity",
	    DRV_ERR_CAPACITY },
	{ "instance-operations/launch/file-system-in-wrong-region",
	    DRV_ERR_INVALID },
	{ "instance-operations/launch/file-systems-not-supported",
	    DRV_ERR_INVALID },
};

static int
lambda_int(const cJSON *o, const char *key, int dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9)
		return (dflt);
	return ((int)v->valuedouble);
}

/* "A100 (40 GB SXM4)" -> 40; 0 when no size is given. */
static int
lambda_vram(const char *desc)
{
	const char	*p;
	long		 n;
	char		*end;

	for (p = desc; p != NULL && *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) ||
		    (p > desc && isalnum((unsigned char)p[-1])))
			continue;
		n = strtol(p, &end, 10);
		while (*end == ' ')
			end++;
		if (strncasecmp(end, "GB", 2) == 0 && n > 0 && n < 100000)
			return ((int)n);
	}
	return (0);
}

/* Upper-case letters and digits of s appended to buf (bounded). */
static void
lambda_squash(char *buf, size_t size, const char *s, size_t len)
{
	size_t	 n = strlen(buf), i;

	for (i = 0; i < len && s[i] != '\0' && n + 1 < size; i++) {
		if (isalnum((unsigned char)s[i]))
			buf[n++] = toupper((unsigned char)s[i]);
	}
	buf[n] = '\0';
}

/* Vendor and product-line words that never tell two GPUs apart. */
static int
lambda_noise_word(const char *w, size_t len)
{
	static const char *words[] = { "NVIDIA", "TESLA", "GEFORCE",
	    "QUADRO" };
	size_t	 i;

	for (i = 0; i < nitems(words); i++)
		if (strlen(words[i]) == len && strncasecmp(w, words[i],
		    len) == 0)
			return (1);
	return (0);
}

/* Form factors: a requirement when asked for, not part of the model. */
static int
lambda_form_word(const char *w, size_t len)
{
	static const char *words[] = { "SXM", "SXM4", "SXM5", "PCIE",
	    "NVL" };
	size_t	 i;

	for (i = 0; i < nitems(words); i++)
		if (strlen(words[i]) == len && strncasecmp(w, words[i],
		    len) == 0)
			return (1);
	return (0);
}

/* "NNGB" or "NNG": a memory size qualifier; returns NN or 0. */
static int
lambda_size_word(const char *w, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && isdigit((unsigned char)w[i]); i++)
		;
	if (i == 0 || i > 5)
		return (0);
	if ((len - i == 2 && strncasecmp(w + i, "GB", 2) == 0) ||
	    (len - i == 1 && toupper((unsigned char)w[i]) == 'G'))
		return (atoi(w));
	return (0);
}

/*
 * The model of a Lambda GPU description, squashed: "A100 (40 GB SXM4)" ->
 * "A100", "Tesla V100 (16 GB)" -> "V100", "RTX 6000 (24 GB GDDR6)" ->
 * "RTX6000". A v1.4 "1x A10 (24 GB PCIe)" description works too.
 */
static void
lambda_model(const char *desc, char *buf, size_t size)
{
	const char	*p = desc, *end, *w;
	size_t		 len;

	buf[0] = '\0';
	if (isdigit((unsigned char)p[0]) && p[1] == 'x' && p[2] == ' ')
		p += 3;
	else if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    p[2] == 'x' && p[3] == ' ')
		p += 4;
	end = strchr(p, '(');
	if (end == NULL)
		end = p + strlen(p);
	for (w = p; w < end; w += len) {
		while (w < end && *w == ' ')
			w++;
		len = strcspn(w, " (");
		if (w + len > end)
			len = end - w;
		if (len > 0 && !lambda_noise_word(w, len))
			lambda_squash(buf, size, w, len);
	}
}

int
lambda_gpu_matches(const char *want, const char *gpu_description,
    int vram_gb)
{
	char		 core[64], have[64], desc[256];
	const char	*w;
	size_t		 len;
	int		 size, want_vram = 0;

	if (want == NULL || gpu_description == NULL)
		return (0);
	core[0] = desc[0] = '\0';
	lambda_squash(desc, sizeof desc, gpu_description,
	    strlen(gpu_description));
	for (w = want; *w != '\0'; w += len) {
		while (*w != '\0' && strchr(" -_/", *w) != NULL)
			w++;
		len = strcspn(w, " -_/");
		if (len == 0 || lambda_noise_word(w, len))
			continue;
		if ((size = lambda_size_word(w, len)) > 0)
			want_vram = size;
		else if (lambda_form_word(w, len)) {
			char form[8] = "";

			lambda_squash(form, sizeof form, w, len);
			if (strstr(desc, form) == NULL)
				return (0);
		} else
			lambda_squash(core, sizeof core, w, len);
	}
	lambda_model(gpu_description, have, sizeof have);
	if (core[0] == '\0' || strcmp(core, have) != 0)
		return (0);
	return (want_vram == 0 || vram_gb >= want_vram);
}

/* The GPU text of an instance type: gpu_description, else description. */
static const char *
lambda_gpu_desc(const cJSON *type)
{
	const char	*s = drv_json_str(type, "gpu_description");

	return (s != NULL ? s : drv_json_str(type, "description"));
}

/* GPUs in a type: specs.gpus (v1.6), else "gpu_8x_..." in its name. */
static int
lambda_gpu_count(const cJSON *type)
{
	const cJSON	*specs = cJSON_GetObjectItemCaseSensitive(type,
			    "specs");
	const char	*name = drv_json_str(type, "name");
	int		 n;

	if ((n = lambda_int(specs, "gpus", -1)) >= 0)
		return (n);
	if (name != NULL && strncmp(name, "gpu_", 4) == 0 &&
	    (n = atoi(name + 4)) > 0)
		return (n);
	return (name != NULL && strncmp(name, "cpu_", 4) == 0 ? 0 : 1);
}

static int
lambda_fits(const struct fleet_template *t, const char *gpu, int count,
    int vram)
{
	int	 i;

	if (t == NULL)
		return (1);
	if (t->gpu.count > 0 && count < t->gpu.count)
		return (0);
	if (t->gpu.min_vram_gb > 0 && vram < t->gpu.min_vram_gb)
		return (0);
	if (t->gpu.nmodels == 0)
		return (1);
	for (i = 0; i < t->gpu.nmodels; i++)
		if (lambda_gpu_matches(t->gpu.models[i], gpu, vram))
			return (1);
	return (0);
}

/* The preferred region if it has capacity, else the first that has. */
static const char *
lambda_pick_region(const cJSON *regions, const char *prefer)
{
	const cJSON	*r;
	const char	*name, *first = NULL;

	cJSON_ArrayForEach(r, regions) {
		if ((name = drv_json_str(r, "name")) == NULL || *name == '\0')
			continue;
		if (prefer != NULL && strcmp(name, prefer) == 0)
			return (name);
		if (first == NULL)
			first = name;
	}
	return (first);
}

static int
lambda_offer_cmp(const void *a, const void *b)
{
	const struct drv_offer	*x = a, *y = b;

	if (x->price_per_hour != y->price_per_hour)
		return (x->price_per_hour < y->price_per_hour ? -1 : 1);
	return (strcmp(x->offer_id, y->offer_id));
}

int
lambda_parse_offers(const cJSON *data, const struct fleet_template *t,
    const char *prefer, struct drv_offer **out, size_t *n, int *sold_out)
{
	const cJSON	*item, *type;
	const char	*name, *gpu, *region;
	struct drv_offer *o;
	size_t		 cap = 0;
	int		 count, vram, cents;

	*out = NULL;
	*n = 0;
	if (sold_out != NULL)
		*sold_out = 0;
	if (!cJSON_IsObject(data))
		return (-1);
	cJSON_ArrayForEach(item, data) {
		type = cJSON_GetObjectItemCaseSensitive(item, "instance_type");
		name = drv_json_str(type, "name");
		if (name == NULL)
			name = item->string;
		gpu = lambda_gpu_desc(type);
		cents = lambda_int(type, "price_cents_per_hour", -1);
		region = lambda_pick_region(cJSON_GetObjectItemCaseSensitive(
		    item, "regions_with_capacity_available"), prefer);
		if (name == NULL || gpu == NULL || cents < 0)
			continue;
		count = lambda_gpu_count(type);
		vram = lambda_vram(gpu);
		if (!lambda_fits(t, gpu, count, vram))
			continue;
		if (region == NULL) {
			if (sold_out != NULL)
				(*sold_out)++;
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		o = &(*out)[(*n)++];
		memset(o, 0, sizeof *o);
		o->provider = xstrdup("lambda");
		o->offer_id = xstrdup(name);
		o->gpu = xstrdup(gpu);
		o->gpu_count = count;
		o->vram_gb = vram;
		o->price_per_hour = cents / 100.0;
		o->region = xstrdup(region);
		o->available = -1;	/* Lambda says "some", not how many */
	}
	if (*n > 1)
		qsort(*out, *n, sizeof **out, lambda_offer_cmp);
	return (0);
}

/* Lambda's status (and whether it has an ip yet) -> fleet's state. */
static enum inst_state
lambda_state(const char *status, const char *ip)
{
	if (strcmp(status, "booting") == 0)
		return (INST_BOOTING);
	if (strcmp(status, "active") == 0)
		return (ip != NULL ? INST_RUNNING : INST_BOOTING);
	if (strcmp(status, "unhealthy") == 0)
		return (INST_FAILED);
	if (strcmp(status, "terminating") == 0)
		return (INST_STOPPING);
	if (strcmp(status, "terminated") == 0)
		return (INST_TERMINATED);
	return (INST_UNKNOWN);
}

int
lambda_parse_instance(const cJSON *o, struct drv_instance *out)
{
	const cJSON	*type, *region;
	const char	*id, *status, *ip, *s;
	int		 cents;

	memset(out, 0, sizeof *out);
	if ((id = drv_json_str(o, "id")) == NULL || *id == '\0' ||
	    (status = drv_json_str(o, "status")) == NULL)
		return (-1);
	if ((ip = drv_json_str(o, "ip")) != NULL && *ip == '\0')
		ip = NULL;
	out->id = xstrdup(id);
	if ((s = drv_json_str(o, "name")) != NULL)
		out->name = xstrdup(s);
	out->state = lambda_state(status, ip);
	type = cJSON_GetObjectItemCaseSensitive(o, "instance_type");
	if ((s = lambda_gpu_desc(type)) != NULL)
		out->gpu = xstrdup(s);
	out->gpu_count = lambda_gpu_count(type);
	if ((cents = lambda_int(type, "price_cents_per_hour", -1)) >= 0)
		out->price_per_hour = cents / 100.0;
	region = cJSON_GetObjectItemCaseSensitive(o, "region");
	if ((s = drv_json_str(region, "name")) != NULL)
		out->region = xstrdup(s);
	if (ip != NULL) {
		out->endpoints = xcalloc(1, sizeof *out->endpoints);
		out->nendpoints = 1;
		out->endpoints[0].port = -1;	/* every port, unchanged */
		out->endpoints[0].scheme = xstrdup("http");
		out->endpoints[0].host = xstrdup(ip);
		out->ssh_host = xstrdup(ip);
		out->ssh_port = LAMBDA_SSH_PORT;
	}
	return (0);
}

static enum drv_err
lambda_code_kind(const char *code, long status, int launch)
{
	size_t	 i;

	if (code != NULL && strncmp(code, "provider/", 9) == 0)
		return (DRV_ERR_TRANSIENT);
	for (i = 0; code != NULL && i < nitems(lambda_codes); i++) {
		if (strcmp(code, lambda_codes[i].code) != 0)
			continue;
		/* A launch naming an unknown type, region or key is wrong. */
		if (launch && lambda_codes[i].kind == DRV_ERR_NOT_FOUND)
			return (DRV_ERR_INVALID);
		return (lambda_codes[i].kind);
	}
	if (status == 401 || status == 403)
		return (DRV_ERR_AUTH);
	if (status == 404)
		return (launch ? DRV_ERR_INVALID : DRV_ERR_NOT_FOUND);
	return (DRV_ERR_INVALID);
}

/* The first per-field complaint of the old (v1.4) error shape, if any. */
static const char *
lambda_field_error(const cJSON *body, const char **field)
{
	const cJSON	*fe, *f;

	fe = cJSON_GetObjectItemCaseSensitive(body, "field_errors");
	cJSON_ArrayForEach(f, fe) {
		if (f->string != NULL && drv_json_str(f, "message") != NULL) {
			*field = f->string;
			return (drv_json_str(f, "message"));
		}
	}
	return (NULL);
}

void
lambda_map_error(long status, const cJSON *body, const char *raw,
    int launch, struct drv_error *err)
{
	const cJSON	*e = cJSON_GetObjectItemCaseSensitive(body, "error");
	const char	*code = NULL, *msg = NULL, *sugg = NULL;
	const char	*fmsg, *field;
	enum drv_err	 kind;
	char		 snippet[81];
	size_t		 i;

	if (cJSON_IsObject(e)) {
		code = drv_json_str(e, "code");
		msg = drv_json_str(e, "message");
		sugg = drv_json_str(e, "suggestion");
	} else if (cJSON_IsString(e))
		msg = e->valuestring;
	if (status == 429)
		kind = DRV_ERR_RATE_LIMITED;
	else if (status >= 500)
		kind = DRV_ERR_TRANSIENT;
	else
		kind = lambda_code_kind(code, status, launch);
	if (msg == NULL) {
		/* Not Lambda's JSON (a proxy's HTML page): show a little. */
		snprintf(snippet, sizeof snippet, "%s", raw != NULL ? raw : "");
		for (i = 0; snippet[i] != '\0'; i++)
			if (!isprint((unsigned char)snippet[i]))
				snippet[i] = ' ';
		drv_error_set(err, kind, (int)status, "lambda: HTTP %ld%s%s",
		    status, snippet[0] != '\0' ? ": " : "", snippet);
		return;
	}
	fmsg = lambda_field_error(body, &field);
	drv_error_set(err, kind, (int)status, "lambda: %s: %s%s%s%s%s%s",
	    code != NULL ? code : "error", msg,
	    fmsg != NULL ? " (" : "", fmsg != NULL ? field : "",
	    fmsg != NULL ? ": " : "", fmsg != NULL ? fmsg : "",
	    fmsg != NULL ? ")" : "");
	if (sugg != NULL && *sugg != '\0') {
		i = strlen(err->message);
		snprintf(err->message + i, sizeof err->message - i, " %s",
		    sugg);
	}
}

/* Ids go into the URL path: Lambda's are hex, so anything else is unknown. */
static int
lambda_id_ok(const char *id)
{
	const char	*p;

	if (id == NULL || *id == '\0' || strlen(id) > 128)
		return (0);
	for (p = id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return (0);
	return (1);
}

/*
 * One API call. 0 with reply->data set on a 2xx {"data": ...}; else -1
 * with a typed error and reply freed. Bearer auth, as Lambda recommends.
 */
static int
lambda_call_t(const struct drv_ctx *ctx, const char *method, const char *path,
    const char *body, int retries, int launch, long timeout_ms,
    struct lambda_reply *reply, struct drv_error *err)
{
	struct http_request	 req;
	const char		*base = ctx->base_url != NULL ?
				    ctx->base_url : LAMBDA_URL;
	char			*url, *cause = NULL;
	size_t			 blen = strlen(base);
	int			 r;

	memset(reply, 0, sizeof *reply);
	if (ctx->api_key == NULL)
		return (drv_error_set(err, DRV_ERR_AUTH, 0, "lambda: no API "
		    "key: set LAMBDA_API_KEY"));
	if (blen > 0 && base[blen - 1] == '/')
		blen--;
	url = xprintf("%.*s%s", (int)blen, base, path);
	memset(&req, 0, sizeof req);
	req.method = method;
	req.url = url;
	req.auth = HTTP_AUTH_BEARER;
	req.secret = ctx->api_key;
	req.body = body;
	req.retries = retries;
	req.timeout_ms = timeout_ms;
	r = http_do(&req, &reply->resp, &cause);
	free(url);
	if (r != 0) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "lambda: %s", cause);
		free(cause);
		http_response_free(&reply->resp);
		return (-1);
	}
	if (reply->resp.status < 200 || reply->resp.status > 299) {
		lambda_map_error(reply->resp.status, reply->resp.json,
		    reply->resp.body, launch, err);
		http_response_free(&reply->resp);
		return (-1);
	}
	reply->data = cJSON_GetObjectItemCaseSensitive(reply->resp.json,
	    "data");
	if (reply->data == NULL) {
		drv_error_set(err, DRV_ERR_TRANSIENT, (int)reply->resp.status,
		    "lambda: %s %s: HTTP %ld without a \"data\" member", method,
		    path, reply->resp.status);
		http_response_free(&reply->resp);
		return (-1);
	}
	return (0);
}

static int
lambda_call(const struct drv_ctx *ctx, const char *method, const char *path,
    const char *body, int retries, int launch, struct lambda_reply *reply,
    struct drv_error *err)
{
	return (lambda_call_t(ctx, method, path, body, retries, launch, 0,
	    reply, err));
}

/*
 * lambda.md 3 lists no account, balance or billing endpoint, so
 * the cheapest authenticated read, GET /instance-types, proves the key
 * and that is all an account says. data must be the object of types.
 */
int
lambda_parse_account(const cJSON *data, struct drv_account *a)
{
	memset(a, 0, sizeof *a);
	return (cJSON_IsObject(data) ? 0 : -1);
}

static int
lambda_account(const struct drv_ctx *ctx, struct drv_account *a,
    struct drv_error *err)
{
	struct lambda_reply	 rep;
	int			 rc;

	memset(a, 0, sizeof *a);
	if (lambda_call_t(ctx, "GET", "/instance-types", NULL, 0, 0,
	    DRV_ACCOUNT_TIMEOUT_MS, &rep, err) != 0)
		return (-1);
	if ((rc = lambda_parse_account(rep.data, a)) != 0)
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
		    "GET /instance-types: \"data\" is not an object");
	http_response_free(&rep.resp);
	return (rc);
}

static int
lambda_offers(const struct drv_ctx *ctx, const struct fleet_template *t,
    struct drv_offer **out, size_t *n, struct drv_error *err)
{
	struct lambda_reply	 rep;
	int			 r, sold_out;

	*out = NULL;
	*n = 0;
	if (lambda_call(ctx, "GET", "/instance-types", NULL,
	    LAMBDA_GET_RETRIES, 0, &rep, err) != 0)
		return (-1);
	r = lambda_parse_offers(rep.data, t, ctx->pconf != NULL ?
	    ctx->pconf->region : NULL, out, n, &sold_out);
	http_response_free(&rep.resp);
	if (r != 0)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
		    "GET /instance-types: \"data\" is not an object"));
	/* Types fit but none is free: say so, not "nothing fits". */
	if (*n == 0 && sold_out > 0)
		return (drv_error_set(err, DRV_ERR_CAPACITY, 200, "lambda: "
		    "%d instance type%s fit%s %s but none has capacity in any "
		    "region now", sold_out, sold_out == 1 ? "" : "s",
		    sold_out == 1 ? "s" : "", t != NULL ? t->name :
		    "the template"));
	return (0);
}

/* Append one argument to the docker command line of the user data. */
static void
lambda_arg(cJSON *argv, const char *s)
{
	cJSON_AddItemToArray(argv, cJSON_CreateString(s));
}

/*
 * cloud-init user data that starts the template's image with Docker (part
 * of Lambda's default image, Lambda Stack; assumed, not verified) and
 * publishes every template port unchanged. The exec form of runcmd needs
 * no shell quoting; a JSON array is a valid YAML flow sequence.
 */
static char *
lambda_user_data(const struct fleet_template *t)
{
	cJSON	*argv;
	char	*line, *v, *kv, *out, port[32];
	int	 i;

	if (t == NULL || t->image == NULL)
		return (NULL);
	argv = cJSON_CreateArray();
	lambda_arg(argv, "docker");
	lambda_arg(argv, "run");
	lambda_arg(argv, "-d");
	lambda_arg(argv, "--restart=unless-stopped");
	lambda_arg(argv, "--name=" LAMBDA_CONTAINER);
	if (t->gpu.count != 0)
		lambda_arg(argv, "--gpus=all");
	for (i = 0; i < t->nports; i++) {
		snprintf(port, sizeof port, "%d:%d", t->ports[i].number,
		    t->ports[i].number);
		lambda_arg(argv, "-p");
		lambda_arg(argv, port);
	}
	for (i = 0; i < t->nenv; i++) {
		v = drv_env_expand(t->env[i].value);
		if (strstr(t->env[i].value, "${") != NULL && *v != '\0')
			log_add_secret(v);
		kv = xprintf("%s=%s", t->env[i].key, v);
		lambda_arg(argv, "-e");
		lambda_arg(argv, kv);
		freezero_str(kv);
		freezero_str(v);
	}
	lambda_arg(argv, t->image);
	for (i = 0; i < t->nargs; i++)
		lambda_arg(argv, t->args[i]);
	if ((line = cJSON_PrintUnformatted(argv)) == NULL)
		fatalx("cJSON_PrintUnformatted: out of memory");
	cJSON_Delete(argv);
	out = xprintf("#cloud-config\nruncmd:\n  - %s\n", line);
	freezero_str(line);
	return (out);
}

/* The launch request body; NULL-free, the caller frees it with freezero. */
static char *
lambda_launch_body(const struct drv_create_req *req, const char *type,
    const char *region, const char *key)
{
	cJSON	*o, *a;
	char	*s, *ud;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "region_name", region);
	cJSON_AddStringToObject(o, "instance_type_name", type);
	a = cJSON_AddArrayToObject(o, "ssh_key_names");
	cJSON_AddItemToArray(a, cJSON_CreateString(key));
	cJSON_AddArrayToObject(o, "file_system_names");
	cJSON_AddStringToObject(o, "name", req->name);
	cJSON_AddNumberToObject(o, "quantity", 1);
	if ((ud = lambda_user_data(req->tmpl)) != NULL) {
		cJSON_AddStringToObject(o, "user_data", ud);
		freezero_str(ud);
	}
	if ((s = cJSON_PrintUnformatted(o)) == NULL)
		fatalx("cJSON_PrintUnformatted: out of memory");
	cJSON_Delete(o);
	return (s);
}

/* The offer to launch: the caller's, else the cheapest that fits now. */
static int
lambda_choose(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_offer *chosen, struct drv_error *err)
{
	struct drv_offer	*offers;
	size_t			 n;

	memset(chosen, 0, sizeof *chosen);
	if (req->offer != NULL && req->offer->offer_id != NULL &&
	    req->offer->region != NULL) {
		chosen->offer_id = xstrdup(req->offer->offer_id);
		chosen->region = xstrdup(req->offer->region);
		chosen->gpu = req->offer->gpu != NULL ?
		    xstrdup(req->offer->gpu) : NULL;
		chosen->gpu_count = req->offer->gpu_count;
		chosen->price_per_hour = req->offer->price_per_hour;
		return (0);
	}
	if (lambda_offers(ctx, req->tmpl, &offers, &n, err) != 0)
		return (-1);
	if (n == 0)
		return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "lambda: no "
		    "instance type fits %s", req->tmpl != NULL ?
		    req->tmpl->name : "this template"));
	*chosen = offers[0];
	memset(&offers[0], 0, sizeof offers[0]);
	drv_offer_list_free(offers, n);
	return (0);
}

static int
lambda_create(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_instance *out, struct drv_error *err)
{
	const char		*key = ctx->pconf != NULL ?
				    ctx->pconf->ssh_key_name : NULL;
	struct lambda_reply	 rep;
	struct drv_offer	 o;
	const cJSON		*ids, *id;
	char			*body;

	memset(out, 0, sizeof *out);
	if (key == NULL || *key == '\0')
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "lambda: "
		    "launching needs an SSH key registered at Lambda: set "
		    "providers.lambda.ssh_key_name in %s",
		    ctx->conf != NULL && ctx->conf->path != NULL ?
		    ctx->conf->path : "fleet.yaml"));
	if (req->name == NULL || strlen(req->name) > LAMBDA_NAME_MAX)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "lambda: "
		    "instance name must be 1-%d characters", LAMBDA_NAME_MAX));
	if (lambda_choose(ctx, req, &o, err) != 0)
		return (-1);
	body = lambda_launch_body(req, o.offer_id, o.region, key);
	/* No retries: a launch that timed out may well have happened. */
	if (lambda_call(ctx, "POST", "/instance-operations/launch", body, 0,
	    1, &rep, err) != 0) {
		freezero_str(body);
		drv_offer_clear(&o);
		return (-1);
	}
	freezero_str(body);
	ids = cJSON_GetObjectItemCaseSensitive(rep.data, "instance_ids");
	id = cJSON_GetArrayItem(ids, 0);
	if (!cJSON_IsString(id) || !lambda_id_ok(id->valuestring)) {
		http_response_free(&rep.resp);
		drv_offer_clear(&o);
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
		    "launch answered without an instance id; an instance "
		    "named %s may exist all the same", req->name));
	}
	out->id = xstrdup(id->valuestring);
	out->name = xstrdup(req->name);
	out->state = INST_BOOTING;
	out->gpu = o.gpu;
	out->gpu_count = o.gpu_count;
	out->price_per_hour = o.price_per_hour;
	out->region = o.region;
	o.gpu = o.region = NULL;
	drv_offer_clear(&o);
	http_response_free(&rep.resp);
	return (0);
}

static int
lambda_get(const struct drv_ctx *ctx, const char *id,
    struct drv_instance *out, struct drv_error *err)
{
	struct lambda_reply	 rep;
	char			*path;
	int			 r;

	memset(out, 0, sizeof *out);
	if (!lambda_id_ok(id))
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "lambda: no "
		    "instance %s", id != NULL ? id : "(null)"));
	path = xprintf("/instances/%s", id);
	r = lambda_call(ctx, "GET", path, NULL, LAMBDA_GET_RETRIES, 0, &rep,
	    err);
	free(path);
	if (r != 0)
		return (-1);
	r = lambda_parse_instance(rep.data, out);
	http_response_free(&rep.resp);
	if (r != 0)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
		    "instance %s: answer has no id or status", id));
	return (0);
}

/* Every instance whose name carries fleet's label prefix. */
static int
lambda_list(const struct drv_ctx *ctx, struct drv_instance **out,
    size_t *n, struct drv_error *err)
{
	struct lambda_reply	 rep;
	struct drv_instance	 in;
	const cJSON		*o;
	size_t			 cap = 0;

	*out = NULL;
	*n = 0;
	if (lambda_call(ctx, "GET", "/instances", NULL, LAMBDA_GET_RETRIES, 0,
	    &rep, err) != 0)
		return (-1);
	if (!cJSON_IsArray(rep.data)) {
		http_response_free(&rep.resp);
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
		    "GET /instances: \"data\" is not a list"));
	}
	cJSON_ArrayForEach(o, rep.data) {
		if (lambda_parse_instance(o, &in) != 0)
			continue;
		if (in.name == NULL || strncmp(in.name, "fleet-", 6) != 0) {
			drv_instance_clear(&in);
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		(*out)[(*n)++] = in;
	}
	http_response_free(&rep.resp);
	return (0);
}

static int
lambda_unsupported(const struct drv_ctx *ctx __unused, const char *id __unused,
    struct drv_error *err)
{
	return (drv_error_set(err, DRV_ERR_UNSUPPORTED, 0, "lambda cannot "
	    "stop an instance, only terminate it"));
}

/* Is id among the terminated_instances of a terminate answer? */
static int
lambda_terminated_has(const cJSON *data, const char *id)
{
	const cJSON	*list, *o;
	const char	*s;

	list = cJSON_GetObjectItemCaseSensitive(data, "terminated_instances");
	cJSON_ArrayForEach(o, list) {
		if ((s = drv_json_str(o, "id")) != NULL && strcmp(s, id) == 0)
			return (1);
	}
	return (0);
}

/*
 * Terminate is idempotent, so it may be retried. The answer "might not
 * contain all instances requested": one missing is checked with a GET.
 */
static int
lambda_terminate(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	struct lambda_reply	 rep;
	struct drv_instance	 in;
	cJSON			*o, *a;
	enum inst_state		 state;
	char			*body;
	int			 r, found;

	if (!lambda_id_ok(id))
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "lambda: no "
		    "instance %s", id != NULL ? id : "(null)"));
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "instance_ids");
	cJSON_AddItemToArray(a, cJSON_CreateString(id));
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	r = lambda_call(ctx, "POST", "/instance-operations/terminate", body,
	    LAMBDA_GET_RETRIES, 0, &rep, err);
	cJSON_free(body);
	if (r != 0)
		return (-1);
	found = lambda_terminated_has(rep.data, id);
	http_response_free(&rep.resp);
	if (found)
		return (0);
	if (lambda_get(ctx, id, &in, err) != 0)
		return (-1);	/* NOT_FOUND: nothing left to terminate */
	state = in.state;
	drv_instance_clear(&in);
	if (state == INST_STOPPING || state == INST_TERMINATED)
		return (0);
	return (drv_error_set(err, DRV_ERR_TRANSIENT, 200, "lambda: "
	    "terminate of %s was not confirmed; it is still %s", id,
	    inst_state_name(state)));
}

const struct fleet_driver driver_lambda = {
	.name = "lambda",
	.flags = DRV_NEEDS_KEY,
	.key_env = "LAMBDA_API_KEY",
	.url_env = "FLEET_LAMBDA_URL",
	.default_url = LAMBDA_URL,
	.ssh_user = "ubuntu",
	.container = LAMBDA_CONTAINER,
	.offers = lambda_offers,
	.create = lambda_create,
	.get = lambda_get,
	.list = lambda_list,
	.stop = lambda_unsupported,
	.start = lambda_unsupported,
	.terminate = lambda_terminate,
	.account = lambda_account,
};
