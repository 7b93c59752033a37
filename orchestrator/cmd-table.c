/* cmd-table.c: every command, in `fleet help` order (tmux's cmd_table). */
#include <stddef.h>

#include "fleet.h"

/* Apart from main() so the docs check (tests/unit/test-docs.c) sees it. */
const struct cmd_entry *cmd_table[] = {
	&cmd_up_entry,
	&cmd_down_entry,
	&cmd_rm_entry,
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
	&cmd_completion_entry,
	&cmd_version_entry,
	&cmd_help_entry,
	&cmd_echo_server_entry,
	NULL
};
