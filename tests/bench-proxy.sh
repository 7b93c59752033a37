#!/bin/sh
# bench-proxy.sh BUILD: the stable endpoint's throughput and latency, side
# by side with the same upstream hit directly and through nginx, in one run.
# Figures, not pass/fail (run by `make bench`, not `make test`): it exits
# non-zero only when something it needs failed to start or run.
#
# One echo upstream (a local deployment that `fleet up` starts, which also
# starts the daemon) serves all targets: direct, fleet's stable URL, nginx
# with one worker (fleet's daemon is single-threaded) and nginx with
# `worker_processes auto` for context. wrk runs against each in turn with
# identical settings: GET /health (small response) and POST /echo with a
# 4 KiB body (echoed back: 4 KiB each way).
#
# Knobs: BENCH_PROXY_SECS (per run, default 10), BENCH_PROXY_THREADS (2),
# BENCH_PROXY_CONNS (32), BENCH_PROXY_BODY (POST body bytes, 4096),
# BENCH_PROXY_KEEP=1 keeps the temp dir.
BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 1
case "$BUILD" in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
FLEET=$BUILD/fleet
SECS=${BENCH_PROXY_SECS:-10}
THREADS=${BENCH_PROXY_THREADS:-2}
CONNS=${BENCH_PROXY_CONNS:-32}
BODY=${BENCH_PROXY_BODY:-4096}
NAME=pb

say() { echo "bench-proxy: $*"; }
die() { echo "bench-proxy: FAILED: $*" >&2; exit 1; }

[ -x "$FLEET" ] || die "no $FLEET (make $BUILD/fleet first)"

