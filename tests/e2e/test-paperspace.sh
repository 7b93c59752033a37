#!/bin/sh
# End to end on the Paperspace driver against fakecloud's Paperspace v1
# API: offers from fleet's price table, up/ls/url/status/down on a GPU
# template, a bad key, no key, no capacity, crash after create, and the
# API key never showing in output or state.
#
# A Paperspace machine is a VM: its service ports answer unchanged on its
# public ip. Fake machines listen on random loopback ports, so the test
# picks a free port, makes it the template's only port, and tells the
# fake (POST /paperspace/_fake/config {"port"}: fakecloud's own control,
# not Paperspace's API) to run each ready machine's echo server on it.
# One machine at a time can then pass its health check.
. "$(dirname "$0")/lib.sh"

FC=$BUILD/fakecloud
KEY="ps-e2e-secret-8d41c7a09b2f63"
"$FC" --port 0 --port-file "$T/fc.port" --fleet "$FLEET" \
    --boot-delay-ms 300 2>"$T/fc.log" &
E2E_PIDS="$E2E_PIDS $!"
if ! wait_for 10 test -s "$T/fc.port"; then
	fail "fakecloud starts"
	e2e_done
	exit 1
fi
FCU=http://127.0.0.1:$(cat "$T/fc.port")
export FLEET_PAPERSPACE_URL=$FCU/paperspace/v1
export PAPERSPACE_API_KEY=$KEY

