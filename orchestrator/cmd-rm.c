/* cmd-rm.c: `fleet rm NAME [--force]`: forget a deployment, free its port. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "state.h"
#include "control.h"

static int cmd_rm_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_rm_entry = {
	"rm",
	"NAME [--force]",
	"forget a down deployment and free its stable port",
	"Forgets a deployment that is down: `fleet ls` no longer shows it,\n"
	"its name can be used again and its stable port goes back to the\n"
	"range (proxy.port_min..port_max) for the next deployment. Its events\n"
	"and its spend stay: `fleet cost` still counts it under its name.\n\n"
	"A deployment that is live (an instance running, stopped or coming\n"
	"up, or wanted up) is refused with exit 1, unless --force is given:\n"
	"then it is taken down first, as `fleet down` does.\n\n"
	"  --force   take a live deployment down first, then forget it\n",
	cmd_rm_exec,
	0
};

/* Live: an instance that has not ended, or a deployment wanted up. */
static int
rm_live(struct cmd_ctx *ctx, const struct st_deployment *dep, char **what)
{
	struct st_instance	 in;
	char			*cause = NULL;
	int			 r;

	r = state_instance_current(ctx->st, dep->id, &in, &cause);
	if (r == 1)
		*what = xprintf("instance %s is %s on %s", in.label,
		    inst_state_name(in.state), in.provider);
	else if (strcmp(dep->desired, "up") == 0)
		*what = xstrdup("it is wanted up");
	st_instance_clear(&in);
	free(cause);
	return (r == 1 || strcmp(dep->desired, "up") == 0);
}

static int
rm_one(struct cmd_ctx *ctx, struct st_deployment *dep, int force)
{
	char	*what = NULL, *cause = NULL;
	int	 r;

	if (rm_live(ctx, dep, &what)) {
		if (!force) {
			fprintf(stderr, "fleet rm: %s is live (%s); take it "
			    "down with `fleet down %s` first, or pass --force "
			    "to take it down and forget it\n", dep->name, what,
			    dep->name);
			free(what);
			return (FLEET_EXIT_FAIL);
		}
		free(what);
		if (cmd_down_one(ctx, dep, "rm --force") != FLEET_EXIT_OK)
			return (FLEET_EXIT_FAIL);
	}
	if ((r = state_deployment_forget(ctx->st, dep->id, &cause)) != 1) {
		fprintf(stderr, "fleet rm: %s: %s\n", dep->name, r == 0 ?
		    "an instance came up meanwhile; not removed" : cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	state_event(ctx->st, dep->name, "removed", "forgotten by fleet rm%s; "
	    "stable port %d freed", force ? " --force" : "", dep->stable_port);
	control_notify(ctx);	/* the daemon stops listening on the port */
	if (dep->stable_port != 0)
		printf("%s removed; port %d is free\n", dep->name,
		    dep->stable_port);
	else
		printf("%s removed\n", dep->name);
	return (FLEET_EXIT_OK);
}

static int
cmd_rm_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 dep;
	int			 ch, rc, force = 0;

	while ((ch = getopt_long(argc, argv, "f", longopts, NULL)) != -1) {
		if (ch != 'f')
			return (cmd_usage_error(&cmd_rm_entry, "bad option"));
		force = 1;
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_rm_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_rm_entry, argv[optind], &dep)) != 0)
		return (rc);
	rc = rm_one(ctx, &dep, force);
	st_deployment_clear(&dep);
	return (rc);
}
