/* fleet.c: main(), global flags and dispatch through cmd_table[]. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "http.h"

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
	/* As gh and kubectl do: the command list, and success. */
	if (argc == 0)
		return (cmd_help_entry.exec(&ctx, 1,
		    (char *[]){ (char *)"help", NULL }));
	if ((ce = cmd_find(argv[0])) == NULL) {
		cmd_unknown_command("fleet", argv[0]);
		return (FLEET_EXIT_USAGE);
	}
	if (cmd_wants_help(argc, argv))
		return (cmd_print_help(ce));
	optind = 0;	/* reset getopt for the command's own parsing */
	rc = ce->exec(&ctx, argc, argv);
	if (rc == FLEET_EXIT_USAGE)
		cmd_option_hint(ce, argc, argv);
	cmd_ctx_free(&ctx);
	http_global_cleanup();
	return (rc);
}
