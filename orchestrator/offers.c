/* offers.c: what can be rented for a template, across providers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "offers.h"

static void
offers_note(struct offer_set *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
offers_note(struct offer_set *s, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	s->notes = xreallocarray(s->notes, s->nnotes + 1, sizeof *s->notes);
	s->notes[s->nnotes++] = msg;
}

/* Position of a provider in the template's preference list, or -1. */
static int
offers_pref(const struct fleet_template *t, const char *name)
{
	int	i;

	for (i = 0; i < t->nproviders; i++)
		if (strcmp(t->providers[i], name) == 0)
			return (i);
	return (-1);
}

/*
 * Is this driver a candidate when the user named no provider? Clouds are,
 * unless the template lists others; `local` runs only a stand-in, so it
 * is chosen for GPU-less templates or when the template lists it.
 */
static int
offers_candidate(const struct fleet_template *t,
    const struct fleet_driver *d)
{
	int	pref = offers_pref(t, d->name);

	if (d->flags & DRV_LOCAL)
		return (pref >= 0 || (t->gpu.count == 0 &&
		    t->local.command != NULL));
	return (t->nproviders == 0 || pref >= 0);
}

static double
offers_cap(struct cmd_ctx *ctx, const struct fleet_template *t,
    const struct drv_ctx *dctx, double max_price)
{
	if (max_price > 0)
		return (max_price);
	if (t->max_price > 0)
		return (t->max_price);
	if (dctx->pconf != NULL && dctx->pconf->max_price > 0)
		return (dctx->pconf->max_price);
	return (ctx->conf->defaults.max_price);
}

/*
 * gpu.count is exact, or a range up to count_max: a driver may offer
 * bigger machines (Lambda's 8x types fit "at least one"), which would
 * rent many times what the user asked for.
 */
static int
offers_count_ok(const struct fleet_template *t, const struct fleet_driver *d,
    const struct drv_offer *o)
{
	int	hi = t->gpu.count_max > 0 ? t->gpu.count_max : t->gpu.count;

	/* local runs a stand-in on this machine: no GPU rented, no bill. */
	if (t->gpu.count <= 0 || (d->flags & DRV_LOCAL))
		return (1);
	return (o->gpu_count >= t->gpu.count && o->gpu_count <= hi);
}

static void
offers_from(struct cmd_ctx *ctx, const struct fleet_template *t,
    const struct fleet_driver *d, double max_price, int spot,
    struct offer_set *s)
{
	struct drv_ctx		 dctx;
	struct drv_offer	*o;
	struct drv_error	 err;
	struct offer_entry	*e;
	char			*cause = NULL;
	char			*name;
	size_t			 n, i, kept = 0, wrong = 0;
	int			 pref, seen = 0;

	/* Renting without the watcher would drop what the template asks. */
	if (t->deadman_timeout > 0 && !driver_deadman_ok(d, &cause)) {
		offers_note(s, "%s: skipped: %s", d->name, cause);
		free(cause);
		return;
	}
	if (driver_ctx_init(&dctx, d, ctx->conf, ctx->state_dir,
	    &cause) != 0) {
		offers_note(s, "%s", cause);	/* names the provider */
		s->nsetup++;
		free(cause);
		return;
	}
	dctx.spot = spot || t->spot;
	memset(&err, 0, sizeof err);
	if (d->offers(&dctx, t, &o, &n, &err) != 0) {
		offers_note(s, "%s: %s (%s)%s%s", d->name,
		    cmd_drv_msg(d->name, err.message),
		    drv_err_name(err.kind), err.kind == DRV_ERR_AUTH ?
		    "; check " : "", err.kind == DRV_ERR_AUTH ?
		    drv_key_env(&dctx, d) : "");
		return;
	}
	pref = offers_pref(t, d->name);
	s->v = xreallocarray(s->v, s->n + (n > 0 ? n : 1), sizeof *s->v);
	for (i = 0; i < n; i++) {
		if (!offers_count_ok(t, d, &o[i])) {
			if (wrong++ == 0)
				seen = o[i].gpu_count;
			drv_offer_clear(&o[i]);
			continue;
		}
		kept++;
		/* One name per model, whatever this provider calls it. */
		if ((name = drv_gpu_name(o[i].gpu, o[i].vram_gb)) != NULL) {
			free(o[i].gpu);
			o[i].gpu = name;
		}
		e = &s->v[s->n++];
		memset(e, 0, sizeof *e);
		e->drv = d;
		e->dctx = dctx;
		e->offer = o[i];
		e->cap = offers_cap(ctx, t, &dctx, max_price);
		e->over_cap = e->cap > 0 && o[i].price_per_hour > e->cap;
		e->pref = pref >= 0 ? pref : 1000;
	}
	free(o);	/* the entries own the strings now */
	if (wrong > 0)
		offers_note(s, "%s: %zu offer%s of %d GPUs skipped: %s asks for "
		    "%s%d (gpu.count_max in the template allows more)",
		    d->name, wrong, wrong == 1 ? "" : "s", seen, t->name,
		    t->gpu.count_max > 0 ? "up to " : "exactly ",
		    t->gpu.count_max > 0 ? t->gpu.count_max : t->gpu.count);
	else if (kept == 0)
		offers_note(s, "%s: nothing that fits %s", d->name, t->name);
}

static int
offers_cmp(const void *a, const void *b)
{
	const struct offer_entry	*x = a, *y = b;

	if (x->over_cap != y->over_cap)
		return (x->over_cap - y->over_cap);
	if (x->offer.price_per_hour != y->offer.price_per_hour)
		return (x->offer.price_per_hour < y->offer.price_per_hour ?
		    -1 : 1);
	return (x->pref - y->pref);
}

int
offers_gather(struct cmd_ctx *ctx, const struct fleet_template *t,
    const char *provider, double max_price, int spot, struct offer_set *s,
    char **cause)
{
	const struct fleet_driver	**d, *one;

	memset(s, 0, sizeof *s);
	if (provider != NULL) {
		if ((one = driver_find(provider)) == NULL) {
			*cause = cmd_unknown_provider(provider);
			return (-1);
		}
		offers_from(ctx, t, one, max_price, spot, s);
	} else {
		for (d = driver_table; *d != NULL; d++)
			if (offers_candidate(t, *d))
				offers_from(ctx, t, *d, max_price, spot, s);
	}
	if (s->n > 1)
		qsort(s->v, s->n, sizeof *s->v, offers_cmp);
	return (0);
}

void
offers_free(struct offer_set *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		drv_offer_clear(&s->v[i].offer);
	free(s->v);
	for (i = 0; i < s->nnotes; i++)
		free(s->notes[i]);
	free(s->notes);
	memset(s, 0, sizeof *s);
}
