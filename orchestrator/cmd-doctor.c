/* cmd-doctor.c: `fleet doctor`: config, state, keys, provider reachability. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "creds.h"
#include "driver.h"
#include "state.h"

static int cmd_doctor_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_doctor_entry = {
	"doctor",
	"[--json] [--offline]",
	"check config, state, API keys and provider reachability",
	"Checks that the configuration and templates load, the state\n"
	"store opens, which providers have keys (never printing them),\n"
	"and makes one authenticated read-only call per provider with a\n"
	"key. A refused key fails and names where it came from; a\n"
	"provider that cannot be reached is a warning. Shows the account's\n"
	"balance and the provider's own spend limit where the API gives\n"
	"them, and warns when that limit, spent all day, is above fleet's\n"
	"budget (or there is no budget). Exit 0 when nothing failed, 1\n"
	"when a check failed, 2 when the configuration does not load.\n\n"
	"  --offline   skip the network checks\n"
	"  --json      one JSON object: {\"ok\": bool, \"checks\": [{check,\n"
	"              status, detail}]}; account checks add provider,\n"
	"              key_source and account {who, balance_usd,\n"
	"              spend_limit_usd, spend_limit_period_s,\n"
	"              spend_per_hour_usd} (null: not given)\n",
	cmd_doctor_exec,
	0
};

struct doctor {
	cJSON	*checks;
	int	 json;
	int	 failed;
};

static cJSON *doctor_report(struct doctor *d, const char *what,
    const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One check: status is ok, warn or fail. Its JSON object, or NULL. */
static cJSON *
doctor_report(struct doctor *d, const char *what, const char *status,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	cJSON	*o = NULL;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (strcmp(status, "fail") == 0)
		d->failed = 1;
	if (d->json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "check", what);
		cJSON_AddStringToObject(o, "status", status);
		cJSON_AddStringToObject(o, "detail", msg);
		cJSON_AddItemToArray(d->checks, o);
	} else
		printf("%-5s %-18s %s\n", status, what, msg);
	free(msg);
	return (o);
}

/* A known amount as JSON, else null. */
static void
doctor_json_num(cJSON *o, const char *key, int has, double v)
{
	cJSON_AddItemToObject(o, key, has ? cJSON_CreateNumber(v) :
	    cJSON_CreateNull());
}

static void
doctor_account_json(cJSON *o, const char *provider, const char *src,
    const struct drv_account *a)
{
	cJSON	*acc;

	if (o == NULL)
		return;
	cJSON_AddStringToObject(o, "provider", provider);
	cJSON_AddStringToObject(o, "key_source", src);
	if (a == NULL) {
		cJSON_AddNullToObject(o, "account");
		return;
	}
	acc = cJSON_AddObjectToObject(o, "account");
	if (a->who != NULL)
		cJSON_AddStringToObject(acc, "who", a->who);
	else
		cJSON_AddNullToObject(acc, "who");
	doctor_json_num(acc, "balance_usd", a->has_balance, a->balance);
	doctor_json_num(acc, "spend_limit_usd", a->has_limit, a->limit);
	doctor_json_num(acc, "spend_limit_period_s", a->has_limit,
	    a->limit_secs);
	doctor_json_num(acc, "spend_per_hour_usd", a->has_spend,
	    a->spend_per_hour);
}

/* "/h" for RunPod's hourly limit; any other period spelled out. */
static char *
doctor_period(int secs)
{
	if (secs == 3600)
		return (xstrdup("/h"));
	if (secs == 86400)
		return (xstrdup("/day"));
	return (xprintf(" per %ds", secs));
}

/* "balance $12.00, spend limit $80.00/h, spending $0.40/h now". */
static char *
doctor_account_text(const struct drv_account *a)
{
	char	*out, *m, *t, *per;

	out = a->who != NULL ? xprintf("account %s", a->who) :
	    xstrdup("key accepted");
	if (a->has_balance) {
		m = format_money(a->balance);
		t = xprintf("%s, balance %s", out, m);
		free(m);
		free(out);
		out = t;
	}
	if (a->has_limit) {
		m = format_money(a->limit);
		per = doctor_period(a->limit_secs);
		t = xprintf("%s, spend limit %s%s", out, m, per);
		free(per);
		free(m);
		free(out);
		out = t;
	}
	if (a->has_spend) {
		m = format_money(a->spend_per_hour);
		t = xprintf("%s, spending %s/h now", out, m);
		free(m);
		free(out);
		out = t;
	}
	if (!a->has_balance && !a->has_limit)
		t = xprintf("%s (its API shows no balance or spend limit)",
		    out);
	else
		t = xstrdup(out);
	free(out);
	return (t);
}

