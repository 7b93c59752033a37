/* control.h: the daemon's control socket protocol (read this header third). */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdio.h>

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
 *   guard    {"reload": bool} -> guard: {unguarded: N, providers:
 *               [{provider, key: bool, source: env|file|cli|none,
 *               where, error, live: N, unguarded: N, instances:
 *               [{deployment, label}]}]}, one per provider that takes a
 *               key: whether the daemon (and so its jobs) has it, and the
 *               live instances it could not stop without it; reload
 *               first looks the keys up again (creds.h), as SIGHUP does
 *
 * Any request may carry "keys" as the keys command does: the CLI hands
 * over the keys it has with every request (control_add_keys), so a
 * daemon started without them gets them from the next fleet command.
 */
#define CONTROL_VERSION		1
#define CONTROL_SOCKET		"control.sock"
#define CONTROL_PIDFILE		"daemon.pid"
#define CONTROL_LOGFILE		"daemon.log"
/*
 * A daemon that could not start writes why here (one line, then a hint
 * line), so the command that started it says so at once; removed when a
 * daemon starts. A running daemon writes the absolute path of the config
 * it loaded (empty for the built-in defaults) to CONTROL_CONFFILE.
 */
#define CONTROL_ERRFILE		"daemon.err"
#define CONTROL_CONFFILE	"daemon.config"
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
/*
 * Start `fleet daemon --detach` unless one answers; wait until it does.
 * When it cannot start, *cause has its own error and a hint, at once.
 */
int	 control_ensure_daemon(struct cmd_ctx *, char **cause);
/* The absolute path of a config file ("" for none), the caller's. */
char	*control_config_id(const char *path);
/* Once per process: warn when the running daemon uses another config. */
void	 control_config_warn(struct cmd_ctx *);
/* Best effort: give a running daemon the API keys this CLI has. */
void	 control_send_keys(struct cmd_ctx *);
/* Best effort: ask a running daemon to re-read state (with our keys). */
void	 control_notify(struct cmd_ctx *);
/* Add {"keys": {...}} with every key this CLI finds; returns how many. */
int	 control_add_keys(struct cmd_ctx *, cJSON *req);
/* The daemon's "guard" object (caller frees); -1 when none answers. */
int	 control_guard(struct cmd_ctx *, int reload, cJSON **guard,
	    char **cause);
/* "a (fleet-a-3), b (fleet-b-4)": one guard provider's instances. */
char	*control_guard_names(const cJSON *provider);
/* Warn on f about each provider with unguarded instances; how many. */
int	 control_guard_warn(const cJSON *guard, const char *who, FILE *f);
/*
 * With live billing instances and no daemon answering, start one and say
 * so on stderr; then warn about the providers it has no key for. Returns
 * 1 when a daemon watches, 0 when none does (ls shows "no daemon"). With
 * guard non-NULL, *guard is the daemon's guard object (caller frees), or
 * NULL.
 */
int	 control_watch(struct cmd_ctx *, const char *who, cJSON **guard);
/* 1 when the guard says the daemon has no key for provider. */
int	 control_guard_lacks(const cJSON *guard, const char *provider);
/* How many live instances bill at a provider (state must be open). */
int	 control_billing(struct cmd_ctx *);

#endif
