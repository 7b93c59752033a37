/* cmd-ls.c: `fleet ls`: every deployment, its state, price and spend. */
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

static int cmd_ls_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_ls_entry = {
	"ls",
	"[--all] [--json]",
	"list deployments: provider, GPU, state, uptime, $/h, spend, URL",
	"Lists deployments that are up or have a live instance, from the state\n"
	"store (no provider calls, so it is fast and works offline).\n\n"
	"  --all    include deployments that are down\n"
	"  --json   one JSON array; keys: name, provider, state, gpu,\n"
	"           price_per_hour, stable_url, upstream, created_at,\n"
	"           spent_usd (plus desired, instance, uptime_seconds,\n"
	"           kill_in_seconds, kill_reason, gpu_util_percent,\n"
	"           billing_rate: what it pays per hour now,\n"
	"           recreates_24h, max_recreates, on_vanish, taken_down,\n"
	"           stopped_by_breaker, breaker; watched: a daemon watches\n"
	"           it)\n"
	"$/h is the hourly price; for a stopped instance, its disk rate.\n"
	"KILL IN is when the watchdog terminates it (idle or lifetime), or\n"
	"\"no daemon\" when no daemon runs to do it, or \"no key\" when the\n"
	"daemon has no API key for its provider. With live instances at a\n"
	"provider and no daemon answering, ls starts one and says so; it warns\n"
	"about each provider the daemon has no API key for.\n"
	"Notes under the table: re-creations in the last 24h, a deployment\n"
	"fleet took down (re-create limit, on_vanish: down, the budget\n"
	"breaker; listed until it is brought back), and a tripped breaker\n"
	"with the time new launches open.\n",
	cmd_ls_exec,
	0
};

/*
 * Who would act on the countdown: NULL when the daemon will, else why it
 * will not ("no daemon", or "no key": the daemon's jobs could not reach
 * the provider).
 */
static const char *
ls_unwatched(const struct st_instance *in, int watched, const cJSON *guard)
{
	if (!watched)
		return ("no daemon");
	if (guard != NULL && control_guard_lacks(guard, in->provider))
		return ("no key");
	return (NULL);
}

/*
 * What fleet did to a deployment on its own, for the notes under the
 * table and --json: taken down on a vanish or by the budget breaker (then
 * *fleet_down is set: listed though down), or re-created lately.
 */
struct ls_notes {
	struct rc_recreates	 rr;
	char			*taken_down;	/* event message, or NULL */
	int			 breaker;	/* the breaker stopped it */
};

static void
ls_notes_read(struct cmd_ctx *ctx, const struct st_deployment *d,
    const struct budget *b, int64_t now, struct ls_notes *n)
{
	memset(n, 0, sizeof *n);
	reconcile_recreates(ctx, d, now, &n->rr);
	reconcile_taken_down(ctx, d, now, &n->taken_down);
	n->breaker = n->taken_down == NULL && budget_stopped(ctx->st, b,
	    d->name);
}

/* The note line for the text table, or NULL: nothing to say. */
static char *
ls_note_text(const struct st_deployment *d, const struct ls_notes *n)
{
	if (n->taken_down != NULL)
		return (xprintf("%s: %s", d->name, n->taken_down));
	if (n->breaker)
		return (xprintf("%s: stopped by the budget breaker", d->name));
	if (n->rr.count > 0)
		return (xprintf("%s: re-created %d/%d in 24h (max_recreates)",
		    d->name, n->rr.count, n->rr.max));
	return (NULL);
}

static void
ls_json_notes(cJSON *o, const struct ls_notes *n, const struct budget *b)
{
	cJSON_AddNumberToObject(o, "recreates_24h", n->rr.count);
	cJSON_AddNumberToObject(o, "max_recreates", n->rr.max);
	cJSON_AddStringToObject(o, "on_vanish", n->rr.on_vanish ==
	    VANISH_DOWN ? "down" : "recreate");
	if (n->taken_down != NULL)
		cJSON_AddStringToObject(o, "taken_down", n->taken_down);
	else
		cJSON_AddNullToObject(o, "taken_down");
	cJSON_AddBoolToObject(o, "stopped_by_breaker", n->breaker);
	budget_json_add(o, "breaker", b);
}

