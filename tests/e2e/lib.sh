# lib.sh: shared by the end-to-end scripts. Source it after setting BUILD.
# Gives each script a private state dir, config and template dir, PASS/FAIL
# accounting and a cleanup that kills every process the script started.

BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
FLEET=$BUILD/fleet
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-e2e.XXXXXX")
# Every process this script starts carries it (kill_ours), even after the
# script points FLEET_STATE_DIR elsewhere.
export E2E_OWNER=$T
export FLEET_STATE_DIR=$T/state
export FLEET_TEMPLATE_DIR=$T/templates
export FLEET_CONFIG=$T/fleet.yaml
export XDG_CONFIG_HOME=$T/xdg
# A home of its own: a developer's ~/.runpod/config.toml or ~/.vast_api_key
# (read as keys, last) must not reach the fakes.
export HOME=$T/home
unset RUNPOD_API_KEY LAMBDA_API_KEY VAST_API_KEY PAPERSPACE_API_KEY
mkdir -p "$FLEET_TEMPLATE_DIR" "$XDG_CONFIG_HOME" "$HOME"
# Proxy ports of our own: tests/run.sh gives each script a slot
# (E2E_SLOT), so scripts running side by side, and a user's daemon on the
# default 7070 and 8900-8999, never pick the same shared or stable port.
# 10000-19999 is below where local instances pick theirs (20000+).
E2E_SLOT=${E2E_SLOT:-$(($$ % 99))}
E2E_SHARED_PORT=$((10000 + E2E_SLOT * 100))
E2E_PORT_MIN=$((E2E_SHARED_PORT + 1))
E2E_PORT_MAX=$((E2E_SHARED_PORT + 99))
# The daemon's own reconcile pass is off unless a script turns it on: the
# scripts drive fleet reconcile themselves, at the moments they choose.
printf 'proxy:\n  shared_port: %d\n  port_min: %d\n  port_max: %d\ndaemon:\n  reconcile_interval: 0s\n' \
    "$E2E_SHARED_PORT" "$E2E_PORT_MIN" "$E2E_PORT_MAX" > "$FLEET_CONFIG"
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

# our_daemon_pid: the pid in daemon.pid, only if that process is a fleet
# daemon of this state dir (a pidfile left by a SIGKILLed daemon may name
# a pid the system has since given to something else).
our_daemon_pid() {
	_p=$(cat "$FLEET_STATE_DIR/daemon.pid" 2>/dev/null)
	[ -n "$_p" ] || return 1
	{ tr '\0' '\n' <"/proc/$_p/environ"; } 2>/dev/null |
	    grep -qxF "FLEET_STATE_DIR=$FLEET_STATE_DIR" || return 1
	echo "$_p"
}

# kill_ours SIG PID...: signal those PIDs that still are processes of this
# script (their environment carries our E2E_OWNER). A pid whose process
# ended may have gone to another script running side by side: never kill
# that one. True when at least one was signalled.
kill_ours() {
	_sig=$1; _any=1
	shift
	for _p in "$@"; do
		{ tr '\0' '\n' <"/proc/$_p/environ"; } 2>/dev/null |
		    grep -qxF "E2E_OWNER=$E2E_OWNER" || continue
		kill "-$_sig" "$_p" 2>/dev/null && _any=0
	done
	return $_any
}

