/* cmd-url.c: `fleet url NAME`: the stable URL (or the current upstream). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "state.h"

static int cmd_url_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_url_entry = {
	"url",
	"NAME [--upstream]",
	"print a deployment's stable URL (it never changes)",
	"Prints the stable local URL apps point at. It stays the same across\n"
	"restarts and provider changes; the daemon's proxy follows the\n"
	"instance behind it.\n\n"
	"  --upstream   print the instance's current upstream URL instead\n",
	cmd_url_exec,
	0
};

static int
cmd_url_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "upstream", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_deployment	 dep;
	struct st_instance	 in;
	char			*cause = NULL, *url;
	int			 ch, rc, upstream = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'u')
			return (cmd_usage_error(&cmd_url_entry, "bad option"));
		upstream = 1;
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_url_entry, "need one NAME"));
	if ((rc = cmd_deployment(ctx, &cmd_url_entry, argv[optind],
	    &dep)) != 0)
		return (rc);
	rc = FLEET_EXIT_OK;
	if (!upstream) {
		url = deploy_stable_url(ctx, &dep);
		printf("%s\n", url);
		free(url);
	} else if (state_instance_current(ctx->st, dep.id, &in, &cause) == 1 &&
	    in.upstream != NULL) {
		printf("%s\n", in.upstream);
		st_instance_clear(&in);
	} else {
		fprintf(stderr, "fleet url: %s has no upstream now%s%s\n",
		    dep.name, cause != NULL ? ": " : "", cause != NULL ?
		    cause : "");
		free(cause);
		st_instance_clear(&in);
		rc = FLEET_EXIT_FAIL;
	}
	st_deployment_clear(&dep);
	return (rc);
}
