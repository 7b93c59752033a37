/* echo.h: limits and helpers of the built-in HTTP+WebSocket echo server. */
#ifndef ECHO_H
#define ECHO_H

#include <stddef.h>

#define ECHO_HEAD_MAX	(16 * 1024)	/* request line + headers */
#define ECHO_BODY_MAX	(8 * 1024 * 1024)	/* request body */
#define ECHO_FRAME_MAX	(1024 * 1024)	/* WebSocket message */
#define ECHO_WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2). */
char	*echo_ws_accept(const char *key);

#endif
