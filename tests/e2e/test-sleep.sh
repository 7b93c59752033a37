#!/bin/sh
# The machine sleeps: time asleep is idle time. FLEET_TEST_CLOCK_FILE moves
# every fleet clock (wall and boot) forward as a suspend would, so a 2h
# sleep takes no 2h. The daemon is frozen (SIGSTOP) across the jump, or
# killed and started again: either way an idle deployment whose timeout ran
# out asleep dies at once on wake-up, one with time left survives, and
# traffic after the wake-up counts as fresh while traffic before it is as
# old as the sleep made it.
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
CLK=$T/clock
echo 0 > "$CLK"
export FLEET_TEST_CLOCK_FILE=$CLK
# advance SECS: the clock file moves on (a new file, renamed over it).
advance() {
	echo $(( $(cat "$CLK") + $1 )) > "$CLK.new" && mv "$CLK.new" "$CLK"
}
gone() { ! "$FLEET" ls | grep -q "^$1 "; }
alive() { "$FLEET" ls | grep -q "^$1 "; }
# event NAME KIND: the deployment's event log has an event of that kind.
event() { "$FLEET" status "$1" | sed -n '/^events:/,$p' | grep -q " $2 "; }
no_event() { ! event "$@"; }
use() { curl -fsS -m 5 "$("$FLEET" url "$1")/health" >/dev/null; }
dpid() { cat "$FLEET_STATE_DIR/daemon.pid"; }
# sweeps N: let the daemon's 1s watchdog sweep N more times.
sweeps() { sleep "$1"; }
# killed_at_once CHECK NAME: NAME is gone within 10s of the wake-up (the
# watchdog sweeps every second); says how long it took.
killed_at_once() {
	s=$(date +%s%N)
	if wait_for 10 gone "$2"; then
		pass "$1 ($(( ($(date +%s%N) - s) / 1000000 )) ms after wake-up)"
	else
		"$FLEET" ls >"$T/out" 2>&1; fail "$1"
	fi
}

# --- three deployments, all used just before the machine sleeps -----------
check "up nap (idle 1h)" "$FLEET" up w --name nap --idle 1h
check "up lazy (idle 3h)" "$FLEET" up w --name lazy --idle 3h
check "up busy (idle 3h)" "$FLEET" up w --name busy --idle 3h
check "the daemon sees the test clock" sh -c "tr '\\0' '\\n' < /proc/$(dpid)/environ | grep -qx 'FLEET_TEST_CLOCK_FILE=$CLK'"
check "nap used" use nap
check "lazy used" use lazy
check "busy used" use busy
sweeps 2

# --- sleep 2h with the daemon frozen ---------------------------------------
kill -STOP "$(dpid)"
advance 7200
kill -CONT "$(dpid)"
killed_at_once "2h asleep: nap (idle 1h) is terminated at once" nap
check "nap: recorded as idle" event nap idle
sweeps 2
check "2h asleep: lazy (idle 3h) survives" alive lazy
check "2h asleep: busy (idle 3h) survives" alive busy
check "lazy: no idle warning (2h is under 80% of 3h)" no_event lazy idle-warning
check "ls: lazy has about 1h left" sh -c "'$FLEET' ls | grep -E '^lazy .* (59m|1h)'"

# --- traffic right after the wake-up is fresh --------------------------------
check "busy used after the wake-up" use busy
sweeps 2
kill -STOP "$(dpid)"
advance 5400
kill -CONT "$(dpid)"
killed_at_once "1h30m more asleep: lazy (3h30m idle) is terminated at once" lazy
sweeps 2
check "busy (used after the first wake-up, 1h30m idle) survives" alive busy
check "busy: no idle warning" no_event busy idle-warning

# --- sleep 2h with the daemon dead; a new daemon catches up --------------------
check "up fresh (idle 3h)" "$FLEET" up w --name fresh --idle 3h
check "fresh used" use fresh
sweeps 2
kill -9 "$(dpid)"
advance 7200
check "a new daemon starts" "$FLEET" daemon --detach
killed_at_once "daemon dead for 2h: busy (3h30m idle) is terminated at once" busy
check "busy: recorded as idle" event busy idle
sweeps 2
check "daemon dead for 2h: fresh (2h idle of 3h) survives" alive fresh
check "fresh still answers" use fresh
check "fresh: down" "$FLEET" down fresh
check "no local process left" sh -c "[ -z \"$(local_procs)\" ]"
"$FLEET" daemon stop >/dev/null 2>&1
check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log"
e2e_done
