/* daemon-keys.c: the daemon's API keys, and the alarm when one is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "fleet.h"
#include "config.h"
#include "creds.h"
#include "daemon.h"
#include "driver.h"
#include "state.h"

/*
 * The daemon's jobs (`fleet down NAME --reason idle`, reconcile) inherit
 * its environment, so a key is "the daemon's" when it is in that
 * environment: from the daemon's own start, handed over by a CLI
 * (control "keys"), or exported here from the credentials file or the
 * provider CLI's file, at start and on SIGHUP. A key exported from a file
 * is looked up again on SIGHUP (so `fleet auth rm` takes effect); one the
 * environment gave is kept.
 */

/* Make room for every provider that takes a key, once. */
static void
daemon_keys_init(struct daemon *d)
{
	const struct fleet_driver	**dp;

	if (d->keys != NULL)
		return;
	for (dp = driver_table; *dp != NULL; dp++)
		if ((*dp)->flags & DRV_NEEDS_KEY)
			d->nkeys++;
	d->keys = xcalloc(d->nkeys > 0 ? d->nkeys : 1, sizeof *d->keys);
	d->nkeys = 0;
	for (dp = driver_table; *dp != NULL; dp++)
		if ((*dp)->flags & DRV_NEEDS_KEY)
			d->keys[d->nkeys++].drv = *dp;
}

static void
daemon_key_set(struct daemon_key *k, int src, const char *where,
    const char *error)
{
	free(k->where);
	free(k->error);
	k->src = src;
	k->where = where != NULL ? xstrdup(where) : NULL;
	k->error = error != NULL ? xstrdup(error) : NULL;
}

/* One provider: keep an env key, else (re)read the files. */
static void
daemon_key_load(struct daemon *d, struct daemon_key *k)
{
	const struct fleet_config	*c = d->ctx->conf;
	const char			*env = creds_env_name(k->drv, c);
	struct creds_key		 ck;
	char				*cause = NULL, *txt;
	int				 ours;

	ours = k->src == CREDS_FILE || k->src == CREDS_CLI;
	if (creds_lookup(k->drv, c, ours ? CREDS_SKIP_ENV : 0, &ck,
	    &cause) != 0) {
		/* Keep what the jobs have: a key in hand still guards. */
		log_error("keys: %s: %s", k->drv->name, cause);
		free(k->error);
		k->error = cause;
		return;
	}
	if (ck.source == CREDS_NONE && ours && env != NULL)
		unsetenv(env);	/* removed from its file since */
	else if (ck.source != CREDS_NONE && ck.source != CREDS_ENV &&
	    env != NULL)
		setenv(env, ck.key, 1);
	daemon_key_set(k, ck.source, ck.where, NULL);
	txt = creds_source_text(&ck);
	if (ck.source == CREDS_NONE)
		log_warn("keys: %s: no API key (not in %s, the credentials "
		    "file or its CLI's file): its instances cannot be "
		    "stopped by this daemon", k->drv->name,
		    env != NULL ? env : "the environment");
	else
		log_info("keys: %s: from %s", k->drv->name, txt);
	free(txt);
	creds_key_clear(&ck);
}

void
daemon_keys_load(struct daemon *d, const char *why)
{
	size_t	i;

	daemon_keys_init(d);
	log_info("keys: looking up the API keys (%s)", why);
	for (i = 0; i < d->nkeys; i++)
		daemon_key_load(d, &d->keys[i]);
}

/* A CLI handed over the variable env: it is the environment's now. */
void
daemon_keys_handed(struct daemon *d, const char *env)
{
	const char	*e;
	size_t		 i;

	daemon_keys_init(d);
	for (i = 0; i < d->nkeys; i++) {
		e = creds_env_name(d->keys[i].drv, d->ctx->conf);
		if (e == NULL || strcmp(e, env) != 0)
			continue;
		if (d->keys[i].src == CREDS_NONE)
			log_info("keys: %s: handed over by a fleet command",
			    d->keys[i].drv->name);
		daemon_key_set(&d->keys[i], CREDS_ENV, env, NULL);
	}
}

void
daemon_keys_free(struct daemon *d)
{
	size_t	i;

	for (i = 0; i < d->nkeys; i++) {
		free(d->keys[i].where);
		free(d->keys[i].error);
	}
	free(d->keys);
	d->keys = NULL;
	d->nkeys = 0;
}

