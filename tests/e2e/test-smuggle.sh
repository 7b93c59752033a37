#!/bin/sh
# Hostile framing through the daemon's proxy, in raw bytes, against a
# real lenient upstream (`fakecloud lenient`: lines end at a bare LF, a
# body is waited for forever, every byte and every request head it sees
# is logged). For each attack the upstream must see exactly the requests
# fleet saw: one, or none when fleet refuses at the head. Then the
# Host allow-list (421, DNS rebinding), /metrics with a foreign Host,
# and descriptors: clients that leave mid-body, stall or trickle, with
# the daemon's fd count back at its baseline afterwards.
#
# Where a case is ambiguous in the RFCs, the comment says what nginx
# does (from its documentation and error messages), and fleet does the
# same or is stricter.
. "$(dirname "$0")/lib.sh"

cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
  body_timeout: 2s
  allowed_hosts: [lan.example]
daemon:
  reconcile_interval: 0s
YAML
RAW=$T/upstream.raw
REQ=$T/upstream.req
write_echo_template lenup \
    "$BUILD/fakecloud lenient --port {port} --raw $RAW --requests $REQ"
check "up with a lenient upstream" "$FLEET" up lenup
URL=$("$FLEET" url lenup)
PORT=${URL##*:}
FC=$BUILD/fakecloud

# Request heads the upstream parsed, whatever they came with, except the
# health checks (they come direct, to /health, which no attack uses).
seen() { grep -vc '^REQ [0-9]* GET /health ' "$REQ" 2>/dev/null || true; }

# attack NAME PORT WANT_STATUS WANT_REQUESTS RAW: send RAW (printf
# escapes) on one connection, half-close, read all. Pass when the first
# response has WANT_STATUS and the upstream saw WANT_REQUESTS requests
# (N, or "0-1"), none of them /smuggled. A body refused mid-way is "0-1":
# fleet drops the upstream connection at once, often before the head it
# queued has left, so the upstream sees the head or nothing.
attack() {
	_n=$1 _port=$2 _status=$3 _want=$4 _raw=$5
	_lo=${_want%-*} _hi=${_want#*-}
	_before=$(seen)
	# shellcheck disable=SC2059
	printf "$_raw" | timeout 15 "$FC" send 127.0.0.1 "$_port" \
	    >"$T/resp" 2>&1
	sleep 0.3	# a smuggled request would be logged by now
	_got=$(( $(seen) - _before ))
	{ echo "response:"; cat "$T/resp"; echo "upstream saw $_got" \
	    "(want $_want):"; tail -n "$((_got + 1))" "$REQ"; } >"$T/out"
	if head -n 1 "$T/resp" | grep -q "^HTTP/1.1 $_status " &&
	    [ "$_got" -ge "$_lo" ] && [ "$_got" -le "$_hi" ] &&
	    ! tail -n "$((_got + 1))" "$REQ" | grep -q smuggled; then
		pass "$_n"
	else
		fail "$_n"
	fi
}

H='Host: 127.0.0.1\r\n'
INNER='GET /smuggled HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'
INNER_LEN=$(printf "$INNER" | wc -c)

# 1. A Connection option naming the framing. nginx forwards only the
# first request (it never copies the client's framing upstream).
attack "Connection: Content-Length keeps the body a body" "$PORT" 200 1 \
    "POST /a HTTP/1.1\r\n${H}Connection: Content-Length\r\nContent-Length: $INNER_LEN\r\n\r\n$INNER"
attack "Connection: Transfer-Encoding keeps the chunks" "$PORT" 200 1 \
    "POST /a HTTP/1.1\r\n${H}Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n$(printf '%x' "$INNER_LEN")\r\n$INNER\r\n0\r\n\r\n"
attack "Connection: Host, X-Forwarded-For removes neither" "$PORT" 200 1 \
    "GET /b HTTP/1.1\r\n${H}Connection: Host, X-Forwarded-For\r\n\r\n"
check "the upstream got fleet's own framing, once" \
    grep -qa 'Content-Length: '"$INNER_LEN" "$RAW"

# 2. Chunked trailers. A bare LF ends the trailers for a lenient server:
# fleet refuses it (400) and the upstream never sees the GET. nginx
# decodes a chunked request body and does not pass its trailers on;
# fleet drops them too, after parsing each as a field.
attack "trailer with a bare LF: 400, no second request" "$PORT" 400 0-1 \
    "POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n$INNER"
attack "a trailer line that is no field: 400" "$PORT" 400 0-1 \
    "POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n"
attack "a valid trailer: 200, not forwarded" "$PORT" 200 1 \
    "POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer-Test: 1\r\n\r\n"
check "the trailer never reached the upstream" \
    sh -c "! grep -qa X-Trailer-Test '$RAW'"
# RFC 9112 7.1.1: an extension starts with ';'. "5 zz" is refused.
attack "chunk extension without ';': 400" "$PORT" 400 0-1 \
    "POST /d HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 zz\r\nabc\r\n0\r\n\r\n"
attack "bare LF after a chunk size: 400" "$PORT" 400 0-1 \
    "POST /d HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"
attack "bare LF after chunk data: 400" "$PORT" 400 0-1 \
    "POST /d HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"
attack "a chunk extension is dropped, the chunk kept" "$PORT" 200 1 \
    "POST /e HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\n\r\n"
check "the extension never reached the upstream" \
    sh -c "! grep -qa 'a=b' '$RAW'"

# 3. Heads refused before anything goes upstream. HTTP/1.1 without Host
# is 400 in nginx ("client sent HTTP/1.1 request without Host header"),
# and so are two Host fields ("client sent duplicate host header"), as
# RFC 9112 3.2 requires. Both Content-Length and Transfer-Encoding: RFC
# 9112 6.1 lets a server refuse; current nginx answers 400 as well.
attack "Content-Length and Transfer-Encoding: 400, none upstream" "$PORT" 400 0 \
    "POST /f HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
attack "HTTP/1.1 without Host: 400" "$PORT" 400 0 \
    "GET /g HTTP/1.1\r\n\r\n"
attack "two Host fields: 400" "$PORT" 400 0 \
    "GET /g HTTP/1.1\r\n${H}Host: evil.example\r\n\r\n"
attack "HTTP/1.0 without Host: served" "$PORT" 200 1 \
    "GET /h HTTP/1.0\r\n\r\n"

# 4. Absolute form goes upstream in origin form; its authority is the
# host that is checked (RFC 9112 3.2.2: it wins over Host; nginx's $host
# takes the request line's host first too).
attack "absolute-form target: served" "$PORT" 200 1 \
    "GET http://127.0.0.1:$PORT/abs?q=1 HTTP/1.1\r\n$H\r\n"
check "the upstream got it in origin form" \
    grep -q 'GET /abs?q=1 xff=127.0.0.1$' "$REQ"
attack "absolute-form for a foreign host: 421" "$PORT" 421 0 \
    "GET http://evil.example/x HTTP/1.1\r\n$H\r\n"

# 5. Host allow-list (DNS rebinding): stable port, shared port, /metrics.
attack "stable port, Host evil.example: 421" "$PORT" 421 0 \
    "GET / HTTP/1.1\r\nHost: evil.example:$PORT\r\n\r\n"
check "421 says why in one line of JSON" grep -qx \
    "{\"error\":\"misdirected request: host 'evil.example:$PORT' is not allowed (proxy.allowed_hosts)\"}" "$T/resp"
attack "stable port, Host localhost: served" "$PORT" 200 1 \
    "GET / HTTP/1.1\r\nHost: localhost:$PORT\r\n\r\n"
attack "stable port, Host [::1]: served" "$PORT" 200 1 \
    "GET / HTTP/1.1\r\nHost: [::1]:$PORT\r\n\r\n"
attack "stable port, a name in proxy.allowed_hosts: served" "$PORT" 200 1 \
    "GET / HTTP/1.1\r\nHost: lan.example\r\n\r\n"
attack "shared port routes NAME.localhost still" "$E2E_SHARED_PORT" 200 1 \
    "GET /routed HTTP/1.1\r\nHost: lenup.localhost:$E2E_SHARED_PORT\r\n\r\n"
attack "shared port, Host evil.example: 421" "$E2E_SHARED_PORT" 421 0 \
    "GET /routed HTTP/1.1\r\nHost: evil.example\r\n\r\n"
attack "/metrics with a foreign Host: 421" "$E2E_SHARED_PORT" 421 0 \
    "GET /metrics HTTP/1.1\r\nHost: evil.example:$E2E_SHARED_PORT\r\n\r\n"
check "/metrics with Host 127.0.0.1 still answers" \
    curl -fsS -m 10 "http://127.0.0.1:$E2E_SHARED_PORT/metrics"

# 6. Descriptors. The lenient upstream is patient: it waits for the rest
# of a body forever, so only fleet can end these exchanges.
DPID=$(our_daemon_pid)
fds() { ls "/proc/$DPID/fd" | wc -l; }
at_most() { [ "$(fds)" -le "$1" ]; }
curl -fsS -m 10 "$URL/" >/dev/null
BASE=$(fds)
N=${SMUGGLE_CLIENTS:-50}
"$FC" stall -n "$N" -m close -t 2 127.0.0.1 "$PORT" >"$T/stall.out" 2>&1 &
sp=$!
sleep 1.5
DURING=$(fds)
wait $sp
check "$N clients left mid-body: descriptors back to $BASE" \
    wait_for 10 at_most "$BASE"
echo "note: daemon fds: $BASE before, $DURING with $N clients mid-body," \
    "$(fds) after they left"
# nginx: client_body_timeout (default 60s) answers 408 to a body that
# sends nothing; fleet's proxy.body_timeout is 2s here.
check "$N stalled bodies: each gets 408 and is closed" sh -c \
    "'$FC' stall -n $N -m stall -t 20 127.0.0.1 $PORT | tee '$T/stall.out' |
    grep -qx 'clients $N closed $N status408 $N max_ms [0-9]* total_ms [0-9]*'"
echo "note: stalled: $(cat "$T/stall.out") (body_timeout 2s)"
check "after the stalls: descriptors back to $BASE" wait_for 10 at_most "$BASE"
# A byte a second never idles, but is under the 500 B/s floor once
# body_timeout has passed. (nginx's client_body_timeout alone, between two
# reads, never ends a trickle like this.)
check "$N trickling bodies: each gets 408 and is closed" sh -c \
    "'$FC' stall -n $N -m trickle -t 30 127.0.0.1 $PORT | tee '$T/stall.out' |
    grep -qx 'clients $N closed $N status408 $N max_ms [0-9]* total_ms [0-9]*'"
echo "note: trickling: $(cat "$T/stall.out") (max_ms: since its last byte; total_ms: since its head)"
check "after the trickles: descriptors back to $BASE" wait_for 10 at_most "$BASE"
echo "note: daemon fds at the end: $(fds)"

"$FLEET" down lenup >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
