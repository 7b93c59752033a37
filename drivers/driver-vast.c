/* driver-vast.c: Vast.ai, a marketplace: search offers, rent one, watch it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-vast.h"
#include "deadman.h"
#include "http.h"

/*
 * Wire format: shared/providers/vast.md. Every offer ("ask") is a slice of
 * one host's machine; renting it (PUT /api/v0/asks/ID/) makes an instance
 * (a container on that host) whose public ports are random host ports,
 * read back from the instance's `ports` map after every start.
 *
 *	offers		POST /api/v0/bundles/ {query}
 *	create		PUT /api/v0/asks/OFFER/ -> {"new_contract": ID}
 *	get		GET /api/v0/instances/ID/ -> {"instances": {...}|null}
 *	list		GET /api/v1/instances/ (paged; v0 list is deprecated)
 *	stop/start	PUT /api/v0/instances/ID/ {"state": "stopped"|"running"}
 *	terminate	DELETE /api/v0/instances/ID/
 *	account		GET /api/v0/users/current/ (what `vastai show user`
 *			reads: credit, email, id)
 *
 * The key goes in "Authorization: Bearer", never in the URL.
 *
 * Dead-man switch (deadman_timeout): only the ssh runtype runs a script
 * of ours (onstart; args keeps the image's entrypoint and nothing else),
 * and SSH is also how the daemon's heartbeat gets in, so the instance is
 * rented with runtype ssh, the watcher in env FLEET_DEADMAN, and onstart
 * starting it before the template's args. It destroys the instance with
 * the per-instance key Vast injects (CONTAINER_API_KEY, CONTAINER_ID).
 */

#define VAST_DEFAULT_URL	"https://console.vast.ai"
#define VAST_MIN_RELIABILITY	0.95
#define VAST_OFFER_LIMIT	64
#define VAST_PAGE_LIMIT		25
#define VAST_MAX_PAGES		400
#define VAST_RETRIES		2	/* idempotent calls only */
#define VAST_BACKOFF_MS		150	/* official client: 0.15 s x1.5 */
#define VAST_MSG_MAX		300	/* provider text kept per error */
#define VAST_MAX_ENDPOINTS	64	/* Vast's limit of open ports */
/* Reported VRAM is a little under the marketing size (gpuhunt: x0.93). */
#define VAST_VRAM_MB(gb)	((int)((gb) * 1024 * 93 / 100))

/* gpu_name spellings Vast uses (vast.md 2.2); other names pass through. */
static const char *vast_gpu_names[] = {
	"RTX 3090", "RTX 3090 Ti", "RTX 4090", "RTX A4000", "RTX A5000",
	"RTX A6000", "RTX 4000Ada", "RTX 5000Ada", "RTX 6000Ada",
	"A100 PCIE", "A100 SXM4", "A100X", "A800 PCIE", "H100 PCIE",
	"H100 SXM", "H100 NVL", "H200", "H200 NVL", "L4", "L40", "L40S",
	"A10", "A40", "Tesla V100", "Tesla T4", "Tesla P4", "Tesla P40",
	"Tesla P100", "Q RTX 8000", NULL
};

/* Form factors a bare family name ("A100", "H100") accepts. */
static const char *vast_gpu_variants[] = {
	"PCIE", "SXM", "SXM4", "SXM5", NULL
};

/* What a template asks of an offer, resolved once per search. */
struct vast_want {
	char		**names;	/* acceptable gpu_name spellings */
	int		 *floor_mb;	/* VRAM floor per name */
	size_t		  nnames;
	int		  floor_mb_min;	/* the query's gpu_ram floor */
	int		  count;
	double		  min_rel;
	int		  verified;
	int		  direct_ports;
	int		  disk_gb;
};

/* ---- small helpers ---- */

static double
vast_num(const cJSON *o, const char *key, double dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);
	char		*end;
	double		 d;

	if (cJSON_IsNumber(v))
		return (v->valuedouble);
	if (cJSON_IsString(v) && v->valuestring != NULL) {
		errno = 0;
		d = strtod(v->valuestring, &end);
		if (end != v->valuestring && *end == '\0' && errno == 0)
			return (d);
	}
	return (dflt);
}

/* A JSON number or numeric string as a positive integer id, else -1. */
static long long
vast_id_value(const cJSON *v)
{
	const char	*p;
	long long	 id;

	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 1 || v->valuedouble > 9e15 ||
		    v->valuedouble != (double)(long long)v->valuedouble)
			return (-1);
		return ((long long)v->valuedouble);
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    v->valuestring[0] == '\0' || strlen(v->valuestring) > 15)
		return (-1);
	for (p = v->valuestring; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return (-1);
	id = strtoll(v->valuestring, NULL, 10);
	return (id > 0 ? id : -1);
}

/* Ids go into URL paths: digits only. */
static int
vast_id_valid(const char *id)
{
	const char	*p;

	if (id == NULL || *id == '\0' || strlen(id) > 15)
		return (0);
	for (p = id; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return (0);
	return (1);
}

/* Copy without surrounding whitespace (public_ipaddr ends in "\n"). */
static char *
vast_strip(const char *s)
{
	const char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return (xstrndup(s, e - s));
}

/* Provider text for a message: one line, printable, bounded. */
static char *
vast_clean_text(const char *s, size_t len)
{
	char	*out, *p;
	size_t	 i, n = 0;
	int	 cut = len > VAST_MSG_MAX;

	if (cut)
		len = VAST_MSG_MAX;
	out = xmalloc(len + 4);
	for (i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[n] = '\0';
	if (cut && i == len)
		strcpy(out + n, "...");
	p = vast_strip(out);
	free(out);
	return (p);
}

static int
vast_env_flag(const char *name, int dflt, int *out, struct drv_error *err)
{
	const char	*v = getenv(name);

	*out = dflt;
	if (v == NULL || *v == '\0')
		return (0);
	if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "no") == 0)
		*out = 0;
	else
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: %s=%s: "
		    "use 1 or 0", name, v));
	return (0);
}

static int
vast_env_reliability(double *out, struct drv_error *err)
{
	const char	*v = getenv("FLEET_VAST_MIN_RELIABILITY");
	char		*end;

	*out = VAST_MIN_RELIABILITY;
	if (v == NULL || *v == '\0')
		return (0);
	errno = 0;
	*out = strtod(v, &end);
	if (end == v || *end != '\0' || errno != 0 || *out < 0 || *out > 1)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: "
		    "FLEET_VAST_MIN_RELIABILITY=%s: use a number from 0 to 1",
		    v));
	return (0);
}

/* Percent-encode a query value. */
static char *
vast_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char		*out, *o;

	out = o = xmalloc(strlen(s) * 3 + 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return (out);
}

/* ---- GPU names: template models against Vast's spellings ---- */

/*
 * A comparable key for a GPU name: upper case, no spaces, without the
 * vendor words; a "<n>GB" token is taken out as the memory size.
 * "NVIDIA A100 80GB" -> "A100" (80), "RTX A6000" -> "A6000".
 */
