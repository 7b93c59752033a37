/* fake-vast.c: Vast.ai's REST API (shared/providers/vast.md) for tests. */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * Mounted at /vast, so a driver's base URL is http://127.0.0.1:PORT/vast:
 *
 *	POST /api/v0/bundles/ {query}		{"offers":[...]} (also GET ?q=)
 *	PUT  /api/v0/asks/ASK/ {image,env,...}	{"success":true,"new_contract":N}
 *	GET  /api/v1/instances/?limit&after_token&select_filters
 *						{"instances":[...],"next_token"}
 *	GET  /api/v0/instances/[?owner=me]	deprecated_endpoint error
 *	GET  /api/v0/instances/ID/		{"instances":{...}|null}
 *	PUT  /api/v0/instances/ID/ {"state"|"label"}	{"success":true}
 *	PUT  /api/v0/instances/reboot/ID/	{"success":true}
 *	DELETE /api/v0/instances/ID/		{"success":true,"msg":...}
 *	GET  /api/v0/users/current/		the user, as `vastai show user`
 *						reads it: id, email, credit...
 *
 * Auth: "Authorization: Bearer KEY" or ?api_key=KEY. The accepted key is
 * $FAKECLOUD_VAST_KEY (or /_fake/config api_key); unset, any key is fine.
 * Errors are Vast's {"success":false,"error":CODE,"msg":TEXT}. A small
 * offer book of hosts with different GPUs, prices, reliability and
 * verification; renting an ask marks it rented until the instance is
 * destroyed. /_control/capacity (provider "vast", gpu = gpu_name) hides
 * offers from search and makes their accept fail with no_such_ask.
 * ssh_host is 127.0.0.1 and ssh_port a made-up 30000 + id%10000, nothing
 * listening, unless fakecloud --ssh-port N: then N, the test's sshd (also
 * the 22/tcp binding of ssh runtypes).
 *
 * Switches for what vast.md leaves unconfirmed, POST /vast/_fake/config:
 *	api_key		the one accepted key (null: any)
 *	auth_text	401 body plain text "Unauthorized" instead of JSON
 *	search_auth	false: bundles search works without a valid key
 *	taken_status	HTTP status of no_such_ask (400; 404, 410)
 *	race		true: the FIRST accept of every ask fails with
 *			no_such_ask (someone else rented it) and the ask is gone
 *	race_ids	[ASK, ...]: the same for these asks only
 *	v1_list		false: /api/v1/instances/ answers 404
 *	v0_list		"deprecated" (default) or "legacy" (the old list)
 *	deprecated_status	HTTP status of deprecated_endpoint (200)
 *	get_deprecated	true: GET /api/v0/instances/ID/ is deprecated too
 *	missing_status	unknown id on GET: 200 {"instances":null} or 404
 *	destroy_missing	DELETE of a gone id: 404, or 200 success:false
 *	page_max	largest v1 page (25)
 *	ports_format	"map" (Docker style, default) or "list" ([8080])
 *	start_unavailable	start leaves the instance stopped (intended
 *			running): the machine's GPUs are taken
 *	container_key_destroy	false: an instance's own key may stop it
 *			but not destroy it (its scope is unconfirmed)
 *	credit		users/current credit, USD (25; null: left out)
 * POST /vast/_fake/instance {"id","actual_status","status_msg"} forces
 * what an instance reports (null clears); GET /vast/_fake/billing gives
 * per-instance accrued cost and whether it still bills; GET
 * /vast/_fake/offers the whole book; GET /vast/_fake/input?id=ID
 * [&env=KEY|&field=NAME] the create body kept for an instance (JSON, or
 * one value as text: fc_reply_kept()).
 *
 * An instance's own key: Vast puts CONTAINER_API_KEY and CONTAINER_ID in
 * every container. Here "Bearer container-key-ID" is that key while
 * instance ID lives: it may GET, PUT and DELETE /api/v0/instances/ID/ and
 * nothing else (403), whatever api_key says.
 */

#define VAST		"vast"
#define FV_OWN_KEY	"container-key-"	/* + id: an instance's key */
#define VAST_FIRST_ID	18234560
#define VAST_PAGE_MAX	25

struct fv_seed {
	int		 id;
	int		 machine_id;
	const char	*gpu_name;
	int		 num_gpus;
	int		 gpu_ram;	/* MB per GPU */
	double		 dph_base;
	double		 storage_cost;	/* $/GB/month */
	double		 min_bid;
	double		 reliability;
	int		 verified;
	const char	*geolocation;
	int		 direct_port_count;
	double		 disk_space;
	int		 rented;	/* at start */
};

static const struct fv_seed fv_seeds[] = {
	{ 5001, 101, "RTX 4090", 1, 24564, 0.40, 0.15, 0.20, 0.991, 1,
	    "Texas, US", 20, 200, 0 },
	{ 5002, 102, "RTX 4090", 1, 24564, 0.33, 0.10, 0.15, 0.900, 1,
	    "Quebec, CA", 20, 200, 0 },
	{ 5003, 103, "RTX 4090", 1, 24564, 0.29, 0.10, 0.12, 0.985, 0,
	    "Sweden, SE", 20, 200, 0 },
	{ 5004, 104, "RTX 4090", 2, 24564, 0.78, 0.15, 0.40, 0.990, 1,
	    "Texas, US", 20, 400, 0 },
	{ 5005, 105, "RTX 4090", 1, 24564, 0.25, 0.10, 0.10, 0.990, 1,
	    "Ohio, US", 0, 200, 0 },
	{ 5006, 106, "A100 SXM4", 1, 81920, 1.05, 0.20, 0.60, 0.995, 1,
	    "Oregon, US", 30, 500, 0 },
	{ 5007, 107, "A100 PCIE", 1, 40960, 0.70, 0.20, 0.40, 0.980, 1,
	    "Nevada, US", 30, 500, 0 },
	{ 5008, 108, "A100 PCIE", 1, 81920, 0.95, 0.20, 0.55, 0.970, 1,
	    "Belgium, BE", 30, 500, 0 },
	{ 5009, 109, "H100 SXM", 1, 81559, 2.10, 0.25, 1.20, 0.997, 1,
	    "Virginia, US", 40, 1000, 0 },
	{ 5010, 110, "H100 SXM", 2, 81559, 4.20, 0.25, 2.40, 0.996, 1,
	    "Virginia, US", 40, 1000, 0 },
	{ 5011, 111, "RTX A6000", 1, 49140, 0.45, 0.12, 0.25, 0.975, 1,
	    "Poland, PL", 20, 300, 0 },
	{ 5012, 112, "RTX 3090", 1, 24576, 0.18, 0.08, 0.08, 0.960, 1,
	    "Brazil, BR", 10, 100, 1 },
	{ 5013, 113, "L40S", 1, 46068, 0.80, 0.15, 0.45, 0.990, 1,
	    "Finland, FI", 20, 400, 0 },
};
#define FV_NSEEDS	((int)nitems(fv_seeds))

/* The fake's own state; a test server, so one static instance. */
static struct {
	int		 init;
	int		 rented[FV_NSEEDS];
	int		 raced[FV_NSEEDS];
	char		*api_key;
	int		 auth_text;
	int		 search_auth;
	int		 taken_status;
	int		 race;
	cJSON		*race_ids;
	int		 v1_list;
	int		 v0_legacy;
	int		 deprecated_status;
	int		 get_deprecated;
	int		 missing_status;
	int		 destroy_missing;
	int		 page_max;
	int		 ports_list;
	int		 start_unavailable;
	int		 own_key_no_destroy;
	int		 no_credit;
	double		 credit;
	unsigned int	 next_id;
} fv;

