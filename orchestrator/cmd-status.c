/* cmd-status.c: `fleet status NAME`: state, live provider view, events. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "driver.h"
#include "state.h"
#include "budget.h"
#include "reconcile.h"

static int cmd_status_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_status_entry = {
	"status",
	"NAME [--json]",
	"show one deployment: instance, live provider state, recent events",
	"Shows what state records for the deployment, asks the provider for\n"
	"the instance's live state (and says when the two disagree), and\n"
	"lists the most recent events. Like `fleet ls`, it starts the daemon\n"
	"when live instances have none, and warns about each provider the\n"
	"daemon has no API key for.\n\n"
	"It also says how often the deployment was re-created in the last 24h\n"
	"(max_recreates), why fleet took it down if it did, and whether the\n"
	"budget breaker stops launches, until when.\n\n"
	"  --json   one JSON object (the `fleet ls --json` keys plus live_state,\n"
	"           stable_port, idle_timeout, max_lifetime and events)\n",
	cmd_status_exec,
	0
};

/* Ask the provider; returns the live state name (static) or an error. */
static const char *
status_live(struct cmd_ctx *ctx, struct st_instance *in, char **why)
{
	const struct fleet_driver	*drv;
	struct drv_ctx			 dctx;
	struct drv_instance		 di;
	struct drv_error		 err;
	const char			*s;
	int				 r;

	if (deploy_driver(ctx, in->provider, &drv, &dctx, why) != 0)
		return (NULL);
	if ((r = deploy_resolve_id(ctx, in, why)) <= 0) {
		if (r == 0)
			return ("absent");
		return (NULL);
	}
	memset(&err, 0, sizeof err);
	if (drv->get(&dctx, in->provider_id, &di, &err) != 0) {
		if (err.kind == DRV_ERR_NOT_FOUND)
			return ("absent");
		*why = xprintf("%s: %s", drv->name,
		    cmd_drv_msg(drv->name, err.message));
		return (NULL);
	}
	s = inst_state_name(di.state);
	drv_instance_clear(&di);
	return (s);
}

/* Re-creations, a take-down by fleet and the breaker: the lines. */
static void
status_fleet_text(struct cmd_ctx *ctx, const struct st_deployment *d)
{
	struct rc_recreates	 rr;
	struct budget		 b;
	int64_t			 now = now_wall();
	char			*why, *line;

	reconcile_recreates(ctx, d, now, &rr);
	printf("re-created:  %d/%d in the last 24h (max_recreates; "
	    "on_vanish: %s)\n", rr.count, rr.max, rr.on_vanish ==
	    VANISH_DOWN ? "down" : "recreate");
	if (reconcile_taken_down(ctx, d, now, &why)) {
		printf("taken down:  %s\n", why);
		free(why);
	}
	budget_read(ctx->st, ctx->conf, now, &b);
	if ((line = budget_breaker_line(&b)) != NULL) {
		printf("budget:      %s\n", line);
		free(line);
	}
}

/* The same facts for --json. */
static void
status_fleet_json(struct cmd_ctx *ctx, const struct st_deployment *d,
    cJSON *o)
{
	struct rc_recreates	 rr;
	struct budget		 b;
	int64_t			 now = now_wall();
	char			*why;

	reconcile_recreates(ctx, d, now, &rr);
	cJSON_AddNumberToObject(o, "recreates_24h", rr.count);
	cJSON_AddNumberToObject(o, "max_recreates", rr.max);
	cJSON_AddStringToObject(o, "on_vanish", rr.on_vanish == VANISH_DOWN ?
	    "down" : "recreate");
	if (reconcile_taken_down(ctx, d, now, &why)) {
		cJSON_AddStringToObject(o, "taken_down", why);
		free(why);
	} else
		cJSON_AddNullToObject(o, "taken_down");
	budget_read(ctx->st, ctx->conf, now, &b);
	cJSON_AddBoolToObject(o, "stopped_by_breaker", budget_stopped(ctx->st,
	    &b, d->name));
	budget_json_add(o, "breaker", &b);
}

