/* reconcile.c: provider truth vs state: adopt, follow, re-create, orphans. */
#include <sys/file.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "state.h"
#include "reconcile.h"

#define RC_LOCK_FILE	"reconcile.lock"
#define RC_LOCK_WAIT_MS	30000	/* then give up: another pass runs */

/* One pass: the state snapshot it works from and what it decided. */
struct rc_pass {
	struct cmd_ctx		*ctx;
	int			 flags;
	struct rc_report	*rep;
	struct st_deployment	*deps;
	int			 ndeps;
	struct st_instance	*alive;
	int			 nalive;
	char		       **recreate;	/* deployment names */
	size_t			 nrecreate;
	int64_t			 now;
};

static void
rc_action(struct rc_report *rep, int error, const char *kind,
    const char *deployment, const char *provider, const char *instance,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Append one action to the report. */
static void
rc_action(struct rc_report *rep, int error, const char *kind,
    const char *deployment, const char *provider, const char *instance,
    const char *fmt, ...)
{
	struct rc_action	*a;
	va_list			 ap;

	rep->actions = xreallocarray(rep->actions, rep->nactions + 1,
	    sizeof *rep->actions);
	a = &rep->actions[rep->nactions++];
	a->kind = xstrdup(kind);
	a->deployment = deployment != NULL ? xstrdup(deployment) : NULL;
	a->provider = provider != NULL ? xstrdup(provider) : NULL;
	a->instance = instance != NULL ? xstrdup(instance) : NULL;
	va_start(ap, fmt);
	xvasprintf(&a->message, fmt, ap);
	va_end(ap);
	a->error = error;
	if (error)
		rep->failed++;
}

static struct rc_provider *
rc_provider_add(struct rc_report *rep, const char *name)
{
	struct rc_provider	*p;

	rep->providers = xreallocarray(rep->providers, rep->nproviders + 1,
	    sizeof *rep->providers);
	p = &rep->providers[rep->nproviders++];
	memset(p, 0, sizeof *p);
	p->name = xstrdup(name);
	return (p);
}

void
reconcile_report_free(struct rc_report *rep)
{
	size_t	i;

	for (i = 0; i < rep->nproviders; i++) {
		free(rep->providers[i].name);
		free(rep->providers[i].error);
	}
	for (i = 0; i < rep->nactions; i++) {
		free(rep->actions[i].kind);
		free(rep->actions[i].deployment);
		free(rep->actions[i].provider);
		free(rep->actions[i].instance);
		free(rep->actions[i].message);
	}
	for (i = 0; i < rep->norphans; i++) {
		free(rep->orphans[i].provider);
		free(rep->orphans[i].id);
		free(rep->orphans[i].label);
		free(rep->orphans[i].gpu);
		free(rep->orphans[i].error);
	}
	free(rep->providers);
	free(rep->actions);
	free(rep->orphans);
	memset(rep, 0, sizeof *rep);
}

/*
 * One reconcile or reap at a time per state dir: two passes that both saw
 * a vanished instance would each start a `fleet up`. Waits a bounded time;
 * returns the lock's fd, or -1 with a cause.
 */
int
reconcile_lock(struct cmd_ctx *ctx, char **cause)
{
	struct timespec	 ts = { 0, 100 * 1000000L };
	char		*path;
	int		 fd, waited = 0;

	path = xprintf("%s/%s", ctx->state_dir, RC_LOCK_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		*cause = xprintf("%s: %s", path, strerror(errno));
		free(path);
		return (-1);
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			*cause = xprintf("lock %s: %s", path, strerror(errno));
			goto fail;
		}
		if (waited >= RC_LOCK_WAIT_MS) {
			*cause = xprintf("another reconcile or reap holds %s",
			    path);
			goto fail;
		}
		nanosleep(&ts, NULL);
		waited += 100;
	}
	free(path);
	return (fd);
fail:
	close(fd);
	free(path);
	return (-1);
}

void
reconcile_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* drops the flock */
}

static struct st_deployment *
rc_deployment(struct rc_pass *p, int64_t id)
{
	int	i;

	for (i = 0; i < p->ndeps; i++)
		if (p->deps[i].id == id)
			return (&p->deps[i]);
	return (NULL);
}

static int
rc_wants_up(const struct st_deployment *dep)
{
	return (dep != NULL && dep->desired != NULL &&
	    strcmp(dep->desired, "up") == 0);
}

static const char *
rc_name(const struct st_instance *in)
{
	return (in->provider_id != NULL ? in->provider_id : in->label);
}