/*
 * The provider's limit is the second fence behind fleet's budget, so it
 * should stop spend no later than the budget would. Like with like: the
 * limit spent for a whole day (or a 30-day month) against the cap.
 */
static void
doctor_limit(struct doctor *d, struct cmd_ctx *ctx, const char *provider,
    const struct drv_account *a)
{
	const struct fleet_config	*c = ctx->conf;
	double				 spend, cap;
	int				 daily;
	char				*what, *lim, *at, *capm, *per;

	if (!a->has_limit || a->limit_secs <= 0)
		return;
	if (c->budget.daily_usd <= 0 && c->budget.monthly_usd <= 0)
		return;		/* doctor_budget says there is none */
	daily = c->budget.daily_usd > 0;
	cap = daily ? c->budget.daily_usd : c->budget.monthly_usd;
	spend = a->limit * 86400.0 / a->limit_secs * (daily ? 1 : 30);
	what = xprintf("%s limit", provider);
	lim = format_money(a->limit);
	at = format_money(spend);
	capm = format_money(cap);
	per = doctor_period(a->limit_secs);
	if (spend > cap)
		doctor_report(d, what, "warn", "%s's own spend limit %s%s "
		    "lets %s a %s through, above %s %s: lower it in %s's "
		    "console so it still stops spend when fleet cannot",
		    provider, lim, per, at, daily ? "day" : "30-day month",
		    daily ? "budget.daily_usd" : "budget.monthly_usd", capm,
		    provider);
	else
		doctor_report(d, what, "ok", "%s's own spend limit %s%s (%s a "
		    "%s) is within %s %s", provider, lim, per, at, daily ?
		    "day" : "30-day month", daily ? "budget.daily_usd" :
		    "budget.monthly_usd", capm);
	free(per);
	free(capm);
	free(at);
	free(lim);
	free(what);
}

/* Where to fix a refused key: the first source in creds.h's order wins. */
static char *
doctor_key_hint(const struct fleet_driver *drv, struct cmd_ctx *ctx,
    enum creds_source from)
{
	const char	*env = creds_env_name(drv, ctx->conf);

	switch (from) {
	case CREDS_ENV:
		return (xprintf("set %s to a valid key, or unset it and run "
		    "`fleet auth set %s`", env, drv->name));
	case CREDS_CLI:
		return (xprintf("log in again with %s's own CLI, or run "
		    "`fleet auth set %s` (read before that file)", drv->name,
		    drv->name));
	default:
		return (xprintf("run `fleet auth set %s` with a valid key",
		    drv->name));
	}
}

/*
 * A refused key is the user's to fix and fails; an API that does not
 * answer is not their configuration: a warning.
 */
static void
doctor_account_failed(struct doctor *d, struct cmd_ctx *ctx,
    const struct fleet_driver *drv, const struct drv_ctx *dctx,
    enum creds_source from, const char *src, const struct drv_error *err)
{
	char	*what = xprintf("%s account", drv->name), *hint;
	cJSON	*o;

	if (err->kind == DRV_ERR_AUTH) {
		hint = doctor_key_hint(drv, ctx, from);
		o = doctor_report(d, what, "fail", "the key from %s was "
		    "refused: %s; %s", src, err->message, hint);
		free(hint);
	} else
		o = doctor_report(d, what, "warn", "%s API at %s cannot be "
		    "checked now: %s", drv->name, dctx->base_url,
		    err->message);
	doctor_account_json(o, drv->name, src, NULL);
	free(what);
}

