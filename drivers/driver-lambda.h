/* driver-lambda.h: Lambda response parsers, for tests and fuzzing. */
#ifndef DRIVER_LAMBDA_H
#define DRIVER_LAMBDA_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "driver.h"

/* Instance object -> normalised instance; -1 if it has no id or status. */
int	 lambda_parse_instance(const cJSON *, struct drv_instance *);
/*
 * The `data` of GET /instance-types -> offers that fit the template (NULL:
 * every type), one per type with capacity, cheapest first. The region is
 * the preferred one when it has capacity, else the first listed.
 * sold_out (may be NULL) counts the types that fit but have no capacity.
 */
int	 lambda_parse_offers(const cJSON *data,
	    const struct fleet_template *, const char *prefer_region,
	    struct drv_offer **, size_t *, int *sold_out);
/* An error response -> typed error "lambda: <code>: <message>". */
void	 lambda_map_error(long status, const cJSON *body, const char *raw,
	    int launch, struct drv_error *);
/* Does a template GPU model ("A100 80GB", "NVIDIA H100") fit this type? */
/* data of GET /instance-types as an account: the key works, no more. */
int	 lambda_parse_account(const cJSON *data, struct drv_account *);
int	 lambda_gpu_matches(const char *want, const char *gpu_description,
	    int vram_gb);

#endif
