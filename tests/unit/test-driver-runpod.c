/* test-driver-runpod.c: drivers/driver-runpod.c against build/fakecloud. */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-runpod.h"
#include "http.h"

#define KEY		"rp_test_key_0123456789"
#define BAD_KEY		"rp_wrong_key_9876543210"
#define WAIT_MS		8000

static pid_t	 fc_pid = -1;
static int	 fc_port;
static char	 fc_dir[64];
static char	 base_url[128];

/* ---- the fake cloud, and small clients of its control API ---- */

static char *
fc_path(void)
{
	char	 exe[PATH_MAX], *d;
	ssize_t	 n;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	d = dirname(dirname(exe));
	return (xprintf("%s/fakecloud", d));
}

static int
fc_start(void **arg __unused)
{
	char		*exe = fc_path(), *pf, *logf;
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	FILE		*f;
	int		 i;
	pid_t		 parent = getpid();

	snprintf(fc_dir, sizeof fc_dir, "/tmp/test-runpod.XXXXXX");
	assert_non_null(mkdtemp(fc_dir));
	pf = xprintf("%s/port", fc_dir);
	logf = xprintf("%s/fc.log", fc_dir);
	if ((fc_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (freopen(logf, "w", stderr) == NULL)
			_exit(1);
		execl(exe, "fakecloud", "--port", "0", "--port-file", pf,
		    "--boot-delay-ms", "150", (char *)NULL);
		_exit(127);
	}
	assert_true(fc_pid > 0);
	for (i = 0; i < 500 && fc_port == 0; i++) {
		if ((f = fopen(pf, "r")) != NULL) {
			if (fscanf(f, "%d", &fc_port) != 1)
				fc_port = 0;
			fclose(f);
		}
		if (fc_port == 0)
			nanosleep(&ts, NULL);
	}
	assert_true(fc_port > 0);
	snprintf(base_url, sizeof base_url,
	    "http://127.0.0.1:%d/runpod/graphql", fc_port);
	free(exe);
	free(pf);
	free(logf);
	return (0);
}

static int
fc_stop(void **arg __unused)
{
	char	*cmd;

	if (fc_pid > 0) {
		kill(fc_pid, SIGTERM);
		waitpid(fc_pid, NULL, 0);
	}
	cmd = xprintf("rm -rf '%s'", fc_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fc_dir);
	free(cmd);
	http_global_cleanup();
	return (0);
}

/* POST or GET a fakecloud path without auth; returns the parsed body. */
static cJSON *
fc_call(const char *method, const char *path, const char *body)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;
	cJSON			*j;

	url = xprintf("http://127.0.0.1:%d%s", fc_port, path);
	memset(&req, 0, sizeof req);
	req.method = method;
	req.url = url;
	req.body = body;
	assert_int_equal(http_do(&req, &resp, &cause), 0);
	assert_int_equal(resp.status, 200);
	j = resp.json;
	resp.json = NULL;
	http_response_free(&resp);
	free(url);
	return (j);
}

static void
fc_post(const char *path, const char *body)
{
	cJSON_Delete(fc_call("POST", path, body));
}

static int
test_setup(void **arg __unused)
{
	fc_post("/_control/reset", "{}");
	fc_post("/runpod/_fake", "{\"api_key\":\"" KEY "\"}");
	unsetenv("FLEET_RUNPOD_PROXY_HOST");
	return (0);
}

/* The fake's view of one instance ("state", "port", "pid"). */
static cJSON *
fc_instance(const char *id)
{
	cJSON	*all = fc_call("GET", "/_control/instances", NULL), *i, *r;

	r = NULL;
	cJSON_ArrayForEach(i, all) {
		if (strcmp(cJSON_GetObjectItem(i, "id")->valuestring, id) == 0)
			r = cJSON_Duplicate(i, 1);
	}
	cJSON_Delete(all);
	assert_non_null(r);
	return (r);
}

/* The request log for /runpod, as one string. */
static char *
fc_requests(void)
{
	cJSON	*log = fc_call("GET",
		    "/_control/requests?prefix=/runpod/graphql", NULL);
	char	*s = cJSON_PrintUnformatted(log), *r = xstrdup(s);

	cJSON_free(s);
	cJSON_Delete(log);
	return (r);
}

/* ---- fixtures ---- */

static void
ctx_init(struct drv_ctx *ctx, const char *key)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->api_key = key;
	ctx->base_url = base_url;
	ctx->state_dir = fc_dir;
	log_add_secret(key);
}

static struct fleet_template *
tmpl(const char *yaml)
{
	struct fleet_template	*t;
	char			*cause = NULL;

	t = template_load_buffer("rp.yaml", yaml, strlen(yaml), &cause);
	if (t == NULL)
		fail_msg("template: %s", cause);
	return (t);
}

