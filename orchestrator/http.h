/* http.h: the shared libcurl + cJSON client every driver talks through. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum http_auth {
	HTTP_AUTH_NONE,
	HTTP_AUTH_BEARER,	/* Authorization: Bearer <secret> */
	HTTP_AUTH_BASIC,	/* secret is "user:password" or "key:" */
	HTTP_AUTH_QUERY,	/* ?<query_param>=<secret> */
	HTTP_AUTH_HEADER,	/* <header_name>: <secret> */
};

struct http_request {
	const char	*method;	/* "GET" (default), "POST", ... */
	const char	*url;
	enum http_auth	 auth;
	const char	*secret;	/* never logged; redacted everywhere */
	const char	*auth_name;	/* query param or header name */
	const char     **headers;	/* extra "Name: value", NULL-ended */
	const char	*body;		/* request body, or NULL */
	const char	*content_type;	/* default application/json */
	long		 connect_timeout_ms;	/* default 5000 */
	long		 timeout_ms;		/* default 30000 */
	int		 retries;	/* extra attempts on 429/5xx/conn;
					   0 for creates: a timed-out POST
					   may have happened */
	long		 backoff_ms;	/* first backoff, default 500 */
	long		 backoff_max_ms;	/* cap, default 30000 */
	const char	*ca_file;	/* extra CA (tests); else $FLEET_CA_FILE */
};

struct http_response {
	long		 status;	/* 0 if no response arrived */
	char		*body;		/* NUL-terminated, may be empty */
	size_t		 len;
	cJSON		*json;		/* parsed body when it is JSON */
	int		 attempts;
	long		 retry_after_ms;	/* from the last response, -1 */
	int		 curl_code;	/* last CURLcode */
};

/*
 * Perform a request with retries. Returns 0 when an HTTP response arrived
 * (any status: the caller maps it), -1 when none did (cause says why, with
 * the secret redacted). Always fills resp; free it with http_response_free.
 */
int	 http_do(const struct http_request *, struct http_response *,
	    char **cause);
void	 http_response_free(struct http_response *);
void	 http_global_init(void);
void	 http_global_cleanup(void);
/* Delay before retry n (0-based): exponential, jittered, capped. */
long	 http_backoff_ms(const struct http_request *, int attempt,
	    long retry_after_ms);
/* Parse a Retry-After value (seconds or HTTP date) into ms, -1 if bad. */
long	 http_parse_retry_after(const char *);

#endif
