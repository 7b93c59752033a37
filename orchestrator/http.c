/* http.c: libcurl + cJSON client with auth, timeouts, retries and redaction. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "fleet.h"
#include "http.h"

#define HTTP_CONNECT_TIMEOUT_MS	5000
#define HTTP_TIMEOUT_MS		30000
#define HTTP_BACKOFF_MS		500
#define HTTP_BACKOFF_MAX_MS	30000
/*
 * Retry-After is honoured even past backoff_max_ms (retrying sooner only
 * earns another 429), but never beyond this: a server asking for longer
 * gets its response handed back so the caller can fail over instead.
 */
#define HTTP_RETRY_AFTER_MAX_MS	60000
/* Largest delta-seconds kept; fits in a 32-bit long as milliseconds. */
#define HTTP_RETRY_AFTER_CLAMP_S	2000000
#define HTTP_MAX_BODY		(16 * 1024 * 1024)

/* One attempt's state, shared with the curl callbacks. */
struct http_buf {
	char	*data;
	size_t	 len;
	size_t	 size;
	int	 too_big;
};

static int		http_initialised;
static unsigned int	http_seed;

/*
 * Idempotent and called by http_do itself, so callers may skip it. Not
 * thread-safe, like curl_global_init: fleet makes requests from one thread.
 */
void
http_global_init(void)
{
	if (http_initialised)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	http_initialised = 1;
}

void
http_global_cleanup(void)
{
	if (!http_initialised)
		return;
	curl_global_cleanup();
	http_initialised = 0;
}

void
http_response_free(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	cJSON_Delete(resp->json);
	resp->json = NULL;
}

/* Jitter needs no cryptographic quality, only to differ between processes. */
static long
http_random(long bound)
{
	struct timespec	 ts;

	if (bound <= 0)
		return (0);
	if (http_seed == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		http_seed = ((unsigned int)ts.tv_nsec ^
		    ((unsigned int)getpid() << 16)) | 1;
	}
	return ((long)(rand_r(&http_seed) % ((unsigned long)bound + 1)));
}

/*
 * Exponential from backoff_ms, capped at backoff_max_ms, with "equal
 * jitter": half the step is fixed so we never hammer a struggling server,
 * half is random so many clients do not retry in lockstep.
 */
