#!/bin/sh
# test-echo.sh: `fleet echo-server` over real sockets: HTTP, SSE, WebSocket.
# usage: sh tests/e2e/test-echo.sh BUILD_DIR   (from the repository root)

B=${1:-build}
FLEET=$B/fleet
FC=$B/fakecloud
T=$(mktemp -d "${TMPDIR:-/tmp}/test-echo.XXXXXX") || exit 1
PIDS=""
npass=0
nfail=0

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() {
	echo "FAIL: $1"
	nfail=$((nfail + 1))
	[ -n "$2" ] && [ -s "$2" ] && sed 's/^/    /' "$2" | head -20
	return 0
}
# check NAME CMD...: pass if CMD exits 0.
check() {
	_n=$1
	shift
	if "$@" >"$T/out" 2>&1; then pass "$_n"; else fail "$_n" "$T/out"; fi
}
# Wait (at most 5 s) for "listening on ADDR:PORT" in a log; print PORT.
wait_port() {
	_i=0
	while [ $_i -lt 50 ]; do
		_p=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
		    "$1" 2>/dev/null | head -1)
		[ -n "$_p" ] && { echo "$_p"; return 0; }
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}
# req LINE...: an HTTP head, each line ended by CRLF ('' for the blank one).
req() { for _l in "$@"; do printf '%s\r\n' "$_l"; done; }
ws_req() {
	req 'GET /ws HTTP/1.1' 'Host: x' 'Upgrade: websocket' \
	    'Connection: Upgrade' "Sec-WebSocket-Key: $WSKEY" \
	    "Sec-WebSocket-Version: $1" ''
}
WSKEY='dGhlIHNhbXBsZSBub25jZQ=='		# RFC 6455 section 1.3
WSACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK+xOo='
sanitizer_clean() { ! grep -qE 'Sanitizer|runtime error' "$1"; }

for f in "$FLEET" "$FC"; do
	[ -x "$f" ] || { echo "FAIL: $f not built"; echo "0 passed, 1 failed"; \
	    exit 1; }
done

# --- start ---------------------------------------------------------------
FLEET_INSTANCE_NAME=echo-test-1 "$FLEET" echo-server --port 0 \
    2>"$T/echo.log" &
EPID=$!
PIDS="$EPID"
if P=$(wait_port "$T/echo.log"); then
	pass "startup line: listening on 127.0.0.1:$P"
else
	fail "startup line" "$T/echo.log"
	echo "$npass passed, $nfail failed"
	exit 1
fi
U=http://127.0.0.1:$P
C="curl -s --max-time 10"

# --- plain HTTP ----------------------------------------------------------
t_health() { [ "$($C "$U/health")" = '{"status":"ok"}' ]; }
check "GET /health answers {\"status\":\"ok\"}" t_health

t_index() {
	$C "$U/" >"$T/index" && grep -q 'echo-test-1' "$T/index" &&
	    grep -q 'new WebSocket' "$T/index"
}
check "GET / names the instance and has the WebSocket demo" t_index

t_keepalive() {
	[ "$($C -o /dev/null -o /dev/null -w '%{num_connects} ' \
	    "$U/health" "$U/headers")" = "1 0 " ]
}
check "keep-alive: two URLs over one connection" t_keepalive

t_post() {
	$C -D "$T/h" -H 'Content-Type: text/x-fleet' \
	    --data-binary 'hello body' "$U/any/path" >"$T/b" &&
	    [ "$(cat "$T/b")" = "hello body" ] &&
	    grep -qi '^content-type: text/x-fleet' "$T/h"
}
check "POST echoes body and content type" t_post

t_put() { [ "$($C -X PUT --data-binary 'put it' "$U/x")" = "put it" ]; }
check "PUT echoes body" t_put

t_chunked() {
	i=0
	: >"$T/c"
	while [ $i -lt 500 ]; do echo "line $i of a chunked body" >>"$T/c"; \
	    i=$((i + 1)); done
	$C -H 'Transfer-Encoding: chunked' --data-binary @"$T/c" "$U/" \
	    >"$T/c2" && cmp -s "$T/c" "$T/c2"
}
check "chunked POST body echoed intact" t_chunked

t_big() {
	head -c 3000000 /dev/urandom >"$T/big" &&
	    $C --data-binary @"$T/big" "$U/" >"$T/big2" &&
	    cmp -s "$T/big" "$T/big2"
}
check "3 MB POST echoed intact (Expect: 100-continue)" t_big

t_413() {
	head -c 9000000 /dev/zero >"$T/huge" &&
	    [ "$($C -o /dev/null -w '%{http_code}' --data-binary @"$T/huge" \
	    "$U/")" = 413 ]
}
check "body over 8 MiB -> 413" t_413

t_headers() {
	$C -H 'X-Forwarded-For: 10.1.2.3' -H 'X-Test: one' "$U/headers" \
	    >"$T/hj" && grep -q '"x-forwarded-for":"10.1.2.3"' "$T/hj" &&
	    grep -q '"x-test":"one"' "$T/hj"
}
check "GET /headers returns received headers as JSON" t_headers

t_404() { [ "$($C -o /dev/null -w '%{http_code}' "$U/nope")" = 404 ]; }
check "unknown path -> 404" t_404

t_400() {
	[ "$($C -o /dev/null -w '%{http_code}' -H 'Bad Header: x' \
	    "$U/health")" = 400 ]
}
check "bad header field name -> 400" t_400

