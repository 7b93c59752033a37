/* test-driver-vast.c: drivers/driver-vast.c against tests/fakecloud's Vast. */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
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
#include "driver-vast.h"
#include "http.h"

#define KEY		"vast-unit-key-7f3a9c2e"
#define WRONG_KEY	"vast-wrong-key-0b1d"

static pid_t	 fc_pid = -1;
static int	 fc_port;
static char	 fc_dir[64];
static char	 base_url[128];

/* ---- the fake cloud process ---- */

static const char *
js(const cJSON *o, const char *k)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, k);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

static double
jn(const cJSON *o, const char *k, double dflt)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, k);

	return (cJSON_IsNumber(v) ? v->valuedouble : dflt);
}

static int
group_setup(void **state __unused)
{
	char	*exe, *dir, *path, *pf, *logf, buf[32];
	FILE	*f;
	int	 i, fd;

	log_init("test-driver-vast", 0, NULL);
	snprintf(fc_dir, sizeof fc_dir, "/tmp/test-vast.XXXXXX");
	if (mkdtemp(fc_dir) == NULL)
		return (-1);
	exe = self_exe();
	dir = dirname(dirname(exe));
	path = xprintf("%s/fakecloud", dir);
	pf = xprintf("%s/port", fc_dir);
	logf = xprintf("%s/fakecloud.log", fc_dir);
	setenv("FAKECLOUD_VAST_KEY", KEY, 1);
	if ((fc_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if ((fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(path, "fakecloud", "--port", "0", "--port-file", pf,
		    "--boot-delay-ms", "150", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && fc_port == 0; i++) {
		if ((f = fopen(pf, "r")) != NULL) {
			if (fgets(buf, sizeof buf, f) != NULL)
				fc_port = atoi(buf);
			fclose(f);
		}
		if (fc_port == 0)
			usleep(50 * 1000);
	}
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d/vast",
	    fc_port);
	free(exe);
	free(path);
	free(pf);
	free(logf);
	return (fc_port > 0 ? 0 : -1);
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
		fprintf(stderr, "cannot remove %s\n", fc_dir);
	free(cmd);
	http_global_cleanup();
	return (0);
}

/* A request to the fake's own endpoints (no key); returns the JSON. */
static cJSON *
fc_call(const char *method, const char *path, const char *body)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;
	cJSON			*j;

	url = xprintf("http://127.0.0.1:%d%s", fc_port, path);
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
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
test_setup(void **state __unused)
{
	fc_post("/_control/reset", "{}");
	unsetenv("FLEET_VAST_MIN_RELIABILITY");
	unsetenv("FLEET_VAST_VERIFIED");
	unsetenv("FLEET_VAST_RUNTYPE");
	return (0);
}

static void
ctx_init(struct drv_ctx *c, const char *key)
{
	memset(c, 0, sizeof *c);
	c->api_key = key;
	c->base_url = base_url;
}

/* ---- templates ---- */

static char t_name[] = "vasttest";
static char t_image[] = "fleet/echo:test";
static char t_a0[] = "--port";
static char t_a1[] = "8080";
static char *t_args[] = { t_a0, t_a1 };
static char t_ek[] = "HF_TOKEN";
static char t_ev[] = "hf_plain_value";

struct ttmpl {
	struct fleet_template	t;
	struct tmpl_port	port;
	struct tmpl_env		env;
	char			*models[4];
	char			 mbuf[4][32];
};

static void
tmpl_make(struct ttmpl *tt, int count, int vram, ...)
{
	va_list		 ap;
	const char	*m;

	memset(tt, 0, sizeof *tt);
	tt->t.name = t_name;
	tt->t.image = t_image;
	tt->t.disk_gb = 50;
	tt->t.gpu.count = count;
	tt->t.gpu.min_vram_gb = vram;
	va_start(ap, vram);
	while ((m = va_arg(ap, const char *)) != NULL && tt->t.gpu.nmodels < 4) {
		snprintf(tt->mbuf[tt->t.gpu.nmodels], sizeof tt->mbuf[0], "%s",
		    m);
		tt->models[tt->t.gpu.nmodels] = tt->mbuf[tt->t.gpu.nmodels];
		tt->t.gpu.nmodels++;
	}
	va_end(ap);
	tt->t.gpu.models = tt->models;
	tt->port.number = 8080;
	tt->port.proto = PORT_HTTP;
	tt->port.stable = 1;
	tt->t.ports = &tt->port;
	tt->t.nports = 1;
	tt->t.args = t_args;
	tt->t.nargs = 2;
	tt->env.key = t_ek;
	tt->env.value = t_ev;
	tt->t.env = &tt->env;
	tt->t.nenv = 1;
	tt->t.health.kind = HEALTH_HTTP;
}

/* Offers for a template; asserts success; the ids joined with ','. */
static char *
offer_ids(struct ttmpl *tt, struct drv_offer **out, size_t *n)
{
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_offer	*o;
	size_t			 i, cnt;
	char			*s = xstrdup(""), *tmp;

	ctx_init(&c, KEY);
	memset(&err, 0, sizeof err);
	if (driver_vast.offers(&c, &tt->t, &o, &cnt, &err) != 0)
		fail_msg("offers: %s", err.message);
	for (i = 0; i < cnt; i++) {
		tmp = xprintf("%s%s%s", s, i > 0 ? "," : "", o[i].offer_id);
		free(s);
		s = tmp;
		if (i > 0)
			assert_true(o[i - 1].price_per_hour <=
			    o[i].price_per_hour);
	}
	if (out != NULL) {
		*out = o;
		*n = cnt;
	} else
		drv_offer_list_free(o, cnt);
	return (s);
}

static void
assert_offers(struct ttmpl *tt, const char *want)
{
	char	*got = offer_ids(tt, NULL, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("offers: got [%s], want [%s]", got, want);
	free(got);
}

/* ---- offers ---- */

static void
test_offers_floors(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_offer	*o;
	size_t			 n;
	char			*ids;

	/* 5002 unreliable, 5003 unverified, 5004 2 GPUs, 5005 no ports. */
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	ids = offer_ids(&tt, &o, &n);
	assert_string_equal(ids, "5001");
	free(ids);
	assert_string_equal(o[0].provider, "vast");
	assert_string_equal(o[0].gpu, "RTX 4090");
	assert_int_equal(o[0].gpu_count, 1);
	assert_int_equal(o[0].vram_gb, 24);
	assert_string_equal(o[0].region, "Texas, US");
	assert_int_equal(o[0].available, 1);
	/* dph_total with the template's 50 GB of storage priced in. */
	assert_true(o[0].price_per_hour > 0.41 && o[0].price_per_hour < 0.42);
	drv_offer_list_free(o, n);

	setenv("FLEET_VAST_MIN_RELIABILITY", "0.85", 1);
	assert_offers(&tt, "5002,5001");
	setenv("FLEET_VAST_VERIFIED", "0", 1);
	assert_offers(&tt, "5003,5002,5001");
	setenv("FLEET_VAST_MIN_RELIABILITY", "0.95", 1);
	assert_offers(&tt, "5003,5001");
}

static void
test_offers_models_count_vram(void **state __unused)
{
	struct ttmpl	 tt;

	tmpl_make(&tt, 2, 24, "RTX_4090", NULL);
	assert_offers(&tt, "5004");
	/* "A100 80GB": SXM4 and the 80 GB PCIe, not the 40 GB card. */
	tmpl_make(&tt, 1, 40, "A100 80GB", NULL);
	assert_offers(&tt, "5008,5006");
	tmpl_make(&tt, 1, 0, "NVIDIA A100", NULL);
	assert_offers(&tt, "5007,5008,5006");
	tmpl_make(&tt, 2, 80, "H100", "A100 80GB", NULL);
	assert_offers(&tt, "5010");
	/* Any model with 40 GB: cheapest first across GPUs. */
	tmpl_make(&tt, 1, 40, NULL);
	assert_offers(&tt, "5011,5007,5013,5008,5006,5009");
	tmpl_make(&tt, 1, 0, "RTX 3090", NULL);	/* only one, rented */
	assert_offers(&tt, "");
	/* An L40S reports 46068 MB: a 48 GB card, within the slack. */
	tmpl_make(&tt, 1, 48, "RTX A6000", "L40S", NULL);
	assert_offers(&tt, "5011,5013");
	tmpl_make(&tt, 1, 49, "RTX A6000", "L40S", NULL);
	assert_offers(&tt, "5011");
}

static void
test_offers_capacity_and_env(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_offer	*o;
	size_t			 n;

	tmpl_make(&tt, 1, 40, NULL);
	fc_post("/_control/capacity",
	    "{\"provider\":\"vast\",\"gpu\":\"A100 PCIE\",\"available\":0}");
	assert_offers(&tt, "5011,5013,5006,5009");
	fc_post("/_control/capacity",
	    "{\"provider\":\"vast\",\"gpu\":\"*\",\"available\":0}");
	assert_offers(&tt, "");

	ctx_init(&c, KEY);
	memset(&err, 0, sizeof err);
	setenv("FLEET_VAST_MIN_RELIABILITY", "very", 1);
	assert_int_equal(driver_vast.offers(&c, &tt.t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "FLEET_VAST_MIN_RELIABILITY"));
	unsetenv("FLEET_VAST_MIN_RELIABILITY");
	setenv("FLEET_VAST_VERIFIED", "maybe", 1);
	assert_int_equal(driver_vast.offers(&c, &tt.t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
}

/* ---- lifecycle ---- */

static void
sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll get until the state; records whether `seen` was passed through. */
static void
wait_state(const struct drv_ctx *c, const char *id, enum inst_state want,
    struct drv_instance *out, enum inst_state seen, int *saw)
{
	struct drv_error	 err;
	int			 i;

	for (i = 0; i < 300; i++) {
		memset(&err, 0, sizeof err);
		if (driver_vast.get(c, id, out, &err) != 0)
			fail_msg("get %s: %s", id, err.message);
		if (saw != NULL && out->state == seen)
			*saw = 1;
		if (out->state == want)
			return;
		assert_true(out->state == INST_PENDING ||
		    out->state == INST_BOOTING || out->state == INST_STOPPING ||
		    out->state == INST_RUNNING);
		drv_instance_clear(out);
		sleep_ms(20);
	}
	fail_msg("instance %s never became %s", id, inst_state_name(want));
}

static int
upstream_healthy(const char *upstream)
{
	struct http_request	 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;
	int			 ok;

	url = xprintf("%s/health", upstream);
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	req.url = url;
	ok = http_do(&req, &resp, &cause) == 0 && resp.status == 200;
	http_response_free(&resp);
	free(cause);
	free(url);
	return (ok);
}

/* The fake's own view: the echo process port of an instance. */
static int
fake_port(const char *id)
{
	cJSON		*all = fc_call("GET", "/_control/instances", NULL), *e;
	int		 port = -1;

	cJSON_ArrayForEach(e, all)
		if (strcmp(js(e, "id"), id) == 0)
			port = (int)jn(e, "port", -1);
	cJSON_Delete(all);
	return (port);
}

static char *
create_on(const struct drv_ctx *c, struct ttmpl *tt, const char *offer_id,
    const char *label, struct drv_error *err)
{
	struct drv_create_req	 req;
	struct drv_offer	 offer;
	struct drv_instance	 out;
	char			*id;

	memset(&offer, 0, sizeof offer);
	offer.offer_id = (char *)offer_id;
	memset(&req, 0, sizeof req);
	req.tmpl = &tt->t;
	req.name = label;
	req.offer = &offer;
	memset(err, 0, sizeof *err);
	if (driver_vast.create(c, &req, &out, err) != 0)
		return (NULL);
	assert_string_equal(out.name, label);
	assert_int_equal(out.state, INST_PENDING);
	id = xstrdup(out.id);
	drv_instance_clear(&out);
	return (id);
}

static void
test_lifecycle(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_instance	 in;
	struct drv_create_req	 req;
	struct drv_offer	*o;
	size_t			 n;
	char			*id, *up1, *up2, *ids;
	int			 port1, saw_boot = 0;

	ctx_init(&c, KEY);
	fc_post("/_control/config", "{\"boot_delay_ms\":400}");
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	ids = offer_ids(&tt, &o, &n);
	free(ids);
	assert_int_equal(n, 1);
	memset(&req, 0, sizeof req);
	req.tmpl = &tt.t;
	req.name = "fleet-vasttest-1";
	req.offer = &o[0];
	memset(&err, 0, sizeof err);
	if (driver_vast.create(&c, &req, &in, &err) != 0)
		fail_msg("create: %s", err.message);
	assert_int_equal(in.state, INST_PENDING);
	assert_string_equal(in.gpu, "RTX 4090");
	id = xstrdup(in.id);
	drv_instance_clear(&in);
	drv_offer_list_free(o, n);

	/* Rented: the ask is gone from search. */
	assert_offers(&tt, "");

	wait_state(&c, id, INST_RUNNING, &in, INST_BOOTING, &saw_boot);
	assert_true(saw_boot);
	assert_string_equal(in.name, "fleet-vasttest-1");
	assert_string_equal(in.gpu, "RTX 4090");
	assert_int_equal(in.gpu_count, 1);
	assert_true(in.price_per_hour > 0.40 && in.price_per_hour < 0.42);
	assert_string_equal(in.region, "Texas, US");
	assert_int_equal(in.nendpoints, 1);
	assert_int_equal(in.endpoints[0].port, 8080);
	assert_string_equal(in.endpoints[0].scheme, "http");
	assert_string_equal(in.endpoints[0].host, "127.0.0.1");
	port1 = in.endpoints[0].public_port;
	assert_int_equal(port1, fake_port(id));
	assert_non_null(in.ssh_host);
	assert_true(in.ssh_port > 0);
	assert_true(in.created_at > 0);
	up1 = drv_instance_upstream(&in, &tt.t);
	assert_non_null(up1);
	assert_true(upstream_healthy(up1));
	drv_instance_clear(&in);

	memset(&err, 0, sizeof err);
	if (driver_vast.stop(&c, id, &err) != 0)
		fail_msg("stop: %s", err.message);
	wait_state(&c, id, INST_STOPPED, &in, INST_STOPPED, NULL);
	assert_int_equal(in.nendpoints, 0);
	drv_instance_clear(&in);
	assert_false(upstream_healthy(up1));

	if (driver_vast.start(&c, id, &err) != 0)
		fail_msg("start: %s", err.message);
	wait_state(&c, id, INST_RUNNING, &in, INST_RUNNING, NULL);
	assert_int_equal(in.nendpoints, 1);
	assert_int_not_equal(in.endpoints[0].public_port, port1);
	up2 = drv_instance_upstream(&in, &tt.t);
	assert_string_not_equal(up1, up2);
	assert_true(upstream_healthy(up2));
	drv_instance_clear(&in);

	if (driver_vast.terminate(&c, id, &err) != 0)
		fail_msg("terminate: %s", err.message);
	assert_int_equal(driver_vast.get(&c, id, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_vast.terminate(&c, id, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_false(upstream_healthy(up2));
	/* Destroyed: the host's slice is for rent again. */
	assert_offers(&tt, "5001");
	free(up1);
	free(up2);
	free(id);
}

static void
test_create_request(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	cJSON			*log, *e, *body, *env;
	const char		*auth, *uri;
	char			*id;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	id = create_on(&c, &tt, "5001", "fleet-req-1", &err);
	if (id == NULL)
		fail_msg("create: %s", err.message);
	log = fc_call("GET", "/_control/requests?prefix=/vast/api/v0/asks",
	    NULL);
	assert_int_equal(cJSON_GetArraySize(log), 1);
	e = cJSON_GetArrayItem(log, 0);
	assert_string_equal(js(e, "method"), "PUT");
	assert_string_equal(js(e, "path"),
	    "/vast/api/v0/asks/5001/");
	auth = js(e, "authorization");
	assert_string_equal(auth, "Bearer " KEY);
	uri = js(e, "uri");
	assert_null(strstr(uri, KEY));
	body = cJSON_Parse(js(e, "body"));
	assert_non_null(body);
	assert_string_equal(js(body, "image"), "fleet/echo:test");
	assert_string_equal(js(body, "label"), "fleet-req-1");
	assert_string_equal(js(body, "runtype"), "args");
	assert_true(jn(body, "disk", 0) == 50);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(body,
	    "args")), 2);
	env = cJSON_GetObjectItem(body, "env");
	assert_true(cJSON_IsObject(env));
	assert_string_equal(js(env, "-p 8080:8080"), "1");
	assert_string_equal(js(env, "HF_TOKEN"), "hf_plain_value");
	assert_string_equal(js(env, "FLEET_PORTS"), "8080:http");
	assert_null(cJSON_GetObjectItem(body, "price"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(body, "cancel_unavail")));
	cJSON_Delete(body);
	cJSON_Delete(log);
	free(id);

	/* runtype ssh: Vast's entrypoint, the args as the onstart script. */
	setenv("FLEET_VAST_RUNTYPE", "ssh", 1);
	fc_post("/_control/reset", "{}");
	id = create_on(&c, &tt, "5001", "fleet-req-2", &err);
	if (id == NULL)
		fail_msg("create: %s", err.message);
	log = fc_call("GET", "/_control/requests?prefix=/vast/api/v0/asks",
	    NULL);
	body = cJSON_Parse(js(cJSON_GetArrayItem(log, 0), "body"));
	assert_string_equal(js(body, "runtype"),
	    "ssh_direc ssh_proxy");
	assert_string_equal(js(body, "onstart"),
	    "nohup '--port' '8080' >/var/log/fleet-app.log 2>&1 &");
	assert_string_equal(js(cJSON_GetObjectItem(body, "env"),
	    "-p 22:22"), "1");
	cJSON_Delete(body);
	cJSON_Delete(log);
	free(id);
	setenv("FLEET_VAST_RUNTYPE", "docker", 1);
	assert_null(create_on(&c, &tt, "5006", "fleet-req-3", &err));
	assert_int_equal(err.kind, DRV_ERR_INVALID);
}

/* The create body the fake kept for instance id. */
static cJSON *
kept_body(const char *id)
{
	char	*path = xprintf("/vast/_fake/input?id=%s", id);
	cJSON	*j = fc_call("GET", path, NULL);

	free(path);
	return (j);
}

/*
 * deadman_timeout: runtype ssh, the watcher in FLEET_DEADMAN, started by
 * onstart before the args; refused without args or with runtype args.
 */
static void
test_deadman(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_offer	*o;
	size_t			 n;
	cJSON			*body, *env;
	char			*id, *want;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	tt.t.deadman_timeout = 120;
	id = create_on(&c, &tt, "5001", "fleet-dm-1", &err);
	if (id == NULL)
		fail_msg("create: %s", err.message);
	body = kept_body(id);
	assert_string_equal(js(body, "runtype"), "ssh_direc ssh_proxy");
	assert_string_equal(js(body, "onstart"), "nohup sh -c "
	    "\"$FLEET_DEADMAN\" >/dev/null 2>&1 & nohup '--port' '8080' "
	    ">/var/log/fleet-app.log 2>&1 &");
	env = cJSON_GetObjectItem(body, "env");
	assert_string_equal(js(env, "-p 22:22"), "1");
	assert_non_null(strstr(js(env, "FLEET_DEADMAN"),
	    "H=$W/heartbeat-fleet-dm-1;"));
	assert_non_null(strstr(js(env, "FLEET_DEADMAN"), "CONTAINER_API_KEY"));
	want = xprintf("U='%s';", base_url);
	assert_non_null(strstr(js(env, "FLEET_DEADMAN"), want));
	assert_null(strstr(js(env, "FLEET_DEADMAN"), KEY));
	free(want);
	cJSON_Delete(body);
	free(id);

	/* Off: runtype args as always, no watcher. */
	tt.t.deadman_timeout = 0;
	id = create_on(&c, &tt, "5006", "fleet-dm-2", &err);
	if (id == NULL)
		fail_msg("create: %s", err.message);
	body = kept_body(id);
	assert_string_equal(js(body, "runtype"), "args");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "env"),
	    "FLEET_DEADMAN"));
	cJSON_Delete(body);
	free(id);

	/* The watcher needs runtype ssh and a command to run. */
	tt.t.deadman_timeout = 120;
	setenv("FLEET_VAST_RUNTYPE", "args", 1);
	assert_null(create_on(&c, &tt, "5009", "fleet-dm-3", &err));
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "FLEET_VAST_RUNTYPE is args"));
	unsetenv("FLEET_VAST_RUNTYPE");
	tt.t.nargs = 0;
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_vast.offers(&c, &tt.t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "no args"));
	assert_null(create_on(&c, &tt, "5009", "fleet-dm-4", &err));
	assert_int_equal(err.kind, DRV_ERR_INVALID);
}

static void
test_list_labels_and_pages(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_instance	*all;
	size_t			 n, i;
	char			*ids[4];
	const char		*asks[] = { "5001", "5006", "5011", "5013" };
	const char		*labels[] = { "fleet-a-1", "my-own-box",
				    "fleet-b-2", "fleet-c-3" };
	int			 seen = 0;
	cJSON			*log, *e;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 0, NULL);
	for (i = 0; i < 4; i++) {
		ids[i] = create_on(&c, &tt, asks[i], labels[i], &err);
		if (ids[i] == NULL)
			fail_msg("create %s: %s", asks[i], err.message);
	}
	fc_post("/vast/_fake/config", "{\"page_max\":1}");
	memset(&err, 0, sizeof err);
	if (driver_vast.list(&c, &all, &n, &err) != 0)
		fail_msg("list: %s", err.message);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_int_equal(strncmp(all[i].name, "fleet-", 6), 0);
		if (strcmp(all[i].id, ids[0]) == 0 ||
		    strcmp(all[i].id, ids[2]) == 0 ||
		    strcmp(all[i].id, ids[3]) == 0)
			seen++;
	}
	assert_int_equal(seen, 3);
	drv_instance_list_free(all, n);
	/* Four pages of one, on the v1 endpoint. */
	log = fc_call("GET", "/_control/requests?prefix=/vast/api/v1/"
	    "instances", NULL);
	assert_int_equal(cJSON_GetArraySize(log), 4);
	e = cJSON_GetArrayItem(log, 3);
	assert_non_null(strstr(js(e, "uri"), "after_token="));
	cJSON_Delete(log);

	/* A server without v1 and a deprecated v0: an error, never []. */
	fc_post("/vast/_fake/config", "{\"v1_list\":false}");
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_non_null(strstr(err.message, "deprecated"));
	fc_post("/vast/_fake/config", "{\"v0_list\":\"legacy\"}");
	if (driver_vast.list(&c, &all, &n, &err) != 0)
		fail_msg("legacy list: %s", err.message);
	assert_int_equal(n, 3);
	drv_instance_list_free(all, n);

	/* The one-instance GET deprecated too: found through the v1 list. */
	fc_post("/vast/_fake/config", "{\"v1_list\":true,"
	    "\"get_deprecated\":true,\"page_max\":25}");
	struct drv_instance in;
	if (driver_vast.get(&c, ids[2], &in, &err) != 0)
		fail_msg("get via list: %s", err.message);
	assert_string_equal(in.name, "fleet-b-2");
	drv_instance_clear(&in);
	for (i = 0; i < 4; i++)
		free(ids[i]);
}

