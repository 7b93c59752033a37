/* test-http.c: orchestrator/http.c against a scripted server on 127.0.0.1. */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "fleet.h"
#include "http.h"

#define SECRET_BEARER	"tok-bearer-1234"
#define SECRET_BASIC	"user:pa55word"
#define SECRET_BASIC64	"dXNlcjpwYTU1d29yZA=="
#define SECRET_QUERY	"s3cr3t/key+val &x"
#define SECRET_QUERY_E	"s3cr3t%2Fkey%2Bval"	/* curl_easy_escape */
#define SECRET_QUERY_L	"s3cr3t%2fkey%2bval"	/* CURLU's encoding */
#define SECRET_HEADER	"hdr-secret-9876"
#define BIG_BODY	(17 * 1024 * 1024)

static pid_t	 srv_pid = -1;
static int	 srv_port;
static int	 dead_port;
static FILE	*log_file;

/* ---- the scripted server, run in a forked child ---- */

/* Per-id hit counters, so each test gets fresh /flaky and /ratelimit state. */
static int
srv_hit(const char *id)
{
	static struct { char id[32]; int n; } hits[64];
	static int	 nhits;
	int		 i;

	if (id == NULL)
		id = "";
	for (i = 0; i < nhits; i++)
		if (strcmp(hits[i].id, id) == 0)
			return (hits[i].n++);
	if (nhits == (int)nitems(hits))
		return (0);
	snprintf(hits[nhits].id, sizeof hits[nhits].id, "%s", id);
	hits[nhits].n = 1;
	nhits++;
	return (0);
}

static void
srv_reply(struct evhttp_request *r, int code, const char *type,
    const char *body)
{
	struct evbuffer	*b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(r),
	    "Content-Type", type);
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(r, code, code < 400 ? "OK" : "Oops", b);
	evbuffer_free(b);
}

static void
srv_add(cJSON *o, const char *name, const char *value)
{
	cJSON_AddStringToObject(o, name, value != NULL ? value : "");
}

static const char *
srv_method(struct evhttp_request *r)
{
	switch (evhttp_request_get_command(r)) {
	case EVHTTP_REQ_GET:
		return ("GET");
	case EVHTTP_REQ_POST:
		return ("POST");
	case EVHTTP_REQ_PUT:
		return ("PUT");
	case EVHTTP_REQ_PATCH:
		return ("PATCH");
	case EVHTTP_REQ_DELETE:
		return ("DELETE");
	default:
		return ("OTHER");
	}
}

/* Echo what arrived, so the parent can check how auth was sent. */
static void
srv_echo(struct evhttp_request *r, const char *query)
{
	struct evkeyvalq	*in, params;
	struct evbuffer		*body;
	cJSON			*o = cJSON_CreateObject();
	char			*text, *payload;
	size_t			 len;

	in = evhttp_request_get_input_headers(r);
	body = evhttp_request_get_input_buffer(r);
	len = evbuffer_get_length(body);
	TAILQ_INIT(&params);
	if (query != NULL)
		evhttp_parse_query_str(query, &params);
	payload = calloc(1, len + 1);
	evbuffer_copyout(body, payload, len);
	srv_add(o, "method", srv_method(r));
	srv_add(o, "authorization", evhttp_find_header(in, "Authorization"));
	srv_add(o, "x_api_key", evhttp_find_header(in, "X-Api-Key"));
	srv_add(o, "user_agent", evhttp_find_header(in, "User-Agent"));
	srv_add(o, "accept", evhttp_find_header(in, "Accept"));
	srv_add(o, "content_type", evhttp_find_header(in, "Content-Type"));
	srv_add(o, "x_extra", evhttp_find_header(in, "X-Extra"));
	srv_add(o, "query", query);
	srv_add(o, "api_key", evhttp_find_header(&params, "api_key"));
	srv_add(o, "body", payload);
	text = cJSON_PrintUnformatted(o);
	srv_reply(r, 200, "application/json", text);
	free(text);
	free(payload);
	cJSON_Delete(o);
	evhttp_clear_headers(&params);
}

static void
srv_big(struct evhttp_request *r, int chunked)
{
	struct evbuffer	*b = evbuffer_new();
	char		*chunk = malloc(1024 * 1024);
	int		 i;

	memset(chunk, 'a', 1024 * 1024);
	if (chunked)
		evhttp_send_reply_start(r, 200, "OK");
	for (i = 0; i < BIG_BODY / (1024 * 1024); i++) {
		evbuffer_add(b, chunk, 1024 * 1024);
		if (chunked)
			evhttp_send_reply_chunk(r, b);
	}
	if (chunked)
		evhttp_send_reply_end(r);
	else
		evhttp_send_reply(r, 200, "OK", b);
	evbuffer_free(b);
	free(chunk);
}