t_400b() {
	printf 'GET /health HTTP/9.9\r\n\r\n' | "$FC" send 127.0.0.1 "$P" |
	    head -1 | grep -q '^HTTP/1.1 400 '
}
check "bad request line -> 400" t_400b

t_smuggle() {
	{ req 'POST / HTTP/1.1' 'Host: x' 'Content-Length: 3' \
	    'Transfer-Encoding: chunked' ''; printf abc; } |
	    "$FC" send 127.0.0.1 "$P" |
	    head -1 | grep -q '^HTTP/1.1 400 '
}
check "Content-Length with Transfer-Encoding -> 400" t_smuggle

t_431() {
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	[ "$($C -o /dev/null -w '%{http_code}' -H "X-Big: $big" \
	    "$U/health")" = 431 ]
}
check "oversized header -> 431" t_431

t_pipeline() {
	{ req 'GET /health HTTP/1.1' 'Host: x' ''
	  req 'POST /e HTTP/1.1' 'Host: x' 'Content-Length: 4' ''
	  printf ping
	  req 'GET /health HTTP/1.1' 'Host: x' 'Connection: close' ''; } |
	    "$FC" send 127.0.0.1 "$P" >"$T/pipe" &&
	    [ "$(grep -o 'HTTP/1.1 200 ' "$T/pipe" | wc -l)" -eq 3 ] &&
	    grep -q 'ping' "$T/pipe"
}
check "three pipelined requests, three answers" t_pipeline

t_http10() {
	printf 'GET /health HTTP/1.0\n\n' | "$FC" send 127.0.0.1 "$P" \
	    >"$T/h10" && grep -qi '^connection: close' "$T/h10" &&
	    grep -q '{"status":"ok"}' "$T/h10"
}
check "HTTP/1.0 with bare LF lines answered, then closed" t_http10

# --- server-sent events ------------------------------------------------------
t_sse() {
	$C -N -D "$T/sh" -w '%{time_starttransfer} %{time_total}\n' \
	    "$U/stream?n=5&ms=200" >"$T/sse" || return 1
	[ "$(grep -c '^data: ' "$T/sse")" = 5 ] || return 1
	grep -qi '^transfer-encoding: chunked' "$T/sh" || return 1
	grep -qi '^content-type: text/event-stream' "$T/sh" || return 1
	# the first event arrives well before the last: flushed as they go
	# (a ratio and a lower bound only: no upper bound on a busy machine)
	tail -1 "$T/sse" | awk '{ exit !($1 < $2 / 2 && $2 >= 0.75) }'
}
check "SSE: 5 events, chunked, flushed 200 ms apart" t_sse

t_sse_keepalive() {
	[ "$($C -o /dev/null -o /dev/null -w '%{num_connects} ' \
	    "$U/stream?n=2&ms=10" "$U/health")" = "1 0 " ]
}
check "SSE response leaves the connection reusable" t_sse_keepalive

# --- WebSocket ---------------------------------------------------------------
t_ws_rfc() {
	ws_req 13 | "$FC" send 127.0.0.1 "$P" >"$T/ws" &&
	    head -1 "$T/ws" | grep -q '^HTTP/1.1 101 ' &&
	    grep -q "^Sec-WebSocket-Accept: $WSACCEPT" "$T/ws"
}
check "WebSocket handshake: RFC 6455 sample accept value" t_ws_rfc

t_ws_version() {
	ws_req 8 | "$FC" send 127.0.0.1 "$P" | head -1 |
	    grep -q '^HTTP/1.1 426 '
}
check "WebSocket version 8 -> 426" t_ws_version

t_ws() {
	[ "$("$FC" wscheck 127.0.0.1 "$P" /ws 'hello over ws' | head -1)" = \
	    "hello over ws" ]
}
check "WebSocket text echo and close handshake" t_ws

check "WebSocket binary echo" "$FC" wscheck -m binary 127.0.0.1 "$P" /ws bin
check "WebSocket ping -> pong" "$FC" wscheck -m ping 127.0.0.1 "$P" /ws pp
check "WebSocket fragmented message with ping inside" \
    "$FC" wscheck -m frag 127.0.0.1 "$P" /ws 'fragmented message'
check "WebSocket on any path with Upgrade" \
    "$FC" wscheck 127.0.0.1 "$P" /some/app/path hi
t_ws_big() {
	[ "$("$FC" wscheck -m big 127.0.0.1 "$P" /ws x)" = "close 1009" ]
}
check "WebSocket frame over 1 MiB -> close 1009" t_ws_big

# --- options and shutdown ----------------------------------------------------
t_badopt() {
	"$FLEET" echo-server --bogus >/dev/null 2>"$T/e"
	[ $? -eq 2 ] && [ -s "$T/e" ]
}
check "unknown option -> exit 2 with a message" t_badopt

t_still_up() { t_health; }
check "server still healthy after all of the above" t_still_up

t_sigterm() {
	kill -TERM "$EPID" || return 1
	wait "$EPID"
	rc=$?
	PIDS=""
	[ $rc -eq 0 ] && sanitizer_clean "$T/echo.log"
}
if t_sigterm; then pass "SIGTERM: exit 0, no sanitizer reports"
else fail "SIGTERM: exit 0, no sanitizer reports" "$T/echo.log"; fi

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
