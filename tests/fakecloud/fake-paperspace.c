/* fake-paperspace.c: the Paperspace v1 machines API of paperspace.md. */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * Mounted at /paperspace; the API lives under /paperspace/v1, so a
 * driver's base URL is http://127.0.0.1:PORT/paperspace/v1.
 *
 *	GET    /v1/machines[?after,limit,name,region,machineType]
 *	POST   /v1/machines		{name, machineType, templateId,
 *					 diskSize, region, ...} -> {data, event}
 *	GET    /v1/machines/ID		bare machine; 404 once deleted
 *	PUT    /v1/machines/ID		{name, ...} -> {data}
 *	PATCH  /v1/machines/ID/start|stop|restart	-> {data, event}
 *	DELETE /v1/machines/ID		-> {data, event}
 *	GET    /v1/machine-events[?machineId]	GET /v1/machine-events/ID
 *	GET    /v1/os-templates		availableMachineTypes[].isAvailable
 *					follows /_control/capacity
 *	POST   /v1/startup-scripts	GET /v1/startup-scripts[?name]
 *	GET|DELETE /v1/startup-scripts/ID
 *	GET    /v1/auth/session
 *
 * "Authorization: Bearer KEY" on every /v1 call (any key, or exactly the
 * configured one); errors are {"code","message"[,"issues"]}. Lists page
 * with {hasMore, nextPage, items} and ?after=nextPage.
 *
 * Fake-only controls, outside the API (no auth):
 *
 *	POST /paperspace/_fake/config {
 *	  "port": N		run each ready machine's echo server on
 *				127.0.0.1:N too, as a VM exposes its service
 *				ports unchanged (0: off, -1: pick a free one)
 *	  "api_key": "K"	accept only this key ("": any)
 *	  "max_limit": N	page size cap (default 120)
 *	  "stopping_ms": N	how long "stopping" lasts (default 150)
 *	  "capacity_mode": "error" | "off"	no capacity at create: a
 *				400 error, or created then "off" with the
 *				create event in "error"
 *	  "capacity_status": N	status of that error (default 400)
 *	  "busy_status": N	start while starting (default 400)
 *	  "bare_create": bool	create answers a bare machine (the legacy
 *				shape a third-party client expects)
 *	  "wrap_get": bool	GET /machines/ID wrapped in {data}
 *	  "stuck": bool		new machines never leave "provisioning"
 *	  "error_2xx": N	the next N API calls answer 200 with only
 *				{code, message}
 *	}
 *	GET  /paperspace/_fake/config	the above
 *	GET  /paperspace/_fake/scripts	startup scripts, with their text
 *
 * States: provisioning (first boot) or starting -> serviceready (port
 * configured but its server not listening yet) -> ready; stop: stopping
 * (stopping_ms) -> off. publicIp is 127.0.0.1 while serviceready/ready
 * unless publicIpType is "none" (the fake's default when absent, so a
 * driver that forgets it gets no address).
 */

#define PS		"paperspace"
#define PS_HOST		"127.0.0.1"
#define PS_MAX_SIDECARS	32

struct ps_mtype {
	const char	*type;
	const char	*gpu;
	int		 count;
	int		 vram_gb;
	double		 price;
};

static const struct ps_mtype ps_mtypes[] = {
	{ "C5", NULL, 0, 0, 0.08 },
	{ "C7", NULL, 0, 0, 0.30 },
	{ "GPU+", "Quadro M4000", 1, 8, 0.45 },
	{ "P4000", "Quadro P4000", 1, 8, 0.51 },
	{ "P5000", "Quadro P5000", 1, 16, 0.78 },
	{ "P6000", "Quadro P6000", 1, 24, 1.10 },
	{ "RTX4000", "Quadro RTX 4000", 1, 8, 0.56 },
	{ "A4000", "RTX A4000", 1, 16, 0.76 },
	{ "A5000", "RTX A5000", 1, 24, 1.38 },
	{ "A6000", "RTX A6000", 1, 48, 1.89 },
	{ "V100", "V100", 1, 16, 2.29 },
	{ "V100-32G", "V100", 1, 32, 2.30 },
	{ "A100", "A100", 1, 40, 3.09 },
	{ "A100-80G", "A100-80G", 1, 80, 3.18 },
	{ "A100-80Gx8", "A100-80G", 8, 80, 25.44 },
	{ "H100", "H100", 1, 80, 5.95 },
	{ "H100x8", "H100", 8, 80, 47.60 },
};

static const char *ps_regions[] = {
	"NY2", "CA1", "AMS1", "East Coast (NY2)", "West Coast (CA1)",
	"Europe (AMS1)"
};

static const int ps_disks[] = { 50, 100, 250, 500, 1000, 2000 };

struct ps_sidecar {
	char	*id;
	pid_t	 pid;
	int	 port;
};

static struct {
	int			 init;
	int			 port;
	char			*api_key;
	int			 max_limit;
	int			 stopping_ms;
	int			 capacity_off;
	int			 capacity_status;
	int			 busy_status;
	int			 bare_create;
	int			 wrap_get;
	int			 stuck;
	int			 error_2xx;
	cJSON			*scripts;
	unsigned int		 next_id;
	struct ps_sidecar	 sidecars[PS_MAX_SIDECARS];
	int			 nsidecars;
} ps;

