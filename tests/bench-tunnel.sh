#!/bin/sh
# bench-tunnel.sh BUILD: an SSH tunnel as the proxy's upstream, side by
# side with the same service reached directly, in one run. Figures, not
# pass/fail (run by `make bench`): it exits non-zero only when something
# it needs failed to start.
#
# A real sshd on loopback stands in for the instance (lib.sh's harness),
# a fake RunPod reports it, and a template with `tunnel: true` puts the
# daemon's direct-tcpip channel between the stable URL and the echo
# service. Measured: bulk transfer (POST of BENCH_TUNNEL_MB MiB echoed
# back, curl, best of 3) and request rate (wrk GET /health, when wrk is
# there): direct to the service, through the stable URL with a direct
# upstream, and through the stable URL with the tunnel.
cd "$(dirname "$0")/.." || exit 1
MB=${BENCH_TUNNEL_MB:-8}	# the echo server takes up to 8 MiB
SECS=${BENCH_TUNNEL_SECS:-5}
. tests/e2e/lib.sh
say() { echo "bench-tunnel: $*"; }
start_sshd >/dev/null || { say "FAILED: sshd did not start"; exit 1; }
start_fakecloud --boot-delay-ms 50 --ssh-port "$SSHD_PORT"
export RUNPOD_API_KEY=test-key
export FLEET_RUNPOD_URL=$F/runpod/graphql
SVC=$((56000 + $$ % 4000))
while [ -n "$(ss -Hltn "sport = :$SVC" 2>/dev/null)" ]; do SVC=$((SVC + 1)); done
"$FLEET" echo-server --port "$SVC" --bind 127.0.0.1 >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
daemon:
  reconcile_interval: 0s
ssh:
  key: $SSHD_KEY
providers:
  runpod:
    ssh_user: $SSHD_USER
YAML
for n in tun dir; do
	tunnel=false
	[ $n = tun ] && tunnel=true
	cat > "$FLEET_TEMPLATE_DIR/$n.yaml" <<YAML
name: $n
image: ghcr.io/example/box:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: $SVC, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
tunnel: $tunnel
idle_timeout: 0s
max_lifetime: 1h
YAML
	"$FLEET" up "$n" --provider runpod >"$T/up.$n" 2>&1 ||
	    { say "FAILED: fleet up $n"; tail -5 "$T/up.$n"; exit 1; }
done
DIRECT=http://127.0.0.1:$SVC
VIA=$("$FLEET" url dir)	# stable URL, upstream = the fake's echo port
TUN=$("$FLEET" url tun)	# stable URL, upstream = the ssh tunnel
head -c $((MB * 1048576)) /dev/urandom > "$T/blob"
# For scale: OpenSSH's own client forwarding to the same sshd (ssh -L).
OSSH=""
if command -v ssh >/dev/null 2>&1; then
	LP=$((SVC + 1))
	while [ -n "$(ss -Hltn "sport = :$LP" 2>/dev/null)" ]; do LP=$((LP + 1)); done
	ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no \
	    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$SSHD_KEY" \
	    -p "$SSHD_PORT" -L "127.0.0.1:$LP:127.0.0.1:$SVC" \
	    "$SSHD_USER@127.0.0.1" 2>/dev/null &
	E2E_PIDS="$E2E_PIDS $!"
	wait_for 10 sh -c "curl -sf http://127.0.0.1:$LP/health >/dev/null" &&
	    OSSH=http://127.0.0.1:$LP
fi

# bulk URL: best of 3 wall times for the echo of the blob, as MiB/s.
bulk() {
	best=0
	for i in 1 2 3; do
		s=$(date +%s%N)
		curl -sf --max-time 120 --data-binary @"$T/blob" \
		    -H 'Content-Type: application/octet-stream' "$1/echo" \
		    -o "$T/back" || { echo "-"; return; }
		e=$(date +%s%N)
		cmp -s "$T/blob" "$T/back" || { echo "corrupt"; return; }
		r=$(( MB * 2 * 1000000000 / (e - s + 1) ))
		[ "$r" -gt "$best" ] && best=$r
	done
	echo "$best"
}
rate() {
	command -v wrk >/dev/null 2>&1 || { echo "- -"; return; }
	wrk -t2 -c16 -d"${SECS}s" --latency "$1/health" 2>/dev/null | awk '
	function ms(s) {
		if (s ~ /us$/) return substr(s, 1, length(s) - 2) / 1000
		if (s ~ /ms$/) return substr(s, 1, length(s) - 2) + 0
		if (s ~ /s$/) return substr(s, 1, length(s) - 1) * 1000
		return s + 0
	}
	$1 == "99%" { p99 = ms($2) }
	$1 == "Requests/sec:" { rps = $2 }
	END { printf "%d %.2f\n", rps, p99 }'
}
say "$MB MiB each way per transfer (MiB/s counts both ways); wrk -t2 -c16 -d${SECS}s GET /health"
printf '%-22s %10s %10s %10s\n' target "MiB/s" "req/s" "p99 ms"
for t in direct:$DIRECT stable-direct:$VIA stable-tunnel:$TUN \
    ${OSSH:+openssh-L:$OSSH}; do
	name=${t%%:*}
	url=${t#*:}
	b=$(bulk "$url")
	set -- $(rate "$url")
	printf '%-22s %10s %10s %10s\n' "$name" "$b" "$1" "$2"
	eval "b_$(echo "$name" | tr '-' '_')=$b r_$(echo "$name" | tr '-' '_')=$1"
done
awk -v bd="$b_stable_direct" -v bt="$b_stable_tunnel" -v rd="$r_stable_direct" \
    -v rt="$r_stable_tunnel" -v b0="$b_direct" -v bo="${b_openssh_L:-0}" \
    -v ro="${r_openssh_L:-0}" 'BEGIN {
	if (bd > 0 && bt > 0) printf "tunnel/direct upstream: throughput %.2f", bt / bd
	if (rd > 0 && rt > 0) printf ", req/s %.2f", rt / rd
	if (b0 > 0 && bt > 0) printf "; tunnel/service direct: throughput %.2f", bt / b0
	printf "\n"
	if (bo > 0 && bt > 0) printf "fleet tunnel/openssh -L: throughput %.2f", bt / bo
	if (ro > 0 && rt > 0) printf ", req/s %.2f (openssh -L has no proxy hop)", rt / ro
	if (bo > 0) printf "\n" }'
"$FLEET" down tun >/dev/null 2>&1
"$FLEET" down dir >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
exit 0
