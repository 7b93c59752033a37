/* test-driver-paperspace.c: driver-paperspace.c against build/fakecloud. */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <libgen.h>
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
#include "driver-paperspace.h"
#include "deadman.h"
#include "http.h"

#define KEY		"ps-unit-key-7f3a9c21e4"
#define WRONG_KEY	"ps-wrong-key-0000111122"

static pid_t	 fc_pid = -1;
static int	 fc_port;
static char	 fc_dir[] = "/tmp/test-ps.XXXXXX";
static char	*base_url;
static struct fleet_template *tmpl;

static const char tmpl_yaml[] =
    "name: gpu-test\n"
    "image: ghcr.io/example/app:1\n"
    "gpu: {min_vram_gb: 40, count: 1}\n"
    "args: [serve, --greeting, \"it's me\"]\n"
    "env: {MSG: \"hello ${PS_UNIT_VAR}\"}\n"
    "ports: [{port: 8080, protocol: http, stable: true},\n"
    "        {port: 9000, protocol: tcp}]\n"
    "health: {type: http, path: /health}\n";

/* ---- helpers ---- */

static void
ms_sleep(int ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct drv_ctx
ctx_with(const char *key)
{
	struct drv_ctx	c;

	memset(&c, 0, sizeof c);
	c.base_url = base_url;
	c.api_key = key;
	return (c);
}

/* POST (or GET when body is NULL) to the fake; the body parsed. */
static cJSON *
fc_call(const char *path, const char *body)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;
	cJSON			*j;

	memset(&req, 0, sizeof req);
	url = xprintf("http://127.0.0.1:%d%s", fc_port, path);
	req.url = url;
	req.method = body != NULL ? "POST" : "GET";
	req.body = body;
	assert_int_equal(http_do(&req, &resp, &cause), 0);
	assert_true(resp.status == 200);
	j = resp.json;
	resp.json = NULL;
	http_response_free(&resp);
	free(url);
	return (j);
}

static void
fc_post(const char *path, const char *body)
{
	cJSON_Delete(fc_call(path, body));
}