static void
ps_defaults(void)
{
	free(ps.api_key);
	ps.api_key = NULL;
	ps.port = 0;
	ps.max_limit = 120;
	ps.stopping_ms = 150;
	ps.capacity_off = 0;
	ps.capacity_status = 400;
	ps.busy_status = 400;
	ps.bare_create = ps.wrap_get = ps.stuck = ps.error_2xx = 0;
	cJSON_Delete(ps.scripts);
	ps.scripts = cJSON_CreateArray();
	ps.init = 1;
}

/* ---- replies --------------------------------------------------------- */

static const char *
ps_code_of(int status)
{
	switch (status) {
	case 200:	/* an error body behind a 2xx, see error_2xx */
	case 400: return ("BAD_REQUEST");
	case 401: return ("UNAUTHORIZED");
	case 403: return ("FORBIDDEN");
	case 404: return ("NOT_FOUND");
	case 405: return ("METHOD_NOT_SUPPORTED");
	case 409: return ("CONFLICT");
	case 412: return ("PRECONDITION_FAILED");
	case 429: return ("TOO_MANY_REQUESTS");
	default: return ("INTERNAL_SERVER_ERROR");
	}
}

static void
ps_error(struct fc_req *req, int status, const char *issue,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* {"code","message"[,"issues":[{"message"}]]}: the strict CLI schema. */
static void
ps_error(struct fc_req *req, int status, const char *issue,
    const char *fmt, ...)
{
	cJSON	*o, *a, *i;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "code", ps_code_of(status));
	cJSON_AddStringToObject(o, "message", msg);
	if (issue != NULL) {
		a = cJSON_AddArrayToObject(o, "issues");
		i = cJSON_CreateObject();
		cJSON_AddStringToObject(i, "message", issue);
		cJSON_AddItemToArray(a, i);
	}
	free(msg);
	fc_reply_json(req, status, o);
}

/* Wall-clock milliseconds (fc_now_ms is monotonic). */
static int64_t
ps_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Milliseconds in the ISO form, so events order within a second. */
static char *
ps_iso_ms(int64_t ms)
{
	char	*s = fc_time_iso(ms / 1000), *p, *out;

	if ((p = strrchr(s, 'Z')) != NULL)
		*p = '\0';
	if ((p = strchr(s, '.')) != NULL)
		*p = '\0';
	out = xprintf("%s.%03dZ", s, (int)(ms % 1000));
	free(s);
	return (out);
}

/* ---- the echo server on the template's port --------------------------- */

static int
ps_port_open(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (r);
}

static void
ps_sidecar_drop(int i)
{
	if (ps.sidecars[i].pid > 0)
		kill(ps.sidecars[i].pid, SIGTERM);
	free(ps.sidecars[i].id);
	ps.sidecars[i] = ps.sidecars[--ps.nsidecars];
}

/* Stop the servers of machines that are no longer ready. */
static void
ps_sidecar_sweep(struct fc *fc)
{
	struct fc_instance	*inst;
	int			 i;

	for (i = ps.nsidecars - 1; i >= 0; i--) {
		inst = instance_find(fc, PS, ps.sidecars[i].id);
		if (inst == NULL || inst->state != FC_RUNNING ||
		    ps.sidecars[i].port != ps.port ||
		    kill(ps.sidecars[i].pid, 0) != 0)
			ps_sidecar_drop(i);
	}
}

/* Make sure a ready machine's service answers on 127.0.0.1:port. */
static void
ps_sidecar_ensure(struct fc_instance *inst)
{
	const char	*exe = inst->fc->fleet;
	pid_t		 pid, parent = getpid();
	char		 portstr[16];
	int		 i, fd;

	if (ps.port <= 0 || ps.nsidecars == PS_MAX_SIDECARS)
		return;
	for (i = 0; i < ps.nsidecars; i++)
		if (strcmp(ps.sidecars[i].id, inst->id) == 0)
			return;
	if ((pid = fork()) == -1)
		return;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		signal(SIGPIPE, SIG_DFL);
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		snprintf(portstr, sizeof portstr, "%d", ps.port);
		setenv("FLEET_INSTANCE_NAME", inst->label, 1);
		execl(exe != NULL ? exe : "/proc/self/exe", "fleet",
		    "echo-server", "--port", portstr, "--bind", PS_HOST,
		    (char *)NULL);
		_exit(127);
	}
	ps.sidecars[ps.nsidecars].id = xstrdup(inst->id);
	ps.sidecars[ps.nsidecars].pid = pid;
	ps.sidecars[ps.nsidecars].port = ps.port;
	ps.nsidecars++;
	log_info("%s: echo server pid %ld on port %d", inst->id, (long)pid,
	    ps.port);
}

/* ---- machines -------------------------------------------------------- */

static const struct ps_mtype *
ps_mtype_find(const char *type)
{
	size_t	i;

	for (i = 0; type != NULL && i < nitems(ps_mtypes); i++)
		if (strcasecmp(ps_mtypes[i].type, type) == 0)
			return (&ps_mtypes[i]);
	return (NULL);
}

static int
ps_meta_bool(struct fc_instance *inst, const char *key)
{
	return (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(inst->meta,
	    key)));
}

static void
ps_meta_set_bool(struct fc_instance *inst, const char *key, int v)
{
	cJSON_DeleteItemFromObject(inst->meta, key);
	cJSON_AddBoolToObject(inst->meta, key, v);
}

