/* proxy-http.c: strict HTTP/1.x head parsing, framing and rewriting. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "fleet.h"
#include "proxy-int.h"

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

static int
http_tchar(int c)
{
	return (isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c)));
}

/* Field value and reason text: HTAB, SP, VCHAR, obs-text. */
static int
http_vchar(int c)
{
	return (c == '\t' || (c >= 0x20 && c != 0x7f));
}

static int
http_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1'))
		return (-1);
	*minor = p[7] - '0';
	return (0);
}

/* "METHOD SP request-target SP HTTP/1.x" */
static int
http_request_line(const char *p, size_t n, struct proxy_head *h)
{
	const char	*sp1, *sp2, *end = p + n, *q;

	if ((sp1 = memchr(p, ' ', n)) == NULL || sp1 == p ||
	    (sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1)) == NULL ||
	    sp2 == sp1 + 1)
		return (-1);
	for (q = p; q < sp1; q++)
		if (!http_tchar((unsigned char)*q))
			return (-1);
	for (q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return (-1);
	if (http_version(sp2 + 1, end - sp2 - 1, &h->minor) != 0)
		return (-1);
	h->method = p;
	h->mlen = sp1 - p;
	h->target = sp1 + 1;
	h->tlen = sp2 - sp1 - 1;
	return (0);
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" */
static int
http_status_line(const char *p, size_t n, struct proxy_head *h)
{
	size_t	 i;

	if (n < 12 || http_version(p, 8, &h->minor) != 0 || p[8] != ' ')
		return (-1);
	for (i = 9; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return (-1);
	if (p[9] == '0' || (n > 12 && p[12] != ' '))
		return (-1);
	for (i = 12; i < n; i++)
		if (!http_vchar((unsigned char)p[i]))
			return (-1);
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return (0);
}

/* "name: value"; no obs-fold, no space before the colon. */
static int
http_field(const char *p, size_t n, struct proxy_head *h)
{
	const char		*colon, *v, *end = p + n, *q;
	struct proxy_hdr	*f;

	if ((colon = memchr(p, ':', n)) == NULL || colon == p)
		return (-1);
	for (q = p; q < colon; q++)
		if (!http_tchar((unsigned char)*q))
			return (-1);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (q = v; q < end; q++)
		if (!http_vchar((unsigned char)*q))
			return (-1);
	if (h->nhdrs == PROXY_HEADERS_MAX)
		return (-2);
	f = &h->hdrs[h->nhdrs++];
	f->name = p;
	f->nlen = colon - p;
	f->value = v;
	f->vlen = end - v;
	return (0);
}

/*
 * Parse a head that ends at the first empty line. Returns 1 when complete
 * and valid (h->len is its length), 0 if the blank line has not arrived,
 * -1 if malformed and -2 if it has too many fields.
 */
int
proxy_parse_head(const char *buf, size_t len, int response,
    struct proxy_head *h)
{
	const char	*end, *line, *eol;
	int		 r;

	h->response = response;
	h->nhdrs = 0;
	h->method = h->target = NULL;
	h->mlen = h->tlen = 0;
	h->status = 0;
	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return (0);
	h->len = end - buf + 4;
	end += 2;		/* lines are [buf, end), each CRLF-ended */
	for (line = buf; line < end; line = eol + 2) {
		eol = memmem(line, end - line, "\r\n", 2);
		if (line == buf) {
			h->line = line;
			h->llen = eol - line;
			r = response ? http_status_line(line, eol - line, h) :
			    http_request_line(line, eol - line, h);
		} else
			r = http_field(line, eol - line, h);
		if (r != 0)
			return (r);
	}
	return (1);
}

static int
http_name_is(const struct proxy_hdr *f, const char *name)
{
	return (f->nlen == strlen(name) &&
	    strncasecmp(f->name, name, f->nlen) == 0);
}

/* The first field called name, or NULL. */
const struct proxy_hdr *
proxy_head_get(const struct proxy_head *h, const char *name)
{
	int	 i;

	for (i = 0; i < h->nhdrs; i++)
		if (http_name_is(&h->hdrs[i], name))
			return (&h->hdrs[i]);
	return (NULL);
}

/* Does a comma-separated list value contain token (n bytes)? */
static int
http_list_has(const char *v, size_t vlen, const char *token, size_t n)
{
	const char	*p = v, *end = v + vlen, *e, *te;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		for (e = p; e < end && *e != ','; e++)
			;
		for (te = e; te > p && (te[-1] == ' ' || te[-1] == '\t'); te--)
			;
		if ((size_t)(te - p) == n && strncasecmp(p, token, n) == 0)
			return (1);
		p = e;
	}
	return (0);
}

/* Does any field called name list token? */
int
proxy_head_has(const struct proxy_head *h, const char *name,
    const char *token)
{
	int	 i;

	for (i = 0; i < h->nhdrs; i++)
		if (http_name_is(&h->hdrs[i], name) &&
		    http_list_has(h->hdrs[i].value, h->hdrs[i].vlen, token,
		    strlen(token)))
			return (1);
	return (0);
}

/* Content-Length: digits only, every copy equal; -1 bad, 0 none, 1 set. */
static int
http_content_length(const struct proxy_head *h, uint64_t *len)
{
	const struct proxy_hdr	*f;
	uint64_t		 n;
	size_t			 j;
	int			 i, seen = 0;

	for (i = 0; i < h->nhdrs; i++) {
		f = &h->hdrs[i];
		if (!http_name_is(f, "Content-Length"))
			continue;
		if (f->vlen == 0 || f->vlen > 18)
			return (-1);
		for (n = 0, j = 0; j < f->vlen; j++) {
			if (!isdigit((unsigned char)f->value[j]))
				return (-1);
			n = n * 10 + (f->value[j] - '0');
		}
		if (seen && n != *len)
			return (-1);
		*len = n;
		seen = 1;
	}
	return (seen);
}

/* Request framing (RFC 9112 6.3), strict: smuggling shapes are errors. */
int
proxy_req_framing(const struct proxy_head *h, struct proxy_body *b)
{
	const struct proxy_hdr	*te;
	uint64_t		 len = 0;
	int			 i, nte = 0, cl;

	memset(b, 0, sizeof *b);
	for (i = 0; i < h->nhdrs; i++)
		if (http_name_is(&h->hdrs[i], "Transfer-Encoding"))
			nte++;
	if ((cl = http_content_length(h, &len)) == -1)
		return (-1);
	if (nte != 0) {
		te = proxy_head_get(h, "Transfer-Encoding");
		if (nte != 1 || cl != 0 || h->minor == 0 || te->vlen != 7 ||
		    strncasecmp(te->value, "chunked", 7) != 0)
			return (-1);
		b->kind = BODY_CHUNKED;
		return (0);
	}
	if (len != 0) {
		b->kind = BODY_LENGTH;
		b->left = len;
	}
	return (0);
}

/* Response framing: HEAD, 1xx, 204 and 304 have no body. */
int
proxy_resp_framing(const struct proxy_head *h, int head_req,
    struct proxy_body *b)
{
	const struct proxy_hdr	*te = NULL;
	uint64_t		 len = 0;
	const char		*p;
	int			 i, cl;

	memset(b, 0, sizeof *b);
	if (head_req || h->status / 100 == 1 || h->status == 204 ||
	    h->status == 304)
		return (0);
	for (i = 0; i < h->nhdrs; i++)
		if (http_name_is(&h->hdrs[i], "Transfer-Encoding"))
			te = &h->hdrs[i];
	if (te != NULL) {
		/* Chunked only if it is the last coding. */
		p = te->value + te->vlen;
		b->kind = te->vlen >= 7 && strncasecmp(p - 7, "chunked", 7)
		    == 0 && (te->vlen == 7 || strchr(", \t", p[-8]) != NULL) ?
		    BODY_CHUNKED : BODY_EOF;
		return (0);
	}
	if ((cl = http_content_length(h, &len)) == -1)
		return (-1);
	if (cl == 0)
		b->kind = BODY_EOF;
	else if (len != 0) {
		b->kind = BODY_LENGTH;
		b->left = len;
	}
	return (0);
}

/*
 * "1a", or "1a" BWS [";ext"]: the chunk size, at most 15 hex digits. An
 * extension must start with ';' ("5 zz" is refused); it is not forwarded.
 * Spaces after the size alone are taken: some servers pad sizes so.
 */
static int
http_chunk_size(const char *p, size_t n, uint64_t *size)
{
	size_t	 i;
	int	 c;

	*size = 0;
	for (i = 0; i < n && isxdigit((unsigned char)p[i]); i++) {
		if (i == 15)
			return (-1);
		c = tolower((unsigned char)p[i]);
		*size = (*size << 4) | (uint64_t)(isdigit(c) ? c - '0' :
		    c - 'a' + 10);
	}
	if (i == 0)
		return (-1);
	if (i == n)
		return (0);
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n)
		return (0);
	if (p[i] != ';')
		return (-1);
	for (; i < n; i++)
		if (!http_vchar((unsigned char)p[i]))
			return (-1);
	return (0);
}

