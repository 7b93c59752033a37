/* watchdog.c: idle kill, max lifetime and the budget circuit breaker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "config.h"
#include "daemon.h"
#include "driver.h"
#include "proxy.h"
#include "state.h"
#include "budget.h"

/*
 * "Stamp on activity, sweep on one timer": the proxy stamps every byte
 * and frame; this sweep turns the stamps into wall-clock activity kept in
 * state (so a restarted daemon, or one woken from sleep, judges idleness
 * from what really happened, not from a timer it reset) and acts.
 */

static struct watch *
watch_get(struct daemon *d, const char *name)
{
	struct watch	*w;

	for (w = d->watches; w != NULL; w = w->next)
		if (strcmp(w->name, name) == 0)
			return (w);
	w = xcalloc(1, sizeof *w);
	w->name = xstrdup(name);
	w->next = d->watches;
	d->watches = w;
	return (w);
}

void
watchdog_free(struct daemon *d)
{
	struct watch	*w;

	while ((w = d->watches) != NULL) {
		d->watches = w->next;
		free(w->name);
		free(w);
	}
}

static void	watchdog_job(struct daemon *, const struct st_deployment *,
		    const char *, const char *, const char *);

/* Terminate: `fleet down NAME --reason WHY` as a job. */
static void
watchdog_act(struct daemon *d, const struct st_deployment *dep,
    const char *why, const char *detail)
{
	watchdog_job(d, dep, "down", why, detail);
}

/*
 * Start `fleet down|stop NAME --reason WHY` unless a job already acts on
 * it; a failed one is retried at most every 30 s.
 */
static void
watchdog_job(struct daemon *d, const struct st_deployment *dep,
    const char *cmd, const char *why, const char *detail)
{
	const char	*args[] = { cmd, dep->name, "--reason", why, NULL };
	struct watch	*w = watch_get(d, dep->name);

	/* One job at a time, and a failed one is retried at most every 30s. */
	if (job_running(d, dep->name) ||
	    (w->acted_mono != 0 && now_mono_ms() - w->acted_mono < 30000))
		return;
	w->acted_mono = now_mono_ms();
	log_warn("%s: %s: %s; %s", dep->name, why, detail,
	    strcmp(cmd, "stop") == 0 ? "stopping" : "terminating");
	state_event(d->ctx->st, dep->name, why, "%s; %s", detail,
	    strcmp(cmd, "stop") == 0 ? "stopping" : "terminating");
	job_run(d, dep->name, why, args);
}

/*
 * Latest activity through the proxy, as wall-clock seconds (0 = none),
 * rounded up: whole seconds of "now" minus whole seconds of "ago" could
 * date it up to a second early, and the idle kill come that much before
 * its timeout.
 */
static int64_t
watchdog_proxy_activity(struct daemon *d, const char *name)
{
	struct proxy_stats	ps;
	int64_t			ago;

	memset(&ps, 0, sizeof ps);
	if (proxy_stats_get(d->proxy, name, &ps) != 0 ||
	    ps.last_activity_mono == 0)
		return (0);
	ago = now_mono_ms() - ps.last_activity_mono;
	return ((now_wall_ms() - (ago > 0 ? ago : 0) + 999) / 1000);
}

/* idle_action stop where the provider can keep a stopped instance. */
static const char *
watchdog_idle_cmd(const struct st_deployment *dep,
    const struct st_instance *in)
{
	const struct fleet_driver	*drv = driver_find(in->provider);

	if (dep->idle_action == IDLE_ACTION_STOP && drv != NULL &&
	    (drv->flags & DRV_CAN_STOP))
		return ("stop");
	return ("down");
}

static void
watchdog_idle(struct daemon *d, const struct daemon_route *r,
    struct st_deployment *dep, const struct st_instance *in, int64_t now)
{
	struct watch	*w = watch_get(d, dep->name);
	int64_t		 act, base, idle;
	char		*left, *lim;
	const char	*verb;