/*
 * Does state track this provider instance as alive? Read fresh, not from
 * the pass's snapshot: a `fleet up` may have written its intent since.
 * Returns 1 tracked, 0 not, -1 error (treat as tracked: never reap on
 * doubt).
 */
static int
rc_tracked(struct cmd_ctx *ctx, const char *provider, const char *id,
    const char *label)
{
	struct st_instance	in;
	int			r, tracked;

	if (label == NULL)
		return (0);
	if ((r = state_instance_by_label(ctx->st, label, &in, NULL)) != 1)
		return (r);
	tracked = in.ended_at == 0 && strcmp(in.provider, provider) == 0 &&
	    (in.provider_id == NULL || strcmp(in.provider_id, id) == 0);
	st_instance_clear(&in);
	return (tracked);
}

/* The listed instance that is this row: by provider id, else by label. */
static ssize_t
rc_match(const struct st_instance *in, const struct drv_instance *list,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (in->provider_id != NULL) {
			if (list[i].id != NULL &&
			    strcmp(list[i].id, in->provider_id) == 0)
				return ((ssize_t)i);
		} else if (list[i].name != NULL &&
		    strcmp(list[i].name, in->label) == 0 &&
		    list[i].state != INST_TERMINATED)
			return ((ssize_t)i);
	}
	return (-1);
}

static void
rc_recreate_add(struct rc_pass *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->nrecreate; i++)
		if (strcmp(p->recreate[i], name) == 0)
			return;
	p->recreate = xreallocarray(p->recreate, p->nrecreate + 1,
	    sizeof *p->recreate);
	p->recreate[p->nrecreate++] = xstrdup(name);
}

/* Does the deployment's template arm a dead-man switch? */
static int
rc_deadman(struct rc_pass *p, const struct st_deployment *dep)
{
	struct fleet_template	*t;
	char			*cause = NULL;
	int			 armed;

	if ((t = template_find(p->ctx->conf, dep->template_name,
	    &cause)) == NULL) {
		free(cause);
		return (0);
	}
	armed = t->deadman_timeout > 0;
	template_free(t);
	return (armed);
}

/* What brings a deployment back: `fleet up NAME`, or with --name. */
static char *
rc_up_hint(const struct st_deployment *dep)
{
	if (strcmp(dep->name, dep->template_name) == 0)
		return (xprintf("fleet up %s", dep->name));
	return (xprintf("fleet up %s --name %s", dep->template_name,
	    dep->name));
}

enum rc_verdict
reconcile_vanish_verdict(const struct rc_recreates *rr)
{
	if (rr->on_vanish == VANISH_DOWN)
		return (RC_VERDICT_POLICY);
	if (rr->count >= rr->max)
		return (RC_VERDICT_LIMIT);
	return (RC_VERDICT_RECREATE);
}

/*
 * Re-creations of the deployment in the window ending now, with its
 * template's on_vanish and max_recreates (the template table's defaults
 * when the template is gone). 0, or -1 when the log could not be read
 * (count 0 then: the caller decides what doubt means).
 */
int
reconcile_recreates(struct cmd_ctx *ctx, const struct st_deployment *dep,
    int64_t now, struct rc_recreates *rr)
{
	struct fleet_template	*t = NULL;
	char			*cause = NULL;

	memset(rr, 0, sizeof *rr);
	rr->on_vanish = VANISH_RECREATE;
	rr->max = 3;	/* as template.c's table says */
	if (ctx->conf != NULL && (t = template_find(ctx->conf,
	    dep->template_name, &cause)) != NULL) {
		rr->on_vanish = t->on_vanish;
		rr->max = t->max_recreates;
		rr->known = 1;
		template_free(t);
	}
	free(cause);
	rr->count = state_event_count(ctx->st, dep->name, "recreate",
	    now - RC_RECREATE_WINDOW, NULL);
	if (rr->count < 0) {
		rr->count = 0;
		return (-1);
	}
	return (0);
}

/*
 * Was the deployment taken down on a vanish (the limit or on_vanish:
 * down) in the window, and not brought back since? Then *why is the
 * event's message, the caller's. Returns 1 or 0.
 */
