/* driver-paperspace.c: Paperspace machines (API v1) as fleet instances. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-paperspace.h"
#include "deadman.h"
#include "http.h"

/*
 * Wire format: shared/providers/paperspace.md (from the OpenAPI types of
 * Paperspace's own CLI). The old api.paperspace.io "Core" API is gone;
 * this speaks only v1: Bearer auth, JSON, cursor paging
 * ({hasMore, nextPage, items}), errors {code, message, issues?}.
 *
 * A Paperspace machine is a whole VM: every service port is reachable
 * unchanged on its public IP, so get() reports one endpoint with port -1
 * (see driver.h) and ssh on port 22. The public IP is "dynamic": it is
 * only set while the machine is on and may change on every start, which
 * is why get() re-reads it each time.
 *
 * Starting the workload: the v1 API has no cloud-init user data, but it
 * has startup scripts (POST /startup-scripts, then startupScriptId on the
 * create). create() writes one per machine, named like the machine, that
 * installs docker (and NVIDIA's container toolkit) when the OS template
 * lacks them and runs the template's image with its ports mapped 1:1.
 * It runs on every boot (isRunOnce false) and replaces the container, so
 * a stopped and started machine serves again. terminate() deletes it, as
 * it holds the template's expanded env (e.g. HF_TOKEN). The SSH path (a
 * later issue) is the fallback for images that need more than this.
 *
 * Dead-man switch (deadman_timeout): Paperspace gives a machine no
 * credential of its own, but a machine that is off bills no compute, so
 * the startup script starts a watcher on the VM (a transient systemd
 * unit, else nohup setsid) that powers the machine off when the daemon's
 * heartbeat, touched over SSH on the VM, stops. The disk bills until the
 * machine is deleted.
 *
 * Prices: the v1 API exposes no price list (the machine's usageRate has
 * unconfirmed units), so offers come from the table below, overridable by
 * FLEET_PAPERSPACE_PRICES, and are flagged: available = -1 and a note in
 * err->message ("price from fleet's table, not the API"). Availability
 * comes from GET /os-templates (availableMachineTypes[].isAvailable).
 */

#define PS_NAME		"paperspace"
#define PS_PAGE_LIMIT	120	/* documented maximum of other list calls */
#define PS_MAX_PAGES	50	/* 6000 machines: enough, and bounded */
#define PS_RETRIES	2	/* for idempotent calls; creates get 0 */
#define PS_CONTAINER	"fleet-app"
#define PS_DEADMAN_UNIT	"fleet-deadman"	/* the watcher's systemd unit */

/* Regions, as the short codes the v1 API's own examples use. */
#define R_NY2	0x1
#define R_AMS1	0x2
#define R_CA1	0x4
#define R_ALL	(R_NY2 | R_AMS1 | R_CA1)
#define R_NA	(R_NY2 | R_AMS1)	/* NY2 and Europe */
#define R_NC	(R_NY2 | R_CA1)	/* both US coasts */

/*
 * GPU machine types. Availability per region: DigitalOcean's "Machines
 * Availability" page (multi-GPU variants: SkyPilot's catalogue, NY2 is
 * assumed). VRAM: the cards' nominal sizes. Prices ($/h, on demand):
 * SkyPilot's Paperspace catalogue snapshot as quoted in
 * shared/providers/paperspace.md section 5, read 2026-11-28 (the
 * snapshot's own date is unknown; indicative only). 0 means no price was
 * found: the type is offered only once FLEET_PAPERSPACE_PRICES names one.
 */
struct ps_type {
	const char	*type;		/* machineType label */
	const char	*model;		/* GPU as fleet shows it */
	const char	*family;	/* what a template may ask for */
	int		 vram_gb;	/* per GPU */
	int		 count;
	double		 price;
	int		 regions;
};

static const struct ps_type ps_types[] = {
	{ "GPU+",	"Quadro M4000",	"M4000",	8,  1, 0.45, R_NA },
	{ "P4000",	"Quadro P4000",	"P4000",	8,  1, 0.51, R_ALL },
	{ "P4000x2",	"Quadro P4000",	"P4000",	8,  2, 0,    R_NY2 },
	{ "P5000",	"Quadro P5000",	"P5000",	16, 1, 0,    R_ALL },
	{ "P6000",	"Quadro P6000",	"P6000",	24, 1, 0,    R_ALL },
	{ "RTX4000",	"Quadro RTX 4000", "RTX4000",	8,  1, 0,    R_ALL },
	{ "RTX5000",	"Quadro RTX 5000", "RTX5000",	16, 1, 0,    R_NY2 },
	{ "A4000",	"RTX A4000",	"A4000",	16, 1, 0.76, R_ALL },
	{ "A4000x2",	"RTX A4000",	"A4000",	16, 2, 0,    R_NY2 },
	{ "A4000x4",	"RTX A4000",	"A4000",	16, 4, 0,    R_NY2 },
	{ "A5000",	"RTX A5000",	"A5000",	24, 1, 0,    R_NC },
	{ "A6000",	"RTX A6000",	"A6000",	48, 1, 0,    R_NC },
	{ "V100",	"V100 16GB",	"V100",		16, 1, 2.29, R_NA },
	{ "V100-32G",	"V100 32GB",	"V100",		32, 1, 2.30, R_NY2 },
	{ "V100-32Gx2",	"V100 32GB",	"V100",		32, 2, 0,    R_NY2 },
	{ "V100-32Gx4",	"V100 32GB",	"V100",		32, 4, 0,    R_NY2 },
	{ "A100",	"A100 40GB",	"A100",		40, 1, 0,    R_NY2 },
	{ "A100-80G",	"A100 80GB",	"A100",		80, 1, 3.18, R_NY2 },
	{ "A100-80Gx8",	"A100 80GB",	"A100",		80, 8, 25.44, R_NY2 },
	{ "H100",	"H100 80GB",	"H100",		80, 1, 5.95, R_NY2 },
	{ "H100x8",	"H100 80GB",	"H100",		80, 8, 47.60, R_NY2 },
};

#define PS_PRICE_SOURCE "fleet's built-in table (SkyPilot catalogue, " \
	"read 2026-11-28)"

/* Disk sizes (GB) a machine may have; the full list is unconfirmed. */
static const int ps_disk_sizes[] = { 50, 100, 250, 500, 1000, 2000 };

static const struct ps_type *
ps_type_find(const char *type)
{
	size_t	i;

	if (type == NULL)
		return (NULL);
	for (i = 0; i < nitems(ps_types); i++)
		if (strcasecmp(ps_types[i].type, type) == 0)
			return (&ps_types[i]);
	return (NULL);
}

