/* budget.h: the fleet-wide spend caps and their breaker, read one way. */
#ifndef BUDGET_H
#define BUDGET_H

#include <stdint.h>

struct cJSON;
struct fleet_config;
struct state;

/*
 * budget.daily_usd and budget.monthly_usd cap what the whole fleet spends
 * in a UTC day and in a UTC calendar month. The breaker is tripped while
 * the spend of a period has reached its cap: the daemon's watchdog then
 * ends every billing deployment, and `fleet up` refuses until the next
 * period starts. Nothing is stored for it: spend only grows within a
 * period, so the ledger alone gives the same answer after any restart,
 * in the daemon and in every command (ls, status, cost, up).
 */
enum budget_kind { BUDGET_DAILY, BUDGET_MONTHLY };

struct budget_period {
	enum budget_kind kind;
	const char	*name;		/* "daily" or "monthly" */
	const char	*key;		/* "budget.daily_usd", ... */
	const char	*span;		/* "today" or "this month" */
	double		 cap;		/* $, 0 = no cap (spent not read) */
	double		 spent;		/* $ in [start, now] */
	int64_t		 start;		/* UTC midnight, or the 1st 00:00Z */
	int64_t		 opens;		/* the next period's start */
};

struct budget {
	int64_t			 now;
	struct budget_period	 p[2];	/* indexed by enum budget_kind */
};

/* This UTC day's (or month's) start and the next one's. Pure. */
void	 budget_bounds(int64_t now, enum budget_kind, int64_t *start,
	    int64_t *next);

/* Caps from conf, spend from the ledger at now (only for caps set). */
void	 budget_read(struct state *, const struct fleet_config *,
	    int64_t now, struct budget *);

/*
 * The period whose cap the spend has reached, or NULL: not tripped. When
 * both have, the one that opens last, since that is when launches can
 * start again. Pure.
 */
const struct budget_period *budget_tripped(const struct budget *);

/*
 * Why a rent of hourly $/h must be refused now, or NULL when it fits:
 * a tripped breaker ("the budget breaker is tripped: daily $X of $Y; new
 * launches open at T"), else a first hour that would cross a cap. The
 * string is the caller's. Pure.
 */
char	*budget_refusal(const struct budget *, double hourly,
	    const char *provider);

/* "daily $0.0123 of $0.0001", the caller's. Pure. */
char	*budget_figures(const struct budget_period *);

/*
 * "stopped by the budget breaker: daily $X of $Y; new launches open at
 * 2026-12-08T00:00:00Z (in 1h2m)", or NULL when not tripped. Pure.
 */
char	*budget_breaker_line(const struct budget *);

/*
 * Did the breaker stop this deployment in the tripped period, with no
 * rent since? 1 or 0 (also when not tripped, or on a read error).
 */
int	 budget_stopped(struct state *, const struct budget *,
	    const char *deployment);

/*
 * Add key: null, or {period, spent_usd, cap_usd, since, opens_at,
 * opens_in_seconds, message} while tripped: the same facts as the line.
 */
void	 budget_json_add(struct cJSON *, const char *key,
	    const struct budget *);

#endif