int
reconcile_taken_down(struct cmd_ctx *ctx, const struct st_deployment *dep,
    int64_t now, char **why)
{
	struct st_event	down, created;
	int		r;

	memset(&created, 0, sizeof created);
	*why = NULL;
	if (strcmp(dep->desired, "down") != 0 || state_event_last(ctx->st,
	    dep->name, "vanish-down", &down, NULL) != 1)
		return (0);
	r = down.ts >= now - RC_RECREATE_WINDOW;
	if (r && state_event_last(ctx->st, dep->name, "created", &created,
	    NULL) == 1 && created.id > down.id)
		r = 0;
	if (r) {
		*why = down.message;
		down.message = NULL;
	}
	st_event_clear(&created);
	st_event_clear(&down);
	return (r);
}

/*
 * Bounded re-creation: under on_vanish: down, or once max_recreates were
 * used in the window, the deployment goes down instead. An instance the
 * user ended in the provider's console stays ended, and a host that keeps
 * losing it stops costing a boot each time. Returns 1 when it went down
 * (or the attempt was reported), 0 to re-create.
 */
static int
rc_vanish_down(struct rc_pass *p, const struct st_deployment *dep,
    const struct st_instance *in, const char *why)
{
	struct rc_recreates	 rr;
	enum rc_verdict		 v = RC_VERDICT_LIMIT;
	char			*reason, *again, *cause = NULL;

	/* Doubt about the count means down: never rent on a guess. */
	if (reconcile_recreates(p->ctx, dep, p->now, &rr) != 0)
		reason = xstrdup("not re-created: its re-creations could not "
		    "be counted");
	else if ((v = reconcile_vanish_verdict(&rr)) == RC_VERDICT_RECREATE)
		return (0);
	else if (v == RC_VERDICT_POLICY)
		reason = xstrdup("not re-created (on_vanish: down)");
	else if (rr.max == 0)
		reason = xstrdup("not re-created (max_recreates: 0)");
	else
		reason = xprintf("re-created %d time%s in 24h (max_recreates: "
		    "%d)", rr.count, rr.count == 1 ? "" : "s", rr.max);
	again = rc_up_hint(dep);
	if (state_deployment_set_desired(p->ctx->st, dep->id, "down",
	    &cause) != 0) {
		rc_action(p->rep, 1, "state-error", dep->name, in->provider,
		    rc_name(in), "%s", cause);
		free(cause);
	} else {
		state_event(p->ctx->st, dep->name, "vanish-down", "%s; taken "
		    "down: `%s` brings it back", reason, again);
		rc_action(p->rep, 0, "vanished", dep->name, in->provider,
		    rc_name(in), "%s; %s; taken down: `%s` brings it back",
		    why, reason, again);
	}
	free(again);
	free(reason);
	return (1);
}

/*
 * The instance is gone at its provider (not listed and get says not
 * found, or listed as terminated/failed): record it, and queue a
 * re-create when the deployment wants to be up.
 */
static void
rc_gone(struct rc_pass *p, const struct st_deployment *dep,
    struct st_instance *in, enum inst_state ns, const char *why)
{
	struct rc_report	*rep = p->rep;
	struct st_instance	 now;
	struct st_deployment	 fresh;
	char			*cause = NULL;
	int			 up = rc_wants_up(dep), moved;

	/*
	 * A `fleet down` (or up) running right now changes the row while we
	 * look: if it moved since this pass read it, it is not ours to judge.
	 */
	moved = state_instance_by_label(p->ctx->st, in->label, &now,
	    NULL) != 1 || now.state != in->state ||
	    now.updated_at != in->updated_at;
	st_instance_clear(&now);
	if (!moved && state_deployment_get(p->ctx->st, dep->name, &fresh,
	    NULL) == 1) {
		moved = strcmp(fresh.desired, dep->desired) != 0;
		st_deployment_clear(&fresh);
	}
	if (moved) {
		rc_action(rep, 0, "skipped", dep->name, in->provider,
		    rc_name(in), "changed while reconciling (a fleet command "
		    "is acting on it); next pass");
		return;
	}
	if (up && !(p->flags & RC_RECREATE)) {
		rc_action(rep, 0, "vanished", dep->name, in->provider,
		    rc_name(in), "%s; not re-created (--no-recreate), state "
		    "left as is", why);
		return;
	}
	if (state_instance_set_state(p->ctx->st, in->id, ns, &cause) != 0) {
		rc_action(rep, 1, "state-error", dep->name, in->provider,
		    rc_name(in), "%s", cause);
		free(cause);
		return;
	}
	p->rep->changed = 1;
	state_event(p->ctx->st, dep->name, "vanished", "%s %s %s", in->provider,
	    rc_name(in), why);
	if (up && rc_deadman(p, dep)) {
		/*
		 * Its dead-man switch most likely ended it while no daemon
		 * was heard: bringing it back unasked would rent again
		 * exactly when nobody watches. The user says when.
		 */
		if (state_deployment_set_desired(p->ctx->st, dep->id, "down",
		    &cause) != 0) {
			rc_action(rep, 1, "state-error", dep->name,
			    in->provider, rc_name(in), "%s", cause);
			free(cause);
			return;
		}
		state_event(p->ctx->st, dep->name, "deadman", "not re-created: "
		    "its template has deadman_timeout and the instance ended; "
		    "`fleet up %s` brings it back", dep->name);
		rc_action(rep, 0, "vanished", dep->name, in->provider,
		    rc_name(in), "%s; not re-created (deadman_timeout: it may "
		    "have ended itself); fleet up %s brings it back", why,
		    dep->name);
		return;
	}
	if (up && rc_vanish_down(p, dep, in, why))
		return;
	rc_action(rep, 0, "vanished", dep->name, in->provider, rc_name(in),
	    "%s%s", why, up ? "; re-creating" : "");
	if (up)
		rc_recreate_add(p, dep->name);
}