static int
ps_region_bit(const char *region)
{
	if (region == NULL)
		return (0);
	if (strcasestr(region, "NY2") != NULL)
		return (R_NY2);
	if (strcasestr(region, "AMS1") != NULL)
		return (R_AMS1);
	if (strcasestr(region, "CA1") != NULL)
		return (R_CA1);
	return (0);
}

/*
 * Look type up in a "TYPE=price,..." spec: 1 found (*price set), 0 not
 * there, -1 malformed (cause set if not NULL).
 */
static int
ps_prices_lookup(const char *spec, const char *type, double *price,
    char **cause)
{
	const char	*p = spec, *eq, *end;
	char		*num, *stop;
	double		 v;
	int		 found = 0;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, ",");
		if ((eq = memchr(p, '=', end - p)) == NULL || eq == p) {
			if (cause != NULL)
				*cause = xprintf("%s: expected TYPE=PRICE at "
				    "'%.*s'", PAPERSPACE_PRICES_ENV,
				    (int)(end - p), p);
			return (-1);
		}
		num = xstrndup(eq + 1, end - eq - 1);
		v = strtod(num, &stop);
		while (*stop == ' ')
			stop++;
		if (num[0] == '\0' || *stop != '\0' || !(v > 0 && v < 1e6)) {
			if (cause != NULL)
				*cause = xprintf("%s: bad price '%s' for %.*s",
				    PAPERSPACE_PRICES_ENV, num,
				    (int)(eq - p), p);
			free(num);
			return (-1);
		}
		free(num);
		if (type != NULL && (size_t)(eq - p) == strlen(type) &&
		    strncasecmp(p, type, eq - p) == 0) {
			*price = v;
			found = 1;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return (found);
}

int
paperspace_prices_check(const char *spec, char **cause)
{
	double	 v;

	return (ps_prices_lookup(spec, NULL, &v, cause) < 0 ? -1 : 0);
}

double
paperspace_price(const char *type)
{
	const struct ps_type	*t;
	const char		*spec = getenv(PAPERSPACE_PRICES_ENV);
	double			 v;

	if (spec != NULL && ps_prices_lookup(spec, type, &v, NULL) == 1)
		return (v);
	if ((t = ps_type_find(type)) != NULL)
		return (t->price);
	return (0);
}

enum inst_state
paperspace_state_map(const char *s)
{
	static const struct {
		const char	*ps;
		enum inst_state	 st;
	} map[] = {
		/* Billing starts at create (startOnCreate): count it. */
		{ "provisioning",	INST_BOOTING },
		{ "starting",		INST_BOOTING },
		{ "serviceready",	INST_BOOTING },
		{ "restarting",		INST_BOOTING },
		{ "upgrading",		INST_BOOTING },
		{ "ready",		INST_RUNNING },
		{ "stopping",		INST_STOPPING },
		{ "off",		INST_STOPPED },
		{ "failed",		INST_FAILED },	/* third-party schema */
	};
	size_t	i;

	if (s == NULL)
		return (INST_UNKNOWN);
	for (i = 0; i < nitems(map); i++)
		if (strcasecmp(s, map[i].ps) == 0)
			return (map[i].st);
	return (INST_UNKNOWN);
}

/* ---- errors ---------------------------------------------------------- */

static int
ps_has_word(const char *msg, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcasestr(msg, *words) != NULL)
			return (1);
	return (0);
}

/* Replace every occurrence of key in s with "***", in place. */
static void
ps_scrub(char *s, const char *key)
{
	char	*p;
	size_t	 kl;

	if (s == NULL || key == NULL || (kl = strlen(key)) < 4)
		return;
	while ((p = strstr(s, key)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + kl, strlen(p + kl) + 1);
	}
}

/* The provider's words: message (+ first issue), or a short plain body. */
static char *
ps_error_text(long status, const cJSON *j, const char *body, size_t len)
{
	const cJSON	*m, *iss, *im;
	size_t		 i, n;
	char		*s;

	if (cJSON_IsObject(j)) {
		m = cJSON_GetObjectItemCaseSensitive(j, "message");
		iss = cJSON_GetObjectItemCaseSensitive(j, "issues");
		im = cJSON_IsArray(iss) && cJSON_GetArraySize(iss) > 0 ?
		    cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(iss, 0), "message") : NULL;
		if (cJSON_IsString(m) && im != NULL && cJSON_IsString(im))
			return (xprintf("%s (%s)", m->valuestring,
			    im->valuestring));
		if (cJSON_IsString(m))
			return (xstrdup(m->valuestring));
		if (im != NULL && cJSON_IsString(im))
			return (xstrdup(im->valuestring));
	}
	/* Proxies answer 502/503 with HTML: keep only short plain text. */
	n = len < 160 ? len : 160;
	if (body == NULL || n == 0 || memchr(body, '<', n) != NULL)
		return (xprintf("HTTP %ld", status));
	s = xprintf("HTTP %ld: %.*s", status, (int)n, body);
	for (i = 0; s[i] != '\0'; i++)
		if (!isprint((unsigned char)s[i]))
			s[i] = ' ';
	return (s);
}

/* A 2xx answer that is really an error: only {code, message[, issues]}. */
static int
ps_is_error_body(const cJSON *j)
{
	const cJSON	*c, *m;

	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) > 3)
		return (0);
	c = cJSON_GetObjectItemCaseSensitive(j, "code");
	m = cJSON_GetObjectItemCaseSensitive(j, "message");
	return (cJSON_IsString(c) && cJSON_IsString(m) &&
	    cJSON_GetObjectItemCaseSensitive(j, "id") == NULL);
}

/* The HTTP status an error code stands for (the official CLI's table). */
static long
ps_code_status(const char *code)
{
	static const struct { const char *code; long status; } map[] = {
		{ "BAD_REQUEST", 400 }, { "PARSE_ERROR", 400 },
		{ "UNAUTHORIZED", 401 }, { "FORBIDDEN", 403 },
		{ "NOT_FOUND", 404 }, { "CONFLICT", 409 },
		{ "PRECONDITION_FAILED", 412 }, { "TOO_MANY_REQUESTS", 429 },
		{ "TIMEOUT", 408 }, { "INTERNAL_SERVER_ERROR", 500 },
	};
	size_t	i;

	for (i = 0; code != NULL && i < nitems(map); i++)
		if (strcmp(code, map[i].code) == 0)
			return (map[i].status);
	return (400);
}

