/*
 * daemon-ssh.c: the daemon's SSH sessions, one per instance that needs
 * one: a tunnelled upstream (the proxy connects to a local listener the
 * session carries to the instance), GPU samples for the idle watchdog,
 * and the dead-man switch's heartbeat (a file touched on the instance;
 * for the local provider, on this machine, no session needed).
 *
 * Sessions follow state on every refresh (mark and sweep): an instance
 * that went away, or whose ssh endpoint moved, loses its session.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "fleet.h"
#include "config.h"
#include "daemon.h"
#include "deadman.h"
#include "driver.h"
#include "ssh.h"
#include "state.h"

#define DSSH_GPU_QUERY	"nvidia-smi --query-gpu=utilization.gpu,memory.used " \
			"--format=csv,noheader,nounits"
#define DSSH_SAMPLE_TIMEOUT_MS	15000
#define DSSH_SAMPLE_MAX		4096

struct dssh {
	struct daemon	*d;
	int64_t		 instance_id;
	char		*where;		/* user@host:port it was made for */
	char		*name;		/* deployment */
	char		*label;		/* the instance's fleet label */
	struct ssh_link	*link;		/* NULL until something needs it */
	int64_t		 hb_every;	/* heartbeat period ms, 0 = none */
	int64_t		 hb_next;
	int		 hb_local;	/* touch here, not over ssh */
	int		 hb_inflight;
	int		 seen;
	int		 sample;	/* wants GPU samples */
	int		 sampling;	/* one in flight */
	int		 unknown_logged;
	int64_t		 next_sample;	/* monotonic ms */
	struct dssh	*next;
};

static struct dssh *
dssh_find(struct daemon *d, int64_t id)
{
	struct dssh	*s;

	for (s = d->ssh; s != NULL; s = s->next)
		if (s->instance_id == id)
			return (s);
	return (NULL);
}

static void
dssh_free(struct dssh *s)
{
	ssh_link_free(s->link);
	free(s->where);
	free(s->name);
	free(s->label);
	free(s);
}

/* The instance's entry; with a session when need_link (re-made if moved). */
static struct dssh *
dssh_get(struct daemon *d, const char *name, const struct st_instance *in,
    int need_link, char **cause)
{
	struct ssh_target	 t;
	struct dssh		*s, **sp;
	char			*where = NULL;

	if (need_link) {
		if (ssh_target_init(&t, d->ctx->conf, d->ctx->state_dir,
		    in->provider, in, cause) == -1)
			return (NULL);
		where = xprintf("%s@%s:%d", t.user, t.host, t.port);
	}
	if ((s = dssh_find(d, in->id)) != NULL && need_link &&
	    s->link != NULL && strcmp(s->where, where) != 0) {
		for (sp = &d->ssh; *sp != s; sp = &(*sp)->next)
			;
		*sp = s->next;
		dssh_free(s);
		s = NULL;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->d = d;
		s->instance_id = in->id;
		s->name = xstrdup(name);
		s->label = xstrdup(in->label != NULL ? in->label : "");
		s->next = d->ssh;
		d->ssh = s;
	}
	if (need_link && s->link == NULL) {
		free(s->where);
		s->where = where;
		where = NULL;
		s->link = ssh_link_create(d->base, &t, name);
	}
	if (need_link)
		ssh_target_clear(&t);
	free(where);
	s->seen = 1;
	return (s);
}

void
daemon_ssh_mark(struct daemon *d)
{
	struct dssh	*s;

	for (s = d->ssh; s != NULL; s = s->next) {
		s->seen = 0;
		s->sample = 0;
		s->hb_every = 0;
	}
}

void
daemon_ssh_sweep(struct daemon *d)
{
	struct dssh	*s, **sp = &d->ssh;

	while ((s = *sp) != NULL) {
		if (s->seen || s->sampling || s->hb_inflight) {
			/* One in flight keeps it until its callback ran. */
			sp = &s->next;
			continue;
		}
		if (s->link != NULL)
			log_info("ssh %s: session closed (instance %lld "
			    "gone)", s->name, (long long)s->instance_id);
		*sp = s->next;
		dssh_free(s);
	}
}

/*
 * What the proxy should connect to for this instance: its upstream, or
 * for a tunnelled one the session's local listener. NULL: hold.
 */
