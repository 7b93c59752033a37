#!/bin/sh
# The money guard in the daemon: idle kill (with the 80% warning), fleet
# keep, max lifetime, catch-up after the daemon was dead (no reset timer),
# the budget breaker (on a fake Vast instance that bills), and fleet up
# refused by the cap. Small timeouts; every wait is bounded.
. "$(dirname "$0")/lib.sh"

cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  watch_interval: 1s
  reconcile_interval: 0s
YAML
write_echo_template w
# The fake Vast API for the budget part. The daemon gets its URL from the
# environment it starts with; the key is handed over by `fleet up` itself
# (the daemon here is started before VAST_API_KEY is exported).
KEY=vast_wd_0b1c
export FAKECLOUD_VAST_KEY=$KEY
start_fakecloud --boot-delay-ms 200
export FLEET_VAST_URL=$F/vast
gone() { ! "$FLEET" ls | grep -q "^$1 "; }
# event NAME KIND: an event of that kind in the log (not the policy line).
event() { "$FLEET" status "$1" | sed -n '/^events:/,$p' | grep -q " $2 "; }

# --- idle kill, with activity keeping it alive first -----------------------
check "up with a 4s idle timeout" "$FLEET" up w --name idle1 --idle 4s
URL=$("$FLEET" url idle1)
i=0
while [ $i -lt 6 ]; do curl -fsS -m 5 "$URL/health" >/dev/null; sleep 1; i=$((i + 1)); done
check "traffic keeps it alive past its idle timeout" "$FLEET" ls
out_has "still running after 6s of use" "idle1"
check "ls shows when the watchdog acts (KILL IN)" sh -c "'$FLEET' ls | grep -E '^idle1 .* [0-9]s +http'"
check "idle: terminated once unused" wait_for 20 gone idle1
check "idle: the 80% warning was recorded" event idle1 idle-warning
check "idle: the kill was recorded" event idle1 idle
check "idle: no process left" sh -c "[ -z \"$(local_procs)\" ]"

# --- keep postpones the idle kill --------------------------------------------
"$FLEET" up w --name kept --idle 3s >/dev/null 2>&1
check "keep --for 1m" "$FLEET" keep kept --for 1m
sleep 6
check "kept: alive after twice its idle timeout" sh -c "'$FLEET' ls | grep -q '^kept '"
check "keep --for 0s cancels" "$FLEET" keep kept --for 0s
check "kept: terminated after the keep is cancelled" wait_for 20 gone kept

# --- max lifetime applies even with traffic -----------------------------------
check "up with --no-idle-kill --max-lifetime 3s" "$FLEET" up w --name life1 --no-idle-kill --max-lifetime 3s
LURL=$("$FLEET" url life1)
i=0
while [ $i -lt 30 ] && ! gone life1; do
	curl -s -m 2 "$LURL/health" >/dev/null; sleep 0.5; i=$((i + 1))
done
check "lifetime: terminated despite traffic" gone life1
check "lifetime: recorded" event life1 lifetime

# --- catch-up: idle while no daemon ran is idle all the same -------------------
"$FLEET" up w --name sleeper --idle 4s >/dev/null 2>&1
sleep 1
kill -9 "$(cat "$FLEET_STATE_DIR/daemon.pid")"
sleep 6
check "sleeper: still listed while no daemon runs" sh -c "'$FLEET' ls | grep -q '^sleeper '"
check "a new daemon starts" "$FLEET" daemon --detach
check "catch-up: killed at once by the new daemon" wait_for 6 gone sleeper
check "catch-up: recorded as idle" event sleeper idle

# --- the budget: a billing instance on the fake Vast API ------------------------
cat > "$FLEET_TEMPLATE_DIR/paid.yaml" <<YAML
name: paid
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1, min_vram_gb: 24}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
idle_timeout: 1h
YAML
export VAST_API_KEY=$KEY
check "a paid deployment on vast" "$FLEET" up paid --provider vast
cp "$FLEET_CONFIG" "$T/base.yaml"
printf 'budget:\n  daily_usd: 0.0001\n' >> "$FLEET_CONFIG"
kill -HUP "$(cat "$FLEET_STATE_DIR/daemon.pid")"
# Listed as down, with the breaker's note, until the user acts.
down_row() { "$FLEET" ls | grep -Eq "^$1 +- +- +down "; }
check "budget: the breaker terminates it" wait_for 20 down_row paid
check "budget: ls says the breaker stopped it" sh -c "'$FLEET' ls | grep -q '^paid: stopped by the budget breaker'"
check "budget: recorded" event paid budget
check "budget: the daemon log says why" grep -q "budget breaker: daily budget" "$FLEET_STATE_DIR/daemon.log"
check_exit "budget: a new up is refused" 1 "$FLEET" up paid --provider vast
out_has "budget: the refusal names the breaker" "the budget breaker is tripped: daily \$"
out_has "budget: and the cap it reached" "(budget.daily_usd); new launches open at "
check "budget: nothing rented by the refused up" down_row paid
cp "$T/base.yaml" "$FLEET_CONFIG"
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