static void
test_offer_taken(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	char			*id;
	static const char	*statuses[] = { "400", "404", "410" };
	char			*cfg;
	size_t			 i;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 40, NULL);
	for (i = 0; i < nitems(statuses); i++) {
		fc_post("/_control/reset", "{}");
		cfg = xprintf("{\"race_ids\":[5011],\"taken_status\":%s}",
		    statuses[i]);
		fc_post("/vast/_fake/config", cfg);
		free(cfg);
		assert_offers(&tt, "5011,5007,5013,5008,5006,5009");
		assert_null(create_on(&c, &tt, "5011", "fleet-race-1", &err));
		assert_int_equal(err.kind, DRV_ERR_CAPACITY);
		assert_non_null(strstr(err.message, "no_such_ask"));
		assert_int_equal(strncmp(err.message, "vast: ", 6), 0);
		/* Gone from the market; the next offer rents fine. */
		assert_offers(&tt, "5007,5013,5008,5006,5009");
		id = create_on(&c, &tt, "5007", "fleet-race-1", &err);
		if (id == NULL)
			fail_msg("second offer: %s", err.message);
		free(id);
	}
	/* Capacity gone for a GPU: its accept fails the same way. */
	fc_post("/_control/capacity",
	    "{\"provider\":\"vast\",\"gpu\":\"L40S\",\"available\":0}");
	assert_null(create_on(&c, &tt, "5013", "fleet-race-2", &err));
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	/* Unknown ask. */
	assert_null(create_on(&c, &tt, "4242", "fleet-race-3", &err));
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
}

