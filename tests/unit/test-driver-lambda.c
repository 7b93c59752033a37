/* test-driver-lambda.c: driver-lambda.c on canned JSON and against the fake. */
#include <sys/prctl.h>
#include <sys/types.h>
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
#include "driver-lambda.h"
#include "http.h"

#define KEY		"lk-secret-key-0123456789abcdef"
#define A100		"gpu_1x_a100_sxm4"

static pid_t		 fc_pid = -1;
static char		 fc_url[128];	/* http://127.0.0.1:PORT */
static char		 base_url[160];	/* fc_url/lambda/api/v1 */
static char		 tmpdir[] = "/tmp/test-driver-lambda.XXXXXX";
static FILE		*log_file;

static char		 pc_name[] = "lambda";
static char		 pc_key[] = "fleet-test";
static char		 pc_west[] = "us-west-2";
static struct provider_conf pc;
static struct drv_ctx	 ctx;

static char		 m_a100[] = "A100";
static char		 m_h100[] = "H100 80GB";
static char		*models_a100[] = { m_a100 };
static char		*models_any[] = { m_a100, m_h100 };
static char		 t_name[] = "gpujob";
static struct tmpl_port	 t_port = { 8080, PORT_HTTP, 1 };
static struct fleet_template tmpl;

/* ---- helpers ---- */

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A request to the fake's control API (or any unauthenticated path). */
static long
ctl(const char *method, const char *path, const char *body, cJSON **json)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;
	long			 status;

	memset(&req, 0, sizeof req);
	url = xprintf("%s%s", fc_url, path);
	req.method = method;
	req.url = url;
	req.body = body;
	if (http_do(&req, &resp, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", path, cause);
		free(cause);
		free(url);
		http_response_free(&resp);
		return (0);
	}
	free(url);
	status = resp.status;
	if (json != NULL) {
		*json = resp.json;
		resp.json = NULL;
	}
	http_response_free(&resp);
	return (status);
}

/* The bodies of the logged requests whose path starts with prefix. */
static cJSON *
requests(const char *prefix)
{
	cJSON	*j = NULL;
	char	*path = xprintf("/_control/requests?prefix=%s", prefix);

	assert_int_equal(ctl("GET", path, NULL, &j), 200);
	free(path);
	return (j);
}

static void
set_template(int count, int min_vram, char **models, int nmodels)
{
	memset(&tmpl, 0, sizeof tmpl);
	tmpl.name = t_name;
	tmpl.gpu.count = count;
	tmpl.gpu.min_vram_gb = min_vram;
	tmpl.gpu.models = models;
	tmpl.gpu.nmodels = nmodels;
	tmpl.ports = &t_port;
	tmpl.nports = 1;
}

/* Poll get() until the state is want (or 10 s pass). */
static void
wait_state(const char *id, enum inst_state want, struct drv_instance *out)
{
	struct drv_error	 err;
	int			 i;

	for (i = 0; i < 200; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(driver_lambda.get(&ctx, id, out, &err), 0);
		if (out->state == want)
			return;
		drv_instance_clear(out);
		sleep_ms(50);
	}
	fail_msg("instance %s never reached %s", id, inst_state_name(want));
}

static void
create_one(const char *name, struct drv_instance *out)
{
	struct drv_create_req	 req;
	struct drv_error	 err;

	memset(&req, 0, sizeof req);
	memset(&err, 0, sizeof err);
	req.tmpl = &tmpl;
	req.name = name;
	assert_int_equal(driver_lambda.create(&ctx, &req, out, &err), 0);
}

static void
assert_no_key(const struct drv_error *err)
{
	assert_null(strstr(err->message, KEY));
	assert_null(strstr(err->message, "wrong-key-77"));
}

/* ---- canned JSON, no server ---- */

static const char *canned_types =
    "{\"data\":{"
    "\"gpu_1x_a10\":{\"instance_type\":{\"name\":\"gpu_1x_a10\","
    "\"description\":\"1x A10 (24 GB PCIe)\",\"gpu_description\":"
    "\"A10 (24 GB PCIe)\",\"price_cents_per_hour\":75,\"specs\":{\"vcpus\":30,"
    "\"memory_gib\":200,\"storage_gib\":1400,\"gpus\":1}},"
    "\"regions_with_capacity_available\":[{\"name\":\"us-east-1\","
    "\"description\":\"Virginia, USA\"}]},"
    "\"gpu_1x_a100_sxm4\":{\"instance_type\":{\"name\":\"gpu_1x_a100_sxm4\","
    "\"description\":\"1x A100 (40 GB SXM4)\",\"gpu_description\":"
    "\"A100 (40 GB SXM4)\",\"price_cents_per_hour\":129,\"specs\":{\"gpus\":1,"
    "\"vcpus\":30,\"memory_gib\":200,\"storage_gib\":512}},"
    "\"regions_with_capacity_available\":[{\"name\":\"us-east-1\"},"
    "{\"name\":\"us-west-2\"}]},"
    "\"gpu_8x_a100_80gb_sxm4\":{\"instance_type\":{\"name\":"
    "\"gpu_8x_a100_80gb_sxm4\",\"description\":\"8x A100 (80 GB SXM4)\","
    "\"gpu_description\":\"A100 (80 GB SXM4)\",\"price_cents_per_hour\":1432,"
    "\"specs\":{\"gpus\":8}},\"regions_with_capacity_available\":"
    "[{\"name\":\"us-midwest-1\"}]},"
    "\"gpu_1x_h100_pcie\":{\"instance_type\":{\"name\":\"gpu_1x_h100_pcie\","
    "\"description\":\"1x H100 (80 GB PCIe)\",\"gpu_description\":"
    "\"H100 (80 GB PCIe)\",\"price_cents_per_hour\":249,\"specs\":"
    "{\"gpus\":1}},\"regions_with_capacity_available\":[]},"
    "\"gpu_2x_a6000\":{\"instance_type\":{\"name\":\"gpu_2x_a6000\","
    "\"description\":\"2x A6000 (48 GB)\",\"price_cents_per_hour\":160},"
    "\"regions_with_capacity_available\":[{\"name\":\"us-south-1\"}]},"
    "\"broken\":{\"instance_type\":{\"name\":7},\"regions_with_capacity_"
    "available\":{}}"
    "}}";

