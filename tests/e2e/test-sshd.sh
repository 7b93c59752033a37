#!/bin/sh
# test-sshd.sh: the ssh test harness in lib.sh, proved with the OpenSSH
# client: a real sshd on loopback, the fake nvidia-smi, a direct-tcpip
# channel, restart keeping the host key, a new host key refused, cleanup,
# and fakecloud --ssh-port pointing RunPod's and Vast's ssh at that sshd.
# usage: sh tests/e2e/test-sshd.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"
LIB=$(cd "$(dirname "$0")" && pwd)/lib.sh

# The OpenSSH client, configured by nothing but its arguments. KH is this
# script's known_hosts; $1 the StrictHostKeyChecking value.
KH=$T/known_hosts
sshc() {
	_shk=$1
	shift
	ssh -F /dev/null -i "$SSHD_KEY" -p "$SSHD_PORT" -o BatchMode=yes \
	    -o IdentitiesOnly=yes -o ConnectTimeout=10 \
	    -o StrictHostKeyChecking="$_shk" -o UserKnownHostsFile="$KH" \
	    -o GlobalKnownHostsFile=/dev/null -o HashKnownHosts=no \
	    "$SSHD_USER@127.0.0.1" "$@"
}
# The same, trusting only the host key start_sshd pinned.
pinned() {
	_kh=$KH
	KH=$SSHD_KNOWN_HOSTS
	sshc yes "$@"
	_r=$?
	KH=$_kh
	return $_r
}
smi() { sshc yes nvidia-smi $NVIDIA_SMI_QUERY; }
out_is() {	# NAME FILE: the last output is exactly FILE
	if cmp -s "$2" "$T/out"; then pass "$1"; else
		{ echo "    (wanted:)"; sed 's/^/    /' "$2"; } >>"$T/out"
		fail "$1"; fi
}
is_port() { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -gt 0 ]; }
# The key part ("ssh-ed25519 AAAA...") of a public key or known_hosts file.
key_of() { grep -o 'ssh-ed25519 [A-Za-z0-9+/=]*' "$1" | head -n 1; }

# --- start ----------------------------------------------------------------
check "start_sshd starts sshd on loopback" start_sshd
if [ -z "$SSHD_PID" ]; then
	echo "    (no sshd: the remaining checks need one)"
	e2e_done
	exit 1
fi
t_vars() {
	is_port "$SSHD_PORT" && [ "$SSHD_USER" = "$(id -un)" ] &&
	    [ -s "$SSHD_KEY" ] && [ -s "$SSHD_HOSTKEY_PUB" ] &&
	    [ -d "$SSHD_BIN" ] && pid_alive "$SSHD_PID" &&
	    case $SSHD_HOSTKEY_FP in SHA256:?*) true ;; *) false ;; esac
}
check "start_sshd sets SSHD_PORT, _USER, _KEY, _HOSTKEY_PUB, _BIN, _PID" \
    t_vars
check "sshd listens on 127.0.0.1 only" sh -c \
    "ss -Hltn 'sport = :$SSHD_PORT' | grep -q '127.0.0.1:$SSHD_PORT' &&
     ! ss -Hltn 'sport = :$SSHD_PORT' | grep -vq '127.0.0.1:$SSHD_PORT'"
check "the client's key logs in, the host key is learnt" sshc accept-new true
t_learnt() { [ "$(key_of "$KH")" = "$(key_of "$SSHD_HOSTKEY_PUB")" ]; }
check "sshd serves SSHD_HOSTKEY_PUB" t_learnt
check "SSHD_KNOWN_HOSTS pins it" pinned true
check_exit "a key not in authorized_keys is refused" 255 \
    ssh -F /dev/null -i "$SSHD_HOSTKEY" -p "$SSHD_PORT" -o BatchMode=yes \
    -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$KH" -o GlobalKnownHostsFile=/dev/null \
    "$SSHD_USER@127.0.0.1" true
out_has "refused: publickey" "Permission denied (publickey)"