long
http_backoff_ms(const struct http_request *req, int attempt,
    long retry_after_ms)
{
	long	 base, cap, delay;
	int	 i;

	base = req->backoff_ms > 0 ? req->backoff_ms : HTTP_BACKOFF_MS;
	cap = req->backoff_max_ms > 0 ? req->backoff_max_ms :
	    HTTP_BACKOFF_MAX_MS;
	if (base > cap)
		base = cap;
	for (i = 0; i < attempt && base < cap; i++)
		base = base > cap / 2 ? cap : base * 2;
	delay = base / 2 + http_random(base - base / 2);

	if (retry_after_ms > HTTP_RETRY_AFTER_MAX_MS)
		retry_after_ms = HTTP_RETRY_AFTER_MAX_MS;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return (delay);
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3). */
long
http_parse_retry_after(const char *s)
{
	const char	*p;
	long long	 secs;
	time_t		 t, now;

	if (s == NULL)
		return (-1);
	while (isspace((unsigned char)*s))
		s++;
	if (isdigit((unsigned char)*s)) {
		secs = 0;
		/* Clamp: past a few years the value only means "not soon". */
		for (p = s; isdigit((unsigned char)*p); p++) {
			if (secs < HTTP_RETRY_AFTER_CLAMP_S)
				secs = secs * 10 + (*p - '0');
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			return (-1);
		if (secs > HTTP_RETRY_AFTER_CLAMP_S)
			secs = HTTP_RETRY_AFTER_CLAMP_S;
		return ((long)secs * 1000);
	}
	/* Every HTTP-date starts with a day name; anything else is noise. */
	if (!isalpha((unsigned char)*s) || (t = curl_getdate(s, NULL)) == -1)
		return (-1);
	now = time(NULL);
	return (t <= now ? 0 : (long)(t - now) * 1000);
}

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_buf	*buf = arg;
	size_t		 n = size * nmemb;

	if (n > HTTP_MAX_BODY - buf->len) {
		buf->too_big = 1;
		return (0);	/* makes curl fail with CURLE_WRITE_ERROR */
	}
	if (buf->len + n + 1 > buf->size) {
		buf->size = buf->size == 0 ? 4096 : buf->size;
		while (buf->len + n + 1 > buf->size)
			buf->size *= 2;
		buf->data = xreallocarray(buf->data, 1, buf->size);
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return (n);
}

/* Does the caller's header list already set this header? */
static int
http_has_header(const char **headers, const char *name)
{
	size_t	 n = strlen(name);

	for (; headers != NULL && *headers != NULL; headers++) {
		if (strncasecmp(*headers, name, n) == 0 &&
		    (*headers)[n] == ':')
			return (1);
	}
	return (0);
}

/* CR or LF in a header value would let it inject further headers. */
static int
http_bad_header_text(const char *s)
{
	return (s != NULL && strpbrk(s, "\r\n") != NULL);
}

/* Build the header list: caller's first, then defaults it did not set. */
static struct curl_slist *
http_headers(const struct http_request *req)
{
	struct curl_slist	*list = NULL;
	const char		**h;
	const char		*ctype;
	char			*line;

	for (h = req->headers; h != NULL && *h != NULL; h++)
		list = curl_slist_append(list, *h);
	if (!http_has_header(req->headers, "Accept"))
		list = curl_slist_append(list, "Accept: application/json");
	if (req->body != NULL &&
	    !http_has_header(req->headers, "Content-Type")) {
		ctype = req->content_type != NULL ? req->content_type :
		    "application/json";
		line = xprintf("Content-Type: %s", ctype);
		list = curl_slist_append(list, line);
		free(line);
	}
	/* curl would otherwise stall large bodies on 100-continue. */
	list = curl_slist_append(list, "Expect:");
	if (req->auth == HTTP_AUTH_BEARER) {
		line = xprintf("Authorization: Bearer %s", req->secret);
		list = curl_slist_append(list, line);
		freezero_str(line);
	} else if (req->auth == HTTP_AUTH_HEADER) {
		line = xprintf("%s: %s", req->auth_name, req->secret);
		list = curl_slist_append(list, line);
		freezero_str(line);
	}
	if (list == NULL)
		fatalx("curl_slist_append: out of memory");
	return (list);
}

/* The list may hold a bearer token: wipe it before it goes back to malloc. */
static void
http_free_headers(struct curl_slist *list)
{
	struct curl_slist	*l;

	for (l = list; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* The URL actually requested: the query-auth key appended, escaped. */
static char *
http_full_url(const struct http_request *req, char **cause)
{
	CURLU		*u;
	char		*param, *full, *out = NULL;
	CURLUcode	 rc;

	if ((u = curl_url()) == NULL)
		fatalx("curl_url: out of memory");
	if ((rc = curl_url_set(u, CURLUPART_URL, req->url, 0)) != CURLUE_OK) {
		*cause = xprintf("invalid URL: %s", curl_url_strerror(rc));
		goto out;
	}
	if (req->auth == HTTP_AUTH_QUERY) {
		param = xprintf("%s=%s", req->auth_name, req->secret);
		rc = curl_url_set(u, CURLUPART_QUERY, param,
		    CURLU_APPENDQUERY | CURLU_URLENCODE);
		freezero_str(param);
		if (rc != CURLUE_OK) {
			*cause = xprintf("invalid query: %s",
			    curl_url_strerror(rc));
			goto out;
		}
	}
	if ((rc = curl_url_get(u, CURLUPART_URL, &full, 0)) != CURLUE_OK) {
		*cause = xprintf("invalid URL: %s", curl_url_strerror(rc));
		goto out;
	}
	out = xstrdup(full);
	curl_free(full);
out:
	curl_url_cleanup(u);
	return (out);
}

static void
http_sleep_ms(long ms)
{
	struct timespec	 ts, rem;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

/* Failures where the server may well answer if asked again. */
static int
http_transient(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		return (status == 429 || (status >= 500 && status != 501));
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (1);
	default:
		return (0);
	}
}

/* The CA bundle for this request: the caller's, else the test override. */
static const char *
http_ca_file(const struct http_request *req)
{
	const char	*ca;

	if (req->ca_file != NULL && *req->ca_file != '\0')
		return (req->ca_file);
	ca = getenv("FLEET_CA_FILE");
	return (ca != NULL && *ca != '\0' ? ca : NULL);
}

/* curl infers the method from the options; name it when that would differ. */
static void
http_setup_method(CURL *h, const struct http_request *req)
{
	const char	*method = req->method != NULL ? req->method : "GET";
	const char	*inferred = "GET";

	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		inferred = "HEAD";
	} else if (req->body != NULL || strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? strlen(req->body) : 0));
		inferred = "POST";
	}
	if (strcmp(method, inferred) != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

/* Everything about the request that stays the same across attempts. */
static void
http_setup(CURL *h, const struct http_request *req, const char *url,
    struct curl_slist *headers, struct http_buf *buf, char *errbuf)
{
	const char	*ca;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "fleet/" FLEET_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    req->connect_timeout_ms > 0 ? req->connect_timeout_ms :
	    (long)HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ?
	    req->timeout_ms : (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if ((ca = http_ca_file(req)) != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)HTTP_MAX_BODY);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (req->auth == HTTP_AUTH_BASIC) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, req->secret);
	}
	http_setup_method(h, req);
}

