/* fakecloud.c: fake provider API server: main, dispatch, reply helpers. */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fleet.h"
#include "fakecloud.h"

/*
 * fakecloud [-v] [--port N] [--port-file F] [--fleet PATH] [--boot-delay-ms N]
 *           [--ssh-port N]
 *
 * One HTTP server on 127.0.0.1:N (0: ephemeral; the port is written to F
 * once listening). Provider emulations live under /<provider>/; instances
 * are real `PATH echo-server` processes (default: this binary's own
 * echo-server). With --ssh-port N every emulation that reports an ssh
 * port (RunPod's 22/tcp mapping, Vast's ssh_port) reports 127.0.0.1:N,
 * where a test runs a real sshd (tests/e2e/lib.sh start_sshd); Lambda and
 * Paperspace have no ssh port on the wire and report ip 127.0.0.1 as
 * always. The control API, for tests:
 *
 *	POST /_control/fail {"route","status","count","body","headers",
 *	    "content_type"}	next count (default 1, -1 forever) requests
 *				whose path starts with route ("*": all) get
 *				status/body instead
 *	POST /_control/delay {"route","ms","count"}	hold matching requests
 *				ms first (count default -1; ms 0 removes)
 *	POST /_control/capacity {"provider","gpu","available"}	creates
 *				allowed (0 none, -1 unlimited; "*" wildcards)
 *	POST /_control/vanish {"id"}	kill the process, state "gone"
 *	POST /_control/exit {"provider","after_ms","count","message",
 *	    "when"}		the next count (default 1) instances
 *				created at provider ("*" any) exit
 *				after_ms (default 300) into their boot:
 *				process ended, state "exited", message as
 *				the provider's words; "when": "running":
 *				after_ms after running, then booting again
 *				with no process
 *	POST /_control/config {"boot_delay_ms"}
 *	POST /_control/reset	forget rules, instances, the request log
 *	GET  /_control/instances	[{id, provider, label, state, pid, port,
 *				created_ms, updated_ms, ...}] (epoch ms; a
 *				terminated one's updated_ms is its end)
 *	GET  /_control/requests[?prefix=/p]	the last 500 requests, oldest
 *				first, each with time_ms when answered
 *	GET  /_control/health
 *
 * Client modes for tests: `fakecloud wscheck ...` and `fakecloud send ...`
 * (see wscheck.c); `fakecloud echo-server ...` runs the echo server.
 */

#define FC_BODY_MAX	(1024 * 1024)
#define FC_HEADERS_MAX	(16 * 1024)
#define FC_TIMEOUT_SECS	60

/* Every provider emulation, mounted at "/<name>". Add new files here. */
const struct fc_provider *fc_provider_table[] = {
	&fc_provider_generic,
	&fc_provider_vast,
	&fc_provider_lambda,
	&fc_provider_runpod,
	&fc_provider_paperspace,
	NULL
};

/*
 * cmd.c refers to the command table, which lives in fleet.c (left out of
 * this binary). A weak one-entry table satisfies the link either way.
 */
__attribute__((weak)) const struct cmd_entry *cmd_table[] = {
	&cmd_echo_server_entry,
	NULL
};

int64_t
fc_now(void)
{
	return ((int64_t)time(NULL));
}

int64_t
fc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Epoch milliseconds: tests time fleet against the fake's own log. */
int64_t
fc_now_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Epoch seconds as "2024-05-01T12:34:56Z"; the caller frees. */
char *
fc_time_iso(int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (xstrdup(buf));
}

static const char *
fc_method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return ("GET");
	case EVHTTP_REQ_POST: return ("POST");
	case EVHTTP_REQ_HEAD: return ("HEAD");
	case EVHTTP_REQ_PUT: return ("PUT");
	case EVHTTP_REQ_DELETE: return ("DELETE");
	case EVHTTP_REQ_PATCH: return ("PATCH");
	default: return ("OTHER");
	}
}

