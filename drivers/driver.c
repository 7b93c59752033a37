/* driver.c: the provider table and helpers every driver shares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "creds.h"
#include "driver.h"
#include "deadman.h"

const struct fleet_driver *driver_table[] = {
	&driver_lambda,
	&driver_runpod,
	&driver_paperspace,
	&driver_vast,
	&driver_local,
	NULL
};

static const char *drv_err_names[] = {
	"ok", "auth", "capacity", "quota", "rate_limited", "not_found",
	"transient", "invalid", "unsupported"
};

static const char *inst_state_names[] = {
	"pending", "booting", "running", "stopping", "stopped", "terminated",
	"failed", "unknown"
};

const struct fleet_driver *
driver_find(const char *name)
{
	const struct fleet_driver	**d;

	for (d = driver_table; *d != NULL; d++)
		if (strcmp((*d)->name, name) == 0)
			return (*d);
	return (NULL);
}

/*
 * Can d rent an instance that watches the daemon's heartbeat? 1 if so,
 * else 0 and *cause: why the provider cannot (deadman.c knows), or that
 * its driver does not start the watcher.
 */
int
driver_deadman_ok(const struct fleet_driver *d, char **cause)
{
	if (d->flags & DRV_DEADMAN)
		return (1);
	if (deadman_supported(d->name, cause))
		*cause = xprintf("no dead-man switch on %s: its driver does "
		    "not start the watcher", d->name);
	return (0);
}

/*
 * Provider-specific settings from fleet.yaml reach the drivers through the
 * environment variables they document (FLEET_VAST_MIN_RELIABILITY,
 * FLEET_VAST_VERIFIED, FLEET_PAPERSPACE_PRICES); a variable already set
 * wins, so a one-off override on the command line still works.
 */
static void
driver_ctx_settings(const struct provider_conf *pc)
{
	char	*v;

	if (strcmp(pc->name, "vast") == 0) {
		if (pc->min_reliability > 0) {
			v = xprintf("%g", pc->min_reliability);
			setenv("FLEET_VAST_MIN_RELIABILITY", v, 0);
			free(v);
		}
		setenv("FLEET_VAST_VERIFIED", pc->verified ? "1" : "0", 0);
	}
	if (strcmp(pc->name, "paperspace") == 0 && pc->prices != NULL)
		setenv("FLEET_PAPERSPACE_PRICES", pc->prices, 0);
}

/*
 * Fill a driver context from the config and environment: base URL from
 * the provider's env override, else fleet.yaml, else the default; the key
 * from the lookup in creds.h (env, credentials file, the CLI's file). A
 * driver that needs a key and has none, or whose credentials file is
 * refused, is a usage error the caller reports.
 */
int
driver_ctx_init(struct drv_ctx *ctx, const struct fleet_driver *drv,
    const struct fleet_config *conf, const char *state_dir, char **cause)
{
	const struct provider_conf	*pc;
	const char			*env, *v;
	char				*why = NULL;

	memset(ctx, 0, sizeof *ctx);
	ctx->conf = conf;
	ctx->state_dir = state_dir;
	pc = conf != NULL ? config_provider(conf, drv->name) : NULL;
	ctx->pconf = pc;
	if (pc != NULL && !pc->enabled) {
		*cause = xprintf("provider %s is disabled in %s", drv->name,
		    conf->path != NULL ? conf->path : "the configuration");
		return (-1);
	}
	ctx->base_url = drv->default_url;
	if (pc != NULL && pc->base_url != NULL)
		ctx->base_url = pc->base_url;
	if (drv->url_env != NULL && (v = getenv(drv->url_env)) != NULL &&
	    *v != '\0')
		ctx->base_url = v;
	if (pc != NULL)
		driver_ctx_settings(pc);
	env = creds_env_name(drv, conf);
	ctx->api_key = creds_export(drv, conf, NULL, &why);
	if (why != NULL) {
		*cause = xprintf("provider %s: %s", drv->name, why);
		free(why);
		return (-1);
	}
	if ((drv->flags & DRV_NEEDS_KEY) && ctx->api_key == NULL) {
		*cause = xprintf("provider %s: no API key: set %s or run "
		    "`fleet auth set %s`", drv->name,
		    env != NULL ? env : "its api_key_env", drv->name);
		return (-1);
	}
	return (0);
}

/* The environment variable a provider's key comes from (for messages). */
const char *
drv_key_env(const struct drv_ctx *ctx, const struct fleet_driver *drv)
{
	if (ctx->pconf != NULL && ctx->pconf->api_key_env != NULL)
		return (ctx->pconf->api_key_env);
	return (drv->key_env != NULL ? drv->key_env : "its api_key_env");
}