static void
ps_meta_set_num(struct fc_instance *inst, const char *key, double v)
{
	cJSON_DeleteItemFromObject(inst->meta, key);
	cJSON_AddNumberToObject(inst->meta, key, v);
}

/* The machine's v1 state, or NULL once it is deleted. */
static const char *
ps_state(struct fc_instance *inst)
{
	if (inst->state == FC_TERMINATED || inst->state == FC_GONE)
		return (NULL);
	if (ps_meta_bool(inst, "stuck"))
		return ("provisioning");
	switch (inst->state) {
	case FC_PENDING:
	case FC_BOOTING:
		return (inst->restarts == 0 ? "provisioning" : "starting");
	case FC_RUNNING:
		if (ps.port <= 0)
			return ("ready");
		ps_sidecar_ensure(inst);
		return (ps_port_open(ps.port) ? "ready" : "serviceready");
	case FC_STOPPED:
		if (fc_now_ms() < fc_json_number(inst->meta, "stop_until", 0))
			return ("stopping");
		return ("off");
	default:
		return (NULL);
	}
}

/* An event's state follows the machine it belongs to. */
static void
ps_event_refresh(struct fc_instance *inst, cJSON *ev)
{
	const char	*name = fc_json_string(ev, "name");
	const char	*st = ps_state(inst), *want = NULL;
	char		*now;

	if (fc_json_string(ev, "error") != NULL ||
	    strcmp(fc_json_string(ev, "state"), "in progress") != 0)
		return;
	if (strcmp(name, "create") == 0 || strcmp(name, "start") == 0 ||
	    strcmp(name, "restart") == 0)
		want = "ready";
	else if (strcmp(name, "stop") == 0)
		want = "off";
	if (want != NULL && (st == NULL || strcmp(st, want) != 0))
		return;
	cJSON_ReplaceItemInObject(ev, "state", cJSON_CreateString("done"));
	now = ps_iso_ms(ps_wall_ms());
	cJSON_ReplaceItemInObject(ev, "dtFinished", cJSON_CreateString(now));
	free(now);
}

/* Record an event on the machine; error non-NULL ends it in "error". */
static cJSON *
ps_event_add(struct fc_instance *inst, const char *name, const char *error)
{
	cJSON		*evs, *ev;
	char		*now = ps_iso_ms(ps_wall_ms()), *id;

	if ((evs = cJSON_GetObjectItemCaseSensitive(inst->meta,
	    "events")) == NULL)
		evs = cJSON_AddArrayToObject(inst->meta, "events");
	ev = cJSON_CreateObject();
	id = xprintf("ev%s%02d", inst->id, cJSON_GetArraySize(evs));
	cJSON_AddStringToObject(ev, "id", id);
	free(id);
	cJSON_AddStringToObject(ev, "machineId", inst->id);
	cJSON_AddStringToObject(ev, "name", name);
	cJSON_AddStringToObject(ev, "state", error != NULL ? "error" :
	    strcmp(name, "deactivate") == 0 ? "done" : "in progress");
	if (error != NULL)
		cJSON_AddStringToObject(ev, "error", error);
	else
		cJSON_AddNullToObject(ev, "error");
	cJSON_AddStringToObject(ev, "dtCreated", now);
	cJSON_AddStringToObject(ev, "dtStarted", now);
	if (error != NULL || strcmp(name, "deactivate") == 0)
		cJSON_AddStringToObject(ev, "dtFinished", now);
	else
		cJSON_AddNullToObject(ev, "dtFinished");
	free(now);
	cJSON_AddItemToArray(evs, ev);
	return (ev);
}

static cJSON *
ps_machine_json(struct fc_instance *inst)
{
	const struct ps_mtype	*mt;
	const char		*st = ps_state(inst), *iptype;
	cJSON			*o, *acc, *a;
	char			*t;
	double			 disk;

	mt = ps_mtype_find(fc_json_string(inst->meta, "machineType"));
	iptype = fc_json_string(inst->meta, "publicIpType");
	disk = fc_json_number(inst->meta, "diskSize", 50);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", inst->id);
	cJSON_AddStringToObject(o, "name", inst->label);
	cJSON_AddStringToObject(o, "state", st != NULL ? st : "off");
	cJSON_AddStringToObject(o, "machineType", mt != NULL ? mt->type : "?");
	cJSON_AddStringToObject(o, "region",
	    fc_json_string(inst->meta, "region"));
	cJSON_AddStringToObject(o, "os", "Ubuntu 22.04");
	cJSON_AddStringToObject(o, "agentType", "LinuxHeadless");
	cJSON_AddNumberToObject(o, "cpus", 8);
	cJSON_AddNumberToObject(o, "ram", 34359738368.0);
	cJSON_AddNumberToObject(o, "storageTotal", disk * 1073741824.0);
	cJSON_AddNumberToObject(o, "storageUsed", 5368709120.0);
	if (mt != NULL && mt->gpu != NULL) {
		acc = cJSON_AddArrayToObject(o, "accelerators");
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "name", mt->gpu);
		cJSON_AddNumberToObject(a, "count", mt->count);
		cJSON_AddNumberToObject(a, "memory",
		    mt->vram_gb * 1073741824.0);
		cJSON_AddItemToArray(acc, a);
	} else
		cJSON_AddNullToObject(o, "accelerators");
	if (st != NULL && (strcmp(st, "ready") == 0 ||
	    strcmp(st, "serviceready") == 0) && strcmp(iptype, "none") != 0)
		cJSON_AddStringToObject(o, "publicIp", PS_HOST);
	else
		cJSON_AddNullToObject(o, "publicIp");
	cJSON_AddStringToObject(o, "publicIpType", iptype);
	cJSON_AddStringToObject(o, "privateIp", "10.64.12.5");
	cJSON_AddNullToObject(o, "networkId");
	cJSON_AddNumberToObject(o, "usageRate", inst->price);
	cJSON_AddNumberToObject(o, "storageRate", 0.0);
	cJSON_AddBoolToObject(o, "updatesPending", 0);
	cJSON_AddBoolToObject(o, "autoShutdownEnabled", 0);
	cJSON_AddNullToObject(o, "autoShutdownTimeout");
	cJSON_AddBoolToObject(o, "autoShutdownForce", 0);
	cJSON_AddBoolToObject(o, "autoSnapshotEnabled", 0);
	cJSON_AddNullToObject(o, "reservation");
	t = ps_iso_ms(inst->created * 1000);
	cJSON_AddStringToObject(o, "dtCreated", t);
	free(t);
	t = ps_iso_ms(inst->updated * 1000);
	cJSON_AddStringToObject(o, "dtModified", t);
	free(t);
	cJSON_AddNullToObject(o, "dtDeleted");
	return (o);
}