static enum drv_err
ps_error_kind(long status, const char *msg)
{
	static const char *const capacity[] = { "capacity", "out of stock",
	    "not available", "unavailable", "higher than normal demand",
	    "no machines available", NULL };
	static const char *const quota[] = { "quota", "limit reached",
	    "limit exceeded", "exceeds your", "maximum number",
	    "insufficient funds", "balance", "payment", "billing", "credit",
	    NULL };

	if (status == 401 || status == 403)
		return (DRV_ERR_AUTH);
	if (status == 429)
		return (DRV_ERR_RATE_LIMITED);
	if (status == 404)
		return (DRV_ERR_NOT_FOUND);
	if (status >= 500 || status == 408)
		return (DRV_ERR_TRANSIENT);
	if (ps_has_word(msg, capacity))
		return (DRV_ERR_CAPACITY);
	if (ps_has_word(msg, quota))
		return (DRV_ERR_QUOTA);
	if (status == 409 || status == 412)
		return (DRV_ERR_CAPACITY);
	return (DRV_ERR_INVALID);
}

static int
ps_error_from(long status, const cJSON *j, const char *body, size_t len,
    const char *key, struct drv_error *err)
{
	const cJSON	*c;
	char		*text;
	enum drv_err	 kind;

	if (status >= 200 && status < 300) {
		if (!ps_is_error_body(j))
			return (0);
		c = cJSON_GetObjectItemCaseSensitive(j, "code");
		status = ps_code_status(c->valuestring);
	}
	text = ps_error_text(status, j, body, len);
	kind = ps_error_kind(status, text);
	ps_scrub(text, key);
	if (kind == DRV_ERR_AUTH)
		drv_error_set(err, kind, (int)status, "paperspace: %s (check "
		    "PAPERSPACE_API_KEY)", text);
	else
		drv_error_set(err, kind, (int)status, "paperspace: %s", text);
	if (err != NULL)
		ps_scrub(err->message, key);
	free(text);
	return (-1);
}

int
paperspace_error_parse(long status, const char *body, size_t len,
    const char *key, struct drv_error *err)
{
	cJSON	*j = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	int	 r;

	r = ps_error_from(status, j, body, len, key, err);
	cJSON_Delete(j);
	return (r);
}

/* ---- requests -------------------------------------------------------- */

/* Ids go into paths: accept only what Paperspace ids look like. */
static int
ps_id_ok(const char *id, struct drv_error *err)
{
	const char	*p;

	if (id == NULL || *id == '\0' || strlen(id) > 64)
		return (drv_error_set(err, DRV_ERR_INVALID, 0,
		    "paperspace: bad machine id"));
	for (p = id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return (drv_error_set(err, DRV_ERR_INVALID, 0,
			    "paperspace: bad machine id '%s'", id));
	return (0);
}

/* Percent-encode a query value (cursors and names are opaque). */
static char *
ps_escape(const char *s)
{
	char	*out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || strchr("-._~", *s) != NULL)
			*o++ = *s;
		else
			o += sprintf(o, "%%%02X", (unsigned char)*s);
	}
	*o = '\0';
	return (out);
}

/*
 * One call to the API: 0 with a 2xx response in resp (free it), -1 with
 * err set (and resp already freed) otherwise.
 */
static int
ps_call(const struct drv_ctx *ctx, const char *method, const char *path,
    const char *body, int retries, struct http_response *resp,
    struct drv_error *err)
{
	struct http_request	 req;
	const char		*base = ctx->base_url != NULL ? ctx->base_url :
				    driver_paperspace.default_url;
	char			*url, *cause = NULL;
	size_t			 bl = strlen(base);
	int			 r;

	memset(&req, 0, sizeof req);
	memset(resp, 0, sizeof *resp);
	if (bl > 0 && base[bl - 1] == '/')
		bl--;
	url = xprintf("%.*s%s", (int)bl, base, path);
	req.method = method;
	req.url = url;
	req.auth = HTTP_AUTH_BEARER;
	req.secret = ctx->api_key != NULL ? ctx->api_key : "";
	req.body = body;
	req.retries = retries;
	r = http_do(&req, resp, &cause);
	free(url);
	if (r != 0) {
		ps_scrub(cause, ctx->api_key);
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: %s",
		    cause != NULL ? cause : "no response");
		free(cause);
		http_response_free(resp);
		return (-1);
	}
	free(cause);
	if (ps_error_from(resp->status, resp->json, resp->body, resp->len,
	    ctx->api_key, err) != 0) {
		http_response_free(resp);
		return (-1);
	}
	return (0);
}

/* ---- parsing --------------------------------------------------------- */

static double
ps_num(const cJSON *o, const char *key, double dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsNumber(v) ? v->valuedouble : dflt);
}

/* "2025-03-02T10:00:00.000Z" -> epoch seconds, 0 if unparsable. */
static int64_t
ps_time(const char *s)
{
	struct tm	 tm;

	if (s == NULL)
		return (0);
	memset(&tm, 0, sizeof tm);
	if (strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return (0);
	return ((int64_t)timegm(&tm));
}

/* GPUs in a machine type: the "xN" suffix, else 1. */
static int
ps_type_count(const char *type)
{
	const char	*x;
	long		 n;

	if (type == NULL || (x = strrchr(type, 'x')) == NULL || x == type)
		return (1);
	n = strtol(x + 1, NULL, 10);
	return (n > 0 && n <= 64 && isdigit((unsigned char)x[1]) ? (int)n : 1);
}

/* Fill a drv_instance from one Machine object. */
static int
ps_machine_fill(const cJSON *m, struct drv_instance *out,
    struct drv_error *err)
{
	const struct ps_type	*t;
	const cJSON		*acc, *a0;
	const char		*id, *type, *ip, *aname;
	double			 price;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(m) || (id = drv_json_str(m, "id")) == NULL ||
	    *id == '\0')
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: "
		    "answer holds no machine"));
	out->id = xstrdup(id);
	if (drv_json_str(m, "name") != NULL)
		out->name = xstrdup(drv_json_str(m, "name"));
	out->state = paperspace_state_map(drv_json_str(m, "state"));
	type = drv_json_str(m, "machineType");
	t = ps_type_find(type);
	acc = cJSON_GetObjectItemCaseSensitive(m, "accelerators");
	a0 = cJSON_IsArray(acc) ? cJSON_GetArrayItem(acc, 0) : NULL;
	aname = cJSON_IsObject(a0) ? drv_json_str(a0, "name") : NULL;
	if (t != NULL)
		out->gpu = xstrdup(t->model);
	else if (aname != NULL)
		out->gpu = xstrdup(aname);
	else if (type != NULL)
		out->gpu = xstrdup(type);
	out->gpu_count = t != NULL ? t->count : ps_type_count(type);
	if (cJSON_IsObject(a0) && ps_num(a0, "count", 0) >= 1 &&
	    ps_num(a0, "count", 0) <= 64)
		out->gpu_count = (int)ps_num(a0, "count", 1);
	/* usageRate's units are unconfirmed: only when the table has none. */
	price = type != NULL ? paperspace_price(type) : 0;
	if (price <= 0 && ps_num(m, "usageRate", 0) > 0 &&
	    ps_num(m, "usageRate", 0) < 1e5)
		price = ps_num(m, "usageRate", 0);
	out->price_per_hour = price;
	if (drv_json_str(m, "region") != NULL)
		out->region = xstrdup(drv_json_str(m, "region"));
	out->created_at = ps_time(drv_json_str(m, "dtCreated"));
	ip = drv_json_str(m, "publicIp");
	if (ip != NULL && *ip != '\0' && strlen(ip) < 64) {
		out->endpoints = xcalloc(1, sizeof *out->endpoints);
		out->nendpoints = 1;
		out->endpoints[0].port = -1;	/* every port, unchanged */
		out->endpoints[0].scheme = xstrdup("http");
		out->endpoints[0].host = xstrdup(ip);
		out->ssh_host = xstrdup(ip);
		out->ssh_port = 22;
	}
	return (0);
}

