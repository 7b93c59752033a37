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
#include "http.h"
#include "state.h"

static int cmd_doctor_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_doctor_entry = {
	"doctor",
	"[--json] [--offline]",
	"check config, state, API keys and provider reachability",
	"Checks that the configuration and templates load, the state store\n"
	"opens, which providers have keys (never printing them), and that each\n"
	"enabled provider's API answers. Exit 0 when nothing is wrong, 1 when a\n"
	"check failed, 2 when the configuration itself does not load.\n\n"
	"  --offline   skip the network checks\n"
	"  --json      one JSON object: {\"ok\": bool, \"checks\": [{check,\n"
	"              status, detail}]}\n",
	cmd_doctor_exec,
	0
};

struct doctor {
	cJSON	*checks;
	int	 json;
	int	 failed;
};

static void
doctor_report(struct doctor *d, const char *what, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One check: status is ok, warn or fail. */
static void
doctor_report(struct doctor *d, const char *what, const char *status,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	cJSON	*o;

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
}

/* Any HTTP answer from the base URL means the API is reachable. */
static void
doctor_reach(struct doctor *d, const struct fleet_driver *drv,
    const struct drv_ctx *dctx)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*cause = NULL, *what;

	memset(&req, 0, sizeof req);
	req.url = dctx->base_url;
	req.connect_timeout_ms = 3000;
	req.timeout_ms = 5000;
	what = xprintf("%s api", drv->name);
	if (http_do(&req, &resp, &cause) == 0)
		doctor_report(d, what, "ok", "%s answered HTTP %ld",
		    dctx->base_url, resp.status);
	else
		doctor_report(d, what, "fail", "%s", cause);
	http_response_free(&resp);
	free(cause);
	free(what);
}

static void
doctor_providers(struct doctor *d, struct cmd_ctx *ctx, int offline)
{
	const struct fleet_driver	**dp;
	struct drv_ctx			  dctx;
	struct creds_key		  k;
	char				 *cause = NULL, *src;
	int				  refused;

	for (dp = driver_table; *dp != NULL; dp++) {
		/* Where the key comes from, before the lookup exports it. */
		memset(&k, 0, sizeof k);
		refused = creds_lookup(*dp, ctx->conf, 0, &k, &cause) != 0;
		free(cause);
		cause = NULL;
		src = creds_source_text(&k);
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
		if ((*dp)->flags & DRV_LOCAL) {
			free(src);
			doctor_report(d, (*dp)->name, "ok", "runs template "
			    "commands on this machine via %s",
			    access("/bin/sh", X_OK) == 0 ? "/bin/sh" :
			    "(no /bin/sh!)");
			continue;
		}
		doctor_report(d, (*dp)->name, "ok", "key from %s, API at %s",
		    src, dctx.base_url);
		free(src);
		if (!offline)
			doctor_reach(d, *dp, &dctx);
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
