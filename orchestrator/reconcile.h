/* reconcile.h: provider truth vs state, shared by `reconcile` and `reap`. */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

struct cJSON;
struct cmd_ctx;
struct st_deployment;

/* One thing a pass did or found, for the text and the JSON report. */
struct rc_action {
	char		*kind;		/* "adopted", "vanished", ... */
	char		*deployment;	/* NULL: none */
	char		*provider;
	char		*instance;	/* provider id, else label */
	char		*message;
	int		 error;		/* a provider call or job failed */
};

/* A labelled instance at a provider that state does not track alive. */
struct rc_orphan {
	char		*provider;
	char		*id;
	char		*label;
	char		*gpu;
	enum inst_state	 state;
	double		 price_per_hour;
	int		 terminated;	/* reap: done */
	char		*error;		/* reap: why it was not */
};

/* How one provider's check went. */
struct rc_provider {
	char		*name;
	int		 ok;
	int		 listed;	/* labelled instances it listed */
	char		*error;		/* when !ok */
};

struct rc_report {
	struct rc_provider	*providers;
	size_t			 nproviders;
	struct rc_action	*actions;
	size_t			 nactions;
	struct rc_orphan	*orphans;
	size_t			 norphans;
	int			 failed;	/* provider calls failed */
	int			 changed;	/* state written */
};

#define RC_FIX		0x1	/* write provider truth into state */
#define RC_RECREATE	0x2	/* re-create vanished wanted-up ones */

/* An intent row this old whose label no provider lists never got created. */
#define RC_INTENT_GRACE	600
/* A late create may carry a provider clock this far behind ours. */
#define RC_LATE_SLACK	300

/*
 * Re-creation is bounded: at most the template's max_recreates (default 3)
 * per deployment in any RC_RECREATE_WINDOW, counted from the "recreate"
 * events of the log (so restarts forget nothing). A vanish past the limit,
 * or under on_vanish: down, sets the deployment down with a "vanish-down"
 * event saying why; only the user brings it back.
 */
#define RC_RECREATE_WINDOW	86400

enum rc_verdict {
	RC_VERDICT_RECREATE,	/* re-create it */
	RC_VERDICT_POLICY,	/* on_vanish: down */
	RC_VERDICT_LIMIT	/* max_recreates reached in the window */
};

/* A deployment's re-creations in the window, and what its template allows. */
struct rc_recreates {
	int		 count;		/* "recreate" events in the window */
	int		 max;		/* max_recreates */
	int		 on_vanish;	/* enum vanish_action */
	int		 known;		/* 0: no template found, defaults */
};

enum rc_verdict reconcile_vanish_verdict(const struct rc_recreates *);
int	 reconcile_recreates(struct cmd_ctx *, const struct st_deployment *,
	    int64_t now, struct rc_recreates *);
int	 reconcile_taken_down(struct cmd_ctx *, const struct st_deployment *,
	    int64_t now, char **why);

int	 reconcile_lock(struct cmd_ctx *, char **cause);
void	 reconcile_unlock(int);
int	 reconcile_run(struct cmd_ctx *, int flags, struct rc_report *);
int	 reconcile_reap_one(struct cmd_ctx *, struct rc_orphan *);
void	 reconcile_report_free(struct rc_report *);

/* cmd-reconcile.c: the report as JSON, shared with `fleet reap`. */
struct cJSON *reconcile_report_json(const struct rc_report *);

#endif
