/* fleet.c: main(), global flags and dispatch through cmd_table[]. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "http.h"

const struct cmd_entry *cmd_table[] = {
	&cmd_up_entry,
	&cmd_down_entry,
	&cmd_ls_entry,
	&cmd_status_entry,
	&cmd_url_entry,
	&cmd_offers_entry,
	&cmd_cost_entry,
	&cmd_reconcile_entry,
	&cmd_reap_entry,
	&cmd_keep_entry,
	&cmd_stop_entry,
	&cmd_start_entry,
	&cmd_ssh_entry,
	&cmd_logs_entry,
	&cmd_templates_entry,
	&cmd_auth_entry,
	&cmd_daemon_entry,
	&cmd_doctor_entry,
	&cmd_version_entry,
	&cmd_help_entry,
	&cmd_echo_server_entry,
	NULL
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: fleet [-v] [-c CONFIG] COMMAND [ARGS]\n"
	    "       fleet help [COMMAND]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_ctx		 ctx;
	const struct cmd_entry	*ce;
	int			 ch, rc;

	memset(&ctx, 0, sizeof ctx);
	signal(SIGPIPE, SIG_IGN);
	/* '+': stop at the command name; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'v':
			ctx.verbosity++;
			break;
		case 'h':
			return (cmd_help_entry.exec(&ctx, 1,
			    (char *[]){ (char *)"help", NULL }));
		case 'V':
			printf("fleet %s\n", FLEET_VERSION);
			return (FLEET_EXIT_OK);
		default:
			usage(stderr);
			return (FLEET_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	log_init("fleet", ctx.verbosity, NULL);
	if (argc == 0) {
		usage(stderr);
		return (FLEET_EXIT_USAGE);
	}
	if ((ce = cmd_find(argv[0])) == NULL) {
		fprintf(stderr, "fleet: unknown command '%s'; see `fleet help`\n",
		    argv[0]);
		return (FLEET_EXIT_USAGE);
	}
	if (cmd_wants_help(argc, argv))
		return (cmd_print_help(ce));
	optind = 0;	/* reset getopt for the command's own parsing */
	rc = ce->exec(&ctx, argc, argv);
	cmd_ctx_free(&ctx);
	http_global_cleanup();
	return (rc);
}