/* How many logged requests match method and path prefix. */
static int
fc_count(const char *method, const char *prefix)
{
	cJSON	*log = fc_call("/_control/requests?prefix=/paperspace", NULL);
	cJSON	*e;
	int	 n = 0;

	cJSON_ArrayForEach(e, log) {
		const char *m = cJSON_GetObjectItem(e, "method")->valuestring;
		const char *p = cJSON_GetObjectItem(e, "path")->valuestring;
		if (strcmp(m, method) == 0 &&
		    strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	}
	cJSON_Delete(log);
	return (n);
}

/* The body of the last logged request with method and exact path. */
static cJSON *
fc_last_body(const char *method, const char *path)
{
	cJSON	*log = fc_call("/_control/requests?prefix=/paperspace", NULL);
	cJSON	*e, *found = NULL;

	cJSON_ArrayForEach(e, log) {
		if (strcmp(cJSON_GetObjectItem(e, "method")->valuestring,
		    method) == 0 && strcmp(cJSON_GetObjectItem(e,
		    "path")->valuestring, path) == 0)
			found = e;
	}
	assert_non_null(found);
	found = cJSON_Parse(cJSON_GetObjectItem(found, "body")->valuestring);
	cJSON_Delete(log);
	return (found);
}

static void
wait_state(const struct drv_ctx *c, const char *id, enum inst_state want,
    struct drv_instance *out)
{
	struct drv_error	err;
	int			i;

	for (i = 0; i < 200; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(driver_paperspace.get(c, id, out, &err), 0);
		if (out->state == want)
			return;
		drv_instance_clear(out);
		ms_sleep(50);
	}
	fail_msg("%s never became %s", id, inst_state_name(want));
}

static char *
create_one(const struct drv_ctx *c, const char *name, const char *type,
    struct drv_error *err, int *rc)
{
	struct drv_create_req	 req;
	struct drv_offer	 offer;
	struct drv_instance	 in;
	char			*id = NULL;

	memset(&req, 0, sizeof req);
	memset(&offer, 0, sizeof offer);
	offer.offer_id = (char *)type;
	offer.region = (char *)"NY2";
	req.tmpl = tmpl;
	req.name = name;
	req.offer = type != NULL ? &offer : NULL;
	memset(err, 0, sizeof *err);
	*rc = driver_paperspace.create(c, &req, &in, err);
	if (*rc == 0) {
		id = xstrdup(in.id);
		drv_instance_clear(&in);
	}
	return (id);
}

static int
reset(void **state __unused)
{
	fc_post("/_control/reset", "{}");
	unsetenv(PAPERSPACE_PRICES_ENV);
	unsetenv(PAPERSPACE_TEMPLATE_ENV);
	return (0);
}

/* ---- the fake cloud ---- */

static int
group_setup(void **state __unused)
{
	char	 exe[4096], *dir, *fc, *pf, buf[32];
	ssize_t	 n;
	FILE	*f;
	int	 i;

	log_init("test-driver-paperspace", 0, NULL);
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return (-1);
	exe[n] = '\0';
	dir = dirname(dirname(exe));
	fc = xprintf("%s/fakecloud", dir);
	if (mkdtemp(fc_dir) == NULL)
		return (-1);
	pf = xprintf("%s/port", fc_dir);
	if ((fc_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* FAKECLOUD_LOG=FILE keeps its log (sanitizer reports). */
		if (freopen(getenv("FAKECLOUD_LOG") != NULL ?
		    getenv("FAKECLOUD_LOG") : "/dev/null", "a", stderr) == NULL)
			_exit(126);
		execl(fc, "fakecloud", "--port", "0", "--port-file", pf,
		    "--boot-delay-ms", "100", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && fc_port == 0; i++) {
		ms_sleep(50);
		if ((f = fopen(pf, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL)
			fc_port = atoi(buf);
		fclose(f);
	}
	free(fc);
	free(pf);
	if (fc_port == 0)
		return (-1);
	base_url = xprintf("http://127.0.0.1:%d/paperspace/v1", fc_port);
	log_add_secret(KEY);
	tmpl = template_load_buffer("gpu-test.yaml", tmpl_yaml,
	    strlen(tmpl_yaml), &dir);
	if (tmpl == NULL)
		fprintf(stderr, "template: %s\n", dir);
	return (tmpl != NULL ? 0 : -1);
}

static int
group_teardown(void **state __unused)
{
	char	*cmd;

	if (fc_pid > 0) {
		kill(fc_pid, SIGTERM);
		waitpid(fc_pid, NULL, 0);
	}
	cmd = xprintf("rm -rf %s", fc_dir);
	if (system(cmd) != 0)
		return (-1);
	free(cmd);
	free(base_url);
	template_free(tmpl);
	http_global_cleanup();
	return (0);
}

/* ---- offers ---- */

static const struct drv_offer *
offer_find(const struct drv_offer *o, size_t n, const char *type)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(o[i].offer_id, type) == 0)
			return (&o[i]);
	return (NULL);
}

static void
test_offers_from_table(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_offer	*o;
	struct drv_error	 err;
	const struct drv_offer	*a;
	size_t			 n;

	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, tmpl, &o, &n, &err), 0);
	assert_non_null(a = offer_find(o, n, "A100-80G"));
	assert_true(a->price_per_hour > 3.17 && a->price_per_hour < 3.19);
	assert_int_equal(a->available, -1);	/* the table flag */
	assert_string_equal(a->region, "NY2");
	assert_string_equal(a->gpu, "A100 80GB");
	assert_int_equal(a->vram_gb, 80);
	assert_non_null(offer_find(o, n, "H100"));
	assert_null(offer_find(o, n, "A6000"));	/* no known price */
	assert_null(offer_find(o, n, "V100"));	/* 16 GB < 40 */
	assert_int_equal(err.kind, DRV_OK);
	assert_non_null(strstr(err.message, "not the API"));
	drv_offer_list_free(o, n);

	setenv(PAPERSPACE_PRICES_ENV, "A6000=1.89, a100-80g=2.50", 1);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, tmpl, &o, &n, &err), 0);
	assert_non_null(a = offer_find(o, n, "A6000"));
	assert_true(a->price_per_hour > 1.88 && a->price_per_hour < 1.90);
	assert_true(offer_find(o, n, "A100-80G")->price_per_hour < 2.51);
	assert_non_null(strstr(err.message, PAPERSPACE_PRICES_ENV));
	drv_offer_list_free(o, n);

	setenv(PAPERSPACE_PRICES_ENV, "A6000=cheap", 1);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, tmpl, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "A6000"));
}