static struct fc_req *
fc_req_new(struct fc *fc, struct evhttp_request *r)
{
	struct fc_req		*req = xcalloc(1, sizeof *req);
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(r);
	struct evbuffer		*in = evhttp_request_get_input_buffer(r);
	const char		*p, *q;

	req->fc = fc;
	req->req = r;
	req->method = fc_method_name(evhttp_request_get_command(r));
	req->uri = xstrdup(evhttp_request_get_uri(r));
	p = u != NULL ? evhttp_uri_get_path(u) : NULL;
	if (p == NULL || *p == '\0')
		p = "/";
	if ((req->path = evhttp_uridecode(p, 0, NULL)) == NULL)
		req->path = xstrdup(p);
	if (u != NULL && (q = evhttp_uri_get_query(u)) != NULL)
		req->query = xstrdup(q);
	req->bodylen = evbuffer_get_length(in);
	req->body = xmalloc(req->bodylen + 1);
	evbuffer_copyout(in, req->body, req->bodylen);
	req->body[req->bodylen] = '\0';
	req->subpath = req->path;
	return (req);
}

static void
fc_req_free(struct fc_req *req)
{
	free(req->uri);
	free(req->path);
	free(req->query);
	free(req->body);
	cJSON_Delete(req->json);
	free(req);
}

/* Send the one reply of a request and record it in the request log. */
void
fc_reply(struct fc_req *req, int status, const char *ctype, const char *body)
{
	struct evkeyvalq	*oh;
	struct evbuffer		*b;

	if (req->replied) {
		log_error("%s %s: second reply", req->method, req->path);
		return;
	}
	req->replied = 1;
	if (control_lost(req)) {
		status = 502;
		ctype = "application/json";
		body = "{\"error\":\"gateway timeout after the request was "
		    "processed (injected)\"}";
	}
	if (strncmp(req->path, "/_control", 9) != 0)
		control_log(req, status);
	oh = evhttp_request_get_output_headers(req->req);
	evhttp_add_header(oh, "Content-Type", ctype);
	b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req->req, status, NULL, b);
	evbuffer_free(b);
	log_info("%s %s -> %d", req->method, req->uri, status);
}

/* Reply with a JSON value; takes ownership of it. */
void
fc_reply_json(struct fc_req *req, int status, cJSON *v)
{
	char	*s;

	s = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	fc_reply(req, status, "application/json", s);
	cJSON_free(s);
}

/* Reply {"error": "..."}; provider files use their own error shapes. */
void
fc_reply_error(struct fc_req *req, int status, const char *fmt, ...)
{
	cJSON	*o;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	free(msg);
	fc_reply_json(req, status, o);
}

/* env's value for key: RunPod's [{key, value}] or Vast's {KEY: value}. */
static const char *
fc_env_value(const cJSON *env, const char *key)
{
	const cJSON	*e;
	const char	*k;

	if (cJSON_IsObject(env))
		return (cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(env, key)));
	cJSON_ArrayForEach(e, env) {
		k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e,
		    "key"));
		if (k != NULL && strcmp(k, key) == 0)
			return (cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(e, "value")));
	}
	return (NULL);
}

/*
 * GET <provider>/_fake/input: what a create sent, as the emulation kept it
 * (NULL: no such instance, 404). The whole input as JSON, or with ?env=KEY
 * one environment value, with ?field=NAME one string field, as text/plain
 * (404 if absent), so a test script needs no JSON parser to run what a
 * driver put in an instance's start-up.
 */