/* Alive while the deployment is wanted down: terminate again. */
static void
rc_finish_terminate(struct rc_pass *p, const struct st_deployment *dep,
    struct st_instance *in)
{
	char	*cause = NULL;

	if (deploy_terminate(p->ctx, dep, in, "reconcile: interrupted "
	    "terminate finished", &cause) != 0) {
		rc_action(p->rep, 1, "terminate-failed", dep->name,
		    in->provider, rc_name(in), "%s", cause);
		free(cause);
		return;
	}
	p->rep->changed = 1;
	rc_action(p->rep, 0, "terminated", dep->name, in->provider,
	    rc_name(in), "finished an interrupted terminate");
}

/* Copy what the provider reports (upstream, price, ssh, gpu) into state. */
static void
rc_follow(struct rc_pass *p, const struct st_deployment *dep,
    struct st_instance *in, const struct drv_instance *di)
{
	struct fleet_template	*t;
	char			*cause = NULL, *up = NULL;
	int			 dirty = 0;

	if ((t = template_find(p->ctx->conf, dep->template_name,
	    &cause)) != NULL) {
		up = drv_instance_upstream(di, t);
		template_free(t);
	} else {
		log_warn("%s: cannot recompute the upstream: %s", dep->name,
		    cause);
		free(cause);
		cause = NULL;
	}
	/* No endpoint yet (booting, stopped): keep the last known one. */
	if (up != NULL && (in->upstream == NULL ||
	    strcmp(up, in->upstream) != 0)) {
		state_event(p->ctx->st, dep->name, "upstream-changed",
		    "upstream changed %s -> %s", in->upstream != NULL ?
		    in->upstream : "none", up);
		rc_action(p->rep, 0, "upstream", dep->name, in->provider,
		    rc_name(in), "upstream changed %s -> %s", in->upstream !=
		    NULL ? in->upstream : "none", up);
		free(in->upstream);
		in->upstream = up;
		up = NULL;
		dirty = 1;
	}
	free(up);
	/* The provider's GPU utilisation: the watchdog reads the sample. */
	if (di->has_gpu_util)
		state_instance_set_gpu_util(p->ctx->st, in->id, di->gpu_util,
		    now_wall(), NULL);
	if (fabs(di->stopped_price_per_hour - in->stopped_price) > 1e-9) {
		in->stopped_price = di->stopped_price_per_hour;
		dirty = 1;
	}
	if (di->price_per_hour > 0 &&
	    fabs(di->price_per_hour - in->price_per_hour) > 1e-9) {
		char	m0[MONEY_BUFSZ], m1[MONEY_BUFSZ];

		rc_action(p->rep, 0, "price", dep->name, in->provider,
		    rc_name(in), "price changed %s/h -> %s/h",
		    money_fmt(m0, in->price_per_hour), money_fmt(m1,
		    di->price_per_hour));
		in->price_per_hour = di->price_per_hour;
		dirty = 1;
	}
	if (di->ssh_host != NULL && (in->ssh_host == NULL ||
	    strcmp(di->ssh_host, in->ssh_host) != 0 ||
	    di->ssh_port != in->ssh_port)) {
		free(in->ssh_host);
		in->ssh_host = xstrdup(di->ssh_host);
		in->ssh_port = di->ssh_port;
		dirty = 1;
	}
	if (in->gpu == NULL && di->gpu != NULL) {
		in->gpu = drv_gpu_name(di->gpu, 0);
		dirty = 1;
	}
	if (dirty) {
		if (state_instance_update(p->ctx->st, in, &cause) != 0) {
			rc_action(p->rep, 1, "state-error", dep->name,
			    in->provider, rc_name(in), "%s", cause);
			free(cause);
			return;
		}
		p->rep->changed = 1;
	}
}