static void
vast_gpu_key(const char *name, char *key, size_t size, int *mem_gb)
{
	char		 tok[16][32];
	const char	*p = name;
	size_t		 n, k = 0, i;
	int		 ntok = 0, t;
	char		*end;
	long		 gb;

	*mem_gb = 0;
	key[0] = '\0';
	while (*p != '\0' && ntok < (int)nitems(tok)) {
		while (*p == ' ' || *p == '_' || *p == '-' || *p == '\t')
			p++;
		if ((n = strcspn(p, " _-\t")) == 0)
			break;
		for (i = 0; i < n && i < sizeof tok[0] - 1; i++)
			tok[ntok][i] = (char)toupper((unsigned char)p[i]);
		tok[ntok++][i] = '\0';
		p += n;
	}
	for (t = 0; t < ntok; t++) {
		if (strcmp(tok[t], "NVIDIA") == 0 ||
		    strcmp(tok[t], "TESLA") == 0 ||
		    strcmp(tok[t], "GEFORCE") == 0 ||
		    strcmp(tok[t], "RTX") == 0)
			continue;
		/* "80GB", or "80" followed by "GB". */
		gb = strtol(tok[t], &end, 10);
		if (end != tok[t] && gb > 0 && gb < 10000 &&
		    (strcmp(end, "GB") == 0 || strcmp(end, "G") == 0 ||
		    (*end == '\0' && t + 1 < ntok &&
		    strcmp(tok[t + 1], "GB") == 0))) {
			*mem_gb = (int)gb;
			if (*end == '\0')
				t++;
			continue;
		}
		n = strlen(tok[t]);
		if (k + n + 1 > size)
			break;
		memcpy(key + k, tok[t], n);
		k += n;
		key[k] = '\0';
	}
}

/* Does a model's key accept a Vast name's key (exact, or a form factor)? */
static int
vast_key_accepts(const char *model, const char *vast)
{
	size_t	 n = strlen(model);
	int	 i;

	if (n == 0)
		return (0);
	if (strcmp(model, vast) == 0)
		return (1);
	if (strncmp(model, vast, n) != 0)
		return (0);
	for (i = 0; vast_gpu_variants[i] != NULL; i++)
		if (strcmp(vast + n, vast_gpu_variants[i]) == 0)
			return (1);
	return (0);
}

int
vast_model_accepts(const char *model, const char *gpu_name, int *min_vram_gb)
{
	char	 mk[128], vk[128];
	int	 mem, ignored;

	vast_gpu_key(model, mk, sizeof mk, &mem);
	vast_gpu_key(gpu_name, vk, sizeof vk, &ignored);
	if (min_vram_gb != NULL)
		*min_vram_gb = mem;
	return (vast_key_accepts(mk, vk));
}

static void
vast_want_add(struct vast_want *w, const char *name, int floor_mb)
{
	size_t	 i;

	for (i = 0; i < w->nnames; i++) {
		if (strcmp(w->names[i], name) == 0) {
			if (floor_mb < w->floor_mb[i])
				w->floor_mb[i] = floor_mb;
			return;
		}
	}
	w->names = xreallocarray(w->names, w->nnames + 1, sizeof *w->names);
	w->floor_mb = xreallocarray(w->floor_mb, w->nnames + 1,
	    sizeof *w->floor_mb);
	w->names[w->nnames] = xstrdup(name);
	w->floor_mb[w->nnames++] = floor_mb;
}

static void
vast_want_free(struct vast_want *w)
{
	size_t	 i;

	for (i = 0; i < w->nnames; i++)
		free(w->names[i]);
	free(w->names);
	free(w->floor_mb);
	memset(w, 0, sizeof *w);
}

/* A model no table name matches goes as written ("RTX_5090" -> "RTX 5090"). */
static char *
vast_passthrough(const char *model)
{
	char	*s, *p, *last;
	long	 gb;
	char	*end;

	s = vast_strip(model);
	for (p = s; *p != '\0'; p++)
		if (*p == '_')
			*p = ' ';
	if ((last = strrchr(s, ' ')) != NULL) {
		gb = strtol(last + 1, &end, 10);
		if (end != last + 1 && gb > 0 && strcasecmp(end, "GB") == 0)
			*last = '\0';
	}
	return (s);
}

/* Resolve a template (and the env floors) into what an offer must meet. */
static int
vast_want_init(const struct fleet_template *t, struct vast_want *w,
    struct drv_error *err)
{
	char	 mk[128], vk[128], *pass;
	int	 i, j, mem, ignored, floor_gb, matched;

	memset(w, 0, sizeof *w);
	if (vast_env_reliability(&w->min_rel, err) != 0 ||
	    vast_env_flag("FLEET_VAST_VERIFIED", 1, &w->verified, err) != 0)
		return (-1);
	w->count = t->gpu.count > 0 ? t->gpu.count : 1;
	w->disk_gb = t->disk_gb;
	w->direct_ports = t->nports > 0 ? t->nports + 1 : 0;
	w->floor_mb_min = t->gpu.min_vram_gb > 0 ?
	    VAST_VRAM_MB(t->gpu.min_vram_gb) : 0;
	for (i = 0; i < t->gpu.nmodels; i++) {
		vast_gpu_key(t->gpu.models[i], mk, sizeof mk, &mem);
		floor_gb = mem > t->gpu.min_vram_gb ? mem : t->gpu.min_vram_gb;
		matched = 0;
		for (j = 0; vast_gpu_names[j] != NULL; j++) {
			vast_gpu_key(vast_gpu_names[j], vk, sizeof vk,
			    &ignored);
			if (vast_key_accepts(mk, vk)) {
				vast_want_add(w, vast_gpu_names[j],
				    floor_gb > 0 ? VAST_VRAM_MB(floor_gb) : 0);
				matched = 1;
			}
		}
		if (!matched) {
			pass = vast_passthrough(t->gpu.models[i]);
			if (*pass != '\0')
				vast_want_add(w, pass, floor_gb > 0 ?
				    VAST_VRAM_MB(floor_gb) : 0);
			free(pass);
		}
	}
	if (w->nnames > 0) {
		w->floor_mb_min = w->floor_mb[0];
		for (i = 1; i < (int)w->nnames; i++)
			if (w->floor_mb[i] < w->floor_mb_min)
				w->floor_mb_min = w->floor_mb[i];
	}
	return (0);
}

/* ---- state and errors ---- */

enum inst_state
vast_state(const char *actual, const char *intended, const char *cur_state,
    const char *status_msg)
{
	int	 want_stop = intended != NULL &&
		    strcasecmp(intended, "stopped") == 0;
	int	 want_run = intended != NULL &&
		    strcasecmp(intended, "running") == 0;

	if (cur_state != NULL && strcasecmp(cur_state, "unloaded") == 0 &&
	    !want_run)
		return (INST_TERMINATED);
	if (actual == NULL || *actual == '\0')
		return (INST_PENDING);
	if (strcasecmp(actual, "created") == 0) {
		if (status_msg != NULL &&
		    strstr(status_msg, "OCI runtime create failed") != NULL)
			return (INST_FAILED);
		return (INST_PENDING);
	}
	if (strcasecmp(actual, "scheduling") == 0)
		return (INST_PENDING);
	if (strcasecmp(actual, "loading") == 0 ||
	    strcasecmp(actual, "rebooting") == 0 ||
	    strcasecmp(actual, "restarting") == 0)
		return (INST_BOOTING);
	if (strcasecmp(actual, "running") == 0)
		return (want_stop ? INST_STOPPING : INST_RUNNING);
	/* Stopped but asked to run: waiting for the machine's GPUs. */
	if (strcasecmp(actual, "stopped") == 0)
		return (want_run ? INST_PENDING : INST_STOPPED);
	if (strcasecmp(actual, "frozen") == 0)
		return (INST_STOPPED);
	if (strcasecmp(actual, "exited") == 0)
		return (want_stop ? INST_STOPPED : INST_FAILED);
	/* unknown, offline, and values Vast may add later. */
	return (INST_UNKNOWN);
}