/* {"data": machine, "event": event} */
static void
ps_reply_data(struct fc_req *req, struct fc_instance *inst, cJSON *ev)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "data", ps_machine_json(inst));
	if (ev != NULL) {
		ps_event_refresh(inst, ev);
		cJSON_AddItemToObject(o, "event", cJSON_Duplicate(ev, 1));
	}
	fc_reply_json(req, 200, o);
}

/* ---- paging ---------------------------------------------------------- */

/* Reply one page of all (consumed): ?after=<cursor>&limit=N. */
static void
ps_reply_page(struct fc_req *req, cJSON *all)
{
	char	*after = fc_req_query(req, "after");
	char	*limit = fc_req_query(req, "limit");
	char	*end, *next;
	long	 start = 0, lim = ps.max_limit, total, i;
	cJSON	*o, *items;

	if (after != NULL) {
		start = after[0] == 'c' ? strtol(after + 1, &end, 10) : -1;
		if (after[0] != 'c' || *end != '\0' || start < 0) {
			free(after);
			free(limit);
			cJSON_Delete(all);
			ps_error(req, 400, NULL, "Invalid cursor");
			return;
		}
	}
	if (limit != NULL) {
		lim = strtol(limit, &end, 10);
		if (*end != '\0' || lim < 1 || lim > 120) {
			free(after);
			free(limit);
			cJSON_Delete(all);
			ps_error(req, 400, "limit: must be 1-120",
			    "Invalid input");
			return;
		}
		if (lim > ps.max_limit)
			lim = ps.max_limit;
	}
	free(after);
	free(limit);
	total = cJSON_GetArraySize(all);
	o = cJSON_CreateObject();
	items = cJSON_CreateArray();
	for (i = start; i < total && i < start + lim; i++)
		cJSON_AddItemToArray(items,
		    cJSON_Duplicate(cJSON_GetArrayItem(all, (int)i), 1));
	cJSON_AddBoolToObject(o, "hasMore", start + lim < total);
	if (start + lim < total) {
		next = xprintf("c%ld", start + lim);
		cJSON_AddStringToObject(o, "nextPage", next);
		free(next);
	} else
		cJSON_AddNullToObject(o, "nextPage");
	cJSON_AddItemToObject(o, "items", items);
	cJSON_Delete(all);
	fc_reply_json(req, 200, o);
}

/* ---- handlers -------------------------------------------------------- */

static int
ps_auth(struct fc_req *req)
{
	const char	*a = fc_req_header(req, "Authorization");

	if (a == NULL || strncmp(a, "Bearer ", 7) != 0 || a[7] == '\0') {
		ps_error(req, 401, NULL, "You must be authenticated to perform "
		    "this action. Provide an API key.");
		return (-1);
	}
	if (ps.api_key != NULL && strcmp(a + 7, ps.api_key) != 0) {
		ps_error(req, 401, NULL, "Invalid API key");
		return (-1);
	}
	return (0);
}

static void
ps_list(struct fc_req *req)
{
	struct fc_instance	*inst;
	cJSON			*all = cJSON_CreateArray();
	char			*name = fc_req_query(req, "name");
	char			*region = fc_req_query(req, "region");
	char			*type = fc_req_query(req, "machineType");

	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, PS) != 0 || ps_state(inst) == NULL)
			continue;
		if ((name != NULL && strcmp(name, inst->label) != 0) ||
		    (region != NULL && strcmp(region,
		    fc_json_string(inst->meta, "region")) != 0) ||
		    (type != NULL && strcasecmp(type,
		    fc_json_string(inst->meta, "machineType")) != 0))
			continue;
		cJSON_AddItemToArray(all, ps_machine_json(inst));
	}
	free(name);
	free(region);
	free(type);
	ps_reply_page(req, all);
}