/* A row the provider knows: finish a terminate, or follow the provider. */
static void
rc_sync(struct rc_pass *p, const struct st_deployment *dep,
    struct st_instance *in, const struct drv_instance *di)
{
	enum inst_state	 old = in->state;
	char		*cause = NULL;

	/*
	 * Wanted down yet alive at the provider: a terminate was cut short
	 * (fleet down killed between recording "down" and the provider
	 * call, or mid-call). Finish it: nothing bills against the user's
	 * wish.
	 */
	if (!rc_wants_up(dep) && di->state != INST_TERMINATED &&
	    di->state != INST_FAILED) {
		rc_finish_terminate(p, dep, in);
		return;
	}
	if (di->state == INST_TERMINATED || di->state == INST_FAILED) {
		rc_gone(p, dep, in, di->state, di->state == INST_FAILED ?
		    "failed at provider" : "terminated at provider");
		return;
	}
	rc_follow(p, dep, in, di);
	if (di->state == old || di->state == INST_UNKNOWN)
		return;
	if (state_instance_set_state(p->ctx->st, in->id, di->state,
	    &cause) != 0) {
		rc_action(p->rep, 1, "state-error", dep->name, in->provider,
		    rc_name(in), "%s", cause);
		free(cause);
		return;
	}
	in->state = di->state;
	p->rep->changed = 1;
	state_event(p->ctx->st, dep->name, "state", "%s %s: %s -> %s at "
	    "provider", in->provider, rc_name(in), inst_state_name(old),
	    inst_state_name(di->state));
	rc_action(p->rep, 0, "state", dep->name, in->provider, rc_name(in),
	    "%s -> %s", inst_state_name(old), inst_state_name(di->state));
}

/* An intent row (no provider id): adopt it by label, or fail it when old. */
static int
rc_intent(struct rc_pass *p, const struct st_deployment *dep,
    struct st_instance *in, const struct drv_instance *di)
{
	char	*cause = NULL;

	if (di != NULL) {
		/* 0: a `fleet down` gave the row up meanwhile (late create). */
		if (state_instance_claim(p->ctx->st, in->id, di->id,
		    &cause) != 1) {
			if (cause != NULL)
				rc_action(p->rep, 1, "state-error", dep->name,
				    in->provider, in->label, "%s", cause);
			free(cause);
			return (-1);
		}
		in->provider_id = xstrdup(di->id);
		p->rep->changed = 1;
		state_event(p->ctx->st, dep->name, "adopted", "%s %s found by "
		    "its label %s (its create was interrupted)", in->provider,
		    di->id, in->label);
		rc_action(p->rep, 0, "adopted", dep->name, in->provider,
		    di->id, "found by its label %s; provider id recorded",
		    in->label);
		return (0);
	}
	if (p->now - in->created_at < RC_INTENT_GRACE)
		return (-1);	/* a `fleet up` may be mid-create */
	if (state_instance_set_state(p->ctx->st, in->id, INST_FAILED,
	    &cause) != 0) {
		rc_action(p->rep, 1, "state-error", dep->name, in->provider,
		    in->label, "%s", cause);
		free(cause);
		return (-1);
	}
	p->rep->changed = 1;
	state_event(p->ctx->st, dep->name, "intent-failed", "%s %s: create "
	    "never reached the provider", in->provider, in->label);
	rc_action(p->rep, 0, "intent-failed", dep->name, in->provider,
	    in->label, "create never reached the provider; marked failed");
	return (-1);
}

/* One live row of this provider against its list (di NULL: not listed). */
static void
rc_instance(struct rc_pass *p, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, struct st_instance *in,
    const struct drv_instance *di)
{
	struct st_deployment	*dep = rc_deployment(p, in->deployment_id);
	struct drv_instance	 got;
	struct drv_error	 err;

	if (dep == NULL)
		return;		/* newer than the snapshot: its up owns it */
	if (in->provider_id == NULL && rc_intent(p, dep, in, di) != 0)
		return;
	if (di != NULL) {
		rc_sync(p, dep, in, di);
		return;
	}
	/* Not listed: believe "gone" only from get() itself. */
	memset(&err, 0, sizeof err);
	if (drv->get(dctx, in->provider_id, &got, &err) == 0) {
		rc_sync(p, dep, in, &got);
		drv_instance_clear(&got);
	} else if (err.kind == DRV_ERR_NOT_FOUND) {
		if (in->state == INST_STOPPING && !rc_wants_up(dep))
			rc_gone(p, dep, in, INST_TERMINATED, "gone at provider "
			    "(its terminate went through)");
		else
			rc_gone(p, dep, in, INST_TERMINATED,
			    "vanished at provider");
	} else
		rc_action(p->rep, 1, "get-failed", dep->name, in->provider,
		    in->provider_id, "%s (%s); left as is", err.message,
		    drv_err_name(err.kind));
}

