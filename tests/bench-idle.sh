#!/bin/sh
# make bench: how long an idle deployment bills past its idle_timeout.
# For BENCH_IDLE_RUNS (10) deployments on the fake RunPod API, one after
# the other, each with a BENCH_IDLE_TIMEOUT (3s) idle timeout and the
# daemon sweeping every BENCH_IDLE_WATCH (5s, the default watch_interval):
# requests through the stable URL, the last at a known time, then none; the
# figure is the fake's own timestamp of the podTerminate call minus (that
# request + idle_timeout). Figures, not pass/fail: the sweep period and a
# second of rounding bound it, plus the `fleet down` job and its API call.
# usage: sh tests/bench-idle.sh BUILD_DIR   (from the repository root)
cd "$(dirname "$0")/.." || exit 1
. tests/e2e/lib.sh
RUNS=${BENCH_IDLE_RUNS:-10}
IDLE=${BENCH_IDLE_TIMEOUT:-3}
WATCH=${BENCH_IDLE_WATCH:-5}

start_fakecloud --boot-delay-ms 200
export RUNPOD_API_KEY=test-key FLEET_RUNPOD_URL=$F/runpod/graphql
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
daemon:
  watch_interval: ${WATCH}s
  reconcile_interval: 0s
YAML
cat > "$FLEET_TEMPLATE_DIR/idle.yaml" <<YAML
name: idle
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
YAML
now_ms() { date +%s%3N; }
pod_of() { "$FLEET" ls --json | tr -d '\n\t' | tr '{' '\n' |
    grep "\"name\":\"$1\"" | sed -n 's/.*"instance":"\([^"]*\)".*/\1/p'; }
# The fake's time (epoch ms) of the answered podTerminate for pod $1.
terminated_at() {
	$C "$F/_control/requests?prefix=/runpod" | sed 's/{"seq":/\n&/g' |
	    grep 'podTerminate' | grep -F "$1" |
	    sed -n 's/.*"time_ms":\([0-9]*\).*/\1/p' | head -n 1
}

echo "idle kill on the fake RunPod: idle_timeout ${IDLE}s," \
    "watch_interval ${WATCH}s, $RUNS runs"
: > "$T/lat"
r=1
while [ $r -le "$RUNS" ]; do
	n=idle$r
	if ! "$FLEET" up idle --name "$n" --provider runpod --idle "${IDLE}s" \
	    >"$T/up.out" 2>&1; then
		echo "  run $r: fleet up failed"; cat "$T/up.out"; r=$((r + 1))
		continue
	fi
	pod=$(pod_of "$n")
	url=$("$FLEET" url "$n")
	# Used for longer than a sweep, so the last request is the last
	# activity the watchdog knows of (not the turn to ready), and for a
	# random part of a sweep more, so it falls anywhere between sweeps.
	jitter=$(( $(od -An -N2 -tu2 /dev/urandom) % (WATCH * 1000) ))
	until=$(( $(now_ms) + (WATCH + 1) * 1000 + jitter ))
	while [ "$(now_ms)" -lt "$until" ]; do
		curl -fsS -m 5 "$url/health" >/dev/null
		sleep 0.5
	done
	curl -fsS -m 5 "$url/health" >/dev/null
	last=$(now_ms)
	t=""
	w=0
	while [ -z "$t" ] && [ $w -lt $(( (IDLE + WATCH + 20) * 10 )) ]; do
		sleep 0.1; w=$((w + 1))
		t=$(terminated_at "$pod")
	done
	if [ -z "$t" ]; then
		echo "  run $r: no terminate seen for $pod"
	else
		lat=$((t - last - IDLE * 1000))
		echo "$lat" >> "$T/lat"
		echo "  run $r: $pod terminated ${lat} ms after its idle timeout"
	fi
	r=$((r + 1))
done
sort -n "$T/lat" > "$T/lat.sorted"
k=$(wc -l < "$T/lat.sorted")
if [ "$k" -gt 0 ]; then
	echo "idle timeout -> terminate acknowledged by the fake ($k runs):" \
	    "min $(head -n 1 "$T/lat.sorted") ms," \
	    "median $(sed -n "$(( (k + 1) / 2 ))p" "$T/lat.sorted") ms," \
	    "max $(tail -n 1 "$T/lat.sorted") ms"
fi
"$FLEET" daemon stop >/dev/null 2>&1
