#!/bin/sh
# Scale to zero and back on the fake RunPod API: the idle watchdog stops
# (idle_action: stop) instead of terminating; a request to the stable URL
# wakes the deployment (wake_on_request) and is held until it is healthy
# on its new port; fleet stop / fleet start by hand; local cannot stop.
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 300
export RUNPOD_API_KEY=test-key
export FLEET_RUNPOD_URL=$F/runpod/graphql
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
  hold_timeout: 60s
daemon:
  watch_interval: 1s
  reconcile_interval: 0s
YAML
cat > "$FLEET_TEMPLATE_DIR/nap.yaml" <<YAML
name: nap
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
idle_timeout: 3s
idle_action: stop
wake_on_request: true
YAML
write_echo_template plain
state_of() { "$FLEET" ls --json | tr -d ' \n\t' | sed -n "s/.*\"name\":\"$1\"[^}]*\"state\":\"\([a-z]*\)\".*/\1/p"; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }

check "up nap on runpod" "$FLEET" up nap --provider runpod
URL=$("$FLEET" url nap)
first=$("$FLEET" url --upstream nap)
check "the stable URL answers" curl -fsS -m 10 "$URL/health"
check "idle: stopped, not terminated" wait_for 25 is_state nap stopped
check "idle: the event says stopping" sh -c "'$FLEET' status nap | grep -q 'idle .*stopping'"
check "stopped: no longer billing (KILL IN is -)" sh -c "'$FLEET' ls | grep -E '^nap .* stopped .* - +http'"
check "a request wakes it and is answered" curl -fsS -m 60 "$URL/health"
check "woken: running again" is_state nap running
second=$("$FLEET" url --upstream nap)
check "woken: on a new upstream port ($first -> $second)" [ "$first" != "$second" ]
check "woken: the wake was recorded" sh -c "'$FLEET' status nap | grep -q ' wake '"

"$FLEET" keep nap --for 10m >/dev/null
check "stop by hand" "$FLEET" stop nap
check "stopped by hand" is_state nap stopped
rate=$("$FLEET" ls --json | tr -d ' \t\n' | grep -o '"billing_rate":[0-9.e-]*' | head -n 1 | cut -d: -f2)
check "stopped: pays only for its 50 GB volume (\$$rate/h = 50 x 0.20 / 730)" awk "BEGIN { exit !($rate > 0.0136 && $rate < 0.0138) }"
check "start by hand" "$FLEET" start nap
check "started: healthy behind the same stable URL" curl -fsS -m 10 "$URL/health"
check "down after all that" "$FLEET" down nap

"$FLEET" up plain >/dev/null 2>&1
check_exit "local cannot stop" 1 "$FLEET" stop plain
out_has "local cannot stop: says so" "cannot stop an instance and keep it"
"$FLEET" down plain >/dev/null 2>&1
e2e_done
