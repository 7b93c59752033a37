/* state.h: the SQLite store shared by the CLI and the daemon. */
#ifndef STATE_H
#define STATE_H

#include <stdint.h>

#include "driver.h"

#define STATE_SCHEMA_VERSION 5

struct state;

/* A deployment: a name the user rents under, with a stable port. */
struct st_deployment {
	int64_t		 id;
	char		*name;
	char		*template_name;
	char		*desired;	/* "up", "down" ("removed": fleet rm) */
	int		 stable_port;
	int64_t		 idle_timeout;
	int64_t		 max_lifetime;
	int		 idle_action;
	int64_t		 created_at;
	int64_t		 updated_at;
	int64_t		 last_activity;	/* wall clock, 0 = none seen */
	int64_t		 keep_until;	/* no idle kill before this */
	int64_t		 desired_at;	/* ms: when desired was last said */
};

/* One rented (or being rented) instance of a deployment. */
struct st_instance {
	int64_t		 id;
	int64_t		 deployment_id;
	char		*provider;
	char		*provider_id;	/* NULL until create returned */
	char		*label;
	enum inst_state	 state;
	char		*gpu;
	double		 price_per_hour;
	char		*upstream;	/* current upstream URL, or NULL */
	char		*ssh_host;
	int		 ssh_port;
	int64_t		 created_at;
	int64_t		 billing_since;	/* 0 = not billing now */
	double		 spent_usd;	/* closed ledger segments */
	int64_t		 ended_at;	/* 0 = still alive */
	int64_t		 updated_at;
	int		 gpu_util;	/* last sample, percent; -1 none */
	int64_t		 gpu_util_at;	/* when it was sampled */
	double		 stopped_price;	/* $/h while stopped (disk) */
	double		 billing_rate;	/* $/h of the open segment */
};

struct st_event {
	int64_t		 id;
	int64_t		 ts;
	char		*deployment;
	char		*kind;
	char		*message;
};

struct state	*state_open(const char *dir, char **cause);
void		 state_close(struct state *);
const char	*state_path(const struct state *);
int		 state_schema_version(struct state *);

int		 state_begin(struct state *, char **cause);
int		 state_commit(struct state *, char **cause);
void		 state_rollback(struct state *);

/* Deployments. */
int		 state_deployment_get(struct state *, const char *name,
		    struct st_deployment *, char **cause);	/* 1 found */
int		 state_deployment_upsert(struct state *,
		    struct st_deployment *, char **cause);
int		 state_deployment_touch(struct state *, int64_t id,
		    int64_t when, char **cause);
int		 state_deployment_keep(struct state *, int64_t id,
		    int64_t until, char **cause);
int		 state_deployment_set_desired(struct state *, int64_t id,
		    const char *desired, char **cause);
/* `fleet rm`: 1 forgotten (name and port free), 0 still live, -1 error. */
int		 state_deployment_forget(struct state *, int64_t id,
		    char **cause);
int		 state_deployment_delete(struct state *, int64_t id,
		    char **cause);
int		 state_deployment_list(struct state *,
		    struct st_deployment **, int *n, char **cause);
int		 state_port_allocate(struct state *, int lo, int hi,
		    const char *bind, const int *reserved, int nreserved,
		    int *port, char **cause);
void		 st_deployment_clear(struct st_deployment *);
void		 st_deployment_list_free(struct st_deployment *, int);

/* Instances: intent first, provider id right after create. */
int		 state_instance_intent(struct state *, int64_t deployment_id,
		    const char *provider, const char *deployment_name,
		    struct st_instance *, char **cause);
int		 state_instance_set_gpu_util(struct state *, int64_t id,
		    int util, int64_t at, char **cause);
int		 state_instance_set_provider_id(struct state *, int64_t id,
		    const char *provider_id, char **cause);
int		 state_instance_claim(struct state *, int64_t id,
		    const char *provider_id, char **cause);	/* 1 claimed */
int		 state_instance_give_up(struct state *, int64_t id,
		    char **cause);				/* 1 ended */
int		 state_instance_update(struct state *,
		    const struct st_instance *, char **cause);
int		 state_instance_set_state(struct state *, int64_t id,
		    enum inst_state, char **cause);
int		 state_instance_terminating(struct state *, int64_t id,
		    char **cause);	/* stopping, billing closed */
void		 state_test_fail(struct state *, const char *point);
int		 state_instance_current(struct state *, int64_t deployment_id,
		    struct st_instance *, char **cause);	/* 1 found */
int		 state_instance_list(struct state *, int alive_only,
		    struct st_instance **, int *n, char **cause);
double		 st_instance_spent(const struct st_instance *, int64_t now);
void		 st_instance_clear(struct st_instance *);
void		 st_instance_list_free(struct st_instance *, int);

/* Event log (append-only) and spend ledger. */
int		 state_event(struct state *, const char *deployment,
		    const char *kind, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
int		 state_event_list(struct state *, const char *deployment,
		    int limit, struct st_event **, int *n, char **cause);
void		 st_event_list_free(struct st_event *, int);
int		 state_event_count(struct state *, const char *deployment,
		    const char *kind, int64_t since, char **cause);
int		 state_event_last(struct state *, const char *deployment,
		    const char *kind, struct st_event *, char **cause);
void		 st_event_clear(struct st_event *);
double		 state_spent_deployment(struct state *, int64_t deployment_id,
		    int64_t now);
double		 state_spent_since(struct state *, int64_t since,
		    int64_t now);

/* Reconciler and cost (cmd-reconcile.c, cmd-reap.c, cmd-cost.c). */
int		 state_instance_by_label(struct state *, const char *label,
		    struct st_instance *, char **cause);	/* 1 found */

enum st_cost_by { ST_COST_DEPLOYMENT, ST_COST_PROVIDER, ST_COST_DAY };

/* Spend of one group (deployment name, provider, or local YYYY-MM-DD). */
struct st_cost {
	char		*key;
	double		 usd;
	int64_t		 seconds;	/* instance-seconds billed */
};

int		 state_cost(struct state *, enum st_cost_by, int64_t since,
		    int64_t now, struct st_cost **, int *n, char **cause);
void		 st_cost_list_free(struct st_cost *, int);

#endif
