/* budget.c: spend against budget.daily_usd/monthly_usd; the breaker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "state.h"
#include "budget.h"

void
budget_bounds(int64_t now, enum budget_kind kind, int64_t *start,
    int64_t *next)
{
	time_t		t = (time_t)now;
	struct tm	tm;

	gmtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = 0;
	if (kind == BUDGET_MONTHLY)
		tm.tm_mday = 1;
	*start = (int64_t)timegm(&tm);
	/* timegm normalises day 32 and month 12 into the next ones. */
	if (kind == BUDGET_MONTHLY)
		tm.tm_mon++;
	else
		tm.tm_mday++;
	*next = (int64_t)timegm(&tm);
}

void
budget_read(struct state *st, const struct fleet_config *c, int64_t now,
    struct budget *b)
{
	struct budget_period	*p;

	memset(b, 0, sizeof *b);
	b->now = now;
	p = &b->p[BUDGET_DAILY];
	p->kind = BUDGET_DAILY;
	p->name = "daily";
	p->key = "budget.daily_usd";
	p->span = "today";
	p->cap = c != NULL ? c->budget.daily_usd : 0;
	p = &b->p[BUDGET_MONTHLY];
	p->kind = BUDGET_MONTHLY;
	p->name = "monthly";
	p->key = "budget.monthly_usd";
	p->span = "this month";
	p->cap = c != NULL ? c->budget.monthly_usd : 0;
	for (p = b->p; p < b->p + nitems(b->p); p++) {
		budget_bounds(now, p->kind, &p->start, &p->opens);
		if (p->cap > 0 && st != NULL)
			p->spent = state_spent_since(st, p->start, now);
	}
}

const struct budget_period *
budget_tripped(const struct budget *b)
{
	const struct budget_period	*p, *hit = NULL;

	for (p = b->p; p < b->p + nitems(b->p); p++) {
		if (p->cap <= 0 || p->spent < p->cap)
			continue;
		if (hit == NULL || p->opens > hit->opens)
			hit = p;
	}
	return (hit);
}

char *
budget_figures(const struct budget_period *p)
{
	char	*spent = format_money(p->spent), *cap = format_money(p->cap);
	char	*s;

	s = xprintf("%s %s of %s", p->name, spent, cap);
	free(spent);
	free(cap);
	return (s);
}

/* "2026-12-08T00:00:00Z (in 1h2m)": when the period's launches open. */
static char *
budget_opens_text(const struct budget_period *p, int64_t now)
{
	char	*ts = format_time(p->opens), *in, *s;

	in = format_duration(p->opens > now ? p->opens - now : 0);
	s = xprintf("%s (in %s)", ts, in);
	free(ts);
	free(in);
	return (s);
}

char *
budget_refusal(const struct budget *b, double hourly, const char *provider)
{
	const struct budget_period	*p;
	char				*fig, *opens, *s, m0[MONEY_BUFSZ];
	char				 m1[MONEY_BUFSZ], m2[MONEY_BUFSZ];

	if ((p = budget_tripped(b)) != NULL) {
		fig = budget_figures(p);
		opens = budget_opens_text(p, b->now);
		s = xprintf("the budget breaker is tripped: %s (%s); new "
		    "launches open at %s", fig, p->key, opens);
		free(opens);
		free(fig);
		return (s);
	}
	for (p = b->p; p < b->p + nitems(b->p); p++) {
		if (p->cap > 0 && p->spent + hourly > p->cap)
			return (xprintf("refused by %s: spent %s %s + %s "
			    "for the first hour of %s > cap %s", p->key,
			    money_fmt(m0, p->spent), p->span, money_fmt(m1,
			    hourly), provider, money_fmt(m2, p->cap)));
	}
	return (NULL);
}

char *
budget_breaker_line(const struct budget *b)
{
	const struct budget_period	*p;
	char				*fig, *opens, *s;

	if ((p = budget_tripped(b)) == NULL)
		return (NULL);
	fig = budget_figures(p);
	opens = budget_opens_text(p, b->now);
	s = xprintf("stopped by the budget breaker: %s; new launches open at "
	    "%s", fig, opens);
	free(opens);
	free(fig);
	return (s);
}

/*
 * The watchdog records a "budget" event on each deployment it ends; one
 * in the tripped period with no "created" after it is the breaker's doing.
 */
int
budget_stopped(struct state *st, const struct budget *b,
    const char *deployment)
{
	const struct budget_period	*p = budget_tripped(b);
	struct st_event			 stop, created;
	int				 r;

	memset(&created, 0, sizeof created);
	if (p == NULL || state_event_last(st, deployment, "budget", &stop,
	    NULL) != 1)
		return (0);
	r = stop.ts >= p->start;
	if (r && state_event_last(st, deployment, "created", &created,
	    NULL) == 1 && created.id > stop.id)
		r = 0;
	st_event_clear(&created);
	st_event_clear(&stop);
	return (r);
}

void
budget_json_add(cJSON *o, const char *key, const struct budget *b)
{
	const struct budget_period	*p = budget_tripped(b);
	cJSON				*j;
	char				*s;

	if (p == NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	j = cJSON_AddObjectToObject(o, key);
	cJSON_AddStringToObject(j, "period", p->name);
	cJSON_AddNumberToObject(j, "spent_usd", p->spent);
	cJSON_AddNumberToObject(j, "cap_usd", p->cap);
	s = format_time(p->start);
	cJSON_AddStringToObject(j, "since", s);
	free(s);
	s = format_time(p->opens);
	cJSON_AddStringToObject(j, "opens_at", s);
	free(s);
	cJSON_AddNumberToObject(j, "opens_in_seconds", (double)(p->opens >
	    b->now ? p->opens - b->now : 0));
	s = budget_breaker_line(b);
	cJSON_AddStringToObject(j, "message", s);
	free(s);
}
