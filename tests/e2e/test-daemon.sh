#!/bin/sh
# End to end through the daemon: the stable URL in front of real local
# upstreams. fleet up starts the daemon; the URL survives restarts; held
# requests during boot; 503 after the hold timeout; Host routing on the
# shared port; /metrics; descriptor count after 1,000 connections;
# graceful stop and restart after kill -9.
. "$(dirname "$0")/lib.sh"

cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
  hold_timeout: 8s
daemon:
  reconcile_interval: 0s
YAML
write_echo_template web
write_echo_template slowweb "sh -c 'sleep 1; exec {fleet} echo-server --port {port}'" 30s
write_echo_template stuck "sleep 60" 16s
S=http://127.0.0.1:$E2E_SHARED_PORT
daemon_pid() { cat "$FLEET_STATE_DIR/daemon.pid" 2>/dev/null; }

check_exit "daemon status before anything: not running" 1 "$FLEET" daemon status
check "up starts the daemon" "$FLEET" up web
check "daemon status answers" sh -c "'$FLEET' daemon status | grep -E '^web +[0-9]+ +running'"
URL=$("$FLEET" url web)
check "the stable URL answers" curl -fsS -m 10 "$URL/health"
check "a POST goes through the stable URL" sh -c "curl -fsS -m 10 -d ping '$URL/echo' | grep -qx ping"
check "the shared port routes by Host" curl -fsS -m 10 -H "Host: web.localhost:$E2E_SHARED_PORT" "$S/health"
check "X-Forwarded-* reach the upstream" sh -c "curl -fsS -m 10 '$URL/headers' | grep -q '\"x-forwarded-for\":\"127.0.0.1\"'"
check "unknown Host on the shared port: 404" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Host: nope.localhost' '$S/') = 404 ]"
check "/metrics counts the requests" sh -c "curl -fsS -m 10 '$S/metrics' | grep -E '^fleet_proxy_requests_total\\{deployment=\"web\"\\} [1-9]'"
check "SSE streams through the proxy" sh -c "[ \$(curl -fsS -N -m 10 '$URL/stream?n=3&ms=50' | grep -c '^data: ') = 3 ]"
check "a WebSocket echoes through the proxy" "$BUILD/fakecloud" wscheck 127.0.0.1 "${URL##*:}" /ws hello-through-fleet

# The app keeps its URL across a restart on another upstream port.
old=$("$FLEET" url --upstream web)
"$FLEET" down web >/dev/null 2>&1
check "after down the stable URL says 503" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -m 10 '$URL/health') = 503 ] || ! curl -fsS -m 3 '$URL/health'"
"$FLEET" up web >/dev/null 2>&1
new=$("$FLEET" url --upstream web)
check "up again: a new upstream" [ "$old" != "$new" ]
check "up again: the same stable URL" [ "$("$FLEET" url web)" = "$URL" ]
check "up again: the stable URL answers" curl -fsS -m 10 "$URL/health"

# Held during boot, released when healthy.
"$FLEET" up slowweb >"$T/slow.out" 2>&1 &
uppid=$!
wait_for 10 "$FLEET" url slowweb
SURL=$("$FLEET" url slowweb)
wait_for 10 sh -c "'$FLEET' daemon status | grep -q '^slowweb '"
check "a request during boot is held, then answered" curl -fsS -m 20 "$SURL/health"
wait $uppid

# Never healthy: the hold ends in 503 with Retry-After and a JSON body.
"$FLEET" up stuck >/dev/null 2>&1 &
uppid=$!
wait_for 10 "$FLEET" url stuck
KURL=$("$FLEET" url stuck)
wait_for 10 sh -c "'$FLEET' daemon status | grep -q '^stuck '"
curl -s -m 20 -D "$T/h" -o "$T/b" "$KURL/" || true
check "hold timeout: 503" grep -q '^HTTP/1.1 503' "$T/h"
check "hold timeout: Retry-After" grep -qi '^retry-after:' "$T/h"
check "hold timeout: JSON body names the state" grep -q '"booting"' "$T/b"
wait $uppid
check "the failed boot left nothing running" sh -c "! '$FLEET' ls | grep -q '^stuck '"

# Descriptors stay flat over 1,000 short connections.
pid=$(daemon_pid)
before=$(ls /proc/"$pid"/fd | wc -l)
i=0; args=""
while [ $i -lt 1000 ]; do args="$args $URL/health"; i=$((i + 1)); done
# shellcheck disable=SC2086
curl -s -m 120 -H 'Connection: close' $args >/dev/null
after=$(ls /proc/"$pid"/fd | wc -l)
check "fd count flat after 1,000 connections ($before -> $after)" [ "$after" -le $((before + 2)) ]

# Graceful stop; a killed daemon is replaced by the next up.
check "daemon stop drains and exits" "$FLEET" daemon stop
check_exit "daemon status after stop: not running" 1 "$FLEET" daemon status
"$FLEET" down slowweb >/dev/null 2>&1
check "up restarts the daemon" "$FLEET" up slowweb
kill -9 "$(daemon_pid)"
sleep 0.2
"$FLEET" down slowweb >/dev/null 2>&1
check "after kill -9, up starts a new daemon" "$FLEET" up slowweb
check "the new daemon serves the URL" curl -fsS -m 20 "$("$FLEET" url slowweb)/health"
check "a second daemon for the same state is refused" sh -c "! '$FLEET' daemon --foreground 2>&1 | grep -v 'already running' | grep -q ."
check_exit "a second daemon exits non-zero" 1 "$FLEET" daemon --foreground
check "the refused daemon leaves the running one's pidfile" sh -c "kill -0 \"\$(cat '$FLEET_STATE_DIR/daemon.pid')\""
"$FLEET" down web >/dev/null 2>&1
"$FLEET" down slowweb >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
check "no daemon left" sh -c "! '$FLEET' daemon status"
check "daemon log has one line per event" grep -q "route web" "$FLEET_STATE_DIR/daemon.log"
e2e_done
