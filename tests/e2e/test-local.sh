#!/bin/sh
# End to end on the local provider: up/ls/status/url/down, idempotence,
# crash safety (kill -9 at each step of `fleet up`), boot failures, bad
# input, exit codes. Drives the real binary with a private state dir.
. "$(dirname "$0")/lib.sh"

write_echo_template echo1
write_echo_template slow "sh -c 'sleep 2; exec {fleet} echo-server --port {port}'" 30s
write_echo_template never "sleep 60" 2s
write_echo_template dies "false" 10s

# --- the happy path -------------------------------------------------------
check_exit "up echo1 exits 0" 0 "$FLEET" up echo1
out_has "up prints the stable URL" "echo1 is up on local: http://127.0.0.1:"
out_has "up shows the port-open stage" "port open: http://127.0.0.1:"
out_has "up shows the healthy stage" "healthy"
check "ls lists it running" sh -c "'$FLEET' ls | grep -E '^echo1 +local +local +running'"
check "ls --json has the stable keys" sh -c "'$FLEET' ls --json | tr -d ' \t\n' | grep -q '\"name\":\"echo1\"' &&
    for k in name provider state gpu price_per_hour stable_url upstream created_at spent_usd; do
	'$FLEET' ls --json | grep -q \"\\\"\$k\\\"\" || exit 1; done"
url=$("$FLEET" url echo1)
up=$("$FLEET" url --upstream echo1)
check "url is a stable loopback URL" sh -c "echo '$url' | grep -Eq '^http://127\.0\.0\.1:[0-9]+$'"
check "the upstream answers its health check" curl -fsS "$up/health"
check "the upstream echoes a POST" sh -c "curl -fsS -d hello '$up/echo' | grep -qx hello"
check "status shows the live state" sh -c "'$FLEET' status echo1 | grep -q 'live state:  running'"
check "status --json is JSON with events" sh -c "'$FLEET' status echo1 --json | grep -q '\"kind\":.*\"healthy\"'"
check_exit "up again is a no-op" 0 "$FLEET" up echo1
out_has "up again says already up" "already up"
check "exactly one local process" [ "$(local_procs | wc -l)" -eq 1 ]
check "state file is private (0600)" sh -c "[ \$(stat -c %a '$FLEET_STATE_DIR/fleet.db') = 600 ]"
check_exit "down exits 0" 0 "$FLEET" down echo1
out_has "down prints uptime and cost" "cost \$0.00"
check "down leaves no process" sh -c "[ -z \"$(local_procs)\" ]"
check "the upstream is gone" sh -c "! curl -fsS --max-time 2 '$up/health'"
check "ls no longer lists it" sh -c "! '$FLEET' ls | grep -q '^echo1 '"
check "ls --all shows it down" sh -c "'$FLEET' ls --all | grep -Eq '^echo1 .* down '"
check_exit "down again says not running" 0 "$FLEET" down echo1
"$FLEET" up echo1 >/dev/null 2>&1
check "the stable URL survives down and up" sh -c "[ \"\$('$FLEET' url echo1)\" = '$url' ]"
"$FLEET" down echo1 >/dev/null 2>&1

# --- websocket readiness, environment hygiene, racing ups ------------------
cat > "$FLEET_TEMPLATE_DIR/wsready.yaml" <<YAML
name: wsready
ports: [{port: 8998, protocol: ws}]
health: {type: ws, path: /api/chat, interval: 1s, boot_timeout: 10s}
local:
  command: "sh -c 'env > \$FLEET_LOCAL_OWNER/env.\$FLEET_PORT; exec {fleet} echo-server --port {port}'"
  env: {FLEET_LABEL: hijack, DEMO_VAR: kept}
