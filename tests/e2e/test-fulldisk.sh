#!/bin/sh
# test-fulldisk.sh: a state disk that fills up must not make a phantom.
# State writes are made to fail at chosen points (FLEET_TEST_STATE_FAIL,
# SQLite's query_only: every write fails from there on, reads go on), on
# the fake RunPod so that the money is real to the books:
#   after-terminate   `down` terminated at the provider, then could not
#                     record it: the row says stopping, SPENT stands
#                     still, and a second `down` or `reconcile` finishes it
#   before-terminate  `down` could not record "stopping": no terminate at
#                     all, exit 1, the pod runs and the record says so
#   before-down       not even the down could be recorded: nothing done
#   after-create      `up` created a pod it could not record: terminated
#                     at once; and when that terminate fails too, the pod
#                     is found by its label by `down`
# Then, as root where mount works: a read-only state dir, and a real full
# tmpfs, each named in the error (else a `note:` line says why not).
# usage: sh tests/e2e/test-fulldisk.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 200
KEY=rp_e2e_FuLLd1sk
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null

rows() { $C "$F/_control/instances" | tr '{' '\n' | grep '"provider":"runpod"'; }
# the fake's id and state of the newest pod labelled fleet-NAME-
pod_id() { rows | grep "\"label\":\"fleet-$1-" | tail -n 1 |
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }
state_of() { rows | grep "\"id\":\"$1\"" |
    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
# field FIELD of deployment NAME in `fleet ls --json` (strings, numbers)
ls_field() { "$FLEET" ls --json | tr -d '\n\t' | tr '{' '\n' |
    grep "\"name\":\"$1\"" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
same_spent() {
	a=$(ls_field "$1" spent_usd); sleep 2; b=$(ls_field "$1" spent_usd)
	echo "spent $a then $b"
	[ -n "$a" ] && [ "$a" = "$b" ]
}
grows_spent() {
	a=$(ls_field "$1" spent_usd); sleep 2; b=$(ls_field "$1" spent_usd)
	echo "spent $a then $b"
	awk "BEGIN { exit !($b > $a) }"
}

write_gpu_template fdecho

# --- the terminate lands, its record does not ------------------------------
check_exit "up on runpod" 0 "$FLEET" up fdecho --name fd1 --provider runpod
id=$(pod_id fd1)
check "it bills while it runs" grows_spent fd1
check_exit "after-terminate: down exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=after-terminate "$FLEET" down fd1
out_has "it says the pod was terminated but not recorded" \
    "terminated $id, but could not record it"
out_has "and names the state file" "$FLEET_STATE_DIR/fleet.db"
out_has "and how it ends" "fleet down fd1\` again or \`fleet reconcile\` finishes it"
check "the pod is terminated at the provider" wait_for 5 is_state "$id" terminated
check "ls shows it stopping" [ "$(ls_field fd1 state)" = stopping ]
check "SPENT does not grow while it says stopping" same_spent fd1
check_exit "a second down finishes it" 0 "$FLEET" down fd1
check "ls: no instance left" sh -c "! '$FLEET' ls | grep -q '^fd1 .*stopping'"
check "nothing alive in state" [ -z "$(ls_field fd1 instance)" ]

check_exit "up again" 0 "$FLEET" up fdecho --name fd2 --provider runpod
id=$(pod_id fd2)
check_exit "after-terminate: down exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=after-terminate "$FLEET" down fd2
check "stopping again" [ "$(ls_field fd2 state)" = stopping ]
check_exit "reconcile --once finishes it instead" 0 "$FLEET" reconcile --once
out_has "reconcile says the terminate went through" "its terminate went through"
check "state: nothing alive" [ -z "$(ls_field fd2 instance)" ]
check_exit "down afterwards: exit 0" 0 "$FLEET" down fd2

# --- "stopping" cannot be written: no terminate at all ---------------------
check_exit "up fd3" 0 "$FLEET" up fdecho --name fd3 --provider runpod
id=$(pod_id fd3)
check_exit "before-terminate: down exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=before-terminate "$FLEET" down fd3
out_has "it says it did not terminate" \
    "cannot record that $id is stopping"
out_has "and that it still bills" "it still runs and bills"
check "the pod still runs at the provider" is_state "$id" running
check "and state says so" [ "$(ls_field fd3 state)" = running ]
check_exit "before-down: down exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=before-down "$FLEET" down fd3
out_has "nothing was terminated" "cannot record the down"
check "the pod still runs" is_state "$id" running
check_exit "with room again, down exits 0" 0 "$FLEET" down fd3
check "and the pod is gone" wait_for 5 is_state "$id" terminated

# --- up: created, not recorded ---------------------------------------------
check_exit "after-create: up exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=after-create "$FLEET" up fdecho --name fd4 \
    --provider runpod
id=$(pod_id fd4)
out_has "it says it terminated what it could not record" \
    "but could not record it"
out_has "at once" "terminated it at once, nothing bills"
check "the pod is terminated at the provider" wait_for 5 is_state "$id" terminated
check_exit "down afterwards exits 0" 0 "$FLEET" down fd4

# The terminate fails too: on the fake Vast, whose terminate has a path
# of its own (DELETE /api/v0/instances/ID/), answered 503 from before the
# up; its create (PUT /api/v0/asks/ID/) goes through. The instance is left
# billing, labelled: `down` finds it by that label.
VKEY=vk_e2e_FuLLd1sk
export VAST_API_KEY=$VKEY
export FLEET_VAST_URL=$F/vast
$C -d "{\"api_key\":\"$VKEY\"}" "$F/vast/_fake/config" >/dev/null
vrows() { $C "$F/_control/instances" | tr '{' '\n' | grep '"provider":"vast"'; }
vast_state() { vrows | grep "\"label\":\"fleet-$1-" | tail -n 1 |
    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
# Three: the terminate and its two retries (http_do retries a 503).
$C -d '{"route":"/vast/api/v0/instances/","status":503,"count":3}' \
    "$F/_control/fail" >/dev/null
check_exit "after-create, terminate failing too: up exits 1" 1 \
    env FLEET_TEST_STATE_FAIL=after-create "$FLEET" up fdecho --name fd5 \
    --provider vast
out_has "it says the terminate failed too" "and terminating it failed"
out_has "and how to find it" "fleet down fd5\` finds it by its label"
check "the instance still runs at the provider" [ "$(vast_state fd5)" = running ]
check_exit "reap --dry-run lists nothing untracked (state has its label)" 0 \
    "$FLEET" reap --dry-run
check_exit "down finds it by its label" 0 "$FLEET" down fd5
check "and terminates it" [ "$(vast_state fd5)" = terminated ]
check "nothing left running at the fake" \
    sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"running\"'"

# --- real read-only and full state dirs (root, mount) ----------------------
# In a private mount namespace, so nothing outlives this script.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	write_echo_template fdlocal
	check_exit "a local deployment comes up" 0 \
	    "$FLEET" up fdlocal --name fd6 --provider local
	"$FLEET" daemon stop >/dev/null 2>&1
	S=$FLEET_STATE_DIR
	unshare -m sh -c "mount --bind '$S' '$S' &&
	    mount -o remount,ro,bind '$S' && '$FLEET' down fd6" >"$T/out" 2>&1
	rc=$?
	cp "$T/out" "$T/ro"
	check "read-only state dir: down exits 1" [ "$rc" -eq 1 ]
	check "the error names the state dir and why" \
	    grep -q "state dir $S is not writable: Read-only file system" "$T/ro"
	check "the workload still runs" [ -n "$(local_procs)" ]
	check_exit "writable again: down exits 0" 0 "$FLEET" down fd6

	check_exit "up fd7 (for the full disk)" 0 "$FLEET" up fdecho --name fd7 \
	    --provider runpod
	id=$(pod_id fd7)
	"$FLEET" daemon stop >/dev/null 2>&1
	# A copy of the state on a small tmpfs, filled to the last byte.
	unshare -m sh -c "
	    mkdir -p '$T/tiny' && mount -t tmpfs -o size=4m tmpfs '$T/tiny' &&
	    cp -a '$S/.' '$T/tiny/' &&
	    dd if=/dev/zero of='$T/tiny/fill' bs=4k >/dev/null 2>&1;
	    FLEET_STATE_DIR='$T/tiny' '$FLEET' down fd7; echo rc=\$?;
	    FLEET_STATE_DIR='$T/tiny' '$FLEET' ls --json | tr -d '\n\t' |
	        tr '{' '\n' | grep '\"name\":\"fd7\"'" >"$T/out" 2>&1
	cp "$T/out" "$T/full"
	if grep -q "rc=1" "$T/full"; then
		check "full disk: the error names the state file" \
		    grep -q "$T/tiny/fleet.db" "$T/full"
		check "full disk: and says the disk is full" \
		    grep -q "full" "$T/full"
		# Either nothing was done, or the terminate was recorded as
		# stopping: never killed and still recorded running.
		killed_recorded() { is_state "$id" running ||
		    grep -q '"state":"stopping"' "$T/full"; }
		check "full disk: no pod killed behind the record's back" \
		    killed_recorded
	else
		# SQLite found room in pages it already had: the down went
		# through, which is fine too.
		echo "note: the full tmpfs still took the down"
	fi
	check_exit "down on the real state exits 0" 0 "$FLEET" down fd7
	check "the pod is gone" wait_for 5 is_state "$id" terminated
else
	echo "note: not root or no mount namespaces: read-only and full" \
	    "state dirs not tried"
fi

e2e_done