static void
status_text(struct cmd_ctx *ctx, const struct st_deployment *d,
    const struct st_instance *in, int has, const char *live,
    const struct st_event *ev, int nev)
{
	char	*url = deploy_stable_url(ctx, d), *idle, *life, *ts;
	char	 m[MONEY_BUFSZ], m1[MONEY_BUFSZ];
	int	 i;

	idle = format_duration(d->idle_timeout);
	life = format_duration(d->max_lifetime);
	printf("name:        %s (template %s, wants %s)\n", d->name,
	    d->template_name, d->desired);
	printf("stable url:  %s\n", url);
	printf("policy:      idle %s, max lifetime %s, then %s\n",
	    d->idle_timeout > 0 ? idle : "off",
	    d->max_lifetime > 0 ? life : "off",
	    d->idle_action == 1 ? "stop" : "terminate");
	if (has) {
		printf("instance:    %s on %s (%s)\n", in->provider_id != NULL ?
		    in->provider_id : in->label, in->provider,
		    inst_state_name(in->state));
		printf("live state:  %s%s\n", live, strcmp(live,
		    inst_state_name(in->state)) != 0 && strcmp(live, "-") != 0 ?
		    "  (differs from the record: the daemon's reconciler "
		    "settles this)" : "");
		printf("upstream:    %s\n", in->upstream != NULL ?
		    in->upstream : "-");
		printf("price:       %s/h, spent %s\n",
		    money_fmt(m, in->price_per_hour), money_fmt(m1,
		    state_spent_deployment(ctx->st, d->id, now_wall())));
	} else
		printf("instance:    none\n");
	status_fleet_text(ctx, d);
	printf("events:\n");
	for (i = 0; i < nev; i++) {
		ts = format_time(ev[i].ts);
		printf("  %s %-16s %s\n", ts, ev[i].kind, ev[i].message);
		free(ts);
	}
	free(idle);
	free(life);
	free(url);
}

/* A string member, or null: the same shape `fleet ls --json` uses. */
static void
status_str(cJSON *o, const char *key, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static void
status_json(struct cmd_ctx *ctx, const struct st_deployment *d,
    const struct st_instance *in, int has, const char *live,
    const struct st_event *ev, int nev)
{
	cJSON	*o = cJSON_CreateObject(), *a, *e;
	char	*url = deploy_stable_url(ctx, d), *ts, *txt;
	int	 i;

	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "template", d->template_name);
	cJSON_AddStringToObject(o, "desired", d->desired);
	status_str(o, "provider", has ? in->provider : NULL);
	status_str(o, "instance", !has ? NULL : in->provider_id != NULL ?
	    in->provider_id : in->label);
	cJSON_AddStringToObject(o, "state", has ?
	    inst_state_name(in->state) : "down");
	cJSON_AddStringToObject(o, "live_state", live);
	status_str(o, "gpu", has ? in->gpu : NULL);
	cJSON_AddNumberToObject(o, "price_per_hour", has ?
	    in->price_per_hour : 0);
	cJSON_AddNumberToObject(o, "uptime_seconds", has ?
	    (double)(now_wall() - in->created_at) : 0);
	cJSON_AddStringToObject(o, "stable_url", url);
	cJSON_AddNumberToObject(o, "stable_port", d->stable_port);
	status_str(o, "upstream", has ? in->upstream : NULL);
	ts = format_time(d->created_at);
	cJSON_AddStringToObject(o, "created_at", ts);
	free(ts);
	cJSON_AddNumberToObject(o, "spent_usd",
	    state_spent_deployment(ctx->st, d->id, now_wall()));
	cJSON_AddNumberToObject(o, "idle_timeout", (double)d->idle_timeout);
	cJSON_AddNumberToObject(o, "max_lifetime", (double)d->max_lifetime);
	status_fleet_json(ctx, d, o);
	a = cJSON_AddArrayToObject(o, "events");
	for (i = 0; i < nev; i++) {
		e = cJSON_CreateObject();
		ts = format_time(ev[i].ts);
		cJSON_AddStringToObject(e, "ts", ts);
		cJSON_AddStringToObject(e, "kind", ev[i].kind);
		cJSON_AddStringToObject(e, "message", ev[i].message);
		cJSON_AddItemToArray(a, e);
		free(ts);
	}
	txt = cJSON_Print(o);
	printf("%s\n", txt);
	free(txt);
	free(url);
	cJSON_Delete(o);
}

static int
cmd_status_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 d;
	struct st_instance	 in;
	struct st_event		*ev = NULL;
	const char		*live = "-";
	char			*why = NULL;
	int			 ch, rc, has, nev = 0, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'j')
			return (cmd_usage_error(&cmd_status_entry,
			    "bad option"));
		json = 1;
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_status_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_status_entry, argv[optind],
	    &d)) != 0)
		return (rc);
	control_watch(ctx, "status", NULL);
	has = state_instance_current(ctx->st, d.id, &in, NULL) == 1;
	if (has && (live = status_live(ctx, &in, &why)) == NULL)
		live = "error";
	state_event_list(ctx->st, d.name, 10, &ev, &nev, NULL);
	if (json)
		status_json(ctx, &d, &in, has, live, ev, nev);
	else
		status_text(ctx, &d, &in, has, live, ev, nev);
	if (why != NULL)
		fprintf(stderr, "fleet status: cannot ask the provider: %s\n",
		    why);
	free(why);
	st_event_list_free(ev, nev);
	st_instance_clear(&in);
	st_deployment_clear(&d);
	return (FLEET_EXIT_OK);
}
