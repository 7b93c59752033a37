/* driver-vast.h: Vast.ai response parsers, exposed for unit and fuzz tests. */
#ifndef DRIVER_VAST_H
#define DRIVER_VAST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "driver.h"

/*
 * Environment knobs (not yet fleet.yaml keys):
 *   FLEET_VAST_MIN_RELIABILITY  host reliability floor, 0..1 (default 0.95)
 *   FLEET_VAST_VERIFIED         1: verified hosts only (default), 0: any
 *   FLEET_VAST_RUNTYPE          args (default): keep the image's ENTRYPOINT
 *                               and pass the template's args as its CMD;
 *                               ssh: Vast's entrypoint (sshd) runs, the
 *                               template's args become the onstart script
 */

/* Map actual_status/intended_status/cur_state/status_msg to a fleet state. */
enum inst_state	 vast_state(const char *actual, const char *intended,
		    const char *cur_state, const char *status_msg);

/*
 * Classify a refused call: HTTP status (0: none, 200: success false) and
 * the body as sent; creating says a 404/410 means "offer gone".
 */
void		 vast_error(long status, const char *body, size_t len,
		    int creating, struct drv_error *);

/* One instance object; -1 if it is not one (no usable id). */
int		 vast_instance_from_json(const cJSON *, struct drv_instance *);

/*
 * A bundles search answer as offers, cheapest first. With a template the
 * offers are also checked against its requirement (and the reliability
 * and verified floors); with NULL every well-formed offer is kept.
 */
int		 vast_offers_from_json(const char *body, size_t len,
		    const struct fleet_template *, struct drv_offer **,
		    size_t *, struct drv_error *);

/*
 * One page of the instance list: every instance object, and the token
 * of the next page (NULL on the last). A missing "instances" array is
 * an error, never an empty list.
 */
int		 vast_instances_from_json(const char *body, size_t len,
		    struct drv_instance **, size_t *, char **next_token,
		    struct drv_error *);

/* Does a template GPU model (e.g. "A100 80GB") accept a Vast gpu_name? */
/* GET /api/v0/users/current/ as an account (credit, email). */
int		 vast_account_from_json(const cJSON *, struct drv_account *);
int		 vast_model_accepts(const char *model, const char *gpu_name,
		    int *min_vram_gb);

#endif
