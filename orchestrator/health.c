/* health.c: readiness probes (http, websocket handshake, tcp) via libcurl. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fleet.h"
#include "config.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static size_t
health_discard(char *p __unused, size_t sz, size_t n, void *arg __unused)
{
	return (sz * n);
}

static CURL *
health_curl(const char *url, int64_t timeout)
{
	CURL	*c;

	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, health_discard);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fleet-health/" FLEET_VERSION);
	if (getenv("FLEET_CA_FILE") != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, getenv("FLEET_CA_FILE"));
	return (c);
}

/* GET path; healthy on 2xx/3xx. */
static int
health_http(const char *base, const struct tmpl_health *h, char **cause)
{
	CURL		*c;
	CURLcode	 rc;
	long		 status = 0;
	char		*url;

	url = xprintf("%s%s", base, h->path != NULL ? h->path : "/");
	c = health_curl(url, h->timeout > 0 ? h->timeout : 5);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		*cause = xprintf("GET %s: %s", url, curl_easy_strerror(rc));
	else if (status < 200 || status >= 400)
		*cause = xprintf("GET %s: HTTP %ld", url, status);
	free(url);
	return (rc == CURLE_OK && status >= 200 && status < 400 ? 0 : -1);
}

/* Wait (at most 50 ms) for a connect-only handle's socket to be ready. */
static void
health_wait(CURL *c, short events)
{
	curl_socket_t	 fd;
	struct pollfd	 pfd;

	if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
	    fd == CURL_SOCKET_BAD)
		return;
	pfd.fd = fd;
	pfd.events = events;
	poll(&pfd, 1, 50);
}

/* Send all of buf on a connect-only handle, waiting as needed. */
static int
health_send(CURL *c, const char *buf, size_t len, int64_t deadline)
{
	size_t		 sent;
	CURLcode	 rc;

	while (len > 0 && now_mono_ms() < deadline) {
		rc = curl_easy_send(c, buf, len, &sent);
		if (rc == CURLE_AGAIN) {
			health_wait(c, POLLOUT);
			continue;
		}
		if (rc != CURLE_OK)
			return (-1);
		buf += sent;
		len -= sent;
	}
	return (len == 0 ? 0 : -1);
}

/* Read a response head (up to the blank line) into buf. */
static int
health_recv_head(CURL *c, char *buf, size_t cap, int64_t deadline)
{
	size_t		 got = 0, n;
	CURLcode	 rc;

	while (got + 1 < cap && now_mono_ms() < deadline) {
		rc = curl_easy_recv(c, buf + got, cap - got - 1, &n);
		if (rc == CURLE_AGAIN) {
			health_wait(c, POLLIN);
			continue;
		}
		if (rc != CURLE_OK || n == 0)
			return (-1);
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return (0);
	}
	return (-1);
}

/* The Sec-WebSocket-Accept value expected for key (RFC 6455 4.2.2). */
static void
health_ws_accept(const char *key, char *out, size_t outlen)
{
	unsigned char	 digest[SHA_DIGEST_LENGTH];
	char		*cat;

	cat = xprintf("%s%s", key, WS_GUID);
	SHA1((const unsigned char *)cat, strlen(cat), digest);
	free(cat);
	if (outlen >= 29)
		EVP_EncodeBlock((unsigned char *)out, digest, sizeof digest);
}

/* Complete a WebSocket opening handshake: 101 with the right accept. */
static int
health_ws(const char *base, const struct tmpl_health *h, char **cause)
{
	static const char	 key[] = "ZmxlZXQtaGVhbHRoLXByb2Jl";
	CURL			*c;
	CURLcode		 rc;
	char			*req, *host, head[4096], accept[32] = "";
	const char		*hp;
	int64_t			 deadline;
	int			 ok = -1;

	c = health_curl(base, h->timeout > 0 ? h->timeout : 5);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	deadline = now_mono_ms() + (h->timeout > 0 ? h->timeout : 5) * 1000;
	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		*cause = xprintf("websocket %s: %s", base,
		    curl_easy_strerror(rc));
		curl_easy_cleanup(c);
		return (-1);
	}
	hp = strstr(base, "://");
	host = xstrdup(hp != NULL ? hp + 3 : base);
	host[strcspn(host, "/")] = '\0';
	req = xprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n",
	    h->path != NULL ? h->path : "/", host, key);
	health_ws_accept(key, accept, sizeof accept);
	if (health_send(c, req, strlen(req), deadline) != 0 ||
	    health_recv_head(c, head, sizeof head, deadline) != 0)
		*cause = xprintf("websocket %s%s: no handshake reply", base,
		    h->path != NULL ? h->path : "/");
	else if (strncmp(head, "HTTP/1.1 101", 12) != 0)
		*cause = xprintf("websocket %s%s: %.*s", base,
		    h->path != NULL ? h->path : "/", (int)strcspn(head, "\r"),
		    head);
	else if (strcasestr(head, accept) == NULL)
		*cause = xprintf("websocket %s: wrong Sec-WebSocket-Accept",
		    base);
	else
		ok = 0;
	free(req);
	free(host);
	curl_easy_cleanup(c);
	return (ok);
}

/* Open a TCP (or TLS, for https) connection and close it. */
static int
health_tcp(const char *base, const struct tmpl_health *h, char **cause)
{
	CURL		*c;
	CURLcode	 rc;
	char		*url;

	if (strncmp(base, "tcp://", 6) == 0)
		url = xprintf("http://%s", base + 6);
	else
		url = xstrdup(base);
	c = health_curl(url, h->timeout > 0 ? h->timeout : 5);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		*cause = xprintf("connect %s: %s", base, curl_easy_strerror(rc));
	free(url);
	return (rc == CURLE_OK ? 0 : -1);
}

/*
 * One probe of the template's health check against the upstream base URL
 * (scheme://host:port). 0 healthy; -1 not (yet), with the reason.
 */
int
health_probe(const struct fleet_template *t, const char *upstream,
    char **cause)
{
	const struct tmpl_health	*h = &t->health;

	switch (h->kind) {
	case HEALTH_HTTP:
		if (strncmp(upstream, "tcp://", 6) == 0)
			return (health_tcp(upstream, h, cause));
		return (health_http(upstream, h, cause));
	case HEALTH_WS:
		return (health_ws(upstream, h, cause));
	case HEALTH_TCP:
		return (health_tcp(upstream, h, cause));
	case HEALTH_SSH:
		break;
	}
	*cause = xprintf("template %s: health type ssh needs an SSH session, "
	    "which this build does not have; use http, ws or tcp", t->name);
	return (-1);
}