static void
parse_canned(struct drv_offer **o, size_t *n, const char *prefer)
{
	cJSON	*root = cJSON_Parse(canned_types);

	assert_non_null(root);
	assert_int_equal(lambda_parse_offers(cJSON_GetObjectItem(root, "data"),
	    &tmpl, prefer, o, n, NULL), 0);
	cJSON_Delete(root);
}

static void
test_offers_canned(void **state __unused)
{
	struct drv_offer	*o;
	size_t			 n;

	/* No requirement: every type with capacity, cheapest first. */
	set_template(0, 0, NULL, 0);
	parse_canned(&o, &n, NULL);
	assert_int_equal(n, 4);
	assert_string_equal(o[0].offer_id, "gpu_1x_a10");
	assert_string_equal(o[1].offer_id, "gpu_1x_a100_sxm4");
	assert_string_equal(o[2].offer_id, "gpu_2x_a6000");
	assert_string_equal(o[3].offer_id, "gpu_8x_a100_80gb_sxm4");
	assert_string_equal(o[0].provider, "lambda");
	assert_string_equal(o[1].gpu, "A100 (40 GB SXM4)");
	assert_int_equal(o[1].vram_gb, 40);
	assert_int_equal(o[1].gpu_count, 1);
	assert_true(o[1].price_per_hour > 1.289 && o[1].price_per_hour < 1.291);
	assert_string_equal(o[1].region, "us-east-1");
	/* A v1.4 type: no gpu_description, no specs; name and text tell. */
	assert_int_equal(o[2].gpu_count, 2);
	assert_int_equal(o[2].vram_gb, 48);
	drv_offer_list_free(o, n);

	/* Model A100: not the A10; the preferred region when it has room. */
	set_template(1, 0, models_a100, 1);
	parse_canned(&o, &n, "us-west-2");
	assert_int_equal(n, 2);
	assert_string_equal(o[0].offer_id, "gpu_1x_a100_sxm4");
	assert_string_equal(o[0].region, "us-west-2");
	assert_string_equal(o[1].region, "us-midwest-1");
	drv_offer_list_free(o, n);

	/* 80 GB per GPU: only the 80 GB A100 (the H100 has no capacity). */
	set_template(1, 80, models_any, 2);
	parse_canned(&o, &n, NULL);
	assert_int_equal(n, 1);
	assert_string_equal(o[0].offer_id, "gpu_8x_a100_80gb_sxm4");
	assert_int_equal(o[0].gpu_count, 8);
	drv_offer_list_free(o, n);

	/* Two GPUs: the bundles of 2 and 8. */
	set_template(2, 0, NULL, 0);
	parse_canned(&o, &n, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(o[0].offer_id, "gpu_2x_a6000");
	drv_offer_list_free(o, n);

	/* Not an object: an error, nothing allocated. */
	assert_int_equal(lambda_parse_offers(NULL, &tmpl, NULL, &o, &n, NULL),
	    -1);
	assert_null(o);
}

static void
test_gpu_matches(void **state __unused)
{
	static const struct {
		const char	*want, *desc;
		int		 vram, ok;
	} c[] = {
		{ "A100", "A100 (40 GB SXM4)", 40, 1 },
		{ "a100", "A100 (80 GB SXM4)", 80, 1 },
		{ "A100", "A10 (24 GB PCIe)", 24, 0 },
		{ "A10", "A100 (40 GB SXM4)", 40, 0 },
		{ "A100 80GB", "A100 (40 GB SXM4)", 40, 0 },
		{ "A100-80GB", "A100 (80 GB SXM4)", 80, 1 },
		{ "NVIDIA H100 80GB PCIe", "H100 (80 GB PCIe)", 80, 1 },
		{ "H100 SXM", "H100 (80 GB PCIe)", 80, 0 },
		{ "H100 SXM", "H100 (80 GB SXM5)", 80, 1 },
		{ "H100", "GH200 (96 GB)", 96, 0 },
		{ "GH200", "GH200 (96 GB)", 96, 1 },
		{ "Tesla V100", "Tesla V100 (16 GB)", 16, 1 },
		{ "RTX 6000", "RTX 6000 (24 GB GDDR6)", 24, 1 },
		{ "A6000", "RTX 6000 (24 GB GDDR6)", 24, 0 },
		{ "NVIDIA", "A100 (40 GB SXM4)", 40, 0 },
		{ "", "A100 (40 GB SXM4)", 40, 0 },
	};
	size_t	 i;

	for (i = 0; i < nitems(c); i++) {
		if (lambda_gpu_matches(c[i].want, c[i].desc, c[i].vram) !=
		    c[i].ok)
			fail_msg("'%s' vs '%s': wanted %d", c[i].want,
			    c[i].desc, c[i].ok);
	}
	assert_false(lambda_gpu_matches(NULL, "A100", 40));
}

static void
parse_one(const char *json, int rc, struct drv_instance *in)
{
	cJSON	*o = cJSON_Parse(json);

	assert_non_null(o);
	assert_int_equal(lambda_parse_instance(o, in), rc);
	cJSON_Delete(o);
}

static void
test_instance_canned(void **state __unused)
{
	struct drv_instance	 in;
	char			*up;

	set_template(1, 0, NULL, 0);
	t_port.number = 8998;
	parse_one("{\"id\":\"0920582c7ff041399e34823a0be62549\",\"name\":"
	    "\"fleet-asr-1\",\"ip\":\"198.51.100.2\",\"status\":\"active\","
	    "\"region\":{\"name\":\"us-west-1\"},\"instance_type\":{\"name\":"
	    "\"gpu_1x_a10\",\"gpu_description\":\"A10 (24 GB PCIe)\","
	    "\"price_cents_per_hour\":75,\"specs\":{\"gpus\":1}}}", 0, &in);
	assert_string_equal(in.id, "0920582c7ff041399e34823a0be62549");
	assert_string_equal(in.name, "fleet-asr-1");
	assert_int_equal(in.state, INST_RUNNING);
	assert_string_equal(in.gpu, "A10 (24 GB PCIe)");
	assert_int_equal(in.gpu_count, 1);
	assert_true(in.price_per_hour > 0.749 && in.price_per_hour < 0.751);
	assert_string_equal(in.region, "us-west-1");
	assert_string_equal(in.ssh_host, "198.51.100.2");
	assert_int_equal(in.ssh_port, 22);
	assert_int_equal(in.nendpoints, 1);
	assert_int_equal(in.endpoints[0].port, -1);
	/* The service port unchanged on the public ip. */
	up = drv_instance_upstream(&in, &tmpl);
	assert_string_equal(up, "http://198.51.100.2:8998");
	free(up);
	drv_instance_clear(&in);
	t_port.number = 8080;

	parse_one("{\"id\":\"a\",\"status\":\"booting\"}", 0, &in);
	assert_int_equal(in.state, INST_BOOTING);
	assert_int_equal(in.nendpoints, 0);
	assert_null(in.ssh_host);
	assert_null(in.name);
	drv_instance_clear(&in);
	/* active, but no ip yet (skypilot#1678): still booting. */
	parse_one("{\"id\":\"a\",\"status\":\"active\",\"ip\":null}", 0, &in);
	assert_int_equal(in.state, INST_BOOTING);
	drv_instance_clear(&in);
	parse_one("{\"id\":\"a\",\"status\":\"unhealthy\",\"ip\":\"1.2.3.4\"}",
	    0, &in);
	assert_int_equal(in.state, INST_FAILED);
	drv_instance_clear(&in);
	parse_one("{\"id\":\"a\",\"status\":\"terminating\"}", 0, &in);
	assert_int_equal(in.state, INST_STOPPING);
	drv_instance_clear(&in);
	parse_one("{\"id\":\"a\",\"status\":\"terminated\"}", 0, &in);
	assert_int_equal(in.state, INST_TERMINATED);
	drv_instance_clear(&in);
	parse_one("{\"id\":\"a\",\"status\":\"migrating\"}", 0, &in);
	assert_int_equal(in.state, INST_UNKNOWN);
	drv_instance_clear(&in);
	parse_one("{\"status\":\"active\"}", -1, &in);
	parse_one("{\"id\":\"a\"}", -1, &in);
	parse_one("[1,2]", -1, &in);
}

static void
map(long status, const char *body, int launch, struct drv_error *err)
{
	cJSON	*j = cJSON_Parse(body);

	memset(err, 0, sizeof *err);
	lambda_map_error(status, j, body, launch, err);
	cJSON_Delete(j);
}

static void
test_errors_canned(void **state __unused)
{
	static const struct {
		long		 status;
		const char	*code;
		int		 launch;
		enum drv_err	 kind;
	} c[] = {
		{ 401, "global/invalid-api-key", 0, DRV_ERR_AUTH },
		{ 403, "global/account-inactive", 0, DRV_ERR_AUTH },
		{ 403, "global/invalid-address", 1, DRV_ERR_AUTH },
		{ 400, "instance-operations/launch/insufficient-capacity", 1,
		    DRV_ERR_CAPACITY },
		{ 400, "global/quota-exceeded", 1, DRV_ERR_QUOTA },
		{ 400, "global/invalid-parameters", 1, DRV_ERR_INVALID },
		{ 404, "global/object-does-not-exist", 0, DRV_ERR_NOT_FOUND },
		{ 404, "global/object-does-not-exist", 1, DRV_ERR_INVALID },
		{ 400, "global/object-does-not-exist", 1, DRV_ERR_INVALID },
		{ 400, "instance-operations/launch/file-system-in-wrong-region",
		    1, DRV_ERR_INVALID },
		{ 503, "provider/internal-unavailable", 0, DRV_ERR_TRANSIENT },
		{ 400, "provider/internal-unavailable", 1, DRV_ERR_TRANSIENT },
		{ 500, "global/invalid-parameters", 0, DRV_ERR_TRANSIENT },
		{ 429, "global/invalid-parameters", 0, DRV_ERR_RATE_LIMITED },
		{ 401, "some/new-code", 0, DRV_ERR_AUTH },
		{ 404, "some/new-code", 0, DRV_ERR_NOT_FOUND },
		{ 400, "some/new-code", 0, DRV_ERR_INVALID },
	};
	struct drv_error	 err;
	char			*body;
	size_t			 i;

	for (i = 0; i < nitems(c); i++) {
		body = xprintf("{\"error\":{\"code\":\"%s\",\"message\":"
		    "\"Msg %zu.\"}}", c[i].code, i);
		map(c[i].status, body, c[i].launch, &err);
		free(body);
		if (err.kind != c[i].kind)
			fail_msg("%ld %s: %s, wanted %s", c[i].status,
			    c[i].code, drv_err_name(err.kind),
			    drv_err_name(c[i].kind));
		body = xprintf("lambda: %s: Msg %zu.", c[i].code, i);
		assert_string_equal(err.message, body);
		free(body);
		assert_int_equal(err.http_status, c[i].status);
	}
	map(401, "{\"error\":{\"code\":\"global/invalid-api-key\",\"message\":"
	    "\"API key was invalid, expired, or deleted.\",\"suggestion\":"
	    "\"Check your API key.\"}}", 0, &err);
	assert_string_equal(err.message, "lambda: global/invalid-api-key: API "
	    "key was invalid, expired, or deleted. Check your API key.");
	/* 429 with no body at all, and 502 from a proxy in HTML. */
	map(429, "", 0, &err);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_string_equal(err.message, "lambda: HTTP 429");
	map(502, "<html>\n<b>Bad gateway</b></html>", 0, &err);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_string_equal(err.message,
	    "lambda: HTTP 502: <html> <b>Bad gateway</b></html>");
	/* The older shape: a string error, per-field errors. */
	map(400, "{\"error\":\"bad things\"}", 0, &err);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_string_equal(err.message, "lambda: error: bad things");
	map(400, "{\"error\":{\"code\":\"global/invalid-parameters\",\"message\""
	    ":\"Invalid request data.\"},\"field_errors\":{\"quantity\":{"
	    "\"code\":\"x\",\"message\":\"too many\"}}}", 1, &err);
	assert_string_equal(err.message, "lambda: global/invalid-parameters: "
	    "Invalid request data. (quantity: too many)");
}

/* ---- against fakecloud ---- */

static void
test_offers_server(void **state __unused)
{
	struct drv_offer	*o;
	struct drv_error	 err;
	size_t			 n, i;

	memset(&err, 0, sizeof err);
	set_template(1, 0, models_a100, 1);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(o[0].offer_id, A100);
	assert_string_equal(o[0].region, "us-east-1");
	for (i = 1; i < n; i++)
		assert_true(o[i - 1].price_per_hour <= o[i].price_per_hour);
	drv_offer_list_free(o, n);

	/* The configured region wins where the type has capacity. */
	pc.region = pc_west;
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), 0);
	assert_string_equal(o[0].region, "us-west-2");
	drv_offer_list_free(o, n);
	pc.region = NULL;

	/* Eight GPUs: the 8x bundles with capacity (not the sold-out V100). */
	set_template(8, 0, NULL, 0);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(o[0].offer_id, "gpu_8x_a100_80gb_sxm4");
	assert_string_equal(o[1].offer_id, "gpu_8x_h100_sxm5");
	drv_offer_list_free(o, n);

	/* Sold out: the type disappears from the offers. */
	assert_int_equal(ctl("POST", "/_control/capacity", "{\"provider\":"
	    "\"lambda\",\"gpu\":\"" A100 "\",\"available\":0}", NULL), 200);
	set_template(1, 0, models_a100, 1);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), 0);
	for (i = 0; i < n; i++)
		assert_string_not_equal(o[i].offer_id, A100);
	drv_offer_list_free(o, n);

	/* Everything that fits is sold out: a capacity error, not "none". */
	assert_int_equal(ctl("POST", "/_control/capacity", "{\"provider\":"
	    "\"lambda\",\"gpu\":\"*\",\"available\":0}", NULL), 200);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_string_equal(err.message, "lambda: 3 instance types fit gpujob "
	    "but none has capacity in any region now");
	/* Nothing fits at all: an empty list. */
	set_template(16, 0, NULL, 0);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void