YAML
check_exit "ws health check: a real handshake passes" 0 env RUNPOD_API_KEY=rp-secret-key-123 "$FLEET" up wsready
check "the workload never sees cloud API keys" sh -c "! grep -q rp-secret-key-123 '$FLEET_STATE_DIR'/env.*"
check "template env reaches the workload" sh -c "grep -qx DEMO_VAR=kept '$FLEET_STATE_DIR'/env.*"
check "template env cannot override the label" sh -c "grep -q '^FLEET_LABEL=fleet-wsready-' '$FLEET_STATE_DIR'/env.*"
"$FLEET" down wsready >/dev/null 2>&1
# A key under the name fleet.yaml gives it (api_key_env) stays out too.
cp "$FLEET_CONFIG" "$T/keyenv.yaml"
printf 'providers:\n  vast:\n    api_key_env: MY_VAST_KEY\n' >>"$T/keyenv.yaml"
rm -f "$FLEET_STATE_DIR"/env.*
check_exit "up with a custom api_key_env set" 0 env FLEET_CONFIG="$T/keyenv.yaml" \
    MY_VAST_KEY=vast-secret-key-456 "$FLEET" up wsready
check "the workload never sees a key under its api_key_env name" \
    sh -c "! grep -q vast-secret-key-456 '$FLEET_STATE_DIR'/env.*"
FLEET_CONFIG="$T/keyenv.yaml" "$FLEET" down wsready >/dev/null 2>&1
"$FLEET" up slow --name race >"$T/race1" 2>&1 &
r1=$!
"$FLEET" up slow --name race >"$T/race2" 2>&1 &
r2=$!
wait $r1; wait $r2
check "two racing ups create one instance" [ "$(local_procs | wc -l)" -eq 1 ]
check "the loser says it is already there" grep -q "already has instance" "$T/race1" "$T/race2"
"$FLEET" down race >/dev/null 2>&1

# --- crash safety: kill -9 at each point of `fleet up` ---------------------
FLEET_TEST_CRASH=after-intent "$FLEET" up echo1 --name crash1 >/dev/null 2>&1
check "killed after intent: ls shows the pending row" sh -c "'$FLEET' ls | grep -Eq '^crash1 +local .* pending'"
check_exit "killed after intent: down finishes it" 0 "$FLEET" down crash1
check "killed after intent: nothing running" sh -c "[ -z \"$(local_procs)\" ]"

FLEET_TEST_CRASH=after-create "$FLEET" up echo1 --name crash2 >/dev/null 2>&1
check "killed after create: the process exists" sh -c "[ -n \"$(local_procs)\" ]"
check "killed after create: ls shows it" sh -c "'$FLEET' ls | grep -Eq '^crash2 +local .* pending'"
check_exit "killed after create: down finds it by label" 0 "$FLEET" down crash2
out_has "killed after create: down names the instance" "fleet-crash2-"
check "killed after create: no labelled process" sh -c "[ -z \"$(local_procs)\" ]"

"$FLEET" up echo1 --name crash3 >/dev/null 2>&1
FLEET_TEST_CRASH=after-desired "$FLEET" down crash3 >/dev/null 2>&1
check "down killed mid-way: the process still runs" sh -c "[ -n \"$(local_procs)\" ]"
check "down killed mid-way: ls still shows it" sh -c "'$FLEET' ls | grep -Eq '^crash3 +local .* running'"
check "down killed mid-way: reconcile finishes the terminate" "$FLEET" reconcile --once
check "down killed mid-way: nothing left running" sh -c "[ -z \"$(local_procs)\" ]"

"$FLEET" up echo1 --name crash4 >/dev/null 2>&1
FLEET_TEST_CRASH=after-desired "$FLEET" down crash4 >/dev/null 2>&1
check_exit "up after a down killed mid-way: already up" 0 "$FLEET" up echo1 --name crash4
out_has "up after a down killed mid-way: says so" "already up"
check "up after a down killed mid-way: reconcile" "$FLEET" reconcile --once
check "up after a down killed mid-way: ls shows it running" sh -c "'$FLEET' ls | grep -Eq '^crash4 +local .* running'"
check "up after a down killed mid-way: its process lives" sh -c "[ -n \"$(local_procs)\" ]"
"$FLEET" down crash4 >/dev/null 2>&1

