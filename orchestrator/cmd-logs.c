/* cmd-logs.c: `fleet logs NAME [-f] [-n N]`: the workload's output. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "state.h"
#include "ssh.h"

static int cmd_logs_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_logs_entry = {
	"logs",
	"NAME [-f] [-n LINES]",
	"show a deployment's workload logs (over SSH)",
	"Shows the last lines of the workload's log on the current instance,\n"
	"over SSH: the template's log_file, else the workload container's\n"
	"output where fleet runs it with docker on the host (Lambda,\n"
	"Paperspace).\n\n"
	"  -f         keep following (Ctrl-C ends)\n"
	"  -n LINES   lines to show first (default 100)\n",
	cmd_logs_exec,
	0
};

/* Single quotes for the remote shell. */
static char *
cmd_logs_quote(const char *s)
{
	char	*out = xcalloc(1, strlen(s) * 4 + 3), *p = out;

	*p++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *s;
	}
	*p++ = '\'';
	return (out);
}

/* The remote command, or NULL with why there is none. */
static char *
cmd_logs_command(struct cmd_ctx *ctx, const struct st_deployment *dep,
    const char *provider, int follow, long lines, char **cause)
{
	const struct fleet_driver	*drv = driver_find(provider);
	struct fleet_template		*t;
	char				*cmd = NULL, *q;

	if ((t = template_find(ctx->conf, dep->template_name, cause)) == NULL)
		return (NULL);
	if (t->log_file != NULL) {
		q = cmd_logs_quote(t->log_file);
		cmd = xprintf("tail -n %ld%s %s", lines, follow ? " -F" : "", q);
		free(q);
	} else if (drv != NULL && drv->container != NULL) {
		cmd = xprintf("docker logs --tail %ld%s %s 2>&1 || "
		    "sudo -n docker logs --tail %ld%s %s 2>&1", lines,
		    follow ? " -f" : "", drv->container, lines,
		    follow ? " -f" : "", drv->container);
	} else
		*cause = xprintf("template %s has no log_file and %s does not "
		    "run the workload as a container fleet can read; set "
		    "log_file in %s", t->name, provider, t->path != NULL ?
		    t->path : "the template");
	template_free(t);
	return (cmd);
}

static int
cmd_logs_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct st_deployment	 dep;
	struct st_instance	 in;
	struct ssh_sess		*ss;
	char			*cmd, *cause = NULL;
	long long		 lines = 100;
	int			 ch, rc, follow = 0, status;

	while ((ch = getopt(argc, argv, "fn:")) != -1) {
		switch (ch) {
		case 'f':
			follow = 1;
			break;
		case 'n':
			if (parse_int(optarg, 0, 1000000, &lines, &cause) ==
			    -1) {
				rc = cmd_usage_error(&cmd_logs_entry, "-n: %s",
				    cause);
				free(cause);
				return (rc);
			}
			break;
		default:
			return (cmd_usage_error(&cmd_logs_entry,
			    "bad option"));
		}
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_logs_entry, "need one NAME"));
	if ((rc = cmd_load_config(ctx)) != 0 ||
	    (rc = cmd_deployment(ctx, &cmd_logs_entry, argv[optind], &dep)) !=
	    0)
		return (rc);
	memset(&in, 0, sizeof in);
	rc = FLEET_EXIT_FAIL;
	if (state_instance_current(ctx->st, dep.id, &in, &cause) == 1 &&
	    (cmd = cmd_logs_command(ctx, &dep, in.provider, follow,
	    (long)lines, &cause)) != NULL) {
		st_instance_clear(&in);
		if ((ss = cmd_ssh_open(ctx, &cmd_logs_entry, &dep, &in)) !=
		    NULL) {
			status = ssh_attach(ss, cmd, 0, &cause);
			if (status < 0)
				fprintf(stderr, "fleet logs: %s\n", cause);
			else
				rc = status == 0 ? FLEET_EXIT_OK :
				    FLEET_EXIT_FAIL;
			ssh_close(ss);
		}
		free(cmd);
	} else if (cause != NULL)
		fprintf(stderr, "fleet logs: %s\n", cause);
	else
		fprintf(stderr, "fleet logs: %s has no instance\n", dep.name);
	free(cause);
	st_instance_clear(&in);
	st_deployment_clear(&dep);
	return (rc);
}
