#!/bin/sh
# test-vast.sh: the real fleet binary against the fake Vast.ai API: up (offer
# search, rent, boot, health on the mapped port), ls/url/status, down with
# its cost, a bad key, an offer taken in the race, kill -9 after create, and
# the API key never showing up in output or state.
# usage: sh tests/e2e/test-vast.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

KEY=vast_e2e_4c1f9a7be03d
export FAKECLOUD_VAST_KEY=$KEY
start_fakecloud --boot-delay-ms 300
export VAST_API_KEY=$KEY
export FLEET_VAST_URL=$F/vast

# Every output goes to $T/all too, for the key check at the end.
keep() { cat "$T/out" >>"$T/all"; }
# The fake's state of the vast instance labelled like $1 (last one).
fake_state() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep "\"provider\":\"vast\",\"label\":\"$1" |
	    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' | tail -n 1
}
fake_id() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep "\"provider\":\"vast\",\"label\":\"$1" |
	    sed -n 's/.*"id":"\([0-9]*\)".*/\1/p' | tail -n 1
}
# Vast instances still billing anything (GPU or disk), per the fake.
billing() { $C "$F/vast/_fake/billing" | tr '{' '\n' | grep -c '"billing":true'; }
vast_live() { $C "$F/_control/instances" | tr '{' '\n' | grep '"provider":"vast"' |
    grep -Ec '"state":"(pending|booting|running|stopped)"'; }

cat > "$FLEET_TEMPLATE_DIR/vecho.yaml" <<YAML
name: vecho
description: echo service on one Vast RTX 4090
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1, min_vram_gb: 24}
disk_gb: 20
ports:
  - port: 8080
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
YAML

# --- the happy path -------------------------------------------------------
check_exit "up --provider vast exits 0" 0 "$FLEET" up vecho --provider vast
keep
out_has "up prints the stable URL" "vecho is up on vast: http://127.0.0.1:"
out_has "up chose the verified, reliable RTX 4090" "offer chosen: vast (RTX 4090"
out_has "up shows the host's region" "Texas, US"
out_has "up went through booting" "booting"
check "ls shows vast, the GPU and \$/h" sh -c "'$FLEET' ls | grep -E '^vecho +vast +RTX 4090 +running .* [$]0\.40[0-9]{2} '"
keep
up=$("$FLEET" url --upstream vecho)
check "the upstream is the host's public ip and mapped port" sh -c "echo '$up' | grep -Eq '^http://127\.0\.0\.1:[0-9]+$'"
check "the upstream answers /health" curl -fsS --max-time 5 "$up/health"
check "status shows the live state" sh -c "'$FLEET' status vecho | grep -q 'live state:  running'"
keep
check "the fake rented one instance labelled fleet-vecho-" [ "$(fake_state fleet-vecho-)" = running ]
check "the rented ask left the market" sh -c "$C -X POST -H 'Authorization: Bearer $KEY' -d '{\"gpu_name\":{\"eq\":\"RTX 4090\"},\"num_gpus\":{\"eq\":1},\"rented\":{\"eq\":false},\"verified\":{\"eq\":true},\"reliability2\":{\"gte\":0.95},\"direct_port_count\":{\"gte\":2}}' '$F/vast/api/v0/bundles/' | grep -q '\"offers\":\[\]'"
check_exit "down exits 0" 0 "$FLEET" down vecho
keep
out_has "down prints uptime and cost" "cost \$"
check "down destroyed the instance" [ "$(fake_state fleet-vecho-)" = terminated ]
check "nothing bills at the fake after down" [ "$(billing)" -eq 0 ]
check "the upstream is gone" sh -c "! curl -fsS --max-time 2 '$up/health'"

# --- a bad key: a clear error, a failing exit, nothing rented ---------------
check_exit "bad key: up fails" 1 env VAST_API_KEY=vast_wrong_key_8e2 "$FLEET" up vecho --name badkey --provider vast
keep
out_has "bad key: says it is an auth error" "(auth)"
out_has "bad key: keeps Vast's words" "vast: Please log in or sign up"
check "bad key: the wrong key is not printed" sh -c "! grep -q vast_wrong_key_8e2 '$T/out'"
check "bad key: nothing rented" [ "$(vast_live)" -eq 0 ]
check "bad key: no live deployment" sh -c "! '$FLEET' ls | grep -q '^badkey '"
# Search without a key (as Vast allows): the rent itself is refused.
$C -d '{"search_auth":false}' "$F/vast/_fake/config" >/dev/null
check_exit "bad key at rent: up fails" 1 env VAST_API_KEY=vast_wrong_key_8e2 "$FLEET" up vecho --name badkey2 --provider vast
keep
out_has "bad key at rent: auth error" "(auth)"
check "bad key at rent: nothing rented" [ "$(vast_live)" -eq 0 ]
$C -d '{"search_auth":true}' "$F/vast/_fake/config" >/dev/null