const char *
drv_err_name(enum drv_err e)
{
	if ((size_t)e >= nitems(drv_err_names))
		return ("unknown");
	return (drv_err_names[e]);
}

const char *
inst_state_name(enum inst_state s)
{
	if ((size_t)s >= nitems(inst_state_names))
		return ("unknown");
	return (inst_state_names[s]);
}

int
inst_state_parse(const char *s, enum inst_state *out)
{
	size_t	i;

	for (i = 0; i < nitems(inst_state_names); i++) {
		if (strcmp(s, inst_state_names[i]) == 0) {
			*out = (enum inst_state)i;
			return (0);
		}
	}
	return (-1);
}

/* States in which the provider charges the hourly rate. */
int
inst_state_bills(enum inst_state s)
{
	return (s == INST_BOOTING || s == INST_RUNNING || s == INST_STOPPING);
}

/* Set a typed error with the provider's message; returns -1 for chaining. */
int
drv_error_set(struct drv_error *err, enum drv_err kind, int http_status,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *clean;

	if (err == NULL)
		return (-1);
	err->kind = kind;
	err->http_status = http_status;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	clean = log_redact(msg);
	snprintf(err->message, sizeof err->message, "%s", clean);
	free(clean);
	free(msg);
	return (-1);
}

void
drv_instance_clear(struct drv_instance *in)
{
	int	i;

	free(in->id);
	free(in->name);
	free(in->gpu);
	free(in->region);
	for (i = 0; i < in->nendpoints; i++) {
		free(in->endpoints[i].scheme);
		free(in->endpoints[i].host);
	}
	free(in->endpoints);
	free(in->ssh_host);
	free(in->exit_reason);
	free(in->exit_output);
	memset(in, 0, sizeof *in);
}

void
drv_instance_list_free(struct drv_instance *in, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		drv_instance_clear(&in[i]);
	free(in);
}

void
drv_offer_clear(struct drv_offer *o)
{
	free(o->provider);
	free(o->offer_id);
	free(o->gpu);
	free(o->region);
	memset(o, 0, sizeof *o);
}

void
drv_account_clear(struct drv_account *a)
{
	free(a->who);
	memset(a, 0, sizeof *a);
}

void
drv_offer_list_free(struct drv_offer *o, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		drv_offer_clear(&o[i]);
	free(o);
}

/* The upstream URL for the template's stable port, or NULL if unknown. */
char *
drv_instance_upstream(const struct drv_instance *in,
    const struct fleet_template *t)
{
	const struct tmpl_port	*sp = template_stable_port(t);
	const struct drv_endpoint *e;
	int			 i, port;

	for (i = 0; i < in->nendpoints; i++) {
		e = &in->endpoints[i];
		/* Port 0: the driver serves one port, whatever its number. */
		if (sp != NULL && e->port > 0 && e->port != sp->number)
			continue;
		if ((t->tunnel || e->tunnel) && e->port != 0) {
			/*
			 * Through the instance's sshd to the service's own
			 * port there; none until the instance reports ssh.
			 */
			if (in->ssh_host == NULL || in->ssh_port <= 0)
				return (NULL);
			port = e->port > 0 ? e->port : sp != NULL ?
			    sp->number : 0;
			if (port <= 0)
				return (NULL);
			return (xprintf("%s+ssh://127.0.0.1:%d", e->scheme,
			    port));
		}
		if (e->port == -1 && sp != NULL)
			return (xprintf("%s://%s:%d", e->scheme, e->host,
			    sp->number));
		return (xprintf("%s://%s:%d", e->scheme, e->host,
		    e->public_port));
	}
	return (NULL);
}

/* A string member of a provider's JSON object, or NULL (any other type). */
const char *
drv_json_str(const struct cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsString(v) && v->valuestring != NULL ?
	    v->valuestring : NULL);
}

/*
 * A provider's or a workload's text made safe to print: control bytes
 * become '?' (newlines kept when asked), trailing space is dropped.
 */
char *
drv_text_clean(const char *s, size_t len, int keep_newlines)
{
	char	*out = xstrndup(s, len);
	size_t	 i, n = strlen(out);

	while (n > 0 && strchr(" \t\r\n", out[n - 1]) != NULL)
		out[--n] = '\0';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if ((c < 0x20 && !(keep_newlines && c == '\n') && c != '\t') ||
		    c == 0x7f)
			out[i] = '?';
	}
	return (out);
}

/* A growing string for the expander. */
struct drv_buf {
	char	*s;
	size_t	 len;
	size_t	 cap;
};