static void
fv_reset(struct fc *fc __unused)
{
	const char	*k = getenv("FAKECLOUD_VAST_KEY");
	unsigned int	 next = fv.next_id;
	int		 i;

	free(fv.api_key);
	cJSON_Delete(fv.race_ids);
	memset(&fv, 0, sizeof fv);
	fv.init = 1;
	fv.next_id = next != 0 ? next : VAST_FIRST_ID;
	for (i = 0; i < FV_NSEEDS; i++)
		fv.rented[i] = fv_seeds[i].rented;
	if (k != NULL && *k != '\0')
		fv.api_key = xstrdup(k);
	fv.search_auth = 1;
	fv.taken_status = 400;
	fv.v1_list = 1;
	fv.deprecated_status = 200;
	fv.missing_status = 200;
	fv.destroy_missing = 404;
	fv.page_max = VAST_PAGE_MAX;
	fv.credit = 25;
}

/* ---- replies in Vast's shapes ---- */

static void
fv_error(struct fc_req *req, int status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
fv_error(struct fc_req *req, int status, const char *code, const char *fmt,
    ...)
{
	cJSON	*o;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "success", 0);
	if (code != NULL)
		cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "msg", msg);
	free(msg);
	fc_reply_json(req, status, o);
}

static void
fv_ok(struct fc_req *req, const char *msg)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "success", 1);
	if (msg != NULL)
		cJSON_AddStringToObject(o, "msg", msg);
	fc_reply_json(req, 200, o);
}

/* The key from "Authorization: Bearer" or ?api_key=; 0 if acceptable. */
static int
fv_auth(struct fc_req *req)
{
	const char	*a = fc_req_header(req, "Authorization");
	char		*q = NULL;
	const char	*key = NULL;
	int		 ok;

	if (a != NULL && strncmp(a, "Bearer ", 7) == 0)
		key = a + 7;
	else if ((q = fc_req_query(req, "api_key")) != NULL)
		key = q;
	ok = key != NULL && *key != '\0' &&
	    (fv.api_key == NULL || strcmp(key, fv.api_key) == 0);
	free(q);
	if (ok)
		return (0);
	if (fv.auth_text)
		fc_reply(req, 401, "text/plain", "Unauthorized");
	else
		fv_error(req, 401, "unauthorized", "Please log in or sign up "
		    "(invalid or missing API key)");
	return (-1);
}

/* ---- the offer book ---- */

static double
fv_dph_total(const struct fv_seed *s, double alloc, int bid)
{
	return ((bid ? s->min_bid : s->dph_base) +
	    alloc * s->storage_cost / 720.0);
}

static cJSON *
fv_offer_json(int i, double alloc, int bid)
{
	const struct fv_seed	*s = &fv_seeds[i];
	cJSON			*o = cJSON_CreateObject();
	int64_t			 now = fc_now();

	cJSON_AddNumberToObject(o, "id", s->id);
	cJSON_AddNumberToObject(o, "ask_contract_id", s->id);
	cJSON_AddNumberToObject(o, "bundle_id", 900000 + s->id);
	cJSON_AddNumberToObject(o, "machine_id", s->machine_id);
	cJSON_AddNumberToObject(o, "host_id", 70000 + s->machine_id);
	cJSON_AddNumberToObject(o, "num_gpus", s->num_gpus);
	cJSON_AddStringToObject(o, "gpu_name", s->gpu_name);
	cJSON_AddNumberToObject(o, "gpu_ram", s->gpu_ram);
	cJSON_AddNumberToObject(o, "gpu_total_ram", s->gpu_ram * s->num_gpus);
	cJSON_AddNumberToObject(o, "gpu_frac", 1);
	cJSON_AddNumberToObject(o, "compute_cap", 860);
	cJSON_AddNumberToObject(o, "cuda_max_good", 12.4);
	cJSON_AddStringToObject(o, "driver_version", "550.54.15");
	cJSON_AddStringToObject(o, "cpu_name", "AMD EPYC 7543 32-Core");
	cJSON_AddNumberToObject(o, "cpu_cores", 64);
	cJSON_AddNumberToObject(o, "cpu_cores_effective", 16 * s->num_gpus);
	cJSON_AddNumberToObject(o, "cpu_ram", 128000);
	cJSON_AddNumberToObject(o, "disk_space", s->disk_space);
	cJSON_AddNumberToObject(o, "inet_down", 900.5);
	cJSON_AddNumberToObject(o, "inet_up", 750.2);
	cJSON_AddNumberToObject(o, "inet_down_cost", 0.005);
	cJSON_AddNumberToObject(o, "inet_up_cost", 0.005);
	cJSON_AddNumberToObject(o, "direct_port_count", s->direct_port_count);
	cJSON_AddNumberToObject(o, "dph_base", bid ? s->min_bid : s->dph_base);
	cJSON_AddNumberToObject(o, "dph_total", fv_dph_total(s, alloc, bid));
	cJSON_AddNumberToObject(o, "min_bid", s->min_bid);
	cJSON_AddNumberToObject(o, "storage_cost", s->storage_cost);
	cJSON_AddNumberToObject(o, "dlperf", 80.5 * s->num_gpus);
	cJSON_AddNumberToObject(o, "score", 100 * s->reliability);
	cJSON_AddBoolToObject(o, "rentable", !fv.rented[i]);
	cJSON_AddBoolToObject(o, "rented", fv.rented[i]);
	cJSON_AddBoolToObject(o, "is_bid", bid);
	cJSON_AddBoolToObject(o, "verified", s->verified);
	cJSON_AddBoolToObject(o, "external", 0);
	cJSON_AddNumberToObject(o, "hosting_type", 0);
	cJSON_AddNumberToObject(o, "reliability", s->reliability);
	cJSON_AddNumberToObject(o, "reliability2", s->reliability);
	cJSON_AddStringToObject(o, "geolocation", s->geolocation);
	cJSON_AddStringToObject(o, "public_ipaddr", "127.0.0.1");
	cJSON_AddBoolToObject(o, "static_ip", 1);
	cJSON_AddNumberToObject(o, "start_date", (double)now - 86400);
	cJSON_AddNumberToObject(o, "end_date", (double)now + 30 * 86400);
	cJSON_AddNumberToObject(o, "duration", 30 * 86400);
	return (o);
}

static int
fv_seed_index(long long id)
{
	int	 i;

	for (i = 0; i < FV_NSEEDS; i++)
		if (fv_seeds[i].id == id)
			return (i);
	return (-1);
}

/* "Texas, US" -> "US" */
static const char *
fv_country(const char *geo)
{
	const char	*c = strrchr(geo, ',');

	c = c != NULL ? c + 1 : geo;
	while (*c == ' ')
		c++;
	return (c);
}

/* Compare a field value with an operand: <0, 0, >0; 2 if incomparable. */
static int
fv_cmp(const cJSON *v, const cJSON *arg, const char *field)
{
	double	 a, b;

	if (v == NULL || arg == NULL)
		return (2);
	if (cJSON_IsBool(v) || cJSON_IsBool(arg)) {
		a = cJSON_IsBool(v) ? cJSON_IsTrue(v) : cJSON_IsNumber(v) ?
		    (v->valuedouble != 0) : -1;
		b = cJSON_IsBool(arg) ? cJSON_IsTrue(arg) :
		    cJSON_IsNumber(arg) ? (arg->valuedouble != 0) : -2;
		return (a == b ? 0 : 2);
	}
	if (cJSON_IsNumber(v) && cJSON_IsNumber(arg)) {
		a = v->valuedouble;
		b = arg->valuedouble;
		return (a < b ? -1 : a > b);
	}
	if (cJSON_IsString(v) && cJSON_IsString(arg)) {
		if (strcmp(field, "geolocation") == 0 &&
		    strcmp(fv_country(v->valuestring), arg->valuestring) == 0)
			return (0);
		return (strcmp(v->valuestring, arg->valuestring));
	}
	return (2);
}