static void
test_auth(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_offer	*o;
	struct drv_instance	*all, in;
	size_t			 n;

	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	ctx_init(&c, WRONG_KEY);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_vast.offers(&c, &tt.t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(err.http_status, 401);
	assert_non_null(strstr(err.message, "vast: Please log in or sign up"));
	assert_null(strstr(err.message, WRONG_KEY));
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_int_equal(driver_vast.get(&c, "18234560", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_null(create_on(&c, &tt, "5001", "fleet-auth-1", &err));
	assert_int_equal(err.kind, DRV_ERR_AUTH);

	/* The plain-text 401 body. */
	fc_post("/vast/_fake/config", "{\"auth_text\":true}");
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_non_null(strstr(err.message, "Unauthorized"));

	/* 403 (scoped key) is auth too. */
	ctx_init(&c, KEY);
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v1/instances\","
	    "\"status\":403,\"body\":\"{\\\"success\\\":false,\\\"error\\\":"
	    "\\\"forbidden\\\",\\\"msg\\\":\\\"key lacks permission\\\"}\"}");
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_non_null(strstr(err.message, "key lacks permission"));

	/* No key at all. */
	ctx_init(&c, NULL);
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
}

static void
test_transient_and_rate_limited(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_offer	*o;
	struct drv_instance	*all;
	size_t			 n;
	cJSON			*log;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v1/instances\","
	    "\"status\":503,\"count\":-1,\"content_type\":\"text/html\","
	    "\"body\":\"<html><body>503 Service Unavailable</body></html>\"}");
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 503);
	assert_non_null(strstr(err.message, "503"));
	/* Retried (idempotent GET) before giving up. */
	log = fc_call("GET", "/_control/requests?prefix=/vast/api/v1", NULL);
	assert_int_equal(cJSON_GetArraySize(log), 3);
	cJSON_Delete(log);

	fc_post("/_control/fail", "{\"route\":\"/vast/api/v0/bundles\","
	    "\"status\":429,\"count\":-1,\"content_type\":\"text/plain\","
	    "\"body\":\"API requests too frequent: endpoint threshold=2.0\"}");
	assert_int_equal(driver_vast.offers(&c, &tt.t, &o, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	assert_non_null(strstr(err.message, "API requests too frequent"));

	/* A create is never retried: a 503 there is reported at once. */
	fc_post("/_control/reset", "{}");
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v0/asks\","
	    "\"status\":502,\"count\":-1,\"body\":\"\"}");
	assert_null(create_on(&c, &tt, "5001", "fleet-t-1", &err));
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	log = fc_call("GET", "/_control/requests?prefix=/vast/api/v0/asks",
	    NULL);
	assert_int_equal(cJSON_GetArraySize(log), 1);
	cJSON_Delete(log);

	/* Nobody listening. */
	c.base_url = "http://127.0.0.1:1/vast";
	assert_int_equal(driver_vast.list(&c, &all, &n, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_int_equal(err.http_status, 0);
}

static void
test_refusals_and_secrets(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_instance	 in;
	char			*id;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	/* success:false with HTTP 200. */
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v0/asks\","
	    "\"status\":200,\"body\":\"{\\\"success\\\":false,\\\"msg\\\":"
	    "\\\"insufficient credit: add funds\\\"}\"}");
	assert_null(create_on(&c, &tt, "5001", "fleet-r-1", &err));
	assert_int_equal(err.kind, DRV_ERR_QUOTA);
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v0/asks\","
	    "\"status\":200,\"body\":\"{\\\"success\\\":false,\\\"error\\\":"
	    "\\\"invalid_args\\\",\\\"msg\\\":\\\"disk too large\\\"}\"}");
	assert_null(create_on(&c, &tt, "5001", "fleet-r-1", &err));
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_string_equal(err.message,
	    "vast: disk too large (invalid_args, HTTP 200)");
	/* A provider message quoting the key never carries it on. */
	fc_post("/_control/fail", "{\"route\":\"/vast/api/v0/asks\","
	    "\"status\":400,\"body\":\"{\\\"success\\\":false,\\\"error\\\":"
	    "\\\"invalid_args\\\",\\\"msg\\\":\\\"bad request from key "
	    KEY "\\\"}\"}");
	assert_null(create_on(&c, &tt, "5001", "fleet-r-1", &err));
	assert_null(strstr(err.message, KEY));
	assert_non_null(strstr(err.message, "[REDACTED]"));
	/* The fake validates: no image is refused before any call. */
	tt.t.image = NULL;
	assert_null(create_on(&c, &tt, "5001", "fleet-r-1", &err));
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	tt.t.image = t_image;

	/* Destroying twice, the "success:false" way: still not found. */
	fc_post("/vast/_fake/config", "{\"destroy_missing\":200}");
	id = create_on(&c, &tt, "5001", "fleet-r-2", &err);
	assert_non_null(id);
	assert_int_equal(driver_vast.terminate(&c, id, &err), 0);
	memset(&err, 0, sizeof err);
	assert_int_equal(driver_vast.terminate(&c, id, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	fc_post("/vast/_fake/config", "{\"missing_status\":404}");
	assert_int_equal(driver_vast.get(&c, id, &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_int_equal(driver_vast.get(&c, "../../x", &in, &err), -1);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	free(id);
}

static void
test_reported_states(void **state __unused)
{
	struct ttmpl		 tt;
	struct drv_ctx		 c;
	struct drv_error	 err;
	struct drv_instance	 in;
	char			*id, *body;
	static const struct {
		const char	*actual;
		const char	*msg;
		enum inst_state	 want;
	} cases[] = {
		{ "exited", "", INST_FAILED },
		{ "offline", "", INST_UNKNOWN },
		{ "created", "Error: OCI runtime create failed: exec", INST_FAILED },
		{ "created", "", INST_PENDING },
		{ "frozen", "", INST_STOPPED },
		{ "rebooting", "", INST_BOOTING },
		{ "brand_new_status", "", INST_UNKNOWN },
	};
	size_t			 i;

	ctx_init(&c, KEY);
	tmpl_make(&tt, 1, 24, "RTX 4090", NULL);
	id = create_on(&c, &tt, "5001", "fleet-s-1", &err);
	assert_non_null(id);
	wait_state(&c, id, INST_RUNNING, &in, INST_RUNNING, NULL);
	drv_instance_clear(&in);
	for (i = 0; i < nitems(cases); i++) {
		body = xprintf("{\"id\":%s,\"actual_status\":\"%s\","
		    "\"status_msg\":\"%s\"}", id, cases[i].actual,
		    cases[i].msg);
		fc_post("/vast/_fake/instance", body);
		free(body);
		if (driver_vast.get(&c, id, &in, &err) != 0)
			fail_msg("get: %s", err.message);
		if (in.state != cases[i].want)
			fail_msg("%s: got %s", cases[i].actual,
			    inst_state_name(in.state));
		/* Only "exited" (meant to run) says the workload ended. */
		assert_int_equal(in.exited, strcmp(cases[i].actual,
		    "exited") == 0);
		drv_instance_clear(&in);
	}
	/* With Vast's status_msg as the reason. */
	body = xprintf("{\"id\":%s,\"actual_status\":\"exited\","
	    "\"status_msg\":\"container exited with code 3\"}", id);
	fc_post("/vast/_fake/instance", body);
	free(body);
	assert_int_equal(driver_vast.get(&c, id, &in, &err), 0);
	assert_int_equal(in.exited, 1);
	assert_string_equal(in.exit_reason, "actual_status exited: container "
	    "exited with code 3");
	drv_instance_clear(&in);
	/* The docs' list form of ports gives no host port: unreachable. */
	body = xprintf("{\"id\":%s,\"actual_status\":null}", id);
	fc_post("/vast/_fake/instance", body);
	free(body);
	fc_post("/vast/_fake/config", "{\"ports_format\":\"list\"}");
	if (driver_vast.get(&c, id, &in, &err) != 0)
		fail_msg("get: %s", err.message);
	assert_int_equal(in.state, INST_RUNNING);
	assert_int_equal(in.nendpoints, 0);
	drv_instance_clear(&in);
	/* A start that cannot get the machine's GPUs waits, not "stopped". */
	fc_post("/vast/_fake/config", "{\"ports_format\":\"map\","
	    "\"start_unavailable\":true}");
	assert_int_equal(driver_vast.stop(&c, id, &err), 0);
	assert_int_equal(driver_vast.start(&c, id, &err), 0);
	assert_int_equal(driver_vast.get(&c, id, &in, &err), 0);
	assert_int_equal(in.state, INST_PENDING);
	drv_instance_clear(&in);
	free(id);
}

/* ---- canned JSON, no server ---- */

static void
test_state_map(void **state __unused)
{
	assert_int_equal(vast_state(NULL, "running", NULL, NULL),
	    INST_PENDING);
	assert_int_equal(vast_state("loading", "running", "running", NULL),
	    INST_BOOTING);
	assert_int_equal(vast_state("running", "running", "running", NULL),
	    INST_RUNNING);
	assert_int_equal(vast_state("RUNNING", NULL, NULL, NULL),
	    INST_RUNNING);
	assert_int_equal(vast_state("running", "stopped", "running", NULL),
	    INST_STOPPING);
	assert_int_equal(vast_state("stopped", "stopped", "stopped", NULL),
	    INST_STOPPED);
	assert_int_equal(vast_state("stopped", "running", "stopped", NULL),
	    INST_PENDING);
	assert_int_equal(vast_state("exited", "running", NULL, NULL),
	    INST_FAILED);
	assert_int_equal(vast_state("exited", "stopped", NULL, NULL),
	    INST_STOPPED);
	assert_int_equal(vast_state("unknown", "running", NULL, NULL),
	    INST_UNKNOWN);
	assert_int_equal(vast_state("stopped", "stopped", "unloaded", NULL),
	    INST_TERMINATED);
	assert_int_equal(vast_state("", NULL, NULL, NULL), INST_PENDING);
}

/* exited while meant to run is the workload's end; a stop is not. */
static void
test_exited(void **state __unused)
{
	struct drv_instance	 in;
	cJSON			*j;

	j = cJSON_Parse("{\"id\":7,\"actual_status\":\"exited\","
	    "\"intended_status\":\"running\",\"status_msg\":\"boom\\n\"}");
	assert_int_equal(vast_instance_from_json(j, &in), 0);
	assert_int_equal(in.exited, 1);
	assert_string_equal(in.exit_reason, "actual_status exited: boom");
	drv_instance_clear(&in);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"id\":7,\"actual_status\":\"exited\","
	    "\"intended_status\":\"stopped\",\"status_msg\":\"boom\"}");
	assert_int_equal(vast_instance_from_json(j, &in), 0);
	assert_int_equal(in.exited, 0);
	assert_null(in.exit_reason);
	drv_instance_clear(&in);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"id\":7,\"actual_status\":\"exited\"}");
	assert_int_equal(vast_instance_from_json(j, &in), 0);
	assert_string_equal(in.exit_reason, "actual_status exited");
	drv_instance_clear(&in);
	cJSON_Delete(j);
}

static void
test_parse_instance(void **state __unused)
{
	const char	*js = "{\"id\": 18234567, \"label\": \"fleet-p-7\\n\","
	    "\"actual_status\": \"running\", \"intended_status\": \"running\","
	    "\"public_ipaddr\": \" 203.0.113.9\\n\", \"gpu_name\": \"H100 SXM\","
	    "\"num_gpus\": 2, \"dph_total\": 4.25, \"geolocation\": \"Texas, US\","
	    "\"ssh_host\": \"ssh5.vast.ai\", \"ssh_port\": \"31234\","
	    "\"start_date\": 1714560000.5,"
	    "\"extra_env\": [[\"FLEET_PORTS\", \"8998:ws,9000:tcp\"], 7, []],"
	    "\"ports\": {\"22/tcp\": [{\"HostIp\":\"0.0.0.0\",\"HostPort\":"
	    "\"41022\"}], \"8998/tcp\": [{\"HostIp\":\"0.0.0.0\",\"HostPort\":"
	    "\"41187\"},{\"HostIp\":\"::\",\"HostPort\":\"41187\"}],"
	    "\"9000/tcp\": [{\"HostPort\": 41200}], \"9001/tcp\": null,"
	    "\"9002/udp\": [{\"HostPort\":\"41300\"}], \"x/tcp\": [],"
	    "\"9003/tcp\": [{\"HostPort\":\"99999\"}]}}";
	struct drv_instance	 in;
	cJSON			*j = cJSON_Parse(js);

	assert_int_equal(vast_instance_from_json(j, &in), 0);
	assert_string_equal(in.id, "18234567");
	assert_string_equal(in.name, "fleet-p-7");
	assert_int_equal(in.state, INST_RUNNING);
	assert_string_equal(in.gpu, "2x H100 SXM");
	assert_int_equal(in.gpu_count, 2);
	assert_true(in.price_per_hour == 4.25);
	assert_string_equal(in.ssh_host, "ssh5.vast.ai");
	assert_int_equal(in.ssh_port, 31234);
	assert_int_equal(in.created_at, 1714560000);
	assert_int_equal(in.nendpoints, 2);
	assert_int_equal(in.endpoints[0].port, 8998);
	assert_string_equal(in.endpoints[0].scheme, "http");
	assert_string_equal(in.endpoints[0].host, "203.0.113.9");
	assert_int_equal(in.endpoints[0].public_port, 41187);
	assert_int_equal(in.endpoints[1].port, 9000);
	assert_string_equal(in.endpoints[1].scheme, "tcp");
	assert_int_equal(in.endpoints[1].public_port, 41200);
	drv_instance_clear(&in);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"id\":\"42\",\"ports\":[8080],"
	    "\"public_ipaddr\":\"1.2.3.4\"}");
	assert_int_equal(vast_instance_from_json(j, &in), 0);
	assert_string_equal(in.id, "42");
	assert_int_equal(in.nendpoints, 0);
	assert_int_equal(in.state, INST_PENDING);
	drv_instance_clear(&in);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"label\":\"fleet-x-1\"}");
	assert_int_equal(vast_instance_from_json(j, &in), -1);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"id\":-3}");
	assert_int_equal(vast_instance_from_json(j, &in), -1);
	cJSON_Delete(j);
	assert_int_equal(vast_instance_from_json(NULL, &in), -1);
}

