/* fuzz-proxy-request.c: libFuzzer target for the whole request path. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fleet.h"
#include "proxy-int.h"
#include "fuzz-lenient.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * What a client sends, as the proxy takes it: the head (parsed, Host
 * checked, framing decided), the head written upstream, then the body
 * moved upstream. When the proxy accepts a whole message, the bytes the
 * upstream gets must be exactly one message both to fleet's own parser
 * and to a lenient one (bare LF line ends): same head end, one framing
 * field that agrees with fleet's, the body ending at the last byte.
 */

/* The body after the head, moved until it ends; 1 whole, 0 short, -1. */
static int
fuzz_body(struct proxy_body *b, const uint8_t *p, size_t n,
    struct evbuffer *out)
{
	struct evbuffer	*in = evbuffer_new();
	size_t		 moved, before;
	int		 r, i;

	evbuffer_add(in, p, n);
	for (i = 0; i < 100000; i++) {
		before = evbuffer_get_length(in);
		r = proxy_body_move(b, in, out, 65536, &moved);
		if (r != 0 || (moved == 0 && evbuffer_get_length(in) == before))
			break;
	}
	evbuffer_free(in);
	return (r);
}

/* The upstream's bytes u (head of hlen, then the body): one message. */
static void
fuzz_one_message(const char *u, size_t n, size_t hlen,
    const struct proxy_body *sent)
{
	struct proxy_head	 h;
	struct proxy_body	 b;
	struct lenient_head	 lh;
	struct evbuffer		*out = evbuffer_new();
	const char		*host;
	size_t			 len;

	/* fleet's parser: the same head, framing and end. */
	FUZZ_CHECK(proxy_parse_head(u, n, 0, &h) == 1 && h.len == hlen);
	FUZZ_CHECK(proxy_req_host(&h, &host, &len) == 0 && host != NULL);
	FUZZ_CHECK(proxy_req_framing(&h, &b) == 0 && b.kind == sent->kind);
	if (b.kind == BODY_LENGTH)
		FUZZ_CHECK(hlen + b.left == n);
	else if (b.kind == BODY_NONE)
		FUZZ_CHECK(hlen == n);
	else
		FUZZ_CHECK(fuzz_body(&b, (const uint8_t *)u + hlen, n - hlen,
		    out) == 1 && evbuffer_get_length(out) == n - hlen);
	/* The lenient one: no bare CR or LF in the head, one framing. */
	FUZZ_CHECK(lenient_crlf_only(u, hlen));
	FUZZ_CHECK(lenient_head(u, n, &lh) == 0 && lh.len == hlen);
	FUZZ_CHECK(lh.nhost == 1 && lh.ncl + lh.nte <= 1);
	if (sent->kind == BODY_CHUNKED)
		FUZZ_CHECK(lh.nte == 1 && lh.chunked &&
		    lenient_chunked(u + hlen, n - hlen) == (long)(n - hlen));
	else
		FUZZ_CHECK(lh.nte == 0 && (lh.ncl == 0 ? 0 : lh.cl) ==
		    n - hlen);
	evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_head	 h;
	struct proxy_body	 b, sent;
	struct proxy_fwd	 fwd;
	struct evbuffer		*up;
	const char		*host;
	size_t			 hlen, len;
	int			 r;

	if (proxy_parse_head((const char *)data, size, 0, &h) != 1 ||
	    proxy_req_host(&h, &host, &len) != 0 ||
	    proxy_req_framing(&h, &b) != 0)
		return (0);
	if (host != NULL)
		(void)proxy_host_allowed(host, len, NULL, 0);
	/* fleet adds up to 5 fields: past 100, its own parser says 431. */
	if (h.nhdrs > PROXY_HEADERS_MAX - 5)
		return (0);
	/* Upgrades are tunnels after a 101: not one message. */
	if (proxy_head_get(&h, "Upgrade") != NULL &&
	    proxy_head_has(&h, "Connection", "upgrade"))
		return (0);
	memset(&fwd, 0, sizeof fwd);
	fwd.body = &b;
	fwd.hostport = "127.0.0.1:8080";
	fwd.peer = "127.0.0.1";
	fwd.token = "fuzz-token";
	fwd.close = h.minor == 0;
	sent = b;
	up = evbuffer_new();
	proxy_write_request(&h, &fwd, up);
	hlen = evbuffer_get_length(up);
	r = b.kind == BODY_NONE ? 1 : fuzz_body(&b, data + h.len,
	    size - h.len, up);
	if (r == 1)
		fuzz_one_message((const char *)evbuffer_pullup(up, -1),
		    evbuffer_get_length(up), hlen, &sent);
	evbuffer_free(up);
	return (0);
}
