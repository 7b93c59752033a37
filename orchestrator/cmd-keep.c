/* cmd-keep.c: `fleet keep NAME --for DUR`: postpone the idle kill. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "control.h"
#include "state.h"

static int cmd_keep_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_keep_entry = {
	"keep",
	"NAME --for DURATION",
	"postpone a deployment's idle kill (max lifetime still applies)",
	"The watchdog treats the deployment as used until now + DURATION\n"
	"(e.g. 2h), so an idle model you want warm is not terminated.\n"
	"max_lifetime and the budget breaker still apply. `--for 0s` cancels.\n",
	cmd_keep_exec,
	0
};

static int
cmd_keep_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "for", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 d;
	char			*cause = NULL, *until;
	int64_t			 dur = -1;
	int			 ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'f' || parse_duration(optarg, &dur, &cause) != 0) {
			rc = cmd_usage_error(&cmd_keep_entry, "%s", cause != NULL ?
			    cause : "bad option");
			free(cause);
			return (rc);
		}
	}
	if (optind != argc - 1 || dur < 0)
		return (cmd_usage_error(&cmd_keep_entry, "need NAME and --for"));
	if ((rc = cmd_deployment(ctx, &cmd_keep_entry, argv[optind], &d)) != 0)
		return (rc);
	if (state_deployment_keep(ctx->st, d.id, dur > 0 ? now_wall() + dur : 0,
	    &cause) != 0) {
		fprintf(stderr, "fleet keep: %s\n", cause);
		free(cause);
		st_deployment_clear(&d);
		return (FLEET_EXIT_FAIL);
	}
	until = format_time(now_wall() + dur);
	if (dur > 0)
		printf("%s: no idle kill before %s\n", d.name, until);
	else
		printf("%s: keep cancelled\n", d.name);
	if (dur > 0)
		state_event(ctx->st, d.name, "keep", "no idle kill before %s",
		    until);
	else
		state_event(ctx->st, d.name, "keep", "keep cancelled");
	free(until);
	control_notify(ctx);
	st_deployment_clear(&d);
	return (FLEET_EXIT_OK);
}
