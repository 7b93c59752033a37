/* deadman.h: the dead-man switch: heartbeat and the instance's watcher. */
#ifndef DEADMAN_H
#define DEADMAN_H

#include <stdint.h>

/*
 * A template's deadman_timeout makes the instance run a watcher from its
 * start-up: when the heartbeat file has not changed for that long, the
 * instance ends itself with the provider's own per-instance credential.
 * The daemon keeps it alive by running deadman_heartbeat_command() on the
 * instance (over its SSH session) every deadman_heartbeat_interval().
 * Labels are fleet's instance names (fleet-<deployment>-<n>); anything
 * outside [A-Za-z0-9._-] is refused, so paths and commands never need
 * quoting. See docs/providers.md, "Dead-man switch".
 */

/* The environment variable that carries the watcher to the instance. */
#define DEADMAN_ENV		"FLEET_DEADMAN"
/* sh that starts the watcher held in $FLEET_DEADMAN in the background. */
#define DEADMAN_LAUNCH		"sh -c \"$" DEADMAN_ENV "\" >/dev/null 2>&1 &"
#define DEADMAN_DIR		"/tmp"
#define DEADMAN_LABEL_MAX	128

/* 1 if label may name a heartbeat: 1-128 of [A-Za-z0-9._-]. */
int	 deadman_label_ok(const char *label);

/* "/tmp/fleet-heartbeat-LABEL", the file on the instance; NULL if bad. */
char	*deadman_heartbeat_path(const char *label);

/* "/tmp/fleet-deadman-LABEL.log", where the watcher says what it did. */
char	*deadman_log_path(const char *label);

/* "touch /tmp/fleet-heartbeat-LABEL", for the daemon's SSH session. */
char	*deadman_heartbeat_command(const char *label);

/* How often the daemon touches: a quarter of the timeout, at least 1 s
 * (0 when the timeout is 0: no dead-man switch). */
int64_t	 deadman_heartbeat_interval(int64_t deadman_timeout);

/* 1 if fleet knows how an instance of provider ends itself; else 0 with
 * *cause (when cause is not NULL) saying why not. */
int	 deadman_supported(const char *provider, char **cause);

/*
 * The watcher: one line of POSIX sh, to be run in the background from the
 * instance's start-up. api_base_url is the provider API the driver uses
 * (RunPod's GraphQL URL, Vast's base URL; NULL for the others). NULL with
 * *cause for an unsupported provider, a bad label, URL or timeout.
 */
char	*deadman_script(const char *provider, const char *api_base_url,
	    const char *label, int64_t timeout, char **cause);

#endif