static int
vast_text_has(const char *s, const char *what)
{
	return (s != NULL && strcasestr(s, what) != NULL);
}

void
vast_error(long status, const char *body, size_t len, int creating,
    struct drv_error *err)
{
	cJSON		*j = NULL;
	const char	*code = NULL, *msg = NULL;
	char		*text, *ccode = NULL;
	enum drv_err	 kind;

	if (body != NULL && len > 0)
		j = cJSON_ParseWithLength(body, len);
	if (cJSON_IsObject(j)) {
		code = drv_json_str(j, "error");
		if ((msg = drv_json_str(j, "msg")) == NULL &&
		    (msg = drv_json_str(j, "message")) == NULL)
			msg = code;
		if (msg == NULL)
			msg = drv_json_str(j, "detail");
	}
	if (msg != NULL)
		text = vast_clean_text(msg, strlen(msg));
	else if (body != NULL && len > 0 && !cJSON_IsObject(j))
		text = vast_clean_text(body, len);
	else
		text = xstrdup("");
	if (code != NULL && msg != code)
		ccode = vast_clean_text(code, strlen(code));

	if (vast_text_has(code, "no_such_ask") ||
	    vast_text_has(text, "no_such_ask") ||
	    vast_text_has(text, "not available") ||
	    vast_text_has(text, "already rented") ||
	    vast_text_has(text, "no longer available"))
		kind = DRV_ERR_CAPACITY;
	else if (vast_text_has(code, "insufficient_credit") ||
	    vast_text_has(text, "insufficient credit") ||
	    vast_text_has(text, "insufficient_credit"))
		kind = DRV_ERR_QUOTA;
	else if (status == 401 || status == 403)
		kind = DRV_ERR_AUTH;
	else if (status == 429)
		kind = DRV_ERR_RATE_LIMITED;
	else if (status == 0 || status >= 500)
		kind = DRV_ERR_TRANSIENT;
	else if (status == 404 || status == 410 ||
	    vast_text_has(code, "no_such_instance"))
		kind = creating ? DRV_ERR_CAPACITY : DRV_ERR_NOT_FOUND;
	else
		kind = DRV_ERR_INVALID;

	if (*text == '\0')
		drv_error_set(err, kind, (int)status, "vast: HTTP %ld%s", status,
		    status == 200 ? " with success false" : "");
	else if (ccode != NULL && *ccode != '\0')
		drv_error_set(err, kind, (int)status, "vast: %s (%s, HTTP %ld)",
		    text, ccode, status);
	else
		drv_error_set(err, kind, (int)status, "vast: %s (HTTP %ld)",
		    text, status);
	free(ccode);
	free(text);
	cJSON_Delete(j);
}

/* Is this refusal Vast's "use the other endpoint" answer? */
static int
vast_is_deprecated(const char *body, size_t len)
{
	cJSON	*j;
	int	 r;

	if (body == NULL || len == 0)
		return (0);
	j = cJSON_ParseWithLength(body, len);
	r = vast_text_has(drv_json_str(j, "error"), "deprecated_endpoint");
	cJSON_Delete(j);
	return (r);
}

/* ---- the one place requests are made ---- */

#define VAST_DEPRECATED	(-2)

/*
 * One call: the answer's JSON object on success (the caller frees it),
 * else -1 with err filled, or VAST_DEPRECATED when Vast says the endpoint
 * is deprecated (err filled too).
 */
static int
vast_call_t(const struct drv_ctx *ctx, const char *method, const char *path,
    const char *body, int retries, int creating, long timeout_ms, cJSON **out,
    struct drv_error *err)
{
	struct http_request	 req;
	struct http_response	 resp;
	const char		*base = ctx->base_url != NULL ? ctx->base_url :
				    VAST_DEFAULT_URL;
	const cJSON		*ok;
	char			*url, *cause = NULL;
	size_t			 blen = strlen(base);
	int			 rc = -1;

	*out = NULL;
	if (ctx->api_key == NULL || *ctx->api_key == '\0')
		return (drv_error_set(err, DRV_ERR_AUTH, 0, "vast: no API key "
		    "(set VAST_API_KEY)"));
	log_add_secret(ctx->api_key);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	url = xprintf("%.*s%s", (int)blen, base, path);
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	req.method = method;
	req.url = url;
	req.auth = HTTP_AUTH_BEARER;
	req.secret = ctx->api_key;
	req.body = body;
	req.retries = retries;
	req.backoff_ms = VAST_BACKOFF_MS;
	req.timeout_ms = timeout_ms;
	log_debug("%s %s", method, url);
	if (http_do(&req, &resp, &cause) != 0) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 0, "vast: %s",
		    cause != NULL ? cause : "no response");
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		vast_error(resp.status, resp.body, resp.len, creating, err);
		if (vast_is_deprecated(resp.body, resp.len))
			rc = VAST_DEPRECATED;
		goto out;
	}
	if (!cJSON_IsObject(resp.json)) {
		drv_error_set(err, DRV_ERR_TRANSIENT, (int)resp.status,
		    "vast: %s %s: the answer is not a JSON object", method,
		    path);
		goto out;
	}
	ok = cJSON_GetObjectItemCaseSensitive(resp.json, "success");
	if (cJSON_IsFalse(ok)) {
		vast_error(resp.status, resp.body, resp.len, creating, err);
		if (vast_is_deprecated(resp.body, resp.len))
			rc = VAST_DEPRECATED;
		goto out;
	}
	*out = resp.json;
	resp.json = NULL;
	rc = 0;
out:
	free(cause);
	free(url);
	http_response_free(&resp);
	return (rc);
}

static int
vast_call(const struct drv_ctx *ctx, const char *method, const char *path,
    const char *body, int retries, int creating, cJSON **out,
    struct drv_error *err)
{
	return (vast_call_t(ctx, method, path, body, retries, creating, 0,
	    out, err));
}

/* ---- parsing ---- */