/* A trailer line is a header field: token, colon, field value. */
static int
http_trailer_field(const char *p, size_t n)
{
	const char	*colon;
	size_t		 i;

	if ((colon = memchr(p, ':', n)) == NULL || colon == p)
		return (-1);
	for (i = 0; p + i < colon; i++)
		if (!http_tchar((unsigned char)p[i]))
			return (-1);
	for (i = colon + 1 - p; i < n; i++)
		if (!http_vchar((unsigned char)p[i]))
			return (-1);
	return (0);
}

/*
 * The next line of chunk framing: 1 with its length (CRLF not counted),
 * 0 to wait, -1 if it is too long or ends in a bare LF. A lenient
 * upstream would end a line at that LF where we would not: two views of
 * one message are what smuggling needs.
 */
static int
http_framing_line(struct evbuffer *in, size_t *len)
{
	struct evbuffer_ptr	 pos;
	const char		*p;

	pos = evbuffer_search(in, "\n", 1, NULL);
	if (pos.pos == -1)
		return (evbuffer_get_length(in) > PROXY_CHUNK_LINE_MAX ?
		    -1 : 0);
	if (pos.pos == 0 || pos.pos > PROXY_CHUNK_LINE_MAX)
		return (-1);
	p = (const char *)evbuffer_pullup(in, pos.pos + 1);
	if (p[pos.pos - 1] != '\r')
		return (-1);
	*len = pos.pos - 1;
	return (1);
}

