/* fuzz-proxy-head.c: libFuzzer target for the proxy's head and body parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fleet.h"
#include "proxy-int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Everything the proxy does with a request head once it has parsed. */
static void
fuzz_request(const struct proxy_head *h, struct evbuffer *out)
{
	struct proxy_body	 b;
	struct proxy_fwd	 fwd;
	char			 name[128];
	int			 i;

	(void)proxy_req_framing(h, &b);
	(void)proxy_host_route(h, name, sizeof name);
	(void)proxy_head_has(h, "Connection", "upgrade");
	for (i = 0; i < h->nhdrs; i++)
		if (h->hdrs[i].nlen == 13)
			(void)proxy_auth_is(&h->hdrs[i], "fuzz-token");
	memset(&fwd, 0, sizeof fwd);
	fwd.hostport = "127.0.0.1:8080";
	fwd.peer = "127.0.0.1";
	fwd.token = "fuzz-token";
	fwd.upgrade = proxy_head_get(h, "Upgrade") != NULL;
	fwd.close = h->minor == 0;
	proxy_write_request(h, &fwd, out);
}

/* The bytes after a head, read as a chunked body and as a length body. */
static void
fuzz_body(const uint8_t *data, size_t size, struct evbuffer *out)
{
	struct evbuffer		*in = evbuffer_new();
	struct proxy_body	 b;
	size_t			 moved, i;

	memset(&b, 0, sizeof b);
	b.kind = BODY_CHUNKED;
	/* Fed in small pieces: every boundary must be handled. */
	for (i = 0; i < size; i += 7) {
		evbuffer_add(in, data + i, size - i < 7 ? size - i : 7);
		if (proxy_body_move(&b, in, out, 4096, &moved) != 0)
			break;
	}
	evbuffer_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_head	 h;
	struct proxy_body	 b;
	struct proxy_url	 u;
	struct evbuffer		*out = evbuffer_new();
	const char		*s = (const char *)data;
	char			*str;

	if (proxy_parse_head(s, size, 0, &h) == 1) {
		fuzz_request(&h, out);
		fuzz_body(data + h.len, size - h.len, out);
	}
	if (proxy_parse_head(s, size, 1, &h) == 1) {
		(void)proxy_resp_framing(&h, size & 1, &b);
		proxy_write_response(&h, "close", out);
	}
	str = xstrndup(s, size);
	(void)proxy_url_parse(str, &u);
	free(str);
	evbuffer_free(out);
	return (0);
}