/* /ratelimit: one 429 with Retry-After (?after=, default 1 s), then 200. */
static void
srv_ratelimit(struct evhttp_request *r, struct evkeyvalq *p)
{
	const char	*after = evhttp_find_header(p, "after");

	if (srv_hit(evhttp_find_header(p, "id")) > 0) {
		srv_reply(r, 200, "application/json", "{\"ok\":true}");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r), "Retry-After",
	    after != NULL ? after : "1");
	srv_reply(r, 429, "application/json", "{\"error\":\"slow down\"}");
}

static void
srv_handle(struct evhttp_request *r, __unused void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(r);
	const char		*path = evhttp_uri_get_path(uri);
	const char		*query = evhttp_uri_get_query(uri);
	struct evkeyvalq	 p;
	const char		*n;

	TAILQ_INIT(&p);
	if (query != NULL)
		evhttp_parse_query_str(query, &p);
	if (strcmp(path, "/ok") == 0)
		srv_reply(r, 200, "application/json",
		    "{\"data\":{\"id\":\"abc\",\"n\":42},\"errors\":[]}\n");
	else if (strcmp(path, "/flaky") == 0) {
		n = evhttp_find_header(&p, "n");
		if (srv_hit(evhttp_find_header(&p, "id")) <
		    (n != NULL ? atoi(n) : 1))
			srv_reply(r, 503, "application/json", "{\"e\":1}");
		else
			srv_reply(r, 200, "application/json", "{\"ok\":1}");
	} else if (strcmp(path, "/ratelimit") == 0)
		srv_ratelimit(r, &p);
	else if (strcmp(path, "/echo-auth") == 0)
		srv_echo(r, query);
	else if (strcmp(path, "/slow") == 0)
		;	/* never answer: the client's timeout must fire */
	else if (strcmp(path, "/bigbody") == 0)
		srv_big(r, 0);
	else if (strcmp(path, "/bigchunked") == 0)
		srv_big(r, 1);
	else if (strcmp(path, "/notjson") == 0)
		srv_reply(r, 200, "text/plain", "hello, world");
	else if (strcmp(path, "/trailing") == 0)
		srv_reply(r, 200, "application/json", "{\"a\":1} junk");
	else if (strcmp(path, "/500always") == 0)
		srv_reply(r, 500, "application/json", "{\"error\":\"boom\"}");
	else
		srv_reply(r, 404, "text/plain", "no such path");
	evhttp_clear_headers(&p);
}

static void __attribute__((noreturn))
srv_run(int fd)
{
	struct event_base	*base;
	struct evhttp		*http;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL)
		_exit(1);
	evutil_make_socket_nonblocking(fd);
	if (evhttp_accept_socket(http, fd) != 0)
		_exit(1);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, srv_handle, NULL);
	event_base_dispatch(base);
	_exit(0);
}

/* ---- parent side ---- */

/* Listen before forking so no request can race the child's start-up. */
static int
listen_any(int *port, int do_listen)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    (do_listen && listen(fd, 64) != 0) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		close(fd);
		return (-1);
	}
	*port = ntohs(sin.sin_port);
	return (fd);
}

static int
group_setup(__unused void **state)
{
	int	 fd;

	if ((log_file = tmpfile()) == NULL)
		return (-1);
	log_init("test-http", 3, log_file);
	/* A port that was just free and is not listening: refused. */
	if ((fd = listen_any(&dead_port, 0)) == -1)
		return (-1);
	close(fd);
	if ((fd = listen_any(&srv_port, 1)) == -1)
		return (-1);
	if ((srv_pid = fork()) == -1)
		return (-1);
	if (srv_pid == 0)
		srv_run(fd);
	close(fd);
	return (0);
}

static int
group_teardown(__unused void **state)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
	}
	http_global_cleanup();
	log_set_file(NULL);
	if (log_file != NULL)
		fclose(log_file);
	return (0);
}

