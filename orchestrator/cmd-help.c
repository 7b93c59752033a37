/* cmd-help.c: `fleet help [COMMAND]`. */
#include <stdio.h>

#include "fleet.h"

static int
cmd_help_exec(struct cmd_ctx *ctx __unused, int argc, char **argv)
{
	const struct cmd_entry	**ce, *one;

	if (argc > 1) {
		if ((one = cmd_find(argv[1])) == NULL) {
			cmd_unknown_command("fleet help", argv[1]);
			return (FLEET_EXIT_USAGE);
		}
		return (cmd_print_help(one));
	}
	printf("usage: fleet [-v] [-c CONFIG] COMMAND [ARGS]\n\n"
	    "fleet rents GPUs by the hour, keeps each deployment at one\n"
	    "stable local URL, and stops what is no longer used.\n\n"
	    "commands:\n");
	for (ce = cmd_table; *ce != NULL; ce++) {
		if (!(*ce)->hidden)
			printf("  %-12s %s\n", (*ce)->name, (*ce)->summary);
	}
	printf("\n`fleet COMMAND --help` for details; exit codes: 0 ok, "
	    "1 operational failure,\n2 usage or configuration error "
	    "(see fleet(1)).\n");
	return (FLEET_EXIT_OK);
}

const struct cmd_entry cmd_help_entry = {
	"help", "[COMMAND]", "list commands or show one command's help", "",
	cmd_help_exec, 0
};