/* One {op: operand} on a field; -1 for an operator Vast does not have. */
static int
fv_op(const cJSON *v, const char *field, const char *op, const cJSON *arg)
{
	const cJSON	*e;
	int		 c, hit = 0;

	if (strcmp(op, "in") == 0 || strcmp(op, "notin") == 0) {
		if (!cJSON_IsArray(arg))
			return (-1);
		cJSON_ArrayForEach(e, arg)
			if (fv_cmp(v, e, field) == 0)
				hit = 1;
		return (op[0] == 'i' ? hit : !hit);
	}
	c = fv_cmp(v, arg, field);
	if (strcmp(op, "eq") == 0)
		return (c == 0);
	if (strcmp(op, "neq") == 0)
		return (c != 0);
	if (strcmp(op, "gt") == 0)
		return (c == 1);
	if (strcmp(op, "gte") == 0)
		return (c == 0 || c == 1);
	if (strcmp(op, "lt") == 0)
		return (c == -1);
	if (strcmp(op, "lte") == 0)
		return (c == 0 || c == -1);
	return (-1);
}

static int
fv_control_key(const char *k)
{
	static const char *keys[] = { "order", "type", "limit",
	    "allocated_storage", "disable_bundling", "select_cols", NULL };
	int	 i;

	for (i = 0; keys[i] != NULL; i++)
		if (strcmp(k, keys[i]) == 0)
			return (1);
	return (0);
}

/*
 * Does a row pass every filter of a query? 1 yes, 0 no, -1 bad query
 * (why set).
 */
static int
fv_filter(const cJSON *row, const cJSON *q, const char **why)
{
	const cJSON	*f, *op;
	int		 r, pass = 1;

	cJSON_ArrayForEach(f, q) {
		if (fv_control_key(f->string))
			continue;
		if (!cJSON_IsObject(f)) {
			*why = f->string;
			return (-1);
		}
		cJSON_ArrayForEach(op, f) {
			r = fv_op(cJSON_GetObjectItemCaseSensitive(row,
			    f->string), f->string, op->string, op);
			if (r == -1) {
				*why = f->string;
				return (-1);
			}
			if (r == 0)
				pass = 0;
		}
	}
	return (pass);
}

/* Order rows by the query's [[field, dir], ...]. */
static const cJSON *fv_sort_order;

static int
fv_sort_cmp(const void *pa, const void *pb)
{
	const cJSON	*a = *(const cJSON * const *)pa;
	const cJSON	*b = *(const cJSON * const *)pb;
	const cJSON	*o, *f, *d;
	int		 c;

	cJSON_ArrayForEach(o, fv_sort_order) {
		f = cJSON_GetArrayItem(o, 0);
		d = cJSON_GetArrayItem(o, 1);
		if (!cJSON_IsString(f))
			continue;
		c = fv_cmp(cJSON_GetObjectItemCaseSensitive(a, f->valuestring),
		    cJSON_GetObjectItemCaseSensitive(b, f->valuestring),
		    f->valuestring);
		if (c == 2 || c == 0)
			continue;
		if (cJSON_IsString(d) && strcmp(d->valuestring, "desc") == 0)
			c = -c;
		return (c);
	}
	return (fc_json_number((cJSON *)a, "id", 0) <
	    fc_json_number((cJSON *)b, "id", 0) ? -1 : 1);
}

/* POST /api/v0/bundles/ {query} or GET /api/v0/bundles/?q={query} */
static void
fv_search(struct fc_req *req)
{
	cJSON		*q, *parsed = NULL, *out, *arr, **rows;
	const char	*type, *why = NULL;
	char		*qs;
	double		 alloc;
	int		 i, n = 0, bid, limit, r;

	if (fv.search_auth && fv_auth(req) != 0)
		return;
	if (strcmp(req->method, "GET") == 0) {
		if ((qs = fc_req_query(req, "q")) != NULL) {
			parsed = cJSON_Parse(qs);
			free(qs);
		} else
			parsed = cJSON_CreateObject();
		q = parsed;
	} else
		q = req->bodylen == 0 ? (parsed = cJSON_CreateObject()) :
		    fc_req_json(req);
	if (!cJSON_IsObject(q)) {
		fv_error(req, 400, "invalid_args", "query must be a JSON "
		    "object");
		goto out;
	}
	type = fc_json_string(q, "type");
	if (type != NULL && strcmp(type, "on-demand") != 0 &&
	    strcmp(type, "bid") != 0 && strcmp(type, "reserved") != 0) {
		fv_error(req, 400, "invalid_args", "unknown offer type '%s'",
		    type);
		goto out;
	}
	bid = type != NULL && strcmp(type, "bid") == 0;
	alloc = fc_json_number(q, "allocated_storage", 5.0);
	limit = (int)fc_json_number(q, "limit", 64);
	rows = xcalloc(FV_NSEEDS, sizeof *rows);
	for (i = 0; i < FV_NSEEDS; i++) {
		if (control_capacity(req->fc, VAST, fv_seeds[i].gpu_name) == 0)
			continue;
		rows[n] = fv_offer_json(i, alloc, bid);
		if ((r = fv_filter(rows[n], q, &why)) == -1) {
			while (n >= 0)
				cJSON_Delete(rows[n--]);
			free(rows);
			fv_error(req, 400, "invalid_args", "bad filter on "
			    "'%s'", why);
			goto out;
		}
		if (r == 1)
			n++;
		else
			cJSON_Delete(rows[n]);
	}
	fv_sort_order = cJSON_GetObjectItemCaseSensitive(q, "order");
	if (cJSON_IsArray(fv_sort_order))
		qsort(rows, n, sizeof *rows, fv_sort_cmp);
	fv_sort_order = NULL;
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "offers");
	for (i = 0; i < n; i++) {
		if (limit <= 0 || i < limit)
			cJSON_AddItemToArray(arr, rows[i]);
		else
			cJSON_Delete(rows[i]);
	}
	free(rows);
	fc_reply_json(req, 200, out);
out:
	cJSON_Delete(parsed);
}

/* ---- instances ---- */

static long long
fv_inst_id(const struct fc_instance *inst)
{
	return (strtoll(inst->id, NULL, 10));
}

static cJSON *
fv_meta(struct fc_instance *inst, const char *k)
{
	return (cJSON_GetObjectItemCaseSensitive(inst->meta, k));
}

static void
fv_meta_set(struct fc_instance *inst, const char *k, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(inst->meta, k) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(inst->meta, k, v);
	else
		cJSON_AddItemToObject(inst->meta, k, v);
}

static int
fv_live(const struct fc_instance *inst)
{
	return (inst != NULL && strcmp(inst->provider, VAST) == 0 &&
	    inst->state != FC_TERMINATED && inst->state != FC_GONE);
}

/* GPU seconds so far: what stopped plus the current run. */
static double
fv_gpu_seconds(struct fc_instance *inst)
{
	double	 s = fc_json_number(inst->meta, "gpu_seconds", 0);

	if (inst->state == FC_RUNNING && inst->started > 0)
		s += (double)(fc_now() - inst->started);
	return (s);
}

/* Leaving running: bank the run's GPU time. */
static void
fv_bank(struct fc_instance *inst)
{
	fv_meta_set(inst, "gpu_seconds", cJSON_CreateNumber(
	    fv_gpu_seconds(inst)));
}

