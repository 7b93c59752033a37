/* cmd-stop.c: `fleet stop NAME`: stop (not terminate) where the provider can. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "control.h"
#include "driver.h"
#include "state.h"

static int cmd_stop_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_stop_entry = {
	"stop",
	"NAME [--reason TEXT]",
	"stop a deployment's instance, keeping its disk, where the provider can",
	"Stops the instance without terminating it (RunPod, Vast and\n"
	"Paperspace can; Lambda and local cannot: use `fleet down`). A stopped\n"
	"instance stops paying the hourly GPU rate but its disk may still bill.\n"
	"`fleet start NAME` (or a request to the stable URL, when the template\n"
	"sets wake_on_request) brings it back, often on new ports: the stable\n"
	"URL follows. The idle watchdog does this when idle_action is stop.\n\n"
	"  --reason TEXT   recorded in the event log (default: user)\n",
	cmd_stop_exec,
	0
};

static int
stop_run(struct cmd_ctx *ctx, const struct st_deployment *dep,
    const char *reason)
{
	const struct fleet_driver	*drv;
	struct drv_ctx			 dctx;
	struct drv_error		 err;
	struct st_instance		 in;
	char				*cause = NULL;
	int				 rc = FLEET_EXIT_FAIL;

	if (state_instance_current(ctx->st, dep->id, &in, &cause) != 1) {
		fprintf(stderr, "fleet stop: %s: %s\n", dep->name, cause != NULL ?
		    cause : "nothing running");
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	if (deploy_driver(ctx, in.provider, &drv, &dctx, &cause) != 0)
		goto out;
	if (deploy_resolve_id(ctx, &in, &cause) != 1) {
		if (cause == NULL)
			cause = xprintf("%s has no instance %s", in.provider,
			    in.label);
		goto out;
	}
	if (!(drv->flags & DRV_CAN_STOP)) {
		cause = xprintf("%s cannot stop an instance and keep it; use "
		    "`fleet down %s`", drv->name, dep->name);
		goto out;
	}
	state_instance_set_state(ctx->st, in.id, INST_STOPPING, NULL);
	memset(&err, 0, sizeof err);
	if (drv->stop(&dctx, in.provider_id, &err) != 0) {
		cause = xprintf("%s: stop %s: %s (%s)", drv->name,
		    in.provider_id, err.message, drv_err_name(err.kind));
		/* Still running as far as we know: keep serving it. */
		state_instance_set_state(ctx->st, in.id, in.state, NULL);
		goto out;
	}
	if (state_instance_set_state(ctx->st, in.id, INST_STOPPED,
	    &cause) != 0)
		goto out;
	state_event(ctx->st, dep->name, "stopped", "%s %s (%s)", in.provider,
	    in.provider_id, reason);
	control_notify(ctx);
	printf("%s is stopped (%s %s); `fleet start %s` resumes it\n",
	    dep->name, in.provider, in.provider_id, dep->name);
	rc = FLEET_EXIT_OK;
out:
	if (rc != FLEET_EXIT_OK && cause != NULL)
		fprintf(stderr, "fleet stop: %s\n", cause);
	free(cause);
	st_instance_clear(&in);
	return (rc);
}

static int
cmd_stop_exec(struct cmd_ctx *ctx, int argc, char **argv)
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
			return (cmd_usage_error(&cmd_stop_entry, "bad option"));
		reason = optarg;
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_stop_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_stop_entry, argv[optind],
	    &dep)) != 0)
		return (rc);
	rc = stop_run(ctx, &dep, reason);
	st_deployment_clear(&dep);
	return (rc);
}