/* The machine in a body: bare, or wrapped in {"data": ...}. */
static const cJSON *
ps_machine_of(const cJSON *j)
{
	const cJSON	*d = cJSON_GetObjectItemCaseSensitive(j, "data");

	if (cJSON_IsObject(d) && drv_json_str(d, "id") != NULL)
		return (d);
	return (j);
}

int
paperspace_machine_parse(const char *body, size_t len,
    struct drv_instance *out, struct drv_error *err)
{
	cJSON	*j;
	int	 r;

	memset(out, 0, sizeof *out);
	if (body == NULL || (j = cJSON_ParseWithLength(body, len)) == NULL)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: "
		    "answer is not JSON"));
	r = ps_machine_fill(ps_machine_of(j), out, err);
	cJSON_Delete(j);
	return (r);
}

static int
ps_list_page(const cJSON *j, struct drv_instance **out, size_t *n,
    size_t *cap, char **next, struct drv_error *err)
{
	const cJSON	*items, *m, *more;
	const char	*name, *np;
	struct drv_error ignored;

	*next = NULL;
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	if (!cJSON_IsArray(items))
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: "
		    "machine list without items"));
	cJSON_ArrayForEach(m, items) {
		name = drv_json_str(m, "name");
		if (name == NULL || strncmp(name, "fleet-", 6) != 0)
			continue;
		if (*n == *cap) {
			*cap = *cap == 0 ? 8 : *cap * 2;
			*out = xreallocarray(*out, *cap, sizeof **out);
		}
		if (ps_machine_fill(m, &(*out)[*n], &ignored) == 0)
			(*n)++;
		else
			drv_instance_clear(&(*out)[*n]);
	}
	more = cJSON_GetObjectItemCaseSensitive(j, "hasMore");
	np = drv_json_str(j, "nextPage");
	if (cJSON_IsTrue(more) && np != NULL && *np != '\0')
		*next = xstrdup(np);
	return (0);
}

int
paperspace_list_parse(const char *body, size_t len,
    struct drv_instance **out, size_t *n, size_t *cap, char **next,
    struct drv_error *err)
{
	cJSON	*j;
	int	 r;

	*next = NULL;
	if (body == NULL || (j = cJSON_ParseWithLength(body, len)) == NULL)
		return (drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: "
		    "answer is not JSON"));
	r = ps_list_page(j, out, n, cap, next, err);
	cJSON_Delete(j);
	return (r);
}

/*
 * Score an OS template for our use: it must offer the type; a machine
 * learning image (docker and NVIDIA drivers preinstalled) beats plain
 * Ubuntu, which beats anything else. -1: type not listed, 0: listed but
 * unavailable now.
 */
static int
ps_template_score(const cJSON *tp, const char *type)
{
	const cJSON	*types, *e;
	const char	*name, *os, *label;
	int		 score = -1;

	if (drv_json_str(tp, "id") == NULL)
		return (-1);
	types = cJSON_GetObjectItemCaseSensitive(tp, "availableMachineTypes");
	cJSON_ArrayForEach(e, types) {
		label = drv_json_str(e, "machineTypeLabel");
		if (label == NULL || strcasecmp(label, type) != 0)
			continue;
		score = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e,
		    "isAvailable")) ? 1 : 0;
		break;
	}
	if (score <= 0)
		return (score);
	name = drv_json_str(tp, "name");
	os = drv_json_str(tp, "operatingSystemLabel");
	if (name != NULL && strcasestr(name, "ML-in-a-Box") != NULL)
		return (3);
	if ((name != NULL && strcasestr(name, "ubuntu") != NULL) ||
	    (os != NULL && strcasestr(os, "ubuntu") != NULL))
		return (2);
	return (1);
}

/* Over an items array of os-templates: the best id, or NULL. */
static char *
ps_template_pick(const cJSON *items, const char *type, int *unavailable)
{
	const cJSON	*tp, *best = NULL;
	int		 s, bs = 0, listed = 0;

	cJSON_ArrayForEach(tp, items) {
		if ((s = ps_template_score(tp, type)) >= 0)
			listed = 1;
		if (s > bs) {
			bs = s;
			best = tp;
		}
	}
	*unavailable = best == NULL && listed;
	return (best != NULL ? xstrdup(drv_json_str(best, "id")) : NULL);
}

char *
paperspace_template_choose(const char *body, size_t len, const char *type,
    int *unavailable)
{
	cJSON	*j;
	char	*id;

	*unavailable = 0;
	if (body == NULL || type == NULL ||
	    (j = cJSON_ParseWithLength(body, len)) == NULL)
		return (NULL);
	id = ps_template_pick(cJSON_GetObjectItemCaseSensitive(j, "items"),
	    type, unavailable);
	cJSON_Delete(j);
	return (id);
}

/* ---- the startup script ---------------------------------------------- */

/* Append s to the buffer as one single-quoted shell word. */
static void
ps_sh_word(char **buf, const char *s)
{
	char	*old = *buf, *q, *o;
	const char *p;

	q = o = xmalloc(strlen(s) * 4 + 3);
	*o++ = '\'';
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	*buf = xprintf("%s %s", old, q);
	free(old);
	free(q);
}

/*
 * Lines that start the dead-man watcher on the VM, before anything that
 * may take long or fail: a transient systemd unit outlives this script
 * whatever Paperspace does with its process group; without systemd-run,
 * nohup setsid.
 */
