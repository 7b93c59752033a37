/* fakecloud.h: shared state and helpers of the fake provider API servers. */
#ifndef FAKECLOUD_H
#define FAKECLOUD_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>

#include <cjson/cJSON.h>

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct fc;

/*
 * Instance life: pending -> booting (a real echo-server process on a fresh
 * port) -> running after the boot delay; stop -> stopped (process killed),
 * start -> booting on a NEW port; terminate -> terminated; vanish -> gone
 * (killed behind the API's back: provider files answer "not found").
 * An instance made to exit (/_control/exit) goes booting -> exited: its
 * workload ended by itself and the provider still holds it.
 */
enum fc_state {
	FC_PENDING, FC_BOOTING, FC_RUNNING, FC_STOPPED, FC_TERMINATED, FC_GONE,
	FC_EXITED
};

struct fc_instance {
	struct fc		*fc;
	char			*id;
	char			*provider;
	char			*label;		/* fleet-<dep>-<n> */
	char			*gpu;
	double			 price;		/* USD per hour */
	enum fc_state		 state;
	int			 port;		/* 0: no process */
	int			 prev_port;	/* not to reuse */
	pid_t			 pid;		/* 0: no process */
	int			 restarts;
	int			 tries;		/* spawns, this boot */
	int64_t			 boot_ms;	/* monotonic */
	int64_t			 created;	/* epoch seconds */
	int64_t			 updated;
	int64_t			 started;	/* became running */
	int64_t			 created_ms;	/* epoch milliseconds */
	int64_t			 updated_ms;	/* last state change */
	struct event		*timer;		/* next boot step */
	int			 exit_ms;	/* >0: exits this long
						   into its boot */
	int			 exit_running;	/* 1: after running
						   that long, booting */
	char			*exit_msg;	/* the provider's words */
	cJSON			*meta;		/* provider's own */
	TAILQ_ENTRY(fc_instance) entry;
};
TAILQ_HEAD(fc_instances, fc_instance);

/* One incoming API request, as a provider handler sees it. */
struct fc_req {
	struct fc		*fc;
	struct evhttp_request	*req;
	const char		*method;	/* "GET", ... */
	char			*uri;		/* with query */
	char			*path;		/* decoded */
	const char		*subpath;	/* after prefix */
	char			*query;		/* raw, or NULL */
	char			*body;		/* NUL-terminated */
	size_t			 bodylen;
	cJSON			*json;		/* parsed lazily */
	int			 json_tried;
	int			 replied;
	const struct fc_provider *provider;
	TAILQ_ENTRY(fc_req)	 entry;		/* fc->delayed */
	int64_t			 due_ms;
};
TAILQ_HEAD(fc_reqs, fc_req);

/*
 * A provider emulation: one file per provider (fake-runpod.c, ...), listed
 * in fc_provider_table[] in fakecloud.c. It is mounted under "/<name>", so
 * a driver's base URL is http://127.0.0.1:PORT/<name>[/api/v1...] and the
 * handler sees req->subpath with the prefix removed. Handlers answer
 * synchronously with one fc_reply_*() call.
 */
struct fc_provider {
	const char	*name;		/* "generic", "runpod", ... */
	void		 (*handle)(struct fc_req *);
	void		 (*reset)(struct fc *);	/* optional */
};

struct fc_rule;

struct fc {
	struct event_base	*base;
	struct evhttp		*http;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_chld;
	struct event		*ev_delay;	/* delayed requests */
	const char		*fleet;		/* has echo-server */
	int			 boot_delay_ms;
	int			 port;
	int			 ssh_port;	/* --ssh-port; 0: none */
	struct fc_instances	 instances;
	struct fc_reqs		 delayed;
	struct fc_rule		*rules;		/* control rules */
	cJSON			*log;		/* oldest first */
	unsigned int		 next_id;
	pid_t			*kids;		/* live children */
	size_t			 nkids;
};

extern const struct fc_provider *fc_provider_table[];
extern const struct fc_provider fc_provider_generic;
extern const struct fc_provider fc_provider_vast;
extern const struct fc_provider fc_provider_lambda;
extern const struct fc_provider fc_provider_runpod;
extern const struct fc_provider fc_provider_paperspace;

/* fakecloud.c: replies and request helpers. */
void		 fc_reply(struct fc_req *, int, const char *ctype,
		    const char *body);
void		 fc_reply_json(struct fc_req *, int, cJSON *);
void		 fc_reply_error(struct fc_req *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 fc_reply_kept(struct fc_req *, const cJSON *input);
cJSON		*fc_req_json(struct fc_req *);
const char	*fc_req_header(struct fc_req *, const char *);
char		*fc_req_query(struct fc_req *, const char *);
int		 fc_path_split(const char *, char **, int);
void		 fc_path_free(char **, int);
const char	*fc_json_string(cJSON *, const char *);
double		 fc_json_number(cJSON *, const char *, double);
void		 fc_delay_flush(struct fc *);
int64_t		 fc_now(void);
int64_t		 fc_now_ms(void);
int64_t		 fc_now_wall_ms(void);
char		*fc_time_iso(int64_t);

/* control.c: /_control/ endpoints and the rules they install. */
void		 control_handle(struct fc_req *);
int		 control_apply(struct fc_req *);
int	 control_lost(struct fc_req *);
int		 control_capacity_take(struct fc *, const char *provider,
		    const char *gpu);
int		 control_capacity(struct fc *, const char *provider,
		    const char *gpu);
int		 control_exit_take(struct fc *, const char *provider,
		    int *ms, int *running, char **msg);
void		 control_log(struct fc_req *, int status);
void		 control_reset(struct fc *);
void		 control_free(struct fc *);

/* instance.c: the per-instance state machine and its processes. */
struct fc_instance *instance_create(struct fc *, const char *provider,
		    const char *id, const char *label, const char *gpu,
		    double price);
struct fc_instance *instance_find(struct fc *, const char *provider,
		    const char *id);
int		 instance_stop(struct fc_instance *, char **cause);
int		 instance_start(struct fc_instance *, char **cause);
int		 instance_terminate(struct fc_instance *, char **cause);
void		 instance_vanish(struct fc_instance *);
const char	*instance_state_name(enum fc_state);
cJSON		*instance_json(struct fc_instance *);
void		 instance_reap(struct fc *);
void		 instance_free_all(struct fc *, int wait);

/* wscheck.c: `fakecloud wscheck` and `fakecloud send`, test clients. */
int		 wscheck_main(int, char **);
int		 send_main(int, char **);
int		 lenient_main(int, char **);
int		 stall_main(int, char **);

#endif