static cJSON *
ps_script_find(const char *id)
{
	cJSON	*s;

	cJSON_ArrayForEach(s, ps.scripts) {
		if (strcmp(fc_json_string(s, "id"), id) == 0)
			return (s);
	}
	return (NULL);
}

static const char *ps_template_ids[] = { "tubuntu22", "tmlbox22" };

/* Check a create body; 0 if it may go ahead (else the 400 is sent). */
static int
ps_create_check(struct fc_req *req, cJSON *j, const struct ps_mtype **mt)
{
	static const char *required[] = { "name", "machineType",
	    "templateId", "region" };
	const char	*v, *ip;
	size_t		 i;
	int		 ok;
	double		 disk;

	for (i = 0; i < nitems(required); i++) {
		if (fc_json_string(j, required[i]) == NULL) {
			char *issue = xprintf("%s: Required", required[i]);
			ps_error(req, 400, issue, "Invalid input");
			free(issue);
			return (-1);
		}
	}
	disk = fc_json_number(j, "diskSize", -1);
	for (i = 0, ok = 0; i < nitems(ps_disks); i++)
		ok |= disk == ps_disks[i];
	if (!ok) {
		ps_error(req, 400, "diskSize: must be one of 50, 100, 250, "
		    "500, 1000, 2000", "Invalid input");
		return (-1);
	}
	if ((*mt = ps_mtype_find(fc_json_string(j, "machineType"))) == NULL) {
		ps_error(req, 400, NULL, "Invalid machine type: %s",
		    fc_json_string(j, "machineType"));
		return (-1);
	}
	v = fc_json_string(j, "region");
	for (i = 0, ok = 0; i < nitems(ps_regions); i++)
		ok |= strcmp(v, ps_regions[i]) == 0;
	if (!ok) {
		ps_error(req, 400, NULL, "Invalid region: %s", v);
		return (-1);
	}
	v = fc_json_string(j, "templateId");
	for (i = 0, ok = 0; i < nitems(ps_template_ids); i++)
		ok |= strcmp(v, ps_template_ids[i]) == 0;
	if (!ok) {
		ps_error(req, 400, NULL, "Template %s not found", v);
		return (-1);
	}
	ip = fc_json_string(j, "publicIpType");
	if (ip != NULL && strcmp(ip, "static") != 0 &&
	    strcmp(ip, "dynamic") != 0 && strcmp(ip, "none") != 0) {
		ps_error(req, 400, "publicIpType: static, dynamic or none",
		    "Invalid input");
		return (-1);
	}
	v = fc_json_string(j, "startupScriptId");
	if (v != NULL && ps_script_find(v) == NULL) {
		ps_error(req, 400, NULL, "Startup script %s not found", v);
		return (-1);
	}
	return (0);
}

static void
ps_create(struct fc_req *req)
{
	const struct ps_mtype	*mt;
	struct fc_instance	*inst;
	cJSON			*j = fc_req_json(req), *ev, *sid, *s;
	const char		*ip, *script;
	char			*id, *cause = NULL;
	int			 off = 0;

	if (!cJSON_IsObject(j)) {
		ps_error(req, 400, NULL, "Body must be a JSON object");
		return;
	}
	if (ps_create_check(req, j, &mt) != 0)
		return;
	if (!control_capacity_take(req->fc, PS, mt->type)) {
		if (!ps.capacity_off) {
			ps_error(req, ps.capacity_status, NULL, "Out of "
			    "capacity for the selected VM type. Try again "
			    "later or choose another type or region.");
			return;
		}
		off = 1;
	}
	id = xprintf("ps%06x", ++ps.next_id);
	inst = instance_create(req->fc, PS, id, fc_json_string(j, "name"),
	    mt->type, mt->price);
	free(id);
	cJSON_AddStringToObject(inst->meta, "machineType", mt->type);
	cJSON_AddStringToObject(inst->meta, "region",
	    fc_json_string(j, "region"));
	cJSON_AddStringToObject(inst->meta, "templateId",
	    fc_json_string(j, "templateId"));
	cJSON_AddNumberToObject(inst->meta, "diskSize",
	    fc_json_number(j, "diskSize", 50));
	ip = fc_json_string(j, "publicIpType");
	cJSON_AddStringToObject(inst->meta, "publicIpType",
	    ip != NULL ? ip : "none");
	script = fc_json_string(j, "startupScriptId");
	if (script != NULL) {
		cJSON_AddStringToObject(inst->meta, "startupScriptId", script);
		s = ps_script_find(script);
		sid = cJSON_GetObjectItemCaseSensitive(s, "assignedMachineIds");
		cJSON_AddItemToArray(sid, cJSON_CreateString(inst->id));
	}
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j,
	    "startOnCreate")) || off || ps.stuck)
		instance_stop(inst, &cause);
	free(cause);
	ps_meta_set_bool(inst, "stuck", ps.stuck && !off);
	ev = ps_event_add(inst, "create", off ? "can't start due to "
	    "insufficient capacity or higher than normal demand" : NULL);
	if (ps.bare_create)
		fc_reply_json(req, 200, ps_machine_json(inst));
	else
		ps_reply_data(req, inst, ev);
}