test_lifecycle(void **state __unused)
{
	struct drv_instance	 in, got;
	struct drv_error	 err;
	cJSON			*log, *last, *body, *keys;
	char			*up;

	set_template(1, 0, models_a100, 1);
	create_one("fleet-gpujob-1", &in);
	assert_int_equal(strlen(in.id), 32);
	assert_int_equal(in.state, INST_BOOTING);
	assert_string_equal(in.name, "fleet-gpujob-1");
	assert_string_equal(in.region, "us-east-1");
	assert_true(in.price_per_hour > 1.28 && in.price_per_hour < 1.30);

	/* The launch request, as Lambda wants it. */
	log = requests("/lambda/api/v1/instance-operations/launch");
	last = cJSON_GetArrayItem(log, cJSON_GetArraySize(log) - 1);
	assert_string_equal(cJSON_GetObjectItem(last, "authorization")->
	    valuestring, "Bearer " KEY);
	body = cJSON_Parse(cJSON_GetObjectItem(last, "body")->valuestring);
	assert_string_equal(cJSON_GetObjectItem(body, "region_name")->
	    valuestring, "us-east-1");
	assert_string_equal(cJSON_GetObjectItem(body, "instance_type_name")->
	    valuestring, A100);
	keys = cJSON_GetObjectItem(body, "ssh_key_names");
	assert_int_equal(cJSON_GetArraySize(keys), 1);
	assert_string_equal(cJSON_GetArrayItem(keys, 0)->valuestring,
	    "fleet-test");
	assert_string_equal(cJSON_GetObjectItem(body, "name")->valuestring,
	    "fleet-gpujob-1");
	assert_int_equal(cJSON_GetObjectItem(body, "quantity")->valueint, 1);
	cJSON_Delete(body);
	cJSON_Delete(log);

	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.get(&ctx, in.id, &got, &err), 0);
	assert_true(got.state == INST_BOOTING || got.state == INST_RUNNING);
	drv_instance_clear(&got);
	wait_state(in.id, INST_RUNNING, &got);
	assert_string_equal(got.ssh_host, "127.0.0.1");
	assert_string_equal(got.gpu, "A100 (40 GB SXM4)");
	up = drv_instance_upstream(&got, &tmpl);
	assert_string_equal(up, "http://127.0.0.1:8080");
	free(up);
	drv_instance_clear(&got);

	assert_int_equal(driver_lambda.terminate(&ctx, in.id, &err), 0);
	memset(&err, 0, sizeof err);
	if (driver_lambda.get(&ctx, in.id, &got, &err) == 0) {
		assert_int_equal(got.state, INST_STOPPING);
		drv_instance_clear(&got);
	} else
		assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	sleep_ms(600);
	assert_int_equal(driver_lambda.get(&ctx, in.id, &got, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_non_null(strstr(err.message, "object-does-not-exist"));
	/* Gone for good: terminating again is "not found", not a failure. */
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.terminate(&ctx, in.id, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	drv_instance_clear(&in);
}

/* Terminate answers without the id (a documented possibility). */
static void
test_terminate_variants(void **state __unused)
{
	struct drv_instance	 in, got;
	struct drv_error	 err;

	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.terminate(&ctx,
	    "0123456789abcdef0123456789abcdef", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_int_equal(driver_lambda.terminate(&ctx, "../etc", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);

	assert_int_equal(ctl("POST", "/lambda/_control", "{\"terminate_"
	    "unknown_ok\":true,\"terminated_visible\":true}", NULL), 200);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.terminate(&ctx,
	    "0123456789abcdef0123456789abcdef", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	set_template(1, 0, NULL, 0);
	create_one("fleet-t-1", &in);
	assert_int_equal(driver_lambda.terminate(&ctx, in.id, &err), 0);
	sleep_ms(600);
	/* terminated_visible: GET shows "terminated", and terminate is ok. */
	wait_state(in.id, INST_TERMINATED, &got);
	drv_instance_clear(&got);
	assert_int_equal(driver_lambda.terminate(&ctx, in.id, &err), 0);
	drv_instance_clear(&in);
}

static void
test_list(void **state __unused)
{
	struct drv_instance	 a, *l;
	struct drv_error	 err;
	size_t			 n;
	char			*body;

	set_template(1, 0, NULL, 0);
	create_one("fleet-web-1", &a);
	/* Someone else's instances on the same account: named and not. */
	body = xstrdup("{\"region_name\":\"us-east-1\",\"instance_type_name\":"
	    "\"gpu_1x_a10\",\"ssh_key_names\":[\"fleet-test\"],\"name\":"
	    "\"my-notebook\"}");
	{
		struct http_request	 req;
		struct http_response	 resp;
		char			*url, *cause = NULL;
		int			 i;

		url = xprintf("%s/instance-operations/launch", base_url);
		for (i = 0; i < 2; i++) {
			memset(&req, 0, sizeof req);
			req.method = "POST";
			req.url = url;
			req.auth = HTTP_AUTH_BASIC;
			req.secret = KEY ":";
			req.body = i == 0 ? body : "{\"region_name\":"
			    "\"us-east-1\",\"instance_type_name\":"
			    "\"gpu_1x_a10\",\"ssh_key_names\":[\"fleet-test\"]}";
			assert_int_equal(http_do(&req, &resp, &cause), 0);
			assert_int_equal(resp.status, 200);
			http_response_free(&resp);
		}
		free(url);
	}
	free(body);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].name, "fleet-web-1");
	assert_string_equal(l[0].id, a.id);
	drv_instance_list_free(l, n);
	drv_instance_clear(&a);
}

static void
test_stop_start(void **state __unused)
{
	struct drv_error	 err;

	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.stop(&ctx, "abc", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_UNSUPPORTED);
	assert_string_equal(err.message,
	    "lambda cannot stop an instance, only terminate it");
	assert_int_equal(driver_lambda.start(&ctx, "abc", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_UNSUPPORTED);
	assert_false(driver_lambda.flags & DRV_CAN_STOP);
	assert_true(driver_lambda.flags & DRV_NEEDS_KEY);
	assert_string_equal(driver_lambda.key_env, "LAMBDA_API_KEY");
	assert_string_equal(driver_lambda.url_env, "FLEET_LAMBDA_URL");
	assert_non_null(driver_find("lambda"));
}

/* GET /instance-types proves the key; Lambda shows no balance. */
static void
test_account(void **state __unused)
{
	struct drv_account	 a;
	struct drv_error	 err;
	cJSON			*j;

	j = cJSON_Parse("{\"gpu_1x_a10\":{}}");
	assert_int_equal(lambda_parse_account(j, &a), 0);
	assert_false(a.has_balance || a.has_limit || a.has_spend);
	assert_null(a.who);
	cJSON_Delete(j);
	j = cJSON_Parse("[]");
	assert_int_equal(lambda_parse_account(j, &a), -1);
	cJSON_Delete(j);

	assert_int_equal(ctl("POST", "/lambda/_control",
	    "{\"api_key\":\"the-right-key\"}", NULL), 200);
	ctx.api_key = "the-right-key";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.account(&ctx, &a, &err), 0);
	drv_account_clear(&a);
	ctx.api_key = "wrong-key-77";
	assert_int_equal(driver_lambda.account(&ctx, &a, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(err.http_status, 401);
	assert_non_null(strstr(err.message, "global/invalid-api-key"));
	assert_no_key(&err);
}

static void
test_bad_key(void **state __unused)
{
	struct drv_offer	*o;
	struct drv_instance	 in, *l;
	struct drv_error	 err;
	size_t			 n;

	assert_int_equal(ctl("POST", "/lambda/_control",
	    "{\"api_key\":\"the-right-key\"}", NULL), 200);
	ctx.api_key = "wrong-key-77";
	set_template(1, 0, NULL, 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.offers(&ctx, &tmpl, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(err.http_status, 401);
	assert_non_null(strstr(err.message, "lambda: global/invalid-api-key: "
	    "API key was invalid, expired, or deleted."));
	assert_no_key(&err);
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_no_key(&err);
	assert_int_equal(driver_lambda.get(&ctx, "abc", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	ctx.api_key = "the-right-key";
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), 0);
	drv_instance_list_free(l, n);

	/* Account problems are auth errors too. */
	assert_int_equal(ctl("POST", "/lambda/_control",
	    "{\"account_inactive\":true}", NULL), 200);
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_non_null(strstr(err.message, "global/account-inactive"));
	ctx.api_key = KEY;
}

static void
test_capacity(void **state __unused)
{
	struct drv_create_req	 req;
	struct drv_offer	 offer;
	struct drv_instance	 in;
	struct drv_error	 err;
	char			 id[] = A100, region[] = "us-east-1";

	/* The catalogue said yes a moment ago; launch says no. */
	memset(&offer, 0, sizeof offer);
	offer.offer_id = id;
	offer.region = region;
	memset(&req, 0, sizeof req);
	set_template(1, 0, NULL, 0);
	req.tmpl = &tmpl;
	req.name = "fleet-cap-1";
	req.offer = &offer;
	assert_int_equal(ctl("POST", "/_control/capacity", "{\"provider\":"
	    "\"lambda\",\"gpu\":\"" A100 "\",\"available\":0}", NULL), 200);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_int_equal(err.http_status, 400);
	assert_non_null(strstr(err.message,
	    "lambda: instance-operations/launch/insufficient-capacity: Not "
	    "enough capacity"));

	/* No offer given, nothing anywhere: the driver says capacity too. */
	assert_int_equal(ctl("POST", "/_control/capacity", "{\"provider\":"
	    "\"lambda\",\"gpu\":\"*\",\"available\":0}", NULL), 200);
	req.offer = NULL;
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);

	/* Quota, as Lambda words it. */
	assert_int_equal(ctl("POST", "/_control/reset", NULL, NULL), 200);
	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instance-operations/launch\",\"status\":400,"
	    "\"body\":\"{\\\"error\\\":{\\\"code\\\":\\\"global/quota-exceeded"
	    "\\\",\\\"message\\\":\\\"Quota exceeded.\\\",\\\"suggestion\\\":"
	    "\\\"Contact Support to increase your quota.\\\"}}\"}", NULL), 200);
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_QUOTA);
	assert_string_equal(err.message, "lambda: global/quota-exceeded: Quota "
	    "exceeded. Contact Support to increase your quota.");
}

static void
test_no_ssh_key(void **state __unused)
{
	struct drv_instance	 in;
	struct drv_error	 err;
	struct drv_create_req	 req;
	cJSON			*log;

	pc.ssh_key_name = NULL;
	memset(&req, 0, sizeof req);
	set_template(1, 0, NULL, 0);
	req.tmpl = &tmpl;
	req.name = "fleet-nokey-1";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "providers.lambda.ssh_key_name"));
	assert_non_null(strstr(err.message, "fleet.yaml"));
	pc.ssh_key_name = pc_key;
	log = requests("/lambda/api/v1/instance-operations");
	assert_int_equal(cJSON_GetArraySize(log), 0);
	cJSON_Delete(log);

	/* A key name Lambda does not know: the request is wrong. */
	pc.ssh_key_name = pc_name;
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "object-does-not-exist"));
	pc.ssh_key_name = pc_key;
}

