#!/bin/sh
# test-deadman.sh: the dead-man switch. An instance whose template sets
# deadman_timeout runs a watcher from its start-up; while the heartbeat
# file changes it stays, once it stops the instance ends itself: the local
# provider's process group killed by its own watcher, and providers that
# cannot do it refused with the reason.
# usage: sh tests/e2e/test-deadman.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

# Deployment names carry our pid: the heartbeat files live in /tmp, shared
# with every other run on this machine.
TAG=$$
HB=/tmp/fleet-heartbeat-
DMLOG=/tmp/fleet-deadman-
dm_cleanup() {
	rm -f "$T/beat"
	rm -f /tmp/fleet-heartbeat-fleet-*-$TAG-* \
	    /tmp/fleet-deadman-fleet-*-$TAG-*
	e2e_cleanup
}
trap dm_cleanup EXIT

# label_of PID: the fleet label in a process's environment.
label_of() {
	{ tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null |
	    sed -n 's/^FLEET_LABEL=//p'
}

# The daemon's part, until its SSH link sends heartbeats: every 0.2 s,
# run what deadman_heartbeat_command() gives for each of our local
# instances. Runs while $T/beat exists, two minutes at most.
beat_local() {
	n=0
	while [ -f "$T/beat" ] && [ $n -lt 600 ]; do
		for p in $(local_procs); do
			l=$(label_of "$p")
			[ -n "$l" ] && touch "$HB$l"
		done
		sleep 0.2
		n=$((n + 1))
	done
}

alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }

# --- local: the watcher shares the workload's process group ---------------
cat > "$FLEET_TEMPLATE_DIR/dmlocal.yaml" <<YAML
name: dmlocal
description: echo with a dead-man switch
deadman_timeout: 3s
ports:
  - port: 8080
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 20s}
local:
  command: "{fleet} echo-server --port {port}"
YAML

touch "$T/beat"
beat_local &
E2E_PIDS="$E2E_PIDS $!"
check_exit "local: up with deadman_timeout exits 0" 0 \
    "$FLEET" up dmlocal --name dml-$TAG --provider local
pid=$(cat "$FLEET_STATE_DIR"/local/fleet-dml-$TAG-*.pid 2>/dev/null |
    cut -d' ' -f1)
label=$(label_of "$pid")
check "local: the workload carries the watcher in FLEET_DEADMAN" \
    sh -c "tr '\0' '\n' </proc/$pid/environ | grep -q '^FLEET_DEADMAN=H=$HB$label;'"
# Our processes labelled $label other than the workload: the watcher.
watchers() {
	for p in $(local_procs); do
		[ "$p" != "$pid" ] && [ "$(label_of "$p")" = "$label" ] &&
		    echo "$p"
	done
}
in_group() {
	w=$(watchers | head -n 1)
	[ -n "$w" ] && [ "$(ps -o pgid= -p "$w" | tr -d ' ')" = "$pid" ]
}
no_watcher() { [ -z "$(watchers)" ]; }
check "local: a watcher runs beside it, in its process group" in_group
# Twice the timeout with heartbeats: still there.
i=0
while [ $i -lt 6 ] && alive "$pid"; do sleep 1; i=$((i + 1)); done
check "local: with heartbeats it outlives deadman_timeout" alive "$pid"
check "local: it still answers" curl -fsS --max-time 5 \
    "$("$FLEET" url --upstream dml-$TAG)/health"
rm -f "$T/beat"
check "local: heartbeats stop -> the instance ends itself" wait_for 20 \
    dead "$pid"
check "local: its watcher went with it" wait_for 10 no_watcher
check "local: the watcher logged why" \
    grep -q "no heartbeat for 3s" "$DMLOG$label.log"
check "local: and what it did" \
    grep -q "ending the process group of $pid" "$DMLOG$label.log"
check_exit "local: down afterwards exits 0" 0 "$FLEET" down dml-$TAG

# Without deadman_timeout nothing changes: no watcher, no variable.
write_echo_template plain
check_exit "local: a template without it comes up" 0 \
    "$FLEET" up plain --name plain-$TAG --provider local
pid=$(cat "$FLEET_STATE_DIR"/local/fleet-plain-$TAG-*.pid | cut -d' ' -f1)
check "local: no FLEET_DEADMAN without deadman_timeout" \
    sh -c "! tr '\0' '\n' </proc/$pid/environ | grep -q '^FLEET_DEADMAN='"
check "local: and no watcher" [ "$(local_procs | wc -l)" -eq 1 ]
"$FLEET" down plain-$TAG >/dev/null 2>&1

# --- providers that cannot, refused with the reason -----------------------
cat > "$FLEET_TEMPLATE_DIR/dmgpu.yaml" <<YAML
name: dmgpu
description: a GPU echo with a dead-man switch
image: ghcr.io/example/echo:1
args: ["/usr/bin/echo-server", "--port", "8080"]
gpu: {models: ["RTX 4090"], count: 1}
deadman_timeout: 3s
ports:
  - port: 8080
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
YAML
check_exit "lambda: up --provider lambda is refused" 2 \
    env LAMBDA_API_KEY=lk_unused "$FLEET" up dmgpu --provider lambda
out_has "lambda: says why" "no dead-man switch on lambda: Lambda gives an instance no credential of its own"
check "lambda: nothing was recorded" sh -c "! '$FLEET' ls | grep -q '^dmgpu '"
check_exit "lambda: offers skips it" 1 \
    env LAMBDA_API_KEY=lk_unused "$FLEET" offers dmgpu --provider lambda
out_has "lambda: offers says why" "lambda: skipped: no dead-man switch on lambda"

e2e_done