/* "8080:http,8998:ws,5000:tcp" from the env we set at create. */
static const char *
vast_port_proto(const char *fleet_ports, int port)
{
	const char	*p = fleet_ports;
	char		*end;
	long		 n;

	while (p != NULL && *p != '\0') {
		n = strtol(p, &end, 10);
		if (end != p && *end == ':' && n == port) {
			end++;
			if (strncmp(end, "tcp", 3) == 0 &&
			    (end[3] == ',' || end[3] == '\0'))
				return ("tcp");
			return ("http");
		}
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
	return (NULL);
}

/* FLEET_PORTS from extra_env: [[name, value], ...] (or an object). */
static const char *
vast_fleet_ports(const cJSON *o)
{
	const cJSON	*env = cJSON_GetObjectItemCaseSensitive(o, "extra_env");
	const cJSON	*e, *k, *v;

	if (cJSON_IsObject(env))
		return (drv_json_str(env, "FLEET_PORTS"));
	cJSON_ArrayForEach(e, env) {
		if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) < 2)
			continue;
		k = cJSON_GetArrayItem(e, 0);
		v = cJSON_GetArrayItem(e, 1);
		if (cJSON_IsString(k) && strcmp(k->valuestring,
		    "FLEET_PORTS") == 0 && cJSON_IsString(v))
			return (v->valuestring);
	}
	return (NULL);
}

/* The first binding's HostPort ("41234" or 41234), else 0. */
static int
vast_host_port(const cJSON *bindings)
{
	const cJSON	*b, *hp;
	long		 n;
	char		*end;

	cJSON_ArrayForEach(b, bindings) {
		if (!cJSON_IsObject(b))
			continue;
		hp = cJSON_GetObjectItemCaseSensitive(b, "HostPort");
		if (cJSON_IsNumber(hp))
			n = hp->valuedouble >= 1 && hp->valuedouble <= 65535 ?
			    (long)hp->valuedouble : 0;
		else if (cJSON_IsString(hp) && hp->valuestring != NULL) {
			n = strtol(hp->valuestring, &end, 10);
			if (end == hp->valuestring || *end != '\0')
				n = 0;
		} else
			n = 0;
		if (n >= 1 && n <= 65535)
			return ((int)n);
	}
	return (0);
}

/* Endpoints from public_ipaddr and the Docker-style ports map. */
static void
vast_endpoints(const cJSON *o, struct drv_instance *out)
{
	const cJSON	*ports = cJSON_GetObjectItemCaseSensitive(o, "ports");
	const cJSON	*e;
	const char	*ip = drv_json_str(o, "public_ipaddr");
	const char	*fp = vast_fleet_ports(o), *proto;
	char		*host, *end;
	long		 port;
	int		 hp;

	/* A plain list ("ports": [8080]) names no host port: unreachable. */
	if (ip == NULL || !cJSON_IsObject(ports))
		return;
	host = vast_strip(ip);
	if (*host == '\0') {
		free(host);
		return;
	}
	cJSON_ArrayForEach(e, ports) {
		if (out->nendpoints == VAST_MAX_ENDPOINTS)
			break;
		if (e->string == NULL)
			continue;
		port = strtol(e->string, &end, 10);
		if (end == e->string || port < 1 || port > 65535 ||
		    strcmp(end, "/tcp") != 0)
			continue;
		proto = vast_port_proto(fp, (int)port);
		/* ssh is reported as ssh_host/ssh_port, not as a service. */
		if (port == 22 && proto == NULL)
			continue;
		if ((hp = vast_host_port(e)) == 0)
			continue;
		out->endpoints = xreallocarray(out->endpoints,
		    out->nendpoints + 1, sizeof *out->endpoints);
		memset(&out->endpoints[out->nendpoints], 0,
		    sizeof *out->endpoints);
		out->endpoints[out->nendpoints].port = (int)port;
		out->endpoints[out->nendpoints].scheme = xstrdup(proto != NULL ?
		    proto : "http");
		out->endpoints[out->nendpoints].host = xstrdup(host);
		out->endpoints[out->nendpoints].public_port = hp;
		out->nendpoints++;
	}
	free(host);
}

/* "RTX 4090" for one GPU, "2x H100 SXM" for more. */
static char *
vast_gpu_label(const char *name, int count)
{
	char	*clean = vast_strip(name != NULL ? name : "unknown"), *s;

	if (count <= 1)
		return (clean);
	s = xprintf("%dx %s", count, clean);
	free(clean);
	return (s);
}

/*
 * actual_status exited while intended_status is running: the container's
 * main process ended by itself (an intended stop says "stopped"). Vast's
 * status_msg is what it reports about it.
 */
static void
vast_exited(const cJSON *o, struct drv_instance *out)
{
	const char	*actual = drv_json_str(o, "actual_status");
	const char	*intended = drv_json_str(o, "intended_status");
	const char	*msg = drv_json_str(o, "status_msg");
	char		*clean;

	if (actual == NULL || strcasecmp(actual, "exited") != 0 ||
	    (intended != NULL && strcasecmp(intended, "stopped") == 0))
		return;
	out->exited = 1;
	clean = msg != NULL ? drv_text_clean(msg, strnlen(msg, 300), 0) :
	    xstrdup("");
	out->exit_reason = *clean != '\0' ?
	    xprintf("actual_status exited: %s", clean) :
	    xstrdup("actual_status exited");
	free(clean);
}

int
vast_instance_from_json(const cJSON *o, struct drv_instance *out)
{
	const char	*s;
	long long	 id;
	double		 d;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(o) ||
	    (id = vast_id_value(cJSON_GetObjectItemCaseSensitive(o, "id"))) < 0)
		return (-1);
	out->id = xprintf("%lld", id);
	if ((s = drv_json_str(o, "label")) != NULL)
		out->name = vast_strip(s);
	out->state = vast_state(drv_json_str(o, "actual_status"),
	    drv_json_str(o, "intended_status"), drv_json_str(o, "cur_state"),
	    drv_json_str(o, "status_msg"));
	vast_exited(o, out);
	d = vast_num(o, "num_gpus", 0);
	out->gpu_count = d >= 0 && d < 1000 ? (int)d : 0;
	out->gpu = vast_gpu_label(drv_json_str(o, "gpu_name"), out->gpu_count);
	d = vast_num(o, "dph_total", 0);
	out->price_per_hour = d >= 0 && d < 1e6 ? d : 0;
	/* Disk bills from create to destroy, stopped too (vast.md). */
	d = vast_num(o, "disk_space", 0) * vast_num(o, "storage_cost", 0) /
	    720.0;
	out->stopped_price_per_hour = d > 0 && d < 1e6 ? d : 0;
	if ((s = drv_json_str(o, "geolocation")) != NULL)
		out->region = vast_strip(s);
	vast_endpoints(o, out);
	if ((s = drv_json_str(o, "ssh_host")) != NULL && *s != '\0') {
		d = vast_num(o, "ssh_port", 0);
		if (d >= 1 && d <= 65535) {
			out->ssh_host = vast_strip(s);
			out->ssh_port = (int)d;
		}
	}
	d = vast_num(o, "start_date", 0);
	out->created_at = d > 0 && d < 1e11 ? (int64_t)d : 0;
	return (0);
}

/* ---- offers ---- */

static int
vast_offer_fits(const cJSON *o, const struct vast_want *w, const char *gpu,
    int count, int ram_mb)
{
	const cJSON	*v;
	double		 rel;
	size_t		 i;
	int		 ok = w->nnames == 0;

	if (count != w->count || ram_mb < w->floor_mb_min)
		return (0);
	for (i = 0; i < w->nnames && !ok; i++)
		if (strcmp(w->names[i], gpu) == 0 && ram_mb >= w->floor_mb[i])
			ok = 1;
	if (!ok)
		return (0);
	rel = vast_num(o, "reliability2", vast_num(o, "reliability", 1));
	if (rel < w->min_rel)
		return (0);
	v = cJSON_GetObjectItemCaseSensitive(o, "verified");
	if (w->verified && cJSON_IsFalse(v))
		return (0);
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "rentable")) ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "rented")))
		return (0);
	return (1);
}

