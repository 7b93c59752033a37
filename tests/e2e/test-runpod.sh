#!/bin/sh
# test-runpod.sh: the real fleet binary against the fake RunPod GraphQL API:
# up/ls/url/status/down, a bad key, no capacity, kill -9 after create, and
# the API key never showing up in output or state.
# usage: sh tests/e2e/test-runpod.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 300
KEY=rp_e2e_Zq7xK2mN9vB4
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null

# Every output goes to $T/all too, for the key check at the end.
keep() { cat "$T/out" >>"$T/all"; }
# The fake's record of the instance labelled like $1: "state pid".
fake_inst() {
	$C "$F/_control/instances" | tr '{' '\n' | grep "\"label\":\"$1" |
	    sed -n 's/.*"state":"\([a-z]*\)".*"pid":\([0-9]*\).*/\1 \2/p' |
	    tail -n 1
}
fake_state() { fake_inst "$1" | cut -d' ' -f1; }
fake_running() { $C "$F/_control/instances" | grep -q '"state":"running"'; }

write_gpu_template rpecho

# --- the happy path -------------------------------------------------------
check_exit "up --provider runpod exits 0" 0 "$FLEET" up rpecho --provider runpod
keep
out_has "up prints the stable URL" "rpecho is up on runpod: http://127.0.0.1:"
out_has "up chose the RTX 4090 offer" "offer chosen: runpod (RTX 4090"
out_has "up went through booting" "booting"
check "ls shows runpod, the GPU and \$/h" sh -c "'$FLEET' ls | grep -E '^rpecho +runpod +RTX 4090 +running .* [$]0\.3400 '"
keep
up=$("$FLEET" url --upstream rpecho)
check "the upstream is the pod's public ip:port" sh -c "echo '$up' | grep -Eq '^http://127\.0\.0\.1:[0-9]+$'"
check "the upstream answers /health" curl -fsS --max-time 5 "$up/health"
check "status shows live state running" sh -c "'$FLEET' status rpecho | grep -q 'live state:  running'"
keep
check "the fake runs the pod" [ "$(fake_state fleet-rpecho-)" = running ]
pid=$(fake_inst fleet-rpecho- | cut -d' ' -f2)
t_auth() {
	$C "$F/_control/requests?prefix=/runpod" >"$T/req" &&
	    grep -q "\"authorization\":\"Bearer $KEY\"" "$T/req" &&
	    ! grep -q "api_key=" "$T/req"
}
check "the key goes in the Bearer header, never the URL" t_auth
check_exit "down exits 0" 0 "$FLEET" down rpecho
keep
out_has "down prints the cost" "cost \$"
check "the fake shows the pod terminated" [ "$(fake_state fleet-rpecho-)" = terminated ]
dead() { ! kill -0 "$1" 2>/dev/null; }
check "the pod's process is gone" wait_for 5 dead "$pid"
check "ls no longer lists it" sh -c "! '$FLEET' ls | grep -q '^rpecho '"

# --- a bad key ------------------------------------------------------------
n_before=$($C "$F/_control/instances" | grep -o '"id"' | wc -l)
check_exit "bad key: up fails" 1 env RUNPOD_API_KEY=rp_wrong_Yt5wQ8 "$FLEET" up rpecho --name badkey --provider runpod
keep
out_has "bad key: names runpod and the 401" "runpod: HTTP 401"
out_has "bad key: says auth" "(auth)"
check "bad key: the key is not echoed" sh -c "! grep -q rp_wrong_Yt5wQ8 '$T/out'"
check "bad key: nothing created" [ "$($C "$F/_control/instances" | grep -o '"id"' | wc -l)" -eq "$n_before" ]
check "bad key: nothing tracked" sh -c "! '$FLEET' ls | grep -q '^badkey '"
check_exit "no key at all: up fails" 2 env -u RUNPOD_API_KEY "$FLEET" up rpecho --name nokey --provider runpod
out_has "no key: says which variable" "RUNPOD_API_KEY"

# --- no capacity ----------------------------------------------------------
$C -d '{"provider":"runpod","gpu":"*","available":0}' "$F/_control/capacity" >/dev/null
check_exit "no capacity: up fails" 1 "$FLEET" up rpecho --name nocap --provider runpod
keep
out_has "no capacity: RunPod's words" "There are no longer any instances available with the requested specifications"
out_has "no capacity: typed" "(capacity)"
check "no capacity: nothing running" sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"running\"'"
check "no capacity: not left as an active deployment" sh -c "! '$FLEET' ls | grep -Eq '^nocap .*(running|booting|pending)'"
$C -d '{"provider":"runpod","gpu":"*","available":-1}' "$F/_control/capacity" >/dev/null

# --- kill -9 right after create -------------------------------------------
FLEET_TEST_CRASH=after-create "$FLEET" up rpecho --name crash --provider runpod >"$T/out" 2>&1
keep
crash_pod() { [ -n "$(fake_inst fleet-crash-)" ]; }
check "killed after create: the pod exists at the fake" wait_for 5 crash_pod
check "killed after create: ls shows the deployment" sh -c "'$FLEET' ls | grep -q '^crash '"
keep
check_exit "killed after create: down finds it by label" 0 "$FLEET" down crash
keep
out_has "killed after create: down names the pod" "crash is down"
check "killed after create: the pod is terminated" [ "$(fake_state fleet-crash-)" = terminated ]
check "nothing left running at the fake" sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"running\"'"

# --- the key never leaks --------------------------------------------------
"$FLEET" ls --all >"$T/out" 2>&1; keep
"$FLEET" status crash >"$T/out" 2>&1; keep
check "the key is in no output" sh -c "! grep -q '$KEY' '$T/all'"
check "the key is in no state file" sh -c "! grep -rq '$KEY' '$FLEET_STATE_DIR'"
check "no sanitizer reports in any output" sh -c "! grep -E 'Sanitizer|runtime error' '$T/all'"

# --- spot: interruptible capacity, rented with a bid ----------------------------
cheapest() { "$FLEET" offers rpecho --provider runpod "$@" --json | tr -d ' \n\t' |
    grep -o '"price_per_hour":[0-9.]*' | head -n 1 | cut -d: -f2; }
od=$(cheapest)
os=$(cheapest --spot)
check "spot offers are cheaper ($os < $od)" awk "BEGIN { exit !($os < $od) }"
check "offers --spot marks them spot" sh -c "'$FLEET' offers rpecho --provider runpod --spot --json | grep -q '\"spot\":[[:space:]]*true'"
check_exit "up --spot exits 0" 0 "$FLEET" up rpecho --name spotty --provider runpod --spot
check "up --spot rented with podRentInterruptable and a bid" sh -c "$C '$F/_control/requests?prefix=/runpod' | grep -q 'podRentInterruptable' && $C '$F/_control/requests?prefix=/runpod' | grep -q 'bidPerGpu'"
"$FLEET" down spotty >/dev/null 2>&1

e2e_done