/* One attempt: fills status, Retry-After and the body buffer. */
static CURLcode
http_attempt(CURL *h, struct http_buf *buf, char *errbuf,
    struct http_response *resp)
{
	struct curl_header	*hdr;
	CURLcode		 rc;

	buf->len = 0;
	buf->too_big = 0;
	if (buf->data != NULL)
		buf->data[0] = '\0';
	errbuf[0] = '\0';
	resp->status = 0;
	resp->retry_after_ms = -1;

	rc = curl_easy_perform(h);
	resp->curl_code = rc;
	resp->attempts++;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1,
	    &hdr) == CURLHE_OK)
		resp->retry_after_ms = http_parse_retry_after(hdr->value);
	return (rc);
}

/*
 * Attempt, back off and attempt again while the failure looks transient.
 * req->retries is the caller's word that repeating is harmless: a POST that
 * timed out may still have been carried out.
 */
static CURLcode
http_loop(CURL *h, const struct http_request *req, const char *logurl,
    struct http_buf *buf, char *errbuf, struct http_response *resp)
{
	const char	*method = req->method != NULL ? req->method : "GET";
	curl_off_t	 us;
	CURLcode	 rc;
	long		 delay;

	for (;;) {
		rc = http_attempt(h, buf, errbuf, resp);
		us = 0;
		curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
		if (rc == CURLE_OK)
			log_debug("%s %s: attempt %d: HTTP %ld, %ld ms", method,
			    logurl, resp->attempts, resp->status,
			    (long)(us / 1000));
		else
			log_debug("%s %s: attempt %d: %s, %ld ms", method,
			    logurl, resp->attempts, curl_easy_strerror(rc),
			    (long)(us / 1000));

		if (!http_transient(rc, resp->status) ||
		    resp->attempts > req->retries)
			return (rc);
		if (resp->retry_after_ms > HTTP_RETRY_AFTER_MAX_MS) {
			log_debug("%s %s: Retry-After %ld ms is too long",
			    method, logurl, resp->retry_after_ms);
			return (rc);
		}
		delay = http_backoff_ms(req, resp->attempts - 1,
		    resp->retry_after_ms);
		log_debug("%s %s: retrying in %ld ms", method, logurl, delay);
		http_sleep_ms(delay);
	}
}