/*
 * A chunk-size or trailer line. Nothing of it is copied: fleet writes the
 * size itself, without extensions, and drops trailer fields once they
 * have parsed as fields (as nginx does). 1 done, 0 wait, -1 bad.
 */
static int
http_chunk_line(struct proxy_body *b, struct evbuffer *in,
    struct evbuffer *out, size_t *moved)
{
	const char	*p;
	size_t		 n;
	int		 r, len = 0;

	if ((r = http_framing_line(in, &n)) != 1)
		return (r);
	p = (const char *)evbuffer_pullup(in, n + 2);
	if (b->cstate == CH_SIZE) {
		if (http_chunk_size(p, n, &b->left) != 0)
			return (-1);
		len = evbuffer_add_printf(out, "%llx\r\n",
		    (unsigned long long)b->left);
		b->cstate = b->left != 0 ? CH_DATA : CH_TRAILER;
	} else if (n == 0) {
		len = evbuffer_add(out, "\r\n", 2) == 0 ? 2 : 0;
		b->cstate = -1;		/* the end of the message */
	} else if ((b->tlen += n + 2) > PROXY_TRAILER_MAX ||
	    http_trailer_field(p, n) != 0)
		return (-1);
	evbuffer_drain(in, n + 2);
	*moved += len > 0 ? len : 0;
	return (1);
}