void
fc_reply_kept(struct fc_req *req, const cJSON *input)
{
	char		*env, *field;
	const char	*v = NULL;

	if (input == NULL) {
		fc_reply_error(req, 404, "no such instance");
		return;
	}
	env = fc_req_query(req, "env");
	field = fc_req_query(req, "field");
	if (env == NULL && field == NULL)
		fc_reply_json(req, 200, cJSON_Duplicate(input, 1));
	else {
		if (env != NULL)
			v = fc_env_value(cJSON_GetObjectItemCaseSensitive(
			    input, "env"), env);
		else
			v = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(input, field));
		if (v != NULL)
			fc_reply(req, 200, "text/plain", v);
		else
			fc_reply_error(req, 404, "the create input has no %s "
			    "%s", env != NULL ? "env" : "field",
			    env != NULL ? env : field);
	}
	free(env);
	free(field);
}

/* The body as JSON, or NULL if it is not JSON. Owned by the request. */
cJSON *
fc_req_json(struct fc_req *req)
{
	if (!req->json_tried) {
		req->json_tried = 1;
		req->json = cJSON_ParseWithLength(req->body, req->bodylen);
	}
	return (req->json);
}

const char *
fc_req_header(struct fc_req *req, const char *name)
{
	return (evhttp_find_header(evhttp_request_get_input_headers(req->req),
	    name));
}

/* A decoded query parameter; the caller frees; NULL if absent. */
char *
fc_req_query(struct fc_req *req, const char *key)
{
	struct evkeyvalq	 kv;
	const char		*v;
	char			*s = NULL;

	if (req->query == NULL)
		return (NULL);
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(req->query, &kv) == 0 &&
	    (v = evhttp_find_header(&kv, key)) != NULL)
		s = xstrdup(v);
	evhttp_clear_headers(&kv);
	return (s);
}

/* Split "/a/b/c" into at most max segments; -1 if there are more. */
int
fc_path_split(const char *path, char **segs, int max)
{
	const char	*p = path, *e;
	int		 n = 0;

	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = p + strcspn(p, "/");
		if (n == max) {
			fc_path_free(segs, n);
			return (-1);
		}
		segs[n++] = xstrndup(p, e - p);
		p = e;
	}
	return (n);
}

void
fc_path_free(char **segs, int n)
{
	while (n > 0)
		free(segs[--n]);
}

/* A string member of a JSON object, or NULL. */
const char *
fc_json_string(cJSON *o, const char *key)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

double
fc_json_number(cJSON *o, const char *key, double dflt)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (cJSON_IsNumber(v) ? v->valuedouble : dflt);
}

/* Hand the request to the provider mounted at its path; always frees it. */
static void
fc_route(struct fc_req *req)
{
	const struct fc_provider	**pp;
	size_t				  n = 0;

	for (pp = fc_provider_table; *pp != NULL; pp++) {
		n = strlen((*pp)->name);
		if (req->path[0] == '/' &&
		    strncmp(req->path + 1, (*pp)->name, n) == 0 &&
		    (req->path[1 + n] == '/' || req->path[1 + n] == '\0'))
			break;
	}
	if (*pp == NULL)
		fc_reply_error(req, 404, "no route for %s", req->path);
	else {
		req->provider = *pp;
		req->subpath = req->path + 1 + n;
		if (*req->subpath == '\0')
			req->subpath = "/";
		(*pp)->handle(req);
		if (!req->replied)
			fc_reply_error(req, 500, "handler did not reply");
	}
	fc_req_free(req);
}

static void
fc_http_cb(struct evhttp_request *r, void *arg)
{
	struct fc	*fc = arg;
	struct fc_req	*req = fc_req_new(fc, r);

	if (strcmp(req->path, "/_control") == 0 ||
	    strncmp(req->path, "/_control/", 10) == 0) {
		control_handle(req);
		if (!req->replied)
			fc_reply_error(req, 500, "handler did not reply");
		fc_req_free(req);
		return;
	}
	switch (control_apply(req)) {
	case 1:				/* injected failure sent */
		fc_req_free(req);
		return;
	case 2:				/* parked: fc_delay_cb routes it */
		return;
	}
	fc_route(req);
}

