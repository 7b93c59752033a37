#!/bin/sh
# test-deadman.sh: the dead-man switch. An instance whose template sets
# deadman_timeout runs a watcher from its start-up; while the heartbeat
# file changes it stays, once it stops the instance ends itself: the local
# provider's process group killed by its own watcher, a RunPod pod
# terminated (or stopped) through the fake's API with its own pod-scoped
# key, a Vast instance destroyed (or stopped) with its own container key,
# a Paperspace machine's startup script starting the watcher (that one
# powers the VM off, so it is only read here), and providers that cannot
# do it refused with the reason. The cloud
# watchers are the very text the driver sent, fetched back from the fake
# and run here with the environment the provider would give them.
# usage: sh tests/e2e/test-deadman.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

# Deployment names carry our pid: the cloud watchers run here, and each
# makes its private directory in /tmp (/tmp/fleet-deadman.XXXXXXXXXX),
# shared with every other run on this machine. The local watcher's files
# live in the state dir.
TAG=$$
LDIR=$FLEET_STATE_DIR/deadman
# dmdir LABEL: the private directory a cloud watcher made for LABEL.
dmdir() {
	for _d in /tmp/fleet-deadman.*; do
		[ -f "$_d/heartbeat-$1" ] && { echo "$_d"; return 0; }
	done
	return 1
}
dmlog() { echo "$(dmdir "$1")/$1.log"; }
dm_cleanup() {
	rm -f "$T/beat"
	for _d in /tmp/fleet-deadman.*; do
		ls "$_d" 2>/dev/null | grep -q -- "-$TAG-" && rm -rf "$_d"
	done
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

alive() { kill -0 "$1" 2>/dev/null; }
# The daemon dies without a word (no drain, no terminate): heartbeats stop.
kill_daemon() { _d=$(our_daemon_pid) && kill -9 "$_d" 2>/dev/null; }
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

# The heartbeat comes from the daemon `fleet up` starts: it touches the
# file here (the instance is on this machine) every deadman_timeout / 4.
# Another user's symlinks at the old /tmp names (the first instance of a
# fresh state dir is number 1) must not be followed by either side.
OLDHB=/tmp/fleet-heartbeat-fleet-dml-$TAG-1
OLDLOG=/tmp/fleet-deadman-fleet-dml-$TAG-1.log
ln -sf "$T/planted-hb" "$OLDHB"
ln -sf "$T/planted-log" "$OLDLOG"
check_exit "local: up with deadman_timeout exits 0" 0 \
    "$FLEET" up dmlocal --name dml-$TAG --provider local
pid=$(cat "$FLEET_STATE_DIR"/local/fleet-dml-$TAG-*.pid 2>/dev/null |
    cut -d' ' -f1)
label=$(label_of "$pid")
check "local: the workload carries the watcher in FLEET_DEADMAN" \
    sh -c "tr '\0' '\n' </proc/$pid/environ | grep -qF \"FLEET_DEADMAN=H='$LDIR'/heartbeat-$label;\""
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
check "local: with the daemon's heartbeats it outlives deadman_timeout" alive "$pid"
check "local: the daemon touched its heartbeat file" test -f "$LDIR/heartbeat-$label"
check "local: in the state dir's deadman dir, 0700 and ours" \
    [ "$(stat -c '%a %u' "$LDIR")" = "700 $(id -u)" ]
check "local: the heartbeat is 0600" \
    [ "$(stat -c %a "$LDIR/heartbeat-$label")" = 600 ]
check "local: no symlink planted at the old names was followed" \
    sh -c "[ ! -e '$T/planted-hb' ] && [ ! -e '$T/planted-log' ]"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	check "local: another user cannot touch the heartbeat" sh -c \
	    "! setpriv --reuid=65534 --regid=65534 --clear-groups touch -c '$LDIR/heartbeat-$label' 2>/dev/null"
else
	echo "note: not root: another user's touch not tried"
fi
check "local: it still answers" curl -fsS --max-time 5 \
    "$("$FLEET" url --upstream dml-$TAG)/health"
# The daemon dies without a word (no drain, no terminate): the switch.
kill_daemon
check "local: daemon killed -> the instance ends itself" wait_for 20 \
    dead "$pid"
check "local: its watcher went with it" wait_for 10 no_watcher
check "local: the watcher logged why" \
    grep -q "no heartbeat for 3s" "$LDIR/$label.log"
check "local: and what it did" \
    grep -q "ending the process group of $pid" "$LDIR/$label.log"
check "local: the planted targets are still untouched" \
    sh -c "[ ! -e '$T/planted-hb' ] && [ ! -e '$T/planted-log' ]"
rm -f "$OLDHB" "$OLDLOG"
"$FLEET" reconcile --once >"$T/out" 2>&1
out_has "local: reconcile sees it vanished and does not re-create it" "not re-created (deadman_timeout"
check "local: the deployment is marked down, with a deadman event" sh -c "'$FLEET' status dml-$TAG | grep -q 'deadman'"
check "local: nothing runs for it" sh -c "[ -z \"\$(ls '$FLEET_STATE_DIR'/local/fleet-dml-$TAG-*.pid 2>/dev/null)\" ] || ! kill -0 \$(cut -d' ' -f1 '$FLEET_STATE_DIR'/local/fleet-dml-$TAG-*.pid) 2>/dev/null"
check_exit "local: down afterwards exits 0" 0 "$FLEET" down dml-$TAG

# A symlink put where the heartbeat is (here by us, as only this user can
# write in that directory): the daemon does not follow it, so the target
# is never created or touched, and without heartbeats the instance ends
# itself, the safe way round.
check_exit "local: a second armed up exits 0" 0 \
    "$FLEET" up dmlocal --name dmk-$TAG --provider local
pid=$(cat "$FLEET_STATE_DIR"/local/fleet-dmk-$TAG-*.pid 2>/dev/null |
    cut -d' ' -f1)
label=$(label_of "$pid")
check "local: its heartbeat appears" wait_for 10 test -f "$LDIR/heartbeat-$label"
rm -f "$LDIR/heartbeat-$label"
ln -s "$T/planted-new" "$LDIR/heartbeat-$label"
check "local: a symlinked heartbeat: the instance ends itself" \
    wait_for 20 dead "$pid"
check "local: the symlink's target was never created" [ ! -e "$T/planted-new" ]
check "local: the daemon said why" \
    grep -q "heartbeat-$label: a symlink: not followed" "$FLEET_STATE_DIR/daemon.log"
"$FLEET" down dmk-$TAG >/dev/null 2>&1

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

# --- runpod: the pod ends itself with its own key -------------------------
# The pod's sshd is a real one on loopback: the daemon sends the
# heartbeat over its ssh session, and the watcher (run here, as the pod
# would) sees the file it touches.
start_sshd || fail "sshd starts for the heartbeat over ssh"
start_fakecloud --boot-delay-ms 200 --ssh-port "$SSHD_PORT"
cat >> "$FLEET_CONFIG" <<YAML
ssh:
  key: $SSHD_KEY
  keepalive: 1s
providers:
  runpod:
    ssh_user: $SSHD_USER
  vast:
    ssh_user: $SSHD_USER
YAML
# A daemon reads its config when it starts: the next fleet up starts one
# that has the ssh settings.
"$FLEET" daemon stop >/dev/null 2>&1
KEY=rp_dm_Kq4xT9wE
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null

# fake_of DEPLOYMENT FIELD: a string field of its instance at the fake.
fake_of() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep "\"label\":\"fleet-$1-" |
	    sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\\1/p" | tail -n 1
}
fake_is() { [ "$(fake_of "$1" state)" = "$2" ]; }
# The request log, one request a line.
reqs() {
	$C "$F/_control/requests?prefix=${1:-/runpod/graphql}" |
	    sed 's/{"seq":/\n&/g'
}
# watcher_of PROVIDER ID: fetch what the driver put in FLEET_DEADMAN.
watcher_of() {
	$C "$F/$1/_fake/input?$2&env=FLEET_DEADMAN" >"$T/watcher.$1"
}