static void
rc_orphan_add(struct rc_report *rep, const char *provider,
    const struct drv_instance *di)
{
	struct rc_orphan	*o;

	rep->orphans = xreallocarray(rep->orphans, rep->norphans + 1,
	    sizeof *rep->orphans);
	o = &rep->orphans[rep->norphans++];
	memset(o, 0, sizeof *o);
	o->provider = xstrdup(provider);
	o->id = xstrdup(di->id);
	o->label = di->name != NULL ? xstrdup(di->name) : NULL;
	o->gpu = di->gpu != NULL ? xstrdup(di->gpu) : NULL;
	o->state = di->state;
	o->price_per_hour = di->price_per_hour;
}

/*
 * A labelled instance whose row ended before any provider id was recorded
 * for it: the create was still in flight at the provider when `fleet down`
 * (finding nothing by label) or a failed create gave up on the row, and it
 * landed afterwards. The label was minted for that row alone and the row
 * is down, so the instance is fleet's to terminate, not an orphan waiting
 * for `fleet reap`. One created well before the row is not its create.
 * Returns 1 when the instance was this row's (terminated or tried).
 */
static int
rc_late_create(struct rc_pass *p, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, const struct drv_instance *di)
{
	struct st_instance	 in;
	struct drv_error	 err;
	char			*dep = NULL;
	int64_t			 iid;
	int			 ours;

	if (di->name == NULL || state_instance_by_label(p->ctx->st, di->name,
	    &in, NULL) != 1)
		return (0);
	ours = in.ended_at != 0 && strcmp(in.provider, drv->name) == 0 &&
	    (in.provider_id == NULL || strcmp(in.provider_id, di->id) == 0) &&
	    (di->created_at <= 0 || di->created_at >= in.created_at -
	    RC_LATE_SLACK);
	if (!ours || drv_label_parse(in.label, &dep, &iid) != 0) {
		st_instance_clear(&in);
		return (0);
	}
	if (in.provider_id == NULL)
		state_instance_set_provider_id(p->ctx->st, in.id, di->id, NULL);
	memset(&err, 0, sizeof err);
	if (drv->terminate(dctx, di->id, &err) != 0 &&
	    err.kind != DRV_ERR_NOT_FOUND)
		rc_action(p->rep, 1, "terminate-failed", dep, drv->name, di->id,
		    "%s: its create landed after its row was given up; "
		    "terminate: %s (%s)", in.label, err.message,
		    drv_err_name(err.kind));
	else {
		p->rep->changed = 1;
		state_event(p->ctx->st, dep, "terminated", "%s %s (%s): its "
		    "create landed after its row was given up", drv->name,
		    di->id, in.label);
		rc_action(p->rep, 0, "terminated", dep, drv->name, di->id,
		    "%s: its create landed after its row was given up; "
		    "terminated", in.label);
	}
	st_instance_clear(&in);
	free(dep);
	return (1);
}

/* List one provider, match its instances to state, collect orphans. */
static void
rc_provider(struct rc_pass *p, const struct fleet_driver *drv,
    const struct drv_ctx *dctx)
{
	struct rc_provider	*pr = rc_provider_add(p->rep, drv->name);
	struct drv_instance	*list;
	struct drv_error	 err;
	size_t			 n, k;
	ssize_t			 m;
	int			 i, *seen;

	memset(&err, 0, sizeof err);
	if (drv->list(dctx, &list, &n, &err) != 0) {
		pr->error = xprintf("list failed: %s (%s)", err.message,
		    drv_err_name(err.kind));
		rc_action(p->rep, 1, "list-failed", NULL, drv->name, NULL,
		    "%s; skipped, nothing changed for it", pr->error);
		return;
	}
	pr->ok = 1;
	pr->listed = (int)n;
	seen = xcalloc(n > 0 ? n : 1, sizeof *seen);
	for (i = 0; i < p->nalive; i++) {
		if (strcmp(p->alive[i].provider, drv->name) != 0)
			continue;
		if ((m = rc_match(&p->alive[i], list, n)) >= 0)
			seen[m] = 1;
		if (p->flags & RC_FIX)
			rc_instance(p, drv, dctx, &p->alive[i],
			    m >= 0 ? &list[m] : NULL);
	}
	for (k = 0; k < n; k++) {
		if (seen[k] || list[k].state == INST_TERMINATED ||
		    rc_tracked(p->ctx, drv->name, list[k].id,
		    list[k].name) != 0)
			continue;
		if ((p->flags & RC_FIX) &&
		    rc_late_create(p, drv, dctx, &list[k]))
			continue;
		rc_orphan_add(p->rep, drv->name, &list[k]);
	}
	free(seen);
	drv_instance_list_free(list, n);
}