/* One authenticated read-only call: the account, then its spend limit. */
static void
doctor_account(struct doctor *d, struct cmd_ctx *ctx,
    const struct fleet_driver *drv, const struct drv_ctx *dctx,
    enum creds_source from, const char *src)
{
	struct drv_account	 a;
	struct drv_error	 err;
	char			*what, *txt;
	cJSON			*o;

	memset(&a, 0, sizeof a);
	memset(&err, 0, sizeof err);
	if (drv->account == NULL)
		return;		/* a driver with nothing to ask */
	if (drv->account(dctx, &a, &err) != 0) {
		doctor_account_failed(d, ctx, drv, dctx, from, src, &err);
		return;
	}
	what = xprintf("%s account", drv->name);
	txt = doctor_account_text(&a);
	o = doctor_report(d, what, "ok", "%s (key from %s)", txt, src);
	doctor_account_json(o, drv->name, src, &a);
	free(txt);
	free(what);
	doctor_limit(d, ctx, drv->name, &a);
	drv_account_clear(&a);
}

/* Without a budget nothing of fleet's stops spend but idle timeouts. */
static void
doctor_budget(struct doctor *d, struct cmd_ctx *ctx)
{
	const struct fleet_config	*c = ctx->conf;
	char				*dm, *mm;

	if (c->budget.daily_usd <= 0 && c->budget.monthly_usd <= 0) {
		doctor_report(d, "budget", "warn", "no budget.daily_usd or "
		    "budget.monthly_usd: nothing stops spend but idle and "
		    "lifetime limits, and each provider's own spend limit");
		return;
	}
	dm = format_money(c->budget.daily_usd);
	mm = format_money(c->budget.monthly_usd);
	doctor_report(d, "budget", "ok", "daily %s, monthly %s",
	    c->budget.daily_usd > 0 ? dm : "none",
	    c->budget.monthly_usd > 0 ? mm : "none");
	free(dm);
	free(mm);
}

static void
doctor_providers(struct doctor *d, struct cmd_ctx *ctx, int offline)
{
	const struct fleet_driver	**dp;
	struct drv_ctx			  dctx;
	struct creds_key		  k;
	enum creds_source		  from;
	char				 *cause = NULL, *src;
	int				  refused;

	for (dp = driver_table; *dp != NULL; dp++) {
		/* Where the key comes from, before the lookup exports it. */
		memset(&k, 0, sizeof k);
		refused = creds_lookup(*dp, ctx->conf, 0, &k, &cause) != 0;
		free(cause);
		cause = NULL;
		src = creds_source_text(&k);
		from = k.source;
		creds_key_clear(&k);
		if (driver_ctx_init(&dctx, *dp, ctx->conf, ctx->state_dir,
		    &cause) != 0) {
			free(src);
			/* No key is a choice; a refused key file is a fault. */
			doctor_report(d, (*dp)->name, refused ? "fail" : "warn",
			    "%s", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (!((*dp)->flags & DRV_NEEDS_KEY)) {
			free(src);
			doctor_report(d, (*dp)->name, "ok", "no key needed: "
			    "runs template commands on this machine via %s",
			    access("/bin/sh", X_OK) == 0 ? "/bin/sh" :
			    "(no /bin/sh!)");
			continue;
		}
		doctor_report(d, (*dp)->name, "ok", "key from %s, API at %s",
		    src, dctx.base_url);
		if (!offline)
			doctor_account(d, ctx, *dp, &dctx, from, src);
		free(src);
	}
}

/* Can fleet log in to instances: a readable key, or an agent? */
static void
doctor_ssh(struct doctor *d, struct cmd_ctx *ctx)
{
	const char	*key = ctx->conf->ssh.key;	/* ~/ expanded */

	if (key != NULL) {
		if (access(key, R_OK) == 0)
			doctor_report(d, "ssh", "ok", "key %s", key);
		else
			doctor_report(d, "ssh", "fail", "ssh.key %s: %s", key,
			    strerror(errno));
	} else if (getenv("SSH_AUTH_SOCK") != NULL)
		doctor_report(d, "ssh", "ok", "no ssh.key: ssh-agent at %s",
		    getenv("SSH_AUTH_SOCK"));
	else
		doctor_report(d, "ssh", "warn", "no ssh.key and no ssh-agent: "
		    "fleet ssh, tunnels, GPU samples and dead-man heartbeats "
		    "use ~/.ssh/id_ed25519 (or id_ecdsa, id_rsa) if present");
}

/* The guard: a daemon with every key its live instances need. */
static void
doctor_guard(struct doctor *d, struct cmd_ctx *ctx)
{
	cJSON		*g = NULL;
	const cJSON	*p;
	char		*cause = NULL, *names;
	const char	*name;
	int		 n, bad = 0;

	if (control_guard(ctx, 0, &g, &cause) != 0) {
		doctor_report(d, "guard", "warn", "%s", cause);
		free(cause);
		return;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(g, "providers")) {
		name = cJSON_GetStringValue(cJSON_GetObjectItem(p, "provider"));
		n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p,
		    "unguarded"));
		if (name == NULL || n <= 0)
			continue;
		bad = 1;
		names = control_guard_names(p);
		doctor_report(d, "guard", "fail", "the daemon has no API key "
		    "for %s: it cannot stop %s; run `fleet auth set %s`",
		    name, names, name);
		free(names);
	}
	if (!bad)
		doctor_report(d, "guard", "ok", "the daemon has the key of "
		    "every provider with live instances");
	cJSON_Delete(g);
}