/* PATCH start|stop|restart, with an empty body or {}. */
static void
ps_action(struct fc_req *req, struct fc_instance *inst, const char *action)
{
	const char	*st = ps_state(inst);
	const char	*type = fc_json_string(inst->meta, "machineType");
	cJSON		*ev;
	char		*cause = NULL;

	if (req->bodylen > 0 && !cJSON_IsObject(fc_req_json(req))) {
		ps_error(req, 400, NULL, "Body must be a JSON object");
		return;
	}
	if (strcmp(action, "start") == 0) {
		if (strcmp(st, "starting") == 0 ||
		    strcmp(st, "provisioning") == 0 ||
		    strcmp(st, "serviceready") == 0) {
			ps_error(req, ps.busy_status, NULL, "This machine is "
			    "currently starting.");
			return;
		}
		if (strcmp(st, "off") != 0) {
			ps_error(req, 400, NULL, "This machine is currently "
			    "%s.", st);
			return;
		}
		if (control_capacity(req->fc, PS, type) == 0) {
			ev = ps_event_add(inst, "start", "can't start due to "
			    "insufficient capacity or higher than normal "
			    "demand");
			ps_reply_data(req, inst, ev);
			return;
		}
		instance_start(inst, &cause);
		ev = ps_event_add(inst, "start", NULL);
	} else if (strcmp(action, "stop") == 0) {
		if (strcmp(st, "off") == 0 || strcmp(st, "stopping") == 0) {
			ps_error(req, ps.busy_status, NULL, "This machine is "
			    "currently %s.", st);
			return;
		}
		instance_stop(inst, &cause);
		ps_meta_set_num(inst, "stop_until",
		    (double)(fc_now_ms() + ps.stopping_ms));
		ps_meta_set_bool(inst, "stuck", 0);
		ev = ps_event_add(inst, "stop", NULL);
	} else if (strcmp(action, "restart") == 0) {
		if (strcmp(st, "ready") != 0) {
			ps_error(req, 400, NULL, "This machine is currently "
			    "%s.", st);
			return;
		}
		instance_stop(inst, &cause);
		instance_start(inst, &cause);
		ev = ps_event_add(inst, "restart", NULL);
	} else {
		ps_error(req, 404, NULL, "No such action: %s", action);
		return;
	}
	free(cause);
	ps_sidecar_sweep(req->fc);
	ps_reply_data(req, inst, ev);
}

static void
ps_delete(struct fc_req *req, struct fc_instance *inst)
{
	cJSON	*o = cJSON_CreateObject(), *ev;
	char	*cause = NULL;

	ev = ps_event_add(inst, "deactivate", NULL);
	cJSON_AddItemToObject(o, "data", ps_machine_json(inst));
	cJSON_AddItemToObject(o, "event", cJSON_Duplicate(ev, 1));
	instance_terminate(inst, &cause);
	free(cause);
	ps_sidecar_sweep(req->fc);
	fc_reply_json(req, 200, o);
}

static void
ps_update(struct fc_req *req, struct fc_instance *inst)
{
	cJSON		*j = fc_req_json(req), *o;
	const char	*name;

	if (!cJSON_IsObject(j)) {
		ps_error(req, 400, NULL, "Body must be a JSON object");
		return;
	}
	if ((name = fc_json_string(j, "name")) != NULL) {
		free(inst->label);
		inst->label = xstrdup(name);
	}
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "data", ps_machine_json(inst));
	fc_reply_json(req, 200, o);
}

static void
ps_machines(struct fc_req *req, char **seg, int n)
{
	struct fc_instance	*inst;
	const char		*m = req->method;

	if (n == 2 && strcmp(m, "GET") == 0) {
		ps_list(req);
		return;
	}
	if (n == 2 && strcmp(m, "POST") == 0) {
		ps_create(req);
		return;
	}
	if (n == 2) {
		ps_error(req, 405, NULL, "Method not supported");
		return;
	}
	inst = instance_find(req->fc, PS, seg[2]);
	if (inst == NULL || ps_state(inst) == NULL) {
		ps_error(req, 404, NULL, "Machine not found");
		return;
	}
	if (n == 3 && strcmp(m, "GET") == 0) {
		cJSON *o = ps_machine_json(inst);
		if (ps.wrap_get) {
			cJSON *w = cJSON_CreateObject();
			cJSON_AddItemToObject(w, "data", o);
			o = w;
		}
		fc_reply_json(req, 200, o);
	} else if (n == 3 && strcmp(m, "PUT") == 0)
		ps_update(req, inst);
	else if (n == 3 && strcmp(m, "DELETE") == 0)
		ps_delete(req, inst);
	else if (n == 4 && strcmp(m, "PATCH") == 0)
		ps_action(req, inst, seg[3]);
	else
		ps_error(req, 405, NULL, "Method not supported");
}

static void
ps_events(struct fc_req *req, char **seg, int n)
{
	struct fc_instance	*inst;
	cJSON			*all = cJSON_CreateArray(), *ev;
	char			*mid = fc_req_query(req, "machineId");
	char			*order = fc_req_query(req, "order");
	int			 desc = order != NULL &&
				    strcmp(order, "desc") == 0;

	free(order);
	TAILQ_FOREACH(inst, &req->fc->instances, entry) {
		if (strcmp(inst->provider, PS) != 0 ||
		    (mid != NULL && strcmp(mid, inst->id) != 0))
			continue;
		cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(
		    inst->meta, "events")) {
			ps_event_refresh(inst, ev);
			if (n == 3 && strcmp(fc_json_string(ev, "id"),
			    seg[2]) == 0) {
				free(mid);
				cJSON_Delete(all);
				fc_reply_json(req, 200, cJSON_Duplicate(ev, 1));
				return;
			}
			if (desc)
				cJSON_InsertItemInArray(all, 0,
				    cJSON_Duplicate(ev, 1));
			else
				cJSON_AddItemToArray(all,
				    cJSON_Duplicate(ev, 1));
		}
	}
	free(mid);
	if (n == 3) {
		cJSON_Delete(all);
		ps_error(req, 404, NULL, "Machine event not found");
		return;
	}
	ps_reply_page(req, all);
}