static const char *
fv_actual(struct fc_instance *inst)
{
	const char	*forced = fc_json_string(inst->meta, "force_status");

	if (forced != NULL)
		return (forced);
	switch (inst->state) {
	case FC_PENDING:
		return (inst->restarts > 0 ? "stopped" : NULL);
	case FC_BOOTING:
		return ("loading");
	case FC_RUNNING:
		return ("running");
	case FC_STOPPED:
		return ("stopped");
	case FC_EXITED:		/* intended_status stays "running" */
	default:
		return ("exited");
	}
}

static void
fv_add_binding(cJSON *ports, const char *key, int host_port)
{
	cJSON	*arr, *b;
	char	 buf[16];

	snprintf(buf, sizeof buf, "%d", host_port);
	arr = cJSON_AddArrayToObject(ports, key);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "HostIp", "0.0.0.0");
	cJSON_AddStringToObject(b, "HostPort", buf);
	cJSON_AddItemToArray(arr, b);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "HostIp", "::");
	cJSON_AddStringToObject(b, "HostPort", buf);
	cJSON_AddItemToArray(arr, b);
}

/* An instance object as Vast returns it (vast.md 4.4, 4.5). */
static cJSON *
fv_instance_json(struct fc_instance *inst)
{
	cJSON		*o = cJSON_CreateObject(), *ports, *p;
	const char	*actual = fv_actual(inst), *rt, *msg;
	char		 key[32];
	int		 running = actual != NULL && strcmp(actual, "running") ==
			    0 && inst->state == FC_RUNNING && inst->port > 0;
	int		 ssh_port;

	/* --ssh-port: a real sshd there, for the ssh tests. */
	ssh_port = inst->fc->ssh_port > 0 ? inst->fc->ssh_port :
	    (int)fc_json_number(inst->meta, "ssh_port", 0);
	cJSON_AddNumberToObject(o, "id", (double)fv_inst_id(inst));
	cJSON_AddStringToObject(o, "label", inst->label);
	if (actual != NULL)
		cJSON_AddStringToObject(o, "actual_status", actual);
	else
		cJSON_AddNullToObject(o, "actual_status");
	cJSON_AddStringToObject(o, "intended_status",
	    fc_json_string(inst->meta, "intended") != NULL ?
	    fc_json_string(inst->meta, "intended") : "running");
	cJSON_AddStringToObject(o, "cur_state", inst->state == FC_STOPPED ?
	    "stopped" : "running");
	cJSON_AddNullToObject(o, "next_state");
	if ((msg = fc_json_string(inst->meta, "force_msg")) != NULL)
		cJSON_AddStringToObject(o, "status_msg", msg);
	else if (inst->state == FC_EXITED && inst->exit_msg != NULL)
		cJSON_AddStringToObject(o, "status_msg", inst->exit_msg);
	else
		cJSON_AddStringToObject(o, "status_msg", running ?
		    "success, running fake/echo" : inst->state == FC_BOOTING ?
		    "Pulling image" : "");
	/* Like the real API: trailing whitespace on addresses. */
	cJSON_AddStringToObject(o, "public_ipaddr", "127.0.0.1\n");
	cJSON_AddStringToObject(o, "local_ipaddrs", "10.2.0.5 172.17.0.1 \n");
	if (fv.ports_list) {
		ports = cJSON_AddArrayToObject(o, "ports");
		cJSON_ArrayForEach(p, fv_meta(inst, "ports_req"))
			cJSON_AddItemToArray(ports, cJSON_Duplicate(p, 0));
	} else {
		ports = cJSON_AddObjectToObject(o, "ports");
		if (running) {
			cJSON_ArrayForEach(p, fv_meta(inst, "ports_req")) {
				snprintf(key, sizeof key, "%d/tcp",
				    (int)p->valuedouble);
				if (p->valuedouble != 22)
					fv_add_binding(ports, key, inst->port);
			}
			rt = fc_json_string(inst->meta, "runtype");
			if (rt != NULL && strstr(rt, "ssh") != NULL)
				fv_add_binding(ports, "22/tcp", ssh_port);
		}
	}
	cJSON_AddStringToObject(o, "ssh_host", "127.0.0.1");
	cJSON_AddNumberToObject(o, "ssh_port", ssh_port);
	cJSON_AddStringToObject(o, "ssh_idx", "5");
	cJSON_AddNumberToObject(o, "direct_port_start", 40000);
	cJSON_AddNumberToObject(o, "direct_port_end", 40099);
	cJSON_AddNumberToObject(o, "direct_port_count", 100);
	cJSON_AddNumberToObject(o, "dph_total", inst->price);
	cJSON_AddNumberToObject(o, "dph_base",
	    fc_json_number(inst->meta, "dph_base", inst->price));
	cJSON_AddNumberToObject(o, "storage_cost",
	    fc_json_number(inst->meta, "storage_cost", 0));
	cJSON_AddNumberToObject(o, "start_date", (double)inst->created);
	cJSON_AddNumberToObject(o, "end_date", (double)inst->created +
	    30 * 86400);
	cJSON_AddNumberToObject(o, "duration", 30 * 86400);
	cJSON_AddNumberToObject(o, "uptime_mins", inst->state == FC_RUNNING &&
	    inst->started > 0 ? (double)(fc_now() - inst->started) / 60 : 0);
	cJSON_AddNumberToObject(o, "machine_id",
	    fc_json_number(inst->meta, "machine_id", 0));
	cJSON_AddNumberToObject(o, "host_id",
	    70000 + fc_json_number(inst->meta, "machine_id", 0));
	cJSON_AddNumberToObject(o, "bundle_id",
	    900000 + fc_json_number(inst->meta, "ask_id", 0));
	cJSON_AddStringToObject(o, "gpu_name", inst->gpu);
	cJSON_AddNumberToObject(o, "num_gpus",
	    fc_json_number(inst->meta, "num_gpus", 1));
	cJSON_AddNumberToObject(o, "gpu_ram",
	    fc_json_number(inst->meta, "gpu_ram", 0));
	if (running)
		cJSON_AddNumberToObject(o, "gpu_util", 3.0);
	else
		cJSON_AddNullToObject(o, "gpu_util");
	cJSON_AddNumberToObject(o, "disk_space",
	    fc_json_number(inst->meta, "disk", 10));
	cJSON_AddNumberToObject(o, "reliability2",
	    fc_json_number(inst->meta, "reliability2", 0));
	cJSON_AddStringToObject(o, "geolocation",
	    fc_json_string(inst->meta, "geolocation") != NULL ?
	    fc_json_string(inst->meta, "geolocation") : "");
	cJSON_AddStringToObject(o, "image_uuid",
	    fc_json_string(inst->meta, "image"));
	cJSON_AddItemToObject(o, "image_args",
	    cJSON_Duplicate(fv_meta(inst, "args"), 1));
	cJSON_AddStringToObject(o, "image_runtype",
	    fc_json_string(inst->meta, "runtype"));
	if (fc_json_string(inst->meta, "onstart") != NULL)
		cJSON_AddStringToObject(o, "onstart",
		    fc_json_string(inst->meta, "onstart"));
	else
		cJSON_AddNullToObject(o, "onstart");
	cJSON_AddItemToObject(o, "extra_env",
	    cJSON_Duplicate(fv_meta(inst, "extra_env"), 1));
	return (o);
}

/* The live Vast instances, oldest (lowest id) first. */
static int
fv_instances(struct fc *fc, struct fc_instance ***out)
{
	struct fc_instance	*inst, **v = NULL, *tmp;
	int			 n = 0, i, j;

	TAILQ_FOREACH(inst, &fc->instances, entry) {
		if (!fv_live(inst))
			continue;
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = inst;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && fv_inst_id(v[j - 1]) > fv_inst_id(v[j]);
		    j--) {
			tmp = v[j];
			v[j] = v[j - 1];
			v[j - 1] = tmp;
		}
	*out = v;
	return (n);
}