check_exit "runpod: up with deadman_timeout exits 0" 0 \
    "$FLEET" up dmgpu --name dmr-$TAG --provider runpod
id=$(fake_of dmr-$TAG id)
label=$(fake_of dmr-$TAG label)
watcher_of runpod "pod=$id"
check "runpod: the create sent the watcher in FLEET_DEADMAN" \
    grep -qF "H=\$W/heartbeat-$label;" "$T/watcher.runpod"
check "runpod: its files go in a private mktemp -d" \
    grep -qF "W=\$(umask 077 && mktemp -d /tmp/fleet-deadman.XXXXXXXXXX)" "$T/watcher.runpod"
check "runpod: it calls the GraphQL URL the driver uses" \
    grep -qF "U='$F/runpod/graphql';" "$T/watcher.runpod"
check "runpod: the user's key is not in it" \
    sh -c "! grep -q '$KEY' '$T/watcher.runpod'"
$C "$F/runpod/_fake/input?pod=$id&field=dockerArgs" >"$T/dargs"
check "runpod: dockerArgs starts it, then execs the template's args" \
    grep -qxF "sh -c 'sh -c \"\$FLEET_DEADMAN\" >/dev/null 2>&1 & exec \"\$@\"' sh /usr/bin/echo-server --port 8080" "$T/dargs"