char *
daemon_ssh_route(struct daemon *d, const char *name,
    const struct st_instance *in, int sample)
{
	struct dssh	*s = NULL;
	char		*scheme = NULL, *host = NULL, *cause = NULL, *out = NULL;
	int		 port, lport, tunnel = 0;

	if (in->state != INST_RUNNING && in->state != INST_BOOTING)
		return (in->upstream != NULL ? xstrdup(in->upstream) : NULL);
	if (in->upstream != NULL)
		tunnel = ssh_tunnel_parse(in->upstream, &scheme, &host, &port);
	if (tunnel == 0 && !sample)
		return (in->upstream != NULL ? xstrdup(in->upstream) : NULL);
	if (tunnel == -1) {
		log_warn("%s: bad upstream %s", name, in->upstream);
		return (NULL);
	}
	if (in->ssh_host == NULL ||
	    (s = dssh_get(d, name, in, 1, &cause)) == NULL) {
		if (cause != NULL)
			log_debug("%s: %s", name, cause);
		free(cause);
		free(scheme);
		free(host);
		return (tunnel ? NULL : in->upstream != NULL ?
		    xstrdup(in->upstream) : NULL);
	}
	if (sample && !s->sample) {
		s->sample = 1;
		if (s->next_sample == 0)
			s->next_sample = now_mono_ms();
	}
	if (!tunnel)
		return (in->upstream != NULL ? xstrdup(in->upstream) : NULL);
	if ((lport = ssh_link_forward(s->link, host, port, &cause)) == -1) {
		log_warn("%s: %s", name, cause);
		free(cause);
	} else
		out = xprintf("%s://127.0.0.1:%d", scheme, lport);
	free(scheme);
	free(host);
	return (out);
}

/*
 * The instance's template arms a dead-man switch: keep its heartbeat
 * file fresh, over the session (or here, for instances on this machine).
 */
void
daemon_ssh_heartbeat(struct daemon *d, const char *name,
    const struct st_instance *in, int64_t deadman)
{
	const struct fleet_driver	*drv = driver_find(in->provider);
	struct dssh			*s;
	char				*cause = NULL;
	int				 local;

	if (deadman <= 0 || in->label == NULL ||
	    (in->state != INST_RUNNING && in->state != INST_BOOTING &&
	    in->state != INST_PENDING))
		return;
	local = drv != NULL && (drv->flags & DRV_LOCAL);
	if (!local && in->ssh_host == NULL)
		return;		/* not reachable yet: its watcher waits */
	if ((s = dssh_get(d, name, in, !local, &cause)) == NULL) {
		log_debug("%s: heartbeat: %s", name, cause);
		free(cause);
		return;
	}
	s->hb_local = local;
	s->hb_every = deadman_heartbeat_interval(deadman) * 1000;
	if (s->hb_next == 0)
		s->hb_next = now_mono_ms();
}

static void
dssh_heartbeat_cb(int status, const char *out __unused, size_t len __unused,
    void *arg)
{
	struct dssh	*s = arg;

	s->hb_inflight = 0;
	if (status != 0)
		log_warn("%s: heartbeat failed (%s)", s->name, status == -1 ?
		    "no session" : "touch failed");
}

/* Touch the heartbeat file on this machine (local instances). */
static void
dssh_heartbeat_local(struct dssh *s)
{
	char	*dir, *cause = NULL;

	dir = deadman_local_dir(s->d->ctx->state_dir);
	if (deadman_heartbeat_touch(dir, s->label, &cause) != 0) {
		log_warn("%s: heartbeat: %s", s->name, cause);
		free(cause);
	}
	free(dir);
}

static void
dssh_heartbeat_due(struct dssh *s, int64_t now)
{
	char	*cmd;

	if (s->hb_every <= 0 || s->hb_inflight || now < s->hb_next)
		return;
	if (s->hb_local) {
		s->hb_next = now + s->hb_every;
		dssh_heartbeat_local(s);
		return;
	}
	if (s->link == NULL || !ssh_link_ready(s->link) ||
	    (cmd = deadman_heartbeat_command(s->label)) == NULL)
		return;
	s->hb_next = now + s->hb_every;
	s->hb_inflight = 1;
	ssh_link_exec(s->link, cmd, 256, s->hb_every > 10000 ? s->hb_every :
	    10000, dssh_heartbeat_cb, s);
	free(cmd);
}