static void
test_transient(void **state __unused)
{
	struct drv_instance	*l, in;
	struct drv_error	 err;
	size_t			 n;
	cJSON			*log;

	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instances\",\"status\":503,\"count\":3}", NULL),
	    200);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 503);
	assert_no_key(&err);
	/* Three attempts (two retries), each answered 503. */
	log = requests("/lambda/api/v1/instances");
	assert_int_equal(cJSON_GetArraySize(log), 3);
	cJSON_Delete(log);
	/* The rule is used up: the next call succeeds. */
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), 0);
	drv_instance_list_free(l, n);

	/* A 502 page from a proxy in front of the API. */
	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instances\",\"status\":502,\"count\":3,"
	    "\"content_type\":\"text/html\",\"body\":\"<html>Bad gateway"
	    "</html>\"}", NULL), 200);
	assert_int_equal(driver_lambda.get(&ctx, "abc", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_string_equal(err.message, "lambda: HTTP 502: <html>Bad gateway"
	    "</html>");

	/* Nobody listening at all. */
	ctx.base_url = "http://127.0.0.1:1/lambda/api/v1";
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	ctx.base_url = base_url;
}

static void
test_rate_limited(void **state __unused)
{
	struct drv_instance	*l;
	struct drv_error	 err;
	struct drv_create_req	 req;
	struct drv_instance	 in;
	size_t			 n;
	cJSON			*log;

	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instances\",\"status\":429,\"count\":3,"
	    "\"body\":\"\",\"headers\":{\"Retry-After\":\"0\"}}", NULL), 200);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.list(&ctx, &l, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_int_equal(err.http_status, 429);

	/* Launch is never repeated: one 429, one attempt, an error. */
	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instance-operations/launch\",\"status\":429}",
	    NULL), 200);
	memset(&req, 0, sizeof req);
	set_template(1, 0, NULL, 0);
	req.tmpl = &tmpl;
	req.name = "fleet-rl-1";
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	log = requests("/lambda/api/v1/instance-operations/launch");
	assert_int_equal(cJSON_GetArraySize(log), 1);
	cJSON_Delete(log);
}

