#!/bin/sh
# test-fakecloud.sh: the fake cloud's machinery: instances are real echo
# processes, ports change on restart, the control API injects failures.
# usage: sh tests/e2e/test-fakecloud.sh BUILD_DIR   (from the repository root)

B=${1:-build}
FLEET=$B/fleet
FC=$B/fakecloud
T=$(mktemp -d "${TMPDIR:-/tmp}/test-fakecloud.XXXXXX") || exit 1
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
	[ -n "$2" ] && [ -s "$2" ] && sed 's/^/    /' "$2" | tail -20
	return 0
}
check() {
	_n=$1
	shift
	if "$@" >"$T/out" 2>&1; then pass "$_n"; else fail "$_n" "$T/out"; fi
}
# First value of a flat JSON field: jget FIELD < json
jget() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1; }
# retry N CMD...: run CMD every 0.1 s until it succeeds, at most N times.
retry() {
	_r=$1
	shift
	while [ "$_r" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_r=$((_r - 1))
	done
	return 1
}
sanitizer_clean() { ! grep -qE 'Sanitizer|runtime error' "$1"; }

for f in "$FLEET" "$FC"; do
	[ -x "$f" ] || { echo "FAIL: $f not built"; echo "0 passed, 1 failed"; \
	    exit 1; }
done

# --- start ---------------------------------------------------------------
"$FC" --port 0 --port-file "$T/port" --fleet "$FLEET" --boot-delay-ms 300 \
    2>"$T/fc.log" &
FCPID=$!
PIDS="$FCPID"
if retry 50 test -s "$T/port"; then
	P=$(cat "$T/port")
	pass "fakecloud writes its port file ($P)"
else
	fail "fakecloud writes its port file" "$T/fc.log"
	echo "$npass passed, $nfail failed"
	exit 1
fi
U=http://127.0.0.1:$P
C="curl -s --max-time 10"
KEY="fk_test_0123456789abcdef"
A="Authorization: Bearer $KEY"

code() { $C -o /dev/null -w '%{http_code}' "$@"; }
state() { $C -H "$A" "$U/generic/instances/$1" | jget state; }
is_state() { [ "$(state "$1")" = "$2" ]; }
dead() { ! kill -0 "$1" 2>/dev/null; }

check "control health" test "$(code "$U/_control/health")" = 200

t_noauth() {
	[ "$(code -d '{"name":"x"}' "$U/generic/instances")" = 401 ]
}
check "create without API key -> 401" t_noauth

t_create() {
	$C -H "$A" -d '{"name":"fleet-demo-1","gpu":"A100"}' \
	    "$U/generic/instances" >"$T/c" &&
	    ID=$(jget id <"$T/c") && [ -n "$ID" ] &&
	    [ "$(jget state <"$T/c")" = pending ]
}
check "create -> pending instance" t_create

t_booting() {
	retry 20 is_state "$ID" booting || retry 1 is_state "$ID" running
}
check "instance goes through booting" t_booting

t_running() { retry 50 is_state "$ID" running; }
check "instance is running after the boot delay" t_running

$C -H "$A" "$U/generic/instances/$ID" >"$T/i"
PORT1=$(jget port <"$T/i")
PID1=$(jget pid <"$T/i")

t_health() {
	[ "$($C "http://127.0.0.1:$PORT1/health")" = '{"status":"ok"}' ] &&
	    $C "http://127.0.0.1:$PORT1/" | grep -q fleet-demo-1
}
check "instance process answers /health and knows its label" t_health

check "WebSocket echo through the instance" \
    "$FC" wscheck 127.0.0.1 "$PORT1" /ws "hello instance"

t_log() {
	$C "$U/_control/requests?prefix=/generic" >"$T/log" &&
	    grep -q "\"authorization\":\"Bearer $KEY\"" "$T/log" &&
	    grep -q '"has_auth":false' "$T/log" &&
	    grep -q '"body":"{\\"name\\":\\"fleet-demo-1\\"' "$T/log"
}
check "request log keeps method, auth header and body" t_log

t_list() {
	$C -H "$A" "$U/generic/instances" | grep -q "\"id\":\"$ID\"" &&
	    $C "$U/_control/instances" | grep -q "\"label\":\"fleet-demo-1\""
}
check "instance listed by the API and by /_control/instances" t_list

t_stop() {
	$C -H "$A" -X POST "$U/generic/instances/$ID/stop" >"$T/s" &&
	    [ "$(jget state <"$T/s")" = stopped ] && retry 50 dead "$PID1"
}
check "stop -> stopped, process gone" t_stop

t_start() {
	$C -H "$A" -X POST "$U/generic/instances/$ID/start" >/dev/null &&
	    retry 50 is_state "$ID" running &&
	    $C -H "$A" "$U/generic/instances/$ID" >"$T/i2" &&
	    PORT2=$(jget port <"$T/i2") && PID2=$(jget pid <"$T/i2") &&
	    [ "$PORT2" != "$PORT1" ] && [ "$PORT2" -gt 0 ] &&
	    [ "$($C "http://127.0.0.1:$PORT2/health")" = '{"status":"ok"}' ]
}
check "start -> running again on a NEW port" t_start

t_oldport() { [ "$(code "http://127.0.0.1:$PORT1/health")" = 000 ]; }
check "old port no longer answers" t_oldport

t_fail() {
	j='{"route":"/generic","status":503,"count":2,"body":"{\"e\":1}",'
	j="$j"'"headers":{"Retry-After":"1"}}'
	$C -d "$j" "$U/_control/fail" >/dev/null &&
	    $C -D "$T/fh" -H "$A" "$U/generic/instances" >"$T/fb" &&
	    grep -q '^HTTP/1.1 503' "$T/fh" &&
	    grep -qi '^Retry-After: 1' "$T/fh" &&
	    [ "$(cat "$T/fb")" = '{"e":1}' ] &&
	    [ "$(code -H "$A" "$U/generic/instances")" = 503 ] &&
	    [ "$(code -H "$A" "$U/generic/instances")" = 200 ]
}
check "injected 503 x2 (body, Retry-After), then clears" t_fail

t_fail_other() {
	$C -d '{"route":"/nomatch","status":500}' "$U/_control/fail" \
	    >/dev/null &&
	    [ "$(code -H "$A" "$U/generic/instances")" = 200 ]
}
check "injected failure only hits its route" t_fail_other

t_delay() {
	$C -d '{"route":"/generic","ms":500,"count":1}' "$U/_control/delay" \
	    >/dev/null &&
	    $C -o /dev/null -w '%{http_code} %{time_total}\n' -H "$A" \
	    "$U/generic/instances" >"$T/d" &&
	    awk '{ exit !($1 == 200 && $2 >= 0.45) }' "$T/d" &&
	    $C -o /dev/null -w '%{time_total}\n' -H "$A" \
	    "$U/generic/instances" >>"$T/d" &&
	    awk 'NR == 1 { d = $2 } NR == 2 { exit !($1 < d) }' "$T/d"
}
check "injected delay of 500 ms, once" t_delay

t_capacity() {
	$C -d '{"provider":"generic","gpu":"H100","available":0}' \
	    "$U/_control/capacity" >/dev/null &&
	    [ "$(code -H "$A" -d '{"name":"c1","gpu":"H100"}' \
	    "$U/generic/instances")" = 409 ] &&
	    $C -d '{"provider":"generic","gpu":"H100","available":-1}' \
	    "$U/_control/capacity" >/dev/null &&
	    [ "$(code -H "$A" -d '{"name":"c2","gpu":"H100"}' \
	    "$U/generic/instances")" = 201 ]
}
check "capacity 0 -> 409; restored -> 201" t_capacity

t_vanish() {
	$C -H "$A" -d '{"name":"fleet-vanish-1"}' "$U/generic/instances" \
	    >"$T/v" && VID=$(jget id <"$T/v") &&
	    retry 50 is_state "$VID" running &&
	    VPID=$($C -H "$A" "$U/generic/instances/$VID" | jget pid) &&
	    $C -d "{\"id\":\"$VID\"}" "$U/_control/vanish" | grep -q '"gone"' &&
	    [ "$(code -H "$A" "$U/generic/instances/$VID")" = 404 ] &&
	    retry 50 dead "$VPID"
}
check "vanish: API says 404, process killed" t_vanish

t_terminate() {
	$C -H "$A" -X POST "$U/generic/instances/$ID/terminate" >"$T/t" &&
	    [ "$(jget state <"$T/t")" = terminated ] && retry 50 dead "$PID2" &&
	    [ "$(code -H "$A" -X POST "$U/generic/instances/$ID/start")" = 409 ]
}
check "terminate: process gone (kill -0 fails), cannot start" t_terminate

t_reset() {
	$C -H "$A" -d '{"name":"fleet-reset-1"}' "$U/generic/instances" \
	    >"$T/r" && RID=$(jget id <"$T/r") &&
	    retry 50 is_state "$RID" running &&
	    RPID=$($C "$U/_control/instances" | tr '{' '\n' |
	    grep "\"$RID\"" | jget pid) && [ -n "$RPID" ] &&
	    [ "$(code -X POST "$U/_control/reset")" = 200 ] &&
	    [ "$($C "$U/_control/instances")" = '[]' ] &&
	    [ "$($C "$U/_control/requests")" = '[]' ] &&
	    retry 50 dead "$RPID"
}
check "reset: no instances, empty log, processes killed" t_reset

t_noroute() { [ "$(code "$U/nosuchprovider/x")" = 404 ]; }
check "unknown provider prefix -> 404" t_noroute

t_shutdown() {
	$C -H "$A" -d '{"name":"fleet-last-1"}' "$U/generic/instances" \
	    >"$T/l" && LID=$(jget id <"$T/l") &&
	    retry 50 is_state "$LID" running &&
	    LPID=$($C -H "$A" "$U/generic/instances/$LID" | jget pid) &&
	    kill -TERM "$FCPID" || return 1
	wait "$FCPID"
	rc=$?
	PIDS=""
	[ $rc -eq 0 ] && retry 30 dead "$LPID" && sanitizer_clean "$T/fc.log"
}
if t_shutdown; then
	pass "SIGTERM: exit 0, instance processes gone, no sanitizer reports"
else
	fail "SIGTERM: exit 0, instance processes gone, no sanitizer reports" \
	    "$T/fc.log"
fi

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