# --- the offer is taken between search and rent -----------------------------
# With the reliability floor at 0.85 two offers fit: 5002 ($0.33) is
# taken in the race, so up must fail over to 5001 ($0.40).
$C -d '{"race_ids":[5002]}' "$F/vast/_fake/config" >/dev/null
check_exit "offer taken: up fails over to the next offer" 0 env FLEET_VAST_MIN_RELIABILITY=0.85 "$FLEET" up vecho --name race --provider vast
keep
out_has "offer taken: says the first was a capacity error" "(capacity)"
out_has "offer taken: with Vast's code" "no_such_ask"
out_has "offer taken: tried the next" "trying the next offer"
check "offer taken: exactly one rented" [ "$(vast_live)" -eq 1 ]
"$FLEET" down race >/dev/null 2>&1
check "offer taken: down leaves nothing" [ "$(vast_live)" -eq 0 ]
$C -X POST "$F/_control/reset" >/dev/null
$C -d '{"search_auth":true}' "$F/vast/_fake/config" >/dev/null

# --- no capacity ---------------------------------------------------------
$C -d '{"provider":"vast","gpu":"*","available":0}' "$F/_control/capacity" >/dev/null
check_exit "no offers: up fails" 1 "$FLEET" up vecho --name empty --provider vast
keep
cp "$T/out" "$T/empty.out"
check "no offers: says so" grep -Eq "vast( has no offer for vecho|: nothing that fits vecho)" "$T/empty.out"
$C -X POST "$F/_control/reset" >/dev/null

# --- kill -9 right after create: down finds it by its label -----------------
FLEET_TEST_CRASH=after-create "$FLEET" up vecho --name crash2 --provider vast >"$T/out" 2>&1
keep
cst=$(fake_state fleet-crash2-)
cid=$(fake_id fleet-crash2-)
check "killed after create: the instance exists" sh -c "echo '$cst' | grep -Eqx 'pending|booting|running'"
check_exit "killed after create: down finds it by label" 0 "$FLEET" down crash2
keep
out_has "killed after create: down names the instance" "vast $cid"
check "killed after create: destroyed at the fake" [ "$(fake_state fleet-crash2-)" = terminated ]
check "killed after create: nothing bills" [ "$(billing)" -eq 0 ]

# --- the key never leaks ----------------------------------------------------
check "the key is in no output" sh -c "! grep -q '$KEY' '$T/all'"
check "the key is in no state file" sh -c "! grep -rqa '$KEY' '$FLEET_STATE_DIR'"
check "the key never went into a URL" sh -c "! $C '$F/_control/requests?prefix=/vast' | grep -o '\"uri\":\"[^\"]*' | grep -q '$KEY'"

# --- the reliability floor and verified flag come from fleet.yaml too --------
$C -X POST "$F/_control/reset" >/dev/null
cp "$FLEET_CONFIG" "$T/rel.yaml"
printf 'providers:\n  vast:\n    min_reliability: 0.85\n' >> "$T/rel.yaml"
n_default=$("$FLEET" offers vecho --provider vast --json | grep -c '"provider":')
n_relaxed=$(FLEET_CONFIG="$T/rel.yaml" "$FLEET" offers vecho --provider vast --json | grep -c '"provider":')
check "config min_reliability 0.85 admits more offers ($n_default -> $n_relaxed)" [ "$n_relaxed" -gt "$n_default" ]
printf '    verified: false\n' >> "$T/rel.yaml"
n_unverified=$(FLEET_CONFIG="$T/rel.yaml" "$FLEET" offers vecho --provider vast --json | grep -c '"provider":')
check "config verified: false admits unverified hosts ($n_relaxed -> $n_unverified)" [ "$n_unverified" -gt "$n_relaxed" ]

e2e_done