static char *
url(const char *path)
{
	return (xprintf("http://127.0.0.1:%d%s", srv_port, path));
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* Run a request that must get an HTTP response; returns the status. */
static long
do_ok(struct http_request *req, const char *path, struct http_response *resp)
{
	char	*u = url(path), *cause = NULL;
	int	 rc;

	req->url = u;
	if (req->backoff_ms == 0)
		req->backoff_ms = 1;
	if (req->backoff_max_ms == 0)
		req->backoff_max_ms = 5;
	rc = http_do(req, resp, &cause);
	if (rc != 0)
		print_error("unexpected failure: %s\n", cause);
	assert_int_equal(rc, 0);
	assert_null(cause);
	assert_non_null(resp->body);
	free(u);
	req->url = NULL;
	return (resp->status);
}

static void
test_ok_json(__unused void **state)
{
	struct http_request	 req = { 0 };
	struct http_response	 resp;
	const cJSON		*data;

	assert_int_equal(do_ok(&req, "/ok", &resp), 200);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_ms, -1);
	assert_int_equal(resp.curl_code, CURLE_OK);
	assert_int_equal(resp.len, strlen(resp.body));
	assert_non_null(resp.json);
	data = cJSON_GetObjectItemCaseSensitive(resp.json, "data");
	assert_string_equal(jstr(data, "id"), "abc");
	assert_int_equal(cJSON_GetObjectItem(data, "n")->valueint, 42);
	http_response_free(&resp);
	http_response_free(&resp);	/* safe twice */
}

static void
test_notjson(__unused void **state)
{
	struct http_request	 req = { 0 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/notjson", &resp), 200);
	assert_null(resp.json);
	assert_string_equal(resp.body, "hello, world");
	http_response_free(&resp);

	assert_int_equal(do_ok(&req, "/trailing", &resp), 200);
	assert_null(resp.json);
	http_response_free(&resp);
}

static void
test_bearer_and_defaults(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_BEARER,
				    .secret = SECRET_BEARER };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "authorization"),
	    "Bearer " SECRET_BEARER);
	assert_string_equal(jstr(resp.json, "method"), "GET");
	assert_string_equal(jstr(resp.json, "user_agent"),
	    "fleet/" FLEET_VERSION);
	assert_string_equal(jstr(resp.json, "accept"), "application/json");
	assert_string_equal(jstr(resp.json, "content_type"), "");
	http_response_free(&resp);
}

static void
test_basic(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_BASIC,
				    .secret = SECRET_BASIC };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "authorization"),
	    "Basic " SECRET_BASIC64);
	http_response_free(&resp);
}

/* The key is escaped so '+', '/', ' ' and '&' survive the trip. */
static void
test_query(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_QUERY,
				    .secret = SECRET_QUERY,
				    .auth_name = "api_key" };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth?x=1", &resp), 200);
	assert_string_equal(jstr(resp.json, "api_key"), SECRET_QUERY);
	assert_non_null(strstr(jstr(resp.json, "query"),
	    "x=1&api_key=" SECRET_QUERY_L));
	assert_string_equal(jstr(resp.json, "authorization"), "");
	http_response_free(&resp);
}

static void
test_header_auth(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_HEADER,
				    .secret = SECRET_HEADER,
				    .auth_name = "X-Api-Key" };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "x_api_key"), SECRET_HEADER);
	assert_string_equal(jstr(resp.json, "authorization"), "");
	http_response_free(&resp);
}

static void
test_post_body_and_headers(__unused void **state)
{
	const char		*hdrs[] = { "X-Extra: yes", NULL };
	struct http_request	 req = { .method = "POST",
				    .body = "{\"query\":\"{ myself { id } }\"}",
				    .headers = hdrs };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "method"), "POST");
	assert_string_equal(jstr(resp.json, "content_type"),
	    "application/json");
	assert_string_equal(jstr(resp.json, "body"), req.body);
	assert_string_equal(jstr(resp.json, "x_extra"), "yes");
	http_response_free(&resp);

	req.content_type = "application/x-www-form-urlencoded";
	req.body = "a=b";
	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "content_type"), req.content_type);
	assert_string_equal(jstr(resp.json, "body"), "a=b");
	http_response_free(&resp);
}

static void
test_other_methods(__unused void **state)
{
	struct http_request	 req = { .method = "DELETE" };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "method"), "DELETE");
	assert_string_equal(jstr(resp.json, "body"), "");
	http_response_free(&resp);

	req.method = "PATCH";
	req.body = "{\"name\":\"x\"}";
	assert_int_equal(do_ok(&req, "/echo-auth", &resp), 200);
	assert_string_equal(jstr(resp.json, "method"), "PATCH");
	assert_string_equal(jstr(resp.json, "body"), req.body);
	http_response_free(&resp);
}