/* Odd but possible answers: no ids from launch, unhealthy, no ip. */
static void
test_odd_answers(void **state __unused)
{
	struct drv_instance	 in, got;
	struct drv_error	 err;
	struct drv_create_req	 req;
	char			*ctlbody;

	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instance-operations/launch\",\"status\":200,"
	    "\"body\":\"{\\\"data\\\":{\\\"instance_ids\\\":[]}}\"}", NULL),
	    200);
	memset(&req, 0, sizeof req);
	set_template(1, 0, NULL, 0);
	req.tmpl = &tmpl;
	req.name = "fleet-odd-1";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.create(&ctx, &req, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_non_null(strstr(err.message, "fleet-odd-1 may exist"));

	assert_int_equal(ctl("POST", "/_control/fail", "{\"route\":"
	    "\"/lambda/api/v1/instances\",\"status\":200,\"body\":\"{}\"}",
	    NULL), 200);
	assert_int_equal(driver_lambda.get(&ctx, "abc", &got, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);

	assert_int_equal(ctl("POST", "/lambda/_control",
	    "{\"active_without_ip\":true,\"private_ip\":false}", NULL), 200);
	create_one("fleet-odd-2", &in);
	sleep_ms(600);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_lambda.get(&ctx, in.id, &got, &err), 0);
	assert_int_equal(got.state, INST_BOOTING);	/* active, no ip */
	drv_instance_clear(&got);
	assert_int_equal(ctl("POST", "/lambda/_control",
	    "{\"active_without_ip\":false}", NULL), 200);
	wait_state(in.id, INST_RUNNING, &got);
	drv_instance_clear(&got);
	ctlbody = xprintf("{\"unhealthy\":\"%s\"}", in.id);
	assert_int_equal(ctl("POST", "/lambda/_control", ctlbody, NULL), 200);
	free(ctlbody);
	wait_state(in.id, INST_FAILED, &got);
	drv_instance_clear(&got);
	assert_int_equal(driver_lambda.terminate(&ctx, in.id, &err), 0);
	drv_instance_clear(&in);
}