# The pod's own key reaches that pod only.
scoped() {	# QUERY PODID: the HTTP status with pod-key-$id
	$C -o /dev/null -w '%{http_code}' -H "Authorization: Bearer pod-key-$id" \
	    -H 'Content-Type: application/json' --data-binary \
	    "{\"query\":\"$1\",\"variables\":{\"podId\":\"$2\"}}" \
	    "$F/runpod/graphql"
}
check "runpod: the fake's pod key may not act on another pod" \
    [ "$(scoped 'mutation terminatePod($podId: String!) { podTerminate(input: {podId: $podId}) }' nosuchpod00000)" = 403 ]
check "runpod: nor list the account's pods" \
    [ "$(scoped 'query myPods { myself { pods { id } } }' "$id")" = 403 ]
check "runpod: the pod still runs" fake_is dmr-$TAG running

# Run it as RunPod would: the pod's id and its pod-scoped key in env.
RUNPOD_POD_ID=$id RUNPOD_API_KEY=pod-key-$id \
    sh -c "$(cat "$T/watcher.runpod")" >/dev/null 2>&1 &
wpid=$!
E2E_PIDS="$E2E_PIDS $wpid"
sleep 7	# twice the timeout, with the daemon's heartbeats over ssh
check "runpod: with the daemon's heartbeats over ssh the pod stays" fake_is dmr-$TAG running
private_hb() { _d=$(dmdir "$1") && [ "$(stat -c '%a %u' "$_d")" = "700 $(id -u)" ]; }
check "runpod: its heartbeat is in a private dir (0700, ours)" \
    private_hb "$label"
check "runpod: nothing at the old /tmp names" \
    sh -c "[ ! -e /tmp/fleet-heartbeat-$label ] && [ ! -e /tmp/fleet-deadman-$label.log ]"
check "runpod: and the watcher keeps watching" alive "$wpid"
kill_daemon
check "runpod: daemon killed -> the pod is terminated" wait_for 20 \
    fake_is dmr-$TAG terminated
# Requests whose query is podTerminate (the create's body holds the
# watcher, which names it too).
terms() { reqs | grep -F '"body":"{\"query\":\"mutation terminatePod'; }
by_pod_key() {
	terms | grep '"status":200,' |
	    grep -q "\"authorization\":\"Bearer pod-key-$id\""
}
not_by_user() { [ -n "$(terms)" ] && ! terms | grep -q "Bearer $KEY"; }
check "runpod: the terminate came with the pod's own key" by_pod_key
check "runpod: not with the user's" not_by_user
check "runpod: the watcher is done" wait_for 10 dead "$wpid"
check "runpod: its log says what it did" \
    grep -q "podTerminate $id: HTTP 200" "$(dmlog $label)"
check "runpod: no key in its log" \
    sh -c "! grep -qE 'pod-key-|$KEY' '$(dmlog $label)'"
check_exit "runpod: down afterwards exits 0" 0 "$FLEET" down dmr-$TAG

# A pod key that may not terminate: the watcher stops the pod instead.
# No heartbeat at all this time: one that never comes counts as stopped.
$C -d '{"pod_key_terminate":false}' "$F/runpod/_fake" >/dev/null
check_exit "runpod: a second up exits 0" 0 \
    "$FLEET" up dmgpu --name dms-$TAG --provider runpod
