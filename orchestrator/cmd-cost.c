/* cmd-cost.c: `fleet cost`: spend from the ledger, grouped, with a total. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "state.h"
#include "budget.h"

static int cmd_cost_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_cost_entry = {
	"cost",
	"[--since DURATION|all] [--by deployment|provider|day] [--json]",
	"what the fleet spent, by deployment, provider or day",
	"Sums the spend ledger (closed billing segments) and the segments\n"
	"still open up to now, from the state store (no provider calls).\n"
	"A segment that began before the window counts only for the part\n"
	"inside it; a day gets only its own share of a segment that spans\n"
	"midnight (local time).\n\n"
	"  --since DUR   the window, ending now (default 7d); `all` for\n"
	"                everything recorded\n"
	"  --by KEY      deployment (default), provider or day\n"
	"  --json        {since, until, by, groups: [{key, usd, hours}],\n"
	"                total_usd, breaker}\n"
	"While the budget breaker is tripped, a last line says so: the cap\n"
	"reached and when new launches open (breaker: null otherwise).\n",
	cmd_cost_exec,
	0
};

static const char *cost_by_names[] = { "deployment", "provider", "day" };

static int
cost_parse_by(const char *s, enum st_cost_by *by)
{
	size_t	i;

	for (i = 0; i < nitems(cost_by_names); i++) {
		if (strcmp(s, cost_by_names[i]) == 0) {
			*by = (enum st_cost_by)i;
			return (0);
		}
	}
	return (-1);
}

static void
cost_json(const struct st_cost *c, int n, enum st_cost_by by, int64_t since,
    int64_t now, double total, const struct budget *b)
{
	cJSON	*top = cJSON_CreateObject(), *a, *o;
	char	*ts, *txt;
	int	 i;

	if (since > 0) {
		ts = format_time(since);
		cJSON_AddStringToObject(top, "since", ts);
		free(ts);
	} else
		cJSON_AddNullToObject(top, "since");
	ts = format_time(now);
	cJSON_AddStringToObject(top, "until", ts);
	free(ts);
	cJSON_AddStringToObject(top, "by", cost_by_names[by]);
	a = cJSON_AddArrayToObject(top, "groups");
	for (i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", c[i].key);
		cJSON_AddNumberToObject(o, "usd", c[i].usd);
		cJSON_AddNumberToObject(o, "hours", c[i].seconds / 3600.0);
		cJSON_AddItemToArray(a, o);
	}
	cJSON_AddNumberToObject(top, "total_usd", total);
	budget_json_add(top, "breaker", b);
	txt = cJSON_Print(top);
	printf("%s\n", txt);
	free(txt);
	cJSON_Delete(top);
}

static void
cost_table(const struct st_cost *c, int n, enum st_cost_by by,
    const char *window, double total, int64_t secs)
{
	char	*m;
	int	 i;

	printf("%-24s %10s %12s\n", by == ST_COST_DAY ? "DAY" :
	    by == ST_COST_PROVIDER ? "PROVIDER" : "DEPLOYMENT", "HOURS",
	    "COST");
	for (i = 0; i < n; i++) {
		m = format_money(c[i].usd);
		printf("%-24s %10.2f %12s\n", c[i].key, c[i].seconds / 3600.0,
		    m);
		free(m);
	}
	m = format_money(total);
	printf("%-24s %10.2f %12s\n", "TOTAL", secs / 3600.0, m);
	free(m);
	printf("(%s)\n", window);
}

static int
cmd_cost_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "by", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct st_cost	*c;
	struct budget	 b;
	enum st_cost_by	 by = ST_COST_DEPLOYMENT;
	const char	*since_arg = "7d";
	char		*cause = NULL, *window;
	int64_t		 span = 0, since = 0, now = now_wall(), secs = 0;
	double		 total = 0;
	int		 ch, n, i, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			since_arg = optarg;
			break;
		case 'b':
			if (cost_parse_by(optarg, &by) != 0)
				return (cmd_usage_error(&cmd_cost_entry,
				    "--by must be deployment, provider or day, "
				    "not '%s'", optarg));
			break;
		case 'j':
			json = 1;
			break;
		default:
			return (cmd_usage_error(&cmd_cost_entry, "bad option"));
		}
	}
	if (optind != argc)
		return (cmd_usage_error(&cmd_cost_entry,
		    "no arguments expected"));
	if (strcmp(since_arg, "all") != 0) {
		if (parse_duration(since_arg, &span, &cause) != 0 ||
		    span <= 0) {
			rc = cmd_usage_error(&cmd_cost_entry, "--since: %s",
			    cause != NULL ? cause : "must be positive");
			free(cause);
			return (rc);
		}
		since = now - span;
	}
	if ((rc = cmd_open_state(ctx)) != 0)
		return (rc);
	if (state_cost(ctx->st, by, since, now, &c, &n, &cause) != 0) {
		fprintf(stderr, "fleet cost: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	for (i = 0; i < n; i++) {
		total += c[i].usd;
		secs += c[i].seconds;
	}
	budget_read(ctx->st, ctx->conf, now, &b);
	if (json)
		cost_json(c, n, by, since, now, total, &b);
	else {
		window = since > 0 ? xprintf("last %s, up to now", since_arg) :
		    xstrdup("everything recorded, up to now");
		cost_table(c, n, by, window, total, secs);
		free(window);
		if ((window = budget_breaker_line(&b)) != NULL) {
			printf("%s\n", window);
			free(window);
		}
	}
	st_cost_list_free(c, n);
	return (FLEET_EXIT_OK);
}