/* ---- create ---- */

static int
fv_raced(int idx)
{
	const cJSON	*e;

	if (fv.raced[idx])
		return (0);
	if (fv.race)
		return (1);
	cJSON_ArrayForEach(e, fv.race_ids)
		if (cJSON_IsNumber(e) && (int)e->valuedouble ==
		    fv_seeds[idx].id)
			return (1);
	return (0);
}

static int
fv_runtype_ok(const char *rt)
{
	static const char *ok[] = { "ssh", "jupyter", "args", "ssh_proxy",
	    "ssh_direct", "ssh_direc", "jupyter_proxy", "jupyter_direct",
	    "jupyter_direc", NULL };
	char		 tok[32];
	const char	*p = rt;
	size_t		 n;
	int		 i, found, any = 0;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if ((n = strcspn(p, " ")) == 0)
			break;
		if (n >= sizeof tok)
			return (0);
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		for (found = 0, i = 0; ok[i] != NULL; i++)
			if (strcmp(tok, ok[i]) == 0)
				found = 1;
		if (!found)
			return (0);
		any = 1;
	}
	return (any);
}

/* Validate the env object; collect -p ports and the other variables. */
static int
fv_parse_env(const cJSON *env, cJSON *ports, cJSON *extra, const char **why)
{
	const cJSON	*e;
	cJSON		*pair;
	char		*end;
	long		 a, b;
	const char	*k;

	cJSON_ArrayForEach(e, env) {
		k = e->string;
		if (!cJSON_IsString(e)) {
			*why = k;
			return (-1);
		}
		if (strncmp(k, "-p ", 3) == 0) {
			a = strtol(k + 3, &end, 10);
			if (*end != ':' || a < 1 || a > 65535) {
				*why = k;
				return (-1);
			}
			b = strtol(end + 1, &end, 10);
			if ((*end != '\0' && strcmp(end, "/udp") != 0 &&
			    strcmp(end, "/tcp") != 0) || b < 1 || b > 65535) {
				*why = k;
				return (-1);
			}
			if (*end == '\0' || strcmp(end, "/tcp") == 0)
				cJSON_AddItemToArray(ports,
				    cJSON_CreateNumber(b));
			continue;
		}
		if (strcmp(k, "-h") == 0)
			continue;
		pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, cJSON_CreateString(k));
		cJSON_AddItemToArray(pair, cJSON_CreateString(e->valuestring));
		cJSON_AddItemToArray(extra, pair);
	}
	return (0);
}

static void
fv_taken(struct fc_req *req, const char *ask)
{
	fv_error(req, fv.taken_status, "no_such_ask", "ask %s is not "
	    "available: it was rented by someone else or does not exist",
	    ask);
}

/* PUT /api/v0/asks/ASK/ */
static void
fv_create(struct fc_req *req, const char *ask)
{
	const struct fv_seed	*s;
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req), *ports, *extra, *out;
	const cJSON		*env, *args, *a, *disk, *price;
	const char		*image, *rt, *label, *why = NULL;
	char			*end, *id;
	long long		 askid;
	int			 idx;

	askid = strtoll(ask, &end, 10);
	if (*ask == '\0' || *end != '\0' || askid <= 0) {
		fv_error(req, 400, "invalid_args", "ask id must be a number");
		return;
	}
	if (!cJSON_IsObject(j)) {
		fv_error(req, 400, "invalid_args", "body must be a JSON "
		    "object");
		return;
	}
	image = fc_json_string(j, "image");
	if ((image == NULL || *image == '\0') &&
	    fc_json_string(j, "template_hash_id") == NULL) {
		fv_error(req, 400, "invalid_args", "image is required");
		return;
	}
	env = cJSON_GetObjectItemCaseSensitive(j, "env");
	if (env != NULL && !cJSON_IsObject(env) && !cJSON_IsNull(env)) {
		fv_error(req, 400, "invalid_args", "invalid env type: env "
		    "must be a dict");
		return;
	}
	disk = cJSON_GetObjectItemCaseSensitive(j, "disk");
	if (disk != NULL && (!cJSON_IsNumber(disk) || disk->valuedouble <= 0)) {
		fv_error(req, 400, "invalid_args", "disk must be a positive "
		    "number of GB");
		return;
	}
	rt = fc_json_string(j, "runtype");
	if (cJSON_GetObjectItemCaseSensitive(j, "runtype") != NULL &&
	    (rt == NULL || !fv_runtype_ok(rt))) {
		fv_error(req, 400, "invalid_args", "invalid runtype");
		return;
	}
	args = cJSON_GetObjectItemCaseSensitive(j, "args");
	if (args != NULL) {
		if (!cJSON_IsArray(args)) {
			fv_error(req, 400, "invalid_args", "args must be a "
			    "list of strings");
			return;
		}
		cJSON_ArrayForEach(a, args) {
			if (!cJSON_IsString(a)) {
				fv_error(req, 400, "invalid_args", "args must "
				    "be a list of strings");
				return;
			}
		}
	}
	label = fc_json_string(j, "label");
	if ((idx = fv_seed_index(askid)) == -1 || fv.rented[idx]) {
		fv_taken(req, ask);
		return;
	}
	s = &fv_seeds[idx];
	price = cJSON_GetObjectItemCaseSensitive(j, "price");
	if (price != NULL && (!cJSON_IsNumber(price) ||
	    price->valuedouble < s->min_bid)) {
		fv_error(req, 400, "invalid_args", "bid price must be at least "
		    "%.4f", s->min_bid);
		return;
	}
	if (fv_raced(idx)) {
		/* Someone else's accept landed first. */
		fv.raced[idx] = 1;
		fv.rented[idx] = 1;
		fv_taken(req, ask);
		return;
	}
	if (!control_capacity_take(req->fc, VAST, s->gpu_name)) {
		fv_taken(req, ask);
		return;
	}
	ports = cJSON_CreateArray();
	extra = cJSON_CreateArray();
	if (cJSON_IsObject(env) && fv_parse_env(env, ports, extra, &why) != 0) {
		cJSON_Delete(ports);
		cJSON_Delete(extra);
		fv_error(req, 400, "invalid_args", "bad env entry '%s'", why);
		return;
	}
	fv.rented[idx] = 1;
	id = xprintf("%u", fv.next_id++);
	inst = instance_create(req->fc, VAST, id, label != NULL ? label : id,
	    s->gpu_name, fv_dph_total(s, disk != NULL ? disk->valuedouble :
	    10, price != NULL) + (price != NULL ? price->valuedouble -
	    s->min_bid : 0));
	free(id);
	cJSON_AddNumberToObject(inst->meta, "ask_id", (double)askid);
	cJSON_AddNumberToObject(inst->meta, "machine_id", s->machine_id);
	cJSON_AddNumberToObject(inst->meta, "num_gpus", s->num_gpus);
	cJSON_AddNumberToObject(inst->meta, "gpu_ram", s->gpu_ram);
	cJSON_AddNumberToObject(inst->meta, "dph_base", price != NULL ?
	    price->valuedouble : s->dph_base);
	cJSON_AddNumberToObject(inst->meta, "storage_cost", s->storage_cost);
	cJSON_AddNumberToObject(inst->meta, "reliability2", s->reliability);
	cJSON_AddStringToObject(inst->meta, "geolocation", s->geolocation);
	cJSON_AddNumberToObject(inst->meta, "disk", disk != NULL ?
	    disk->valuedouble : 10);
	cJSON_AddStringToObject(inst->meta, "image", image != NULL ? image :
	    "template");
	cJSON_AddStringToObject(inst->meta, "runtype", rt != NULL ? rt :
	    args != NULL ? "args" : "ssh");
	if (fc_json_string(j, "onstart") != NULL)
		cJSON_AddStringToObject(inst->meta, "onstart",
		    fc_json_string(j, "onstart"));
	cJSON_AddItemToObject(inst->meta, "args", args != NULL ?
	    cJSON_Duplicate(args, 1) : cJSON_CreateArray());
	cJSON_AddItemToObject(inst->meta, "ports_req", ports);
	cJSON_AddItemToObject(inst->meta, "extra_env", extra);
	cJSON_AddItemToObject(inst->meta, "input", cJSON_Duplicate(j, 1));
	cJSON_AddStringToObject(inst->meta, "intended", "running");
	cJSON_AddNumberToObject(inst->meta, "ssh_port",
	    30000 + (fv_inst_id(inst) % 10000));
	cJSON_AddBoolToObject(inst->meta, "interruptible", price != NULL);
	out = cJSON_CreateObject();
	cJSON_AddBoolToObject(out, "success", 1);
	cJSON_AddNumberToObject(out, "new_contract", (double)fv_inst_id(inst));
	fc_reply_json(req, 200, out);
}