static void
drv_buf_add(struct drv_buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* The first problem wins: later ones are usually the same mistake. */
static void
drv_subst_fail(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
drv_subst_fail(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	if (*cause != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
}

/*
 * One ${...} at p (p[0] == '$', p[1] == '{'): append its value to b and
 * return the length of the reference, or 0 when it is malformed (the
 * caller then keeps the '$' as written).
 */
static size_t
drv_subst_one(const char *p, struct drv_buf *b, char **cause)
{
	const char	*name = p + 2, *q = name, *end, *v, *def = NULL;
	char		*var;
	size_t		 nlen, dlen = 0;

	if ((end = strchr(name, '}')) == NULL) {
		drv_subst_fail(cause, "\"%.40s\" has no closing '}'", p);
		return (0);
	}
	if (*q == '_' || (*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
		while (*q == '_' || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'))
			q++;
	nlen = (size_t)(q - name);
	if (nlen > 0 && q[0] == ':' && q[1] == '-') {
		def = q + 2;
		dlen = (size_t)(end - def);
		q = end;
	}
	if (nlen == 0 || q != end) {
		drv_subst_fail(cause, "\"%.*s\" is not a variable (write "
		    "${NAME} or ${NAME:-default})", (int)(end - p + 1), p);
		return (0);
	}
	if (def != NULL && memmem(def, dlen, "${", 2) != NULL) {
		drv_subst_fail(cause, "\"%.*s\": a ${ inside a default is not "
		    "expanded; give the default as plain text",
		    (int)(end - p + 1), p);
		return (0);
	}
	var = xstrndup(name, nlen);
	v = getenv(var);
	if (v != NULL && *v != '\0')
		drv_buf_add(b, v, strlen(v));
	else if (def != NULL)
		drv_buf_add(b, def, dlen);
	else
		drv_subst_fail(cause, "${%s} is %s (export it, or write "
		    "${%s:-} to allow empty)", var, v == NULL ? "not set" :
		    "empty", var);
	free(var);
	return ((size_t)(end - p + 1));
}

/*
 * The one expander of ${VAR} in template values, used by the check that
 * `fleet up` makes before any provider call and by the drivers at create,
 * so both read a value alike. ${VAR} must be set and not empty: an empty
 * HF_TOKEN rents a GPU whose gated weights never download.
 * ${VAR:-default} gives the default when VAR is unset or empty, and
 * ${VAR:-} allows empty. Anything else with "${" is malformed.
 *
 * 0 and *out; or -1, *cause (the bare reason, the first problem) and
 * still *out, expanded leniently: unset as empty, malformed kept as
 * written. The result may hold a secret: register it with log_add_secret
 * before anything that logs.
 */
int
drv_env_subst(const char *value, char **out, char **cause)
{
	struct drv_buf	 b = { NULL, 0, 0 };
	const char	*p, *next;
	size_t		 n;

	*cause = NULL;
	drv_buf_add(&b, "", 0);
	for (p = value; *p != '\0'; p = next) {
		if (p[0] == '$' && p[1] == '{' &&
		    (n = drv_subst_one(p, &b, cause)) > 0) {
			next = p + n;
			continue;
		}
		/* Plain text up to the next '$' (a lone '$' is text too). */
		next = strchr(p + 1, '$');
		if (next == NULL)
			next = p + strlen(p);
		drv_buf_add(&b, p, (size_t)(next - p));
	}
	*out = b.s;
	return (*cause != NULL ? -1 : 0);
}

/* drv_env_subst for the drivers: `fleet up` has refused what fails. */
char *
drv_env_expand(const char *value)
{
	char	*out, *cause;

	drv_env_subst(value, &out, &cause);
	free(cause);
	return (out);
}

/* Every instance fleet creates is named fleet-<deployment>-<instance id>. */
char *
drv_label(const char *deployment, int64_t instance_id)
{
	return (xprintf("fleet-%s-%lld", deployment, (long long)instance_id));
}

int
drv_label_parse(const char *label, char **deployment, int64_t *instance_id)
{
	const char	*dash, *p;
	char		*end;
	long long	 id;

	if (strncmp(label, "fleet-", 6) != 0)
		return (-1);
	if ((dash = strrchr(label, '-')) == NULL || dash < label + 7)
		return (-1);
	for (p = dash + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return (-1);
	id = strtoll(dash + 1, &end, 10);
	if (dash[1] == '\0' || *end != '\0' || id <= 0)
		return (-1);
	*deployment = xstrndup(label + 6, dash - (label + 6));
	*instance_id = id;
	return (0);
}