/*
 * Run `fleet up TEMPLATE --name NAME` (same binary, same config and
 * policy) so offers and failover apply as for a user's up. Its stdout goes
 * to our stderr: under the daemon that is the daemon's log, and our own
 * stdout stays a clean report. Returns the child's exit code, -1 if it
 * could not run.
 */
static int
rc_spawn_up(struct cmd_ctx *ctx, const struct st_deployment *dep)
{
	char	*exe = self_exe(), *argv[16], *idle, *life;
	pid_t	 pid;
	int	 n = 0, status, v;

	idle = xprintf("%llds", (long long)dep->idle_timeout);
	life = xprintf("%llds", (long long)dep->max_lifetime);
	argv[n++] = exe;
	if (ctx->config_path != NULL) {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)ctx->config_path;
	}
	for (v = 0; v < ctx->verbosity && v < 2; v++)
		argv[n++] = (char *)"-v";
	argv[n++] = (char *)"up";
	argv[n++] = dep->template_name;
	argv[n++] = (char *)"--name";
	argv[n++] = dep->name;
	argv[n++] = (char *)"--idle";
	argv[n++] = dep->idle_timeout > 0 ? idle : (char *)"0";
	argv[n++] = (char *)"--max-lifetime";
	argv[n++] = dep->max_lifetime > 0 ? life : (char *)"0";
	argv[n++] = (char *)"--recreate";	/* never overrules a down */
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_warn("fork: %s", strerror(errno));
		status = -1;
		goto out;
	}
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(exe, argv);
		fprintf(stderr, "fleet reconcile: exec %s: %s\n", exe,
		    strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
out:
	free(idle);
	free(life);
	free(exe);
	return (status);
}

/* Re-create one vanished deployment and report what it got. */
static void
rc_recreate(struct rc_pass *p, const char *name)
{
	struct st_deployment	 dep;
	struct st_instance	 in;
	struct rc_recreates	 rr;
	char			*cause = NULL;
	int			 rc;

	if (state_deployment_get(p->ctx->st, name, &dep, &cause) != 1) {
		rc_action(p->rep, 1, "recreate-failed", name, NULL, NULL,
		    "%s", cause != NULL ? cause : "deployment is gone");
		free(cause);
		return;
	}
	/* Still wanted, and still nothing alive? A `fleet down` may have won. */
	if (strcmp(dep.desired, "up") != 0 ||
	    state_instance_current(p->ctx->st, dep.id, &in, NULL) != 0) {
		st_instance_clear(&in);
		rc_action(p->rep, 0, "skipped", name, NULL, NULL, "no longer "
		    "needs re-creating");
		st_deployment_clear(&dep);
		return;
	}
	reconcile_recreates(p->ctx, &dep, p->now, &rr);
	state_event(p->ctx->st, name, "recreate", "re-creating: fleet up %s "
	    "--name %s (%d of at most %d in 24h)", dep.template_name, name,
	    rr.count + 1, rr.max);
	rc = rc_spawn_up(p->ctx, &dep);
	p->rep->changed = 1;
	if (rc != 0) {
		state_event(p->ctx->st, name, "recreate-failed", "`fleet up` "
		    "exited %d", rc);
		rc_action(p->rep, 1, "recreate-failed", name, NULL, NULL,
		    "`fleet up %s --name %s` exited %d (its output is in "
		    "the log)", dep.template_name, name, rc);
	} else if (state_instance_current(p->ctx->st, dep.id, &in,
	    NULL) == 1) {
		rc_action(p->rep, 0, "recreated", name, in.provider,
		    rc_name(&in), "re-created, upstream %s", in.upstream !=
		    NULL ? in.upstream : "none");
		st_instance_clear(&in);
	} else
		rc_action(p->rep, 0, "recreated", name, NULL, NULL,
		    "re-created");
	st_deployment_clear(&dep);
}