/* One step through a chunked body; 1 progress, 0 wait, -1 bad. */
static int
http_chunked_step(struct proxy_body *b, struct evbuffer *in,
    struct evbuffer *out, size_t max, size_t *moved)
{
	size_t		 n, avail = evbuffer_get_length(in);
	const char	*p;

	switch (b->cstate) {
	case CH_SIZE:
	case CH_TRAILER:
		return (http_chunk_line(b, in, out, moved));
	case CH_DATA:
		n = avail < b->left ? avail : b->left;
		if (n > max - *moved)
			n = max - *moved;
		if (n == 0)
			return (0);
		evbuffer_remove_buffer(in, out, n);
		*moved += n;
		if ((b->left -= n) == 0)
			b->cstate = CH_DATA_END;
		return (1);
	}
	if (avail == 0)
		return (0);
	p = (const char *)evbuffer_pullup(in, avail < 2 ? 1 : 2);
	if (p[0] != '\r' || (avail >= 2 && p[1] != '\n'))
		return (-1);	/* a bare LF is no line end */
	if (avail < 2)
		return (0);
	evbuffer_remove_buffer(in, out, 2);
	*moved += 2;
	b->cstate = CH_SIZE;
	return (1);
}

/*
 * Move body bytes from in to out, at most about max: length bodies as
 * they are; chunked ones with their data as is and their framing
 * written by us (sizes in hex, no extensions, no trailers). Returns 1 when the message ends, 0 for more, -1 if the
 * framing is broken.
 */
int
proxy_body_move(struct proxy_body *b, struct evbuffer *in,
    struct evbuffer *out, size_t max, size_t *moved)
{
	size_t	 n = evbuffer_get_length(in);
	int	 r = 0;

	*moved = 0;
	switch (b->kind) {
	case BODY_NONE:
		return (1);
	case BODY_LENGTH:
	case BODY_EOF:
		if (n > max)
			n = max;
		if (b->kind == BODY_LENGTH && n > b->left)
			n = b->left;
		evbuffer_remove_buffer(in, out, n);
		*moved = n;
		if (b->kind == BODY_EOF)
			return (0);
		return ((b->left -= n) == 0);
	case BODY_CHUNKED:
		break;
	}
	while (*moved < max &&
	    (r = http_chunked_step(b, in, out, max, moved)) == 1) {
		if (b->cstate == -1)
			return (1);
	}
	return (*moved < max ? r : 0);
}

/*
 * The fleet token in an Authorization field. Digests are compared, so the
 * time taken tells neither how many bytes matched nor the token's length.
 */
int
proxy_auth_is(const struct proxy_hdr *f, const char *token)
{
	unsigned char	 a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	if (f->vlen < 7 || strncasecmp(f->value, "Bearer ", 7) != 0)
		return (0);
	SHA256((const unsigned char *)f->value + 7, f->vlen - 7, a);
	SHA256((const unsigned char *)token, strlen(token), b);
	return (CRYPTO_memcmp(a, b, sizeof a) == 0);
}

/*
 * Fields a Connection option may not remove: the framing, Host, and what
 * fleet writes itself. "Connection: Content-Length" would otherwise drop
 * the field that framed the body, and the upstream would read the body
 * as a request of its own (nginx ignores such options too).
 */
static int
http_protected(const struct proxy_hdr *f)
{
	static const char *keep[] = { "Content-Length", "Transfer-Encoding",
	    "Host", "X-Forwarded-For", "X-Forwarded-Proto",
	    "X-Forwarded-Host" };
	size_t	 i;

	for (i = 0; i < nitems(keep); i++)
		if (http_name_is(f, keep[i]))
			return (1);
	return (0);
}

