# lib.sh: shared by the end-to-end scripts. Source it after setting BUILD.
# Gives each script a private state dir, config and template dir, PASS/FAIL
# accounting and a cleanup that kills every process the script started.

BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
FLEET=$BUILD/fleet
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-e2e.XXXXXX")
export FLEET_STATE_DIR=$T/state
export FLEET_TEMPLATE_DIR=$T/templates
export FLEET_CONFIG=$T/fleet.yaml
export XDG_CONFIG_HOME=$T/xdg
unset RUNPOD_API_KEY LAMBDA_API_KEY VAST_API_KEY PAPERSPACE_API_KEY
mkdir -p "$FLEET_TEMPLATE_DIR" "$XDG_CONFIG_HOME"
# A shared proxy port of our own, so parallel runs and a user's daemon
# on the default 7070 never collide.
E2E_SHARED_PORT=$((10000 + $$ % 9000))
# The daemon's own reconcile pass is off unless a script turns it on: the
# scripts drive fleet reconcile themselves, at the moments they choose.
printf 'proxy:\n  shared_port: %d\ndaemon:\n  reconcile_interval: 0s\n' \
    "$E2E_SHARED_PORT" > "$FLEET_CONFIG"
E2E_PASSED=0
E2E_FAILED=0
E2E_PIDS=""

pass() { E2E_PASSED=$((E2E_PASSED + 1)); echo "PASS: $1"; }
fail() { E2E_FAILED=$((E2E_FAILED + 1)); echo "FAIL: $1"; [ -f "$T/out" ] && sed 's/^/    | /' "$T/out" | tail -n 20; }

# check NAME CMD...: run CMD, output to $T/out, pass when it exits 0.
check() {
	n=$1; shift
	if "$@" >"$T/out" 2>&1; then pass "$n"; else fail "$n"; fi
}

# check_exit NAME CODE CMD...: pass when CMD exits with CODE.
check_exit() {
	n=$1; want=$2; shift 2
	"$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then pass "$n"; else
		echo "    (exit $got, wanted $want)" >>"$T/out"; fail "$n"; fi
}

# out_has NAME TEXT: the last command's output contains TEXT.
out_has() {
	if grep -qF -- "$2" "$T/out"; then pass "$1"; else
		echo "    (no '$2' in output)" >>"$T/out"; fail "$1"; fi
}

# Pids of live processes whose environment carries VAR=VALUE (zombies
# have an empty environment, so they never match).
procs_with_env() {
	grep -lzx -F -- "$1" /proc/[0-9]*/environ 2>/dev/null |
	    sed -E 's,/proc/([0-9]+)/environ,\1,'
}

# Our local instances: processes labelled with this script's state dir.
local_procs() { procs_with_env "FLEET_LOCAL_OWNER=$FLEET_STATE_DIR"; }

# wait_for SECONDS CMD...: retry CMD every 0.1s until it succeeds.
wait_for() {
	limit=$(( $1 * 10 )); shift; i=0
	while [ $i -lt $limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

e2e_cleanup() {
	# A daemon that `fleet up` started for this state dir goes too.
	if [ -f "$FLEET_STATE_DIR/daemon.pid" ]; then
		kill "$(cat "$FLEET_STATE_DIR/daemon.pid" 2>/dev/null)" \
		    2>/dev/null
		sleep 0.2
	fi
	for p in $(local_procs) $E2E_PIDS; do kill -9 "$p" 2>/dev/null; done
	[ -n "$E2E_KEEP" ] && echo "kept $T" || rm -rf "$T"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# A template running the built-in echo server locally; $1 name, $2 extra.
write_echo_template() {
	if [ -n "$2" ]; then cmd=$2
	else cmd='{fleet} echo-server --port {port}'; fi
	cat > "$FLEET_TEMPLATE_DIR/$1.yaml" <<YAML
name: $1
description: test echo
ports:
  - port: 8080
    protocol: http
health:
  type: http
  path: /health
  interval: 1s
  timeout: 2s
  boot_timeout: ${3:-20s}
local:
  command: "$cmd"
YAML
}

# start_fakecloud [ARGS...]: the fake provider APIs on a free loopback
# port. Sets FC (the binary), P (its port), F (its base URL), C (curl).
start_fakecloud() {
	FC=$BUILD/fakecloud
	for f in "$FLEET" "$FC"; do
		[ -x "$f" ] || { echo "FAIL: $f not built";
		    echo "0 passed, 1 failed"; exit 1; }
	done
	"$FC" --port 0 --port-file "$T/fc.port" "$@" 2>"$T/fc.log" &
	E2E_PIDS="$E2E_PIDS $!"
	if ! wait_for 10 test -s "$T/fc.port"; then
		echo "FAIL: fakecloud writes its port file"
		echo "0 passed, 1 failed"
		exit 1
	fi
	P=$(cat "$T/fc.port")
	F=http://127.0.0.1:$P
	C="curl -sS --max-time 10"
}

e2e_done() {
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ]
}
