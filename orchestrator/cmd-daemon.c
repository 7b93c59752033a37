/* cmd-daemon.c: `fleet daemon [status|stop]`: run, inspect or stop it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "control.h"
#include "daemon.h"

static int cmd_daemon_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_daemon_entry = {
	"daemon",
	"[--foreground | --detach] [--log FILE] | status [--json] | stop",
	"run the daemon: stable-URL proxy (one per state dir)",
	"Without a subcommand, runs the daemon in the foreground (the default,\n"
	"or --foreground) or in the background (--detach, logging to\n"
	"STATEDIR/daemon.log). It serves every deployment on its stable port\n"
	"and on the shared port by Host (NAME.localhost:PORT), follows\n"
	"upstream changes recorded in state, and answers GET /metrics on the\n"
	"shared port. `fleet up` starts it when none is running.\n"
	"SIGTERM drains open connections (up to 10 s) and exits; SIGHUP\n"
	"reloads fleet.yaml and the templates.\n\n"
	"  status [--json]   uptime, deployments, connections, bytes, requests\n"
	"  stop              drain and exit\n"
	"  --log FILE        log here instead of stderr\n",
	cmd_daemon_exec,
	0
};

static void
daemon_print_status(const cJSON *r)
{
	const cJSON	*deps, *o;

#define NUM(obj, k) cJSON_GetNumberValue(cJSON_GetObjectItem(obj, k))
#define STR(obj, k) cJSON_GetStringValue(cJSON_GetObjectItem(obj, k))
	printf("daemon pid %.0f, up %.0fs: %.0f open connections, %.0f "
	    "requests, %.0f bytes in, %.0f bytes out\n", NUM(r, "pid"),
	    NUM(r, "uptime_seconds"), NUM(r, "open_conns"),
	    NUM(r, "requests"), NUM(r, "bytes_in"), NUM(r, "bytes_out"));
	deps = cJSON_GetObjectItem(r, "deployments");
	printf("%-20s %-6s %-10s %6s %9s %12s %12s  %s\n", "NAME", "PORT",
	    "STATE", "CONNS", "REQUESTS", "BYTES_IN", "BYTES_OUT", "UPSTREAM");
	cJSON_ArrayForEach(o, deps) {
		printf("%-20s %-6.0f %-10s %6.0f %9.0f %12.0f %12.0f  %s\n",
		    STR(o, "name"), NUM(o, "port"), STR(o, "state"),
		    NUM(o, "open_conns"), NUM(o, "requests"),
		    NUM(o, "bytes_in"), NUM(o, "bytes_out"),
		    STR(o, "upstream"));
	}
#undef NUM
#undef STR
}

static int
daemon_cmd_status(struct cmd_ctx *ctx, int json)
{
	cJSON	*r = NULL;
	char	*cause = NULL, *txt;

	if (control_simple(ctx->state_dir, "status", &r, &cause) != 0) {
		fprintf(stderr, "fleet daemon: not running (%s)\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	if (json) {
		txt = cJSON_Print(r);
		printf("%s\n", txt);
		free(txt);
	} else
		daemon_print_status(r);
	cJSON_Delete(r);
	/* It talked to the daemon: hand over our keys, warn if it lacks one. */
	if (control_guard(ctx, 0, &r, &cause) == 0) {
		control_guard_warn(r, "daemon", stderr);
		cJSON_Delete(r);
	} else
		free(cause);
	return (FLEET_EXIT_OK);
}

/* Ask it to stop and wait (bounded) until the socket stops answering. */
static int
daemon_cmd_stop(struct cmd_ctx *ctx)
{
	cJSON		*r = NULL;
	char		*cause = NULL;
	int64_t		 deadline;
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };

	if (control_simple(ctx->state_dir, "stop", &r, &cause) != 0) {
		printf("fleet daemon: not running\n");
		free(cause);
		return (FLEET_EXIT_OK);
	}
	cJSON_Delete(r);
	deadline = now_mono_ms() + 15000;
	while (now_mono_ms() < deadline) {
		if (!control_alive(ctx->state_dir)) {
			printf("fleet daemon: stopped\n");
			return (FLEET_EXIT_OK);
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "fleet daemon: still running after 15s\n");
	return (FLEET_EXIT_FAIL);
}

static int
cmd_daemon_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "detach", no_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*logfile = NULL, *sub = NULL;
	int		 ch, rc, detach = 0, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			detach = 0;
			break;
		case 'd':
			detach = 1;
			break;
		case 'l':
			logfile = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return (cmd_usage_error(&cmd_daemon_entry,
			    "bad option"));
		}
	}
	if (optind < argc)
		sub = argv[optind++];
	if (optind < argc)
		return (cmd_usage_error(&cmd_daemon_entry, "too many "
		    "arguments"));
	if ((rc = cmd_state_dir(ctx)) != 0)
		return (rc);
	if (sub == NULL)
		return (daemon_run(ctx, detach, logfile));
	if (strcmp(sub, "status") == 0)
		return (daemon_cmd_status(ctx, json));
	if (strcmp(sub, "stop") == 0)
		return (daemon_cmd_stop(ctx));
	return (cmd_usage_error(&cmd_daemon_entry, "unknown subcommand '%s'",
	    sub));
}
