#!/bin/sh
# make bench: figures, not pass/fail. Times `fleet ls` on an empty state and
# on 100 live local deployments, side by side with `fleet version` (process
# start-up cost) in the same run, and prints binary size; then the idle
# kill's delay (bench-idle.sh) and the proxy under load (bench-proxy.sh).
BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 1
FLEET=$(pwd)/$BUILD/fleet
N=${BENCH_DEPLOYMENTS:-100}
RUNS=${BENCH_RUNS:-50}
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-bench.XXXXXX")
export FLEET_STATE_DIR=$T/state FLEET_TEMPLATE_DIR=$T/templates
export FLEET_CONFIG=$T/fleet.yaml
mkdir -p "$FLEET_TEMPLATE_DIR"
printf 'proxy:\n  shared_port: %d\n  port_min: 18000\n  port_max: 18999\n' \
    $((10000 + $$ % 5000)) > "$FLEET_CONFIG"
cat > "$FLEET_TEMPLATE_DIR/b.yaml" <<'YAML'
name: b
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
local: {command: "{fleet} echo-server --port {port}"}
YAML
cleanup() {
	[ -n "$BENCH_KEEP" ] && return
	[ -f "$FLEET_STATE_DIR/daemon.pid" ] &&
	    kill "$(cat "$FLEET_STATE_DIR/daemon.pid")" 2>/dev/null
	for p in $(grep -lzx -F "FLEET_LOCAL_OWNER=$FLEET_STATE_DIR" \
	    /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

# Mean wall time of RUNS runs of a command, in milliseconds.
mean_ms() {
	s=$(date +%s%N)
	i=0
	while [ $i -lt "$RUNS" ]; do "$@" >/dev/null 2>&1; i=$((i + 1)); done
	e=$(date +%s%N)
	echo $(( (e - s) / RUNS / 1000 ))
}

echo "binary: $(stat -c %s "$FLEET") bytes ($BUILD/fleet, -O2 -g);" \
    "stripped: $(strip -o "$T/fleet.stripped" "$FLEET" && stat -c %s "$T/fleet.stripped") bytes"
v0=$(mean_ms "$FLEET" version)
l0=$(mean_ms "$FLEET" ls)
echo "empty state:   fleet ls ${l0}us, fleet version ${v0}us (mean of $RUNS)"
s=$(date +%s%N)
i=1
while [ $i -le "$N" ]; do
	"$FLEET" up b --name "b$i" >/dev/null 2>&1 || echo "up b$i failed"
	i=$((i + 1))
done
e=$(date +%s%N)
echo "fleet up x$N (local echo servers): $(( (e - s) / N / 1000000 ))ms each"
v1=$(mean_ms "$FLEET" version)
l1=$(mean_ms "$FLEET" ls)
j1=$(mean_ms "$FLEET" ls --json)
echo "$N deployments: fleet ls ${l1}us, ls --json ${j1}us, version ${v1}us"
echo "ratio ls($N)/ls(empty): $(echo "scale=2; $l1 / $l0" | bc 2>/dev/null || echo "$l1/$l0")"
s=$(date +%s%N)
i=1
while [ $i -le "$N" ]; do "$FLEET" down "b$i" >/dev/null 2>&1; i=$((i + 1)); done
e=$(date +%s%N)
echo "fleet down x$N: $(( (e - s) / N / 1000000 ))ms each"

# How long an idle deployment bills past its idle_timeout (fake RunPod).
sh tests/bench-idle.sh "$BUILD"

# The stable endpoint under load: fleet vs direct vs nginx (wrk).
sh tests/bench-proxy.sh "$BUILD"

# An ssh tunnel as the upstream vs the same service direct and ssh -L.
sh tests/bench-tunnel.sh "$BUILD"