"$FLEET" up slow >"$T/slow.out" 2>&1 &
uppid=$!
wait_for 10 sh -c "'$FLEET' ls | grep -Eq '^slow +local .* booting'"
kill_ours 9 $uppid; wait $uppid 2>/dev/null
check "kill -9 mid-boot: ls still shows it" sh -c "'$FLEET' ls | grep -Eq '^slow +local'"
check "kill -9 mid-boot: its process lives on" sh -c "[ -n \"$(local_procs)\" ]"
check_exit "kill -9 mid-boot: down terminates it" 0 "$FLEET" down slow
check "kill -9 mid-boot: no process left behind" sh -c "[ -z \"$(local_procs)\" ]"

# --- boot failures never leave anything running ---------------------------
check_exit "never healthy: up fails after the boot timeout" 1 "$FLEET" up never
out_has "never healthy: says why" "not healthy after 2s"
out_has "never healthy: terminated" "terminated fleet-never-"
check "never healthy: no process left" sh -c "[ -z \"$(local_procs)\" ]"
check_exit "command exits at once: up fails" 1 "$FLEET" up dies
out_has "command exits at once: says so" "the workload exited during boot (local: process"
"$FLEET" up slow >"$T/int.out" 2>&1 &
uppid=$!
wait_for 10 sh -c "'$FLEET' ls | grep -Eq '^slow +local .* booting'"
kill -INT $uppid; wait $uppid
check "Ctrl-C during up terminates the instance" sh -c "grep -q 'terminated fleet-slow-' '$T/int.out' && [ -z \"$(local_procs)\" ]"

# --- bad input -------------------------------------------------------------
check_exit "unknown template: exit 2" 2 "$FLEET" up no-such-template
out_has "unknown template: named" "unknown template 'no-such-template'"
check_exit "unknown deployment: down exit 1" 1 "$FLEET" down ghost
check_exit "unknown provider: exit 2" 2 "$FLEET" up echo1 --name p1 --provider nosuch
out_has "unknown provider: lists known" "this build has: "
check_exit "bad duration: exit 2" 2 "$FLEET" up echo1 --idle 5x
check_exit "no-idle-kill needs max-lifetime" 2 "$FLEET" up echo1 --no-idle-kill
check_exit "invalid deployment name: exit 2" 2 "$FLEET" up echo1 --name 'Bad Name'
check_exit "unknown command: exit 2" 2 "$FLEET" frobnicate
for c in up down ls status url offers keep stop start cost reconcile reap templates auth daemon doctor version help echo-server; do
	check_exit "$c --help exits 0" 0 "$FLEET" "$c" --help
done
echo_listener() { "$FLEET" echo-server --port "$1" >/dev/null 2>&1 & E2E_PIDS="$E2E_PIDS $!"; }
cat > "$FLEET_TEMPLATE_DIR/fixed.yaml" <<YAML
name: fixed
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, boot_timeout: 10s}
stable_port: 8977
local: {command: "{fleet} echo-server --port {port}"}
YAML
echo_listener 8977
wait_for 5 curl -fsS http://127.0.0.1:8977/health
check_exit "stable port in use: up fails" 1 "$FLEET" up fixed
out_has "stable port in use: says so" "stable port 8977"
check "stable port in use: nothing started" sh -c "[ -z \"$(local_procs)\" ] && ! '$FLEET' ls | grep -q '^fixed '"

printf 'defaults:\n  idel_timeout: 20m\n' > "$T/bad.yaml"
rm -rf "$T/state2"
check_exit "config typo: exit 2" 2 env FLEET_STATE_DIR="$T/state2" "$FLEET" -c "$T/bad.yaml" ls
out_has "config typo: file:line:col" "bad.yaml:2:3"
out_has "config typo: suggests the key" "idle_timeout"
check "config error does not touch state" sh -c "[ ! -e '$T/state2' ]"
printf 'name: broken\nports: [{port: 99999}]\n' > "$FLEET_TEMPLATE_DIR/broken.yaml"
check_exit "bad template: exit 2" 2 "$FLEET" up broken
out_has "bad template: names file and line" "broken.yaml:2:"
rm -f "$FLEET_TEMPLATE_DIR/broken.yaml"
check_exit "doctor --offline passes" 0 "$FLEET" doctor --offline
out_has "doctor names the state" "fleet.db"

e2e_done