# --- the fake nvidia-smi ---------------------------------------------------
fake_nvidia_smi 87 30512
check "fake_nvidia_smi: the query over ssh exits 0" smi
printf '87, 30512\n' > "$T/want"
out_is "fake_nvidia_smi: prints '87, 30512'" "$T/want"
fake_nvidia_smi 3 1024 4
check "fake_nvidia_smi 3 1024 4: changed while sshd runs" smi
printf '3, 1024\n3, 1024\n3, 1024\n3, 1024\n' > "$T/want"
out_is "fake_nvidia_smi 3 1024 4: four GPUs" "$T/want"
check_exit "fake nvidia-smi: another query exits 2" 2 \
    sshc yes nvidia-smi -L
check "every run is in SSHD_CALLS" sh -c \
    "[ \$(grep -c 'query-gpu' '$SSHD_CALLS') -eq 2 ] &&
     grep -q '^nvidia-smi -L\$' '$SSHD_CALLS'"
check_exit "fake_nvidia_smi: bad figures are a usage error" 2 \
    fake_nvidia_smi 50% 10
fake_nvidia_smi_fail
check_exit "fake_nvidia_smi_fail: exits 9" 9 smi
out_has "fake_nvidia_smi_fail: says why on stderr" "NVIDIA-SMI has failed"
fake_nvidia_smi_remove
check_exit "fake_nvidia_smi_remove: command not found (127)" 127 smi

# --- a direct-tcpip channel, as fleet's tunnels use ------------------------
start_fakecloud --ssh-port "$SSHD_PORT"
t_tunnel() {
	printf 'GET /_control/health HTTP/1.0\r\nHost: x\r\n\r\n' |
	    sshc yes -W "127.0.0.1:$P" | grep -q '^HTTP/1.[01] 200'
}
check "ssh -W reaches fakecloud through sshd" t_tunnel

# --- restart, stop, new host key -------------------------------------------
old_pid=$SSHD_PID
old_port=$SSHD_PORT
check "restart_sshd" restart_sshd
t_restarted() {
	[ "$SSHD_PORT" = "$old_port" ] && [ "$SSHD_PID" != "$old_pid" ] &&
	    ! pid_alive "$old_pid" && pid_alive "$SSHD_PID"
}
check "restart_sshd: same port, new process" t_restarted
check "restart_sshd: known_hosts still matches (strict)" sshc yes true
before=$SSHD_PID
sshc yes 'sleep 300' >/dev/null 2>&1 &
client=$!
# The session's own command runs under the listener.
t_session() {
	for p in $(pid_tree "$SSHD_PID"); do
		[ "$(ps -o comm= -p "$p")" = sleep ] && return 0
	done
	return 1
}
check "a session runs a command" wait_for 10 t_session
session=$(pid_tree "$SSHD_PID")
check "stop_sshd" stop_sshd
t_stopped() {
	! pid_alive "$before" && [ -z "$SSHD_PID" ] || return 1
	for p in $session; do pid_alive "$p" && return 1; done
	return 0
}
check "stop_sshd: the listener and its sessions are gone" t_stopped
t_client_gone() { ! pid_alive "$client"; }
check "stop_sshd: the client saw the host go" wait_for 10 t_client_gone
wait "$client" 2>/dev/null
check_exit "stopped: connecting fails" 255 sshc yes true
check "restart_sshd after stop_sshd" restart_sshd
check "restarted: strict known_hosts still matches" sshc yes true
check "sshd_new_hostkey" sshd_new_hostkey
check_exit "new host key: OpenSSH refuses it (strict)" 255 sshc yes true
out_has "new host key: says it changed" "REMOTE HOST IDENTIFICATION HAS CHANGED"
out_has "new host key: verification failed" "Host key verification failed"
check_exit "new host key: the stale SSHD_KNOWN_HOSTS refuses it too" 255 \
    pinned true
printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(key_of "$SSHD_HOSTKEY_PUB")" \
    > "$KH"
check "new host key: SSHD_HOSTKEY_PUB is the one served" sshc yes true

# --- failures are reported --------------------------------------------------
check_exit "start_sshd while one runs: refused" 1 start_sshd
out_has "  ... says it runs" "already runs"
# start_sshd in a script of its own (lib.sh takes BUILD as its $1).
t_nosshd() {
	sh -c 'lib=$1; set -- "$2"; . "$lib"
	    E2E_SSHD=/nonexistent/sshd; start_sshd; r=$?
	    [ -z "$SSHD_PID" ] && exit $r' sh "$LIB" "$BUILD"
}
check_exit "start_sshd without sshd: non-zero" 1 t_nosshd
out_has "  ... says sshd is missing" "no /nonexistent/sshd"