e2e_cleanup() {
	# The test's sshd and its sessions (start_sshd) first.
	stop_sshd
	# A daemon that `fleet up` started for this state dir goes too.
	if _dp=$(our_daemon_pid); then
		kill "$_dp" 2>/dev/null
		sleep 0.2
	fi
	for p in $(local_procs); do kill -9 "$p" 2>/dev/null; done
	kill_ours 9 $E2E_PIDS
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

# write_gpu_template NAME [DESCRIPTION]: a cloud template for one RTX 4090
# whose image the fakes run as an echo server on port 8080.
write_gpu_template() {
	cat > "$FLEET_TEMPLATE_DIR/$1.yaml" <<YAML
name: $1
description: ${2:-echo service on one RunPod RTX 4090}
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1}
ports:
  - port: 8080
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
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

# --- a real OpenSSH server on loopback, for fleet's ssh code --------------
#
# start_sshd runs /usr/sbin/sshd on 127.0.0.1 with throwaway keys under
# $SSHD_DIR ($T/sshd) and exports:
#   SSHD_PORT         its port, in 61000-64999 (above Linux's ephemeral
#                     range and every range fleet picks from)
#   SSHD_USER         the user to log in as: the current user
#   SSHD_KEY          the client's private key (ed25519, no passphrase)
#   SSHD_HOSTKEY_PUB  the host's public key file (sshd_new_hostkey
#                     replaces it) and SSHD_HOSTKEY_FP its SHA256:...
#   SSHD_KNOWN_HOSTS  a known_hosts file pinning the host key start_sshd
#                     served; sshd_new_hostkey leaves it stale on purpose
#   SSHD_BIN          first on the sessions' PATH: fake commands go here
#                     (the login shell's own rc files may still prepend)
#   SSHD_PID          the listening sshd
#   SSHD_LOG          sshd's log, LogLevel VERBOSE
#   SSHD_CALLS        one line per run of a fake from fake_nvidia_smi*
# stop_sshd ends the listener and every session under it, as if the host
# went away; restart_sshd starts it again on the same port with the same
# host key; sshd_new_hostkey gives it a new host key (restarting it if it
# runs). Each prints why and returns non-zero when sshd cannot run.
E2E_SSHD=${E2E_SSHD:-/usr/sbin/sshd}	# absolute: sshd re-executes itself
SSHD_DIR=$T/sshd
SSHD_BIN=$SSHD_DIR/bin
SSHD_KEY=$SSHD_DIR/client_ed25519
SSHD_HOSTKEY=$SSHD_DIR/host_ed25519
SSHD_HOSTKEY_PUB=$SSHD_HOSTKEY.pub
SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
SSHD_LOG=$SSHD_DIR/sshd.log
SSHD_CALLS=$SSHD_DIR/calls
SSHD_PID=""
SSHD_PORT=""
# What fleet's GPU sampler runs, after "nvidia-smi".
NVIDIA_SMI_QUERY='--query-gpu=utilization.gpu,memory.used'
NVIDIA_SMI_QUERY="$NVIDIA_SMI_QUERY --format=csv,noheader,nounits"

# pid_alive PID: the process runs (a zombie counts as gone).
pid_alive() {
	{ read -r _st < "/proc/$1/stat"; } 2>/dev/null || return 1
	_st=${_st##*") "}
	case $_st in Z*|X*) return 1 ;; esac
	return 0
}

# pid_tree PID: every descendant of PID, parents first.
pid_tree() {
	for _c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$_c"
		pid_tree "$_c"
	done
}

# sshd_keygen FILE COMMENT: a fresh ed25519 key pair without passphrase.
sshd_keygen() {
	rm -f "$1" "$1.pub"
	if ! _o=$(ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1" \
	    </dev/null 2>&1); then
		echo "ssh-keygen -f $1 failed: $_o"
		return 1
	fi
}

sshd_write_config() {
	cat > "$SSHD_DIR/sshd_config" <<EOF
# sshd for one fleet e2e script (tests/e2e/lib.sh start_sshd)
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey "$SSHD_HOSTKEY"
AuthorizedKeysFile "$SSHD_DIR/authorized_keys"
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM $SSHD_PAM
StrictModes no
PermitRootLogin prohibit-password
# fleet's tunnels are direct-tcpip channels.
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
PidFile "$SSHD_DIR/sshd.pid"
SetEnv "PATH=$SSHD_BIN:/usr/local/bin:/usr/bin:/bin"
LogLevel VERBOSE
EOF
}

# sshd_launch: run sshd on $SSHD_PORT; 0 once it listens, 2 when the port
# is taken, 1 (with the log's tail) for anything else.
sshd_launch() {
	sshd_write_config && : >> "$SSHD_LOG" || return 1
	_n=$(wc -l < "$SSHD_LOG")
	"$E2E_SSHD" -D -e -E "$SSHD_LOG" -f "$SSHD_DIR/sshd_config" \
	    </dev/null >>"$SSHD_LOG" 2>&1 &
	SSHD_PID=$!
	_i=0
	while [ $_i -lt 100 ]; do
		if tail -n +$((_n + 1)) "$SSHD_LOG" | grep -qF \
		    "Server listening on 127.0.0.1 port $SSHD_PORT."; then
			export SSHD_PID
			return 0
		fi
		pid_alive "$SSHD_PID" || break
		sleep 0.1
		_i=$((_i + 1))
	done
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	_rc=$?
	SSHD_PID=""
	if tail -n +$((_n + 1)) "$SSHD_LOG" |
	    grep -q 'Address already in use'; then
		return 2
	fi
	echo "$E2E_SSHD on 127.0.0.1:$SSHD_PORT did not start (exit $_rc);" \
	    "$SSHD_LOG says:"
	tail -n +$((_n + 1)) "$SSHD_LOG" | tail -n 15 | sed 's/^/    | /'
	return 1
}

# The host key's fingerprint, and a known_hosts line pinning it.
sshd_pin_hostkey() {
	SSHD_HOSTKEY_FP=$(ssh-keygen -l -E sha256 -f "$SSHD_HOSTKEY_PUB" |
	    cut -d' ' -f2)
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
	    "$(cut -d' ' -f1,2 "$SSHD_HOSTKEY_PUB")" > "$SSHD_KNOWN_HOSTS"
	export SSHD_HOSTKEY_FP
}

# start_sshd: see above. Keys made by an earlier start_sshd are kept.
start_sshd() {
	if [ -n "$SSHD_PID" ] && pid_alive "$SSHD_PID"; then
		echo "start_sshd: sshd already runs (pid $SSHD_PID)"
		return 1
	fi
	case $E2E_SSHD in
	/*) ;;
	*) echo "start_sshd: E2E_SSHD=$E2E_SSHD is not an absolute path"
	   return 1 ;;
	esac
	if [ ! -x "$E2E_SSHD" ]; then
		echo "start_sshd: no $E2E_SSHD; install openssh-server" \
		    "(make deps, as root)"
		return 1
	fi
	if ! command -v ssh-keygen >/dev/null 2>&1; then
		echo "start_sshd: no ssh-keygen; install openssh-client" \
		    "(make deps, as root)"
		return 1
	fi
	SSHD_PID=""
	SSHD_USER=$(id -un)
	mkdir -p "$SSHD_BIN" || return 1
	# sshd as root needs its privilege separation dir, which only the
	# system service creates (and deps.sh keeps that from starting).
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ] &&
	    ! mkdir -m 0755 /run/sshd && [ ! -d /run/sshd ]; then
		echo "start_sshd: cannot create /run/sshd"
		return 1
	fi
	[ -f "$SSHD_HOSTKEY" ] || sshd_keygen "$SSHD_HOSTKEY" fleet-e2e-host ||
	    return 1
	[ -f "$SSHD_KEY" ] || sshd_keygen "$SSHD_KEY" fleet-e2e-client ||
	    return 1
	cp "$SSHD_KEY.pub" "$SSHD_DIR/authorized_keys" || return 1
	# Without PAM, sshd refuses a user whose password is locked ("!" in
	# shadow) even with a key, and a fresh VM's root may be so; PAM's
	# account check lets key logins in, so it is on only then.
	SSHD_PAM=no
	case $(getent shadow "$SSHD_USER" 2>/dev/null | cut -d: -f2) in
	'!'*) SSHD_PAM=yes
	      echo "start_sshd: $SSHD_USER's password is locked: UsePAM yes" ;;
	esac
	# Another script's sshd may hold a port: then try another.
	_try=0
	_base=$(( ($$ * 7) % 4000 ))
	while [ $_try -lt 20 ]; do
		SSHD_PORT=$((61000 + (_base + _try * 997) % 4000))
		_try=$((_try + 1))
		if command -v ss >/dev/null 2>&1 &&
		    [ -n "$(ss -Hltn "sport = :$SSHD_PORT" 2>/dev/null)" ]; then
			continue
		fi
		sshd_launch
		case $? in
		0) break ;;
		2) continue ;;
		*) return 1 ;;
		esac
	done
	if [ -z "$SSHD_PID" ]; then
		echo "start_sshd: no free port in 61000-64999 after 20 tries"
		return 1
	fi
	sshd_pin_hostkey
	export SSHD_PORT SSHD_USER SSHD_KEY SSHD_HOSTKEY_PUB SSHD_KNOWN_HOSTS \
	    SSHD_BIN SSHD_PID SSHD_LOG SSHD_CALLS
}

# stop_sshd: end the listener and every session under it; 0 if none ran.
stop_sshd() {
	[ -n "$SSHD_PID" ] || return 0
	_pids="$SSHD_PID $(pid_tree "$SSHD_PID")"
	# shellcheck disable=SC2086
	kill $_pids 2>/dev/null
	_i=0
	while [ $_i -lt 50 ]; do
		_left=""
		for _p in $_pids; do
			pid_alive "$_p" && _left="$_left $_p"
		done
		[ -z "$_left" ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	# shellcheck disable=SC2086
	[ -n "$_left" ] && kill -9 $_left 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=""
	return 0
}

# restart_sshd: stop_sshd, then sshd again on the same port, same keys.
restart_sshd() {
	if [ -z "$SSHD_PORT" ] || [ ! -f "$SSHD_HOSTKEY" ]; then
		echo "restart_sshd: nothing to restart; start_sshd first"
		return 1
	fi
	stop_sshd
	sshd_launch
	case $? in
	0) return 0 ;;
	2) echo "restart_sshd: port $SSHD_PORT was taken while sshd was down"
	   return 1 ;;
	*) return 1 ;;
	esac
}

# sshd_new_hostkey: a new host key, served at once if sshd runs. Clients
# that pinned the old one (SSHD_KNOWN_HOSTS) must now refuse the host.
sshd_new_hostkey() {
	if [ ! -f "$SSHD_HOSTKEY" ]; then
		echo "sshd_new_hostkey: start_sshd first"
		return 1
	fi
	sshd_keygen "$SSHD_HOSTKEY" fleet-e2e-host-new || return 1
	SSHD_HOSTKEY_FP=$(ssh-keygen -l -E sha256 -f "$SSHD_HOSTKEY_PUB" |
	    cut -d' ' -f2)
	[ -z "$SSHD_PID" ] || restart_sshd
}

# Write $SSHD_BIN/nvidia-smi from a body on stdin, in one rename, so a
# sampler running it meanwhile sees the old script or the new one.
fake_nvidia_smi_write() {
	mkdir -p "$SSHD_BIN" || return 1
	{
		echo '#!/bin/sh'
		echo '# written by fake_nvidia_smi (tests/e2e/lib.sh)'
		echo "echo \"nvidia-smi \$*\" >> '$SSHD_CALLS'"
		cat
	} > "$SSHD_BIN/.nvidia-smi.new" &&
	    chmod 755 "$SSHD_BIN/.nvidia-smi.new" &&
	    mv -f "$SSHD_BIN/.nvidia-smi.new" "$SSHD_BIN/nvidia-smi"
}

# fake_nvidia_smi BUSY_PERCENT MEM_MB [GPUS]: an nvidia-smi that answers
# fleet's query ($NVIDIA_SMI_QUERY) with "BUSY_PERCENT, MEM_MB" for each of
# GPUS GPUs (default 1) and exits 0; other arguments exit 2. Call again
# to change the figures while sshd runs.
fake_nvidia_smi() {
	for _a in "$1" "$2" "${3:-1}"; do
		case $_a in
		''|*[!0-9]*)
			echo "usage: fake_nvidia_smi BUSY_PERCENT MEM_MB [GPUS]"
			return 2 ;;
		esac
	done
	fake_nvidia_smi_write <<EOF
if [ "\$*" != "$NVIDIA_SMI_QUERY" ]; then
	echo "fake nvidia-smi: only answers $NVIDIA_SMI_QUERY" >&2
	exit 2
fi
i=0
while [ \$i -lt ${3:-1} ]; do
	echo '$1, $2'
	i=\$((i + 1))
done
EOF
}

# fake_nvidia_smi_fail: an nvidia-smi that fails as it does on a machine
# whose driver is gone: a message on stderr, exit 9.
fake_nvidia_smi_fail() {
	fake_nvidia_smi_write <<'EOF'
m="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA"
m="$m driver. Make sure that the latest NVIDIA driver is installed and"
echo "$m running." >&2
exit 9
EOF
}

# fake_nvidia_smi_remove: no nvidia-smi at all (the shell answers 127).
fake_nvidia_smi_remove() { rm -f "$SSHD_BIN/nvidia-smi"; }

e2e_done() {
	echo "$E2E_PASSED passed, $E2E_FAILED failed"
	[ "$E2E_FAILED" -eq 0 ]
}
