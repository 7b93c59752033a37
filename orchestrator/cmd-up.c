/* cmd-up.c: `fleet up TEMPLATE`: rent, wait healthy, record, print the URL. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "state.h"
#include "budget.h"
#include "control.h"
#include "offers.h"

static int cmd_up_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_up_entry = {
	"up",
	"TEMPLATE [--name NAME] [--provider P] [--max-price USD] "
	    "[--idle DUR] [--max-lifetime DUR] [--no-idle-kill] "
	    "[--timeout DUR] [--spot] [--replace] [-y]",
	"rent an instance for TEMPLATE, wait until healthy, print its URL",
	"Every ${VAR} in the template's env (local.env for local) must be\n"
	"set and not empty, or up exits 2 before any provider call, naming\n"
	"the variable and file:line; ${VAR:-default} gives a default and\n"
	"${VAR:-} allows empty.\n\n"
	"Gathers offers from every enabled provider that has an API key (or\n"
	"only --provider), cheapest first (ties by the template's provider\n"
	"list; local only for GPU-less templates or when listed), and rents\n"
	"the first: records the intent in state before calling the provider,\n"
	"creates the instance, waits for the health check and prints the\n"
	"stable URL. An offer has exactly the template's gpu.count GPUs\n"
	"(up to gpu.count_max when the template sets it).\n\n"
	"On a NAME that is already up, a --provider, a --max-price or a\n"
	"TEMPLATE that its live instance does not match is refused (exit 2,\n"
	"naming the conflict) unless --replace is given.\n\n"
	"A capacity, quota or transient error, or a boot that never turns\n"
	"healthy, moves on to the next offer, but never above the price cap\n"
	"(--max-price, the template's max_price, the provider's or\n"
	"defaults.max_price) and, with no cap, never above\n"
	"defaults.failover_max_ratio (2.0) times the first offer's price.\n"
	"On a terminal, an offer above defaults.confirm_above_usd ($1.00/h)\n"
	"is rented only after a yes to `Rent GPU on PROVIDER for $X/h?`.\n\n"
	"An instance that does not become healthy within the template's boot\n"
	"timeout (or --timeout) is terminated, not left billing. Ctrl-C while\n"
	"waiting terminates it too, and so does a `fleet down NAME` from\n"
	"another terminal: the last word wins, and up exits 1 saying NAME was\n"
	"taken down while coming up; after Ctrl-C it exits 130 (143 after\n"
	"SIGTERM).\n\n"
	"A workload that exits while it boots (RunPod EXITED, Vast exited,\n"
	"the local process gone) is terminated at once, with its reason and\n"
	"last output, and no other offer is tried (exit 1): the workload\n"
	"failed, not the capacity.\n\n"
	"  --name NAME          deployment name (default: the template name)\n"
	"  --provider P         provider to rent from (e.g. local)\n"
	"  --max-price USD      refuse offers above this price per hour\n"
	"  --idle DUR           idle timeout (e.g. 20m) for the watchdog\n"
	"  --max-lifetime DUR   hard lifetime limit\n"
	"  --no-idle-kill       disable the idle kill (needs --max-lifetime)\n"
	"  --timeout DUR        boot timeout, overriding the template's\n"
	"  --spot               only interruptible (spot) capacity, bid at\n"
	"                       the offer's price; exit 1 when no provider\n"
	"                       has a spot offer, never on demand instead\n"
	"  --replace            take an existing NAME down first and create\n"
	"                       it again with these settings\n"
	"  -y, --yes            rent without asking, even on a terminal\n"
	"  --recreate           as the daemon's re-create job: act only while\n"
	"                       the deployment is still wanted up\n",
	cmd_up_exec,
	0
};

struct up_opts {
	const char	*tmpl_name;
	const char	*name;
	const char	*provider;
	double		 max_price;
	int64_t		 idle;		/* -1 = unset */
	int64_t		 lifetime;	/* -1 = unset */
	int64_t		 timeout;	/* -1 = unset */
	int		 no_idle_kill;
	int		 spot;
	int		 replace;	/* down an existing NAME first */
	int		 yes;		/* no price question */
	int		 recreate;	/* a daemon job: never turn down up */
	int64_t		 t0_ms;		/* wall ms when this up began */
};

/* Progress: stage lines with elapsed time; a live waiting line on a TTY. */
struct up_progress {
	int64_t		 t0;
	int		 tty;
	int		 live;		/* a waiting line is on screen */
	int		 wrote;		/* an intent of this up is in state */
};

static volatile sig_atomic_t up_interrupted;

static void
up_sigint(int sig)
{
	up_interrupted = sig;
	signal(SIGINT, SIG_DFL);	/* a second Ctrl-C kills at once */
	signal(SIGTERM, SIG_DFL);
}