/* Refuse requests whose auth cannot be sent safely. */
static int
http_check(const struct http_request *req, char **cause)
{
	if (req->url == NULL) {
		*cause = xstrdup("no URL");
		return (-1);
	}
	if (req->auth != HTTP_AUTH_NONE && req->secret == NULL) {
		*cause = xstrdup("no credentials for authenticated request");
		return (-1);
	}
	if ((req->auth == HTTP_AUTH_QUERY || req->auth == HTTP_AUTH_HEADER) &&
	    (req->auth_name == NULL || *req->auth_name == '\0')) {
		*cause = xstrdup("no name for query or header credentials");
		return (-1);
	}
	if (http_bad_header_text(req->secret) ||
	    http_bad_header_text(req->auth_name)) {
		*cause = xstrdup("credentials contain line breaks");
		return (-1);
	}
	return (0);
}

/*
 * Register the secret and its URL-escaped form for redaction, so neither
 * can leak through a curl error message or a log line.
 */
static void
http_add_secrets(const struct http_request *req)
{
	char	*esc;

	if (req->auth == HTTP_AUTH_NONE || req->secret == NULL)
		return;
	log_add_secret(req->secret);
	if ((esc = curl_easy_escape(NULL, req->secret, 0)) != NULL) {
		if (strcmp(esc, req->secret) != 0)
			log_add_secret(esc);
		curl_free(esc);
	}
}

/* Hand the last attempt's body to resp, or explain why there is none. */
static int
http_finish(const struct http_request *req, const char *logurl, CURLcode rc,
    struct http_buf *buf, const char *errbuf, struct http_response *resp,
    char **cause)
{
	const char	*method = req->method != NULL ? req->method : "GET";
	const char	*why;
	char		*msg, *tries = NULL;

	if (rc == CURLE_OK) {
		free(resp->body);
		resp->body = buf->data != NULL ? buf->data : xstrdup("");
		resp->len = buf->len;
		buf->data = NULL;
		/* All of the body must be JSON, not merely a prefix of it. */
		if (resp->len > 0)
			resp->json = cJSON_ParseWithLengthOpts(resp->body,
			    resp->len + 1, NULL, 1);
		return (0);
	}
	if (buf->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		why = "response body larger than 16 MiB";
	else
		why = *errbuf != '\0' ? errbuf : curl_easy_strerror(rc);
	if (resp->attempts > 1)
		xasprintf(&tries, " (after %d attempts)", resp->attempts);
	msg = xprintf("%s %s: %s%s", method, logurl, why,
	    tries != NULL ? tries : "");
	*cause = log_redact(msg);
	free(msg);
	free(tries);
	return (-1);
}

int
http_do(const struct http_request *req, struct http_response *resp,
    char **cause)
{
	struct http_buf		 buf = { NULL, 0, 0, 0 };
	struct curl_slist	*headers = NULL;
	CURL			*h = NULL;
	char			*url = NULL, *logurl = NULL;
	char			 errbuf[CURL_ERROR_SIZE];
	CURLcode		 rc;
	int			 ret = -1;

	memset(resp, 0, sizeof *resp);
	resp->body = xstrdup("");
	resp->retry_after_ms = -1;
	if (http_check(req, cause) != 0)
		return (-1);
	http_global_init();
	http_add_secrets(req);

	/* Logs name the URL without the query key; the key is added below. */
	logurl = log_redact(req->url);
	if (req->auth != HTTP_AUTH_QUERY)
		url = xstrdup(req->url);
	else if ((url = http_full_url(req, cause)) == NULL)
		goto out;
	if ((h = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	headers = http_headers(req);
	http_setup(h, req, url, headers, &buf, errbuf);

	rc = http_loop(h, req, logurl, &buf, errbuf, resp);
	ret = http_finish(req, logurl, rc, &buf, errbuf, resp, cause);
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	http_free_headers(headers);
	freezero_str(url);
	free(logurl);
	free(buf.data);
	return (ret);
}
