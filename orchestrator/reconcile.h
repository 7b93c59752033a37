/* reconcile.h: provider truth vs state, shared by `reconcile` and `reap`. */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stddef.h>

#include "driver.h"

struct cJSON;
struct cmd_ctx;

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

int	 reconcile_lock(struct cmd_ctx *, char **cause);
void	 reconcile_unlock(int);
int	 reconcile_run(struct cmd_ctx *, int flags, struct rc_report *);
int	 reconcile_reap_one(struct cmd_ctx *, struct rc_orphan *);
void	 reconcile_report_free(struct rc_report *);

/* cmd-reconcile.c: the report as JSON, shared with `fleet reap`. */
struct cJSON *reconcile_report_json(const struct rc_report *);

#endif