static void
up_stage(struct up_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
up_stage(struct up_progress *p, const char *fmt, ...)
{
	va_list	 ap;
	double	 el = (now_mono_ms() - p->t0) / 1000.0;

	if (p->live)
		fputs("\r\033[K", stderr);
	p->live = 0;
	fprintf(stderr, "[%6.1fs] ", el);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
up_waiting(struct up_progress *p, const char *what)
{
	if (!p->tty)
		return;
	fprintf(stderr, "\r\033[K[%6.1fs] waiting: %s",
	    (now_mono_ms() - p->t0) / 1000.0, what);
	p->live = 1;
}

static int
up_parse(int argc, char **argv, struct up_opts *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "provider", required_argument, NULL, 'p' },
		{ "max-price", required_argument, NULL, 'm' },
		{ "idle", required_argument, NULL, 'i' },
		{ "max-lifetime", required_argument, NULL, 'l' },
		{ "no-idle-kill", no_argument, NULL, 'K' },
		{ "timeout", required_argument, NULL, 't' },
		{ "spot", no_argument, NULL, 'S' },
		{ "replace", no_argument, NULL, 'X' },
		{ "yes", no_argument, NULL, 'y' },
		{ "recreate", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	char	*cause = NULL;
	int	 ch;

	memset(o, 0, sizeof *o);
	o->idle = o->lifetime = o->timeout = -1;
	o->t0_ms = now_wall_ms();
	while ((ch = getopt_long(argc, argv, "n:p:y", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			o->name = optarg;
			break;
		case 'p':
			o->provider = optarg;
			break;
		case 'm':
			if (parse_money(optarg, &o->max_price, &cause) != 0)
				goto bad;
			break;
		case 'i':
			if (parse_duration(optarg, &o->idle, &cause) != 0)
				goto bad;
			break;
		case 'l':
			if (parse_duration(optarg, &o->lifetime, &cause) != 0)
				goto bad;
			break;
		case 't':
			if (parse_duration(optarg, &o->timeout, &cause) != 0)
				goto bad;
			break;
		case 'K':
			o->no_idle_kill = 1;
			break;
		case 'S':
			o->spot = 1;
			break;
		case 'X':
			o->replace = 1;
			break;
		case 'y':
			o->yes = 1;
			break;
		case 'R':
			o->recreate = 1;
			break;
		default:
			return (cmd_usage_error(&cmd_up_entry, "bad option"));
		}
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_up_entry, "need one TEMPLATE"));
	o->tmpl_name = argv[optind];
	if (o->name == NULL)
		o->name = o->tmpl_name;
	if (!name_is_valid(o->name))
		return (cmd_usage_error(&cmd_up_entry, "invalid name '%s': use "
		    "lowercase letters, digits, '.' and '-'", o->name));
	if (o->no_idle_kill && o->lifetime <= 0)
		return (cmd_usage_error(&cmd_up_entry, "--no-idle-kill needs "
		    "--max-lifetime, so nothing can bill forever"));
	return (0);
bad:
	fprintf(stderr, "fleet up: %s\n", cause);
	free(cause);
	return (FLEET_EXIT_USAGE);
}

/* Allocate from the configured range, skipping every template's port. */
static int
up_allocate_port(struct cmd_ctx *ctx, struct st_deployment *dep,
    char **cause)
{
	const struct fleet_config	*c = ctx->conf;
	struct fleet_template		*t;
	char			       **paths, *ignored;
	int				 n, i, nres = 0, rc, *res;

	paths = template_list_paths(c, &n);
	res = xcalloc(n > 0 ? n : 1, sizeof *res);
	for (i = 0; i < n; i++) {
		ignored = NULL;
		if ((t = template_load_file(paths[i], &ignored)) != NULL) {
			if (t->stable_port != 0)
				res[nres++] = t->stable_port;
			template_free(t);
		}
		free(ignored);
		free(paths[i]);
	}
	free(paths);
	rc = state_port_allocate(ctx->st, c->proxy.port_min,
	    c->proxy.port_max, c->proxy.bind, res, nres, &dep->stable_port,
	    cause);
	free(res);
	return (rc);
}

/* The stable port: kept from before, else the template's, else allocated. */
static int
up_stable_port(struct cmd_ctx *ctx, const struct fleet_template *t,
    struct st_deployment *dep, char **cause)
{
	const struct fleet_config	*c = ctx->conf;
	struct st_deployment		*all;
	int				 n, i, taken = 0;

	if (dep->stable_port != 0)
		return (0);
	/* The template's port belongs to the deployment named after it. */
	if (t->stable_port == 0 || strcmp(dep->name, t->name) != 0)
		return (up_allocate_port(ctx, dep, cause));
	if (state_deployment_list(ctx->st, &all, &n, cause) != 0)
		return (-1);
	for (i = 0; i < n; i++)
		if (all[i].stable_port == t->stable_port)
			taken = 1;
	st_deployment_list_free(all, n);
	if (taken || !port_is_free(c->proxy.bind, t->stable_port)) {
		*cause = xprintf("stable port %d of template %s is in use%s; "
		    "use --name to deploy it under another name or free the "
		    "port", t->stable_port, t->name, taken ?
		    " by another deployment" : " by another program");
		return (-1);
	}
	dep->stable_port = t->stable_port;
	return (0);
}

static void
up_policy(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, struct st_deployment *dep)
{
	const struct fleet_config	*c = ctx->conf;

	dep->idle_timeout = o->idle >= 0 ? o->idle : t->idle_timeout >= 0 ?
	    t->idle_timeout : c->defaults.idle_timeout;
	if (o->no_idle_kill)
		dep->idle_timeout = 0;
	dep->max_lifetime = o->lifetime >= 0 ? o->lifetime :
	    t->max_lifetime >= 0 ? t->max_lifetime : c->defaults.max_lifetime;
	dep->idle_action = t->idle_action >= 0 ? t->idle_action :
	    (int)c->defaults.idle_action;
}

static void
up_sleep_ms(int64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/* How a wait for health ended: up_attempt decides on this, not on text. */
enum up_wait_end {
	UP_WAIT_HEALTHY,
	UP_WAIT_FAILED,		/* not healthy, failed, gone: next offer */
	UP_WAIT_EXITED,		/* the workload ended by itself: stop */
};

/*
 * The workload ended during its boot: a failover would only pay for the
 * same failure on a pricier offer. Say why in the provider's words, with
 * the last output fleet can reach, and record it; fills *cause.
 */
static void
up_exited(struct cmd_ctx *ctx, const char *name,
    const struct fleet_driver *drv, const struct st_instance *in,
    const struct drv_instance *di, struct up_progress *p, char **cause)
{
	const char	*reason = di->exit_reason != NULL ? di->exit_reason :
			    "it was running, then booting again: it restarted";
	char		*out = NULL, *line, *last = NULL, *sp;

	up_stage(p, "exited: %s", reason);
	if (di->exit_output != NULL) {
		out = log_redact(di->exit_output);
		fprintf(stderr, "  last output of %s:\n", in->label);
		for (line = strtok_r(out, "\n", &sp); line != NULL;
		    line = strtok_r(NULL, "\n", &sp)) {
			fprintf(stderr, "  | %s\n", line);
			last = line;
		}
	}
	state_event(ctx->st, name, "exited", "%s %s exited during boot: %s%s%s",
	    drv->name, in->provider_id, reason, last != NULL ?
	    "; last output: " : "", last != NULL ? last : "");
	free(out);
	*cause = xprintf("the workload exited during boot (%s: %s); no other "
	    "offer is tried: the workload failed, not the capacity",
	    drv->name, reason);
}

/*
 * The user's last word wins. Before this up's own intent (ours 0), a
 * down said after this up began wins, and for a daemon job (--recreate)
 * any down does; after the intent, any down does. 1 still wanted.
 */
static int
up_word_ok(const struct up_opts *o, const struct st_deployment *d,
    int found, int ours)
{
	if (!found)
		return (!ours && !o->recreate);
	if (strcmp(d->desired, "up") == 0)
		return (1);
	return (!ours && !o->recreate && d->desired_at < o->t0_ms);
}

/* Read the desired state again: 1 wanted, 0 taken down, -1 error. */
static int
up_wanted(struct cmd_ctx *ctx, const struct up_opts *o, int ours,
    char **cause)
{
	struct st_deployment	d;
	int			r;

	if ((r = state_deployment_get(ctx->st, o->name, &d, cause)) < 0)
		return (-1);
	r = up_word_ok(o, &d, r, ours);
	st_deployment_clear(&d);
	return (r);
}

/*
 * Poll the driver and the health check on a backoff schedule until the
 * instance is healthy, fails, exits, is taken down, or the boot timeout
 * passes.
 */
static enum up_wait_end
up_wait(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, struct st_instance *in, int64_t timeout,
    struct up_progress *p, char **cause)
{
	struct drv_instance	 di;
	struct drv_error	 err;
	int64_t			 deadline, delay = 200;
	int64_t			 cap = t->health.interval > 0 ?
				    t->health.interval * 1000 : 2000;
	enum inst_state		 last = in->state;
	int			 port_seen = 0, ran = 0;
	char			*why = NULL;

	deadline = now_mono_ms() + timeout * 1000;
	while (!up_interrupted) {
		/* A `fleet down` from elsewhere ends the wait at once. */
		if (up_wanted(ctx, o, 1, NULL) == 0) {
			*cause = xstrdup("taken down");
			free(why);
			return (UP_WAIT_FAILED);
		}
		memset(&err, 0, sizeof err);
		if (drv->get(dctx, in->provider_id, &di, &err) != 0) {
			if (err.kind != DRV_ERR_TRANSIENT &&
			    err.kind != DRV_ERR_RATE_LIMITED) {
				*cause = xprintf("%s: %s", drv->name,
				    cmd_drv_msg(drv->name, err.message));
				return (UP_WAIT_FAILED);
			}
			free(why);
			why = xstrdup(err.message);
		} else {
			if (deploy_record(ctx, t, in, &di, cause) != 0) {
				drv_instance_clear(&di);
				return (UP_WAIT_FAILED);
			}
			/* Booting again after running: it restarted itself. */
			if (di.exited || (ran && di.state == INST_BOOTING)) {
				up_exited(ctx, o->name, drv, in, &di, p, cause);
				drv_instance_clear(&di);
				free(why);
				return (UP_WAIT_EXITED);
			}
			drv_instance_clear(&di);
			if (in->state != last && in->state == INST_BOOTING)
				up_stage(p, "booting");
			last = in->state;
			if (in->state == INST_FAILED ||
			    in->state == INST_TERMINATED) {
				*cause = xprintf("%s: instance %s is %s",
				    drv->name, in->provider_id,
				    inst_state_name(in->state));
				free(why);
				return (UP_WAIT_FAILED);
			}
			if (in->state == INST_RUNNING && in->upstream != NULL) {
				if (!port_seen)
					up_stage(p, "port open: %s",
					    in->upstream);
				port_seen = ran = 1;
				free(why);
				why = NULL;
				if (deploy_probe(ctx, t, in, &why) == 0)
					return (UP_WAIT_HEALTHY);
			}
		}
		if (now_mono_ms() >= deadline)
			break;
		up_waiting(p, why != NULL ? why : inst_state_name(in->state));
		up_sleep_ms(delay);
		delay = delay * 3 / 2 > cap ? cap : delay * 3 / 2;
	}
	if (up_interrupted)
		*cause = xstrdup("interrupted");
	else {
		char *d = format_duration(timeout);
		*cause = xprintf("not healthy after %s (last: %s)", d,
		    why != NULL ? why : inst_state_name(in->state));
		free(d);
	}
	free(why);
	return (UP_WAIT_FAILED);
}

/*
 * What this up asks that the live instance does not match, or NULL: a
 * silent "already up" would leave the user believing they got it.
 */
static char *
up_conflict(const struct up_opts *o, const struct fleet_template *t,
    const struct st_deployment *dep, const struct st_instance *in)
{
	char	m[MONEY_BUFSZ], mc[MONEY_BUFSZ];

	if (strcmp(dep->template_name, t->name) != 0)
		return (xprintf("it runs template %s, not %s",
		    dep->template_name, t->name));
	if (o->provider != NULL && strcmp(o->provider, in->provider) != 0)
		return (xprintf("it runs on %s, not --provider %s",
		    in->provider, o->provider));
	if (o->max_price > 0 && in->price_per_hour > o->max_price + 1e-9)
		return (xprintf("it costs %s/h, above --max-price %s",
		    money_fmt(m, in->price_per_hour), money_fmt(mc,
		    o->max_price) + 1));
	return (NULL);
}

/*
 * An existing deployment with a live instance: healthy means nothing to
 * do; anything else is left for the user to finish, never doubled.
 */
static int
up_existing(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const struct st_deployment *dep,
    int *done)
{
	struct st_instance	 in;
	char			*cause = NULL, *url;
	int			 r;

	*done = 0;
	if ((r = state_instance_current(ctx->st, dep->id, &in, &cause)) < 0) {
		fprintf(stderr, "fleet up: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	if (r == 0)
		return (0);
	*done = 1;
	if (!o->recreate && (cause = up_conflict(o, t, dep, &in)) != NULL) {
		fprintf(stderr, "fleet up: %s is already up, but %s; pass "
		    "--replace to take it down and create it again with these "
		    "settings\n", dep->name, cause);
		free(cause);
		st_instance_clear(&in);
		return (FLEET_EXIT_USAGE);
	}
	if (in.state == INST_RUNNING && in.upstream != NULL &&
	    deploy_probe(ctx, t, &in, &cause) == 0) {
		/*
		 * A `fleet down` killed after marking it down left it
		 * running: wanted up again, or reconcile would finish that
		 * down under the user's feet.
		 */
		if (strcmp(dep->desired, "up") != 0)
			state_deployment_set_desired(ctx->st, dep->id, "up",
			    NULL);
		url = deploy_stable_url(ctx, dep);
		printf("%s is already up on %s: %s\n", dep->name, in.provider,
		    url);
		free(url);
		st_instance_clear(&in);
		return (FLEET_EXIT_OK);
	}
	fprintf(stderr, "fleet up: %s already has instance %s (%s, %s); run "
	    "`fleet down %s` first\n", dep->name, in.label, in.provider,
	    inst_state_name(in.state), dep->name);
	free(cause);
	st_instance_clear(&in);
	return (FLEET_EXIT_FAIL);
}

/*
 * Write the deployment (desired up) and the instance intent, under the
 * state lock. Returns 0 written, 1 taken down meanwhile, -1 error.
 */
static int
up_intent(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const char *provider, int attempt,
    struct st_deployment *dep, struct st_instance *in, char **cause)
{
	struct st_instance	cur;
	int			found;

	if (state_begin(ctx->st, cause) != 0)
		return (-1);
	/* Read again under the write lock: two `fleet up`s race here. */
	st_deployment_clear(dep);
	if ((found = state_deployment_get(ctx->st, o->name, dep, cause)) < 0)
		goto fail;
	if (!up_word_ok(o, dep, found, attempt > 0)) {
		state_rollback(ctx->st);
		return (1);
	}
	if (dep->id != 0 && state_instance_current(ctx->st, dep->id, &cur,
	    cause) != 0) {
		if (*cause == NULL)
			*cause = xprintf("%s already has instance %s (%s); "
			    "run `fleet down %s` first", dep->name, cur.label,
			    inst_state_name(cur.state), dep->name);
		st_instance_clear(&cur);
		goto fail;
	}
	free(dep->name);
	dep->name = xstrdup(o->name);
	if (up_stable_port(ctx, t, dep, cause) != 0)
		goto fail;
	free(dep->template_name);
	dep->template_name = xstrdup(t->name);
	free(dep->desired);
	dep->desired = xstrdup("up");
	up_policy(ctx, o, t, dep);
	if (state_deployment_upsert(ctx->st, dep, cause) != 0 ||
	    state_instance_intent(ctx->st, dep->id, provider, dep->name, in,
	    cause) != 0)
		goto fail;
	return (state_commit(ctx->st, cause));
fail:
	state_rollback(ctx->st);
	return (-1);
}

/*
 * A new deployment is written (desired up, no instance yet) before the
 * offers are gathered, so a `fleet down NAME` from another terminal
 * finds it and wins, however early it comes. *created says this up
 * wrote it, to remove again if nothing was ever rented.
 */
static int
up_register(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, int *created, char **cause)
{
	struct st_deployment	dep;
	int			r;

	*created = 0;
	if (o->recreate)
		return (0);
	if (state_begin(ctx->st, cause) != 0)
		return (-1);
	if ((r = state_deployment_get(ctx->st, o->name, &dep, cause)) != 0) {
		state_rollback(ctx->st);
		st_deployment_clear(&dep);
		return (r < 0 ? -1 : 0);
	}
	dep.name = xstrdup(o->name);
	dep.template_name = xstrdup(t->name);
	dep.desired = xstrdup("up");
	up_policy(ctx, o, t, &dep);
	if (up_stable_port(ctx, t, &dep, cause) != 0 ||
	    state_deployment_upsert(ctx->st, &dep, cause) != 0) {
		state_rollback(ctx->st);
		st_deployment_clear(&dep);
		return (-1);
	}
	st_deployment_clear(&dep);
	if (state_commit(ctx->st, cause) != 0)
		return (-1);
	*created = 1;
	return (0);
}

/*
 * Fault injection for the crash-safety tests: FLEET_TEST_CRASH names a
 * point at which `fleet up` kills itself as `kill -9` would.
 */
static void
up_crash_point(const char *point)
{
	const char	*v = getenv("FLEET_TEST_CRASH");

	if (v != NULL && strcmp(v, point) == 0)
		raise(SIGKILL);
}

/*
 * A create that failed on the way back (timeout, 5xx, dropped connection)
 * may have happened: look for the label before trying anything else, so
 * one `fleet up` never rents twice. 0 when it turned out to exist.
 */
static int
up_create_lost(struct cmd_ctx *ctx, const struct fleet_template *t,
    const struct fleet_driver *drv, const struct drv_ctx *dctx,
    const char *name, struct st_instance *in, const struct drv_error *err)
{
	struct drv_instance	 di;
	struct drv_error	 gerr;
	char			*cause = NULL;

	if (err->kind != DRV_ERR_TRANSIENT &&
	    err->kind != DRV_ERR_RATE_LIMITED)
		return (-1);
	if (deploy_resolve_id(ctx, in, &cause) != 1) {
		free(cause);
		return (-1);
	}
	state_event(ctx->st, name, "create-adopted", "%s: create answered "
	    "'%s' but %s exists: adopted", drv->name, err->message,
	    in->provider_id);
	memset(&gerr, 0, sizeof gerr);
	if (drv->get(dctx, in->provider_id, &di, &gerr) == 0) {
		deploy_record(ctx, t, in, &di, NULL);
		drv_instance_clear(&di);
	}
	return (0);
}

/*
 * A `fleet down` gave the row up while its create was in flight: nobody
 * wants this instance, and no row can hold it. Terminate it at once
 * rather than leave it to the reconciler; fills *cause.
 */
static void
up_overruled(struct cmd_ctx *ctx, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, const char *name, const struct st_instance *in,
    const char *id, char **cause)
{
	struct drv_error	err;

	memset(&err, 0, sizeof err);
	if (drv->terminate(dctx, id, &err) != 0 &&
	    err.kind != DRV_ERR_NOT_FOUND) {
		*cause = xprintf("%s was taken down while %s was being "
		    "created, and terminating it failed: %s [%s]; the "
		    "reconciler retries", name, id, err.message,
		    drv_err_name(err.kind));
		return;
	}
	/* The row may still be open when the down has not reached it. */
	if (state_instance_set_provider_id(ctx->st, in->id, id, NULL) == 0)
		state_instance_set_state(ctx->st, in->id, INST_TERMINATED,
		    NULL);
	state_event(ctx->st, name, "terminated", "%s %s (%s): taken down "
	    "while it was being created", drv->name, id, in->label);
	*cause = xprintf("%s was taken down while coming up; terminated %s, "
	    "created meanwhile", name, id);
}

/*
 * The create went through but state could not take it (a full disk, a
 * read-only state dir): nothing may bill that fleet cannot account for.
 * Terminate it at once; if that fails too, it carries the row's label,
 * which `fleet down`, `fleet reconcile` and `fleet reap` find it by.
 * *cause holds why the write failed; replaced with the whole story.
 */
static void
up_unrecorded(struct cmd_ctx *ctx, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, const char *name, const struct st_instance *in,
    const char *id, char **cause)
{
	struct drv_error	 err;
	char			*why = *cause;

	memset(&err, 0, sizeof err);
	if (drv->terminate(dctx, id, &err) != 0 &&
	    err.kind != DRV_ERR_NOT_FOUND) {
		*cause = xprintf("%s created %s (%s) but could not record it "
		    "(%s), and terminating it failed: %s [%s]; it still "
		    "bills: `fleet down %s` finds it by its label, and `fleet "
		    "reap` lists it", drv->name, id, in->label, why,
		    err.message, drv_err_name(err.kind), name);
		free(why);
		return;
	}
	/* Best effort: on a full disk this fails too, and the row stays
	 * pending; the provider no longer has it, so nothing bills. */
	if (state_instance_set_state(ctx->st, in->id, INST_TERMINATED,
	    NULL) == 0)
		state_event(ctx->st, name, "terminated", "%s %s (%s): created "
		    "but not recorded", drv->name, id, in->label);
	*cause = xprintf("%s created %s (%s) but could not record it (%s); "
	    "terminated it at once, nothing bills", drv->name, id, in->label,
	    why);
	free(why);
}

/*
 * Create at the provider and write the provider id straight after.
 * Returns 0 created, 1 taken down (nothing left billing), -1 failed with
 * the driver's typed error in *kind.
 */
static int
up_create(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const struct fleet_driver *drv,
    const struct drv_ctx *dctx, const struct drv_offer *offer,
    const char *name, struct st_instance *in, enum drv_err *kind,
    char **cause)
{
	struct drv_create_req	 req;
	struct drv_instance	 di;
	struct drv_error	 err;

	memset(&req, 0, sizeof req);
	memset(&err, 0, sizeof err);
	*kind = DRV_OK;
	req.tmpl = t;
	req.name = in->label;
	req.offer = offer;
	req.spot = offer->spot;	/* only offers the provider marked spot */
	up_crash_point("after-intent");
	/* A down that came in since the intent: do not rent at all. */
	if (up_wanted(ctx, o, 1, NULL) == 0 &&
	    state_instance_give_up(ctx->st, in->id, NULL) == 1) {
		*cause = xprintf("%s was taken down while coming up", name);
		return (1);
	}
	if (drv->create(dctx, &req, &di, &err) != 0) {
		if (up_create_lost(ctx, t, drv, dctx, name, in, &err) == 0)
			return (0);
		*kind = err.kind;
		*cause = xprintf("%s: %s (%s)%s%s", drv->name,
		    cmd_drv_msg(drv->name, err.message),
		    drv_err_name(err.kind), err.kind == DRV_ERR_AUTH ?
		    "; check " : "", err.kind == DRV_ERR_AUTH ?
		    drv_key_env(dctx, drv) : "");
		state_instance_set_state(ctx->st, in->id, INST_FAILED, NULL);
		return (-1);
	}
	up_crash_point("after-create");
	state_test_fail(ctx->st, "after-create");
	switch (state_instance_claim(ctx->st, in->id, di.id, cause)) {
	case 0:
		up_overruled(ctx, drv, dctx, name, in, di.id, cause);
		drv_instance_clear(&di);
		return (1);
	case 1:
		break;
	default:
		up_unrecorded(ctx, drv, dctx, name, in, di.id, cause);
		drv_instance_clear(&di);
		return (-1);
	}
	in->provider_id = xstrdup(di.id);
	if (deploy_record(ctx, t, in, &di, cause) != 0) {
		up_unrecorded(ctx, drv, dctx, name, in, di.id, cause);
		drv_instance_clear(&di);
		return (-1);
	}
	drv_instance_clear(&di);
	return (0);
}

/* Boot failed or was interrupted: terminate so nothing keeps billing. */
static void
up_abort(struct cmd_ctx *ctx, const struct st_deployment *dep,
    struct st_instance *in, const char *why)
{
	char	*cause = NULL;

	state_event(ctx->st, dep->name, "up-failed", "%s", why);
	if (deploy_terminate(ctx, dep, in, "boot failed", &cause) != 0) {
		fprintf(stderr, "fleet up: could not terminate %s: %s\n"
		    "fleet up: it stays in state; retry with `fleet down %s`\n",
		    in->label, cause, dep->name);
		free(cause);
		return;
	}
	fprintf(stderr, "fleet up: terminated %s\n", in->label);
}

/* What an attempt on one offer came to. */
enum up_outcome {
	UP_OK,
	UP_NEXT,	/* try the next offer */
	UP_STOP,	/* give up, say why */
	UP_DOWN,	/* a `fleet down` won: nothing billing, say so */
};

/* Driver errors worth trying the next offer for; the rest stop. */
static int
up_retryable(enum drv_err kind)
{
	switch (kind) {
	case DRV_ERR_CAPACITY:
	case DRV_ERR_QUOTA:
	case DRV_ERR_RATE_LIMITED:
	case DRV_ERR_TRANSIENT:
	case DRV_ERR_NOT_FOUND:
		return (1);
	default:
		return (0);
	}
}

/*
 * A down won while this up was renting: end what it created (the down
 * may be doing the same; terminate is safe to repeat) and record it.
 */
static enum up_outcome
up_taken_down(struct cmd_ctx *ctx, const struct st_deployment *dep,
    struct st_instance *in, char **cause)
{
	struct st_instance	 now;
	char			*why = NULL;

	if (state_instance_by_label(ctx->st, in->label, &now, NULL) == 1) {
		if (now.ended_at == 0 && deploy_terminate(ctx, dep, &now,
		    "taken down while coming up", &why) != 0) {
			free(*cause);
			*cause = xprintf("%s was taken down while coming up, "
			    "and terminating %s failed: %s; `fleet down %s` "
			    "retries", dep->name, now.label, why, dep->name);
			free(why);
			st_instance_clear(&now);
			return (UP_DOWN);
		}
		st_instance_clear(&now);
	}
	state_event(ctx->st, dep->name, "up-overruled", "a fleet down came "
	    "in while fleet up was renting: nothing left billing");
	if (*cause == NULL || strstr(*cause, "taken down while") == NULL) {
		free(*cause);
		*cause = xprintf("%s was taken down while coming up",
		    dep->name);
	}
	return (UP_DOWN);
}

/*
 * Record healthy only if still wanted: the check and the event are one
 * transaction, so a down either comes before (and wins) or after.
 * 1 recorded, 0 taken down, -1 error.
 */
static int
up_healthy(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct st_deployment *dep, const struct st_instance *in,
    const char *provider, char **cause)
{
	int	r;

	if (state_begin(ctx->st, cause) != 0)
		return (-1);
	if ((r = up_wanted(ctx, o, 1, cause)) == 1)
		state_event(ctx->st, dep->name, "healthy", "%s via %s",
		    in->upstream, provider);
	if (r < 0) {
		state_rollback(ctx->st);
		return (-1);
	}
	if (state_commit(ctx->st, cause) != 0)
		return (-1);
	return (r);
}

/* "RTX 4090", or "8x A100 80GB" when the offer has several. */
static char *
up_gpu_label(const struct drv_offer *of)
{
	const char	*gpu = of->gpu != NULL ? of->gpu : "no GPU";

	if (of->gpu_count > 1)
		return (xprintf("%dx %s", of->gpu_count, gpu));
	return (xstrdup(gpu));
}

/*
 * On a terminal, an offer above defaults.confirm_above_usd is rented
 * only after a yes, as `sky launch` asks. -y, a daemon job or no
 * terminal skip the question; the price limits hold either way.
 * 1 go on, 0 declined (*cause says so).
 */
static int
up_confirm(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct offer_entry *e, char **cause)
{
	double	 price = e->offer.price_per_hour;
	char	 line[64], *gpu, *a, m[MONEY_BUFSZ];
	int	 yes;

	if (o->yes || o->recreate || !is_tty(stdin) || !is_tty(stderr) ||
	    price <= 0 || price <= ctx->conf->defaults.confirm_above_usd)
		return (1);
	gpu = up_gpu_label(&e->offer);
	fprintf(stderr, "Rent %s on %s for %s/h? [Y/n] ", gpu,
	    e->drv->name, money_fmt(m, price));
	fflush(stderr);
	yes = 0;
	if (fgets(line, sizeof line, stdin) != NULL) {
		for (a = line; *a == ' ' || *a == '\t'; a++)
			;
		a[strcspn(a, " \t\r\n")] = '\0';
		yes = *a == '\0' || strcasecmp(a, "y") == 0 ||
		    strcasecmp(a, "yes") == 0;
	} else
		fputc('\n', stderr);
	if (!yes)
		*cause = xprintf("not rented: declined %s on %s for %s/h",
		    gpu, e->drv->name, m);
	free(gpu);
	return (yes);
}

/*
 * Failover climbs in price, but never past the cap (max_price from
 * --max-price, the template, the provider or defaults) nor, with no cap,
 * past defaults.failover_max_ratio times the first offer chosen.
 * 1 when offer i is out of bounds (*cause names the limit and the way
 * to lift it).
 */
static int
up_ceiling(struct cmd_ctx *ctx, const struct offer_set *s, size_t i,
    char **cause)
{
	const struct offer_entry	*e = &s->v[i];
	double				 first = s->v[0].offer.price_per_hour;
	double				 ratio =
					    ctx->conf->defaults.failover_max_ratio;
	double				 price = e->offer.price_per_hour;
	char				*gpu, m[MONEY_BUFSZ];
	char				 mc[MONEY_BUFSZ];

	if (i == 0)
		return (0);
	gpu = up_gpu_label(&e->offer);
	money_fmt(m, price);
	/* --max-price takes the figure without its "$". */
	if (e->over_cap) {
		*cause = xprintf("the next offer, %s on %s at %s/h, is above "
		    "the price cap %s/h (max_price); to rent it, pass "
		    "--max-price %s", gpu, e->drv->name, m, money_fmt(mc,
		    e->cap), m + 1);
		free(gpu);
		return (1);
	}
	if (e->cap <= 0 && ratio > 0 && price > first * ratio + 1e-9) {
		*cause = xprintf("the next offer, %s on %s at %s/h, is above "
		    "%.1fx the first offer's %s/h "
		    "(defaults.failover_max_ratio); to rent it, pass "
		    "--max-price %s or set a template max_price", gpu,
		    e->drv->name, m, ratio, money_fmt(mc, first), m + 1);
		free(gpu);
		return (1);
	}
	free(gpu);
	return (0);
}

/*
 * The budget caps refuse a rent while the breaker is tripped, and one
 * whose first hour would cross them (budget.c says which, with figures).
 */
static int
up_budget_ok(struct cmd_ctx *ctx, const struct offer_entry *e, char **cause)
{
	struct budget	 b;
	char		*why;

	budget_read(ctx->st, ctx->conf, now_wall(), &b);
	if ((why = budget_refusal(&b, e->offer.price_per_hour,
	    e->drv->name)) == NULL)
		return (1);
	*cause = why;
	return (0);
}

/* Rent one offer: intent, create, wait healthy. */
static enum up_outcome
up_attempt(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const struct offer_entry *e,
    int attempt, struct st_deployment *dep, struct up_progress *p,
    char **cause)
{
	struct st_instance	 in;
	const char		*provider = e->drv->name;
	enum up_outcome		 out = UP_STOP;
	enum up_wait_end	 w;
	enum drv_err		 kind;
	int64_t			 timeout;
	int			 r;
	char			 m[MONEY_BUFSZ];

	memset(&in, 0, sizeof in);
	if (!up_budget_ok(ctx, e, cause))
		return (UP_STOP);
	up_stage(p, "offer chosen: %s (%s x%d, %s/h, %s)", provider,
	    e->offer.gpu != NULL ? e->offer.gpu : "-", e->offer.gpu_count,
	    money_fmt(m, e->offer.price_per_hour), e->offer.region != NULL ?
	    e->offer.region : "any region");
	if (!up_confirm(ctx, o, e, cause))
		return (UP_STOP);
	if ((r = up_intent(ctx, o, t, provider, attempt, dep, &in,
	    cause)) != 0) {
		if (r == -1)
			return (UP_STOP);
		*cause = xprintf("%s was taken down while coming up", o->name);
		return (UP_DOWN);
	}
	p->wrote = 1;
	r = up_create(ctx, o, t, e->drv, &e->dctx, &e->offer, dep->name, &in,
	    &kind, cause);
	if (r == 1) {
		out = up_taken_down(ctx, dep, &in, cause);
		goto done;
	}
	if (r != 0) {
		state_event(ctx->st, dep->name, "up-failed", "%s", *cause);
		out = up_retryable(kind) ? UP_NEXT : UP_STOP;
		goto done;
	}
	state_event(ctx->st, dep->name, "created", "%s %s", provider,
	    in.provider_id);
	up_stage(p, "created: %s", in.provider_id);
	if (in.state == INST_BOOTING)
		up_stage(p, "booting");
	control_notify(ctx);
	timeout = o->timeout > 0 ? o->timeout : t->health.boot_timeout > 0 ?
	    t->health.boot_timeout : 900;
	if ((w = up_wait(ctx, o, t, e->drv, &e->dctx, &in, timeout, p,
	    cause)) != UP_WAIT_HEALTHY) {
		/* Terminated under us by a down: that is no boot failure. */
		if (up_wanted(ctx, o, 1, NULL) == 0) {
			out = up_taken_down(ctx, dep, &in, cause);
			goto done;
		}
		up_stage(p, "failed: %s", *cause);
		up_abort(ctx, dep, &in, *cause);
		out = up_interrupted || w == UP_WAIT_EXITED ? UP_STOP : UP_NEXT;
		goto done;
	}
	if ((r = up_healthy(ctx, o, dep, &in, provider, cause)) != 1) {
		if (r == 0)
			out = up_taken_down(ctx, dep, &in, cause);
		else
			up_abort(ctx, dep, &in, *cause);
		goto done;
	}
	up_stage(p, "healthy");
	control_notify(ctx);
	printf("%s is up on %s: ", dep->name, provider);
	free(*cause);
	*cause = deploy_stable_url(ctx, dep);
	printf("%s\n  upstream %s, %s x%d, %s/h\n", *cause, in.upstream,
	    in.gpu != NULL ? in.gpu : "-", e->offer.gpu_count,
	    money_fmt(m, in.price_per_hour));
	free(*cause);
	*cause = NULL;
	out = UP_OK;
done:
	st_instance_clear(&in);
	return (out);
}

/* No offer at all: say why, provider by provider. */
static int
up_no_offer(const struct fleet_template *t, const struct offer_set *s)
{
	size_t	i;
	int	over = 0;
	char	m[MONEY_BUFSZ], mc[MONEY_BUFSZ];

	for (i = 0; i < s->n; i++)
		over |= s->v[i].over_cap;
	if (over)
		fprintf(stderr, "fleet up: no offer for %s within the price "
		    "cap: cheapest is %s %s at %s/h over %s/h "
		    "(--max-price)\n", t->name, s->v[0].drv->name,
		    s->v[0].offer.gpu, money_fmt(m,
		    s->v[0].offer.price_per_hour), money_fmt(mc, s->v[0].cap));
	else
		fprintf(stderr, "fleet up: no provider can run %s now%s\n",
		    t->name, t->local.command != NULL ?
		    " (--provider local runs its local stand-in)" : "");
	for (i = 0; i < s->nnotes; i++)
		fprintf(stderr, "  %s\n", s->notes[i]);
	/* Nothing offered because no provider is set up: a setup error. */
	return (s->n == 0 && s->nnotes > 0 && s->nsetup == s->nnotes ?
	    FLEET_EXIT_USAGE : FLEET_EXIT_FAIL);
}

/*
 * --replace: take the live deployment down (as `fleet down` does), then
 * count this up as begun after that down, so the down does not overrule
 * it. Reads the deployment again; 1 found, -1 error (*cause).
 */
static int
up_replace(struct cmd_ctx *ctx, struct up_opts *o, struct st_deployment *dep,
    char **cause)
{
	struct st_instance	in;
	int			r;

	if ((r = state_instance_current(ctx->st, dep->id, &in, cause)) < 0)
		return (-1);
	st_instance_clear(&in);
	if (r == 1 && cmd_down_one(ctx, dep, "replace") != FLEET_EXIT_OK) {
		*cause = xprintf("could not take %s down to replace it",
		    dep->name);
		return (-1);
	}
	o->t0_ms = now_wall_ms() + 1;
	st_deployment_clear(dep);
	return (state_deployment_get(ctx->st, o->name, dep, cause) < 0 ? -1 :
	    1);
}

/*
 * --spot rents interruptible capacity or nothing: drop the on-demand
 * offers, and refuse (naming who had only those) when none is left.
 */
static int
up_spot_only(const struct fleet_template *t, struct offer_set *s,
    char **cause)
{
	char	*who = NULL, *tmp;
	size_t	 i, n = 0;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].offer.spot) {
			s->v[n++] = s->v[i];
			continue;
		}
		if (who == NULL || strstr(who, s->v[i].drv->name) == NULL) {
			tmp = who;
			who = xprintf("%s%s%s", tmp != NULL ? tmp : "",
			    tmp != NULL ? ", " : "", s->v[i].drv->name);
			free(tmp);
		}
		drv_offer_clear(&s->v[i].offer);
	}
	s->n = n;
	if (n == 0 && who == NULL)
		*cause = xprintf("no spot offer for %s (--spot): no provider "
		    "offers it at all", t->name);
	else if (n == 0)
		*cause = xprintf("no spot offer for %s (--spot): %s offer%s "
		    "only on-demand capacity for it; drop --spot to rent on "
		    "demand", t->name, who, strchr(who, ',') != NULL ? "" :
		    "s");
	free(who);
	return (n == 0 ? -1 : 0);
}

/*
 * Try the offers cheapest first until one comes up, one stops the walk,
 * or the next is above a price ceiling. *cause says why it ended.
 */
static enum up_outcome
up_walk(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t, const struct offer_set *s,
    struct st_deployment *dep, struct up_progress *p, char **cause)
{
	enum up_outcome	 out = UP_NEXT;
	size_t		 i;
	int		 tried = 0;

	for (i = 0; i < s->n && out == UP_NEXT; i++) {
		free(*cause);
		*cause = NULL;
		if (up_ceiling(ctx, s, i, cause)) {
			fprintf(stderr, "fleet up: %d offer%s failed; not "
			    "failing over further\n", tried, tried == 1 ? "" :
			    "s");
			return (UP_STOP);
		}
		if (tried++ > 0)
			up_stage(p, "trying the next offer");
		out = up_attempt(ctx, o, t, &s->v[i], tried - 1, dep, p,
		    cause);
		if (out == UP_NEXT)
			up_stage(p, "%s: %s", s->v[i].drv->name,
			    cmd_drv_msg(s->v[i].drv->name, *cause));
	}
	if (out == UP_NEXT) {
		free(*cause);
		*cause = xprintf("every offer failed (%d tried)", tried);
	}
	return (out);
}

/*
 * Walk the offers cheapest first; a capacity or quota error, or a boot
 * that never turns healthy (terminated first), moves to the next one.
 */
static int
up_run(struct cmd_ctx *ctx, const struct up_opts *o,
    const struct fleet_template *t)
{
	struct up_opts		 oo = *o;
	struct st_deployment	 dep;
	struct offer_set	 s;
	struct up_progress	 p = { now_mono_ms(), is_tty(stderr), 0, 0 };
	char			*cause = NULL;
	int			 r, done, rc = FLEET_EXIT_FAIL;
	int			 created = 0;
	enum up_outcome		 out = UP_NEXT;

	memset(&dep, 0, sizeof dep);
	memset(&s, 0, sizeof s);
	if (up_register(ctx, o, t, &created, &cause) != 0)
		goto out;
	if ((r = state_deployment_get(ctx->st, o->name, &dep, &cause)) < 0)
		goto out;
	if (r == 1 && o->replace && !o->recreate &&
	    (r = up_replace(ctx, &oo, &dep, &cause)) < 0)
		goto out;
	o = &oo;
	if (r == 1 && (rc = up_existing(ctx, o, t, &dep, &done), done))
		goto out;
	rc = FLEET_EXIT_FAIL;
	/* A daemon job acts only for a deployment still wanted up. */
	if (o->recreate && !up_word_ok(o, &dep, r, 0)) {
		cause = xprintf("%s was taken down while coming up", o->name);
		goto out;
	}
	if (offers_gather(ctx, t, o->provider, o->max_price, o->spot, &s,
	    &cause) != 0)
		goto out;
	if (o->spot && s.n > 0 && up_spot_only(t, &s, &cause) != 0)
		goto out;
	if (s.n == 0 || s.v[0].over_cap) {
		rc = up_no_offer(t, &s);
		goto out;
	}
	if (control_ensure_daemon(ctx, &cause) != 0)
		goto out;
	control_send_keys(ctx);
	signal(SIGINT, up_sigint);
	signal(SIGTERM, up_sigint);
	if ((out = up_walk(ctx, o, t, &s, &dep, &p, &cause)) == UP_OK)
		rc = FLEET_EXIT_OK;
	/*
	 * This up gives up what it asked for. Not when a down won (it said
	 * so already), nor when it never wrote an intent: a rival up that
	 * lost the race must not take the winner down.
	 */
	if (rc != FLEET_EXIT_OK && out != UP_DOWN && p.wrote)
		state_deployment_set_desired(ctx->st, dep.id, "down", NULL);
out:
	/* Registered by this up and never rented: leave no trace. */
	st_deployment_clear(&dep);
	if (created && rc != FLEET_EXIT_OK && out != UP_DOWN &&
	    state_deployment_get(ctx->st, o->name, &dep, NULL) == 1)
		state_deployment_delete(ctx->st, dep.id, NULL);
	if (cause != NULL && rc != FLEET_EXIT_OK)
		fprintf(stderr, "fleet up: %s\n", cause);
	free(cause);
	/* Terminated what it rented; exit as a shell says the signal did. */
	if (up_interrupted && rc != FLEET_EXIT_OK)
		rc = up_interrupted == SIGINT ? FLEET_EXIT_INTR :
		    128 + up_interrupted;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	st_deployment_clear(&dep);
	offers_free(&s);
	return (rc);
}

static int
cmd_up_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct up_opts		 o;
	struct fleet_template	*t;
	const struct fleet_driver *drv;
	struct drv_ctx		 dctx;
	char			*cause = NULL;
	int			 rc;

	if ((rc = up_parse(argc, argv, &o)) != 0)
		return (rc);
	if ((rc = cmd_load_config(ctx)) != 0)
		return (rc);
	if ((t = template_find(ctx->conf, o.tmpl_name, &cause)) == NULL) {
		fprintf(stderr, "fleet up: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_USAGE);
	}
	if ((rc = cmd_open_state(ctx)) != 0) {
		template_free(t);
		return (rc);
	}
	/* A named provider must exist and have its key: a usage error. */
	if (o.provider != NULL && driver_find(o.provider) == NULL)
		cause = cmd_unknown_provider(o.provider);
	if (o.provider != NULL && (cause != NULL ||
	    deploy_driver(ctx, o.provider, &drv, &dctx, &cause) != 0)) {
		fprintf(stderr, "fleet up: %s\n", cause);
		free(cause);
		template_free(t);
		return (FLEET_EXIT_USAGE);
	}
	if (o.provider != NULL && t->deadman_timeout > 0 &&
	    !driver_deadman_ok(drv, &cause)) {
		fprintf(stderr, "fleet up: template %s sets deadman_timeout, "
		    "but %s\n", t->name, cause);
		free(cause);
		template_free(t);
		return (FLEET_EXIT_USAGE);
	}
	/* An unset ${VAR} fails here, before offers: nothing is rented. */
	if (template_check_vars(t, o.provider == NULL ? TMPL_VARS_ALL :
	    (drv->flags & DRV_LOCAL) ? TMPL_VARS_LOCAL : TMPL_VARS_ENV,
	    &cause) != 0) {
		fprintf(stderr, "fleet up: %s\n", cause);
		free(cause);
		template_free(t);
		return (FLEET_EXIT_USAGE);
	}
	rc = up_run(ctx, &o, t);
	template_free(t);
	return (rc);
}