/* ---- reading ---- */

static char *
fv_token(long long last)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	char		*raw, *out, *o;
	size_t		 i, n;
	unsigned int	 v;

	raw = xprintf("{\"id\": %lld}", last);
	n = strlen(raw);
	out = o = xmalloc(n * 2 + 4);
	for (i = 0; i < n; i += 3) {
		v = (unsigned char)raw[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)raw[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		if (i + 1 < n)
			*o++ = b64[(v >> 6) & 63];
		if (i + 2 < n)
			*o++ = b64[v & 63];
	}
	*o = '\0';
	free(raw);
	return (out);
}

/* The id inside an after_token; -1 if it is not one of ours. */
static long long
fv_token_id(const char *tok)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	char		 raw[128];
	const char	*p;
	size_t		 n = 0;
	unsigned int	 v = 0;
	int		 bits = 0;
	cJSON		*j;
	long long	 id = -1;

	for (p = tok; *p != '\0' && *p != '='; p++) {
		const char *c = strchr(b64, *p == '+' ? '-' : *p == '/' ?
		    '_' : *p);
		if (c == NULL || *p == '\0')
			return (-1);
		v = (v << 6) | (unsigned int)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= sizeof raw)
				return (-1);
			raw[n++] = (char)((v >> bits) & 0xff);
		}
	}
	raw[n] = '\0';
	j = cJSON_Parse(raw);
	if (cJSON_IsObject(j))
		id = (long long)fc_json_number(j, "id", -1);
	cJSON_Delete(j);
	return (id);
}

/* GET /api/v1/instances/ */
static void
fv_list_v1(struct fc_req *req)
{
	struct fc_instance	**v;
	cJSON			*out, *arr, *filters = NULL, *counts, *row;
	char			*s, *tok;
	const char		*why = NULL;
	long long		 after = 0, last = 0;
	int			 n, i, limit = 25, added = 0, more = 0, r;

	if (!fv.v1_list) {
		fv_error(req, 404, NULL, "Not Found");
		return;
	}
	if ((s = fc_req_query(req, "limit")) != NULL) {
		limit = atoi(s);
		free(s);
	}
	if (limit < 1)
		limit = 1;
	if (limit > fv.page_max)
		limit = fv.page_max;
	if ((s = fc_req_query(req, "after_token")) != NULL) {
		after = fv_token_id(s);
		free(s);
		if (after < 0) {
			fv_error(req, 400, "invalid_args", "bad after_token");
			return;
		}
	}
	if ((s = fc_req_query(req, "select_filters")) != NULL) {
		filters = cJSON_Parse(s);
		free(s);
		if (!cJSON_IsObject(filters)) {
			cJSON_Delete(filters);
			fv_error(req, 400, "invalid_args", "select_filters "
			    "must be a JSON object");
			return;
		}
	}
	if ((s = fc_req_query(req, "order_by")) != NULL) {
		row = cJSON_Parse(s);
		free(s);
		r = cJSON_IsArray(row);
		cJSON_Delete(row);
		if (!r) {
			cJSON_Delete(filters);
			fv_error(req, 400, "invalid_args", "order_by must be "
			    "a JSON list");
			return;
		}
	}
	n = fv_instances(req->fc, &v);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "instances");
	counts = cJSON_CreateObject();
	for (i = 0; i < n; i++) {
		row = fv_instance_json(v[i]);
		if (filters != NULL && fv_filter(row, filters, &why) != 1) {
			cJSON_Delete(row);
			continue;
		}
		if (cJSON_GetObjectItemCaseSensitive(counts, v[i]->label) ==
		    NULL)
			cJSON_AddNumberToObject(counts, v[i]->label, 1);
		if (fv_inst_id(v[i]) <= after || more) {
			if (fv_inst_id(v[i]) > after)
				more = 1;
			cJSON_Delete(row);
			continue;
		}
		if (added == limit) {
			more = 1;
			cJSON_Delete(row);
			continue;
		}
		cJSON_AddItemToArray(arr, row);
		last = fv_inst_id(v[i]);
		added++;
	}
	free(v);
	cJSON_Delete(filters);
	if (more) {
		tok = fv_token(last);
		cJSON_AddStringToObject(out, "next_token", tok);
		free(tok);
	} else
		cJSON_AddNullToObject(out, "next_token");
	cJSON_AddNumberToObject(out, "total_instances", n);
	cJSON_AddItemToObject(out, "label_counts", counts);
	fc_reply_json(req, 200, out);
}

static void
fv_deprecated(struct fc_req *req)
{
	fv_error(req, fv.deprecated_status, "deprecated_endpoint",
	    "/api/v0/instances/ is deprecated. Use /api/v1/instances/ "
	    "instead.");
}

/* GET /api/v0/instances/ */
static void
fv_list_v0(struct fc_req *req)
{
	struct fc_instance	**v;
	cJSON			*out, *arr;
	int			 n, i;

	if (!fv.v0_legacy) {
		fv_deprecated(req);
		return;
	}
	n = fv_instances(req->fc, &v);
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "instances");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, fv_instance_json(v[i]));
	free(v);
	fc_reply_json(req, 200, out);
}

static void
fv_no_instance(struct fc_req *req, const char *id, int status)
{
	fv_error(req, status, "no_such_instance", "Instance %s not found.",
	    id);
}

/* GET /api/v0/instances/ID/ */
static void
fv_get(struct fc_req *req, const char *id)
{
	struct fc_instance	*inst = instance_find(req->fc, VAST, id);
	cJSON			*out;

	if (fv.get_deprecated) {
		fv_deprecated(req);
		return;
	}
	if (!fv_live(inst)) {
		if (fv.missing_status != 200) {
			fv_no_instance(req, id, fv.missing_status);
			return;
		}
		out = cJSON_CreateObject();
		cJSON_AddNullToObject(out, "instances");
		fc_reply_json(req, 200, out);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "instances", fv_instance_json(inst));
	fc_reply_json(req, 200, out);
}

/* ---- lifecycle ---- */

static void
fv_free_ask(struct fc_instance *inst)
{
	int	 idx = fv_seed_index((long long)fc_json_number(inst->meta,
		    "ask_id", 0));

	/* The host's slice is for rent again (unless a racer took it). */
	if (idx != -1 && !fv.raced[idx])
		fv.rented[idx] = 0;
}

