/* cmd-offers.c: `fleet offers TEMPLATE`: price and capacity, cheapest first. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "offers.h"

static int cmd_offers_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_offers_entry = {
	"offers",
	"TEMPLATE [--provider P] [--max-price USD] [--spot] [--json]",
	"what TEMPLATE can be rented for now, across providers, cheapest first",
	"Asks every enabled provider that has an API key (or only --provider)\n"
	"for offers that fit the template's GPU requirement and lists them by\n"
	"price per hour. Offers above the price cap (--max-price, the\n"
	"template's max_price, the provider's, then defaults.max_price) are\n"
	"marked. Providers that were skipped or failed are listed with why.\n"
	"This is the order `fleet up` tries them in. --spot (or spot: true in\n"
	"the template) asks for interruptible capacity where offered.\n\n"
	"  --json   {\"offers\": [{provider, gpu, count, vram_gb,\n"
	"           price_per_hour, region, available, spot, over_cap}],\n"
	"           \"notes\": [...]}\n",
	cmd_offers_exec,
	0
};

static void
offers_print(const struct offer_set *s)
{
	const struct offer_entry	*e;
	char				 avail[16], m[MONEY_BUFSZ];
	size_t				 i;

	printf("%-11s %-26s %5s %6s %8s  %-18s %s\n", "PROVIDER", "GPU",
	    "COUNT", "VRAM", "$/h", "REGION", "AVAILABLE");
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		if (e->offer.available < 0)
			snprintf(avail, sizeof avail, "unknown");
		else
			snprintf(avail, sizeof avail, "%d", e->offer.available);
		printf("%-11s %-26s %5d %5dG %8s  %-18s %s%s%s\n",
		    e->drv->name, e->offer.gpu != NULL ? e->offer.gpu : "-",
		    e->offer.gpu_count, e->offer.vram_gb,
		    money_fmt(m, e->offer.price_per_hour),
		    e->offer.region != NULL ?
		    e->offer.region : "-", avail, e->offer.spot ? " spot" : "",
		    e->over_cap ? " (over price cap)" : "");
	}
	for (i = 0; i < s->nnotes; i++)
		printf("note: %s\n", s->notes[i]);
}

static void
offers_json(const struct offer_set *s)
{
	cJSON				*o = cJSON_CreateObject(), *a, *x;
	const struct offer_entry	*e;
	char				*txt;
	size_t				 i;

	a = cJSON_AddArrayToObject(o, "offers");
	for (i = 0; i < s->n; i++) {
		e = &s->v[i];
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "provider", e->drv->name);
		cJSON_AddStringToObject(x, "gpu", e->offer.gpu != NULL ?
		    e->offer.gpu : "");
		cJSON_AddNumberToObject(x, "count", e->offer.gpu_count);
		cJSON_AddNumberToObject(x, "vram_gb", e->offer.vram_gb);
		cJSON_AddNumberToObject(x, "price_per_hour",
		    e->offer.price_per_hour);
		cJSON_AddStringToObject(x, "region", e->offer.region != NULL ?
		    e->offer.region : "");
		/* Unknown is null, not a number a script could add up. */
		if (e->offer.available < 0)
			cJSON_AddNullToObject(x, "available");
		else
			cJSON_AddNumberToObject(x, "available",
			    e->offer.available);
		cJSON_AddBoolToObject(x, "spot", e->offer.spot);
		cJSON_AddBoolToObject(x, "over_cap", e->over_cap);
		cJSON_AddItemToArray(a, x);
	}
	a = cJSON_AddArrayToObject(o, "notes");
	for (i = 0; i < s->nnotes; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s->notes[i]));
	txt = cJSON_Print(o);
	printf("%s\n", txt);
	free(txt);
	cJSON_Delete(o);
}

static int
cmd_offers_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "max-price", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "spot", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct fleet_template	*t;
	struct offer_set	 s;
	int			 spot = 0;
	const char		*provider = NULL;
	char			*cause = NULL;
	double			 max_price = 0;
	int			 ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'p')
			provider = optarg;
		else if (ch == 's')
			spot = 1;
		else if (ch == 'j')
			json = 1;
		else if (ch != 'm' || parse_money(optarg, &max_price,
		    &cause) != 0) {
			rc = cmd_usage_error(&cmd_offers_entry, "%s",
			    cause != NULL ? cause : "bad option");
			free(cause);
			return (rc);
		}
	}
	if (optind != argc - 1)
		return (cmd_usage_error(&cmd_offers_entry, "need one TEMPLATE"));
	if ((rc = cmd_state_dir(ctx)) != 0)
		return (rc);
	if ((t = template_find(ctx->conf, argv[optind], &cause)) == NULL) {
		fprintf(stderr, "fleet offers: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_USAGE);
	}
	if (offers_gather(ctx, t, provider, max_price, spot, &s,
	    &cause) != 0) {
		fprintf(stderr, "fleet offers: %s\n", cause);
		free(cause);
		template_free(t);
		return (FLEET_EXIT_USAGE);
	}
	if (json)
		offers_json(&s);
	else
		offers_print(&s);
	rc = s.n > 0 ? FLEET_EXIT_OK : FLEET_EXIT_FAIL;
	offers_free(&s);
	template_free(t);
	return (rc);
}