kill_daemon
id=$(fake_of dms-$TAG id)
label=$(fake_of dms-$TAG label)
watcher_of runpod "pod=$id"
RUNPOD_POD_ID=$id RUNPOD_API_KEY=pod-key-$id \
    sh -c "$(cat "$T/watcher.runpod")" >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
check "runpod: terminate refused -> the pod is stopped" wait_for 20 \
    fake_is dms-$TAG stopped
check "runpod: the log says why" \
    grep -q "podTerminate failed: stopping the pod instead" "$(dmlog $label)"
check_exit "runpod: down afterwards exits 0" 0 "$FLEET" down dms-$TAG
check "runpod: nothing left running at the fake" \
    sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"running\"'"

# Without curl the watcher uses GNU wget, the key in a 0600 file.
$C -d '{"pod_key_terminate":true}' "$F/runpod/_fake" >/dev/null
if command -v wget >/dev/null 2>&1; then
	mkdir -p "$T/nocurl"
	for t in sh date stat sleep sed tr cut head tail grep rm wget mktemp; do
		ln -sf "$(command -v $t)" "$T/nocurl/$t"
	done
	check_exit "runpod/wget: up exits 0" 0 \
	    "$FLEET" up dmgpu --name dmx-$TAG --provider runpod
	kill_daemon
	id=$(fake_of dmx-$TAG id)
	label=$(fake_of dmx-$TAG label)
	watcher_of runpod "pod=$id"
	PATH=$T/nocurl RUNPOD_POD_ID=$id RUNPOD_API_KEY=pod-key-$id \
	    "$T/nocurl/sh" -c "$(cat "$T/watcher.runpod")" >/dev/null 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	check "runpod/wget: no heartbeat -> the pod is terminated" \
	    wait_for 20 fake_is dmx-$TAG terminated
	check "runpod/wget: with the pod's own key" by_pod_key
	check "runpod/wget: the key file is gone" \
	    sh -c "! ls '$(dmlog $label).wgetrc' 2>/dev/null"
	check_exit "runpod/wget: down exits 0" 0 "$FLEET" down dmx-$TAG
else
	echo "SKIP: the watcher through wget (no wget here)"
fi

# --- vast: the instance destroys itself with its own key ------------------
VKEY=vk_dm_7Yh2QpR4
export VAST_API_KEY=$VKEY
export FLEET_VAST_URL=$F/vast
$C -d "{\"api_key\":\"$VKEY\"}" "$F/vast/_fake/config" >/dev/null
check_exit "vast: up with deadman_timeout exits 0" 0 \
    "$FLEET" up dmgpu --name dmv-$TAG --provider vast
id=$(fake_of dmv-$TAG id)
label=$(fake_of dmv-$TAG label)
watcher_of vast "id=$id"
check "vast: the create sent the watcher in FLEET_DEADMAN" \
    grep -qF "H=\$W/heartbeat-$label;" "$T/watcher.vast"
check "vast: it calls the base URL the driver uses" \
    grep -qF "U='$F/vast';" "$T/watcher.vast"
check "vast: the user's key is not in it" \
    sh -c "! grep -q '$VKEY' '$T/watcher.vast'"
check "vast: rented with runtype ssh (onstart runs, SSH gets in)" \
    [ "$($C "$F/vast/_fake/input?id=$id&field=runtype")" = "ssh_direc ssh_proxy" ]
$C "$F/vast/_fake/input?id=$id&field=onstart" >"$T/onstart"
check "vast: onstart starts it, then the template's args" \
    grep -qxF "nohup sh -c \"\$FLEET_DEADMAN\" >/dev/null 2>&1 & nohup '/usr/bin/echo-server' '--port' '8080' >/var/log/fleet-app.log 2>&1 &" "$T/onstart"

# Run it as Vast would: the instance id and its own key in env.
CONTAINER_ID=$id CONTAINER_API_KEY=container-key-$id \
    sh -c "$(cat "$T/watcher.vast")" >/dev/null 2>&1 &
wpid=$!
E2E_PIDS="$E2E_PIDS $wpid"
sleep 7	# twice the timeout, with the daemon's heartbeats over ssh
check "vast: with the daemon's heartbeats over ssh the instance stays" fake_is dmv-$TAG running
kill_daemon
check "vast: daemon killed -> the instance is destroyed" wait_for 20 \
    fake_is dmv-$TAG terminated