static char *
ps_deadman_lines(const char *watcher)
{
	char	*q = xstrdup(""), *s;

	ps_sh_word(&q, watcher);
	s = xprintf("# The dead-man switch: power off when the daemon's "
	    "heartbeat stops.\n"
	    "systemctl stop %s >/dev/null 2>&1 || true\n"
	    "if ! systemd-run --unit=%s --quiet sh -c%s >/dev/null 2>&1; "
	    "then\n"
	    "\tnohup setsid sh -c%s >/dev/null 2>&1 &\n"
	    "fi\n", PS_DEADMAN_UNIT, PS_DEADMAN_UNIT, q, q);
	free(q);
	return (s);
}

/*
 * A bash script, run as root at every boot (a Paperspace startup script):
 * start the dead-man watcher if there is one, make sure docker and
 * NVIDIA's container runtime are there (ML-in-a-Box templates have both;
 * plain Ubuntu gets them installed), then replace the fleet-app container
 * with the template's image, its env, args and every port mapped 1:1 so
 * that publicIp:PORT reaches the service. The env values are expanded
 * here (${HF_TOKEN}) and registered as secrets.
 */
char *
paperspace_startup_script(const struct fleet_template *t,
    const char *deadman)
{
	char	*run, *v, *kv, *s, *dm;
	int	 i, gpus = t->gpu.count != 0;

	run = xprintf("docker run -d --name %s --restart unless-stopped%s",
	    PS_CONTAINER, gpus ? " --gpus all" : "");
	for (i = 0; i < t->nports; i++) {
		v = run;
		run = xprintf("%s -p %d:%d", v, t->ports[i].number,
		    t->ports[i].number);
		free(v);
	}
	for (i = 0; i < t->nenv; i++) {
		v = drv_env_expand(t->env[i].value);
		if (strcmp(v, t->env[i].value) != 0 && *v != '\0')
			log_add_secret(v);
		kv = xprintf("%s=%s", t->env[i].key, v);
		ps_sh_word(&run, "-e");
		ps_sh_word(&run, kv);
		freezero_str(kv);
		freezero_str(v);
	}
	ps_sh_word(&run, t->image != NULL ? t->image : "");
	for (i = 0; i < t->nargs; i++)
		ps_sh_word(&run, t->args[i]);
	dm = deadman != NULL ? ps_deadman_lines(deadman) : xstrdup("");
	s = xprintf(
	    "#!/bin/bash\n"
	    "# Written by fleet (paperspace driver) for template %s: runs its\n"
	    "# container at every boot. Deleted with the machine.\n"
	    "set -eu\n"
	    "export DEBIAN_FRONTEND=noninteractive\n"
	    "%s"
	    "if ! command -v docker >/dev/null 2>&1; then\n"
	    "\tcurl -fsSL https://get.docker.com | sh\n"
	    "fi\n"
	    "%s"
	    "docker rm -f %s >/dev/null 2>&1 || true\n"
	    "%s\n",
	    t->name != NULL ? t->name : "?", dm,
	    gpus ?
	    "if ! command -v nvidia-ctk >/dev/null 2>&1; then\n"
	    "\tk=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg\n"
	    "\tcurl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey"
	    " | gpg --dearmor --yes -o \"$k\"\n"
	    "\tcurl -fsSL https://nvidia.github.io/libnvidia-container/"
	    "stable/deb/nvidia-container-toolkit.list |\n"
	    "\t    sed \"s#deb https://#deb [signed-by=$k] https://#g\" \\\n"
	    "\t    > /etc/apt/sources.list.d/nvidia-container-toolkit.list\n"
	    "\tapt-get update && apt-get install -y nvidia-container-toolkit\n"
	    "\tnvidia-ctk runtime configure --runtime=docker\n"
	    "\tsystemctl restart docker\n"
	    "fi\n" : "",
	    PS_CONTAINER, run);
	freezero_str(run);
	free(dm);
	return (s);
}

/* ---- offers ---------------------------------------------------------- */

static const char *
ps_region(const struct drv_ctx *ctx)
{
	if (ctx->pconf != NULL && ctx->pconf->region != NULL &&
	    *ctx->pconf->region != '\0')
		return (ctx->pconf->region);
	return (PAPERSPACE_DEFAULT_REGION);
}

/* Fold case and drop vendor words: "NVIDIA A100 80GB PCIe" -> "A10080G". */
static void
ps_norm(const char *in, char *out, size_t size)
{
	static const char *const drop[] = { "NVIDIA", "TESLA", "QUADRO",
	    "GEFORCE", "PCIE", "SXM5", "SXM4", "SXM", NULL };
	const char *const *d;
	size_t	 n = 0, l;
	char	*p;

	for (; *in != '\0' && n + 1 < size; in++)
		if (isalnum((unsigned char)*in))
			out[n++] = toupper((unsigned char)*in);
	out[n] = '\0';
	for (d = drop; *d != NULL; d++) {
		l = strlen(*d);
		while ((p = strstr(out, *d)) != NULL)
			memmove(p, p + l, strlen(p + l) + 1);
	}
	l = strlen(out);
	if (l > 2 && strcmp(out + l - 2, "GB") == 0)
		out[l - 1] = '\0';
}

static int
ps_model_ok(const struct fleet_template *t, const struct ps_type *pt)
{
	char	 want[64], a[64], b[64], c[64];
	int	 i;

	if (t->gpu.nmodels == 0)
		return (1);
	ps_norm(pt->model, a, sizeof a);
	ps_norm(pt->type, b, sizeof b);
	ps_norm(pt->family, c, sizeof c);
	for (i = 0; i < t->gpu.nmodels; i++) {
		ps_norm(t->gpu.models[i], want, sizeof want);
		if (strcmp(want, a) == 0 || strcmp(want, b) == 0 ||
		    strcmp(want, c) == 0)
			return (1);
	}
	return (0);
}

static int
ps_type_fits(const struct fleet_template *t, const struct ps_type *pt)
{
	int	count = t->gpu.count > 0 ? t->gpu.count : 1;

	return (pt->count >= count && pt->vram_gb >= t->gpu.min_vram_gb &&
	    ps_model_ok(t, pt));
}

