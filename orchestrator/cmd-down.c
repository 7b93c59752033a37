/* cmd-down.c: `fleet down NAME`: terminate, record, print what it cost. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "state.h"
#include "control.h"

static int cmd_down_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_down_entry = {
	"down",
	"NAME [--reason TEXT]",
	"terminate a deployment's instance and print uptime and cost",
	"Terminates the deployment's live instance at its provider (also one\n"
	"whose `fleet up` was killed before it finished), marks the deployment\n"
	"down and prints how long it ran and what it cost. The deployment keeps\n"
	"its stable port for the next `fleet up` (`fleet rm` frees it).\n\n"
	"  --reason TEXT   recorded in the event log (default: user)\n",
	cmd_down_exec,
	0
};

int
cmd_down_one(struct cmd_ctx *ctx, struct st_deployment *dep, const char *reason)
{
	struct st_instance	 in;
	char			*cause = NULL, *why = NULL, *up, *spent;
	const char		*crash;
	int			 r, rc = FLEET_EXIT_OK;
	int64_t			 now;

	state_test_fail(ctx->st, "before-down");
	if ((r = state_instance_current(ctx->st, dep->id, &in, &cause)) < 0)
		goto fail;
	/* Unrecorded, a reconcile would re-create what we terminate. */
	if (state_deployment_set_desired(ctx->st, dep->id, "down",
	    &why) != 0) {
		cause = xprintf("cannot record the down (%s); nothing was "
		    "terminated", why);
		free(why);
		if (r == 1)
			st_instance_clear(&in);
		goto fail;
	}
	if ((crash = getenv("FLEET_TEST_CRASH")) != NULL &&
	    strcmp(crash, "after-desired") == 0)
		raise(SIGKILL);	/* crash-safety tests: see test-local.sh */
	if (r == 0) {
		printf("%s is not running\n", dep->name);
		return (FLEET_EXIT_OK);
	}
	if (deploy_terminate(ctx, dep, &in, reason, &cause) != 0) {
		st_instance_clear(&in);
		goto fail;
	}
	control_notify(ctx);	/* the proxy answers 503 from now on */
	now = now_wall();
	up = format_duration(now - in.created_at);
	spent = format_money(state_spent_deployment(ctx->st, dep->id, now));
	printf("%s is down (%s %s): up %s, cost %s\n", dep->name,
	    in.provider, in.provider_id != NULL ? in.provider_id : in.label,
	    up, spent);
	free(up);
	free(spent);
	st_instance_clear(&in);
	return (rc);
fail:
	fprintf(stderr, "fleet down: %s: %s\n", dep->name, cause);
	free(cause);
	return (FLEET_EXIT_FAIL);
}

static int
cmd_down_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 dep;
	const char		*reason = "user";
	int			 ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'r')
			return (cmd_usage_error(&cmd_down_entry, "bad option"));
		reason = optarg;
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_down_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_down_entry, argv[optind],
	    &dep)) != 0)
		return (rc);
	rc = cmd_down_one(ctx, &dep, reason);
	st_deployment_clear(&dep);
	return (rc);
}