static cJSON *
ps_template_json(struct fc *fc, const char *id, const char *name, int gpu)
{
	cJSON	*o = cJSON_CreateObject(), *a, *e;
	size_t	 i;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "agentType", "LinuxHeadless");
	cJSON_AddStringToObject(o, "operatingSystemLabel", "Ubuntu 22.04");
	cJSON_AddNumberToObject(o, "defaultSizeGb", 50);
	cJSON_AddStringToObject(o, "dtCreated", "2024-01-10T00:00:00.000Z");
	a = cJSON_AddArrayToObject(o, "availableMachineTypes");
	for (i = 0; i < nitems(ps_mtypes); i++) {
		if (gpu && ps_mtypes[i].gpu == NULL)
			continue;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "machineTypeLabel",
		    ps_mtypes[i].type);
		cJSON_AddBoolToObject(e, "isAvailable",
		    control_capacity(fc, PS, ps_mtypes[i].type) != 0);
		cJSON_AddItemToArray(a, e);
	}
	return (o);
}

static void
ps_os_templates(struct fc_req *req)
{
	cJSON	*all = cJSON_CreateArray();

	cJSON_AddItemToArray(all, ps_template_json(req->fc, "tubuntu22",
	    "Ubuntu 22.04 Server", 0));
	cJSON_AddItemToArray(all, ps_template_json(req->fc, "tmlbox22",
	    "ML-in-a-Box Ubuntu 22.04", 1));
	ps_reply_page(req, all);
}

/* A script as the API shows it: without its text. */
static cJSON *
ps_script_json(cJSON *s)
{
	cJSON	*o = cJSON_Duplicate(s, 1);

	cJSON_DeleteItemFromObject(o, "script");
	return (o);
}

static void
ps_scripts(struct fc_req *req, char **seg, int n)
{
	cJSON		*j, *s, *all;
	const char	*name, *text;
	char		*id, *want, *now;
	int		 i = 0;

	if (n == 2 && strcmp(req->method, "POST") == 0) {
		j = fc_req_json(req);
		if (!cJSON_IsObject(j) ||
		    (name = fc_json_string(j, "name")) == NULL ||
		    (text = fc_json_string(j, "script")) == NULL) {
			ps_error(req, 400, "name, script: Required",
			    "Invalid input");
			return;
		}
		s = cJSON_CreateObject();
		id = xprintf("scr%05x", ++ps.next_id);
		cJSON_AddStringToObject(s, "id", id);
		free(id);
		cJSON_AddStringToObject(s, "name", name);
		cJSON_AddNullToObject(s, "description");
		cJSON_AddStringToObject(s, "script", text);
		cJSON_AddBoolToObject(s, "isEnabled", 1);
		cJSON_AddBoolToObject(s, "isRunOnce", cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(j, "isRunOnce")));
		cJSON_AddArrayToObject(s, "assignedMachineIds");
		now = ps_iso_ms(ps_wall_ms());
		cJSON_AddStringToObject(s, "dtCreated", now);
		free(now);
		cJSON_AddNullToObject(s, "dtDeleted");
		cJSON_AddItemToArray(ps.scripts, s);
		fc_reply_json(req, 200, ps_script_json(s));
	} else if (n == 2 && strcmp(req->method, "GET") == 0) {
		want = fc_req_query(req, "name");
		all = cJSON_CreateArray();
		cJSON_ArrayForEach(s, ps.scripts) {
			if (want == NULL || strcmp(want,
			    fc_json_string(s, "name")) == 0)
				cJSON_AddItemToArray(all, ps_script_json(s));
		}
		free(want);
		ps_reply_page(req, all);
	} else if (n == 3) {
		cJSON_ArrayForEach(s, ps.scripts) {
			if (strcmp(fc_json_string(s, "id"), seg[2]) == 0)
				break;
			i++;
		}
		if (s == NULL)
			ps_error(req, 404, NULL, "Startup script not found");
		else if (strcmp(req->method, "GET") == 0)
			fc_reply_json(req, 200, ps_script_json(s));
		else if (strcmp(req->method, "DELETE") == 0) {
			fc_reply_json(req, 200, ps_script_json(s));
			cJSON_DeleteItemFromArray(ps.scripts, i);
		} else
			ps_error(req, 405, NULL, "Method not supported");
	} else
		ps_error(req, 405, NULL, "Method not supported");
}