/* When the watchdog acts, and why; null when it never will. */
static void
ls_json_kill(cJSON *o, const struct st_deployment *d,
    const struct st_instance *in, int64_t now, const char *unwatched)
{
	const char	*why;
	int64_t		 left = deploy_kill_in(d, in, now, &why);

	if (left >= 0 && unwatched != NULL) {
		cJSON_AddNullToObject(o, "kill_in_seconds");
		cJSON_AddStringToObject(o, "kill_reason", unwatched);
		return;
	}
	if (left < 0) {
		cJSON_AddNullToObject(o, "kill_in_seconds");
		cJSON_AddNullToObject(o, "kill_reason");
		return;
	}
	cJSON_AddNumberToObject(o, "kill_in_seconds", (double)left);
	cJSON_AddStringToObject(o, "kill_reason", why);
}

/* One deployment and its live instance as a JSON object. */
static cJSON *
ls_json(struct cmd_ctx *ctx, const struct st_deployment *d,
    const struct st_instance *in, int has, int64_t now, int watched,
    const cJSON *guard)
{
	cJSON	*o = cJSON_CreateObject();
	char	*url = deploy_stable_url(ctx, d), *ts;

	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "template", d->template_name);
	cJSON_AddStringToObject(o, "desired", d->desired);
	if (has) {
		cJSON_AddStringToObject(o, "provider", in->provider);
		cJSON_AddStringToObject(o, "instance", in->provider_id != NULL ?
		    in->provider_id : in->label);
		cJSON_AddStringToObject(o, "state", inst_state_name(in->state));
		if (in->gpu != NULL)
			cJSON_AddStringToObject(o, "gpu", in->gpu);
		else
			cJSON_AddNullToObject(o, "gpu");
		cJSON_AddNumberToObject(o, "price_per_hour",
		    in->price_per_hour);
		if (in->upstream != NULL)
			cJSON_AddStringToObject(o, "upstream", in->upstream);
		else
			cJSON_AddNullToObject(o, "upstream");
		cJSON_AddNumberToObject(o, "uptime_seconds",
		    (double)(now - in->created_at));
		ls_json_kill(o, d, in, now, ls_unwatched(in, watched, guard));
		cJSON_AddNumberToObject(o, "billing_rate", in->billing_rate);
		if (in->gpu_util >= 0)
			cJSON_AddNumberToObject(o, "gpu_util_percent",
			    in->gpu_util);
		else
			cJSON_AddNullToObject(o, "gpu_util_percent");
	} else {
		cJSON_AddNullToObject(o, "provider");
		cJSON_AddNullToObject(o, "instance");
		cJSON_AddStringToObject(o, "state", "down");
		cJSON_AddNullToObject(o, "gpu");
		cJSON_AddNumberToObject(o, "price_per_hour", 0);
		cJSON_AddNullToObject(o, "upstream");
		cJSON_AddNumberToObject(o, "uptime_seconds", 0);
	}
	cJSON_AddStringToObject(o, "stable_url", url);
	cJSON_AddBoolToObject(o, "watched", watched);
	ts = format_time(d->created_at);
	cJSON_AddStringToObject(o, "created_at", ts);
	cJSON_AddNumberToObject(o, "spent_usd",
	    state_spent_deployment(ctx->st, d->id, now));
	free(ts);
	free(url);
	return (o);
}