struct vast_sorted {
	struct drv_offer o;
	size_t		 seq;
};

static int
vast_offer_cmp(const void *a, const void *b)
{
	const struct vast_sorted *x = a, *y = b;

	if (x->o.price_per_hour < y->o.price_per_hour)
		return (-1);
	if (x->o.price_per_hour > y->o.price_per_hour)
		return (1);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static void
vast_offers_collect(const cJSON *arr, const struct vast_want *w,
    struct drv_offer **out, size_t *n)
{
	struct vast_sorted	*s = NULL;
	const cJSON		*o;
	const char		*gpu, *geo;
	size_t			 ns = 0, i;
	long long		 id;
	double			 price, ram;
	int			 count;

	cJSON_ArrayForEach(o, arr) {
		if (!cJSON_IsObject(o) ||
		    (id = vast_id_value(cJSON_GetObjectItemCaseSensitive(o,
		    "id"))) < 0 || (gpu = drv_json_str(o, "gpu_name")) == NULL)
			continue;
		price = vast_num(o, "dph_total", -1);
		ram = vast_num(o, "gpu_ram", 0);
		count = (int)vast_num(o, "num_gpus", 0);
		if (price < 0 || price > 1e6 || ram < 0 || ram > 1e8 ||
		    count < 1 || count > 1000)
			continue;
		if (w != NULL && !vast_offer_fits(o, w, gpu, count, (int)ram))
			continue;
		s = xreallocarray(s, ns + 1, sizeof *s);
		memset(&s[ns], 0, sizeof s[ns]);
		s[ns].seq = ns;
		s[ns].o.provider = xstrdup("vast");
		s[ns].o.offer_id = xprintf("%lld", id);
		s[ns].o.gpu = vast_gpu_label(gpu, count);
		s[ns].o.gpu_count = count;
		s[ns].o.vram_gb = (int)((ram + 512) / 1024);
		s[ns].o.price_per_hour = price;
		geo = drv_json_str(o, "geolocation");
		s[ns].o.region = geo != NULL ? vast_strip(geo) : NULL;
		s[ns].o.available = 1;
		ns++;
	}
	if (ns > 1)
		qsort(s, ns, sizeof *s, vast_offer_cmp);
	*out = ns > 0 ? xcalloc(ns, sizeof **out) : NULL;
	for (i = 0; i < ns; i++)
		(*out)[i] = s[i].o;
	*n = ns;
	free(s);
}

int
vast_offers_from_json(const char *body, size_t len,
    const struct fleet_template *t, struct drv_offer **out, size_t *n,
    struct drv_error *err)
{
	struct vast_want	 w;
	cJSON			*j;
	const cJSON		*arr;
	int			 rc = -1;

	*out = NULL;
	*n = 0;
	memset(&w, 0, sizeof w);
	if (t != NULL && vast_want_init(t, &w, err) != 0)
		return (-1);
	j = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	arr = cJSON_GetObjectItemCaseSensitive(j, "offers");
	if (!cJSON_IsArray(arr)) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the offer "
		    "search answer has no \"offers\" list");
		goto out;
	}
	vast_offers_collect(arr, t != NULL ? &w : NULL, out, n);
	rc = 0;
out:
	cJSON_Delete(j);
	vast_want_free(&w);
	return (rc);
}

/* {"field": {...}}: the object an operator goes into. */
static cJSON *
vast_op(cJSON *q, const char *field)
{
	return (cJSON_AddObjectToObject(q, field));
}

/* The bundles query for a template: vast.md 2.2. */
static char *
vast_query(const struct vast_want *w)
{
	cJSON	*q, *f, *in, *order, *pair;
	char	*s;
	size_t	 i;

	q = cJSON_CreateObject();
	cJSON_AddBoolToObject(vast_op(q, "rentable"), "eq", 1);
	cJSON_AddBoolToObject(vast_op(q, "rented"), "eq", 0);
	if (w->verified)
		cJSON_AddBoolToObject(vast_op(q, "verified"), "eq", 1);
	cJSON_AddNumberToObject(vast_op(q, "num_gpus"), "eq", w->count);
	if (w->floor_mb_min > 0)
		cJSON_AddNumberToObject(vast_op(q, "gpu_ram"), "gte",
		    w->floor_mb_min);
	if (w->nnames > 0) {
		f = vast_op(q, "gpu_name");
		in = cJSON_AddArrayToObject(f, "in");
		for (i = 0; i < w->nnames; i++)
			cJSON_AddItemToArray(in, cJSON_CreateString(
			    w->names[i]));
	}
	if (w->min_rel > 0)
		cJSON_AddNumberToObject(vast_op(q, "reliability2"),
		    "gte", w->min_rel);
	if (w->direct_ports > 0)
		cJSON_AddNumberToObject(vast_op(q, "direct_port_count"),
		    "gte", w->direct_ports);
	if (w->disk_gb > 0)
		cJSON_AddNumberToObject(vast_op(q, "disk_space"), "gte",
		    w->disk_gb);
	order = cJSON_AddArrayToObject(q, "order");
	pair = cJSON_CreateArray();
	cJSON_AddItemToArray(pair, cJSON_CreateString("dph_total"));
	cJSON_AddItemToArray(pair, cJSON_CreateString("asc"));
	cJSON_AddItemToArray(order, pair);
	cJSON_AddStringToObject(q, "type", "on-demand");
	cJSON_AddNumberToObject(q, "limit", VAST_OFFER_LIMIT);
	if (w->disk_gb > 0)
		cJSON_AddNumberToObject(q, "allocated_storage", w->disk_gb);
	s = cJSON_PrintUnformatted(q);
	cJSON_Delete(q);
	return (s);
}

/*
 * The watcher needs runtype ssh, whose entrypoint replaces the image's:
 * the template's args must be the whole command, and FLEET_VAST_RUNTYPE
 * must not insist on args.
 */
static int
vast_deadman_check(const struct fleet_template *t, struct drv_error *err)
{
	const char	*rt = getenv("FLEET_VAST_RUNTYPE");

	if (t->deadman_timeout <= 0)
		return (0);
	if (rt != NULL && strcmp(rt, "args") == 0)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: "
		    "template %s sets deadman_timeout, which needs runtype "
		    "ssh (onstart starts the watcher), but FLEET_VAST_RUNTYPE "
		    "is args", t->name));
	if (t->nargs == 0)
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: "
		    "template %s sets deadman_timeout but no args: the "
		    "watcher needs runtype ssh, which replaces the image's "
		    "entrypoint, so args must give the whole command",
		    t->name));
	return (0);
}

static int
vast_offers(const struct drv_ctx *ctx, const struct fleet_template *t,
    struct drv_offer **out, size_t *n, struct drv_error *err)
{
	struct vast_want	 w;
	cJSON			*root = NULL;
	const cJSON		*arr;
	char			*q;
	int			 rc = -1;