static const char tmpl_4090[] =
    "name: rp\n"
    "image: ghcr.io/example/echo:1\n"
    "args: [serve, --port, \"8080\", \"it's here\"]\n"
    "env: {PORT: \"8080\", TOKEN: \"${RP_TEST_TOKEN}\"}\n"
    "disk_gb: 20\n"
    "ports: [{port: 8080, protocol: http}]\n"
    "health: {type: http, path: /health}\n"
    "gpu: {models: [\"RTX 4090\", \"A100 80GB\"], min_vram_gb: 20, "
    "count: 1}\n";

static const char tmpl_ws[] =
    "name: rp\n"
    "image: ghcr.io/example/echo:1\n"
    "ports: [{port: 8080, protocol: http}, "
    "{port: 8998, protocol: ws, stable: true}]\n"
    "health: {type: http, path: /health}\n"
    "gpu: {models: [\"RTX 4090\"], count: 1}\n";

/* Poll get until the state is want (bounded); the last answer in out. */
static void
wait_state(const struct drv_ctx *ctx, const char *id, enum inst_state want,
    struct drv_instance *out)
{
	struct drv_error	 err;
	struct timespec		 ts = { 0, 50 * 1000 * 1000 };
	int64_t			 deadline = now_mono_ms() + WAIT_MS;

	for (;;) {
		memset(&err, 0, sizeof err);
		if (driver_runpod.get(ctx, id, out, &err) != 0)
			fail_msg("get %s: %s", id, err.message);
		if (out->state == want)
			return;
		if (now_mono_ms() > deadline)
			fail_msg("%s: %s, wanted %s", id,
			    inst_state_name(out->state), inst_state_name(want));
		drv_instance_clear(out);
		nanosleep(&ts, NULL);
	}
}

static const struct drv_endpoint *
endpoint(const struct drv_instance *in, int port)
{
	int	i;

	for (i = 0; i < in->nendpoints; i++)
		if (in->endpoints[i].port == port)
			return (&in->endpoints[i]);
	return (NULL);
}

static void
create_pod(const struct drv_ctx *ctx, const struct fleet_template *t,
    const char *name, int spot, struct drv_instance *out)
{
	struct drv_offer	*offers;
	struct drv_create_req	 req;
	struct drv_error	 err;
	size_t			 n;

	memset(&err, 0, sizeof err);
	if (runpod_offers_ex(ctx, t, spot, &offers, &n, &err) != 0)
		fail_msg("offers: %s", err.message);
	assert_true(n > 0);
	memset(&req, 0, sizeof req);
	req.tmpl = t;
	req.name = name;
	req.offer = &offers[0];
	req.spot = spot;
	if (driver_runpod.create(ctx, &req, out, &err) != 0)
		fail_msg("create: %s", err.message);
	drv_offer_list_free(offers, n);
}

/* ---- against the fake ---- */

static void
test_offers_filter_and_order(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_offer	*o;
	struct drv_error	 err;
	size_t			 n, i;

	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), 0);
	/* RTX 4090 and A100 80GB PCIe, secure and community each. */
	assert_int_equal(n, 4);
	assert_string_equal(o[0].gpu, "RTX 4090");
	assert_string_equal(o[0].offer_id, "COMMUNITY:NVIDIA GeForce RTX 4090");
	assert_true(o[0].price_per_hour > 0.33 && o[0].price_per_hour < 0.35);
	assert_string_equal(o[1].offer_id, "SECURE:NVIDIA GeForce RTX 4090");
	assert_string_equal(o[3].offer_id, "SECURE:NVIDIA A100 80GB PCIe");
	for (i = 0; i < n; i++) {
		assert_string_equal(o[i].provider, "runpod");
		assert_int_equal(o[i].gpu_count, 1);
		assert_int_equal(o[i].spot, 0);
		if (i > 0)
			assert_true(o[i - 1].price_per_hour <=
			    o[i].price_per_hour);
	}
	assert_int_equal(o[3].vram_gb, 80);
	drv_offer_list_free(o, n);
	template_free(t);

	/* 80 GB, two of them: price x2; H100 has no community price and
	 * H200 is out of stock. */
	t = tmpl("name: rp\nimage: x\nports: [{port: 80}]\n"
	    "gpu: {min_vram_gb: 80, count: 2}\n");
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_true(o[0].price_per_hour > 2.37 && o[0].price_per_hour < 2.39);
	assert_string_equal(o[2].offer_id, "SECURE:NVIDIA H100 80GB HBM3");
	assert_int_equal(o[2].gpu_count, 2);
	drv_offer_list_free(o, n);

	/* Spot offers carry the bid price, and only when asked for. */
	assert_int_equal(runpod_offers_ex(&ctx, t, 1, &o, &n, &err), 0);
	assert_int_equal(n, 6);
	assert_int_equal(o[0].spot, 1);
	assert_true(o[0].price_per_hour > 1.19 && o[0].price_per_hour < 1.21);
	drv_offer_list_free(o, n);
	template_free(t);

	t = tmpl("name: rp\nimage: x\nports: [{port: 80}]\n"
	    "gpu: {models: [\"B200\"]}\n");
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), 0);
	assert_int_equal(n, 0);
	template_free(t);
}

