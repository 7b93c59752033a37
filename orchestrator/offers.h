/* offers.h: offers gathered across providers, cheapest first. */
#ifndef OFFERS_H
#define OFFERS_H

#include <stddef.h>

#include "driver.h"

struct cmd_ctx;

struct offer_entry {
	const struct fleet_driver *drv;
	struct drv_ctx		 dctx;
	struct drv_offer	 offer;
	double			 cap;	/* applicable $/h cap, 0 = none */
	int			 over_cap;
	int			 pref;	/* place in the template's list */
};

struct offer_set {
	struct offer_entry	*v;
	size_t			 n;
	char		       **notes;	/* why a provider gave nothing */
	size_t			 nnotes;
	size_t			 nsetup;	/* notes that are setup errors: no
					   key, disabled, a refused key file */
};

/*
 * Ask every candidate provider (or only `provider`) for offers that fit
 * the template, sorted by price then preference. Providers without a key,
 * disabled ones and failing ones leave a note instead of an error.
 */
int	 offers_gather(struct cmd_ctx *, const struct fleet_template *,
	    const char *provider, double max_price, int spot,
	    struct offer_set *, char **cause);
void	 offers_free(struct offer_set *);

#endif