	*out = NULL;
	*n = 0;
	if (vast_deadman_check(t, err) != 0 ||
	    vast_want_init(t, &w, err) != 0)
		return (-1);
	q = vast_query(&w);
	if (vast_call(ctx, "POST", "/api/v0/bundles/", q, VAST_RETRIES, 0,
	    &root, err) != 0)
		goto out;
	arr = cJSON_GetObjectItemCaseSensitive(root, "offers");
	if (!cJSON_IsArray(arr)) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the offer "
		    "search answer has no \"offers\" list");
		goto out;
	}
	/* Vast filters too; checking again guards against ignored keys. */
	vast_offers_collect(arr, &w, out, n);
	rc = 0;
out:
	cJSON_free(q);
	cJSON_Delete(root);
	vast_want_free(&w);
	return (rc);
}

/* ---- create ---- */

/* 'it'\''s' quoting for the onstart script. */
static char *
vast_shell_quote(const char *s)
{
	char	*out, *o;

	out = o = xmalloc(strlen(s) * 4 + 3);
	*o++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *s;
	}
	*o++ = '\'';
	*o = '\0';
	return (out);
}

/*
 * With runtype ssh, Vast's entrypoint (sshd) replaces the image's and runs
 * `onstart`: start the template's command there, in the background.
 */
static char *
vast_onstart(const struct fleet_template *t)
{
	char	*s, *q, *tmp;
	int	 i;

	s = xstrdup("nohup");
	for (i = 0; i < t->nargs; i++) {
		q = vast_shell_quote(t->args[i]);
		tmp = xprintf("%s %s", s, q);
		free(q);
		free(s);
		s = tmp;
	}
	tmp = xprintf("%s >/var/log/fleet-app.log 2>&1 &", s);
	free(s);
	return (tmp);
}

static char *
vast_create_body(const struct fleet_template *t, const struct drv_create_req *req,
    const char *deadman, struct drv_error *err)
{
	cJSON		*b, *env, *args;
	const char	*rt = getenv("FLEET_VAST_RUNTYPE");
	char		*v, *key, *ports = NULL, *tmp, *s, *onstart;
	int		 i, ssh;

	if (deadman != NULL)
		ssh = 1;	/* vast_deadman_check() refused args */
	else if (rt == NULL || *rt == '\0' || strcmp(rt, "args") == 0)
		ssh = 0;
	else if (strcmp(rt, "ssh") == 0)
		ssh = 1;
	else {
		drv_error_set(err, DRV_ERR_INVALID, 0, "vast: "
		    "FLEET_VAST_RUNTYPE=%s: use args or ssh", rt);
		return (NULL);
	}
	if (req->spot && req->bid <= 0) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "vast: an interruptible "
		    "instance needs a bid price");
		return (NULL);
	}
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "client_id", "me");
	cJSON_AddStringToObject(b, "image", t->image);
	cJSON_AddNumberToObject(b, "disk", t->disk_gb > 0 ? t->disk_gb : 50);
	cJSON_AddStringToObject(b, "label", req->name);
	env = cJSON_AddObjectToObject(b, "env");
	for (i = 0; i < t->nenv; i++) {
		v = drv_env_expand(t->env[i].value);
		if (strstr(t->env[i].value, "${") != NULL)
			log_add_secret(v);
		cJSON_AddStringToObject(env, t->env[i].key, v);
		freezero_str(v);
	}
	for (i = 0; i < t->nports; i++) {
		key = xprintf("-p %d:%d", t->ports[i].number,
		    t->ports[i].number);
		cJSON_AddStringToObject(env, key, "1");
		free(key);
		tmp = xprintf("%s%s%d:%s", ports != NULL ? ports : "",
		    ports != NULL ? "," : "", t->ports[i].number,
		    t->ports[i].proto == PORT_TCP ? "tcp" :
		    t->ports[i].proto == PORT_WS ? "ws" : "http");
		free(ports);
		ports = tmp;
	}
	if (ssh)
		cJSON_AddStringToObject(env, "-p 22:22", "1");
	if (ports != NULL)
		cJSON_AddStringToObject(env, "FLEET_PORTS", ports);
	cJSON_AddStringToObject(env, "FLEET_LABEL", req->name);
	if (deadman != NULL)
		cJSON_AddStringToObject(env, DEADMAN_ENV, deadman);
	free(ports);
	if (ssh) {
		cJSON_AddStringToObject(b, "runtype", "ssh_direc ssh_proxy");
		if (t->nargs > 0) {
			onstart = vast_onstart(t);
			if (deadman != NULL) {
				tmp = onstart;
				onstart = xprintf("nohup " DEADMAN_LAUNCH " %s",
				    tmp);
				free(tmp);
			}
			cJSON_AddStringToObject(b, "onstart", onstart);
			free(onstart);
		}
	} else {
		cJSON_AddStringToObject(b, "runtype", "args");
		if (t->nargs > 0) {
			args = cJSON_AddArrayToObject(b, "args");
			for (i = 0; i < t->nargs; i++)
				cJSON_AddItemToArray(args,
				    cJSON_CreateString(t->args[i]));
		}
	}
	cJSON_AddStringToObject(b, "target_state", "running");
	cJSON_AddBoolToObject(b, "cancel_unavail", 1);
	if (req->spot)
		cJSON_AddNumberToObject(b, "price", req->bid);
	s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return (s);
}

static int
vast_create(const struct drv_ctx *ctx, const struct drv_create_req *req,
    struct drv_instance *out, struct drv_error *err)
{
	const struct fleet_template	*t = req->tmpl;
	struct drv_offer		*offers = NULL, chosen;
	const struct drv_offer		*offer = req->offer;
	const cJSON			*nc;
	cJSON				*root = NULL;
	char				*body = NULL, *path = NULL;
	char				*deadman = NULL, *cause = NULL;
	size_t				 n = 0;
	long long			 id;
	int				 rc = -1;

