/* test-ssh.c: what ssh.c decides without a server: GPU samples, tunnels. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "ssh.h"

static int
gpu(const char *s)
{
	return (ssh_parse_gpu(s, strlen(s)));
}

/* nvidia-smi csv,noheader,nounits: one "util, mem" line per GPU. */
static void
test_parse_gpu(void **state __unused)
{
	assert_int_equal(gpu("87, 30512\n"), 87);
	assert_int_equal(gpu("0, 0\n"), 0);
	assert_int_equal(gpu("100, 81000"), 100);
	/* The busiest GPU counts: one busy GPU keeps the box alive. */
	assert_int_equal(gpu("3, 100\n91, 70000\n0, 5\n"), 91);
	assert_int_equal(gpu("  12 ,  400 \n"), 12);
}

/* Anything else is unknown (-1), never idle (0). */
static void
test_parse_gpu_unknown(void **state __unused)
{
	assert_int_equal(gpu(""), -1);
	assert_int_equal(gpu("\n"), -1);
	assert_int_equal(gpu("[N/A], [N/A]\n"), -1);
	assert_int_equal(gpu("NVIDIA-SMI has failed because it couldn't "
	    "communicate with the NVIDIA driver.\n"), -1);
	assert_int_equal(gpu("50, 10\ngarbage\n"), -1);
	assert_int_equal(gpu("101, 10\n"), -1);
	assert_int_equal(gpu("-1, 10\n"), -1);
	assert_int_equal(gpu("50\n"), -1);
}

static void
test_tunnel_parse(void **state __unused)
{
	char	*scheme = NULL, *host = NULL;
	int	 port = 0;

	assert_int_equal(ssh_tunnel_parse("http+ssh://127.0.0.1:8080", &scheme,
	    &host, &port), 1);
	assert_string_equal(scheme, "http");
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	free(scheme);
	free(host);
	assert_int_equal(ssh_tunnel_parse("tcp+ssh://localhost:22000", &scheme,
	    &host, &port), 1);
	assert_string_equal(scheme, "tcp");
	assert_int_equal(port, 22000);
	free(scheme);
	free(host);
	/* Plain upstreams are not tunnels. */
	assert_int_equal(ssh_tunnel_parse("http://10.0.0.1:8080", &scheme,
	    &host, &port), 0);
	assert_int_equal(ssh_tunnel_parse("https://x-8080.proxy.runpod.net:443",
	    &scheme, &host, &port), 0);
	/* Malformed ones are refused, not guessed. */
	assert_int_equal(ssh_tunnel_parse("+ssh://127.0.0.1:80", &scheme,
	    &host, &port), -1);
	assert_int_equal(ssh_tunnel_parse("http+ssh://127.0.0.1", &scheme,
	    &host, &port), -1);
	assert_int_equal(ssh_tunnel_parse("http+ssh://127.0.0.1:0", &scheme,
	    &host, &port), -1);
	assert_int_equal(ssh_tunnel_parse("http+ssh://127.0.0.1:80x", &scheme,
	    &host, &port), -1);
	assert_int_equal(ssh_tunnel_parse("http+ssh://:80", &scheme, &host,
	    &port), -1);
}

static struct fleet_template *
tmpl(const char *yaml)
{
	char			*cause = NULL;
	struct fleet_template	*t;

	t = template_load_buffer("t.yaml", yaml, strlen(yaml), &cause);
	if (t == NULL)
		fail_msg("%s", cause);
	return (t);
}

/* The driver's endpoint becomes a tunnel upstream when asked to. */
static void
test_upstream_tunnel(void **state __unused)
{
	struct fleet_template	*plain, *tun;
	struct drv_endpoint	 e = { 8080, (char *)"http", (char *)"1.2.3.4",
				    40123, 0 };
	struct drv_instance	 in;
	char			*u;

	plain = tmpl("name: t\nimage: x\nports: [{port: 8080}]\n");
	tun = tmpl("name: t\nimage: x\nports: [{port: 8080}]\ntunnel: true\n");
	memset(&in, 0, sizeof in);
	in.endpoints = &e;
	in.nendpoints = 1;
	u = drv_instance_upstream(&in, plain);
	assert_string_equal(u, "http://1.2.3.4:40123");
	free(u);
	/* No ssh endpoint yet: no upstream (the proxy holds). */
	assert_null(drv_instance_upstream(&in, tun));
	in.ssh_host = (char *)"1.2.3.4";
	in.ssh_port = 40022;
	u = drv_instance_upstream(&in, tun);
	assert_string_equal(u, "http+ssh://127.0.0.1:8080");
	free(u);
	/* A driver that knows the port is closed asks for the tunnel. */
	e.tunnel = 1;
	u = drv_instance_upstream(&in, plain);
	assert_string_equal(u, "http+ssh://127.0.0.1:8080");
	free(u);
	/* Port -1 (every port as is): the service's own port. */
	e.port = -1;
	u = drv_instance_upstream(&in, plain);
	assert_string_equal(u, "http+ssh://127.0.0.1:8080");
	free(u);
	template_free(plain);
	template_free(tun);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_gpu),
		cmocka_unit_test(test_parse_gpu_unknown),
		cmocka_unit_test(test_tunnel_parse),
		cmocka_unit_test(test_upstream_tunnel),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
