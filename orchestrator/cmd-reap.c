/* cmd-reap.c: `fleet reap`: terminate labelled instances nobody tracks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "driver.h"
#include "state.h"
#include "reconcile.h"

static int cmd_reap_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_reap_entry = {
	"reap",
	"[--dry-run] [--json]",
	"terminate fleet-labelled instances that state does not track",
	"Lists the fleet-labelled instances of every provider that has a key\n"
	"(and of `local`) and terminates the orphans: those with no live\n"
	"instance in state (a lost state dir, a `fleet down` that failed\n"
	"half-way). An instance state tracks as alive is never touched,\n"
	"including one whose `fleet up` was interrupted before it recorded\n"
	"the provider id: it is matched by its label (`fleet reconcile`\n"
	"adopts it). Each orphan is checked against state again right before\n"
	"it is terminated.\n\n"
	"  --dry-run   list the orphans and their price; terminate nothing\n"
	"  --json      one JSON object: providers, orphans (with terminated\n"
	"              and error), summary\n\n"
	"Exit status: 0 when every orphan found was terminated (or with\n"
	"--dry-run), 1 when a provider call failed, 2 on usage errors.\n",
	cmd_reap_exec,
	0
};

static void
reap_print(const struct rc_report *rep, int dry_run)
{
	const struct rc_orphan	*o;
	size_t			 i, done = 0;
	double			 rate = 0;
	char			 m[MONEY_BUFSZ];

	for (i = 0; i < rep->nactions; i++)
		if (rep->actions[i].error)
			fprintf(stderr, "fleet reap: warning: %s: %s\n",
			    rep->actions[i].provider != NULL ?
			    rep->actions[i].provider : "state",
			    rep->actions[i].message);
	for (i = 0; i < rep->norphans; i++) {
		o = &rep->orphans[i];
		printf("%-10s %-22s %-26s %-9s %-14s %s/h  %s\n",
		    o->provider, o->id, o->label != NULL ? o->label : "-",
		    inst_state_name(o->state), o->gpu != NULL ? o->gpu : "-",
		    money_fmt(m, o->price_per_hour), dry_run ?
		    "would terminate" :
		    o->terminated ? "terminated" : o->error);
		if (o->terminated || dry_run) {
			done++;
			rate += o->price_per_hour;
		}
	}
	if (dry_run)
		printf("reap: %zu orphan%s (%s/h); dry run, nothing "
		    "terminated\n", rep->norphans, rep->norphans == 1 ? "" :
		    "s", money_fmt(m, rate));
	else
		printf("reap: %zu orphan%s, %zu terminated (%s/h stopped)\n",
		    rep->norphans, rep->norphans == 1 ? "" : "s", done,
		    money_fmt(m, rate));
}

static int
cmd_reap_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct rc_report	 rep;
	cJSON			*j;
	char			*cause = NULL, *txt;
	int			 ch, rc, lock, dry_run = 0, json = 0;
	size_t			 i;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'n')
			dry_run = 1;
		else if (ch == 'j')
			json = 1;
		else
			return (cmd_usage_error(&cmd_reap_entry, "bad option"));
	}
	if (optind != argc)
		return (cmd_usage_error(&cmd_reap_entry,
		    "no arguments expected"));
	if ((rc = cmd_open_state(ctx)) != 0)
		return (rc);
	/* The lock keeps a reconcile from adopting while we decide. */
	if ((lock = reconcile_lock(ctx, &cause)) == -1) {
		fprintf(stderr, "fleet reap: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	rc = reconcile_run(ctx, 0, &rep) == 0 ? FLEET_EXIT_OK :
	    FLEET_EXIT_FAIL;
	for (i = 0; i < rep.norphans && !dry_run; i++)
		if (reconcile_reap_one(ctx, &rep.orphans[i]) < 0)
			rep.failed++;
	reconcile_unlock(lock);
	if (json) {
		j = reconcile_report_json(&rep);
		cJSON_AddBoolToObject(j, "dry_run", dry_run);
		txt = cJSON_Print(j);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(j);
	} else
		reap_print(&rep, dry_run);
	if (rep.failed > 0)
		rc = FLEET_EXIT_FAIL;
	reconcile_report_free(&rep);
	return (rc);
}