# --- lib.sh's cleanup stops sshd --------------------------------------------
t_cleanup() {
	sh -c 'lib=$1 pidfile=$3; set -- "$2"; . "$lib"
	    start_sshd || exit 1
	    echo "$SSHD_PID" > "$pidfile"' sh "$LIB" "$BUILD" "$T/child.pid" &&
	    [ -s "$T/child.pid" ] &&
	    ! pid_alive "$(cat "$T/child.pid")"
}
check "a script's exit stops its sshd" t_cleanup

# --- fakecloud --ssh-port: the fakes' ssh endpoint is this sshd ----------
# RunPod, asked as driver-runpod.c asks: GraphQL with variables.
cat > "$T/deploy.json" <<'JSON'
{"query": "mutation Deploy($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id } }",
 "variables": {"input": {
   "cloudType": "SECURE", "gpuTypeId": "NVIDIA GeForce RTX 4090",
   "gpuCount": 1, "name": "fleet-sshd-1", "imageName": "example/echo:1",
   "ports": "8080/http,22/tcp", "startSsh": true}}}
JSON
rp() {	# rp FILE: POST FILE to the fake RunPod
	$C -H 'Authorization: Bearer test-key' \
	    -H 'Content-Type: application/json' -d @"$1" "$F/runpod/graphql"
}
t_pod() { rp "$T/deploy.json" >"$T/pod.json" && grep -q '"id"' "$T/pod.json"; }
check "runpod: a pod is created" t_pod
pod=$(sed -n 's/.*"podFindAndDeployOnDemand":{"id":"\([a-z0-9]*\)".*/\1/p' \
    "$T/pod.json")
cat > "$T/get.json" <<JSON
{"query": "query Pod(\$podId: String!) { pod(input: {podId: \$podId}) { id runtime { ports { ip isIpPublic privatePort publicPort type } } } }",
 "variables": {"podId": "$pod"}}
JSON
# The runtime.ports entry of private port $1, on one line.
rp_port() {
	rp "$T/get.json" | tr '{' '\n' | grep "\"privatePort\":$1[,}]"
}
check "runpod: the pod runs and maps 22" wait_for 10 rp_port 22
ssh22=$(rp_port 22)
echo "$ssh22" > "$T/out"
out_has "runpod: 22 -> public port SSHD_PORT" "\"publicPort\":$SSHD_PORT,"
out_has "runpod: on ip 127.0.0.1, public" \
    '"ip":"127.0.0.1","isIpPublic":true'
rp_port 8080 > "$T/p8080"
check "runpod: 8080 still maps to the pod's own process" sh -c \
    "! grep -q '\"publicPort\":$SSHD_PORT,' '$T/p8080' &&
     grep -q '\"publicPort\":[0-9]' '$T/p8080'"
ip=$(echo "$ssh22" | sed -n 's/.*"ip":"\([^"]*\)".*/\1/p')
port=$(echo "$ssh22" | sed -n 's/.*"publicPort":\([0-9]*\).*/\1/p')
fake_nvidia_smi 64 4096
t_pod_ssh() {
	ssh -F /dev/null -i "$SSHD_KEY" -p "$port" -o BatchMode=yes \
	    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KH" \
	    -o GlobalKnownHostsFile=/dev/null "$SSHD_USER@$ip" \
	    nvidia-smi $NVIDIA_SMI_QUERY | grep -qx '64, 4096'
}
check "runpod: ssh to the pod's reported ip:port runs nvidia-smi" t_pod_ssh
# Vast: ssh_host and ssh_port of an instance in the v1 list.
VA="Authorization: Bearer vast-e2e"
t_vast() {
	$C -X PUT -H "$VA" -d '{"client_id": "me", "image": "img",
	    "label": "fleet-sshd-2", "disk": 10,
	    "runtype": "ssh_direc ssh_proxy"}' "$F/vast/api/v0/asks/5001/" |
	    grep -q '"new_contract"'
}
check "vast: an instance is created" t_vast
$C -H "$VA" "$F/vast/api/v1/instances/" > "$T/out"
out_has "vast: ssh_host 127.0.0.1, ssh_port SSHD_PORT" \
    "\"ssh_host\":\"127.0.0.1\",\"ssh_port\":$SSHD_PORT,"

e2e_done