static void
test_lifecycle(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_instance	 in, cur;
	struct drv_error	 err;
	const struct drv_endpoint *e;
	char			*up, *log, *id;
	int			 port1;
	cJSON			*fi;

	setenv("RP_TEST_TOKEN", "hf_secret_token_42", 1);
	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	create_pod(&ctx, t, "fleet-rp-1", 0, &in);
	assert_int_equal(in.state, INST_BOOTING);
	assert_string_equal(in.name, "fleet-rp-1");
	assert_int_equal(strlen(in.id), 14);
	assert_string_equal(in.gpu, "RTX 4090");
	assert_int_equal(in.nendpoints, 0);
	id = xstrdup(in.id);
	drv_instance_clear(&in);

	/* What went over the wire. */
	log = fc_requests();
	assert_non_null(strstr(log, "Bearer " KEY));
	assert_null(strstr(log, "?api_key"));
	assert_non_null(strstr(log, "podFindAndDeployOnDemand(input: $input)"));
	assert_non_null(strstr(log, "\\\"ports\\\":\\\"8080/http,22/tcp\\\""));
	assert_non_null(strstr(log, "\\\"cloudType\\\":\\\"COMMUNITY\\\""));
	assert_non_null(strstr(log, "\\\"containerDiskInGb\\\":20"));
	assert_non_null(strstr(log, "serve --port 8080 'it'\\\\\\\\''s here'"));
	assert_non_null(strstr(log, "FLEET_PORTS"));
	free(log);
	/* The expanded template secret is registered for redaction. */
	log = log_redact("token hf_secret_token_42");
	assert_null(strstr(log, "hf_secret"));
	free(log);

	/* Booting: RUNNING with runtime null, no endpoints. */
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.get(&ctx, id, &cur, &err), 0);
	assert_true(cur.state == INST_BOOTING || cur.state == INST_RUNNING);
	drv_instance_clear(&cur);

	wait_state(&ctx, id, INST_RUNNING, &cur);
	e = endpoint(&cur, 8080);
	assert_non_null(e);
	assert_string_equal(e->scheme, "http");
	assert_string_equal(e->host, "127.0.0.1");
	port1 = e->public_port;
	assert_true(port1 > 0);
	assert_string_equal(cur.ssh_host, "127.0.0.1");
	assert_true(cur.price_per_hour > 0.33 && cur.price_per_hour < 0.35);
	assert_int_equal(cur.gpu_count, 1);
	up = drv_instance_upstream(&cur, t);
	assert_non_null(up);
	log = xprintf("http://127.0.0.1:%d", port1);
	assert_string_equal(up, log);
	free(log);
	free(up);
	drv_instance_clear(&cur);

	/* Stop: EXITED, no endpoints, process gone. */
	assert_int_equal(driver_runpod.stop(&ctx, id, &err), 0);
	wait_state(&ctx, id, INST_STOPPED, &cur);
	assert_int_equal(cur.nendpoints, 0);
	drv_instance_clear(&cur);
	fi = fc_instance(id);
	assert_string_equal(cJSON_GetObjectItem(fi, "state")->valuestring,
	    "stopped");
	cJSON_Delete(fi);

	/* Start: running again, on a new public port. */
	assert_int_equal(driver_runpod.start(&ctx, id, &err), 0);
	wait_state(&ctx, id, INST_RUNNING, &cur);
	e = endpoint(&cur, 8080);
	assert_non_null(e);
	assert_true(e->public_port > 0);
	assert_int_not_equal(e->public_port, port1);
	drv_instance_clear(&cur);

	/* Terminate: gone; again and get say not found. */
	assert_int_equal(driver_runpod.terminate(&ctx, id, &err), 0);
	fi = fc_instance(id);
	assert_string_equal(cJSON_GetObjectItem(fi, "state")->valuestring,
	    "terminated");
	cJSON_Delete(fi);
	assert_int_equal(driver_runpod.get(&ctx, id, &cur, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.terminate(&ctx, id, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_non_null(strstr(err.message, "runpod: "));
	assert_int_equal(driver_runpod.stop(&ctx, id, &err), -1);
	free(id);
	template_free(t);
}

static void
test_list_only_fleet(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_instance	 a, b, *l;
	struct drv_error	 err;
	size_t			 n;

	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	create_pod(&ctx, t, "fleet-rp-7", 0, &a);
	create_pod(&ctx, t, "jupyter-by-hand", 0, &b);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.list(&ctx, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "fleet-rp-7");
	assert_string_equal(l[0].id, a.id);
	drv_instance_list_free(l, n);
	assert_int_equal(driver_runpod.terminate(&ctx, a.id, &err), 0);
	assert_int_equal(driver_runpod.list(&ctx, &l, &n, &err), 0);
	assert_int_equal(n, 0);
	drv_instance_list_free(l, n);
	drv_instance_clear(&a);
	drv_instance_clear(&b);
	template_free(t);
}

static void
test_proxy_endpoints(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_instance	 in, cur;
	const struct drv_endpoint *e;
	char			*host, *log, *up;

	fc_post("/runpod/_fake", "{\"http_ports\":\"proxy\"}");
	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_ws);
	create_pod(&ctx, t, "fleet-ws-1", 0, &in);
	log = fc_requests();
	/* ws goes out as tcp: RunPod's proxy cuts requests at 100 s. */
	assert_non_null(strstr(log, "8080/http,8998/tcp,22/tcp"));
	free(log);
	wait_state(&ctx, in.id, INST_RUNNING, &cur);
	e = endpoint(&cur, 8080);
	assert_non_null(e);
	assert_string_equal(e->scheme, "https");
	host = xprintf("%s-8080.proxy.runpod.net", in.id);
	assert_string_equal(e->host, host);
	free(host);
	assert_int_equal(e->public_port, 443);
	e = endpoint(&cur, 8998);
	assert_non_null(e);
	assert_string_equal(e->scheme, "http");
	assert_string_equal(e->host, "127.0.0.1");
	up = drv_instance_upstream(&cur, t);
	assert_non_null(strstr(up, "http://127.0.0.1:"));
	free(up);
	drv_instance_clear(&cur);

	setenv("FLEET_RUNPOD_PROXY_HOST", "{id}-{port}.proxy.test", 1);
	wait_state(&ctx, in.id, INST_RUNNING, &cur);
	host = xprintf("%s-8080.proxy.test", in.id);
	assert_string_equal(endpoint(&cur, 8080)->host, host);
	free(host);
	drv_instance_clear(&cur);
	drv_instance_clear(&in);
	template_free(t);
}

static void
test_spot_and_zero_cost(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_instance	 in, cur;
	char			*log;

	fc_post("/runpod/_fake", "{\"zero_cost\":true}");
	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	create_pod(&ctx, t, "fleet-spot-1", 1, &in);
	log = fc_requests();
	assert_non_null(strstr(log, "podRentInterruptable(input: $input)"));
	assert_non_null(strstr(log, "bidPerGpu"));
	free(log);
	/* costPerHr says 0: the price fleet noted on the pod is used. */
	assert_true(in.price_per_hour > 0.19 && in.price_per_hour < 0.21);
	wait_state(&ctx, in.id, INST_RUNNING, &cur);
	assert_true(cur.price_per_hour > 0.19 && cur.price_per_hour < 0.21);
	drv_instance_clear(&cur);
	drv_instance_clear(&in);
	template_free(t);
}

static void
test_bad_key(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_offer	*o;
	struct drv_instance	*l;
	struct drv_error	 err;
	size_t			 n;

	ctx_init(&ctx, BAD_KEY);
	t = tmpl(tmpl_4090);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(err.http_status, 401);
	assert_non_null(strstr(err.message, "runpod: HTTP 401"));
	assert_null(strstr(err.message, BAD_KEY));
	assert_int_equal(driver_runpod.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);

	ctx_init(&ctx, NULL);
	ctx.api_key = NULL;
	assert_int_equal(driver_runpod.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	template_free(t);
}

static void
test_capacity(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_offer	*o;
	struct drv_create_req	 req;
	struct drv_instance	 in;
	struct drv_error	 err;
	size_t			 n;

	fc_post("/_control/capacity", "{\"provider\":\"runpod\",\"gpu\":\"*\","
	    "\"available\":0}");
	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), 0);
	memset(&req, 0, sizeof req);
	req.tmpl = t;
	req.name = "fleet-rp-2";
	req.offer = &o[0];
	assert_int_equal(driver_runpod.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_string_equal(err.message, "runpod: There are no longer any "
	    "instances available with the requested specifications. Please "
	    "refresh and try again.");
	drv_offer_list_free(o, n);
	template_free(t);
}

static void
test_transient_and_rate_limit(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_offer	*o;
	struct drv_error	 err;
	struct drv_create_req	 req;
	struct drv_instance	 in;
	size_t			 n;
	cJSON			*log;

	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	/* Two 503s are retried away. */
	fc_post("/_control/fail", "{\"route\":\"/runpod\",\"status\":503,"
	    "\"count\":2}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), 0);
	assert_int_equal(n, 4);
	log = fc_call("GET", "/_control/requests?prefix=/runpod/graphql",
	    NULL);
	assert_int_equal(cJSON_GetArraySize(log), 3);
	cJSON_Delete(log);

	/* The create is never repeated: one 503 is the answer. */
	fc_post("/_control/fail", "{\"route\":\"/runpod\",\"status\":503,"
	    "\"count\":1}");
	memset(&req, 0, sizeof req);
	req.tmpl = t;
	req.name = "fleet-rp-3";
	req.offer = &o[0];
	assert_int_equal(driver_runpod.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 503);
	drv_offer_list_free(o, n);

	/* Always 503: transient after the retries. */
	fc_post("/_control/fail", "{\"route\":\"/runpod\",\"status\":503,"
	    "\"count\":-1}");
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 503);
	assert_null(strstr(err.message, KEY));
	fc_post("/_control/reset", "{}");
	fc_post("/runpod/_fake", "{\"api_key\":\"" KEY "\"}");

	fc_post("/_control/fail", "{\"route\":\"/runpod\",\"status\":429,"
	    "\"count\":-1,\"headers\":{\"Retry-After\":\"0\"}}");
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_int_equal(err.http_status, 429);

	/* Nobody listening: transient, no HTTP status. */
	ctx.base_url = "http://127.0.0.1:1/runpod/graphql";
	assert_int_equal(driver_runpod.get(&ctx, "abc", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 0);
	template_free(t);
}

static void
test_not_found_modes(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct drv_instance	 in;
	struct drv_error	 err;

	ctx_init(&ctx, KEY);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.get(&ctx, "nosuchpod00000", &in, &err),
	    -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	fc_post("/runpod/_fake", "{\"pod_missing\":\"error\"}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.get(&ctx, "nosuchpod00000", &in, &err),
	    -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_int_equal(driver_runpod.terminate(&ctx, "nosuchpod00000",
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
}

static void
test_invalid(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_create_req	 req;
	struct drv_instance	 in;
	struct drv_error	 err;

	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	free(t->image);
	t->image = NULL;
	memset(&req, 0, sizeof req);
	req.tmpl = t;
	req.name = "fleet-rp-4";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "no image"));
	template_free(t);

	/* No offer given: the driver picks the cheapest itself. */
	t = tmpl(tmpl_4090);
	req.tmpl = t;
	assert_int_equal(driver_runpod.create(&ctx, &req, &in, &err), 0);
	assert_string_equal(in.gpu, "RTX 4090");
	drv_instance_clear(&in);
	template_free(t);
}

/* The kept create input of pod id: env value key, or NULL. */
static char *
kept_env(const cJSON *input, const char *key)
{
	const cJSON	*e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(input, "env")) {
		if (strcmp(cJSON_GetObjectItem(e, "key")->valuestring,
		    key) == 0)
			return (xstrdup(cJSON_GetObjectItem(e,
			    "value")->valuestring));
	}
	return (NULL);
}

static cJSON *
kept_input(const char *id)
{
	char	*path = xprintf("/runpod/_fake/input?pod=%s", id);
	cJSON	*j = fc_call("GET", path, NULL);

	free(path);
	return (j);
}

/*
 * deadman_timeout: the watcher in FLEET_DEADMAN, dockerArgs wrapping the
 * template's args; nothing of it without; no args at all is refused.
 */
static void
test_deadman(void **arg __unused)
{
	struct drv_ctx		 ctx;
	struct fleet_template	*t;
	struct drv_instance	 in;
	struct drv_create_req	 req;
	struct drv_offer	*o;
	struct drv_error	 err;
	size_t			 n;
	cJSON			*input;
	char			*v, *want;

	setenv("RP_TEST_TOKEN", "hf_secret_token_42", 1);
	ctx_init(&ctx, KEY);
	t = tmpl(tmpl_4090);
	t->deadman_timeout = 60;
	create_pod(&ctx, t, "fleet-dm-1", 0, &in);
	input = kept_input(in.id);
	assert_string_equal(cJSON_GetObjectItem(input,
	    "dockerArgs")->valuestring, "sh -c 'sh -c \"$FLEET_DEADMAN\" "
	    ">/dev/null 2>&1 & exec \"$@\"' sh serve --port 8080 "
	    "'it'\\''s here'");
	v = kept_env(input, "FLEET_DEADMAN");
	assert_non_null(v);
	assert_non_null(strstr(v, "H=$W/heartbeat-fleet-dm-1;"));
	assert_non_null(strstr(v, "T=60;"));
	want = xprintf("U='%s';", base_url);
	assert_non_null(strstr(v, want));
	assert_non_null(strstr(v, "podTerminate"));
	assert_null(strstr(v, KEY));
	free(want);
	free(v);
	cJSON_Delete(input);
	drv_instance_clear(&in);

	/* Off: the create input is what it always was. */
	t->deadman_timeout = 0;
	create_pod(&ctx, t, "fleet-dm-2", 0, &in);
	input = kept_input(in.id);
	assert_string_equal(cJSON_GetObjectItem(input,
	    "dockerArgs")->valuestring, "serve --port 8080 'it'\\''s here'");
	assert_null(kept_env(input, "FLEET_DEADMAN"));
	cJSON_Delete(input);
	drv_instance_clear(&in);
	template_free(t);

	/* No args: the image's own command is unknown, so no wrapper. */
	t = tmpl(tmpl_ws);
	t->deadman_timeout = 60;
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.offers(&ctx, t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "no args"));
	memset(&req, 0, sizeof req);
	req.tmpl = t;
	req.name = "fleet-dm-3";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_runpod.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	template_free(t);
}

/* ---- canned answers, no server ---- */

static cJSON *
parse(const char *s)
{
	cJSON	*j = cJSON_Parse(s);

	assert_non_null(j);
	return (j);
}

static void
test_canned_errors(void **arg __unused)
{
	static const struct {
		long		 status;
		const char	*body;
		enum drv_err	 kind;
		const char	*msg;
	} cases[] = {
		{ 200, "{\"errors\":[{\"message\":\"There are no longer any "
		  "instances available with the requested specifications. "
		  "Please refresh and try again.\",\"path\":"
		  "[\"podFindAndDeployOnDemand\"],\"extensions\":{\"code\":"
		  "\"INTERNAL_SERVER_ERROR\"}}],\"data\":"
		  "{\"podFindAndDeployOnDemand\":null}}", DRV_ERR_CAPACITY,
		  "runpod: There are no longer any instances available" },
		{ 200, "{\"errors\":[{\"message\":\"There are no longer any "
		  "instances available with the request specifications. Please "
		  "try again later.\"}]}", DRV_ERR_CAPACITY, NULL },
		{ 200, "{\"errors\":[{\"message\":\"Something went wrong. "
		  "Please try again later or contact support.\",\"extensions\":"
		  "{\"code\":\"INTERNAL_SERVER_ERROR\"}}],\"data\":null}",
		  DRV_ERR_TRANSIENT, "runpod: Something went wrong" },
		{ 200, "{\"errors\":[{\"message\":\"Insufficient balance to "
		  "deploy this pod\"}]}", DRV_ERR_QUOTA, NULL },
		{ 200, "{\"errors\":[{\"message\":\"this machine does not have "
		  "the resources to deploy this pod\"}]}", DRV_ERR_CAPACITY,
		  NULL },
		{ 401, "{\"errors\":[{\"message\":\"Unauthorized\"}]}",
		  DRV_ERR_AUTH, "runpod: HTTP 401: Unauthorized" },
		{ 403, "forbidden", DRV_ERR_AUTH, "runpod: HTTP 403" },
		{ 429, "", DRV_ERR_RATE_LIMITED, "runpod: HTTP 429" },
		{ 502, "<html>bad gateway</html>", DRV_ERR_TRANSIENT,
		  "runpod: HTTP 502: server error" },
		{ 400, "{\"errors\":[{\"message\":\"Field \\\"objectMounts\\\" "
		  "is not defined by type \\\"PodFindAndDeployOnDemandInput\\\""
		  ".\"}]}", DRV_ERR_INVALID, "objectMounts" },
		{ 200, "{\"errors\":[{\"message\":\"line1\\nline2\"}]}",
		  DRV_ERR_INVALID, "runpod: line1?line2" },
		{ 200, "{\"data\":{}}", DRV_ERR_INVALID, "no pod" },
		{ 200, "not json", DRV_ERR_TRANSIENT, NULL },
	};
	const cJSON		*v;
	struct drv_error	 err;
	cJSON			*j;
	size_t			 i;

	for (i = 0; i < nitems(cases); i++) {
		memset(&err, 0, sizeof err);
		j = cJSON_Parse(cases[i].body);
		assert_int_equal(runpod_response(cases[i].status, j, "pod", &v,
		    &err), -1);
		if (err.kind != cases[i].kind)
			fail_msg("case %zu: %s, wanted %s", i,
			    drv_err_name(err.kind),
			    drv_err_name(cases[i].kind));
		if (cases[i].msg != NULL &&
		    strstr(err.message, cases[i].msg) == NULL)
			fail_msg("case %zu: message '%s'", i, err.message);
		cJSON_Delete(j);
	}
	j = parse("{\"data\":{\"pod\":null}}");
	assert_int_equal(runpod_response(200, j, "pod", &v, &err), 0);
	assert_true(cJSON_IsNull(v));
	cJSON_Delete(j);
}

static void
test_canned_pods(void **arg __unused)
{
	struct drv_instance	 in;
	cJSON			*j;

	/* The create answer of runpod.md 3.1: booting, no endpoints. */
	j = parse("{\"id\":\"50qynxzilsxoey\",\"name\":\"fleet-asr-1\","
	    "\"imageName\":\"runpod/pytorch\",\"desiredStatus\":\"RUNNING\","
	    "\"costPerHr\":0.79,\"env\":[\"HF_TOKEN=x\"],\"machineId\":"
	    "\"hpvdausak8xb\",\"machine\":{\"podHostId\":\"50qynxzilsxoey-6441"
	    "0065\",\"gpuDisplayName\":\"RTX A6000\",\"location\":\"US\"}}");
	assert_int_equal(runpod_parse_pod(j, &in), 0);
	assert_int_equal(in.state, INST_BOOTING);
	assert_string_equal(in.gpu, "RTX A6000");
	assert_string_equal(in.region, "US");
	assert_true(in.price_per_hour > 0.78 && in.price_per_hour < 0.8);
	assert_int_equal(in.nendpoints, 0);
	drv_instance_clear(&in);
	cJSON_Delete(j);

	/* Running, as RunPod shows it: http behind its proxy, ssh direct. */
	j = parse("{\"id\":\"abc123xyz00000\",\"name\":\"fleet-x-2\","
	    "\"desiredStatus\":\"RUNNING\",\"costPerHr\":0,\"gpuCount\":1,"
	    "\"ports\":\"8888/http,8998/tcp,5432/tcp,22/tcp\","
	    "\"env\":[\"FLEET_PORTS=8888/http,8998/ws,5432/tcp\","
	    "\"FLEET_PRICE=0.6900\"],"
	    "\"runtime\":{\"uptimeInSeconds\":12,\"gpus\":[{\"id\":\"g\"}],"
	    "\"ports\":[{\"ip\":\"100.65.0.101\",\"isIpPublic\":false,"
	    "\"privatePort\":8888,\"publicPort\":60123,\"type\":\"http\"},"
	    "{\"ip\":\"213.173.109.39\",\"isIpPublic\":true,\"privatePort\":"
	    "8998,\"publicPort\":13008,\"type\":\"tcp\"},"
	    "{\"ip\":\"213.173.109.39\",\"isIpPublic\":true,\"privatePort\":"
	    "5432,\"publicPort\":13009,\"type\":\"tcp\"},"
	    "{\"ip\":\"213.173.109.39\",\"isIpPublic\":true,\"privatePort\":"
	    "22,\"publicPort\":13007,\"type\":\"tcp\"}]}}");
	assert_int_equal(runpod_parse_pod(j, &in), 0);
	assert_int_equal(in.state, INST_RUNNING);
	assert_string_equal(in.ssh_host, "213.173.109.39");
	assert_int_equal(in.ssh_port, 13007);
	assert_int_equal(in.nendpoints, 3);
	assert_string_equal(endpoint(&in, 8888)->host,
	    "abc123xyz00000-8888.proxy.runpod.net");
	assert_string_equal(endpoint(&in, 8888)->scheme, "https");
	assert_string_equal(endpoint(&in, 8998)->scheme, "http");
	assert_int_equal(endpoint(&in, 8998)->public_port, 13008);
	assert_string_equal(endpoint(&in, 5432)->scheme, "tcp");
	assert_true(in.price_per_hour > 0.68 && in.price_per_hour < 0.7);
	drv_instance_clear(&in);
	cJSON_Delete(j);

	/* Other states, and the inline {key,value} env alternative. */
	j = parse("[{\"id\":\"a\",\"desiredStatus\":\"EXITED\","
	    "\"runtime\":null},{\"id\":\"b\",\"desiredStatus\":\"TERMINATED\"},"
	    "{\"id\":\"c\",\"desiredStatus\":\"DEAD\"},{\"id\":\"d\","
	    "\"desiredStatus\":\"PAUSED\"},{\"id\":\"e\",\"desiredStatus\":"
	    "\"MIGRATING\"},{\"id\":\"f\",\"desiredStatus\":\"RUNNING\","
	    "\"gpuCount\":0,\"runtime\":{\"ports\":[],\"gpus\":[]}},"
	    "{\"id\":\"g\",\"desiredStatus\":\"RUNNING\",\"ports\":\"80/http\","
	    "\"runtime\":{\"ports\":[]}},{\"desiredStatus\":\"RUNNING\"}]");
	{
		static const enum inst_state want[] = { INST_STOPPED,
		    INST_TERMINATED, INST_FAILED, INST_STOPPED, INST_UNKNOWN,
		    INST_FAILED, INST_BOOTING };
		size_t	 i;

		for (i = 0; i < nitems(want); i++) {
			assert_int_equal(runpod_parse_pod(cJSON_GetArrayItem(j,
			    (int)i), &in), 0);
			if (in.state != want[i])
				fail_msg("pod %zu: %s", i,
				    inst_state_name(in.state));
			/* Only EXITED says the container stopped. */
			assert_int_equal(in.exited, i == 0);
			drv_instance_clear(&in);
		}
		assert_int_equal(runpod_parse_pod(cJSON_GetArrayItem(j, 7),
		    &in), -1);
	}
	cJSON_Delete(j);

	/* EXITED carries RunPod's own words, made safe to print. */
	j = parse("{\"id\":\"a\",\"desiredStatus\":\"EXITED\",\"runtime\":"
	    "null,\"lastStatusChange\":\"Exited with code 3\\u001b[2J\"}");
	assert_int_equal(runpod_parse_pod(j, &in), 0);
	assert_int_equal(in.exited, 1);
	assert_string_equal(in.exit_reason,
	    "pod EXITED (Exited with code 3?[2J)");
	assert_null(in.exit_output);
	drv_instance_clear(&in);
	cJSON_Delete(j);
	j = parse("{\"id\":\"a\",\"desiredStatus\":\"EXITED\"}");
	assert_int_equal(runpod_parse_pod(j, &in), 0);
	assert_string_equal(in.exit_reason, "pod EXITED");
	drv_instance_clear(&in);
	cJSON_Delete(j);
	j = parse("{\"id\":\"a\",\"desiredStatus\":\"EXITED\",\"podType\":"
	    "\"INTERRUPTABLE\"}");
	assert_int_equal(runpod_parse_pod(j, &in), 0);
	assert_string_equal(in.exit_reason, "pod EXITED; a spot pod, it may "
	    "have been outbid");
	drv_instance_clear(&in);
	cJSON_Delete(j);
}

static void
test_gpu_names_and_ports(void **arg __unused)
{
	struct fleet_template	*t;
	char			*s;

	assert_true(runpod_gpu_matches("RTX 4090", "NVIDIA GeForce RTX 4090",
	    "RTX 4090"));
	assert_true(runpod_gpu_matches("rtx 4090", "NVIDIA GeForce RTX 4090",
	    NULL));
	assert_true(runpod_gpu_matches("A100 80GB", "NVIDIA A100 80GB PCIe",
	    "A100 80GB PCIe"));
	assert_true(runpod_gpu_matches("A100 80GB", "NVIDIA A100-SXM4-80GB",
	    "A100 SXM"));
	assert_true(runpod_gpu_matches("NVIDIA H100 80GB HBM3",
	    "NVIDIA H100 80GB HBM3", "H100 80GB HBM3"));
	assert_true(runpod_gpu_matches("H100", "NVIDIA H100 PCIe", NULL));
	assert_false(runpod_gpu_matches("A40", "NVIDIA RTX A4000",
	    "RTX A4000"));
	assert_false(runpod_gpu_matches("RTX 4090", "NVIDIA GeForce RTX 4080",
	    "RTX 4080"));
	assert_false(runpod_gpu_matches("A100 80GB", "NVIDIA A100 40GB PCIe",
	    NULL));
	assert_false(runpod_gpu_matches("", "NVIDIA A40", "A40"));

	t = tmpl("name: rp\nimage: x\nports: [{port: 8998, protocol: ws, "
	    "stable: true}, "
	    "{port: 8080, protocol: http}, {port: 5432, protocol: tcp}]\n");
	s = runpod_ports_string(t);
	assert_string_equal(s, "8998/tcp,8080/http,5432/tcp,22/tcp");
	free(s);
	template_free(t);
	t = tmpl("name: rp\nimage: x\nports: [{port: 22, protocol: tcp}]\n");
	s = runpod_ports_string(t);
	assert_string_equal(s, "22/tcp");
	free(s);
	template_free(t);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup(f, test_setup)
	const struct CMUnitTest live[] = {
		T(test_offers_filter_and_order),
		T(test_lifecycle),
		T(test_list_only_fleet),
		T(test_proxy_endpoints),
		T(test_spot_and_zero_cost),
		T(test_bad_key),
		T(test_capacity),
		T(test_transient_and_rate_limit),
		T(test_not_found_modes),
		T(test_invalid),
		T(test_deadman),
	};
	const struct CMUnitTest canned[] = {
		cmocka_unit_test(test_canned_errors),
		cmocka_unit_test(test_canned_pods),
		cmocka_unit_test(test_gpu_names_and_ports),
	};
	int	 rc;

	log_init("test-driver-runpod", 0, NULL);
	rc = cmocka_run_group_tests_name("canned", canned, NULL, NULL);
	rc += cmocka_run_group_tests_name("fakecloud", live, fc_start,
	    fc_stop);
	return (rc != 0);
}