/* Route the delayed requests whose time has come; re-arm for the rest. */
static void
fc_delay_cb(evutil_socket_t fd __unused, short events __unused, void *arg)
{
	struct fc	*fc = arg;
	struct fc_req	*req, *next;
	int64_t		 now = fc_now_ms(), first = -1;
	struct timeval	 tv;

	for (req = TAILQ_FIRST(&fc->delayed); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (req->due_ms <= now) {
			TAILQ_REMOVE(&fc->delayed, req, entry);
			fc_route(req);
		} else if (first == -1 || req->due_ms < first)
			first = req->due_ms;
	}
	if (first != -1) {
		tv.tv_sec = (first - now) / 1000;
		tv.tv_usec = ((first - now) % 1000) * 1000;
		evtimer_add(fc->ev_delay, &tv);
	}
}

/* Answer every delayed request now (503) so none is left behind. */
void
fc_delay_flush(struct fc *fc)
{
	struct fc_req	*req;

	while ((req = TAILQ_FIRST(&fc->delayed)) != NULL) {
		TAILQ_REMOVE(&fc->delayed, req, entry);
		fc_reply_error(req, 503, "fakecloud reset or shutting down");
		fc_req_free(req);
	}
	evtimer_del(fc->ev_delay);
}

static void
fc_signal_cb(evutil_socket_t sig, short events __unused, void *arg)
{
	struct fc	*fc = arg;

	if (sig == SIGCHLD) {
		instance_reap(fc);
		return;
	}
	log_info("signal %d, exiting", (int)sig);
	event_base_loopexit(fc->base, NULL);
}

/* Write the port to path via a temporary file, so readers see all or none. */
static int
fc_write_port_file(const char *path, int port)
{
	char	*tmp;
	FILE	*f;
	int	 r = -1;

	tmp = xprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) != NULL) {
		fprintf(f, "%d\n", port);
		if (fclose(f) == 0 && rename(tmp, path) == 0)
			r = 0;
	}
	if (r == -1)
		log_error("%s: %s", path, strerror(errno));
	free(tmp);
	return (r);
}

static int
fc_listen(struct fc *fc, int port)
{
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	fc->http = evhttp_new(fc->base);
	evhttp_set_allowed_methods(fc->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
	    EVHTTP_REQ_HEAD);
	evhttp_set_max_body_size(fc->http, FC_BODY_MAX);
	evhttp_set_max_headers_size(fc->http, FC_HEADERS_MAX);
	evhttp_set_timeout(fc->http, FC_TIMEOUT_SECS);
	evhttp_set_gencb(fc->http, fc_http_cb, fc);
	bs = evhttp_bind_socket_with_handle(fc->http, "127.0.0.1", port);
	if (bs == NULL) {
		log_error("listen on 127.0.0.1:%d: %s", port, strerror(errno));
		return (-1);
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &len) != 0)
		return (-1);
	fc->port = ntohs(sin.sin_port);
	fprintf(stderr, "fakecloud: listening on 127.0.0.1:%d\n", fc->port);
	return (0);
}