own_delete() {
	reqs /vast/api/v0/instances/$id/ | grep '"method":"DELETE"' |
	    grep '"status":200,' |
	    grep -q "\"authorization\":\"Bearer container-key-$id\""
}
check "vast: the DELETE came with the instance's own key" own_delete
check "vast: and nothing bills any more" sh -c \
    "$C '$F/vast/_fake/billing' | tr '{' '\n' | grep '\"label\":\"$label\"' | grep -q '\"billing\":false'"
check "vast: the watcher is done" wait_for 10 dead "$wpid"
check "vast: its log says what it did" \
    grep -q "destroy $id: HTTP 200" "$(dmlog $label)"
check "vast: no key in its log" \
    sh -c "! grep -qE 'container-key-|$VKEY' '$(dmlog $label)'"
check_exit "vast: down afterwards exits 0" 0 "$FLEET" down dmv-$TAG

# An instance key that may not destroy: the watcher stops it instead.
$C -d '{"container_key_destroy":false}' "$F/vast/_fake/config" >/dev/null
check_exit "vast: a second up exits 0" 0 \
    "$FLEET" up dmgpu --name dmw-$TAG --provider vast
kill_daemon
id=$(fake_of dmw-$TAG id)
label=$(fake_of dmw-$TAG label)
watcher_of vast "id=$id"
CONTAINER_ID=$id CONTAINER_API_KEY=container-key-$id \
    sh -c "$(cat "$T/watcher.vast")" >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
check "vast: destroy refused -> the instance is stopped" wait_for 20 \
    fake_is dmw-$TAG stopped
check "vast: the log says why" \
    grep -q "destroy failed: stopping the instance instead" "$(dmlog $label)"
check_exit "vast: down afterwards exits 0" 0 "$FLEET" down dmw-$TAG
check "vast: nothing left at the fake" \
    sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"\\(running\\|stopped\\)\"'"

# --- paperspace: the startup script starts the watcher on the VM ----------
# A Paperspace machine is a VM whose ports answer unchanged: the fake runs
# a ready machine's echo server on the one port it is told (see
# test-paperspace.sh), here a free one.
PKEY=ps-dm-5b1e9c0d7a
export PAPERSPACE_API_KEY=$PKEY
export FLEET_PAPERSPACE_URL=$F/paperspace/v1
PORT=$((40000 + $$ % 9000))
while $C -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null ||
    [ "$PORT" -eq "$E2E_SHARED_PORT" ]; do
	PORT=$((PORT + 1))
done
$C -d "{\"api_key\":\"$PKEY\",\"port\":$PORT}" \
    "$F/paperspace/_fake/config" >/dev/null
cat > "$FLEET_TEMPLATE_DIR/dmps.yaml" <<YAML
name: dmps
description: a Paperspace VM with a dead-man switch
image: example/psgpu:latest
gpu: {min_vram_gb: 40, count: 1}
deadman_timeout: 10m
ports:
  - port: $PORT
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
YAML
check_exit "paperspace: up with deadman_timeout exits 0" 0 \
    "$FLEET" up dmps --name dmp-$TAG --provider paperspace
$C "$F/paperspace/_fake/scripts" >"$T/scripts.json"
ps_script_has() { grep -qF -- "$1" "$T/scripts.json"; }
check "paperspace: the startup script starts the watcher as a systemd unit" \
    ps_script_has "systemd-run --unit=fleet-deadman --quiet sh -c 'W=\$(umask 077 && mktemp -d /tmp/fleet-deadman.XXXXXXXXXX)"
check "paperspace: or with nohup setsid" \
    ps_script_has "nohup setsid sh -c 'W=\$(umask 077 && mktemp -d"
check "paperspace: its heartbeat in that private dir" \
    ps_script_has "H=\$W/heartbeat-fleet-dmp-$TAG-"
check "paperspace: handed to the SSH user, who sends the heartbeat" \
    ps_script_has "chown paperspace"
check "paperspace: the watcher powers the machine off" \
    ps_script_has "systemctl poweroff"
check "paperspace: and still runs the image" \
    ps_script_has "docker run -d --name fleet-app"
check_exit "paperspace: down exits 0" 0 "$FLEET" down dmp-$TAG

e2e_done