/* POST|GET /paperspace/_fake/config, GET /paperspace/_fake/scripts */
static void
ps_fake(struct fc_req *req, const char *what)
{
	cJSON		*j, *o;
	const char	*mode, *key;

	if (strcmp(what, "scripts") == 0) {
		fc_reply_json(req, 200, cJSON_Duplicate(ps.scripts, 1));
		return;
	}
	if (strcmp(what, "config") != 0) {
		fc_reply_error(req, 404, "no fake control %s", what);
		return;
	}
	if (strcmp(req->method, "POST") == 0) {
		if (!cJSON_IsObject(j = fc_req_json(req))) {
			fc_reply_error(req, 400, "body must be a JSON object");
			return;
		}
		ps.port = (int)fc_json_number(j, "port", ps.port);
		if (ps.port == -1)
			ps.port = port_pick_free(PS_HOST);
		if ((key = fc_json_string(j, "api_key")) != NULL) {
			free(ps.api_key);
			ps.api_key = *key != '\0' ? xstrdup(key) : NULL;
		}
		ps.max_limit = (int)fc_json_number(j, "max_limit",
		    ps.max_limit);
		if (ps.max_limit < 1)
			ps.max_limit = 1;
		ps.stopping_ms = (int)fc_json_number(j, "stopping_ms",
		    ps.stopping_ms);
		if ((mode = fc_json_string(j, "capacity_mode")) != NULL)
			ps.capacity_off = strcmp(mode, "off") == 0;
		ps.capacity_status = (int)fc_json_number(j, "capacity_status",
		    ps.capacity_status);
		ps.busy_status = (int)fc_json_number(j, "busy_status",
		    ps.busy_status);
		ps.error_2xx = (int)fc_json_number(j, "error_2xx",
		    ps.error_2xx);
		if (cJSON_IsBool(cJSON_GetObjectItem(j, "bare_create")))
			ps.bare_create = cJSON_IsTrue(
			    cJSON_GetObjectItem(j, "bare_create"));
		if (cJSON_IsBool(cJSON_GetObjectItem(j, "wrap_get")))
			ps.wrap_get = cJSON_IsTrue(
			    cJSON_GetObjectItem(j, "wrap_get"));
		if (cJSON_IsBool(cJSON_GetObjectItem(j, "stuck")))
			ps.stuck = cJSON_IsTrue(cJSON_GetObjectItem(j,
			    "stuck"));
		ps_sidecar_sweep(req->fc);
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "port", ps.port);
	cJSON_AddBoolToObject(o, "api_key_set", ps.api_key != NULL);
	cJSON_AddNumberToObject(o, "max_limit", ps.max_limit);
	cJSON_AddNumberToObject(o, "stopping_ms", ps.stopping_ms);
	cJSON_AddStringToObject(o, "capacity_mode", ps.capacity_off ? "off" :
	    "error");
	cJSON_AddNumberToObject(o, "capacity_status", ps.capacity_status);
	cJSON_AddNumberToObject(o, "busy_status", ps.busy_status);
	cJSON_AddNumberToObject(o, "error_2xx", ps.error_2xx);
	cJSON_AddBoolToObject(o, "bare_create", ps.bare_create);
	cJSON_AddBoolToObject(o, "wrap_get", ps.wrap_get);
	cJSON_AddBoolToObject(o, "stuck", ps.stuck);
	fc_reply_json(req, 200, o);
}

static void
ps_session(struct fc_req *req)
{
	cJSON	*o = cJSON_CreateObject(), *u, *t;

	u = cJSON_AddObjectToObject(o, "user");
	cJSON_AddStringToObject(u, "id", "ufleet01");
	cJSON_AddStringToObject(u, "email", "fleet@example.com");
	t = cJSON_AddObjectToObject(o, "team");
	cJSON_AddStringToObject(t, "id", "tfleet01");
	fc_reply_json(req, 200, o);
}

static void
ps_handle(struct fc_req *req)
{
	char	*seg[5];
	int	 n;

	if (!ps.init)
		ps_defaults();
	ps_sidecar_sweep(req->fc);
	n = fc_path_split(req->subpath, seg, nitems(seg));
	if (n == 2 && strcmp(seg[0], "_fake") == 0)
		ps_fake(req, seg[1]);
	else if (n < 2 || strcmp(seg[0], "v1") != 0)
		ps_error(req, 404, NULL, "Not found");
	else if (ps_auth(req) != 0)
		;
	else if (ps.error_2xx > 0) {
		ps.error_2xx--;
		ps_error(req, 200, NULL, "Something went wrong, but the "
		    "status says otherwise");
	} else if (strcmp(seg[1], "machines") == 0 && n <= 4)
		ps_machines(req, seg, n);
	else if (strcmp(seg[1], "machine-events") == 0 && n <= 3 &&
	    strcmp(req->method, "GET") == 0)
		ps_events(req, seg, n);
	else if (strcmp(seg[1], "os-templates") == 0 && n == 2 &&
	    strcmp(req->method, "GET") == 0)
		ps_os_templates(req);
	else if (strcmp(seg[1], "startup-scripts") == 0 && n <= 3)
		ps_scripts(req, seg, n);
	else if (strcmp(seg[1], "auth") == 0 && n == 3 &&
	    strcmp(seg[2], "session") == 0)
		ps_session(req);
	else
		ps_error(req, 404, NULL, "Not found");
	if (n > 0)
		fc_path_free(seg, n);
}

/* /_control/reset: instances are gone already; kill their servers too. */
static void
ps_reset(struct fc *fc __unused)
{
	while (ps.nsidecars > 0)
		ps_sidecar_drop(ps.nsidecars - 1);
	ps_defaults();
}

const struct fc_provider fc_provider_paperspace = {
	PS,
	ps_handle,
	ps_reset
};