/* Every page of GET /os-templates, as one items array (caller frees). */
static cJSON *
ps_templates_fetch(const struct drv_ctx *ctx, struct drv_error *err)
{
	struct http_response	 resp;
	cJSON			*all = cJSON_CreateArray(), *items, *it;
	char			*path, *cursor = NULL, *esc;
	const char		*np;
	int			 page;

	for (page = 0; page < PS_MAX_PAGES; page++) {
		esc = cursor != NULL ? ps_escape(cursor) : NULL;
		path = xprintf("/os-templates?limit=%d%s%s", PS_PAGE_LIMIT,
		    esc != NULL ? "&after=" : "", esc != NULL ? esc : "");
		free(esc);
		free(cursor);
		cursor = NULL;
		if (ps_call(ctx, "GET", path, NULL, PS_RETRIES, &resp,
		    err) != 0) {
			free(path);
			cJSON_Delete(all);
			return (NULL);
		}
		free(path);
		items = cJSON_GetObjectItemCaseSensitive(resp.json, "items");
		cJSON_ArrayForEach(it, items)
			cJSON_AddItemToArray(all, cJSON_Duplicate(it, 1));
		np = drv_json_str(resp.json, "nextPage");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp.json,
		    "hasMore")) && np != NULL && *np != '\0')
			cursor = xstrdup(np);
		http_response_free(&resp);
		if (cursor == NULL)
			break;
	}
	free(cursor);
	return (all);
}

static void
ps_offer_add(struct drv_offer **out, size_t *n, const struct ps_type *pt,
    double price, const char *region)
{
	struct drv_offer	*o;

	*out = xreallocarray(*out, *n + 1, sizeof **out);
	o = &(*out)[(*n)++];
	memset(o, 0, sizeof *o);
	o->provider = xstrdup(PS_NAME);
	o->offer_id = xstrdup(pt->type);
	o->gpu = xstrdup(pt->model);
	o->gpu_count = pt->count;
	o->vram_gb = pt->vram_gb;
	o->price_per_hour = price;
	o->region = xstrdup(region);
	o->available = -1;	/* flag: price from fleet's table */
	o->spot = 0;
}

/*
 * Machine types that fit the template, in the configured region, that
 * an OS template says are available now, with a known price. On success
 * err carries a note (kind DRV_OK) saying where the prices came from.
 */
static int
ps_offers(const struct drv_ctx *ctx, const struct fleet_template *t,
    struct drv_offer **out, size_t *n, struct drv_error *err)
{
	const char	*region = ps_region(ctx), *spec;
	cJSON		*items;
	char		*cause = NULL, *id;
	size_t		 i;
	int		 fits = 0, busy = 0, unpriced = 0, unavail, rbit;
	double		 price;

	*out = NULL;
	*n = 0;
	spec = getenv(PAPERSPACE_PRICES_ENV);
	if (spec != NULL && paperspace_prices_check(spec, &cause) != 0) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: %s",
		    cause);
		free(cause);
		return (-1);
	}
	if ((rbit = ps_region_bit(region)) == 0)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: "
		    "unknown region '%s' (NY2, CA1 or AMS1)", region));
	if ((items = ps_templates_fetch(ctx, err)) == NULL)
		return (-1);
	for (i = 0; i < nitems(ps_types); i++) {
		if (!(ps_types[i].regions & rbit) ||
		    !ps_type_fits(t, &ps_types[i]))
			continue;
		fits++;
		id = ps_template_pick(items, ps_types[i].type, &unavail);
		if (id == NULL) {
			busy++;
			continue;
		}
		free(id);
		if ((price = paperspace_price(ps_types[i].type)) <= 0) {
			unpriced++;
			continue;
		}
		ps_offer_add(out, n, &ps_types[i], price, region);
	}
	cJSON_Delete(items);
	if (*n > 0) {
		drv_error_set(err, DRV_OK, 0, "paperspace: price from %s, not "
		    "the API%s", spec != NULL ? PAPERSPACE_PRICES_ENV " or "
		    PS_PRICE_SOURCE : PS_PRICE_SOURCE, spec != NULL ? "" :
		    "; correct it with " PAPERSPACE_PRICES_ENV);
		return (0);
	}
	if (fits == 0)
		return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "paperspace: "
		    "no machine type in %s fits %s", region, t->name));
	if (unpriced > 0)
		return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "paperspace: "
		    "%d machine type(s) in %s fit %s but fleet has no price "
		    "for them; set %s (e.g. A6000=1.89)", unpriced, region,
		    t->name, PAPERSPACE_PRICES_ENV));
	return (drv_error_set(err, DRV_ERR_CAPACITY, 0, "paperspace: no "
	    "capacity: %d machine type(s) fit %s but none is available in "
	    "%s now", busy, t->name, region));
}

/* ---- create ---------------------------------------------------------- */

static int
ps_disk_size(int gb, int *out, struct drv_error *err)
{
	size_t	i;

	for (i = 0; i < nitems(ps_disk_sizes); i++) {
		if (ps_disk_sizes[i] >= gb) {
			*out = ps_disk_sizes[i];
			return (0);
		}
	}
	return (drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: disk of "
	    "%d GB is larger than the largest size (%d GB)", gb,
	    ps_disk_sizes[nitems(ps_disk_sizes) - 1]));
}

/* The OS template for the type: FLEET_PAPERSPACE_TEMPLATE, else chosen. */
static char *
ps_template_for(const struct drv_ctx *ctx, const char *type,
    struct drv_error *err)
{
	const char	*env = getenv(PAPERSPACE_TEMPLATE_ENV);
	cJSON		*items;
	char		*id;
	int		 unavail;

	if (env != NULL && *env != '\0')
		return (xstrdup(env));
	if ((items = ps_templates_fetch(ctx, err)) == NULL)
		return (NULL);
	id = ps_template_pick(items, type, &unavail);
	cJSON_Delete(items);
	if (id == NULL && unavail)
		drv_error_set(err, DRV_ERR_CAPACITY, 0, "paperspace: no "
		    "capacity: machine type %s is not available now", type);
	else if (id == NULL)
		drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: no OS "
		    "template offers machine type %s", type);
	return (id);
}

/* POST /startup-scripts named like the machine; its id, or NULL. */
static char *
ps_script_create(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_error *err)
{
	struct http_response	 resp;
	cJSON			*b;
	char			*script, *body, *id = NULL;
	char			*deadman = NULL, *cause = NULL;

	/* The watcher runs as root, the heartbeat comes as the SSH user. */
	if (req->tmpl->deadman_timeout > 0 && (deadman = deadman_script_user(
	    "paperspace", NULL, req->name, req->tmpl->deadman_timeout,
	    ctx->pconf != NULL && ctx->pconf->ssh_user != NULL ?
	    ctx->pconf->ssh_user : driver_paperspace.ssh_user, &cause)) ==
	    NULL) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: dead-man "
		    "switch: %s", cause);
		free(cause);
		return (NULL);
	}
	script = paperspace_startup_script(req->tmpl, deadman);
	free(deadman);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "name", req->name);
	cJSON_AddStringToObject(b, "script", script);
	cJSON_AddBoolToObject(b, "isRunOnce", 0);
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	freezero_str(script);
	if (ps_call(ctx, "POST", "/startup-scripts", body, 0, &resp,
	    err) == 0) {
		if (drv_json_str(resp.json, "id") != NULL)
			id = xstrdup(drv_json_str(resp.json, "id"));
		else
			drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: "
			    "startup script created without an id");
		http_response_free(&resp);
	}
	freezero_str(body);
	return (id);
}

