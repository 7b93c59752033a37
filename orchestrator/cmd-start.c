/* cmd-start.c: `fleet start NAME`: resume a stopped instance, wait healthy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "driver.h"
#include "state.h"

static int cmd_start_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_start_entry = {
	"start",
	"NAME [--timeout DUR]",
	"resume a stopped deployment and wait until it is healthy",
	"Starts the stopped instance again (RunPod, Vast, Paperspace), waits\n"
	"for its health check and records its new upstream (ports and IPs\n"
	"often change on resume): the stable URL follows. If it does not turn\n"
	"healthy within the template's boot timeout (or --timeout), it is\n"
	"stopped again rather than left billing. The daemon runs this when a\n"
	"request reaches a stopped deployment whose template sets\n"
	"wake_on_request.\n",
	cmd_start_exec,
	0
};

/* Poll the provider and the health check until healthy or out of time. */
static int
start_wait(struct cmd_ctx *ctx, const struct fleet_template *t,
    const struct fleet_driver *drv, const struct drv_ctx *dctx,
    struct st_instance *in, int64_t timeout, char **cause)
{
	struct drv_instance	 di;
	struct drv_error	 err;
	struct timespec		 ts = { 0, 250 * 1000 * 1000 };
	int64_t			 deadline = now_mono_ms() + timeout * 1000;
	char			*why = NULL;

	while (now_mono_ms() < deadline) {
		memset(&err, 0, sizeof err);
		if (drv->get(dctx, in->provider_id, &di, &err) == 0) {
			if (deploy_record(ctx, t, in, &di, cause) != 0) {
				drv_instance_clear(&di);
				return (-1);
			}
			drv_instance_clear(&di);
			free(why);
			why = NULL;
			if (in->state == INST_RUNNING && in->upstream != NULL &&
			    deploy_probe(ctx, t, in, &why) == 0)
				return (0);
		} else if (err.kind != DRV_ERR_TRANSIENT &&
		    err.kind != DRV_ERR_RATE_LIMITED) {
			*cause = xprintf("%s: %s", drv->name,
			    cmd_drv_msg(drv->name, err.message));
			free(why);
			return (-1);
		}
		nanosleep(&ts, NULL);
	}
	*cause = xprintf("not healthy in time (last: %s)", why != NULL ? why :
	    inst_state_name(in->state));
	free(why);
	return (-1);
}

static int
start_run(struct cmd_ctx *ctx, const struct st_deployment *dep,
    int64_t timeout)
{
	const struct fleet_driver	*drv;
	struct fleet_template		*t = NULL;
	struct drv_ctx			 dctx;
	struct drv_error		 err;
	struct st_instance		 in;
	char				*cause = NULL;
	int				 rc = FLEET_EXIT_FAIL;

	memset(&in, 0, sizeof in);
	if ((t = template_find(ctx->conf, dep->template_name, &cause)) == NULL ||
	    state_instance_current(ctx->st, dep->id, &in, &cause) != 1 ||
	    deploy_driver(ctx, in.provider, &drv, &dctx, &cause) != 0 ||
	    deploy_resolve_id(ctx, &in, &cause) != 1)
		goto out;
	if (in.state == INST_RUNNING && in.upstream != NULL &&
	    deploy_probe(ctx, t, &in, &cause) == 0) {
		printf("%s is already running\n", dep->name);
		rc = FLEET_EXIT_OK;
		goto out;
	}
	free(cause);
	cause = NULL;
	memset(&err, 0, sizeof err);
	if (drv->start(&dctx, in.provider_id, &err) != 0) {
		cause = xprintf("%s: start %s: %s (%s)", drv->name,
		    in.provider_id, err.message, drv_err_name(err.kind));
		goto out;
	}
	state_instance_set_state(ctx->st, in.id, INST_BOOTING, NULL);
	in.state = INST_BOOTING;
	state_event(ctx->st, dep->name, "starting", "%s %s", in.provider,
	    in.provider_id);
	control_notify(ctx);	/* the proxy holds requests meanwhile */
	if (timeout <= 0)
		timeout = t->health.boot_timeout > 0 ? t->health.boot_timeout :
		    900;
	if (start_wait(ctx, t, drv, &dctx, &in, timeout, &cause) != 0) {
		memset(&err, 0, sizeof err);
		if (drv->stop(&dctx, in.provider_id, &err) == 0)
			state_instance_set_state(ctx->st, in.id, INST_STOPPED,
			    NULL);
		state_event(ctx->st, dep->name, "start-failed", "%s; stopped "
		    "again", cause);
		control_notify(ctx);
		goto out;
	}
	state_event(ctx->st, dep->name, "healthy", "%s via %s (started)",
	    in.upstream, in.provider);
	control_notify(ctx);
	printf("%s is running again: upstream %s\n", dep->name, in.upstream);
	rc = FLEET_EXIT_OK;
out:
	if (rc != FLEET_EXIT_OK)
		fprintf(stderr, "fleet start: %s: %s\n", dep->name,
		    cause != NULL ? cause : "nothing to start");
	free(cause);
	st_instance_clear(&in);
	template_free(t);
	return (rc);
}

static int
cmd_start_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 dep;
	char			*cause = NULL;
	int64_t			 timeout = 0;
	int			 ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 't' || parse_duration(optarg, &timeout, &cause) != 0) {
			rc = cmd_usage_error(&cmd_start_entry, "%s",
			    cause != NULL ? cause : "bad option");
			free(cause);
			return (rc);
		}
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_start_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_start_entry, argv[optind],
	    &dep)) != 0)
		return (rc);
	rc = start_run(ctx, &dep, timeout);
	st_deployment_clear(&dep);
	return (rc);
}