# --- tools: wrk and nginx from Debian, installed only when missing --------
POLICY_RC=""
need=""
command -v wrk >/dev/null 2>&1 || need="$need wrk"
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
[ -n "$NGINX" ] || need="$need nginx"
if [ -n "$need" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "missing:$need; as root run: apt-get install -y$need"
	elif ! command -v apt-get >/dev/null 2>&1; then
		say "missing:$need and no apt-get"
	else
		# Installing nginx must not start its system service: a
		# policy-rc.d that says no, for the install only.
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d &&
			    chmod 755 /usr/sbin/policy-rc.d &&
			    POLICY_RC=/usr/sbin/policy-rc.d
		fi
		say "installing$need (apt-get)"
		# shellcheck disable=SC2086
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need \
		    >/dev/null 2>&1; then
			apt-get update -q >/dev/null 2>&1
			# shellcheck disable=SC2086
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			    $need >/dev/null 2>&1 ||
			    say "apt-get install -y$need failed"
		fi
		[ -n "$POLICY_RC" ] && rm -f "$POLICY_RC" && POLICY_RC=""
		NGINX=$(command -v nginx 2>/dev/null ||
		    { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
	fi
fi
if ! command -v wrk >/dev/null 2>&1; then
	say "no wrk: proxy benchmark skipped"
	exit 0
fi

# --- private everything under one temp dir --------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-bench-proxy.XXXXXX") || die "mktemp"
chmod 711 "$T"	# nginx workers (nobody when run as root) traverse it
export FLEET_STATE_DIR=$T/state FLEET_TEMPLATE_DIR=$T/templates
export FLEET_CONFIG=$T/fleet.yaml XDG_CONFIG_HOME=$T/xdg
unset RUNPOD_API_KEY LAMBDA_API_KEY VAST_API_KEY PAPERSPACE_API_KEY
mkdir -p "$FLEET_TEMPLATE_DIR" "$XDG_CONFIG_HOME"
BGPIDS=""
NGX_PIDS=""	# nginx masters, in the foreground: our children

cleanup() {
	trap - EXIT INT TERM
	for p in $BGPIDS; do kill "$p" 2>/dev/null; done
	for p in $NGX_PIDS; do kill -QUIT "$p" 2>/dev/null; done
	if [ -f "$FLEET_STATE_DIR/daemon.pid" ]; then
		"$FLEET" down "$NAME" >/dev/null 2>&1
		kill "$(cat "$FLEET_STATE_DIR/daemon.pid")" 2>/dev/null
		sleep 0.2
	fi
	for p in $(grep -lzx -F "FLEET_LOCAL_OWNER=$FLEET_STATE_DIR" \
	    /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
		kill -9 "$p" 2>/dev/null
	done
	for p in $NGX_PIDS; do
		kill -0 "$p" 2>/dev/null && sleep 0.5
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$POLICY_RC" ] && rm -f "$POLICY_RC"
	if [ -n "$BENCH_PROXY_KEEP" ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports: a shared port and a stable-port range of our own, away from a
# user's daemon on 7070 and from bench.sh's 18000-18999.
base=$((20000 + ($$ % 120) * 100))
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $base
  port_min: $((base + 1))
  port_max: $((base + 50))
YAML
cat > "$FLEET_TEMPLATE_DIR/$NAME.yaml" <<YAML
name: $NAME
description: proxy benchmark upstream
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 20s}
idle_timeout: 0
max_lifetime: 0
local: {command: "{fleet} echo-server --port {port}"}
YAML

"$FLEET" up "$NAME" > "$T/up.out" 2>&1 || { cat "$T/up.out"; die "fleet up"; }
URL=$("$FLEET" url "$NAME") || die "fleet url"
UP=$("$FLEET" url --upstream "$NAME") || die "fleet url --upstream"
DPID=$(cat "$FLEET_STATE_DIR/daemon.pid" 2>/dev/null)
[ -n "$DPID" ] && [ -d "/proc/$DPID" ] || die "no daemon pid"
UPHOSTPORT=${UP#http://}
UPHOSTPORT=${UPHOSTPORT%%/*}
UPPORT=${UPHOSTPORT##*:}
# The upstream's pid: the local process listening on its port.
UPPID=""
for p in $(grep -lzx -F "FLEET_LOCAL_OWNER=$FLEET_STATE_DIR" \
    /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
	tr "\000" " " < "/proc/$p/cmdline" 2>/dev/null |
	    grep -q -- "--port $UPPORT " && UPPID=$p
done
curl -fsS -m 5 "$UP/health" >/dev/null || die "upstream $UP/health"
curl -fsS -m 5 "$URL/health" >/dev/null || die "stable URL $URL/health"

# --- nginx: a private process, 127.0.0.1, keep-alive to the upstream ------
# nginx_start TAG WORKERS: sets NGX_URL and NGX_PID, or fails. nginx runs
# in the foreground as our child (daemon off), so cleanup can wait for it.
nginx_start() {
	d=$T/nginx-$1
	mkdir -p "$d/logs" "$d/tmp"
	chmod 755 "$d"
	try=0
	while [ $try -lt 5 ]; do
		port=$((base + 60 + try * 7 + ${#1}))
		cat > "$d/nginx.conf" <<NGINX
daemon off;
worker_processes $2;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	upstream echo {
		server $UPHOSTPORT;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$port;
		location / {
			proxy_pass http://echo;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
NGINX
		"$NGINX" -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" \
		    >"$d/start.out" 2>&1 &
		NGX_PID=$!
		NGX_PIDS="$NGX_PIDS $NGX_PID"
		i=0
		while [ $i -lt 50 ] && kill -0 $NGX_PID 2>/dev/null; do
			if curl -fsS -m 2 "http://127.0.0.1:$port/health" \
			    >/dev/null 2>&1; then
				NGX_URL=http://127.0.0.1:$port
				return 0
			fi
			sleep 0.1; i=$((i + 1))
		done
		kill -9 $NGX_PID 2>/dev/null	# bind failed or never answered
		wait $NGX_PID 2>/dev/null
		try=$((try + 1))
	done
	sed 's/^/    | /' "$d/start.out" "$d/logs/error.log" >&2 2>/dev/null
	return 1
}

# --- measurement helpers --------------------------------------------------
cat > "$T/post.lua" <<LUA
wrk.method = "POST"
wrk.body = string.rep("x", $BODY)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

# CPU ticks (user+system) of a list of pids.
ticks() {
	t=0
	for p in "$@"; do
		v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo $t
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# nginx master and its workers.
nginx_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }

# run TARGET CASE URL PROXYPIDS: one wrk run; appends a row to $T/rows.
# Row: case target req/s p50ms p99ms proxy-cpu% upstream-cpu% errors
run() {
	tgt=$1; cs=$2; u=$3; shift 3
	case $cs in
	get) args="$u/health" ;;
	post) args="-s $T/post.lua $u/echo" ;;
	esac
	out=$T/wrk-$tgt-$cs.out
	# Warm up connections (and nginx's upstream keep-alive pool) first.
	# shellcheck disable=SC2086
	timeout 10 wrk -t"$THREADS" -c"$CONNS" -d1s $args >/dev/null 2>&1
	p0=$(ticks "$@"); u0=$(ticks $UPPID); s0=$(date +%s%N)
	# shellcheck disable=SC2086
	timeout $((SECS + 20)) wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" \
	    --latency $args > "$out" 2>&1
	rc=$?
	s1=$(date +%s%N); p1=$(ticks "$@"); u1=$(ticks $UPPID)
	if [ $rc -ne 0 ] || ! grep -q '^Requests/sec' "$out"; then
		sed 's/^/    | /' "$out" >&2
		FAILED="$FAILED $tgt/$cs"
		return 1
	fi
	ms=$(( (s1 - s0) / 1000000 ))
	pcpu=-
	[ $# -gt 0 ] && pcpu=$(( (p1 - p0) * 1000 * 100 / HZ / ms ))
	ucpu=$(( (u1 - u0) * 1000 * 100 / HZ / ms ))
	awk -v cs="$cs" -v tgt="$tgt" -v pcpu="$pcpu" -v ucpu="$ucpu" '
	function ms(s) {
		if (s ~ /us$/) return substr(s, 1, length(s) - 2) / 1000
		if (s ~ /ms$/) return substr(s, 1, length(s) - 2) + 0
		if (s ~ /m$/) return substr(s, 1, length(s) - 1) * 60000
		if (s ~ /s$/) return substr(s, 1, length(s) - 1) * 1000
		return s + 0
	}
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/^Requests\/sec:/ { rps = $2 }
	/Non-2xx or 3xx/ { err += $NF }
	/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
	END { printf "%s %s %.0f %.3f %.3f %s %s %d\n", cs, tgt, rps, p50,
	    p99, pcpu, ucpu, err }' "$out" >> "$T/rows"
}

FAILED=""
: > "$T/rows"
NGX1="" NGXA="" NGX1PID="" NGXAPID=""
if [ -n "$NGINX" ]; then
	if nginx_start w1 1; then NGX1=$NGX_URL NGX1PID=$NGX_PID
	else say "nginx (1 worker) did not start"; fi
fi
if [ -n "$NGX1" ]; then
	if nginx_start wauto auto; then NGXA=$NGX_URL NGXAPID=$NGX_PID
	else say "nginx (auto) did not start"; fi
fi
[ -n "$NGINX" ] || say "no nginx: fleet compared with direct only"

RSS_IDLE=$(rss_kb "$DPID")
for cs in get post; do
	run direct "$cs" "$UP"
	# Sample the daemon's RSS while wrk drives it.
	( mx=0; while :; do r=$(rss_kb "$DPID"); [ "${r:-0}" -gt $mx ] &&
	    mx=$r && echo $mx > "$T/rss-max-$cs"; sleep 0.2; done ) &
	sp=$!
	BGPIDS="$BGPIDS $sp"
	run fleet "$cs" "$URL" "$DPID"
	kill $sp 2>/dev/null
	# shellcheck disable=SC2046
	[ -n "$NGX1" ] && run nginx-1w "$cs" "$NGX1" \
	    $(nginx_pids "$NGX1PID")
	# shellcheck disable=SC2046
	[ -n "$NGXA" ] && run nginx-auto "$cs" "$NGXA" \
	    $(nginx_pids "$NGXAPID")
done
sleep 1
RSS_AFTER=$(rss_kb "$DPID")
RSS_LOAD=$(cat "$T/rss-max-get" "$T/rss-max-post" 2>/dev/null | sort -n | tail -n 1)

# --- the table ------------------------------------------------------------
echo
echo "proxy benchmark: wrk -t$THREADS -c$CONNS -d${SECS}s --latency, loopback," \
    "$(nproc 2>/dev/null || echo ?) CPUs shared by wrk, proxy and upstream"
echo "  one upstream for all targets: $UP (fleet echo-server, single-threaded)"
echo "  fleet: $URL (daemon pid $DPID, single-threaded libevent)"
[ -n "$NGX1" ] && echo "  nginx $("$NGINX" -v 2>&1 | sed 's,.*/,,'):" \
    "nginx-1w = worker_processes 1 (like fleet), nginx-auto =" \
    "worker_processes auto; keepalive 64 to the upstream, HTTP/1.1"
echo "  get = GET /health (15-byte body); post = POST /echo, $BODY-byte body echoed back"
echo "  cpu% = the proxy's CPU over the run (100 = one core; nginx: master and"
echo "  workers), us/req = its CPU microseconds per request, up% = the upstream's CPU"
echo
awk -v goal_t=0.9 -v goal_p=1.1 '
{ cs[NR] = $1; tg[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5
  pc[NR] = $6; uc[NR] = $7; er[NR] = $8; key[$1 "/" $2] = NR }
function ratio(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "-" }
END {
	printf "%-5s %-11s %10s %9s %9s %5s %7s %4s %6s\n", "case", "target",
	    "req/s", "p50 ms", "p99 ms", "cpu%", "us/req", "up%", "errors"
	for (i = 1; i <= NR; i++) {
		us = "-"
		if (pc[i] != "-" && rps[i] > 0)
			us = sprintf("%.1f", pc[i] * 10000 / rps[i])
		printf "%-5s %-11s %10d %9.3f %9.3f %5s %7s %4s %6d\n", cs[i],
		    tg[i], rps[i], p50[i], p99[i], pc[i], us, uc[i], er[i]
	}
	print ""
	met = 1; have = 0
	split("get post", cases, " ")
	for (c = 1; c <= 2; c++) {
		f = key[cases[c] "/fleet"]; d = key[cases[c] "/direct"]
		n = key[cases[c] "/nginx-1w"]; a = key[cases[c] "/nginx-auto"]
		if (!f) continue
		line = sprintf("%-5s fleet/direct: req/s %s, p99 %s", cases[c],
		    ratio(rps[f], rps[d]), ratio(p99[f], p99[d]))
		if (n) {
			line = line sprintf("; fleet/nginx-1w: req/s %s, p99 %s",
			    ratio(rps[f], rps[n]), ratio(p99[f], p99[n]))
			have = 1
			if (rps[f] < goal_t * rps[n] || p99[f] > goal_p * p99[n])
				met = 0
		}
		if (a)
			line = line sprintf("; fleet/nginx-auto: req/s %s, p99 %s",
			    ratio(rps[f], rps[a]), ratio(p99[f], p99[a]))
		print line
		# ~40 ms medians where the upstream answers in ~1 ms: the
		# signature of Nagle holding a small trailing segment until
		# the peer'"'"'s delayed ACK.
		if (d && p50[f] >= 30 && p50[f] < 60 && p50[d] < 10)
			printf "%-5s fleet p50 %.1f ms vs direct %.1f ms: looks " \
			    "like a Nagle/delayed-ACK stall (TCP_NODELAY?)\n",
			    cases[c], p50[f], p50[d]
	}
	print ""
	printf "goal: fleet throughput >= 0.9 x nginx, p99 <= 1.1 x nginx " \
	    "(nginx-1w, both cases): "
	print (have ? (met ? "MET" : "NOT MET") : "no nginx figures")
}' "$T/rows"
echo "fleet daemon RSS: idle ${RSS_IDLE:-?} kB, peak under load" \
    "${RSS_LOAD:-?} kB, after ${RSS_AFTER:-?} kB"
if [ -n "$FAILED" ]; then
	die "runs that failed:$FAILED"
fi
exit 0