static void
test_parse_lists(void **state __unused)
{
	const char	*page = "{\"instances\": [{\"id\": 1, \"label\": "
	    "\"fleet-a-1\"}, \"junk\", {\"id\": 2}], \"next_token\": \"abc\"}";
	const char	*offers = "{\"offers\": [{\"id\": 9, \"gpu_name\": "
	    "\"RTX 4090\", \"num_gpus\": 1, \"gpu_ram\": 24564, \"dph_total\": "
	    "0.5}, {\"id\": 8, \"gpu_name\": \"A40\", \"num_gpus\": 1, "
	    "\"gpu_ram\": 46068, \"dph_total\": 0.3, \"geolocation\": \"SE\"},"
	    "{\"id\": 7, \"gpu_name\": \"A40\", \"num_gpus\": 1,"
	    "\"gpu_ram\": 46068}, {\"gpu_name\": \"A40\"}, 3]}";
	struct drv_instance	*in;
	struct drv_offer	*o;
	struct drv_error	 err;
	size_t			 n;
	char			*next;

	memset(&err, 0, sizeof err);
	assert_int_equal(vast_instances_from_json(page, strlen(page), &in, &n,
	    &next, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(next, "abc");
	assert_string_equal(in[1].id, "2");
	assert_null(in[1].name);
	drv_instance_list_free(in, n);
	free(next);
	page = "{\"success\": false, \"error\": \"deprecated_endpoint\"}";
	assert_int_equal(vast_instances_from_json(page, strlen(page), &in, &n,
	    &next, &err), -1);
	assert_int_equal(n, 0);
	assert_null(next);
	page = "{\"instances\": [], \"next_token\": null}";
	assert_int_equal(vast_instances_from_json(page, strlen(page), &in, &n,
	    &next, &err), 0);
	assert_int_equal(n, 0);
	assert_null(next);

	assert_int_equal(vast_offers_from_json(offers, strlen(offers), NULL,
	    &o, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(o[0].offer_id, "8");
	assert_string_equal(o[0].region, "SE");
	assert_int_equal(o[0].vram_gb, 45);
	assert_string_equal(o[1].offer_id, "9");
	assert_int_equal(o[1].vram_gb, 24);
	drv_offer_list_free(o, n);
	assert_int_equal(vast_offers_from_json("[]", 2, NULL, &o, &n, &err),
	    -1);
	assert_int_equal(vast_offers_from_json("{\"offers\":[]}", 13, NULL,
	    &o, &n, &err), 0);
	assert_int_equal(n, 0);
}

static void
test_error_map(void **state __unused)
{
	struct drv_error	 err;
	const char		*b;

	b = "{\"success\": false, \"error\": \"no_such_ask\", \"msg\": "
	    "\"Offer 123 is not available.\"}";
	vast_error(400, b, strlen(b), 1, &err);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	assert_string_equal(err.message,
	    "vast: Offer 123 is not available. (no_such_ask, HTTP 400)");
	vast_error(410, "", 0, 1, &err);
	assert_int_equal(err.kind, DRV_ERR_CAPACITY);
	vast_error(404, "", 0, 0, &err);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	assert_string_equal(err.message, "vast: HTTP 404");
	vast_error(401, "Unauthorized", 12, 0, &err);
	assert_int_equal(err.kind, DRV_ERR_AUTH);
	assert_string_equal(err.message, "vast: Unauthorized (HTTP 401)");
	vast_error(429, "API requests too frequent", 25, 0, &err);
	assert_int_equal(err.kind, DRV_ERR_RATE_LIMITED);
	vast_error(504, "<html>\n<b>Gateway</b>\n</html>", 29, 0, &err);
	assert_int_equal(err.kind, DRV_ERR_TRANSIENT);
	assert_null(strchr(err.message, '\n'));
	b = "{\"message\": \"no such thing\", \"error\": \"no_such_instance\"}";
	vast_error(400, b, strlen(b), 0, &err);
	assert_int_equal(err.kind, DRV_ERR_NOT_FOUND);
	b = "{\"error\": \"invalid_args\"}";
	vast_error(400, b, strlen(b), 0, &err);
	assert_int_equal(err.kind, DRV_ERR_INVALID);
	assert_string_equal(err.message, "vast: invalid_args (HTTP 400)");
	b = "{\"success\": false, \"msg\": \"insufficient credit\"}";
	vast_error(200, b, strlen(b), 1, &err);
	assert_int_equal(err.kind, DRV_ERR_QUOTA);
	/* Long bodies are cut. */
	{
		char big[2000];
		memset(big, 'x', sizeof big);
		vast_error(500, big, sizeof big, 0, &err);
		assert_true(strlen(err.message) < 400);
		assert_non_null(strstr(err.message, "..."));
	}
}

static void
test_model_names(void **state __unused)
{
	int	 mem;

	assert_true(vast_model_accepts("A100 80GB", "A100 SXM4", &mem));
	assert_int_equal(mem, 80);
	assert_true(vast_model_accepts("A100", "A100 PCIE", NULL));
	assert_false(vast_model_accepts("A100", "A100X", NULL));
	assert_false(vast_model_accepts("H100", "H100 NVL", NULL));
	assert_true(vast_model_accepts("H100 80GB", "H100 SXM", &mem));
	assert_true(vast_model_accepts("A6000", "RTX A6000", NULL));
	assert_true(vast_model_accepts("RTX_4090", "RTX 4090", NULL));
	assert_true(vast_model_accepts("geforce rtx 4090 24 GB", "RTX 4090",
	    &mem));
	assert_int_equal(mem, 24);
	assert_false(vast_model_accepts("L40", "L40S", NULL));
	assert_true(vast_model_accepts("V100", "Tesla V100", NULL));
	assert_true(vast_model_accepts("RTX 6000 Ada", "RTX 6000Ada", NULL));
	assert_false(vast_model_accepts("", "RTX 4090", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_map),
		cmocka_unit_test(test_exited),
		cmocka_unit_test(test_parse_instance),
		cmocka_unit_test(test_parse_lists),
		cmocka_unit_test(test_error_map),
		cmocka_unit_test(test_model_names),
		cmocka_unit_test_setup(test_offers_floors, test_setup),
		cmocka_unit_test_setup(test_offers_models_count_vram,
		    test_setup),
		cmocka_unit_test_setup(test_offers_capacity_and_env,
		    test_setup),
		cmocka_unit_test_setup(test_lifecycle, test_setup),
		cmocka_unit_test_setup(test_create_request, test_setup),
		cmocka_unit_test_setup(test_deadman, test_setup),
		cmocka_unit_test_setup(test_list_labels_and_pages, test_setup),
		cmocka_unit_test_setup(test_offer_taken, test_setup),
		cmocka_unit_test_setup(test_auth, test_setup),
		cmocka_unit_test_setup(test_transient_and_rate_limited,
		    test_setup),
		cmocka_unit_test_setup(test_refusals_and_secrets, test_setup),
		cmocka_unit_test_setup(test_reported_states, test_setup),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
