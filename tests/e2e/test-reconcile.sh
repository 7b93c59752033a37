#!/bin/sh
# test-reconcile.sh: provider truth vs state against the fake RunPod API:
# a stop/start at the provider moves the port and reconcile follows it; an
# instance that vanished is re-created behind the same stable URL; a
# `fleet up` killed after create is adopted, not doubled; orphans are
# reported and reaped without touching tracked instances; an interrupted
# terminate is finished; a failing list changes nothing.
# usage: sh tests/e2e/test-reconcile.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 300
KEY=rp_e2e_Rc3nC1le
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null
# The daemon's own reconciler would race the passes this script runs.

# The fake's runpod rows, one per line.
rows() { $C "$F/_control/instances" | tr '{' '\n' | grep '"provider":"runpod"'; }
# field FIELD of the newest row whose label starts with PREFIX
field() { rows | grep "\"label\":\"$1" | tail -n 1 |
    sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
# rows labelled PREFIX... that are alive (not terminated, not gone)
live() { rows | grep "\"label\":\"$1" |
    grep -Ec '"state":"(pending|booting|running|stopped)"'; }
state_of() { rows | grep "\"id\":\"$1\"" |
    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
is_alive() { state_of "$1" | grep -Eqx 'pending|booting|running'; }
# RunPod GraphQL, as a client of the provider (not through fleet)
gql() { $C -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$1" "$F/runpod/graphql"; }
pod_action() {
	gql "{\"query\":\"mutation(\$podId: String!) { $1(input: {podId: \$podId}) { id desiredStatus } }\",\"variables\":{\"podId\":\"$2\"}}"
}
pod_create() {
	gql "{\"query\":\"mutation(\$input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: \$input) { id name } }\",\"variables\":{\"input\":{\"cloudType\":\"SECURE\",\"gpuTypeId\":\"NVIDIA GeForce RTX 4090\",\"gpuCount\":1,\"name\":\"$1\",\"imageName\":\"ghcr.io/example/echo:1\",\"ports\":\"8080/http\"}}}" |
	    sed -n 's/.*"id":"\([a-z0-9]*\)".*/\1/p'
}
# field FIELD of deployment NAME in `fleet ls --json`
ls_field() { "$FLEET" ls --json | tr -d '\n\t' | tr '{' '\n' |
    grep "\"name\":\"$1\"" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
ls_instance() { ls_field "$1" instance; }
ls_state() { ls_field "$1" state; }

write_gpu_template rpecho

# --- a healthy fleet: nothing to do ----------------------------------------
check_exit "up rpecho on runpod" 0 "$FLEET" up rpecho --provider runpod
URL=$("$FLEET" url rpecho)
up0=$("$FLEET" url --upstream rpecho)
id0=$(field fleet-rpecho- id)
check "the pod runs at the fake" is_state "$id0" running
check_exit "reconcile on a healthy fleet exits 0" 0 "$FLEET" reconcile --once
out_has "healthy: no actions, no orphans" "0 actions, 0 orphans"
check_exit "reconcile --json exits 0" 0 "$FLEET" reconcile --once --json
out_has "--json: a summary" '"summary"'
out_has "--json: runpod was listed" '"name":	"runpod"'
check_exit "reconcile with an argument: usage error" 2 "$FLEET" reconcile --once extra

# --- stop/start at the provider: a new port, followed ----------------------
pod_action podStop "$id0" >/dev/null
check "stopped at the provider" wait_for 5 is_state "$id0" stopped
check_exit "reconcile after a stop exits 0" 0 "$FLEET" reconcile --once
out_has "the stop is recorded" "running -> stopped"
check "ls shows it stopped" [ "$(ls_state rpecho)" = stopped ]
pod_action podResume "$id0" >/dev/null
check "resumed at the provider" wait_for 10 is_state "$id0" running
check_exit "reconcile after a start exits 0" 0 "$FLEET" reconcile --once
out_has "the start is recorded" "stopped -> running"
out_has "the new port is seen" "upstream changed $up0 -> http://127.0.0.1:"
up1=$("$FLEET" url --upstream rpecho)
check "the recorded upstream moved" [ "$up1" != "$up0" ]
check "the new upstream answers /health" curl -fsS -m 5 "$up1/health"
check "the stable URL is unchanged" [ "$("$FLEET" url rpecho)" = "$URL" ]
check "the stable URL follows" wait_for 10 curl -fsS -m 2 "$URL/health"
check "the event log has the change" sh -c "'$FLEET' status rpecho | grep -q 'upstream changed $up0 -> $up1'"
check_exit "a second pass finds nothing" 0 "$FLEET" reconcile --once
out_has "second pass: no actions" "0 actions"

# --- the provider takes the instance away ----------------------------------
$C -d "{\"provider\":\"runpod\",\"id\":\"$id0\"}" "$F/_control/vanish" >/dev/null
check_exit "--no-recreate exits 0" 0 "$FLEET" reconcile --once --no-recreate
out_has "--no-recreate: reports the vanish" "vanished at provider; not re-created"
check "--no-recreate: nothing created" [ "$(live fleet-rpecho-)" -eq 0 ]
check "--no-recreate: state left as is" [ "$(ls_instance rpecho)" = "$id0" ]
check_exit "reconcile re-creates the vanished deployment" 0 "$FLEET" reconcile --once
out_has "the vanish is reported" "vanished at provider; re-creating"
out_has "the deployment is re-created" "recreated"
id1=$(ls_instance rpecho)
up2=$("$FLEET" url --upstream rpecho)
check "a new instance id" sh -c "[ -n '$id1' ] && [ '$id1' != '$id0' ]"
check "the fake runs exactly one rpecho pod" [ "$(live fleet-rpecho-)" -eq 1 ]
check "the new pod is the recorded one" is_state "$id1" running
check "a new upstream" [ "$up2" != "$up1" ]
check "the new upstream answers /health" curl -fsS -m 5 "$up2/health"
check "the stable URL is unchanged after re-create" [ "$("$FLEET" url rpecho)" = "$URL" ]
check "the stable URL answers after re-create" wait_for 10 curl -fsS -m 2 "$URL/health"
"$FLEET" status rpecho >"$T/out" 2>&1
out_has "event: vanished" "vanished at provider"
out_has "event: re-creating" "re-creating: fleet up rpecho --name rpecho"

# --- kill -9 right after create: adopted by label, never doubled -----------
FLEET_TEST_CRASH=after-create "$FLEET" up rpecho --name crash --provider runpod >"$T/out" 2>&1
crash_up() { [ -n "$(field fleet-crash- id)" ] && is_state "$(field fleet-crash- id)" running; }
check "killed after create: the pod runs at the fake" wait_for 10 crash_up
cid=$(field fleet-crash- id)
clabel=$(field fleet-crash- label)
check "killed after create: state has only the label" [ "$(ls_instance crash)" = "$clabel" ]
check_exit "reconcile after the crash exits 0" 0 "$FLEET" reconcile --once
out_has "the pod is adopted" "adopted"
out_has "by its label" "found by its label $clabel"
check "the provider id is recorded" [ "$(ls_instance crash)" = "$cid" ]
check "no double create: one crash pod at the fake" [ "$(live fleet-crash-)" -eq 1 ]
check "the adopted instance is running in state" [ "$(ls_state crash)" = running ]
check "its upstream answers /health" sh -c "curl -fsS -m 5 \"\$('$FLEET' url --upstream crash)/health\""

# --- orphans: reported, reaped, tracked instances untouched ----------------
ghost=$(pod_create fleet-ghost-9)
rlabel=$(field fleet-rpecho- label)
twin=$(pod_create "$rlabel")	# rpecho's label, another pod: not ours
check "two orphans created at the fake" sh -c "[ -n '$ghost' ] && [ -n '$twin' ]"
check_exit "reconcile reports orphans and exits 0" 0 "$FLEET" reconcile --once
out_has "reconcile names the orphan" "orphan         -                    runpod $ghost: fleet-ghost-9"
out_has "reconcile names the label twin" "runpod $twin: $rlabel"
check_exit "reap --dry-run exits 0" 0 "$FLEET" reap --dry-run
cp "$T/out" "$T/dry.out"
out_has "dry run: lists the orphan with its price" "fleet-ghost-9"
out_has "dry run: the price per hour" '$0.6900/h'
out_has "dry run: terminates nothing" "dry run, nothing terminated"
out_has "dry run: two orphans" "reap: 2 orphans"
check "dry run: the tracked pods are not listed" sh -c "! grep -Eq '$id1|$cid' '$T/dry.out'"
check "dry run: the orphan still runs" is_alive "$ghost"
check "dry run: the label twin still runs" is_alive "$twin"
check_exit "reap --json --dry-run exits 0" 0 "$FLEET" reap --dry-run --json
out_has "reap --json: dry_run true" '"dry_run":	true'
check_exit "reap exits 0" 0 "$FLEET" reap
out_has "reap: both terminated" "2 terminated"
check "reap: the orphan is terminated" wait_for 5 is_state "$ghost" terminated
check "reap: the label twin is terminated" wait_for 5 is_state "$twin" terminated
check "reap: the tracked rpecho pod runs" is_state "$id1" running
check "reap: the tracked crash pod runs" is_state "$cid" running
check "reap: rpecho still answers" curl -fsS -m 5 "$URL/health"
check_exit "reap again exits 0" 0 "$FLEET" reap
out_has "reap again: nothing left" "reap: 0 orphans"
check "the reap is in the event log" sh -c "'$FLEET' status rpecho | grep -q 'reaped.*$twin'"

# --- an interrupted terminate is finished ----------------------------------
$C -d '{"route":"/runpod","status":401,"count":1}' "$F/_control/fail" >/dev/null
check_exit "down fails half-way (401 on terminate)" 1 "$FLEET" down crash
check "the crash pod still runs at the fake" is_state "$cid" running
check "state says stopping" [ "$(ls_state crash)" = stopping ]
check_exit "reconcile finishes the terminate" 0 "$FLEET" reconcile --once
out_has "reconcile says so" "finished an interrupted terminate"
check "the crash pod is terminated at the fake" wait_for 5 is_state "$cid" terminated
check "ls no longer lists crash" sh -c "! '$FLEET' ls | grep -q '^crash '"
check "rpecho untouched" is_state "$id1" running

# --- a failing list: reported, nothing concluded ---------------------------
events() { "$FLEET" status rpecho 2>/dev/null | sed -n '/^events:/,$p'; }
events >"$T/ev.before"
$C -d '{"route":"/runpod","status":503,"count":-1}' "$F/_control/fail" >/dev/null
check_exit "reconcile with runpod failing exits 1" 1 "$FLEET" reconcile --once
out_has "the failure is reported" "runpod: list failed"
out_has "nothing changed for it" "skipped, nothing changed for it"
check "no vanish concluded" sh -c "! grep -q vanished '$T/out'"
check "rpecho still running in state" [ "$(ls_state rpecho)" = running ]
check "rpecho's instance unchanged" [ "$(ls_instance rpecho)" = "$id1" ]
events >"$T/ev.after"
check "no new events" cmp -s "$T/ev.before" "$T/ev.after"
check_exit "reap with runpod failing exits 1" 1 "$FLEET" reap
check "reap terminated nothing" is_state "$id1" running

check "the key is in no output or state" sh -c "! grep -rqa '$KEY' '$FLEET_STATE_DIR'"
check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log '$T'/out 2>/dev/null"
e2e_done