static void
fc_setup(struct fc *fc)
{
	TAILQ_INIT(&fc->instances);
	TAILQ_INIT(&fc->delayed);
	fc->log = cJSON_CreateArray();
	signal(SIGPIPE, SIG_IGN);
	if ((fc->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	fc->ev_term = evsignal_new(fc->base, SIGTERM, fc_signal_cb, fc);
	fc->ev_int = evsignal_new(fc->base, SIGINT, fc_signal_cb, fc);
	fc->ev_chld = evsignal_new(fc->base, SIGCHLD, fc_signal_cb, fc);
	fc->ev_delay = evtimer_new(fc->base, fc_delay_cb, fc);
	evsignal_add(fc->ev_term, NULL);
	evsignal_add(fc->ev_int, NULL);
	evsignal_add(fc->ev_chld, NULL);
}

static void
fc_free(struct fc *fc)
{
	if (fc->base == NULL)
		return;
	fc_delay_flush(fc);
	instance_free_all(fc, 1);
	control_free(fc);
	if (fc->http != NULL)
		evhttp_free(fc->http);
	cJSON_Delete(fc->log);
	event_free(fc->ev_term);
	event_free(fc->ev_int);
	event_free(fc->ev_chld);
	event_free(fc->ev_delay);
	event_base_free(fc->base);
}

static void
fc_usage(void)
{
	fprintf(stderr,
	    "usage: fakecloud [-v] [--port N] [--port-file F] [--fleet PATH]\n"
	    "                 [--boot-delay-ms N] [--ssh-port N]\n"
	    "       fakecloud wscheck [-m MODE] [-H HOST] HOST PORT PATH MSG\n"
	    "       fakecloud send HOST PORT < raw-request\n"
	    "       fakecloud lenient --port N --raw FILE --requests FILE\n"
	    "       fakecloud stall [-n N] [-m close|stall|trickle] [-t SECS] "
	    "HOST PORT\n"
	    "       fakecloud echo-server [--port N] [--bind ADDR]\n");
	exit(FLEET_EXIT_USAGE);
}

static long
fc_number(const char *s, long min, long max)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
		fc_usage();
	return (n);
}

/* Parse the server's flags into fc; returns the port to bind. */
static int
fc_parse_args(struct fc *fc, int argc, char **argv, const char **port_file,
    int *verbosity)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "fleet", required_argument, NULL, 'F' },
		{ "boot-delay-ms", required_argument, NULL, 'b' },
		{ "ssh-port", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, port = 0;

	fc->boot_delay_ms = 300;
	while ((ch = getopt_long(argc, argv, "p:f:F:b:s:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'p': port = fc_number(optarg, 0, 65535); break;
		case 'f': *port_file = optarg; break;
		case 'F': fc->fleet = optarg; break;
		case 'b':
			fc->boot_delay_ms = fc_number(optarg, 0, 3600000);
			break;
		case 's': fc->ssh_port = fc_number(optarg, 1, 65535); break;
		case 'v': (*verbosity)++; break;
		default: fc_usage();
		}
	}
	if (optind != argc)
		fc_usage();
	if (fc->fleet != NULL && access(fc->fleet, X_OK) != 0)
		fatalx("--fleet %s: %s", fc->fleet, strerror(errno));
	return (port);
}

int
main(int argc, char **argv)
{
	struct fc	 fc;
	struct cmd_ctx	 ctx;
	const char	*port_file = NULL;
	int		 port, verbosity = 0, r = FLEET_EXIT_FAIL;

	if (argc > 1 && strcmp(argv[1], "wscheck") == 0)
		return (wscheck_main(argc - 1, argv + 1));
	if (argc > 1 && strcmp(argv[1], "send") == 0)
		return (send_main(argc - 1, argv + 1));
	if (argc > 1 && strcmp(argv[1], "lenient") == 0)
		return (lenient_main(argc - 1, argv + 1));
	if (argc > 1 && strcmp(argv[1], "stall") == 0)
		return (stall_main(argc - 1, argv + 1));
	if (argc > 1 && strcmp(argv[1], "echo-server") == 0) {
		log_init("fakecloud-echo", 0, NULL);
		memset(&ctx, 0, sizeof ctx);
		return (cmd_echo_server_entry.exec(&ctx, argc - 1, argv + 1));
	}
	memset(&fc, 0, sizeof fc);
	port = fc_parse_args(&fc, argc, argv, &port_file, &verbosity);
	log_init("fakecloud", verbosity, NULL);
	fc_setup(&fc);
	if (fc_listen(&fc, port) == 0 && (port_file == NULL ||
	    fc_write_port_file(port_file, fc.port) == 0)) {
		event_base_dispatch(fc.base);
		r = FLEET_EXIT_OK;
	}
	fc_free(&fc);
	return (r);
}