/* "forward" {instance}: the local URL of its tunnel, for health probes. */
int
daemon_ssh_forward(struct daemon *d, int64_t id, cJSON *reply,
    char **cause)
{
	struct st_deployment	*deps;
	struct st_instance	 in;
	char			*url = NULL;
	int			 nd, i, found = 0;

	if (state_deployment_list(d->ctx->st, &deps, &nd, cause) != 0)
		return (-1);
	for (i = 0; i < nd && !found; i++) {
		if (state_instance_current(d->ctx->st, deps[i].id, &in,
		    NULL) != 1)
			continue;
		if (in.id == id) {
			found = 1;
			url = daemon_ssh_route(d, deps[i].name, &in, 0);
		}
		st_instance_clear(&in);
	}
	st_deployment_list_free(deps, nd);
	if (!found) {
		*cause = xprintf("no current instance %lld", (long long)id);
		return (-1);
	}
	if (url == NULL || strstr(url, "+ssh://") != NULL) {
		*cause = xstrdup("no ssh session for the instance (yet)");
		free(url);
		return (-1);
	}
	cJSON_AddStringToObject(reply, "url", url);
	free(url);
	return (0);
}

static void
dssh_sample_cb(int status, const char *out, size_t len, void *arg)
{
	struct dssh	*s = arg;
	char		*cause = NULL;
	int		 util = -1;

	s->sampling = 0;
	if (status == 0)
		util = ssh_parse_gpu(out, len);
	if (util < 0) {
		/* Unknown is not idle: nothing is recorded. */
		if (!s->unknown_logged)
			log_info("%s: GPU utilisation unknown (nvidia-smi "
			    "%s)", s->name, status == -1 ? "did not run" :
			    status != 0 ? "failed" : "said something else");
		s->unknown_logged = 1;
		return;
	}
	s->unknown_logged = 0;
	log_debug("%s: GPU %d%%", s->name, util);
	if (state_instance_set_gpu_util(s->d->ctx->st, s->instance_id, util,
	    now_wall(), &cause) != 0) {
		log_warn("%s: %s", s->name, cause);
		free(cause);
	}
}

/* Once a second: start the GPU samples that are due. */
static void
dssh_tick_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct daemon	*d = arg;
	struct dssh	*s;
	int64_t		 now = now_mono_ms();
	int64_t		 every = d->ctx->conf->ssh.gpu_sample_interval * 1000;

	for (s = d->ssh; s != NULL; s = s->next) {
		dssh_heartbeat_due(s, now);
		if (s->link == NULL || !s->sample || s->sampling || every <= 0 ||
		    now < s->next_sample || !ssh_link_ready(s->link))
			continue;
		s->sampling = 1;
		s->next_sample = now + every;
		ssh_link_exec(s->link, DSSH_GPU_QUERY, DSSH_SAMPLE_MAX,
		    DSSH_SAMPLE_TIMEOUT_MS, dssh_sample_cb, s);
	}
}

void
daemon_ssh_start(struct daemon *d)
{
	struct timeval	 tv = { 1, 0 };

	d->ev_ssh = event_new(d->base, -1, EV_PERSIST, dssh_tick_cb, d);
	event_add(d->ev_ssh, &tv);
}

void
daemon_ssh_free(struct daemon *d)
{
	struct dssh	*s;

	if (d->ev_ssh != NULL)
		event_free(d->ev_ssh);
	d->ev_ssh = NULL;
	while ((s = d->ssh) != NULL) {
		d->ssh = s->next;
		dssh_free(s);
	}
}

/* For `fleet daemon status`: one line of facts per session. */
void
daemon_ssh_status(struct daemon *d, cJSON *arr)
{
	struct dssh	*s;
	cJSON		*o;
	uint64_t	 bin, bout;
	int		 ch;

	for (s = d->ssh; s != NULL; s = s->next) {
		if (s->link == NULL)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment", s->name);
		cJSON_AddStringToObject(o, "where", s->where);
		cJSON_AddBoolToObject(o, "ready", ssh_link_ready(s->link));
		if (ssh_link_error(s->link) != NULL)
			cJSON_AddStringToObject(o, "error",
			    ssh_link_error(s->link));
		ssh_link_stats(s->link, &bin, &bout, &ch);
		cJSON_AddNumberToObject(o, "tunnel_channels", ch);
		cJSON_AddNumberToObject(o, "tunnel_bytes_in", (double)bin);
		cJSON_AddNumberToObject(o, "tunnel_bytes_out", (double)bout);
		cJSON_AddItemToArray(arr, o);
	}
}