static void
test_retry_until_ok(__unused void **state)
{
	struct http_request	 req = { .retries = 3 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/flaky?id=until-ok&n=2", &resp), 200);
	assert_int_equal(resp.attempts, 3);
	http_response_free(&resp);
}

static void
test_retries_exhausted(__unused void **state)
{
	struct http_request	 req = { .retries = 2 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/500always", &resp), 500);
	assert_int_equal(resp.attempts, 3);
	assert_string_equal(jstr(resp.json, "error"), "boom");
	http_response_free(&resp);
}

static void
test_no_retry_when_zero(__unused void **state)
{
	struct http_request	 req = { 0 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/flaky?id=zero&n=1", &resp), 503);
	assert_int_equal(resp.attempts, 1);
	http_response_free(&resp);
}

/* 4xx other than 429 is the caller's problem, not a transient one. */
static void
test_no_retry_on_404(__unused void **state)
{
	struct http_request	 req = { .retries = 3 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/nowhere", &resp), 404);
	assert_int_equal(resp.attempts, 1);
	http_response_free(&resp);
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
test_retry_after_honoured(__unused void **state)
{
	struct http_request	 req = { .retries = 2 };
	struct http_response	 resp;
	int64_t			 t0 = mono_ms();

	assert_int_equal(do_ok(&req, "/ratelimit?id=honour", &resp), 200);
	assert_int_equal(resp.attempts, 2);
	/* Backoff alone would be <= 5 ms; Retry-After: 1 forces ~1 s. */
	assert_true(mono_ms() - t0 >= 900);
	http_response_free(&resp);
}

static void
test_retry_after_reported(__unused void **state)
{
	struct http_request	 req = { 0 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/ratelimit?id=report", &resp), 429);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_ms, 1000);
	http_response_free(&resp);
}

/* A server asking for an hour gets its 429 back at once, not a stall. */
static void
test_retry_after_too_long(__unused void **state)
{
	struct http_request	 req = { .retries = 3 };
	struct http_response	 resp;

	assert_int_equal(do_ok(&req, "/ratelimit?id=long&after=3600", &resp),
	    429);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_ms, 3600 * 1000);
	http_response_free(&resp);
}

static void
test_connection_refused(__unused void **state)
{
	struct http_request	 req = { .retries = 2, .backoff_ms = 1,
				    .backoff_max_ms = 2 };
	struct http_response	 resp;
	char			*cause = NULL, *u;

	u = xprintf("http://127.0.0.1:%d/ok", dead_port);
	req.url = u;
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.attempts, 3);
	assert_int_equal(resp.curl_code, CURLE_COULDNT_CONNECT);
	assert_non_null(resp.body);
	assert_null(resp.json);
	assert_non_null(strstr(cause, "GET http://127.0.0.1:"));
	assert_non_null(strstr(cause, "(after 3 attempts)"));
	free(cause);
	free(u);
	http_response_free(&resp);
}

static void
test_timeout(__unused void **state)
{
	struct http_request	 req = { .timeout_ms = 300 };
	struct http_response	 resp;
	char			*cause = NULL, *u = url("/slow");

	req.url = u;
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(resp.curl_code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(resp.attempts, 1);
	free(cause);
	free(u);
	http_response_free(&resp);
}

static void
check_too_big(const char *path)
{
	struct http_request	 req = { .retries = 2 };
	struct http_response	 resp;
	char			*cause = NULL, *u = url(path);

	req.url = u;
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, "16 MiB") == NULL)
		fail_msg("cause does not name the cap: %s", cause);
	assert_int_equal(resp.attempts, 1);	/* not worth retrying */
	assert_string_equal(resp.body, "");
	free(cause);
	free(u);
	http_response_free(&resp);
}

static void
test_body_cap(__unused void **state)
{
	check_too_big("/bigbody");	/* Content-Length: refused up front */
	check_too_big("/bigchunked");	/* chunked: cut while reading */
}

static void
check_no_secret(const char *s)
{
	assert_null(strstr(s, SECRET_BEARER));
	assert_null(strstr(s, SECRET_BASIC));
	assert_null(strstr(s, SECRET_BASIC64));
	assert_null(strstr(s, SECRET_QUERY));
	assert_null(strstr(s, SECRET_QUERY_E));
	assert_null(strstr(s, SECRET_QUERY_L));
	assert_null(strstr(s, SECRET_HEADER));
}

/* Even a caller who pastes the key into the URL gets it redacted. */
static void
test_cause_redacted(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_QUERY,
				    .secret = SECRET_QUERY,
				    .auth_name = "api_key", .retries = 1,
				    .backoff_ms = 1 };
	struct http_response	 resp;
	char			*cause = NULL, *u;

	u = xprintf("http://127.0.0.1:%d/ok?t=" SECRET_BEARER, dead_port);
	log_add_secret(SECRET_BEARER);
	req.url = u;
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(strstr(cause, "[REDACTED]"));
	check_no_secret(cause);
	free(cause);
	http_response_free(&resp);
	free(u);
}

static void
test_bad_requests(__unused void **state)
{
	struct http_request	 req = { .auth = HTTP_AUTH_HEADER,
				    .secret = "abcd\r\nX-Evil: 1",
				    .auth_name = "X-Api-Key" };
	struct http_response	 resp;
	char			*cause = NULL, *u = url("/echo-auth");

	req.url = u;
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(cause);
	assert_null(strstr(cause, "X-Evil"));
	free(cause);
	cause = NULL;
	http_response_free(&resp);

	req.secret = NULL;	/* auth without a key */
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	free(cause);
	cause = NULL;
	http_response_free(&resp);

	req.auth = HTTP_AUTH_QUERY;	/* unparseable URL */
	req.secret = SECRET_QUERY;
	req.auth_name = "api_key";
	req.url = "not a url";
	assert_int_equal(http_do(&req, &resp, &cause), -1);
	assert_non_null(cause);
	check_no_secret(cause);
	free(cause);
	http_response_free(&resp);
	free(u);
}

static void
test_backoff_bounds(__unused void **state)
{
	struct http_request	 req = { .backoff_ms = 100,
				    .backoff_max_ms = 1000 };
	struct http_request	 dflt = { 0 };
	long			 d, step;
	int			 i, n;

	for (n = 0; n < 200; n++) {
		step = 100;
		for (i = 0; i < 70; i++) {
			d = http_backoff_ms(&req, i, -1);
			assert_true(d >= step / 2 && d <= step);
			step = step * 2 > 1000 ? 1000 : step * 2;
		}
	}
	assert_true(http_backoff_ms(&req, 1000000, -1) <= 1000);
	d = http_backoff_ms(&dflt, 0, -1);
	assert_true(d >= 250 && d <= 500);
	assert_true(http_backoff_ms(&dflt, 30, -1) <= 30000);
	assert_true(http_backoff_ms(&dflt, 30, -1) >= 15000);
	/* Retry-After wins over a shorter backoff, up to 60 s. */
	assert_int_equal(http_backoff_ms(&req, 0, 5000), 5000);
	assert_int_equal(http_backoff_ms(&req, 0, 3600000), 60000);
	assert_true(http_backoff_ms(&req, 0, 0) >= 50);
}

static void
test_parse_retry_after(__unused void **state)
{
	char		 date[64];
	time_t		 t;
	struct tm	 tm;
	long		 ms;

	assert_int_equal(http_parse_retry_after("3"), 3000);
	assert_int_equal(http_parse_retry_after(" 120 "), 120000);
	assert_int_equal(http_parse_retry_after("0"), 0);
	assert_int_equal(http_parse_retry_after("-1"), -1);
	assert_int_equal(http_parse_retry_after("abc"), -1);
	assert_int_equal(http_parse_retry_after("3abc"), -1);
	assert_int_equal(http_parse_retry_after("1.5"), -1);
	assert_int_equal(http_parse_retry_after(""), -1);
	assert_int_equal(http_parse_retry_after(NULL), -1);
	assert_true(http_parse_retry_after("99999999999999999999999") > 0);
	assert_int_equal(http_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00 GMT"), 0);	/* in the past */

	t = time(NULL) + 10;
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ms = http_parse_retry_after(date);
	assert_true(ms >= 8000 && ms <= 10000);
}

/* Runs last: nothing logged by any test above may hold a secret. */
static void
test_log_has_no_secrets(__unused void **state)
{
	char	*text;
	long	 len;

	fflush(log_file);
	fseek(log_file, 0, SEEK_END);
	len = ftell(log_file);
	assert_true(len > 0);
	rewind(log_file);
	text = xcalloc(1, len + 1);
	assert_int_equal(fread(text, 1, len, log_file), (size_t)len);
	/* The debug lines are there, so their absence of secrets counts. */
	assert_non_null(strstr(text, "/echo-auth"));
	assert_non_null(strstr(text, "attempt 3"));
	check_no_secret(text);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_json),
		cmocka_unit_test(test_notjson),
		cmocka_unit_test(test_bearer_and_defaults),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_header_auth),
		cmocka_unit_test(test_post_body_and_headers),
		cmocka_unit_test(test_other_methods),
		cmocka_unit_test(test_retry_until_ok),
		cmocka_unit_test(test_retries_exhausted),
		cmocka_unit_test(test_no_retry_when_zero),
		cmocka_unit_test(test_no_retry_on_404),
		cmocka_unit_test(test_retry_after_honoured),
		cmocka_unit_test(test_retry_after_reported),
		cmocka_unit_test(test_retry_after_too_long),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_cause_redacted),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_parse_retry_after),
		cmocka_unit_test(test_log_has_no_secrets),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