/* Best effort: delete every startup script named name (ours). */
static void
ps_scripts_delete(const struct drv_ctx *ctx, const char *name)
{
	struct http_response	 resp, dresp;
	struct drv_error	 ignored;
	const cJSON		*it;
	char			*esc, *path;
	const char		*id;

	if (name == NULL || strncmp(name, "fleet-", 6) != 0)
		return;
	esc = ps_escape(name);
	path = xprintf("/startup-scripts?name=%s", esc);
	free(esc);
	if (ps_call(ctx, "GET", path, NULL, PS_RETRIES, &resp,
	    &ignored) != 0) {
		free(path);
		return;
	}
	free(path);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp.json,
	    "items")) {
		id = drv_json_str(it, "id");
		if (id == NULL || drv_json_str(it, "name") == NULL ||
		    strcmp(drv_json_str(it, "name"), name) != 0 ||
		    ps_id_ok(id, NULL) != 0)
			continue;
		path = xprintf("/startup-scripts/%s", id);
		if (ps_call(ctx, "DELETE", path, NULL, PS_RETRIES, &dresp,
		    &ignored) == 0)
			http_response_free(&dresp);
		free(path);
	}
	http_response_free(&resp);
}

static void
ps_script_delete_id(const struct drv_ctx *ctx, const char *id)
{
	struct http_response	 resp;
	struct drv_error	 ignored;
	char			*path;

	path = xprintf("/startup-scripts/%s", id);
	if (ps_call(ctx, "DELETE", path, NULL, PS_RETRIES, &resp,
	    &ignored) == 0)
		http_response_free(&resp);
	free(path);
}

static char *
ps_create_body(const struct drv_create_req *req, const char *type,
    const char *tmpl_id, int disk, const char *region, const char *script)
{
	cJSON	*b = cJSON_CreateObject();
	char	*s;

	cJSON_AddStringToObject(b, "name", req->name);
	cJSON_AddStringToObject(b, "machineType", type);
	cJSON_AddStringToObject(b, "templateId", tmpl_id);
	cJSON_AddNumberToObject(b, "diskSize", disk);
	cJSON_AddStringToObject(b, "region", region);
	/* A public IP while on, maybe new after each start: get() follows. */
	cJSON_AddStringToObject(b, "publicIpType", "dynamic");
	cJSON_AddBoolToObject(b, "startOnCreate", 1);
	cJSON_AddStringToObject(b, "startupScriptId", script);
	cJSON_AddBoolToObject(b, "emailPassword", 0);
	if (ps_type_count(type) >= 8)
		cJSON_AddBoolToObject(b, "enableNvlink", 1);
	s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return (s);
}

/* The type to rent: the offer's, else the cheapest offer now. */
static char *
ps_create_type(const struct drv_ctx *ctx, const struct drv_create_req *req,
    const char **region, struct drv_error *err)
{
	struct drv_offer	*offers;
	size_t			 n, i, best = 0;
	char			*type;

	if (req->offer != NULL && req->offer->offer_id != NULL) {
		if (req->offer->region != NULL)
			*region = req->offer->region;
		return (xstrdup(req->offer->offer_id));
	}
	if (ps_offers(ctx, req->tmpl, &offers, &n, err) != 0)
		return (NULL);
	if (n == 0) {
		drv_error_set(err, DRV_ERR_CAPACITY, 0, "paperspace: no "
		    "machine type fits %s", req->tmpl->name);
		return (NULL);
	}
	memset(err, 0, sizeof *err);
	for (i = 1; i < n; i++)
		if (offers[i].price_per_hour < offers[best].price_per_hour)
			best = i;
	type = xstrdup(offers[best].offer_id);
	drv_offer_list_free(offers, n);
	return (type);
}

static int	ps_list(const struct drv_ctx *, struct drv_instance **,
		    size_t *, struct drv_error *);

/* The machine named name, from the list; -1 with err if none. */
static int
ps_find_by_name(const struct drv_ctx *ctx, const char *name,
    struct drv_instance *out, struct drv_error *err)
{
	struct drv_instance	*all;
	size_t			 n, i;
	int			 rc = -1;

	memset(out, 0, sizeof *out);
	if (ps_list(ctx, &all, &n, err) != 0)
		return (-1);
	for (i = 0; i < n && rc != 0; i++) {
		if (all[i].name == NULL || strcmp(all[i].name, name) != 0)
			continue;
		*out = all[i];
		memset(&all[i], 0, sizeof all[i]);
		rc = 0;
	}
	drv_instance_list_free(all, n);
	if (rc != 0)
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "paperspace: created "
		    "%s but cannot find it", name);
	return (rc);
}

static int
ps_create(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_instance *out, struct drv_error *err)
{
	struct http_response	 resp;
	const char		*region = ps_region(ctx);
	char			*type, *tmpl_id = NULL, *script = NULL;
	char			*body = NULL;
	int			 disk = 0, rc = -1;

	memset(out, 0, sizeof *out);
	if (req->name == NULL || strncmp(req->name, "fleet-", 6) != 0)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: "
		    "machine name must start with fleet-"));
	if (req->tmpl->image == NULL)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "paperspace: "
		    "template %s has no image to run", req->tmpl->name));
	if (ps_disk_size(req->tmpl->disk_gb, &disk, err) != 0)
		return (-1);
	if ((type = ps_create_type(ctx, req, &region, err)) == NULL)
		return (-1);
	if ((tmpl_id = ps_template_for(ctx, type, err)) == NULL)
		goto out;
	if ((script = ps_script_create(ctx, req, err)) == NULL)
		goto out;
	body = ps_create_body(req, type, tmpl_id, disk, region, script);
	/* No retries: a create that timed out may have happened. */
	if (ps_call(ctx, "POST", "/machines", body, 0, &resp, err) != 0) {
		ps_script_delete_id(ctx, script);
		goto out;
	}
	rc = ps_machine_fill(ps_machine_of(resp.json), out, err);
	http_response_free(&resp);
	/* It was created: an odd answer must not lose it. */
	if (rc != 0)
		rc = ps_find_by_name(ctx, req->name, out, err);
	if (rc == 0 && out->name == NULL)
		out->name = xstrdup(req->name);
