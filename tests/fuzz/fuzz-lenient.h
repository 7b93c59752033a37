/* fuzz-lenient.h: a forgiving HTTP/1.1 reader, the upstream's view. */
#ifndef FUZZ_LENIENT_H
#define FUZZ_LENIENT_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * What many upstreams accept and fleet must never send: lines end at a
 * bare LF (a CR before it is optional). The fuzz targets read what fleet
 * writes upstream with this reader as well as with fleet's own parser:
 * if the two disagree on where a message ends, that is smuggling.
 */

#ifndef FUZZ_CHECK
#define FUZZ_CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#endif

/* The end of the line at p (after its LF), or NULL; *len without CR/LF. */
static inline const char *
lenient_line(const char *p, const char *end, size_t *len)
{
	const char	*nl = memchr(p, '\n', end - p);

	if (nl == NULL)
		return (NULL);
	*len = nl - p;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	return (nl + 1);
}

struct lenient_head {
	size_t		 len;		/* through the empty line */
	int		 ncl;		/* Content-Length fields */
	uint64_t	 cl;
	int		 nte;		/* Transfer-Encoding fields */
	int		 chunked;
	int		 nhost;
};

/* A head the lenient way; 0 when complete, -1 if it never ends. */
static inline int
lenient_head(const char *p, size_t n, struct lenient_head *lh)
{
	const char	*end = p + n, *line = p, *next, *colon;
	size_t		 len, nlen;
	int		 first = 1;

	memset(lh, 0, sizeof *lh);
	while ((next = lenient_line(line, end, &len)) != NULL) {
		if (len == 0 && !first) {
			lh->len = next - p;
			return (0);
		}
		if (!first && (colon = memchr(line, ':', len)) != NULL) {
			for (nlen = colon - line; nlen > 0 &&
			    isspace((unsigned char)line[nlen - 1]); nlen--)
				;
			if (nlen == 14 && strncasecmp(line, "content-length",
			    14) == 0) {
				lh->ncl++;
				lh->cl = strtoull(colon + 1, NULL, 10);
			} else if (nlen == 17 && strncasecmp(line,
			    "transfer-encoding", 17) == 0) {
				lh->nte++;
				lh->chunked = memmem(colon, len - (colon - line),
				    "chunked", 7) != NULL;
			} else if (nlen == 4 && strncasecmp(line, "host", 4) == 0)
				lh->nhost++;
		}
		first = 0;
		line = next;
	}
	return (-1);
}

/* A chunked body the lenient way: its length, or -1 if it never ends. */
static inline long
lenient_chunked(const char *p, size_t n)
{
	const char	*end = p + n, *q = p, *next;
	uint64_t	 size;
	size_t		 len, i;

	for (;;) {
		if ((next = lenient_line(q, end, &len)) == NULL)
			return (-1);
		for (size = 0, i = 0; i < len && i < 16 &&
		    isxdigit((unsigned char)q[i]); i++)
			size = size * 16 + (isdigit((unsigned char)q[i]) ?
			    q[i] - '0' : (tolower((unsigned char)q[i]) - 'a' +
			    10));
		q = next;
		if (size == 0)
			break;
		if ((uint64_t)(end - q) < size)
			return (-1);
		q += size;
		if ((q = lenient_line(q, end, &len)) == NULL)
			return (-1);
	}
	while ((next = lenient_line(q, end, &len)) != NULL) {
		q = next;
		if (len == 0)
			return (q - p);
	}
	return (-1);
}

/* Every CR is followed by LF and every LF follows a CR. */
static inline int
lenient_crlf_only(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return (0);
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return (0);
	}
	return (1);
}

#endif