/* PUT /api/v0/instances/ID/ {"state": ..., "label": ...} */
static void
fv_update(struct fc_req *req, const char *id)
{
	struct fc_instance	*inst = instance_find(req->fc, VAST, id);
	cJSON			*j = fc_req_json(req);
	const char		*state, *label;
	char			*cause = NULL;
	int			 r = 0;

	if (!fv_live(inst)) {
		fv_no_instance(req, id, 404);
		return;
	}
	if (!cJSON_IsObject(j)) {
		fv_error(req, 400, "invalid_args", "body must be a JSON "
		    "object");
		return;
	}
	state = fc_json_string(j, "state");
	label = fc_json_string(j, "label");
	if (state == NULL && label == NULL) {
		fv_error(req, 400, "invalid_args", "nothing to change: give "
		    "state or label");
		return;
	}
	if (state != NULL && strcmp(state, "stopped") != 0 &&
	    strcmp(state, "running") != 0) {
		fv_error(req, 400, "invalid_args", "state must be running or "
		    "stopped");
		return;
	}
	if (label != NULL) {
		free(inst->label);
		inst->label = xstrdup(label);
	}
	if (state != NULL && strcmp(state, "stopped") == 0) {
		if (inst->state == FC_RUNNING)
			fv_bank(inst);
		r = instance_stop(inst, &cause);
		fv_meta_set(inst, "intended", cJSON_CreateString("stopped"));
	} else if (state != NULL) {
		fv_meta_set(inst, "intended", cJSON_CreateString("running"));
		if (!fv.start_unavailable)
			r = instance_start(inst, &cause);
	}
	if (r != 0) {
		fv_error(req, 400, "invalid_args", "%s", cause);
		free(cause);
		return;
	}
	fv_ok(req, NULL);
}

/* PUT /api/v0/instances/reboot/ID/: a new container, new host ports. */
static void
fv_reboot(struct fc_req *req, const char *id)
{
	struct fc_instance	*inst = instance_find(req->fc, VAST, id);
	char			*cause = NULL;

	if (!fv_live(inst)) {
		fv_no_instance(req, id, 404);
		return;
	}
	if (inst->state == FC_RUNNING)
		fv_bank(inst);
	if (instance_stop(inst, &cause) != 0 ||
	    instance_start(inst, &cause) != 0) {
		fv_error(req, 400, "invalid_args", "%s", cause);
		free(cause);
		return;
	}
	fv_ok(req, NULL);
}

/* DELETE /api/v0/instances/ID/ */
static void
fv_destroy(struct fc_req *req, const char *id)
{
	struct fc_instance	*inst = instance_find(req->fc, VAST, id);
	char			*cause = NULL, *msg;

	if (!fv_live(inst)) {
		fv_no_instance(req, id, fv.destroy_missing);
		return;
	}
	if (inst->state == FC_RUNNING)
		fv_bank(inst);
	if (instance_terminate(inst, &cause) != 0) {
		fv_error(req, 400, "invalid_args", "%s", cause);
		free(cause);
		return;
	}
	fv_meta_set(inst, "destroyed", cJSON_CreateNumber((double)fc_now()));
	fv_free_ask(inst);
	msg = xprintf("destroying instance %s.", id);
	fv_ok(req, msg);
	free(msg);
}

/*
 * GET /api/v0/users/current/: a subset of the fields `vastai show user`
 * prints; balance is what was invoiced, credit what is left.
 */
static void
fv_user(struct fc_req *req)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", 424242);
	cJSON_AddStringToObject(o, "username", "fleet-test");
	cJSON_AddStringToObject(o, "email", "fleet@example.com");
	cJSON_AddNumberToObject(o, "balance", 0);
	if (!fv.no_credit)
		cJSON_AddNumberToObject(o, "credit", fv.credit);
	cJSON_AddBoolToObject(o, "balance_threshold_enabled", 0);
	cJSON_AddNumberToObject(o, "balance_threshold", 0);
	cJSON_AddBoolToObject(o, "can_pay", 1);
	cJSON_AddBoolToObject(o, "has_billing", 1);
	fc_reply_json(req, 200, o);
}

/* ---- fake-only routes ---- */

static int
fv_config_int(const cJSON *v, int min, int max, int *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max)
		return (-1);
	*out = (int)v->valuedouble;
	return (0);
}

/* POST /vast/_fake/config {...}: see the top of the file. */
static void
fv_config(struct fc_req *req)
{
	cJSON		*j = fc_req_json(req);
	const cJSON	*v;
	const char	*k;
	int		 bad = 0;

	if (!cJSON_IsObject(j)) {
		fc_reply_error(req, 400, "body must be a JSON object");
		return;
	}
	cJSON_ArrayForEach(v, j) {
		k = v->string;
		if (strcmp(k, "api_key") == 0) {
			free(fv.api_key);
			fv.api_key = cJSON_IsString(v) ?
			    xstrdup(v->valuestring) : NULL;
		} else if (strcmp(k, "auth_text") == 0)
			fv.auth_text = cJSON_IsTrue(v);
		else if (strcmp(k, "search_auth") == 0)
			fv.search_auth = cJSON_IsTrue(v);
		else if (strcmp(k, "race") == 0)
			fv.race = cJSON_IsTrue(v);
		else if (strcmp(k, "race_ids") == 0 && cJSON_IsArray(v)) {
			cJSON_Delete(fv.race_ids);
			fv.race_ids = cJSON_Duplicate(v, 1);
		} else if (strcmp(k, "v1_list") == 0)
			fv.v1_list = cJSON_IsTrue(v);
		else if (strcmp(k, "v0_list") == 0 && cJSON_IsString(v))
			fv.v0_legacy = strcmp(v->valuestring, "legacy") == 0;
		else if (strcmp(k, "get_deprecated") == 0)
			fv.get_deprecated = cJSON_IsTrue(v);
		else if (strcmp(k, "ports_format") == 0 && cJSON_IsString(v))
			fv.ports_list = strcmp(v->valuestring, "list") == 0;
		else if (strcmp(k, "start_unavailable") == 0)
			fv.start_unavailable = cJSON_IsTrue(v);
		else if (strcmp(k, "container_key_destroy") == 0)
			fv.own_key_no_destroy = !cJSON_IsTrue(v);
		else if (strcmp(k, "credit") == 0) {
			fv.no_credit = !cJSON_IsNumber(v);
			fv.credit = cJSON_IsNumber(v) ? v->valuedouble : 0;
		} else if (strcmp(k, "taken_status") == 0)
			bad |= fv_config_int(v, 200, 599, &fv.taken_status);
		else if (strcmp(k, "deprecated_status") == 0)
			bad |= fv_config_int(v, 200, 599, &fv.deprecated_status);
		else if (strcmp(k, "missing_status") == 0)
			bad |= fv_config_int(v, 200, 599, &fv.missing_status);
		else if (strcmp(k, "destroy_missing") == 0)
			bad |= fv_config_int(v, 200, 599, &fv.destroy_missing);
		else if (strcmp(k, "page_max") == 0)
			bad |= fv_config_int(v, 1, 1000, &fv.page_max);
		else {
			fc_reply_error(req, 400, "unknown config key '%s'", k);
			return;
		}
	}
	if (bad) {
		fc_reply_error(req, 400, "a number is out of range");
		return;
	}
	fc_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* POST /vast/_fake/instance {"id", "actual_status", "status_msg"} */
static void
fv_force(struct fc_req *req)
{
	cJSON			*j = fc_req_json(req);
	const cJSON		*idv, *v;
	struct fc_instance	*inst;
	char			*id;

	idv = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (cJSON_IsNumber(idv))
		id = xprintf("%lld", (long long)idv->valuedouble);
	else if (cJSON_IsString(idv))
		id = xstrdup(idv->valuestring);
	else {
		fc_reply_error(req, 400, "need an id");
		return;
	}
	inst = instance_find(req->fc, VAST, id);
	free(id);
	if (!fv_live(inst)) {
		fc_reply_error(req, 404, "no such instance");
		return;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "actual_status")) != NULL)
		fv_meta_set(inst, "force_status", cJSON_IsString(v) ?
		    cJSON_CreateString(v->valuestring) : cJSON_CreateNull());
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "status_msg")) != NULL)
		fv_meta_set(inst, "force_msg", cJSON_IsString(v) ?
		    cJSON_CreateString(v->valuestring) : cJSON_CreateNull());
	fc_reply_json(req, 200, fv_instance_json(inst));
}

