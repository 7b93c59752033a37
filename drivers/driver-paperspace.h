/* driver-paperspace.h: the Paperspace driver's parsers, for tests and fuzz. */
#ifndef DRIVER_PAPERSPACE_H
#define DRIVER_PAPERSPACE_H

#include <stddef.h>

#include "driver.h"

struct fleet_template;

/* Env var overriding the built-in price table: "A100-80G=3.18,A6000=1.89". */
#define PAPERSPACE_PRICES_ENV	"FLEET_PAPERSPACE_PRICES"
/* Env var forcing the OS template id instead of choosing one. */
#define PAPERSPACE_TEMPLATE_ENV	"FLEET_PAPERSPACE_TEMPLATE"
#define PAPERSPACE_DEFAULT_REGION "NY2"

/* A Paperspace machine state (v1 enum) as a fleet state. */
enum inst_state paperspace_state_map(const char *);

/*
 * Parse one machine (GET /machines/{id} answers a bare object; create,
 * start, stop and delete wrap it in {"data": ...}; both are accepted).
 */
int	 paperspace_machine_parse(const char *body, size_t len,
	    struct drv_instance *, struct drv_error *);

/*
 * Parse one page of GET /machines, appending the machines whose name
 * starts with "fleet-" to *out (n entries, cap allocated). *next is the
 * cursor of the next page, or NULL when hasMore is false.
 */
int	 paperspace_list_parse(const char *body, size_t len,
	    struct drv_instance **out, size_t *n, size_t *cap, char **next,
	    struct drv_error *);

/*
 * Map an HTTP answer to a typed error; returns 0 (and leaves err alone)
 * when the answer is a success, -1 with err set otherwise. A 2xx body
 * holding only {code, message} is an error too (as the official CLI sees
 * it). key, if not NULL, is scrubbed from the message.
 */
int	 paperspace_error_parse(long status, const char *body, size_t len,
	    const char *key, struct drv_error *);

/*
 * The hourly price of a machine type: FLEET_PAPERSPACE_PRICES first, then
 * the built-in table; 0 if neither knows it.
 */
/* GET /machines?limit=1 as an account: the key works, no more. */
int	 paperspace_account_parse(const char *body, size_t len,
	    struct drv_account *, struct drv_error *);
double	 paperspace_price(const char *type);
/* Check a FLEET_PAPERSPACE_PRICES value; -1 with cause if malformed. */
int	 paperspace_prices_check(const char *spec, char **cause);

/*
 * Choose the OS template for a machine type from a GET /os-templates page:
 * the id (caller frees) or NULL; *unavailable is set when templates list
 * the type but none has it available (no capacity).
 */
char	*paperspace_template_choose(const char *body, size_t len,
	    const char *type, int *unavailable);

/*
 * The startup script that runs the template's image with docker; deadman,
 * if not NULL, is the dead-man watcher (deadman_script()) it starts first.
 */
char	*paperspace_startup_script(const struct fleet_template *,
	    const char *deadman);

#endif