static void
test_offers_models_and_capacity(void **state __unused)
{
	static const char y[] = "name: a100\nimage: x\n"
	    "gpu: {min_vram_gb: 40, models: [NVIDIA A100 80GB PCIe]}\n"
	    "ports: [{port: 8080}]\n";
	struct fleet_template	*t;
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_offer	*o;
	struct drv_error	 err;
	size_t			 n, i;
	char			*cause = NULL;

	assert_non_null(t = template_load_buffer("a100.yaml", y, strlen(y),
	    &cause));
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, t, &o, &n, &err), 0);
	assert_true(n >= 1);
	for (i = 0; i < n; i++)
		assert_string_equal(o[i].gpu, "A100 80GB");
	drv_offer_list_free(o, n);
	fc_post("/_control/capacity", "{\"provider\":\"paperspace\","
	    "\"gpu\":\"A100-80G\",\"available\":0}");
	fc_post("/_control/capacity", "{\"provider\":\"paperspace\","
	    "\"gpu\":\"A100-80Gx8\",\"available\":0}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_non_null(strstr(err.message, "paperspace: no capacity"));
	template_free(t);
}

/* ---- the life of a machine ---- */

static void
test_lifecycle(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;
	cJSON			*b, *scripts;
	char			*id, *s, *path;
	int			 rc;

	setenv("PS_UNIT_VAR", "world", 1);
	id = create_one(&c, "fleet-gpu-test-1", "A100-80G", &err, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(id);
	assert_true(strncmp(id, "ps", 2) == 0);

	/* What went over the wire, per paperspace.md section 2.1. */
	b = fc_last_body("POST", "/paperspace/v1/machines");
	assert_string_equal(cJSON_GetObjectItem(b, "name")->valuestring,
	    "fleet-gpu-test-1");
	assert_string_equal(cJSON_GetObjectItem(b,
	    "machineType")->valuestring, "A100-80G");
	assert_string_equal(cJSON_GetObjectItem(b,
	    "templateId")->valuestring, "tmlbox22");
	assert_string_equal(cJSON_GetObjectItem(b, "region")->valuestring,
	    "NY2");
	assert_string_equal(cJSON_GetObjectItem(b,
	    "publicIpType")->valuestring, "dynamic");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "startOnCreate")));
	assert_int_equal(cJSON_GetObjectItem(b, "diskSize")->valueint, 50);
	assert_non_null(cJSON_GetObjectItem(b, "startupScriptId"));
	cJSON_Delete(b);
	scripts = fc_call("/paperspace/_fake/scripts", NULL);
	assert_int_equal(cJSON_GetArraySize(scripts), 1);
	s = cJSON_GetObjectItem(cJSON_GetArrayItem(scripts, 0),
	    "script")->valuestring;
	assert_non_null(strstr(s, "docker run -d --name fleet-app"));
	assert_non_null(strstr(s, "--gpus all -p 8080:8080 -p 9000:9000"));
	assert_non_null(strstr(s, "'MSG=hello world'"));
	assert_non_null(strstr(s, "'ghcr.io/example/app:1' 'serve' "
	    "'--greeting' 'it'\\''s me'"));
	cJSON_Delete(scripts);

	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, id, &in, &err), 0);
	assert_true(in.state == INST_BOOTING || in.state == INST_RUNNING);
	drv_instance_clear(&in);
	wait_state(&c, id, INST_RUNNING, &in);
	assert_string_equal(in.name, "fleet-gpu-test-1");
	assert_int_equal(in.nendpoints, 1);
	assert_int_equal(in.endpoints[0].port, -1);
	assert_string_equal(in.endpoints[0].host, "127.0.0.1");
	assert_string_equal(in.endpoints[0].scheme, "http");
	assert_string_equal(in.ssh_host, "127.0.0.1");
	assert_int_equal(in.ssh_port, 22);
	assert_string_equal(in.gpu, "A100 80GB");
	assert_int_equal(in.gpu_count, 1);
	assert_true(in.price_per_hour > 3.17 && in.price_per_hour < 3.19);
	assert_string_equal(in.region, "NY2");
	assert_true(in.created_at > 1700000000);
	s = drv_instance_upstream(&in, tmpl);
	assert_string_equal(s, "http://127.0.0.1:8080");
	free(s);
	drv_instance_clear(&in);

	/* Stop: stopping, then stopped, and no address while off. */
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.stop(&c, id, &err), 0);
	assert_int_equal(driver_paperspace.get(&c, id, &in, &err), 0);
	assert_true(in.state == INST_STOPPING || in.state == INST_STOPPED);
	drv_instance_clear(&in);
	wait_state(&c, id, INST_STOPPED, &in);
	assert_int_equal(in.nendpoints, 0);
	drv_instance_clear(&in);
	/* Stopping again is not an error. */
	assert_int_equal(driver_paperspace.stop(&c, id, &err), 0);

	/* Start, and start again while starting: both fine. */
	assert_int_equal(driver_paperspace.start(&c, id, &err), 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.start(&c, id, &err), 0);
	assert_int_equal(err.kind, DRV_OK);
	wait_state(&c, id, INST_RUNNING, &in);
	assert_int_equal(in.nendpoints, 1);
	drv_instance_clear(&in);

	/* Terminate: gone, its startup script too. */
	assert_int_equal(driver_paperspace.terminate(&c, id, &err), 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, id, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_non_null(strstr(err.message, "paperspace: Machine not found"));
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.terminate(&c, id, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	scripts = fc_call("/paperspace/_fake/scripts", NULL);
	assert_int_equal(cJSON_GetArraySize(scripts), 0);
	cJSON_Delete(scripts);
	path = xprintf("/paperspace/v1/machines/%s/start", id);
	assert_true(fc_count("PATCH", path) >= 2);
	free(path);
	free(id);
}

static void
test_create_chooses_cheapest(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_error	 err;
	cJSON			*b;
	char			*id;
	int			 rc;

	setenv(PAPERSPACE_PRICES_ENV, "A6000=1.89", 1);
	id = create_one(&c, "fleet-gpu-test-2", NULL, &err, &rc);
	assert_int_equal(rc, 0);
	b = fc_last_body("POST", "/paperspace/v1/machines");
	assert_string_equal(cJSON_GetObjectItem(b,
	    "machineType")->valuestring, "A6000");
	cJSON_Delete(b);
	assert_int_equal(driver_paperspace.terminate(&c, id, &err), 0);
	free(id);
}

static void
test_list_paginates_and_filters(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	*all;
	struct drv_error	 err;
	size_t			 n, i;
	char			*a, *b;
	int			 rc;

	a = create_one(&c, "fleet-one-1", "A100-80G", &err, &rc);
	assert_int_equal(rc, 0);
	b = create_one(&c, "fleet-two-2", "A100-80G", &err, &rc);
	assert_int_equal(rc, 0);
	fc_post("/paperspace/_fake/config", "{\"max_limit\":1}");
	/* Someone else's machine in the same account. */
	{
		struct http_request	req;
		struct http_response	resp;
		char			*cause = NULL, *url;

		memset(&req, 0, sizeof req);
		url = xprintf("%s/machines", base_url);
		req.url = url;
		req.method = "POST";
		req.auth = HTTP_AUTH_BEARER;
		req.secret = KEY;
		req.body = "{\"name\":\"jupyter-box\","
		    "\"machineType\":\"P4000\","
		    "\"templateId\":\"tubuntu22\",\"diskSize\":50,"
		    "\"region\":\"NY2\"}";
		assert_int_equal(http_do(&req, &resp, &cause), 0);
		assert_int_equal(resp.status, 200);
		http_response_free(&resp);
		free(url);
	}
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.list(&c, &all, &n, &err), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_true(strncmp(all[i].name, "fleet-", 6) == 0);
	assert_true(strcmp(all[0].id, a) == 0 || strcmp(all[1].id, a) == 0);
	assert_true(strcmp(all[0].id, b) == 0 || strcmp(all[1].id, b) == 0);
	drv_instance_list_free(all, n);
	assert_true(fc_count("GET", "/paperspace/v1/machines") >= 3);
	free(a);
	free(b);
}

/* ---- errors ---- */

static void
test_bad_key_is_auth(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(WRONG_KEY);
	struct drv_offer	*o;
	struct drv_instance	 in;
	struct drv_error	 err;
	size_t			 n;

	fc_post("/paperspace/_fake/config", "{\"api_key\":\"" KEY "\"}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, tmpl, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(err.http_status, 401);
	assert_non_null(strstr(err.message, "paperspace: Invalid API key"));
	assert_null(strstr(err.message, WRONG_KEY));
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "ps000001", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	c = ctx_with(KEY);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.offers(&c, tmpl, &o, &n, &err), 0);
	drv_offer_list_free(o, n);
}

static void
test_key_never_in_message(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(WRONG_KEY);
	struct drv_instance	 in;
	struct drv_error	 err;

	/* A server that echoes the key back must not get it shown. */
	fc_post("/_control/fail", "{\"route\":\"/paperspace/v1/machines\","
	    "\"status\":403,\"body\":\"{\\\"code\\\":\\\"FORBIDDEN\\\","
	    "\\\"message\\\":\\\"key " WRONG_KEY " may not\\\"}\"}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "ps000001", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_null(strstr(err.message, WRONG_KEY));
	assert_non_null(strstr(err.message, "paperspace: key"));
}

static void
test_capacity(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;
	char			*id;
	int			 rc;

	fc_post("/_control/capacity", "{\"provider\":\"paperspace\","
	    "\"gpu\":\"A100-80G\",\"available\":0}");
	/* The OS templates already say so. */
	id = create_one(&c, "fleet-cap-1", "A100-80G", &err, &rc);
	assert_int_equal(rc, -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	/* The create call itself refuses. */
	setenv(PAPERSPACE_TEMPLATE_ENV, "tubuntu22", 1);
	id = create_one(&c, "fleet-cap-2", "A100-80G", &err, &rc);
	assert_int_equal(rc, -1);
	assert_null(id);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_int_equal(err.http_status, 400);
	assert_non_null(strstr(err.message, "paperspace: Out of capacity"));
	/* Created, then off with the create event in error: failed. */
	fc_post("/paperspace/_fake/config", "{\"capacity_mode\":\"off\"}");
	id = create_one(&c, "fleet-cap-3", "A100-80G", &err, &rc);
	assert_int_equal(rc, 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, id, &in, &err), 0);
	assert_int_equal(in.state, INST_FAILED);
	drv_instance_clear(&in);
	assert_int_equal(driver_paperspace.terminate(&c, id, &err), 0);
	free(id);
}

static void
test_5xx_is_transient(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;

	fc_post("/_control/fail", "{\"route\":\"/paperspace/v1/machines\","
	    "\"status\":503,\"count\":3,\"content_type\":\"text/html\","
	    "\"body\":\"<html><body>503 Service Unavailable</body></html>\"}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "ps000001", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 503);
	assert_string_equal(err.message, "paperspace: HTTP 503");
}

static void
test_429_is_rate_limited(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	*all;
	struct drv_error	 err;
	size_t			 n;

	fc_post("/_control/fail", "{\"route\":\"/paperspace/v1/machines\","
	    "\"status\":429,\"count\":3,\"body\":\"{\\\"code\\\":"
	    "\\\"TOO_MANY_REQUESTS\\\",\\\"message\\\":\\\"Slow down\\\"}\","
	    "\"headers\":{\"Retry-After\":\"0\"}}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_string_equal(err.message, "paperspace: Slow down");
	/* The client retried (2 extra attempts), then gave up. */
	assert_int_equal(fc_count("GET", "/paperspace/v1/machines"), 3);
}

static void
test_2xx_error_body(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;

	fc_post("/paperspace/_fake/config", "{\"error_2xx\":1}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "ps000001", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "paperspace: Something went"));
}

static void
test_response_shapes(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;
	char			*id;
	int			 rc;

	/* A bare machine from create, a wrapped one from get. */
	fc_post("/paperspace/_fake/config",
	    "{\"bare_create\":true,\"wrap_get\":true}");
	id = create_one(&c, "fleet-shape-1", "A100-80G", &err, &rc);
	assert_int_equal(rc, 0);
	wait_state(&c, id, INST_RUNNING, &in);
	assert_string_equal(in.id, id);
	drv_instance_clear(&in);
	assert_int_equal(driver_paperspace.terminate(&c, id, &err), 0);
	free(id);
	/* A bad id never reaches the wire. */
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "../x", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
}

static void
test_no_response_is_transient(void **state __unused)
{
	struct drv_ctx		 c = ctx_with(KEY);
	struct drv_instance	 in;
	struct drv_error	 err;

	c.base_url = "http://127.0.0.1:1/paperspace/v1";
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_paperspace.get(&c, "ps000001", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_true(strncmp(err.message, "paperspace: ", 12) == 0);
}

/* ---- canned JSON ---- */

static const char machine_json[] =
    "{\"id\":\"psok2vd8\",\"name\":\"fleet-personaplex-7b-3\","
    "\"state\":\"ready\",\"machineType\":\"A100-80G\",\"region\":\"NY2\","
    "\"os\":\"Ubuntu 22.04\",\"agentType\":\"LinuxHeadless\",\"cpus\":12,"
    "\"ram\":96636764160,\"accelerators\":[{\"name\":\"A100-80G\","
    "\"count\":1,\"memory\":85899345920}],\"publicIp\":\"184.105.3.77\","
    "\"publicIpType\":\"dynamic\",\"privateIp\":\"10.64.12.5\","
    "\"usageRate\":3.18,\"storageRate\":0.0,"
    "\"dtCreated\":\"2025-03-02T10:00:00.000Z\",\"dtDeleted\":null}";

static void
test_parse_machine(void **state __unused)
{
	struct drv_instance	 in;
	struct drv_error	 err;
	const char		*u;
	char			*w;

	memset(&err, 0, sizeof err);
	assert_int_equal(paperspace_machine_parse(machine_json,
	    strlen(machine_json), &in, &err), 0);
	assert_string_equal(in.id, "psok2vd8");
	assert_string_equal(in.name, "fleet-personaplex-7b-3");
	assert_int_equal(in.state, INST_RUNNING);
	assert_string_equal(in.gpu, "A100 80GB");
	assert_int_equal(in.gpu_count, 1);
	assert_true(in.price_per_hour > 3.17 && in.price_per_hour < 3.19);
	assert_int_equal(in.created_at, 1740909600);
	assert_string_equal(in.endpoints[0].host, "184.105.3.77");
	assert_int_equal(in.endpoints[0].port, -1);
	assert_int_equal(in.ssh_port, 22);
	drv_instance_clear(&in);

	w = xprintf("{\"data\":%s,\"event\":{\"id\":\"e1\","
	    "\"state\":\"new\"}}", machine_json);
	assert_int_equal(paperspace_machine_parse(w, strlen(w), &in, &err), 0);
	assert_string_equal(in.id, "psok2vd8");
	drv_instance_clear(&in);
	free(w);

	/* Unknown type: the accelerator names the GPU, usageRate prices it. */
	u = "{\"id\":\"ps1\",\"state\":\"off\",\"machineType\":\"L40Sx2\","
	    "\"accelerators\":[{\"name\":\"L40S\",\"count\":2}],"
	    "\"publicIp\":null,\"usageRate\":2.5}";
	assert_int_equal(paperspace_machine_parse(u, strlen(u), &in, &err), 0);
	assert_int_equal(in.state, INST_STOPPED);
	assert_string_equal(in.gpu, "L40S");
	assert_int_equal(in.gpu_count, 2);
	assert_true(in.price_per_hour > 2.49 && in.price_per_hour < 2.51);
	assert_int_equal(in.nendpoints, 0);
	assert_null(in.ssh_host);
	drv_instance_clear(&in);

	assert_int_equal(paperspace_machine_parse("[1,2]", 5, &in, &err), -1);
	assert_int_equal(paperspace_machine_parse("{\"id\":7}", 8, &in,
	    &err), -1);
	assert_int_equal(paperspace_machine_parse("nope", 4, &in, &err), -1);
}

static void
test_parse_list(void **state __unused)
{
	static const char page[] =
	    "{\"hasMore\":true,\"nextPage\":\"cur 2\",\"items\":["
	    "{\"id\":\"ps1\",\"name\":\"fleet-a-1\","
	    "\"state\":\"provisioning\"},"
	    "{\"id\":\"ps2\",\"name\":\"my-notebook\",\"state\":\"ready\"},"
	    "{\"id\":\"ps3\",\"name\":\"fleet-b-2\",\"state\":\"stopping\"},"
	    "{\"name\":\"fleet-c-3\"},{\"id\":\"ps5\"},7]}";
	struct drv_instance	*out = NULL;
	struct drv_error	 err;
	size_t			 n = 0, cap = 0;
	const char		*b;
	char			*next;

	assert_int_equal(paperspace_list_parse(page, strlen(page), &out, &n,
	    &cap, &next, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].id, "ps1");
	assert_int_equal(out[0].state, INST_BOOTING);
	assert_string_equal(out[1].id, "ps3");
	assert_int_equal(out[1].state, INST_STOPPING);
	assert_string_equal(next, "cur 2");
	free(next);
	b = "{\"hasMore\":false,\"nextPage\":\"x\",\"items\":[]}";
	assert_int_equal(paperspace_list_parse(b, strlen(b), &out, &n, &cap,
	    &next, &err), 0);
	assert_null(next);
	b = "{\"items\":{}}";
	assert_int_equal(paperspace_list_parse(b, strlen(b), &out, &n, &cap,
	    &next, &err), -1);
	drv_instance_list_free(out, n);
}

static void
test_state_map(void **state __unused)
{
	assert_int_equal(paperspace_state_map("provisioning"), INST_BOOTING);
	assert_int_equal(paperspace_state_map("starting"), INST_BOOTING);
	assert_int_equal(paperspace_state_map("serviceready"), INST_BOOTING);
	assert_int_equal(paperspace_state_map("restarting"), INST_BOOTING);
	assert_int_equal(paperspace_state_map("upgrading"), INST_BOOTING);
	assert_int_equal(paperspace_state_map("ready"), INST_RUNNING);
	assert_int_equal(paperspace_state_map("stopping"), INST_STOPPING);
	assert_int_equal(paperspace_state_map("off"), INST_STOPPED);
	assert_int_equal(paperspace_state_map("failed"), INST_FAILED);
	assert_int_equal(paperspace_state_map("hibernating"), INST_UNKNOWN);
	assert_int_equal(paperspace_state_map(NULL), INST_UNKNOWN);
}

static void
test_parse_errors(void **state __unused)
{
	struct drv_error	err;
	const char		*b;

	memset(&err, 0, sizeof err);
	assert_int_equal(paperspace_error_parse(200, "{\"id\":\"x\"}", 10,
	    NULL, &err), 0);
	assert_int_equal(err.kind, DRV_OK);
	b = "{\"code\":\"BAD_REQUEST\",\"message\":\"Invalid input\","
	    "\"issues\":[{\"message\":\"diskSize: Required\"}]}";
	assert_int_equal(paperspace_error_parse(400, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_string_equal(err.message,
	    "paperspace: Invalid input (diskSize: Required)");
	b = "{\"code\":\"CONFLICT\",\"message\":\"Nope\"}";
	assert_int_equal(paperspace_error_parse(409, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	b = "{\"code\":\"BAD_REQUEST\",\"message\":\"You have reached your "
	    "machine quota\"}";
	assert_int_equal(paperspace_error_parse(400, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_QUOTA);
	b = "<html>bad gateway</html>";
	assert_int_equal(paperspace_error_parse(502, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_string_equal(err.message, "paperspace: HTTP 502");
	b = "rate limited, try later";
	assert_int_equal(paperspace_error_parse(429, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_string_equal(err.message,
	    "paperspace: HTTP 429: rate limited, try later");
	b = "{\"code\":\"UNAUTHORIZED\",\"message\":\"bad key sk-12345678\"}";
	assert_int_equal(paperspace_error_parse(200, b, strlen(b),
	    "sk-12345678", &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_null(strstr(err.message, "sk-12345678"));
	b = "{\"code\":\"NOT_FOUND\",\"message\":\"Machine not found\"}";
	assert_int_equal(paperspace_error_parse(404, b, strlen(b), NULL,
	    &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
}

static void
test_templates_and_prices(void **state __unused)
{
	static const char body[] = "{\"hasMore\":false,\"items\":["
	    "{\"id\":\"t1\",\"name\":\"Windows\",\"availableMachineTypes\":"
	    "[{\"machineTypeLabel\":\"A100-80G\",\"isAvailable\":true}]},"
	    "{\"id\":\"t2\",\"name\":\"Ubuntu 22.04\","
	    "\"availableMachineTypes\":"
	    "[{\"machineTypeLabel\":\"A100-80G\",\"isAvailable\":true},"
	    "{\"machineTypeLabel\":\"H100\",\"isAvailable\":false}]},"
	    "{\"id\":\"t3\",\"name\":\"ML-in-a-Box\",\"availableMachineTypes\":"
	    "[{\"machineTypeLabel\":\"A100-80G\",\"isAvailable\":false}]}]}";
	char	*id, *cause = NULL;
	int	 un;

	id = paperspace_template_choose(body, strlen(body), "a100-80g", &un);
	assert_string_equal(id, "t2");
	assert_int_equal(un, 0);
	free(id);
	assert_null(paperspace_template_choose(body, strlen(body), "H100",
	    &un));
	assert_int_equal(un, 1);
	assert_null(paperspace_template_choose(body, strlen(body), "P4000",
	    &un));
	assert_int_equal(un, 0);

	unsetenv(PAPERSPACE_PRICES_ENV);
	assert_true(paperspace_price("H100") > 5.94);
	assert_true(paperspace_price("A6000") == 0);
	setenv(PAPERSPACE_PRICES_ENV, "H100=4.00,A6000=1.89", 1);
	assert_true(paperspace_price("h100") < 4.01);
	assert_true(paperspace_price("A6000") > 1.88);
	unsetenv(PAPERSPACE_PRICES_ENV);
	assert_int_equal(paperspace_prices_check("A=1,B=2.5", &cause), 0);
	assert_int_equal(paperspace_prices_check("A", &cause), -1);
	free(cause);
	assert_int_equal(paperspace_prices_check("A=-1", &cause), -1);
	free(cause);
}

/* bash -n on text: 0 if it parses. */
static int
bash_parses(const char *text)
{
	pid_t	 pid;
	int	 status;

	if (access("/bin/bash", X_OK) != 0)
		return (0);
	if ((pid = fork()) == -1)
		fail_msg("fork failed");
	if (pid == 0) {
		execl("/bin/bash", "bash", "-n", "-c", text, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/*
 * The startup script starts the dead-man watcher first (a systemd unit,
 * else nohup setsid) when given one, and is what it was when not.
 */
static void
test_startup_script_deadman(void **state __unused)
{
	char	*off, *on, *w, *cause = NULL, *unit, *docker;

	setenv("PS_UNIT_VAR", "x", 1);
	off = paperspace_startup_script(tmpl, NULL);
	assert_null(strstr(off, "deadman"));
	assert_null(strstr(off, "systemd-run"));
	assert_int_equal(bash_parses(off), 0);
	w = deadman_script("paperspace", NULL, "fleet-ps-1", 600, &cause);
	assert_non_null(w);
	on = paperspace_startup_script(tmpl, w);
	assert_int_equal(bash_parses(on), 0);
	unit = strstr(on, "if ! systemd-run --unit=fleet-deadman --quiet sh -c "
	    "'W=$(umask 077 && mktemp -d /tmp/fleet-deadman.XXXXXXXXXX)");
	assert_non_null(unit);
	assert_non_null(strstr(on, "\tnohup setsid sh -c 'W=$(umask 077"));
	assert_non_null(strstr(on, "H=$W/heartbeat-fleet-ps-1;"));
	assert_non_null(strstr(on, "poweroff"));
	docker = strstr(on, "if ! command -v docker");
	assert_non_null(docker);
	assert_true(unit < docker);	/* before anything slow or fallible */
	/* Apart from those lines the script is the same. */
	assert_non_null(strstr(on, strstr(off, "if ! command -v docker")));
	free(w);
	free(on);
	free(off);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_machine),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_state_map),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_templates_and_prices),
		cmocka_unit_test(test_startup_script_deadman),
		cmocka_unit_test_setup(test_offers_from_table, reset),
		cmocka_unit_test_setup(test_offers_models_and_capacity, reset),
		cmocka_unit_test_setup(test_lifecycle, reset),
		cmocka_unit_test_setup(test_create_chooses_cheapest, reset),
		cmocka_unit_test_setup(test_list_paginates_and_filters, reset),
		cmocka_unit_test_setup(test_bad_key_is_auth, reset),
		cmocka_unit_test_setup(test_key_never_in_message, reset),
		cmocka_unit_test_setup(test_capacity, reset),
		cmocka_unit_test_setup(test_5xx_is_transient, reset),
		cmocka_unit_test_setup(test_429_is_rate_limited, reset),
		cmocka_unit_test_setup(test_2xx_error_body, reset),
		cmocka_unit_test_setup(test_response_shapes, reset),
		cmocka_unit_test_setup(test_no_response_is_transient, reset),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