/* Does the daemon's environment (what its jobs get) hold the key now? */
static int
daemon_has_key(struct daemon *d, const struct fleet_driver *drv)
{
	const char	*env = creds_env_name(drv, d->ctx->conf), *v;

	return (env != NULL && (v = getenv(env)) != NULL && *v != '\0');
}

/* An instance the watchdog or reconciler may still have to stop. */
static int
daemon_guard_live(const struct st_instance *in)
{
	return (in->state != INST_TERMINATED && in->state != INST_FAILED);
}

/*
 * "guard": per keyed provider, whether the daemon has its key, where it
 * came from, and the live instances it could not stop without one.
 */
cJSON *
daemon_guard(struct daemon *d)
{
	struct st_instance	*in = NULL;
	struct daemon_key	*k;
	cJSON			*g = cJSON_CreateObject(), *arr, *o, *ia, *io;
	char			*cause = NULL, *dep;
	int			 n = 0, i, has, unguarded = 0, live;
	int64_t			 id;
	size_t			 j;

	daemon_keys_init(d);
	if (state_instance_list(d->ctx->st, 1, &in, &n, &cause) != 0) {
		log_warn("guard: %s", cause);
		free(cause);
	}
	arr = cJSON_AddArrayToObject(g, "providers");
	for (j = 0; j < d->nkeys; j++) {
		k = &d->keys[j];
		has = daemon_has_key(d, k->drv);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "provider", k->drv->name);
		cJSON_AddBoolToObject(o, "key", has);
		cJSON_AddStringToObject(o, "source", has ?
		    creds_source_name(k->src == CREDS_NONE ? CREDS_ENV :
		    k->src) : "none");
		if (has && k->where != NULL)
			cJSON_AddStringToObject(o, "where", k->where);
		if (k->error != NULL)
			cJSON_AddStringToObject(o, "error", k->error);
		ia = cJSON_AddArrayToObject(o, "instances");
		for (i = 0, live = 0; i < n; i++) {
			if (strcmp(in[i].provider, k->drv->name) != 0 ||
			    !daemon_guard_live(&in[i]))
				continue;
			live++;
			io = cJSON_CreateObject();
			if (drv_label_parse(in[i].label, &dep, &id) == 0) {
				cJSON_AddStringToObject(io, "deployment", dep);
				free(dep);
			}
			cJSON_AddStringToObject(io, "label", in[i].label);
			cJSON_AddItemToArray(ia, io);
		}
		cJSON_AddNumberToObject(o, "live", live);
		cJSON_AddNumberToObject(o, "unguarded", has ? 0 : live);
		if (!has)
			unguarded += live;
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddNumberToObject(g, "unguarded", unguarded);
	st_instance_list_free(in, n);
	return (g);
}

/* fleet_unguarded_instances{provider} for /metrics, from the same scan. */
void
daemon_guard_metrics(struct daemon *d, struct evbuffer *b)
{
	cJSON		*g = daemon_guard(d);
	const cJSON	*o;

	evbuffer_add_printf(b, "# HELP fleet_unguarded_instances Live "
	    "instances of a provider the daemon has no API key for.\n"
	    "# TYPE fleet_unguarded_instances gauge\n");
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(g, "providers"))
		evbuffer_add_printf(b, "fleet_unguarded_instances{provider="
		    "\"%s\"} %.0f\n", cJSON_GetStringValue(
		    cJSON_GetObjectItem(o, "provider")), cJSON_GetNumberValue(
		    cJSON_GetObjectItem(o, "unguarded")));
	cJSON_Delete(g);
}

/* Log when the number of instances it cannot stop changes, not each sweep. */
void
daemon_guard_sweep(struct daemon *d)
{
	cJSON		*g = daemon_guard(d);
	const cJSON	*o;
	int		 n, total;

	total = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(g,
	    "unguarded"));
	if (total != d->unguarded) {
		cJSON_ArrayForEach(o, cJSON_GetObjectItem(g, "providers")) {
			n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "unguarded"));
			if (n > 0)
				log_warn("guard: %d live %s instance%s cannot "
				    "be stopped: no API key; run `fleet auth "
				    "set %s`, then SIGHUP", n,
				    cJSON_GetStringValue(cJSON_GetObjectItem(o,
				    "provider")), n == 1 ? "" : "s",
				    cJSON_GetStringValue(cJSON_GetObjectItem(o,
				    "provider")));
		}
		if (total == 0)
			log_info("guard: every live instance's provider key "
			    "is here");
		d->unguarded = total;
	}
	cJSON_Delete(g);
}
