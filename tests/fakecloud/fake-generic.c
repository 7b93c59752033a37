/* fake-generic.c: a minimal JSON provider API; the template for the others. */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * Mounted at /generic (so its base URL is http://127.0.0.1:PORT/generic):
 *
 *	POST /instances {"name","gpu","price"}	201 instance
 *	GET  /instances				200 {"instances":[...]}
 *	GET  /instances/ID			200 instance
 *	POST /instances/ID/stop|start|terminate	200 instance
 *	DELETE /instances/ID			200 instance (terminate)
 *
 * Every call needs "Authorization: Bearer <any key>" (401 otherwise).
 * Errors are {"error": "..."}: 404 unknown or gone, 409 wrong state or no
 * capacity (see POST /_control/capacity with provider "generic").
 */

#define GENERIC	"generic"

static int
generic_auth(struct fc_req *req)
{
	const char	*a = fc_req_header(req, "Authorization");

	if (a == NULL || strncmp(a, "Bearer ", 7) != 0 || a[7] == '\0') {
		fc_reply_error(req, 401, "missing or malformed API key");
		return (-1);
	}
	return (0);
}

static void
generic_create(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req);
	const char		*name, *gpu;

	if (j == NULL || (name = fc_json_string(j, "name")) == NULL) {
		fc_reply_error(req, 400, "body must be {\"name\":...}");
		return;
	}
	gpu = fc_json_string(j, "gpu");
	if (!control_capacity_take(req->fc, GENERIC, gpu)) {
		fc_reply_error(req, 409, "no capacity for %s",
		    gpu != NULL ? gpu : "any gpu");
		return;
	}
	inst = instance_create(req->fc, GENERIC, NULL, name, gpu,
	    fc_json_number(j, "price", 1.25));
	fc_reply_json(req, 201, instance_json(inst));
}

static void
generic_list(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*o, *a;

	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "instances");
	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, GENERIC) == 0 &&
		    inst->state != FC_GONE)
			cJSON_AddItemToArray(a, instance_json(inst));
	}
	fc_reply_json(req, 200, o);
}

/* stop, start or terminate one instance. */
static void
generic_action(struct fc_req *req, struct fc_instance *inst,
    const char *action)
{
	char	*cause = NULL;
	int	 r;

	if (strcmp(action, "stop") == 0)
		r = instance_stop(inst, &cause);
	else if (strcmp(action, "start") == 0)
		r = instance_start(inst, &cause);
	else if (strcmp(action, "terminate") == 0)
		r = instance_terminate(inst, &cause);
	else {
		fc_reply_error(req, 404, "no action %s", action);
		return;
	}
	if (r != 0) {
		fc_reply_error(req, 409, "%s", cause);
		free(cause);
		return;
	}
	fc_reply_json(req, 200, instance_json(inst));
}

static void
generic_handle(struct fc_req *req)
{
	struct fc_instance	*inst = NULL;
	char			*seg[3];
	int			 n;
	const char		*m = req->method;

	if (generic_auth(req) != 0)
		return;
	n = fc_path_split(req->subpath, seg, nitems(seg));
	if (n < 1 || strcmp(seg[0], "instances") != 0)
		fc_reply_error(req, 404, "no route");
	else if (n == 1 && strcmp(m, "POST") == 0)
		generic_create(req);
	else if (n == 1 && strcmp(m, "GET") == 0)
		generic_list(req);
	else if (n == 1 ||
	    (inst = instance_find(req->fc, GENERIC, seg[1])) == NULL ||
	    inst->state == FC_GONE)
		fc_reply_error(req, n == 1 ? 405 : 404, "no such instance");
	else if (n == 2 && strcmp(m, "GET") == 0)
		fc_reply_json(req, 200, instance_json(inst));
	else if (n == 2 && strcmp(m, "DELETE") == 0)
		generic_action(req, inst, "terminate");
	else if (n == 3 && strcmp(m, "POST") == 0)
		generic_action(req, inst, seg[2]);
	else
		fc_reply_error(req, 405, "method not allowed");
	if (n > 0)
		fc_path_free(seg, n);
}

const struct fc_provider fc_provider_generic = {
	GENERIC,
	generic_handle,
	NULL
};
