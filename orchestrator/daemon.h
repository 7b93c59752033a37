/* daemon.h: the long-running `fleet daemon`: its context and parts. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy.h"

struct cmd_ctx;
struct event;
struct event_base;
struct evconnlistener;
struct evbuffer;
struct fleet_driver;

/* What the daemon knows of one deployment between refreshes. */
struct daemon_route {
	char		*name;
	char		*upstream;
	char		*state;		/* instance state name, or "down" */
	int		 port;
	enum route_state rstate;
	int		 tcp;
	int		 wake;
	int		 idle_gpu_percent;	/* from the template */
	int		 gpu_count;
	int64_t		 deadman;	/* template's deadman_timeout */
	double		 price;
};

/* A child job: `fleet down NAME --reason idle` and the like. */
struct job {
	pid_t		 pid;
	char		*deployment;
	char		*what;
	int64_t		 started_mono;
	struct job	*next;
};

/* What the watchdog remembers per deployment (by name) between sweeps. */
struct watch {
	char		*name;
	int64_t		 ready_since;	/* wall, when seen turning ready */
	int		 seen;
	int		 was_ready;
	int		 warned;	/* the 80% warning was logged */
	int64_t		 acted_mono;	/* last job started for it */
	struct watch	*next;
};

/* What the daemon knows of one provider's API key (daemon-keys.c). */
struct daemon_key {
	const struct fleet_driver *drv;
	int		 src;		/* enum creds_source */
	char		*where;		/* variable or file, NULL = none */
	char		*error;		/* why the last lookup failed */
};

/* The one daemon context: no other global mutable state. */
struct daemon {
	struct event_base	*base;
	struct cmd_ctx		*ctx;
	struct proxy		*proxy;
	struct evconnlistener	*ctl;
	int			 nclients;	/* open control clients */
	struct event		*ev_term, *ev_int, *ev_hup, *ev_refresh;
	struct event		*ev_drain, *ev_chld, *ev_watch;
	char			*sock_path;
	char			*pid_path;
	int			 pid_fd;
	int			 log_fd;	/* jobs write here, -1 = stderr */
	int64_t			 started_mono;
	int64_t			 started_wall;
	int64_t			 drain_deadline;
	int			 draining;
	int			 breaker;	/* budget cap hit today */
	int64_t			 next_reconcile_mono;
	struct daemon_route	*routes;
	size_t			 nroutes;
	struct job		*jobs;
	struct watch		*watches;
	struct dssh		*ssh;		/* sessions to instances */
	struct event		*ev_ssh;
	struct daemon_key	*keys;		/* one per keyed provider */
	size_t			 nkeys;
	int			 unguarded;	/* at the last sweep */
};

/* daemon.c */
int	 daemon_run(struct cmd_ctx *, int detach, const char *logfile);
void	 daemon_refresh(struct daemon *);

/* job.c: provider work runs in children, never in the event loop. */
int	 job_run(struct daemon *, const char *deployment, const char *what,
	    const char *const *args);
int	 job_running(struct daemon *, const char *deployment);
void	 job_reap(struct daemon *);
void	 job_free_all(struct daemon *);

/* daemon-ssh.c: sessions for tunnels and GPU samples. */
struct cJSON;
struct st_instance;
void	 daemon_ssh_start(struct daemon *);
void	 daemon_ssh_free(struct daemon *);
void	 daemon_ssh_mark(struct daemon *);
void	 daemon_ssh_sweep(struct daemon *);
char	*daemon_ssh_route(struct daemon *, const char *name,
	    const struct st_instance *, int sample);
int	 daemon_ssh_forward(struct daemon *, int64_t instance_id,
	    struct cJSON *reply, char **cause);
void	 daemon_ssh_heartbeat(struct daemon *, const char *name,
	    const struct st_instance *, int64_t deadman);
void	 daemon_ssh_status(struct daemon *, struct cJSON *arr);

/* daemon-keys.c: the keys the daemon's jobs get, and the alarm. */
void	 daemon_keys_load(struct daemon *, const char *why);
void	 daemon_keys_handed(struct daemon *, const char *env);
void	 daemon_keys_free(struct daemon *);
struct cJSON *daemon_guard(struct daemon *);
void	 daemon_guard_metrics(struct daemon *, struct evbuffer *);
void	 daemon_guard_sweep(struct daemon *);

/* watchdog.c: idle kill, lifetime, budget breaker. */
void	 watchdog_sweep(struct daemon *);
void	 watchdog_free(struct daemon *);

#endif
