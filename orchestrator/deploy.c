/* deploy.c: provider work shared by `up`, `down` and the daemon's jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "driver.h"
#include "ssh.h"
#include "state.h"

/* Find a provider's driver and build its context (key, base URL). */
int
deploy_driver(struct cmd_ctx *ctx, const char *provider,
    const struct fleet_driver **drv, struct drv_ctx *dctx, char **cause)
{
	const struct fleet_driver	**d;
	char				*known = NULL, *tmp;

	if ((*drv = driver_find(provider)) == NULL) {
		for (d = driver_table; *d != NULL; d++) {
			tmp = known;
			known = xprintf("%s%s%s", tmp != NULL ? tmp : "",
			    tmp != NULL ? ", " : "", (*d)->name);
			free(tmp);
		}
		*cause = xprintf("unknown provider '%s' (this build has: %s)",
		    provider, known);
		free(known);
		return (-1);
	}
	return (driver_ctx_init(dctx, *drv, ctx->conf, ctx->state_dir,
	    cause));
}

/*
 * An instance whose create call never returned (fleet was killed) has no
 * provider id yet: look it up by its label in the provider's list.
 * Returns 1 resolved, 0 the provider has no such instance, -1 error.
 */
int
deploy_resolve_id(struct cmd_ctx *ctx, struct st_instance *in, char **cause)
{
	const struct fleet_driver	*drv;
	struct drv_ctx			 dctx;
	struct drv_instance		*list;
	struct drv_error		 err;
	size_t				 n, i;
	int				 found = 0;

	if (in->provider_id != NULL)
		return (1);
	if (deploy_driver(ctx, in->provider, &drv, &dctx, cause) != 0)
		return (-1);
	memset(&err, 0, sizeof err);
	if (drv->list(&dctx, &list, &n, &err) != 0) {
		*cause = xprintf("%s: list: %s", drv->name, err.message);
		return (-1);
	}
	for (i = 0; i < n && !found; i++) {
		if (list[i].name == NULL || strcmp(list[i].name, in->label) != 0)
			continue;
		in->provider_id = xstrdup(list[i].id);
		found = 1;
	}
	drv_instance_list_free(list, n);
	if (found && state_instance_set_provider_id(ctx->st, in->id,
	    in->provider_id, cause) != 0)
		return (-1);
	return (found);
}

/*
 * No provider lists the row's label: its create never happened, or is
 * still in flight. Give the row up, unless the `fleet up` that sent the
 * create recorded an id meanwhile; then that instance is to terminate.
 * Returns 0 given up (or already ended), 1 with in->provider_id to
 * terminate, -1 error.
 */
static int
deploy_give_up(struct cmd_ctx *ctx, struct st_instance *in, char **cause)
{
	struct st_instance	now;
	int			r;

	if ((r = state_instance_give_up(ctx->st, in->id, cause)) != 0)
		return (r == 1 ? 0 : -1);
	if (state_instance_by_label(ctx->st, in->label, &now, cause) != 1)
		return (-1);
	r = 0;
	if (now.ended_at == 0 && now.provider_id != NULL) {
		in->provider_id = xstrdup(now.provider_id);
		r = 1;
	}
	st_instance_clear(&now);
	return (r);
}

/*
 * The provider call of deploy_terminate, between two state writes: first
 * "stopping" (billing closed), and if that cannot be written, no call at
 * all: an instance killed but recorded running would bill on in fleet's
 * books forever. A terminate that fails leaves it stopping, billing.
 */
static int
deploy_terminate_call(struct cmd_ctx *ctx, const struct st_deployment *dep,
    const struct fleet_driver *drv, const struct drv_ctx *dctx,
    struct st_instance *in, char **cause)
{
	struct drv_error	 err;
	char			*why = NULL;

	state_test_fail(ctx->st, "before-terminate");
	if (state_instance_terminating(ctx->st, in->id, &why) != 0) {
		*cause = xprintf("cannot record that %s is stopping (%s), so "
		    "it was not terminated; it still runs and bills: make "
		    "room, then `fleet down %s` again", in->provider_id, why,
		    dep->name);
		free(why);
		return (-1);
	}
	memset(&err, 0, sizeof err);
	if (drv->terminate(dctx, in->provider_id, &err) != 0 &&
	    err.kind != DRV_ERR_NOT_FOUND) {
		*cause = xprintf("%s: terminate %s: %s (%s)", drv->name,
		    in->provider_id, err.message, drv_err_name(err.kind));
		/* Still stopping as before, but billing again: it runs. */
		state_instance_set_state(ctx->st, in->id, INST_STOPPING, NULL);
		state_event(ctx->st, dep->name, "terminate-failed", "%s",
		    *cause);
		return (-1);
	}
	state_test_fail(ctx->st, "after-terminate");
	return (0);
}

/*
 * Terminate an instance at its provider and record it. Safe to repeat:
 * a provider that no longer knows the instance counts as terminated.
 */
int
deploy_terminate(struct cmd_ctx *ctx, const struct st_deployment *dep,
    struct st_instance *in, const char *reason, char **cause)
{
	const struct fleet_driver	*drv;
	struct drv_ctx			 dctx;
	char				*why = NULL;
	int				 r;