/* User data starts the template's image with its ports, env expanded. */
static void
test_user_data(void **state __unused)
{
	struct drv_instance	 in;
	static char		 img[] = "vllm/vllm-openai:latest";
	static char		 arg[] = "--model=x";
	static char		*args[] = { arg };
	static char		 ek[] = "HF_TOKEN";
	static char		 ev[] = "${TEST_LAMBDA_HF}";
	static struct tmpl_env	 env = { ek, ev, 0 };
	cJSON			*log, *last, *body;
	const char		*ud;

	setenv("TEST_LAMBDA_HF", "hf_sekrit_value", 1);
	set_template(1, 0, NULL, 0);
	tmpl.image = img;
	tmpl.args = args;
	tmpl.nargs = 1;
	tmpl.env = &env;
	tmpl.nenv = 1;
	create_one("fleet-ud-1", &in);
	log = requests("/lambda/api/v1/instance-operations/launch");
	last = cJSON_GetArrayItem(log, cJSON_GetArraySize(log) - 1);
	body = cJSON_Parse(cJSON_GetObjectItem(last, "body")->valuestring);
	ud = cJSON_GetObjectItem(body, "user_data")->valuestring;
	assert_non_null(strstr(ud, "#cloud-config\nruncmd:\n  - [\"docker\","));
	assert_non_null(strstr(ud, "\"-p\",\"8080:8080\""));
	assert_non_null(strstr(ud, "\"-e\",\"HF_TOKEN=hf_sekrit_value\""));
	assert_non_null(strstr(ud,
	    "\"vllm/vllm-openai:latest\",\"--model=x\""));
	cJSON_Delete(body);
	cJSON_Delete(log);
	drv_instance_clear(&in);
	unsetenv("TEST_LAMBDA_HF");
}