/* Hop-by-hop: never forwarded (RFC 9110 7.6.1). */
static int
http_hop(const struct proxy_head *h, const struct proxy_hdr *f,
    int keep_upgrade)
{
	static const char *hop[] = { "Connection", "Keep-Alive",
	    "Proxy-Connection", "TE", "Trailer" };
	size_t	 i;

	if (http_name_is(f, "Upgrade"))
		return (!keep_upgrade);
	for (i = 0; i < nitems(hop); i++)
		if (http_name_is(f, hop[i]))
			return (1);
	if (http_protected(f))
		return (0);
	for (i = 0; i < (size_t)h->nhdrs; i++)
		if (http_name_is(&h->hdrs[i], "Connection") &&
		    http_list_has(h->hdrs[i].value, h->hdrs[i].vlen, f->name,
		    f->nlen))
			return (1);
	return (0);
}

static void
http_add_field(struct evbuffer *out, const struct proxy_hdr *f)
{
	evbuffer_add(out, f->name, f->nlen);
	evbuffer_add(out, ": ", 2);
	evbuffer_add(out, f->value, f->vlen);
	evbuffer_add(out, "\r\n", 2);
}

/* X-Forwarded-For: what the client sent, then the client's address. */
static void
http_add_xff(const struct proxy_head *h, const char *peer,
    struct evbuffer *out)
{
	const struct proxy_hdr	*f;
	int			 i;

	evbuffer_add_printf(out, "X-Forwarded-For: ");
	for (i = 0; i < h->nhdrs; i++) {
		f = &h->hdrs[i];
		if (!http_name_is(f, "X-Forwarded-For") || f->vlen == 0)
			continue;
		evbuffer_add(out, f->value, f->vlen);
		evbuffer_add(out, ", ", 2);
	}
	evbuffer_add_printf(out, "%s\r\n", peer);
}

/* "scheme://authority/path": where the authority starts, or NULL. */
static const char *
http_absolute(const struct proxy_head *h, size_t *slen)
{
	if (h->tlen >= 7 && strncasecmp(h->target, "http://", 7) == 0)
		*slen = 7;
	else if (h->tlen >= 8 && strncasecmp(h->target, "https://", 8) == 0)
		*slen = 8;
	else
		return (NULL);
	return (h->target + *slen);
}

/* An absolute-form target's authority, up to the path or query. */
static size_t
http_authority_len(const char *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && a[i] != '/' && a[i] != '?' && a[i] != '#'; i++)
		;
	return (i);
}

/* The request line, with an absolute-form target cut to origin form. */
static void
http_add_request_line(const struct proxy_head *h, struct evbuffer *out)
{
	const char	*a, *path, *end = h->target + h->tlen;
	size_t		 slen;

	if ((a = http_absolute(h, &slen)) == NULL) {
		evbuffer_add(out, h->line, h->llen);
		evbuffer_add(out, "\r\n", 2);
		return;
	}
	path = a + http_authority_len(a, end - a);
	evbuffer_add(out, h->method, h->mlen);
	evbuffer_add(out, " ", 1);
	if (path == end || *path != '/')
		evbuffer_add(out, "/", 1);
	evbuffer_add(out, path, end - path);
	evbuffer_add_printf(out, " HTTP/1.%d\r\n", h->minor);
}

/* The framing fleet parsed, written by fleet: never the client's copy. */
static void
http_add_framing(const struct proxy_head *h, const struct proxy_body *b,
    struct evbuffer *out)
{
	if (b != NULL && b->kind == BODY_CHUNKED)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	else if (b != NULL && b->kind == BODY_LENGTH)
		evbuffer_add_printf(out, "Content-Length: %llu\r\n",
		    (unsigned long long)b->left);
	else if (proxy_head_get(h, "Content-Length") != NULL)
		evbuffer_add_printf(out, "Content-Length: 0\r\n");
}

/* The request head as the upstream gets it. */
void
proxy_write_request(const struct proxy_head *h, const struct proxy_fwd *fwd,
    struct evbuffer *out)
{
	const struct proxy_hdr	*f;
	const char		*host;
	size_t			 hlen;
	int			 i;