# A free loopback port for the service (not the proxy's shared port).
port_free() { ! curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/"; }
PORT=$((40000 + $$ % 9000))
while ! port_free "$PORT" || [ "$PORT" -eq "$E2E_SHARED_PORT" ]; do
	PORT=$((PORT + 1))
done

ctl() { curl -fsS -m 10 -d "$2" "$FCU$1"; }
api() { curl -fsS -m 10 -H "Authorization: Bearer $KEY" "$FLEET_PAPERSPACE_URL$1"; }
# Machines the API still lists, one "id name state" a line.
ps_machines() {
	api '/machines?limit=120' | tr '{' '\n' | sed -n \
	    's/.*"id":"\(ps[0-9a-f]*\)","name":"\([^"]*\)","state":"\([a-z]*\)".*/\1 \2 \3/p'
}
no_machines() { [ -z "$(ps_machines)" ]; }
fake_setup() {
	ctl /_control/reset '' >/dev/null &&
	    ctl /paperspace/_fake/config "{\"api_key\":\"$KEY\",\"port\":$PORT}" >/dev/null
}
fake_setup
ALL=$T/all.out
: > "$ALL"
keep() { cat "$T/out" >> "$ALL"; }

cat > "$FLEET_TEMPLATE_DIR/psgpu.yaml" <<YAML
name: psgpu
description: a GPU service for the Paperspace end-to-end test
gpu:
  min_vram_gb: 40
  count: 1
image: example/psgpu:latest
env:
  GREETING: hello
ports:
  - port: $PORT
    protocol: http
health:
  type: http
  path: /health
  interval: 1s
  timeout: 2s
  boot_timeout: 30s
providers: [paperspace]
YAML

# --- offers: from fleet's table, flagged ----------------------------------------
check_exit "offers on paperspace exits 0" 0 "$FLEET" offers psgpu --provider paperspace
keep
cp "$T/out" "$T/offers.out"
out_has "offers lists the A100 80GB at the table price" "3.18"
# Table prices carry available = -1 (and the driver's note "price from
# fleet's table, not the API" in err->message, which offers.c may show).
check "offers flags table prices as availability unknown" sh -c "grep -E '^paperspace +A100 80GB .* [$]3\\.18 +NY2 +unknown' '$T/offers.out'"
check "offers --json: unknown availability is null" sh -c "'$FLEET' offers psgpu --provider paperspace --json | tr -d ' \t\n' | grep -q '\"available\":null'"

# --- the happy path ---------------------------------------------------------------
check_exit "up psgpu on paperspace exits 0" 0 "$FLEET" -v -v up psgpu --provider paperspace
keep
cp "$T/out" "$T/up-verbose.out"
out_has "up says it is up on paperspace with the stable URL" "psgpu is up on paperspace: http://127.0.0.1:"
out_has "up chose the cheapest fitting type" "offer chosen: paperspace (A100 80GB"
out_has "up shows the table price and region" "\$3.18/h, NY2)"
out_has "up reached the service port on the public ip" "port open: http://127.0.0.1:$PORT"
check "ls shows paperspace, the GPU, running and \$/h" sh -c "'$FLEET' ls | tee /dev/stderr | grep -E '^psgpu +paperspace +A100 80GB +running .* [$]3\.18 '"
keep
up=$("$FLEET" url --upstream psgpu)
check "the upstream is the public ip at the template port" [ "$up" = "http://127.0.0.1:$PORT" ]
check "the upstream answers its health check" curl -fsS -m 5 "$up/health"
check "the upstream is the labelled machine" sh -c "curl -fsS -m 5 '$up/' | grep -q 'fleet-psgpu-'"
check "status shows the live state running" sh -c "'$FLEET' status psgpu | grep -q 'live state:  running'"
keep
create_logged() {
	curl -fsS -m 10 "$FCU/_control/requests?prefix=/paperspace/v1/machines" >"$T/create.json" || return 1
	for w in '\"machineType\":\"A100-80G\"' '\"region\":\"NY2\"' \
	    '\"publicIpType\":\"dynamic\"' '\"startOnCreate\":true' \
	    '\"diskSize\":50' 'startupScriptId' 'fleet-psgpu-' \
	    "\"authorization\":\"Bearer "; do
		grep -qF -- "$w" "$T/create.json" || { echo "missing $w"; return 1; }
	done
}
check "create carried type, region, ip type, disk, script, label, Bearer" create_logged
script_ok() {
	curl -fsS -m 10 "$FCU/paperspace/_fake/scripts" >"$T/scripts.json" || return 1
	for w in "docker run -d --name fleet-app" "-p $PORT:$PORT" \
	    "'GREETING=hello'" "'example/psgpu:latest'" "--gpus all"; do
		grep -qF -- "$w" "$T/scripts.json" || { echo "missing $w"; return 1; }
	done
}
check "the startup script runs the image with the port mapped 1:1" script_ok
one_ready() { [ "$(ps_machines | grep -c ' ready$')" -eq 1 ]; }
check "the fake lists exactly one machine, ready" one_ready
check_exit "down exits 0" 0 "$FLEET" down psgpu
keep
out_has "down prints uptime and cost" "cost \$"
out_has "down names paperspace" "(paperspace ps"
check "down deleted the machine at Paperspace" wait_for 10 no_machines
check "down deleted its startup script" sh -c "[ \"\$(curl -fsS '$FCU/paperspace/_fake/scripts')\" = '[]' ]"
check "the upstream is gone" sh -c "! curl -fsS -m 2 '$up/health'"
check "ls no longer lists it" sh -c "! '$FLEET' ls | grep -q '^psgpu '"

# --- a bad key, no key ------------------------------------------------------------
check_exit "bad key: up fails with exit 1" 1 env PAPERSPACE_API_KEY=ps-wrong-key-e2e-31337 "$FLEET" up psgpu --name badkey --provider paperspace
keep
out_has "bad key: Paperspace's message is shown" "paperspace: Invalid API key"
out_has "bad key: says which variable" "PAPERSPACE_API_KEY"
out_has "bad key: typed auth" "(auth)"
check "bad key: the key is not echoed" sh -c "! grep -q ps-wrong-key-e2e-31337 '$T/out'"
check "bad key: nothing was created" no_machines
check "bad key: ls shows nothing" sh -c "! '$FLEET' ls | grep -q '^badkey '"
check_exit "no key: up fails with exit 2" 2 env -u PAPERSPACE_API_KEY "$FLEET" up psgpu --name nokey --provider paperspace
out_has "no key: says to set PAPERSPACE_API_KEY" "set PAPERSPACE_API_KEY"

# --- no capacity --------------------------------------------------------------------
ctl /_control/capacity '{"provider":"paperspace","gpu":"*","available":0}' >/dev/null
check_exit "no capacity: up fails with exit 1" 1 "$FLEET" up psgpu --name soldout --provider paperspace
keep
out_has "no capacity: says so" "paperspace: no capacity"
out_has "no capacity: typed capacity" "(capacity)"
check "no capacity: nothing was created" no_machines
fake_setup

# --- crash right after create: down finds it by its label ----------------------------
FLEET_TEST_CRASH=after-create "$FLEET" up psgpu --name crash1 --provider paperspace >"$T/out" 2>&1
keep
crash_exists() { ps_machines | grep -q ' fleet-crash1-'; }
check "killed after create: the machine exists at Paperspace" crash_exists
cid=$(ps_machines | awk '$2 ~ /^fleet-crash1-/ { print $1 }')
check "killed after create: ls shows it pending" sh -c "'$FLEET' ls | grep -Eq '^crash1 +paperspace .* pending '"
check_exit "killed after create: down exits 0" 0 "$FLEET" down crash1
keep
out_has "killed after create: down found the machine by its label" "(paperspace $cid"
check "killed after create: deleted at Paperspace" wait_for 10 no_machines

# --- the key stays secret ---------------------------------------------------------------
check "the verbose output did log the API calls" grep -q 'GET .*/machines' "$T/up-verbose.out"
check "the key never appears in any output" sh -c "! grep -q '$KEY' '$ALL'"
check "the key never appears in the state dir" sh -c "! grep -r -a -q '$KEY' '$FLEET_STATE_DIR'"
check "nothing of ours is left at the fake" sh -c "! curl -fsS '$FCU/_control/instances' | grep -q '\"state\":\"\\(pending\\|booting\\|running\\)\"'"

e2e_done