/* Check every provider that has live rows in state or can be asked. */
static void
rc_providers(struct rc_pass *p)
{
	const struct fleet_driver	**d, *drv;
	struct drv_ctx			 dctx;
	char				*cause;
	int				 i, has;

	for (d = driver_table; *d != NULL; d++) {
		for (i = 0, has = 0; i < p->nalive; i++)
			has |= strcmp(p->alive[i].provider, (*d)->name) == 0;
		cause = NULL;
		if (deploy_driver(p->ctx, (*d)->name, &drv, &dctx,
		    &cause) != 0) {
			/* No key and nothing tracked there: not ours to ask. */
			if (has) {
				rc_provider_add(p->rep, (*d)->name)->error =
				    xstrdup(cause);
				rc_action(p->rep, 1, "provider-unusable", NULL,
				    (*d)->name, NULL, "%s; its instances in "
				    "state were not checked", cause);
			}
			free(cause);
			continue;
		}
		rc_provider(p, drv, &dctx);
	}
	for (i = 0; i < p->nalive; i++) {
		if (driver_find(p->alive[i].provider) == NULL)
			rc_action(p->rep, 1, "provider-unknown", NULL,
			    p->alive[i].provider, rc_name(&p->alive[i]),
			    "this build has no provider %s",
			    p->alive[i].provider);
	}
}

/*
 * One pass over every provider. RC_FIX writes provider truth into state
 * (reconcile); without it the pass only looks, and the report's orphans
 * are what `reap` may terminate. Returns 0 when the pass ran (problems
 * are in the report), -1 when state could not be read.
 */
int
reconcile_run(struct cmd_ctx *ctx, int flags, struct rc_report *rep)
{
	struct rc_pass	 p;
	char		*cause = NULL;
	size_t		 i;

	memset(rep, 0, sizeof *rep);
	memset(&p, 0, sizeof p);
	p.ctx = ctx;
	p.flags = flags;
	p.rep = rep;
	p.now = now_wall();
	/* Deployments first: an instance newer than this is someone's up. */
	if (state_deployment_list(ctx->st, &p.deps, &p.ndeps, &cause) != 0 ||
	    state_instance_list(ctx->st, 1, &p.alive, &p.nalive,
	    &cause) != 0) {
		rc_action(rep, 1, "state-error", NULL, NULL, NULL, "%s", cause);
		free(cause);
		st_deployment_list_free(p.deps, p.ndeps);
		return (-1);
	}
	rc_providers(&p);
	for (i = 0; i < p.nrecreate; i++) {
		rc_recreate(&p, p.recreate[i]);
		free(p.recreate[i]);
	}
	free(p.recreate);
	st_instance_list_free(p.alive, p.nalive);
	st_deployment_list_free(p.deps, p.ndeps);
	return (0);
}

/*
 * Terminate one orphan unless state tracks it by now (checked again just
 * before the call). Returns 0 terminated (or already gone), 1 left alone
 * (tracked now), -1 failed.
 */
int
reconcile_reap_one(struct cmd_ctx *ctx, struct rc_orphan *o)
{
	const struct fleet_driver	*drv;
	struct drv_ctx			 dctx;
	struct drv_error		 err;
	char				*cause = NULL, *dep = NULL;
	char				 m[MONEY_BUFSZ];
	int64_t				 iid;

	if (rc_tracked(ctx, o->provider, o->id, o->label) != 0) {
		o->error = xstrdup("state tracks it now; left alone");
		return (1);
	}
	if (deploy_driver(ctx, o->provider, &drv, &dctx, &cause) != 0) {
		o->error = cause;
		return (-1);
	}
	memset(&err, 0, sizeof err);
	if (drv->terminate(&dctx, o->id, &err) != 0 &&
	    err.kind != DRV_ERR_NOT_FOUND) {
		o->error = xprintf("terminate: %s (%s)", err.message,
		    drv_err_name(err.kind));
		return (-1);
	}
	o->terminated = 1;
	if (o->label == NULL || drv_label_parse(o->label, &dep, &iid) != 0)
		dep = NULL;
	state_event(ctx->st, dep, "reaped", "%s %s (%s, %s/h) terminated: "
	    "labelled but not tracked", o->provider, o->id, o->label != NULL ?
	    o->label : "no label", money_fmt(m, o->price_per_hour));
	free(dep);
	return (0);
}