	http_add_request_line(h, out);
	for (i = 0; i < h->nhdrs; i++) {
		f = &h->hdrs[i];
		if (http_hop(h, f, fwd->upgrade) || http_name_is(f, "Host") ||
		    http_name_is(f, "Content-Length") ||
		    http_name_is(f, "Transfer-Encoding") ||
		    http_name_is(f, "X-Forwarded-For") ||
		    http_name_is(f, "X-Forwarded-Proto") ||
		    http_name_is(f, "X-Forwarded-Host") ||
		    (fwd->token != NULL && http_name_is(f, "Authorization") &&
		    proxy_auth_is(f, fwd->token)))
			continue;
		http_add_field(out, f);
	}
	evbuffer_add_printf(out, "Host: %s\r\n", fwd->hostport);
	http_add_framing(h, fwd->body, out);
	http_add_xff(h, fwd->peer, out);
	evbuffer_add_printf(out, "X-Forwarded-Proto: http\r\n");
	if (proxy_req_host(h, &host, &hlen) == 0 && host != NULL) {
		evbuffer_add_printf(out, "X-Forwarded-Host: ");
		evbuffer_add(out, host, hlen);
		evbuffer_add(out, "\r\n", 2);
	}
	if (fwd->upgrade)
		evbuffer_add_printf(out, "Connection: Upgrade\r\n");
	else if (fwd->close)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add(out, "\r\n", 2);
}

/* The response head as the client gets it; conn is our Connection. */
void
proxy_write_response(const struct proxy_head *h, const char *conn,
    struct evbuffer *out)
{
	int	 i;

	evbuffer_add(out, h->line, h->llen);
	evbuffer_add(out, "\r\n", 2);
	for (i = 0; i < h->nhdrs; i++)
		if (!http_hop(h, &h->hdrs[i], h->status == 101))
			http_add_field(out, &h->hdrs[i]);
	if (conn != NULL)
		evbuffer_add_printf(out, "Connection: %s\r\n", conn);
	evbuffer_add(out, "\r\n", 2);
}

/* http://host[:port][/...], https://..., tcp://host:port. */
int
proxy_url_parse(const char *s, struct proxy_url *u)
{
	const char	*p, *e;
	char		*end;
	long		 port;

	memset(u, 0, sizeof *u);
	if (strncmp(s, "http://", 7) == 0)
		u->dflt_port = 80;
	else if (strncmp(s, "https://", 8) == 0) {
		u->tls = 1;
		u->dflt_port = 443;
	} else if (strncmp(s, "tcp://", 6) == 0)
		u->tcp = 1;
	else
		return (-1);
	p = strstr(s, "://") + 3;
	if (*p == '[') {
		if ((e = strchr(p, ']')) == NULL)
			return (-1);
		p++;
	} else
		e = p + strcspn(p, ":/");
	if (e == p || (size_t)(e - p) >= sizeof u->host)
		return (-1);
	memcpy(u->host, p, e - p);
	if (strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
	    "XYZ0123456789-._:") != strlen(u->host))
		return (-1);
	p = *e == ']' ? e + 1 : e;
	u->port = u->dflt_port;
	if (*p == ':') {
		port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port < 1 || port > 65535)
			return (-1);
		u->port = (int)port;
		p = end;
	}
	if ((*p != '\0' && *p != '/') || u->port == 0)
		return (-1);
	return (0);
}

/* Characters of a Host value: reg-name, IP literal, port (RFC 3986). */
static int
http_host_chars(const char *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) &&
		    strchr("-._~%!$&'()*+,;=:[]", v[i]) == NULL)
			return (-1);
	return (0);
}

/*
 * The host a request is for (RFC 9112 3.2): the authority of an
 * absolute-form target, else the Host field; *host is NULL for HTTP/1.0
 * without one. -1 (answer 400, as nginx does) for HTTP/1.1 without Host,
 * two Host fields, or a value that is no host.
 */