	memset(out, 0, sizeof *out);
	memset(&chosen, 0, sizeof chosen);
	if (t->image == NULL || *t->image == '\0')
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: template "
		    "%s has no image (add image: to %s)", t->name,
		    t->path != NULL ? t->path : "the template"));
	if (req->name == NULL || *req->name == '\0')
		return (drv_error_set(err, DRV_ERR_INVALID, 0, "vast: no "
		    "label for the instance"));
	if (vast_deadman_check(t, err) != 0)
		return (-1);
	if (t->deadman_timeout > 0 && (deadman = deadman_script("vast",
	    ctx->base_url != NULL ? ctx->base_url : VAST_DEFAULT_URL,
	    req->name, t->deadman_timeout, &cause)) == NULL) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "vast: dead-man "
		    "switch: %s", cause);
		free(cause);
		return (-1);
	}
	if (offer == NULL) {
		if (vast_offers(ctx, t, &offers, &n, err) != 0)
			goto out;
		if (n == 0) {
			drv_error_set(err, DRV_ERR_CAPACITY, 0, "vast: no "
			    "offer fits template %s", t->name);
			goto out;
		}
		offer = &offers[0];
	}
	if (!vast_id_valid(offer->offer_id)) {
		drv_error_set(err, DRV_ERR_INVALID, 0, "vast: bad offer id "
		    "'%s'", offer->offer_id != NULL ? offer->offer_id : "");
		goto out;
	}
	if ((body = vast_create_body(t, req, deadman, err)) == NULL)
		goto out;
	path = xprintf("/api/v0/asks/%s/", offer->offer_id);
	/* No retries: a create that timed out may still have happened. */
	if (vast_call(ctx, "PUT", path, body, 0, 1, &root, err) != 0)
		goto out;
	nc = cJSON_GetObjectItemCaseSensitive(root, "new_contract");
	if ((id = vast_id_value(nc)) < 0) {
		drv_error_set(err, DRV_ERR_INVALID, 200, "vast: offer %s "
		    "accepted but the answer has no new_contract id",
		    offer->offer_id);
		goto out;
	}
	out->id = xprintf("%lld", id);
	out->name = xstrdup(req->name);
	out->state = INST_PENDING;
	out->gpu = offer->gpu != NULL ? xstrdup(offer->gpu) : NULL;
	out->gpu_count = offer->gpu_count;
	out->price_per_hour = offer->price_per_hour;
	out->region = offer->region != NULL ? xstrdup(offer->region) : NULL;
	out->created_at = now_wall();
	rc = 0;
out:
	free(deadman);
	cJSON_free(body);
	free(path);
	cJSON_Delete(root);
	drv_offer_list_free(offers, n);
	return (rc);
}

/* ---- reading instances ---- */

int
vast_instances_from_json(const char *body, size_t len,
    struct drv_instance **out, size_t *n, char **next_token,
    struct drv_error *err)
{
	cJSON		*j;
	const cJSON	*arr, *o;
	const char	*tok;
	size_t		 cap = 0;
	int		 rc = -1;

	*out = NULL;
	*n = 0;
	*next_token = NULL;
	j = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	arr = cJSON_GetObjectItemCaseSensitive(j, "instances");
	if (!cJSON_IsArray(arr)) {
		/* The v0 lesson: a missing list is never "no instances". */
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the instance "
		    "list answer has no \"instances\" list");
		goto out;
	}
	cJSON_ArrayForEach(o, arr) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		if (vast_instance_from_json(o, &(*out)[*n]) == 0)
			(*n)++;
	}
	tok = drv_json_str(j, "next_token");
	if (tok != NULL && *tok != '\0')
		*next_token = xstrdup(tok);
	rc = 0;
out:
	cJSON_Delete(j);
	return (rc);
}

/* Keep only what fleet labelled; takes ownership of the page's items. */
static void
vast_list_keep(struct drv_instance *page, size_t np,
    struct drv_instance **all, size_t *n, size_t *cap)
{
	size_t	 i;

	for (i = 0; i < np; i++) {
		if (page[i].name == NULL ||
		    strncmp(page[i].name, "fleet-", 6) != 0) {
			drv_instance_clear(&page[i]);
			continue;
		}
		if (*n == *cap) {
			*cap = *cap == 0 ? 16 : *cap * 2;
			*all = xreallocarray(*all, *cap, sizeof **all);
		}
		(*all)[(*n)++] = page[i];
	}
	free(page);
}

/* Parse one list answer (already fetched) into the running result. */
static int
vast_list_page(cJSON *root, struct drv_instance **all, size_t *n,
    size_t *cap, char **next, struct drv_error *err)
{
	struct drv_instance	*page;
	size_t			 np;
	char			*s;
	int			 r;

	s = cJSON_PrintUnformatted(root);
	r = vast_instances_from_json(s, strlen(s), &page, &np, next, err);
	cJSON_free(s);
	if (r != 0)
		return (-1);
	vast_list_keep(page, np, all, n, cap);
	return (0);
}

static int
vast_list(const struct drv_ctx *ctx, struct drv_instance **out, size_t *n,
    struct drv_error *err)
{
	static const char order[] = "%5B%7B%22col%22%3A%22id%22%2C%22dir%22"
	    "%3A%22asc%22%7D%5D";	/* [{"col":"id","dir":"asc"}] */
	cJSON		*root = NULL;
	char		*path, *next = NULL, *prev = NULL, *enc;
	size_t		 cap = 0;
	int		 pages, r;

	*out = NULL;
	*n = 0;
	for (pages = 0; pages < VAST_MAX_PAGES; pages++) {
		if (next != NULL) {
			enc = vast_urlencode(next);
			path = xprintf("/api/v1/instances/?limit=%d&order_by=%s"
			    "&after_token=%s", VAST_PAGE_LIMIT, order, enc);
			free(enc);
		} else
			path = xprintf("/api/v1/instances/?limit=%d&order_by=%s",
			    VAST_PAGE_LIMIT, order);
		r = vast_call(ctx, "GET", path, NULL, VAST_RETRIES, 0, &root,
		    err);
		free(path);
		if (r != 0 && pages == 0 && err->kind == DRV_ERR_NOT_FOUND &&
		    err->http_status == 404) {
			/* A server without v1: the legacy list, if it works. */
			r = vast_call(ctx, "GET", "/api/v0/instances/?owner=me",
			    NULL, VAST_RETRIES, 0, &root, err);
			if (r == 0) {
				free(next);
				next = NULL;
				r = vast_list_page(root, out, n, &cap, &next,
				    err);
				cJSON_Delete(root);
				free(next);
				next = NULL;	/* fail: frees it too */
				if (r != 0)
					goto fail;
				return (0);
			}
		}
		if (r != 0)
			goto fail;
		free(prev);
		prev = next;
		next = NULL;
		r = vast_list_page(root, out, n, &cap, &next, err);
		cJSON_Delete(root);
		root = NULL;
		if (r != 0)
			goto fail;
		if (next == NULL)
			break;
		if (prev != NULL && strcmp(prev, next) == 0) {
			drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the "
			    "instance list repeats page token %s", next);
			goto fail;
		}
	}
	if (pages == VAST_MAX_PAGES) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the instance "
		    "list did not end after %d pages", VAST_MAX_PAGES);
		goto fail;
	}
	free(prev);
	return (0);
fail:
	free(prev);
	free(next);
	drv_instance_list_free(*out, *n);
	*out = NULL;
	*n = 0;
	return (-1);
}

/* Find one instance in the v1 list (when the v0 GET is refused). */
static int
vast_get_by_list(const struct drv_ctx *ctx, const char *id,
    struct drv_instance *out, struct drv_error *err)
{
	struct drv_instance	*all;
	size_t			 n, i;
	int			 found = 0;

	if (vast_list(ctx, &all, &n, err) != 0)
		return (-1);
	for (i = 0; i < n; i++) {
		if (!found && strcmp(all[i].id, id) == 0) {
			*out = all[i];
			memset(&all[i], 0, sizeof all[i]);
			found = 1;
		}
	}
	drv_instance_list_free(all, n);
	if (!found)
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "vast: "
		    "instance %s not found", id));
	return (0);
}

static int
vast_get(const struct drv_ctx *ctx, const char *id, struct drv_instance *out,
    struct drv_error *err)
{
	const cJSON	*inst, *o;
	cJSON		*root = NULL;
	char		*path;
	int		 r, rc = -1;

