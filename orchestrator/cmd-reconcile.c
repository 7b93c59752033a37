/* cmd-reconcile.c: `fleet reconcile`: provider truth vs state, fixed up. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "driver.h"
#include "state.h"
#include "control.h"
#include "reconcile.h"

static int cmd_reconcile_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_reconcile_entry = {
	"reconcile",
	"[--once] [--no-recreate] [--interval DUR] [--json]",
	"compare every provider with state; follow, adopt, re-create",
	"Lists the fleet-labelled instances of every provider that has live\n"
	"instances in state or has a key, and makes state match:\n"
	"  - an interrupted `fleet up` (no provider id yet) is adopted by its\n"
	"    label; one no provider lists after 10 minutes is marked failed;\n"
	"  - state, price and upstream follow the provider (ports change\n"
	"    after a restart on RunPod and Vast);\n"
	"  - an interrupted terminate of a deployment that is down is\n"
	"    finished;\n"
	"  - an instance the provider no longer has is marked terminated and,\n"
	"    when its deployment wants to be up, re-created with `fleet up`\n"
	"    (offers and failover apply; its output goes to stderr);\n"
	"  - labelled instances state does not track are reported as\n"
	"    orphans (`fleet reap` terminates them).\n"
	"A provider whose list fails is skipped with a warning: nothing\n"
	"is concluded from a failed call. The daemon is told to re-read\n"
	"state after changes.\n\n"
	"  --once          one pass, then exit (the daemon's job form)\n"
	"  --no-recreate   only report vanished instances of deployments\n"
	"                  that want to be up; leave their state as is\n"
	"  --interval DUR  time between passes without --once (default 60s)\n"
	"  --json          one JSON object per pass: providers, actions,\n"
	"                  orphans, summary\n\n"
	"Exit status: 0 when the pass ran (even if it found problems), 1\n"
	"when a provider call failed, 2 on usage errors.\n",
	cmd_reconcile_exec,
	0
};

static cJSON *
rc_json_orphans(const struct rc_report *rep)
{
	cJSON			*a = cJSON_CreateArray(), *o;
	const struct rc_orphan	*r;
	size_t			 i;

	for (i = 0; i < rep->norphans; i++) {
		r = &rep->orphans[i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "provider", r->provider);
		cJSON_AddStringToObject(o, "id", r->id);
		if (r->label != NULL)
			cJSON_AddStringToObject(o, "label", r->label);
		else
			cJSON_AddNullToObject(o, "label");
		cJSON_AddStringToObject(o, "state", inst_state_name(r->state));
		if (r->gpu != NULL)
			cJSON_AddStringToObject(o, "gpu", r->gpu);
		else
			cJSON_AddNullToObject(o, "gpu");
		cJSON_AddNumberToObject(o, "price_per_hour", r->price_per_hour);
		cJSON_AddBoolToObject(o, "terminated", r->terminated);
		if (r->error != NULL)
			cJSON_AddStringToObject(o, "error", r->error);
		cJSON_AddItemToArray(a, o);
	}
	return (a);
}

static void
rc_json_str(cJSON *o, const char *key, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/* The report as one JSON object (shared with `fleet reap --json`). */
cJSON *
reconcile_report_json(const struct rc_report *rep)
{
	cJSON			*top = cJSON_CreateObject(), *a, *o;
	const struct rc_action	*ac;
	size_t			 i;

	a = cJSON_AddArrayToObject(top, "providers");
	for (i = 0; i < rep->nproviders; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", rep->providers[i].name);
		cJSON_AddBoolToObject(o, "ok", rep->providers[i].ok);
		cJSON_AddNumberToObject(o, "listed", rep->providers[i].listed);
		rc_json_str(o, "error", rep->providers[i].error);
		cJSON_AddItemToArray(a, o);
	}
	a = cJSON_AddArrayToObject(top, "actions");
	for (i = 0; i < rep->nactions; i++) {
		ac = &rep->actions[i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", ac->kind);
		rc_json_str(o, "deployment", ac->deployment);
		rc_json_str(o, "provider", ac->provider);
		rc_json_str(o, "instance", ac->instance);
		cJSON_AddStringToObject(o, "message", ac->message);
		cJSON_AddBoolToObject(o, "error", ac->error);
		cJSON_AddItemToArray(a, o);
	}
	cJSON_AddItemToObject(top, "orphans", rc_json_orphans(rep));
	o = cJSON_AddObjectToObject(top, "summary");
	cJSON_AddNumberToObject(o, "providers", (double)rep->nproviders);
	cJSON_AddNumberToObject(o, "failed", rep->failed);
	cJSON_AddNumberToObject(o, "actions", (double)rep->nactions);
	cJSON_AddNumberToObject(o, "orphans", (double)rep->norphans);
	return (top);
}

/* One line per action (errors as warnings on stderr), then a summary. */
static void
rc_print(const struct rc_report *rep)
{
	const struct rc_action	*a;
	const struct rc_orphan	*o;
	size_t			 i;
	int			 ok = 0;
	char			 m[MONEY_BUFSZ];

	for (i = 0; i < rep->nactions; i++) {
		a = &rep->actions[i];
		if (a->error) {
			fprintf(stderr, "fleet reconcile: warning: %s%s%s%s%s: "
			    "%s\n", a->provider != NULL ? a->provider : "state",
			    a->deployment != NULL ? " " : "",
			    a->deployment != NULL ? a->deployment : "",
			    a->instance != NULL ? " " : "",
			    a->instance != NULL ? a->instance : "", a->message);
			continue;
		}
		printf("%-14s %-20s %s %s: %s\n", a->kind,
		    a->deployment != NULL ? a->deployment : "-",
		    a->provider != NULL ? a->provider : "-",
		    a->instance != NULL ? a->instance : "-", a->message);
	}
	for (i = 0; i < rep->norphans; i++) {
		o = &rep->orphans[i];
		printf("%-14s %-20s %s %s: %s %s %s %s/h, not tracked "
		    "(`fleet reap` terminates it)\n", "orphan", "-",
		    o->provider, o->id, o->label != NULL ? o->label : "-",
		    inst_state_name(o->state), o->gpu != NULL ? o->gpu : "-",
		    money_fmt(m, o->price_per_hour));
	}
	for (i = 0; i < rep->nproviders; i++)
		ok += rep->providers[i].ok;
	printf("reconcile: %d of %zu provider%s checked, %zu action%s, %zu "
	    "orphan%s%s\n", ok, rep->nproviders, rep->nproviders == 1 ? "" :
	    "s", rep->nactions, rep->nactions == 1 ? "" : "s", rep->norphans,
	    rep->norphans == 1 ? "" : "s", rep->failed > 0 ?
	    ", with errors (see warnings)" : "");
}

/* One locked pass: report, notify the daemon, return the exit code. */
static int
rc_pass(struct cmd_ctx *ctx, int flags, int json)
{
	struct rc_report	 rep;
	cJSON			*j;
	char			*cause = NULL, *txt;
	int			 lock, rc;

	if ((lock = reconcile_lock(ctx, &cause)) == -1) {
		fprintf(stderr, "fleet reconcile: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	rc = reconcile_run(ctx, flags, &rep);
	reconcile_unlock(lock);
	if (rep.changed)
		control_notify(ctx);	/* the proxy re-points at once */
	if (json) {
		j = reconcile_report_json(&rep);
		txt = cJSON_Print(j);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(j);
	} else
		rc_print(&rep);
	fflush(stdout);
	if (rc == 0 && rep.failed > 0)
		rc = -1;
	reconcile_report_free(&rep);
	return (rc == 0 ? FLEET_EXIT_OK : FLEET_EXIT_FAIL);
}

static int
cmd_reconcile_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "no-recreate", no_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct timespec	 ts;
	int64_t		 interval = 60;
	char		*cause = NULL;
	int		 ch, rc, once = 0, json = 0;
	int		 flags = RC_FIX | RC_RECREATE;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			once = 1;
			break;
		case 'n':
			flags &= ~RC_RECREATE;
			break;
		case 'i':
			if (parse_duration(optarg, &interval, &cause) != 0 ||
			    interval <= 0) {
				rc = cmd_usage_error(&cmd_reconcile_entry,
				    "%s", cause != NULL ? cause :
				    "--interval must be positive");
				free(cause);
				return (rc);
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			return (cmd_usage_error(&cmd_reconcile_entry,
			    "bad option"));
		}
	}
	if (optind != argc)
		return (cmd_usage_error(&cmd_reconcile_entry,
		    "no arguments expected"));
	if ((rc = cmd_open_state(ctx)) != 0)
		return (rc);
	for (;;) {
		rc = rc_pass(ctx, flags, json);
		if (once)
			return (rc);
		ts.tv_sec = interval;
		ts.tv_nsec = 0;
		nanosleep(&ts, NULL);
	}
}