static void
ls_row(struct cmd_ctx *ctx, const struct st_deployment *d,
    const struct st_instance *in, int has, int64_t now, int watched,
    const cJSON *guard)
{
	char		*url = deploy_stable_url(ctx, d), *up, *spent, *kill;
	char		 m[MONEY_BUFSZ];
	const char	*why, *unwatched;
	int64_t		 left;

	up = has ? format_duration(now - in->created_at) : xstrdup("-");
	spent = format_money(state_spent_deployment(ctx->st, d->id, now));
	left = has ? deploy_kill_in(d, in, now, &why) : -1;
	/* A countdown no one will act on is worse than none. */
	unwatched = has ? ls_unwatched(in, watched, guard) : NULL;
	kill = left < 0 ? xstrdup("-") : unwatched != NULL ?
	    xstrdup(unwatched) : format_duration(left);
	printf("%-20s %-10s %-16s %-10s %-8s %8s %9s %-9s %s\n", d->name,
	    has ? in->provider : "-", has && in->gpu != NULL ? in->gpu : "-",
	    has ? inst_state_name(in->state) : "down", up, money_fmt(m,
	    !has ? 0.0 : in->state == INST_STOPPED ? in->stopped_price :
	    in->price_per_hour), spent, kill, url);
	free(kill);
	free(up);
	free(spent);
	free(url);
}

static int
cmd_ls_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	*deps;
	struct st_instance	 in;
	struct ls_notes		 nt;
	struct budget		 b;
	cJSON			*arr = NULL, *o, *guard = NULL;
	char			*cause = NULL, *txt, **notes = NULL;
	int			 ch, n, i, has, rc, all = 0, json = 0;
	int			 nnotes = 0, watched;
	int64_t			 now = now_wall();

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'a')
			all = 1;
		else if (ch == 'j')
			json = 1;
		else
			return (cmd_usage_error(&cmd_ls_entry, "bad option"));
	}
	if (optind != argc)
		return (cmd_usage_error(&cmd_ls_entry, "no arguments expected"));
	if ((rc = cmd_open_state(ctx)) != 0)
		return (rc);
	watched = control_watch(ctx, "ls", &guard);
	if (state_deployment_list(ctx->st, &deps, &n, &cause) != 0) {
		fprintf(stderr, "fleet ls: %s\n", cause);
		free(cause);
		cJSON_Delete(guard);
		return (FLEET_EXIT_FAIL);
	}
	budget_read(ctx->st, ctx->conf, now, &b);
	if (json)
		arr = cJSON_CreateArray();
	else
		printf("%-20s %-10s %-16s %-10s %-8s %8s %9s %-9s %s\n",
		    "NAME", "PROVIDER", "GPU", "STATE", "UPTIME", "$/h",
		    "SPENT", "KILL IN", "URL");
	for (i = 0; i < n; i++) {
		has = state_instance_current(ctx->st, deps[i].id, &in,
		    NULL) == 1;
		ls_notes_read(ctx, &deps[i], &b, now, &nt);
		if (has || all || strcmp(deps[i].desired, "up") == 0 ||
		    nt.taken_down != NULL || nt.breaker) {
			if (json) {
				o = ls_json(ctx, &deps[i], &in, has, now,
				    watched, guard);
				ls_json_notes(o, &nt, &b);
				cJSON_AddItemToArray(arr, o);
			} else {
				ls_row(ctx, &deps[i], &in, has, now, watched,
				    guard);
				notes = xreallocarray(notes, nnotes + 1,
				    sizeof *notes);
				if ((notes[nnotes] = ls_note_text(&deps[i],
				    &nt)) != NULL)
					nnotes++;
			}
		}
		free(nt.taken_down);
		st_instance_clear(&in);
	}
	for (i = 0; i < nnotes; i++) {
		printf("%s\n", notes[i]);
		free(notes[i]);
	}
	free(notes);
	if (!json && (txt = budget_breaker_line(&b)) != NULL) {
		printf("%s\n", txt);
		free(txt);
	}
	if (json) {
		txt = cJSON_Print(arr);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(arr);
	}
	st_deployment_list_free(deps, n);
	cJSON_Delete(guard);
	return (FLEET_EXIT_OK);
}