out:
	free(type);
	free(tmpl_id);
	free(script);
	free(body);
	return (rc);
}

/* ---- get, list ------------------------------------------------------- */

/*
 * A machine that is off after a failed create or start (no capacity) is
 * failed, not stopped: its newest event says so. Best effort.
 */
static void
ps_check_failed(const struct drv_ctx *ctx, const char *id,
    struct drv_instance *out)
{
	struct http_response	 resp;
	struct drv_error	 ignored;
	const cJSON		*it, *newest = NULL;
	const char		*name, *st, *d, *nd;
	char			*path;

	path = xprintf("/machine-events?machineId=%s&limit=20&orderBy="
	    "dtCreated&order=desc", id);
	if (ps_call(ctx, "GET", path, NULL, PS_RETRIES, &resp,
	    &ignored) != 0) {
		free(path);
		return;
	}
	free(path);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(resp.json,
	    "items")) {
		d = drv_json_str(it, "dtCreated");
		nd = newest != NULL ? drv_json_str(newest, "dtCreated") : NULL;
		if (newest == NULL || (d != NULL && (nd == NULL ||
		    strcmp(d, nd) > 0)))
			newest = it;
	}
	name = newest != NULL ? drv_json_str(newest, "name") : NULL;
	st = newest != NULL ? drv_json_str(newest, "state") : NULL;
	if (name != NULL && st != NULL && strcmp(st, "error") == 0 &&
	    (strcmp(name, "create") == 0 || strcmp(name, "start") == 0))
		out->state = INST_FAILED;
	http_response_free(&resp);
}

static int
ps_get(const struct drv_ctx *ctx, const char *id, struct drv_instance *out,
    struct drv_error *err)
{
	struct http_response	 resp;
	char			*path;
	int			 rc;

	memset(out, 0, sizeof *out);
	if (ps_id_ok(id, err) != 0)
		return (-1);
	path = xprintf("/machines/%s", id);
	rc = ps_call(ctx, "GET", path, NULL, PS_RETRIES, &resp, err);
	free(path);
	if (rc != 0)
		return (-1);
	rc = ps_machine_fill(ps_machine_of(resp.json), out, err);
	http_response_free(&resp);
	if (rc == 0 && out->state == INST_STOPPED)
		ps_check_failed(ctx, id, out);
	return (rc);
}

static int
ps_list(const struct drv_ctx *ctx, struct drv_instance **out, size_t *n,
    struct drv_error *err)
{
	struct http_response	 resp;
	char			*path, *cursor = NULL, *next, *esc;
	size_t			 cap = 0;
	int			 page, rc;

	*out = NULL;
	*n = 0;
	for (page = 0; page < PS_MAX_PAGES; page++) {
		esc = cursor != NULL ? ps_escape(cursor) : NULL;
		path = xprintf("/machines?limit=%d%s%s", PS_PAGE_LIMIT,
		    esc != NULL ? "&after=" : "", esc != NULL ? esc : "");
		free(esc);
		free(cursor);
		cursor = NULL;
		rc = ps_call(ctx, "GET", path, NULL, PS_RETRIES, &resp, err);
		free(path);
		if (rc == 0) {
			rc = ps_list_page(resp.json, out, n, &cap, &next, err);
			http_response_free(&resp);
		}
		if (rc != 0) {
			drv_instance_list_free(*out, *n);
			*out = NULL;
			*n = 0;
			return (-1);
		}
		if ((cursor = next) == NULL)
			break;
	}
	free(cursor);
	return (0);
}

/* ---- stop, start, terminate ------------------------------------------ */

/*
 * PATCH /machines/{id}/{stop,start}. A refusal because the machine is
 * already on its way ("This machine is currently starting.") is success:
 * ask the machine where it is rather than trusting the wording.
 */
static int
ps_action(const struct drv_ctx *ctx, const char *id, const char *action,
    struct drv_error *err)
{
	struct http_response	 resp;
	struct drv_instance	 in;
	struct drv_error	 gerr;
	char			*path;
	int			 rc, start = strcmp(action, "start") == 0;

	if (ps_id_ok(id, err) != 0)
		return (-1);
	path = xprintf("/machines/%s/%s", id, action);
	rc = ps_call(ctx, "PATCH", path, "{}", PS_RETRIES, &resp, err);
	free(path);
	if (rc == 0) {
		http_response_free(&resp);
		return (0);
	}
	if (err->kind != DRV_ERR_INVALID && err->kind != DRV_ERR_CAPACITY)
		return (-1);
	memset(&gerr, 0, sizeof gerr);
	if (ps_get(ctx, id, &in, &gerr) != 0)
		return (-1);
	if (start ? (in.state == INST_BOOTING || in.state == INST_RUNNING) :
	    (in.state == INST_STOPPING || in.state == INST_STOPPED))
		rc = 0;
	drv_instance_clear(&in);
	if (rc == 0)
		memset(err, 0, sizeof *err);
	return (rc);
}

static int
ps_stop(const struct drv_ctx *ctx, const char *id, struct drv_error *err)
{
	return (ps_action(ctx, id, "stop", err));
}

static int
ps_start(const struct drv_ctx *ctx, const char *id, struct drv_error *err)
{
	return (ps_action(ctx, id, "start", err));
}

/* DELETE the machine (storage stops billing), then its startup script. */
static int
ps_terminate(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	struct http_response	 resp;
	const cJSON		*m;
	char			*path, *name = NULL;
	int			 rc;

	if (ps_id_ok(id, err) != 0)
		return (-1);
	path = xprintf("/machines/%s", id);
	rc = ps_call(ctx, "DELETE", path, NULL, PS_RETRIES, &resp, err);
	free(path);
	if (rc != 0)
		return (-1);
	m = ps_machine_of(resp.json);
	if (drv_json_str(m, "name") != NULL)
		name = xstrdup(drv_json_str(m, "name"));
	http_response_free(&resp);
	ps_scripts_delete(ctx, name);
	free(name);
	return (0);
}

const struct fleet_driver driver_paperspace = {
	.name = PS_NAME,
	.flags = DRV_CAN_STOP | DRV_NEEDS_KEY | DRV_DEADMAN,
	.key_env = "PAPERSPACE_API_KEY",
	.url_env = "FLEET_PAPERSPACE_URL",
	.default_url = "https://api.paperspace.com/v1",
	.ssh_user = "paperspace",
	.container = PS_CONTAINER,
	.offers = ps_offers,
	.create = ps_create,
	.get = ps_get,
	.list = ps_list,
	.stop = ps_stop,
	.start = ps_start,
	.terminate = ps_terminate,
};