int
proxy_req_host(const struct proxy_head *h, const char **host, size_t *len)
{
	const struct proxy_hdr	*f = NULL;
	const char		*a;
	size_t			 slen;
	int			 i;

	*host = NULL;
	*len = 0;
	for (i = 0; i < h->nhdrs; i++) {
		if (!http_name_is(&h->hdrs[i], "Host"))
			continue;
		if (f != NULL)
			return (-1);
		f = &h->hdrs[i];
	}
	if (f == NULL && h->minor == 1)
		return (-1);
	if ((a = http_absolute(h, &slen)) != NULL) {
		*host = a;
		*len = http_authority_len(a, h->tlen - slen);
		if (*len == 0 || memchr(a, '@', *len) != NULL)
			return (-1);	/* no userinfo in requests */
	} else if (f != NULL) {
		*host = f->value;
		*len = f->vlen;
	}
	if (*host != NULL && http_host_chars(*host, *len) != 0)
		return (-1);
	return (0);
}

/* The host of "host[:port]" or "[v6][:port]", without a final dot. */
static int
http_host_part(const char *v, size_t n, size_t *hlen)
{
	const char	*e;
	size_t		 i, j;

	if (n > 0 && v[0] == '[') {
		if ((e = memchr(v, ']', n)) == NULL)
			return (-1);
		i = e - v + 1;
	} else
		for (i = 0; i < n && v[i] != ':'; i++)
			;
	if (i < n && v[i] != ':')
		return (-1);
	for (j = i + 1; j < n; j++)
		if (!isdigit((unsigned char)v[j]))
			return (-1);
	if (i > 1 && v[i - 1] == '.')
		i--;
	*hlen = i;
	return (i == 0 ? -1 : 0);
}

static int
http_host_is(const char *h, size_t n, const char *name)
{
	return (n == strlen(name) && strncasecmp(h, name, n) == 0);
}

/*
 * May a request for this Host be served? Loopback names and NAME.localhost
 * on any port, and the names in extra (normalised by proxy_host_norm).
 * Anything else is how DNS rebinding looks: a page on evil.example whose
 * name now resolves to 127.0.0.1.
 */
int
proxy_host_allowed(const char *v, size_t n, char *const *extra,
    size_t nextra)
{
	size_t	 hl, i;

	if (http_host_part(v, n, &hl) != 0)
		return (0);
	if (http_host_is(v, hl, "127.0.0.1") || http_host_is(v, hl,
	    "localhost") || http_host_is(v, hl, "[::1]"))
		return (1);
	if (hl > 10 && strncasecmp(v + hl - 10, ".localhost", 10) == 0)
		return (1);
	for (i = 0; i < nextra; i++)
		if (http_host_is(v, hl, extra[i]))
			return (1);
	return (0);
}

/* An allowed_hosts entry as Host compares it: IPv6 in brackets, no dot. */
char *
proxy_host_norm(const char *s)
{
	size_t	 n = strlen(s);

	if (n > 1 && s[n - 1] == '.')
		n--;
	if (memchr(s, ':', n) != NULL && s[0] != '[')
		return (xprintf("[%.*s]", (int)n, s));
	return (xstrndup(s, n));
}

/* NAME from "Host: NAME.localhost[:PORT]" (or the target), lower-cased. */
int
proxy_host_route(const struct proxy_head *h, char *name, size_t size)
{
	const char	*v;
	size_t		 n, i;

	if (proxy_req_host(h, &v, &n) != 0 || v == NULL ||
	    http_host_part(v, n, &n) != 0)
		return (-1);
	if (n <= 10 || strncasecmp(v + n - 10, ".localhost", 10) != 0)
		return (-1);
	n -= 10;
	if (n >= size)
		return (-1);
	for (i = 0; i < n; i++)
		name[i] = tolower((unsigned char)v[i]);
	name[n] = '\0';
	return (0);
}

const char *
proxy_status_text(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 421: return ("Misdirected Request");
	case 431: return ("Request Header Fields Too Large");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	}
	return ("Error");
}
