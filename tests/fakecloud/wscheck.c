/* wscheck.c: `fakecloud wscheck` and `send`: blocking clients for tests. */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fleet.h"
#include "echo.h"
#include "fakecloud.h"

#define WS_TIMEOUT_SECS	5
#define WS_HEAD_MAX	16384
#define WS_READ_MAX	(2 * 1024 * 1024)

/*
 * Modes: text (default) and binary echo MSG; ping expects a pong with MSG;
 * frag sends MSG in two fragments with a ping between them; big sends a
 * frame over the 1 MiB cap and expects close code 1009. Prints what came
 * back on stdout; exit 0 if it was what an echo server must answer.
 */

static int
ws_write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

static int
ws_read_all(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

static int
ws_connect(const char *host, const char *port)
{
	struct addrinfo	 hints, *ai;
	struct timeval	 tv = { WS_TIMEOUT_SECS, 0 };
	int		 fd, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "wscheck: %s: %s\n", host, gai_strerror(error));
		return (-1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd != -1) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			fprintf(stderr, "wscheck: connect %s:%s: %s\n", host,
			    port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return (fd);
}

/* Send the opening handshake and check the 101 and its accept value. */
static int
ws_handshake(int fd, const char *host, const char *path)
{
	unsigned char	 raw[16], key[32];
	char		 head[WS_HEAD_MAX + 1], *want, *got, *req;
	size_t		 n = 0;
	int		 ok;

	if (getrandom(raw, sizeof raw, 0) != sizeof raw)
		return (-1);
	EVP_EncodeBlock(key, raw, sizeof raw);
	req = xprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", path, host, key);
	ok = ws_write_all(fd, req, strlen(req)) == 0;
	free(req);
	while (ok && n < WS_HEAD_MAX && (n < 4 ||
	    memcmp(head + n - 4, "\r\n\r\n", 4) != 0))
		ok = ws_read_all(fd, head + n++, 1) == 0;
	head[n] = '\0';
	if (!ok || strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		fprintf(stderr, "wscheck: handshake failed: %.*s\n",
		    (int)strcspn(head, "\r\n"), head);
		return (-1);
	}
	want = echo_ws_accept((char *)key);
	got = strcasestr(head, "\r\nSec-WebSocket-Accept:");
	ok = got != NULL && strncmp(got + 24 + strspn(got + 24, " "), want,
	    strlen(want)) == 0;
	if (!ok)
		fprintf(stderr, "wscheck: bad Sec-WebSocket-Accept\n");
	free(want);
	return (ok ? 0 : -1);
}

/* Send one masked client frame; claimed may exceed len (for "big"). */
static int
ws_send(int fd, int fin, int op, const void *data, size_t len,
    uint64_t claimed)
{
	unsigned char	 h[14], mask[4], *p;
	size_t		 hlen = 2, i;
	int		 r;

	h[0] = (fin ? 0x80 : 0) | op;
	if (claimed < 126)
		h[1] = 0x80 | claimed;
	else if (claimed <= 0xffff) {
		h[1] = 0x80 | 126;
		h[2] = claimed >> 8;
		h[3] = claimed & 0xff;
		hlen = 4;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (claimed >> (56 - 8 * i)) & 0xff;
		hlen = 10;
	}
	if (getrandom(mask, sizeof mask, 0) != sizeof mask)
		return (-1);
	memcpy(h + hlen, mask, 4);
	hlen += 4;
	p = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		p[i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
	r = ws_write_all(fd, h, hlen) == 0 && ws_write_all(fd, p, len) == 0;
	free(p);
	return (r ? 0 : -1);
}

/* Read one server frame (must be unmasked); the caller frees *data. */
static int
ws_recv(int fd, int *op, char **data, size_t *len)
{
	unsigned char	 h[8];
	uint64_t	 n;
	int		 i, ext;

	if (ws_read_all(fd, h, 2) != 0 || (h[1] & 0x80) != 0)
		return (-1);
	*op = h[0] & 0x0f;
	n = h[1] & 0x7f;
	ext = n == 126 ? 2 : n == 127 ? 8 : 0;
	if (ext != 0) {
		if (ws_read_all(fd, h, ext) != 0)
			return (-1);
		for (n = 0, i = 0; i < ext; i++)
			n = (n << 8) | h[i];
	}
	if (n > WS_READ_MAX)
		return (-1);
	*data = xmalloc(n + 1);
	if (ws_read_all(fd, *data, n) != 0) {
		free(*data);
		return (-1);
	}
	(*data)[n] = '\0';
	*len = n;
	return (0);
}

/* Expect a frame of opcode op with payload want (NULL: any payload). */
static int
ws_expect(int fd, int op, const char *want, size_t wlen)
{
	char	*data;
	size_t	 len;
	int	 got, ok;

	if (ws_recv(fd, &got, &data, &len) != 0) {
		fprintf(stderr, "wscheck: no frame (opcode %d) came back\n",
		    op);
		return (-1);
	}
	ok = got == op && (want == NULL || (len == wlen &&
	    memcmp(data, want, len) == 0));
	if (!ok)
		fprintf(stderr, "wscheck: got opcode %d len %zu, want opcode "
		    "%d len %zu\n", got, len, op, wlen);
	else if (op == 0x8)
		printf("close %d\n", len >= 2 ? ((unsigned char)data[0] << 8) |
		    (unsigned char)data[1] : 1005);
	else if (op != 0xa)
		printf("%.*s\n", (int)len, data);
	free(data);
	return (ok ? 0 : -1);
}

/* Run one mode over an open WebSocket; 0 if the echo was right. */
static int
ws_run(int fd, const char *mode, const char *msg)
{
	size_t		 len = strlen(msg), half = len / 2;
	unsigned char	 bye[2] = { 1000 >> 8, 1000 & 0xff };
	int		 r = -1;

	if (strcmp(mode, "text") == 0 || strcmp(mode, "binary") == 0) {
		int op = mode[0] == 't' ? 0x1 : 0x2;
		r = ws_send(fd, 1, op, msg, len, len) == 0 &&
		    ws_expect(fd, op, msg, len) == 0 ? 0 : -1;
	} else if (strcmp(mode, "ping") == 0) {
		r = ws_send(fd, 1, 0x9, msg, len, len) == 0 &&
		    ws_expect(fd, 0xa, msg, len) == 0 ? 0 : -1;
	} else if (strcmp(mode, "frag") == 0) {
		r = ws_send(fd, 0, 0x1, msg, half, half) == 0 &&
		    ws_send(fd, 1, 0x9, "p", 1, 1) == 0 &&
		    ws_send(fd, 1, 0x0, msg + half, len - half,
		    len - half) == 0 && ws_expect(fd, 0xa, "p", 1) == 0 &&
		    ws_expect(fd, 0x1, msg, len) == 0 ? 0 : -1;
	} else if (strcmp(mode, "big") == 0) {
		return (ws_send(fd, 1, 0x2, msg, len,
		    ECHO_FRAME_MAX + 1) == 0 &&
		    ws_expect(fd, 0x8, "\x03\xf1", 2) == 0 ? 0 : -1);
	} else {
		fprintf(stderr, "wscheck: unknown mode %s\n", mode);
		return (-1);
	}
	if (r == 0 && (ws_send(fd, 1, 0x8, bye, 2, 2) != 0 ||
	    ws_expect(fd, 0x8, (char *)bye, 2) != 0))
		r = -1;
	return (r);
}

int
wscheck_main(int argc, char **argv)
{
	const char	*mode = "text", *hosthdr = NULL;
	char		*hh;
	int		 ch, fd, r;

	optind = 0;
	while ((ch = getopt(argc, argv, "m:H:")) != -1) {
		switch (ch) {
		case 'm': mode = optarg != NULL ? optarg : mode; break;
		case 'H': hosthdr = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	argv += optind;
	if ((fd = ws_connect(argv[0], argv[1])) == -1)
		return (1);
	hh = hosthdr != NULL ? xstrdup(hosthdr) :
	    xprintf("%s:%s", argv[0], argv[1]);
	r = ws_handshake(fd, hh, argv[2]) == 0 &&
	    ws_run(fd, mode, argv[3]) == 0;
	free(hh);
	close(fd);
	return (r ? 0 : 1);
usage:
	fprintf(stderr, "usage: fakecloud wscheck [-m text|binary|ping|frag|"
	    "big] [-H HOST] HOST PORT PATH MESSAGE\n");
	return (2);
}

/*
 * `fakecloud send HOST PORT`: write stdin to the server as is (raw, even
 * malformed HTTP), half-close, print everything that comes back until EOF.
 */
int
send_main(int argc, char **argv)
{
	char	 buf[8192];
	ssize_t	 n;
	int	 fd, r = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: fakecloud send HOST PORT < request\n");
		return (2);
	}
	if ((fd = ws_connect(argv[1], argv[2])) == -1)
		return (1);
	while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
		if (ws_write_all(fd, buf, n) != 0) {
			r = 1;
			break;
		}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, n, stdout);
	if (n == -1) {
		fprintf(stderr, "fakecloud send: %s\n", strerror(errno));
		r = 1;
	}
	close(fd);
	return (r);
}
