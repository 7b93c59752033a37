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
/* On an instance: the watcher's mktemp -d template, without the Xs. */
#define DEADMAN_PRIVATE		"/tmp/fleet-deadman"
/* Where watchers started before 2026-12 keep their heartbeat. */
#define DEADMAN_OLD_DIR		"/tmp"
#define DEADMAN_LABEL_MAX	128

/* 1 if label may name a heartbeat: 1-128 of [A-Za-z0-9._-]. */
int	 deadman_label_ok(const char *label);

/* STATEDIR/deadman: the local watchers' files (0700, this user's). */
char	*deadman_local_dir(const char *state_dir);

/* Make dir (0700) or check it: a directory, not a symlink, this user's;
 * closes its mode to 0700. -1 with *cause otherwise. */
int	 deadman_dir_prepare(const char *dir, char **cause);

/* "DIR/heartbeat-LABEL", "DIR/LABEL.log"; NULL for a bad label. */
char	*deadman_heartbeat_path(const char *dir, const char *label);
char	*deadman_log_path(const char *dir, const char *label);

/* Touch a local heartbeat: created with O_EXCL|O_NOFOLLOW, or reopened
 * with O_NOFOLLOW and checked (a plain file of ours, one link). */
int	 deadman_heartbeat_touch(const char *dir, const char *label,
	    char **cause);

/* The command the daemon runs over SSH on an instance: touch the
 * heartbeat in the watcher's private directory, if it is ours. */
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
 * *cause for an unsupported provider, a bad label, URL or timeout. Its
 * files go in a private mktemp -d of its own; with _user, the heartbeat
 * is handed to hb_user, the SSH user, when that is not the watcher's.
 */
char	*deadman_script(const char *provider, const char *api_base_url,
	    const char *label, int64_t timeout, char **cause);
char	*deadman_script_user(const char *provider, const char *api_base_url,
	    const char *label, int64_t timeout, const char *hb_user,
	    char **cause);

/* The local watcher, its files in dir (deadman_local_dir(), prepared). */
char	*deadman_script_local(const char *label, int64_t timeout,
	    const char *dir, char **cause);

#endif