	memset(out, 0, sizeof *out);
	if (!vast_id_valid(id))
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "vast: no "
		    "instance '%s' (Vast ids are numbers)", id != NULL ? id :
		    ""));
	path = xprintf("/api/v0/instances/%s/?owner=me", id);
	r = vast_call(ctx, "GET", path, NULL, VAST_RETRIES, 0, &root, err);
	free(path);
	if (r == VAST_DEPRECATED) {
		memset(err, 0, sizeof *err);
		return (vast_get_by_list(ctx, id, out, err));
	}
	if (r != 0) {
		if (err->kind == DRV_ERR_NOT_FOUND)
			drv_error_set(err, DRV_ERR_NOT_FOUND, err->http_status,
			    "vast: instance %s not found", id);
		return (-1);
	}
	if ((inst = cJSON_GetObjectItemCaseSensitive(root, "instances")) ==
	    NULL) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the answer "
		    "for instance %s has no \"instances\" key", id);
		goto out;
	}
	/* The key is plural but holds one object; tolerate a list. */
	if (cJSON_IsArray(inst)) {
		o = NULL;
		cJSON_ArrayForEach(o, inst) {
			long long v = vast_id_value(
			    cJSON_GetObjectItemCaseSensitive(o, "id"));
			if (v > 0 && v == strtoll(id, NULL, 10))
				break;
		}
		inst = o;
	}
	if (inst == NULL || cJSON_IsNull(inst)) {
		drv_error_set(err, DRV_ERR_NOT_FOUND, 200, "vast: instance %s "
		    "not found (destroyed?)", id);
		goto out;
	}
	if (vast_instance_from_json(inst, out) != 0) {
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: the answer "
		    "for instance %s is not an instance", id);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return (rc);
}

/* ---- lifecycle ---- */

static int
vast_set_state(const struct drv_ctx *ctx, const char *id, const char *state,
    struct drv_error *err)
{
	cJSON	*root = NULL;
	char	*path, *body;
	int	 r;

	if (!vast_id_valid(id))
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "vast: no "
		    "instance '%s'", id != NULL ? id : ""));
	path = xprintf("/api/v0/instances/%s/", id);
	body = xprintf("{\"state\":\"%s\"}", state);
	r = vast_call(ctx, "PUT", path, body, VAST_RETRIES, 0, &root, err);
	free(path);
	free(body);
	cJSON_Delete(root);
	return (r == 0 ? 0 : -1);
}

static int
vast_stop(const struct drv_ctx *ctx, const char *id, struct drv_error *err)
{
	return (vast_set_state(ctx, id, "stopped", err));
}

static int
vast_start(const struct drv_ctx *ctx, const char *id, struct drv_error *err)
{
	return (vast_set_state(ctx, id, "running", err));
}

/*
 * DELETE is the only call that ends all billing (a stopped instance's disk
 * still bills). A refusal is checked with a GET: an instance Vast no
 * longer knows is "already gone" (NOT_FOUND), so teardown is idempotent.
 */
static int
vast_terminate(const struct drv_ctx *ctx, const char *id,
    struct drv_error *err)
{
	struct drv_instance	 di;
	struct drv_error	 gerr;
	cJSON			*root = NULL;
	char			*path;
	int			 r;

	if (!vast_id_valid(id))
		return (drv_error_set(err, DRV_ERR_NOT_FOUND, 0, "vast: no "
		    "instance '%s'", id != NULL ? id : ""));
	path = xprintf("/api/v0/instances/%s/", id);
	r = vast_call(ctx, "DELETE", path, "{}", VAST_RETRIES, 0, &root, err);
	free(path);
	cJSON_Delete(root);
	if (r == 0)
		return (0);
	if (err->kind != DRV_ERR_INVALID)
		return (-1);
	memset(&gerr, 0, sizeof gerr);
	if (vast_get(ctx, id, &di, &gerr) == 0) {
		r = di.state == INST_TERMINATED;
		drv_instance_clear(&di);
		return (r ? 0 : -1);
	}
	if (gerr.kind == DRV_ERR_NOT_FOUND)
		err->kind = DRV_ERR_NOT_FOUND;
	return (-1);
}

/*
 * GET /api/v0/users/current/. `credit` is the prepaid balance `vastai
 * show user` prints ("Credit", 2 decimals); `balance` there is the
 * invoiced amount, not money left, and `balance_threshold` only sends a
 * low-balance mail: Vast has no cap on spend, so the limit stays unknown.
 */
int
vast_account_from_json(const cJSON *o, struct drv_account *a)
{
	const cJSON	*v;
	const char	*who;

	memset(a, 0, sizeof *a);
	if (!cJSON_IsObject(o))
		return (-1);
	if ((who = drv_json_str(o, "email")) == NULL || *who == '\0')
		who = drv_json_str(o, "username");
	if (who != NULL && *who != '\0')
		a->who = drv_text_clean(who, strlen(who), 0);
	else if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "id")))
		a->who = xprintf("user %lld", (long long)v->valuedouble);
	v = cJSON_GetObjectItemCaseSensitive(o, "credit");
	if ((a->has_balance = cJSON_IsNumber(v) && isfinite(v->valuedouble)))
		a->balance = v->valuedouble;
	return (0);
}

static int
vast_account(const struct drv_ctx *ctx, struct drv_account *a,
    struct drv_error *err)
{
	cJSON	*root = NULL;
	int	 rc;

	memset(a, 0, sizeof *a);
	if (vast_call_t(ctx, "GET", "/api/v0/users/current/", NULL, 0, 0,
	    DRV_ACCOUNT_TIMEOUT_MS, &root, err) != 0)
		return (-1);
	/* The key is not always echoed, yet never keep it. */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "api_key");
	if ((rc = vast_account_from_json(root, a)) != 0)
		drv_error_set(err, DRV_ERR_TRANSIENT, 200, "vast: "
		    "users/current is not a user");
	cJSON_Delete(root);
	return (rc);
}

/*
 * `vastai set api-key` writes the bare key to $XDG_CONFIG_HOME/vastai/
 * vast_api_key (~/.config/vastai/...); older CLIs used ~/.vast_api_key.
 */
static const struct drv_key_file vast_cli_keys[] = {
	{ "vastai", "$XDG_CONFIG_HOME/vastai/vast_api_key", DRV_KEYFILE_PLAIN,
	    NULL },
	{ "vastai", "~/.vast_api_key", DRV_KEYFILE_PLAIN, NULL },
	{ NULL, NULL, DRV_KEYFILE_PLAIN, NULL }
};

const struct fleet_driver driver_vast = {
	.name = "vast",
	.flags = DRV_CAN_STOP | DRV_NEEDS_KEY | DRV_DEADMAN,
	.key_env = "VAST_API_KEY",
	.url_env = "FLEET_VAST_URL",
	.default_url = VAST_DEFAULT_URL,
	.ssh_user = "root",
	.cli_key_files = vast_cli_keys,
	.offers = vast_offers,
	.create = vast_create,
	.get = vast_get,
	.list = vast_list,
	.stop = vast_stop,
	.start = vast_start,
	.terminate = vast_terminate,
	.account = vast_account,
};
