/* cmd-ssh.c: `fleet ssh NAME [-- CMD...]`: a shell or a command on it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "config.h"
#include "state.h"
#include "ssh.h"

static int cmd_ssh_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_ssh_entry = {
	"ssh",
	"NAME [-- CMD...]",
	"open a shell on a deployment's instance, or run a command there",
	"Logs in to the deployment's current instance over SSH (libssh2):\n"
	"an interactive shell with a terminal, or CMD, whose exit status\n"
	"becomes fleet's. The host key is recorded on first use in the\n"
	"state dir's known_hosts and a changed key is refused. The key is\n"
	"ssh.key from fleet.yaml, else ssh-agent, else ~/.ssh/id_ed25519.\n\n"
	"  -T   no terminal even when stdin is one\n",
	cmd_ssh_exec,
	0
};

/* The current instance's session, or NULL with the reason printed. */
struct ssh_sess *
cmd_ssh_open(struct cmd_ctx *ctx, const struct cmd_entry *ce,
    const struct st_deployment *dep, struct st_instance *in)
{
	struct ssh_sess		*ss;
	char			*cause = NULL;
	int			 r;

	if ((r = state_instance_current(ctx->st, dep->id, in, &cause)) != 1) {
		fprintf(stderr, "fleet %s: %s has no instance%s%s\n", ce->name,
		    dep->name, r == -1 ? ": " : "", r == -1 ? cause : "");
		free(cause);
		return (NULL);
	}
	if (in->state != INST_RUNNING && in->state != INST_BOOTING) {
		fprintf(stderr, "fleet %s: %s is %s\n", ce->name, dep->name,
		    inst_state_name(in->state));
		return (NULL);
	}
	if ((ss = ssh_open_instance(ctx->conf, ctx->state_dir, in,
	    &cause)) == NULL) {
		fprintf(stderr, "fleet %s: %s\n", ce->name, cause);
		free(cause);
	}
	return (ss);
}

static int
cmd_ssh_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct st_deployment	 dep;
	struct st_instance	 in;
	struct ssh_sess		*ss;
	char			*cmd = NULL, *v, *cause = NULL;
	int			 ch, rc, i, pty = 1, status;

	while ((ch = getopt(argc, argv, "+T")) != -1) {
		if (ch != 'T')
			return (cmd_usage_error(&cmd_ssh_entry, "bad option"));
		pty = 0;
	}
	if (optind >= argc)
		return (cmd_usage_error(&cmd_ssh_entry, "need a NAME"));
	i = optind + 1;
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i < argc) {
		/* Like ssh(1): the words are joined into one command line. */
		for (; i < argc; i++) {
			v = cmd;
			cmd = cmd == NULL ? xstrdup(argv[i]) :
			    xprintf("%s %s", cmd, argv[i]);
			free(v);
		}
	}
	if ((rc = cmd_load_config(ctx)) != 0 ||
	    (rc = cmd_deployment(ctx, &cmd_ssh_entry, argv[optind], &dep)) !=
	    0) {
		free(cmd);
		return (rc);
	}
	memset(&in, 0, sizeof in);
	rc = FLEET_EXIT_FAIL;
	if ((ss = cmd_ssh_open(ctx, &cmd_ssh_entry, &dep, &in)) != NULL) {
		/* A command gets a terminal only if asked to, like ssh -t. */
		status = ssh_attach(ss, cmd, pty && cmd == NULL, &cause);
		if (status < 0) {
			fprintf(stderr, "fleet ssh: %s\n", cause != NULL ?
			    cause : "the command's exit status was lost");
			free(cause);
		} else
			rc = status;
		ssh_close(ss);
	}
	st_instance_clear(&in);
	st_deployment_clear(&dep);
	free(cmd);
	return (rc);
}