static void
doctor_daemon(struct doctor *d, struct cmd_ctx *ctx)
{
	int	live = ctx->st != NULL ? control_billing(ctx) : 0;

	if (control_alive(ctx->state_dir)) {
		doctor_report(d, "daemon", "ok", "answering on %s/%s",
		    ctx->state_dir, CONTROL_SOCKET);
		doctor_guard(d, ctx);
	} else if (live > 0)
		doctor_report(d, "daemon", "fail", "not running: %d live "
		    "instance%s at providers %s no watchdog (`fleet ls` or "
		    "`fleet daemon --detach` starts it)", live,
		    live == 1 ? "" : "s", live == 1 ? "has" : "have");
	else
		doctor_report(d, "daemon", "warn", "not running: stable URLs "
		    "are not served (`fleet up` starts it)");
}

static int
cmd_doctor_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "offline", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct doctor		 d;
	struct fleet_template	*t;
	cJSON			*o;
	char			*txt, **paths, *cause = NULL;
	int			 ch, rc, n, i, bad, offline = 0;

	memset(&d, 0, sizeof d);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'j')
			d.json = 1;
		else if (ch == 'o')
			offline = 1;
		else
			return (cmd_usage_error(&cmd_doctor_entry,
			    "bad option"));
	}
	if ((rc = cmd_load_config(ctx)) != 0)
		return (rc);
	d.checks = cJSON_CreateArray();
	doctor_report(&d, "config", "ok", "%s", ctx->conf->path != NULL ?
	    ctx->conf->path : "no file: built-in defaults");
	paths = template_list_paths(ctx->conf, &n);
	for (i = 0, bad = 0; i < n; i++) {
		if ((t = template_load_file(paths[i], &cause)) == NULL) {
			doctor_report(&d, "template", "fail", "%s", cause);
			free(cause);
			cause = NULL;
			bad++;
		} else
			template_free(t);
		free(paths[i]);
	}
	free(paths);
	doctor_report(&d, "templates", n == 0 ? "warn" : bad ? "fail" : "ok",
	    "%d found, %d load", n, n - bad);
	if (cmd_open_state(ctx) != 0)
		doctor_report(&d, "state", "fail", "cannot open (see above)");
	else
		doctor_report(&d, "state", "ok", "%s (schema %d)",
		    state_path(ctx->st), state_schema_version(ctx->st));
	doctor_budget(&d, ctx);
	doctor_providers(&d, ctx, offline);
	doctor_ssh(&d, ctx);
	doctor_daemon(&d, ctx);
	if (d.json) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", !d.failed);
		cJSON_AddItemToObject(o, "checks", d.checks);
		txt = cJSON_Print(o);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(o);
	} else
		cJSON_Delete(d.checks);
	return (d.failed ? FLEET_EXIT_FAIL : FLEET_EXIT_OK);
}
