/* fuzz-proxy-chunked.c: libFuzzer target for the chunked body parser. */
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
 * Input: one byte of piece size, one of output cap, then a chunked body
 * (and whatever follows it). The body goes through proxy_body_move twice:
 * whole, and in pieces with a small cap. Both must end the same way with
 * the same output, and a complete body's output must be canonical
 * chunked framing (what fleet writes itself: sizes, data, CRLFs, no
 * extensions, no trailers) that a lenient reader ends at the same byte.
 */

struct run {
	int		 r;
	struct evbuffer	*out;
	size_t		 used;		/* input consumed */
};

/* Call until it ends or stops moving; input added piece bytes a time. */
static void
fuzz_run(const uint8_t *p, size_t n, size_t piece, size_t max,
    struct run *run)
{
	struct evbuffer		*in = evbuffer_new();
	struct proxy_body	 b;
	size_t			 off = 0, moved, before;
	int			 r = 0, i;

	memset(&b, 0, sizeof b);
	b.kind = BODY_CHUNKED;
	run->out = evbuffer_new();
	while (r == 0) {
		if (off < n) {
			evbuffer_add(in, p + off, n - off < piece ?
			    n - off : piece);
			off += n - off < piece ? n - off : piece;
		}
		/* A small cap ends a call early: call again while it moves. */
		for (i = 0; i < 100000; i++) {
			before = evbuffer_get_length(in);
			r = proxy_body_move(&b, in, run->out, max, &moved);
			if (r != 0 || (moved == 0 &&
			    evbuffer_get_length(in) == before))
				break;
		}
		if (off == n && r == 0)
			break;
	}
	run->r = r;
	run->used = off - evbuffer_get_length(in);
	evbuffer_free(in);
}

/* fleet's own framing: hex CRLF data CRLF ... 0 CRLF CRLF, all of it. */
static void
fuzz_canonical(const char *p, size_t n)
{
	const char	*end = p + n, *q = p;
	uint64_t	 size;

	for (;;) {
		for (size = 0; q < end && isxdigit((unsigned char)*q); q++)
			size = size * 16 + (isdigit((unsigned char)*q) ?
			    *q - '0' : tolower((unsigned char)*q) - 'a' + 10);
		FUZZ_CHECK(end - q >= 2 && q[0] == '\r' && q[1] == '\n');
		q += 2;
		if (size == 0)
			break;
		FUZZ_CHECK((uint64_t)(end - q) >= size + 2);
		q += size;
		FUZZ_CHECK(q[0] == '\r' && q[1] == '\n');
		q += 2;
	}
	FUZZ_CHECK(end - q == 2 && q[0] == '\r' && q[1] == '\n');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 whole, parts;
	size_t		 n;
	const char	*a, *b;

	if (size < 2)
		return (0);
	fuzz_run(data + 2, size - 2, size - 2 + 1, (size_t)1 << 30, &whole);
	fuzz_run(data + 2, size - 2, 1 + data[0] % 16, 1 + data[1] * 4,
	    &parts);
	/* Where the pieces fall changes nothing. */
	FUZZ_CHECK(whole.r == parts.r);
	if (whole.r == 1) {
		FUZZ_CHECK(whole.used == parts.used);
		n = evbuffer_get_length(whole.out);
		FUZZ_CHECK(n == evbuffer_get_length(parts.out));
		a = (const char *)evbuffer_pullup(whole.out, -1);
		b = (const char *)evbuffer_pullup(parts.out, -1);
		FUZZ_CHECK(memcmp(a, b, n) == 0);
		fuzz_canonical(a, n);
		/* A lenient upstream ends the body where fleet did. */
		FUZZ_CHECK(lenient_chunked(a, n) == (long)n);
	}
	evbuffer_free(whole.out);
	evbuffer_free(parts.out);
	return (0);
}
