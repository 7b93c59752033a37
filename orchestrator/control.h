/* control.h: the daemon's control socket protocol (read this header third). */
#ifndef CONTROL_H
#define CONTROL_H

#include <cjson/cJSON.h>

/*
 * A Unix stream socket in the state dir. The client sends one JSON object
 * on one line, {"v":1,"cmd":"NAME", ...}; the daemon answers with one
 * line, {"v":1,"ok":true|false, "error":"...", ...}. A request with a
 * newer "v" than the daemon speaks is answered ok:false, so an old daemon
 * and a new CLI fail clearly instead of guessing. "v" and every number in
 * a request must be a whole number in range, else ok:false. At most 64
 * clients at once; a client gets 10 s for its line and 10 s idle.
 *
 * Commands (v1):
 *   hello    -> pid, version, started_at
 *   status   -> pid, uptime_seconds, open_conns, requests, bytes_in,
 *               bytes_out, deployments: [{name, state, port, upstream,
 *               open_conns, requests, bytes_in, bytes_out, last_request,
 *               upstream_errors}], one per deployment in state (down ones
 *               too: state is the instance's state or "down"; upstream is
 *               "" when there is none; last_request is epoch seconds, 0 =
 *               none)
 *   reload   -> re-read deployments from state now (routes change at once)
 *   stop     -> drain connections and exit
 *   keys     {"keys": {"ENV_NAME": "value", ...}} -> accepted: how many
 *               were set; only names some provider's api_key_env uses are
 *               taken, into the daemon's environment for its jobs
 *   forward  {"instance": ID} -> url: "SCHEME://127.0.0.1:PORT", the
 *               local end of the instance's ssh tunnel (its upstream is
 *               SCHEME+ssh://...), made on demand; for health probes
 *   status also carries ssh: [{deployment, where, ready, error,
 *               tunnel_channels, tunnel_bytes_in, tunnel_bytes_out}]
 */
#define CONTROL_VERSION		1
#define CONTROL_SOCKET		"control.sock"
#define CONTROL_PIDFILE		"daemon.pid"
#define CONTROL_LOGFILE		"daemon.log"
#define CONTROL_MAX_LINE	(256 * 1024)

struct cmd_ctx;

char	*control_path(const char *state_dir, const char *file);
/* Send one command; 0 and *reply (caller frees) on an answer, else -1. */
int	 control_request(const char *state_dir, const cJSON *req,
	    cJSON **reply, int timeout_ms, char **cause);
int	 control_simple(const char *state_dir, const char *cmd,
	    cJSON **reply, char **cause);
/* Is a daemon answering on this state dir's socket? */
int	 control_alive(const char *state_dir);
/* Start `fleet daemon --detach` unless one answers; wait until it does. */
int	 control_ensure_daemon(struct cmd_ctx *, char **cause);
/* Best effort: give a running daemon the API keys this CLI has. */
void	 control_send_keys(struct cmd_ctx *);
/* Best effort: ask a running daemon to re-read state. */
void	 control_notify(struct cmd_ctx *);

#endif
