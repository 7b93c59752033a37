/* daemon.h: the long-running `fleet daemon`. */
#ifndef DAEMON_H
#define DAEMON_H

struct cmd_ctx;

/* Run the daemon until SIGTERM or a stop command; returns an exit code. */
int	daemon_run(struct cmd_ctx *, int detach, const char *logfile);

#endif