/* ---- fixtures ---- */

static int
test_setup(void **state __unused)
{
	memset(&pc, 0, sizeof pc);
	pc.name = pc_name;
	pc.enabled = 1;
	pc.ssh_key_name = pc_key;
	memset(&ctx, 0, sizeof ctx);
	ctx.pconf = &pc;
	ctx.api_key = KEY;
	ctx.base_url = base_url;
	set_template(1, 0, NULL, 0);
	t_port.number = 8080;
	if (fc_pid > 0 && ctl("POST", "/_control/reset", NULL, NULL) != 200)
		return (-1);
	return (0);
}

/* build/tests/test-driver-lambda -> build/fakecloud */
static char *
fakecloud_path(void)
{
	char	 exe[PATH_MAX], *d;
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return (NULL);
	exe[n] = '\0';
	d = dirname(dirname(exe));
	return (xprintf("%s/fakecloud", d));
}

static int
group_setup(void **state __unused)
{
	char	*fc, *pf, buf[32];
	FILE	*f;
	int	 i, port = 0;
	pid_t	 parent = getpid();

	if ((log_file = tmpfile()) == NULL || mkdtemp(tmpdir) == NULL)
		return (-1);
	log_init("test-driver-lambda", 0, log_file);
	if ((fc = fakecloud_path()) == NULL)
		return (-1);
	pf = xprintf("%s/port", tmpdir);
	if ((fc_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen(getenv("TEST_LAMBDA_FC_LOG") != NULL ?
		    getenv("TEST_LAMBDA_FC_LOG") : "/dev/null", "w",
		    stderr) == NULL)
			_exit(1);
		execl(fc, "fakecloud", "--port", "0", "--port-file", pf,
		    "--boot-delay-ms", "100", (char *)NULL);
		_exit(127);
	}
	free(fc);
	for (i = 0; i < 100 && port == 0; i++) {
		if ((f = fopen(pf, "r")) != NULL) {
			if (fgets(buf, sizeof buf, f) != NULL)
				port = atoi(buf);
			fclose(f);
		}
		if (port == 0)
			sleep_ms(50);
	}
	unlink(pf);
	free(pf);
	if (port == 0)
		return (-1);
	snprintf(fc_url, sizeof fc_url, "http://127.0.0.1:%d", port);
	snprintf(base_url, sizeof base_url, "%s/lambda/api/v1", fc_url);
	return (0);
}

static int
group_teardown(void **state __unused)
{
	if (fc_pid > 0) {
		kill(fc_pid, SIGTERM);
		waitpid(fc_pid, NULL, 0);
	}
	rmdir(tmpdir);
	http_global_cleanup();
	log_set_file(NULL);
	if (log_file != NULL)
		fclose(log_file);
	return (0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(test_offers_canned),
		T(test_gpu_matches),
		T(test_instance_canned),
		T(test_errors_canned),
		T(test_offers_server),
		T(test_lifecycle),
		T(test_terminate_variants),
		T(test_list),
		T(test_stop_start),
		T(test_bad_key),
		T(test_account),
		T(test_capacity),
		T(test_no_ssh_key),
		T(test_transient),
		T(test_rate_limited),
		T(test_odd_answers),
		T(test_user_data),
#undef T
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