	if (deploy_driver(ctx, in->provider, &drv, &dctx, cause) != 0)
		return (-1);
	if ((r = deploy_resolve_id(ctx, in, cause)) == 0)
		r = deploy_give_up(ctx, in, cause);
	if (r == -1)
		return (-1);
	if (r == 1 && deploy_terminate_call(ctx, dep, drv, &dctx, in,
	    cause) != 0)
		return (-1);
	if (state_instance_set_state(ctx->st, in->id, INST_TERMINATED,
	    &why) != 0) {
		if (r != 1) {
			*cause = why;
			return (-1);
		}
		*cause = xprintf("terminated %s, but could not record it (%s): "
		    "its record says stopping and no longer bills; `fleet "
		    "down %s` again or `fleet reconcile` finishes it",
		    in->provider_id, why, dep->name);
		free(why);
		return (-1);
	}
	state_event(ctx->st, dep->name, "terminated", "%s %s (%s)",
	    in->provider, in->provider_id != NULL ? in->provider_id :
	    in->label, reason != NULL ? reason : "user");
	return (0);
}

/* The deployment's stable URL: the proxy's bind address and its port. */
char *
deploy_stable_url(struct cmd_ctx *ctx, const struct st_deployment *dep)
{
	const char	*bind = ctx->conf->proxy.bind;

	if (bind == NULL || strcmp(bind, "0.0.0.0") == 0)
		bind = "127.0.0.1";
	return (xprintf("http://%s:%d", bind, dep->stable_port));
}

/*
 * Seconds until the watchdog acts on this deployment (idle or lifetime,
 * whichever comes first), or -1 when neither applies. `why` names it.
 */
int64_t
deploy_kill_in(const struct st_deployment *d, const struct st_instance *in,
    int64_t now, const char **why)
{
	int64_t	base, left = INT64_MAX, t;

	*why = "-";
	if (!inst_state_bills(in->state))
		return (-1);
	if (d->idle_timeout > 0) {
		base = d->last_activity > in->created_at ? d->last_activity :
		    in->created_at;
		if (d->keep_until > base)
			base = d->keep_until;
		left = base + d->idle_timeout - now;
		*why = "idle";
	}
	if (d->max_lifetime > 0 &&
	    (t = in->created_at + d->max_lifetime - now) < left) {
		left = t;
		*why = "lifetime";
	}
	if (left == INT64_MAX)
		return (-1);
	return (left > 0 ? left : 0);
}

/* Copy what the driver reports (upstream, price, ssh, state) into state. */
int
deploy_record(struct cmd_ctx *ctx, const struct fleet_template *t,
    struct st_instance *in, const struct drv_instance *di, char **cause)
{
	free(in->gpu);
	in->gpu = drv_gpu_name(di->gpu, 0);
	in->price_per_hour = di->price_per_hour;
	in->stopped_price = di->stopped_price_per_hour;
	free(in->upstream);
	in->upstream = drv_instance_upstream(di, t);
	free(in->ssh_host);
	in->ssh_host = di->ssh_host != NULL ? xstrdup(di->ssh_host) : NULL;
	in->ssh_port = di->ssh_port;
	if (state_instance_update(ctx->st, in, cause) != 0)
		return (-1);
	if (in->state != di->state) {
		if (state_instance_set_state(ctx->st, in->id, di->state,
		    cause) != 0)
			return (-1);
		in->state = di->state;
	}
	return (0);
}

/* The daemon's local end of a tunnelled upstream: scheme://127.0.0.1:N. */
static char *
deploy_tunnel_url(struct cmd_ctx *ctx, const struct st_instance *in,
    char **cause)
{
	cJSON		*req, *reply = NULL;
	const cJSON	*ok, *url, *err;
	char		*out = NULL;

	if (control_ensure_daemon(ctx, cause) != 0)
		return (NULL);
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "forward");
	cJSON_AddNumberToObject(req, "instance", (double)in->id);
	control_add_keys(ctx, req);
	if (control_request(ctx->state_dir, req, &reply, 5000, cause) == 0) {
		ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
		url = cJSON_GetObjectItemCaseSensitive(reply, "url");
		err = cJSON_GetObjectItemCaseSensitive(reply, "error");
		if (cJSON_IsTrue(ok) && cJSON_IsString(url))
			out = xstrdup(url->valuestring);
		else
			*cause = xprintf("ssh tunnel: %s", cJSON_IsString(err) ?
			    err->valuestring : "the daemon gave no port");
	}
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return (out);
}

/*
 * One readiness probe of an instance: over ssh for an ssh check, else
 * against its upstream (through the daemon's tunnel when it is one).
 */
int
deploy_probe(struct cmd_ctx *ctx, const struct fleet_template *t,
    const struct st_instance *in, char **cause)
{
	struct ssh_sess	*ss;
	char		*scheme, *host, *url, *out = NULL;
	int		 port, rc, status = -1;

	if (t->health.kind == HEALTH_SSH) {
		if ((ss = ssh_open_instance(ctx->conf, ctx->state_dir, in,
		    cause)) == NULL)
			return (-1);
		rc = ssh_run(ss, t->health.command, t->health.timeout * 1000,
		    &out, 256, &status, cause);
		ssh_close(ss);
		if (rc == 0 && status != 0)
			*cause = xprintf("ssh check `%s` exited %d%s%.80s",
			    t->health.command, status, *out != '\0' ?
			    ": " : "", out);
		free(out);
		return (rc == 0 && status == 0 ? 0 : -1);
	}
	if (in->upstream == NULL) {
		*cause = xstrdup("no upstream yet");
		return (-1);
	}
	if ((rc = ssh_tunnel_parse(in->upstream, &scheme, &host, &port)) ==
	    0)
		return (health_probe(t, in->upstream, cause));
	if (rc == -1) {
		*cause = xprintf("bad upstream %s", in->upstream);
		return (-1);
	}
	free(scheme);
	free(host);
	if ((url = deploy_tunnel_url(ctx, in, cause)) == NULL)
		return (-1);
	rc = health_probe(t, url, cause);
	free(url);
	return (rc);
}