	/*
	 * Boot time is not idle time: a turn to ready seen by this daemon
	 * counts as activity. A route already ready when the daemon started
	 * does not: its idleness comes from state, so a restart (or a sleep)
	 * never resets the clock.
	 */
	if (!w->seen)
		w->seen = 1;
	else if (r->rstate == ROUTE_READY && !w->was_ready)
		w->ready_since = now;
	if (r->rstate != ROUTE_READY)
		w->ready_since = 0;
	w->was_ready = r->rstate == ROUTE_READY;
	act = watchdog_proxy_activity(d, dep->name);
	if (w->ready_since > act)
		act = w->ready_since;
	/*
	 * A GPU busy above idle_gpu_percent (as the provider last reported
	 * it) is use too: a batch job with no HTTP traffic is not idle.
	 */
	if (in->gpu_util >= 0 && in->gpu_util_at > act &&
	    in->gpu_util >= r->idle_gpu_percent && r->idle_gpu_percent > 0)
		act = in->gpu_util_at;
	if (act > dep->last_activity + 1 &&
	    state_deployment_touch(d->ctx->st, dep->id, act, NULL) == 0)
		dep->last_activity = act;
	if (dep->idle_timeout <= 0 || r->rstate != ROUTE_READY)
		return;
	base = dep->last_activity;
	if (in->created_at > base)
		base = in->created_at;
	if (dep->keep_until > base)
		base = dep->keep_until;
	idle = now - base;
	if (idle < dep->idle_timeout * 8 / 10) {
		w->warned = 0;
		return;
	}
	lim = format_duration(dep->idle_timeout);
	if (idle >= dep->idle_timeout)
		watchdog_job(d, dep, watchdog_idle_cmd(dep, in), "idle", lim);
	else if (!w->warned) {
		w->warned = 1;
		left = format_duration(dep->idle_timeout - idle);
		verb = strcmp(watchdog_idle_cmd(dep, in), "stop") == 0 ?
		    "stopping" : "terminating";
		log_warn("%s: idle for 80%% of %s: %s in %s unless used (or "
		    "`fleet keep %s`)", dep->name, lim, verb, left, dep->name);
		state_event(d->ctx->st, dep->name, "idle-warning", "idle for "
		    "80%% of %s; %s in %s", lim, verb, left);
		free(left);
	}
	free(lim);
}

static void
watchdog_lifetime(struct daemon *d, const struct st_deployment *dep,
    const struct st_instance *in, int64_t now)
{
	char	*lim;

	if (dep->max_lifetime <= 0 || now - in->created_at < dep->max_lifetime)
		return;
	lim = format_duration(dep->max_lifetime);
	watchdog_act(d, dep, "lifetime", lim);
	free(lim);
}

/*
 * The circuit breaker: once today's (or this month's) spend reaches its
 * cap, every billing deployment is terminated, most expensive first.
 * budget.c decides, from the ledger, the same way ls, cost and up do.
 */
static int
watchdog_budget(struct daemon *d, int64_t now, char **why)
{
	const struct budget_period	*p;
	struct budget			 b;
	char				*cap, *spent, *opens;

	budget_read(d->ctx->st, d->ctx->conf, now, &b);
	if ((p = budget_tripped(&b)) == NULL)
		return (0);
	cap = format_money(p->cap);
	spent = format_money(p->spent);
	opens = format_time(p->opens);
	*why = xprintf("%s budget %s reached (spent %s %s); new launches "
	    "open at %s", p->name, cap, spent, p->span, opens);
	free(opens);
	free(spent);
	free(cap);
	return (1);
}

static int
watchdog_by_price(const void *a, const void *b)
{
	const struct daemon_route	*x = a, *y = b;

	return (x->price < y->price ? 1 : x->price > y->price ? -1 : 0);
}

static void
watchdog_breaker(struct daemon *d, const char *why)
{
	struct daemon_route	*order;
	struct st_deployment	 dep;
	size_t			 i;

	if (!d->breaker) {
		log_error("budget breaker: %s: terminating every billing "
		    "deployment, most expensive first; new `fleet up` is "
		    "refused", why);
		state_event(d->ctx->st, NULL, "budget", "%s", why);
	}
	d->breaker = 1;
	order = xcalloc(d->nroutes > 0 ? d->nroutes : 1, sizeof *order);
	memcpy(order, d->routes, d->nroutes * sizeof *order);
	qsort(order, d->nroutes, sizeof *order, watchdog_by_price);
	for (i = 0; i < d->nroutes; i++) {
		if (order[i].price <= 0 || order[i].rstate == ROUTE_DOWN)
			continue;
		if (state_deployment_get(d->ctx->st, order[i].name, &dep,
		    NULL) == 1)
			watchdog_act(d, &dep, "budget", why);
		st_deployment_clear(&dep);
	}
	free(order);
}

/* One sweep over every deployment that wants to be up. */
void
watchdog_sweep(struct daemon *d)
{
	struct st_deployment	 dep;
	struct st_instance	 in;
	int64_t			 now = now_wall();
	char			*why = NULL;
	size_t			 i;

	if (watchdog_budget(d, now, &why)) {
		watchdog_breaker(d, why);
		free(why);
	} else
		d->breaker = 0;
	for (i = 0; i < d->nroutes; i++) {
		if (state_deployment_get(d->ctx->st, d->routes[i].name, &dep,
		    NULL) != 1)
			continue;
		if (state_instance_current(d->ctx->st, dep.id, &in, NULL) == 1 &&
		    inst_state_bills(in.state)) {
			watchdog_idle(d, &d->routes[i], &dep, &in, now);
			watchdog_lifetime(d, &dep, &in, now);
		}
		st_instance_clear(&in);
		st_deployment_clear(&dep);
	}
}
