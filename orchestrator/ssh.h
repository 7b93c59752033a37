/* ssh.h: sessions to instances over libssh2. */
#ifndef SSH_H
#define SSH_H

#include <stddef.h>
#include <stdint.h>

#include <libssh2.h>

struct fleet_config;
struct st_instance;
struct event_base;

/* Where and as whom: filled from config, provider and the instance. */
struct ssh_target {
	char		*host;
	int		 port;
	char		*user;
	char		*key;		/* private key file, NULL = agent */
	char		*known_hosts;
	int64_t		 timeout_ms;	/* connect + handshake + login */
	int64_t		 keepalive;	/* seconds (daemon sessions) */
};

/* One libssh2 session over one socket, non-blocking underneath. */
struct ssh_sess {
	int		 fd;
	LIBSSH2_SESSION	*s;
	char		*where;		/* user@host:port, for messages */
};

#define SSH_TIMEOUT	(-1000)	/* our code beside libssh2's */

int	 ssh_target_init(struct ssh_target *, const struct fleet_config *,
	    const char *state_dir, const char *provider,
	    const struct st_instance *, char **cause);
void	 ssh_target_clear(struct ssh_target *);
char	*ssh_session_error(LIBSSH2_SESSION *);

/* Steps shared by the blocking API and the daemon's links. */
int	 ssh_sess_socket(struct ssh_sess *, const struct ssh_target *,
	    char **cause);
int	 ssh_check_hostkey(struct ssh_sess *, const struct ssh_target *,
	    char **cause);

/* Blocking, each step bounded by target->timeout_ms (commands, health). */
struct ssh_sess *ssh_open(const struct ssh_target *, char **cause);
void	 ssh_close(struct ssh_sess *);
/* Run cmd; keep up to max bytes of stdout; -1 if it could not run. */
int	 ssh_run(struct ssh_sess *, const char *cmd, int64_t timeout_ms,
	    char **out, size_t max, int *status, char **cause);
/*
 * Run cmd (NULL: a login shell) with the terminal: stdin to it, its
 * stdout/stderr to ours, a pty (raw mode, window size) when stdin is one
 * and pty is set. Returns the remote exit status, or -1 with cause.
 */
int	 ssh_attach(struct ssh_sess *, const char *cmd, int pty,
	    char **cause);

/* ssh-link.c: the daemon's kept-open sessions (never block). */
struct ssh_link;
typedef void (*ssh_exec_cb)(int status, const char *out, size_t len,
    void *arg);
struct ssh_link *ssh_link_create(struct event_base *,
	    const struct ssh_target *, const char *name);
void	 ssh_link_free(struct ssh_link *);
int	 ssh_link_ready(const struct ssh_link *);
const char *ssh_link_error(const struct ssh_link *);
/* Run cmd once; cb gets exit status (-1: could not run) and stdout. */
void	 ssh_link_exec(struct ssh_link *, const char *cmd, size_t max,
	    int64_t timeout_ms, ssh_exec_cb, void *arg);
/* A 127.0.0.1 listener whose connections go to host:port over ssh. */
int	 ssh_link_forward(struct ssh_link *, const char *host, int port,
	    char **cause);
void	 ssh_link_stats(const struct ssh_link *, uint64_t *bytes_in,
	    uint64_t *bytes_out, int *channels);

int	 ssh_tunnel_parse(const char *upstream, char **scheme, char **host,
	    int *port);
struct ssh_sess *ssh_open_instance(const struct fleet_config *,
	    const char *state_dir, const struct st_instance *, char **cause);

/* Parse nvidia-smi CSV (util, mem per line): busiest GPU, -1 unknown. */
int	 ssh_parse_gpu(const char *out, size_t len);

#endif