/* GET /vast/_fake/billing: GPU while running, disk until destroyed. */
static void
fv_billing(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*out, *o;
	double			 gpu_s, disk_s, end, gpu, disk;
	int			 live;

	out = cJSON_CreateArray();
	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, VAST) != 0)
			continue;
		live = fv_live(inst);
		gpu_s = fv_gpu_seconds(inst);
		end = fc_json_number(inst->meta, "destroyed", 0);
		if (end == 0)
			end = (double)fc_now();
		disk_s = end - (double)inst->created;
		gpu = gpu_s / 3600 * fc_json_number(inst->meta, "dph_base", 0);
		disk = disk_s / (30 * 86400.0) *
		    fc_json_number(inst->meta, "disk", 0) *
		    fc_json_number(inst->meta, "storage_cost", 0);
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)fv_inst_id(inst));
		cJSON_AddStringToObject(o, "label", inst->label);
		cJSON_AddStringToObject(o, "state",
		    instance_state_name(inst->state));
		cJSON_AddNumberToObject(o, "gpu_seconds", gpu_s);
		cJSON_AddNumberToObject(o, "gpu_usd", gpu);
		cJSON_AddNumberToObject(o, "disk_usd", disk);
		cJSON_AddNumberToObject(o, "total_usd", gpu + disk);
		cJSON_AddBoolToObject(o, "billing", live);
		cJSON_AddBoolToObject(o, "gpu_billing",
		    inst->state == FC_RUNNING);
		cJSON_AddItemToArray(out, o);
	}
	fc_reply_json(req, 200, out);
}

static void
fv_offers_dump(struct fc_req *req)
{
	cJSON	*out = cJSON_CreateArray();
	int	 i;

	for (i = 0; i < FV_NSEEDS; i++)
		cJSON_AddItemToArray(out, fv_offer_json(i, 5.0, 0));
	fc_reply_json(req, 200, out);
}

/* GET /vast/_fake/input?id=ID: the create body kept for the instance. */
static void
fv_input(struct fc_req *req)
{
	struct fc_instance	*inst;
	char			*id = fc_req_query(req, "id");

	inst = id != NULL ? instance_find(req->fc, VAST, id) : NULL;
	free(id);
	fc_reply_kept(req, inst != NULL ? cJSON_GetObjectItem(inst->meta,
	    "input") : NULL);
}

/* ---- dispatch ---- */

/*
 * A request made with an instance's own key: 0 it is not one, 1 it may
 * go on (only to /api/v0/instances/ITS-ID/), -1 answered.
 */
static int
fv_own_key(struct fc_req *req, char **seg, int n)
{
	const char	*a = fc_req_header(req, "Authorization"), *id;
	size_t		 len = strlen("Bearer " FV_OWN_KEY);

	if (a == NULL || strncmp(a, "Bearer " FV_OWN_KEY, len) != 0)
		return (0);
	id = a + len;
	if (!fv_live(instance_find(req->fc, VAST, id))) {
		fv_error(req, 401, "unauthorized", "this instance key "
		    "belongs to no live instance");
		return (-1);
	}
	if (n != 4 || strcmp(seg[1], "v0") != 0 ||
	    strcmp(seg[2], "instances") != 0 || strcmp(seg[3], id) != 0 ||
	    strcmp(req->method, "POST") == 0) {
		fv_error(req, 403, "forbidden", "an instance's own key may "
		    "only act on instance %s", id);
		return (-1);
	}
	if (strcmp(req->method, "DELETE") == 0 && fv.own_key_no_destroy) {
		fv_error(req, 403, "forbidden", "an instance's own key "
		    "cannot destroy it");
		return (-1);
	}
	return (1);
}

static void
fv_handle(struct fc_req *req)
{
	const char	*m = req->method;
	char		*seg[6];
	int		 n, own;

	if (!fv.init)
		fv_reset(req->fc);
	n = fc_path_split(req->subpath, seg, nitems(seg));
	if (n >= 2 && strcmp(seg[0], "_fake") == 0) {
		if (n == 2 && strcmp(seg[1], "config") == 0 &&
		    strcmp(m, "POST") == 0)
			fv_config(req);
		else if (n == 2 && strcmp(seg[1], "instance") == 0 &&
		    strcmp(m, "POST") == 0)
			fv_force(req);
		else if (n == 2 && strcmp(seg[1], "billing") == 0)
			fv_billing(req);
		else if (n == 2 && strcmp(seg[1], "offers") == 0)
			fv_offers_dump(req);
		else if (n == 2 && strcmp(seg[1], "input") == 0)
			fv_input(req);
		else
			fc_reply_error(req, 404, "no fake route");
		goto out;
	}
	if (n < 3 || strcmp(seg[0], "api") != 0) {
		fv_error(req, 404, NULL, "Not Found");
		goto out;
	}
	/* Search may not need a key (observed); everything else does. */
	if (n == 3 && strcmp(seg[1], "v0") == 0 &&
	    strcmp(seg[2], "bundles") == 0) {
		if (strcmp(m, "POST") == 0 || strcmp(m, "GET") == 0)
			fv_search(req);
		else
			fv_error(req, 405, NULL, "Method Not Allowed");
		goto out;
	}
	if ((own = fv_own_key(req, seg, n)) < 0 ||
	    (own == 0 && fv_auth(req) != 0))
		goto out;
	if (strcmp(seg[1], "v1") == 0 && n == 3 &&
	    strcmp(seg[2], "instances") == 0 && strcmp(m, "GET") == 0)
		fv_list_v1(req);
	else if (strcmp(seg[1], "v0") != 0)
		fv_error(req, 404, NULL, "Not Found");
	else if (n == 4 && strcmp(seg[2], "asks") == 0 && strcmp(m, "PUT") == 0)
		fv_create(req, seg[3]);
	else if (n == 4 && strcmp(seg[2], "users") == 0 &&
	    strcmp(seg[3], "current") == 0 && strcmp(m, "GET") == 0)
		fv_user(req);
	else if (strcmp(seg[2], "instances") != 0)
		fv_error(req, 404, NULL, "Not Found");
	else if (n == 3 && strcmp(m, "GET") == 0)
		fv_list_v0(req);
	else if (n == 5 && strcmp(seg[3], "reboot") == 0 &&
	    strcmp(m, "PUT") == 0)
		fv_reboot(req, seg[4]);
	else if (n == 4 && strcmp(m, "GET") == 0)
		fv_get(req, seg[3]);
	else if (n == 4 && strcmp(m, "PUT") == 0)
		fv_update(req, seg[3]);
	else if (n == 4 && strcmp(m, "DELETE") == 0)
		fv_destroy(req, seg[3]);
	else
		fv_error(req, 405, NULL, "Method Not Allowed");
out:
	if (n > 0)
		fc_path_free(seg, n);
}

const struct fc_provider fc_provider_vast = {
	VAST,
	fv_handle,
	fv_reset
};
