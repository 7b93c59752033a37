/* driver-runpod.h: RunPod response parsers, exposed for tests and fuzzing. */
#ifndef DRIVER_RUNPOD_H
#define DRIVER_RUNPOD_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "driver.h"

struct fleet_template;

/*
 * Map one GraphQL answer (HTTP status and parsed body, either may be
 * missing) to a typed error. Returns 0 and points *value at data.<root>
 * (borrowed from json, possibly a JSON null) when the call succeeded.
 */
int	 runpod_response(long status, const cJSON *json, const char *root,
	    const cJSON **value, struct drv_error *);
/* data.myself (id, email, clientBalance, spendLimit...) as an account. */
int	 runpod_parse_account(const cJSON *myself, struct drv_account *);
/* Classify a provider message (errors[0].message) into a typed error. */
enum drv_err runpod_classify(const char *message);
/* A pod object (pod, myself.pods[], a create answer) as a drv_instance. */
int	 runpod_parse_pod(const cJSON *pod, struct drv_instance *);
/* data.gpuTypes -> offers fitting the template, cheapest first. */
int	 runpod_parse_offers(const cJSON *gpu_types,
	    const struct fleet_template *, int spot, struct drv_offer **,
	    size_t *);
/* Does a template's GPU model name match a RunPod GPU type? */
int	 runpod_gpu_matches(const char *want, const char *id,
	    const char *display);
/* The create `ports` string, e.g. "8998/tcp,8080/http,22/tcp". */
char	*runpod_ports_string(const struct fleet_template *);
/* On-demand offers and, with spot, interruptible ones (bid prices). */
int	 runpod_offers_ex(const struct drv_ctx *,
	    const struct fleet_template *, int spot, struct drv_offer **,
	    size_t *, struct drv_error *);

#endif
