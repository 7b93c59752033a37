#!/bin/sh
# End to end on the Lambda Cloud driver against fakecloud's Lambda API:
# up/ls/url/status/down on a GPU template, bad key, no capacity (sold out
# and a stale catalogue), a missing ssh key name, crash after create, and
# the API key never showing in output or state.
#
# Lambda serves an instance's ports unchanged on its public ip, so fleet
# reaches the template's port number on the ip (only if the account's
# Lambda firewall allows it; otherwise an SSH tunnel is needed, which this
# test does not cover). Fake instances listen on random loopback ports, so
# the fake is told (POST /lambda/_control {"instance_port"}: fakecloud
# configuration, not Lambda's API) to run each instance's service on one
# fixed port as well, and the template uses that port. One instance at a
# time can then pass its health check, which is all this script needs.
. "$(dirname "$0")/lib.sh"

FC=$BUILD/fakecloud
KEY="lk-e2e-secret-5f3a9c0d2b7e41"
"$FC" --port 0 --port-file "$T/fc.port" --fleet "$FLEET" \
    --boot-delay-ms 300 2>"$T/fc.log" &
FCPID=$!
E2E_PIDS="$E2E_PIDS $FCPID"
if ! wait_for 10 test -s "$T/fc.port"; then
	fail "fakecloud starts"
	e2e_done
	exit 1
fi
FCU=http://127.0.0.1:$(cat "$T/fc.port")
export FLEET_LAMBDA_URL=$FCU/lambda/api/v1
export LAMBDA_API_KEY=$KEY

ctl() { curl -fsS -m 10 -d "$2" "$FCU$1"; }
api() { curl -fsS -m 10 -H "Authorization: Bearer $KEY" "$FLEET_LAMBDA_URL$1"; }
# Lambda instances the API still lists (any status), one "id name status" a line.
lambda_instances() {
	api /instances | tr '{' '\n' | sed -n \
	    's/.*"id":"\([0-9a-f]*\)","name":"\([^"]*\)".*"status":"\([a-z]*\)".*/\1 \2 \3/p'
}
no_instances() { [ -z "$(lambda_instances)" ]; }
IPORT=$(ctl /lambda/_control '{"instance_port":-1}' |
    sed -n 's/.*"instance_port":\([0-9]*\).*/\1/p')
fake_setup() {
	ctl /_control/reset '' >/dev/null &&
	    ctl /lambda/_control "{\"api_key\":\"$KEY\",\"instance_port\":$IPORT}" >/dev/null
}
fake_setup

cat >> "$FLEET_CONFIG" <<YAML
providers:
  lambda:
    ssh_key_name: fleet-test
YAML
cat > "$FLEET_TEMPLATE_DIR/gpujob.yaml" <<YAML
name: gpujob
description: a GPU service for the Lambda end-to-end test
gpu:
  count: 1
  models: ["A100"]
image: example/gpujob:latest
ports:
  - port: $IPORT
    protocol: http
health:
  type: http
  path: /health
  interval: 1s
  timeout: 2s
  boot_timeout: 20s
providers: [lambda]
YAML

# --- the happy path ---------------------------------------------------------
check_exit "up gpujob on lambda exits 0" 0 "$FLEET" -v -v up gpujob
cp "$T/out" "$T/up-verbose.out"
out_has "up says it is up on lambda with the stable URL" "gpujob is up on lambda: http://127.0.0.1:"
out_has "up chose the cheapest A100 type, under fleet's name" "A100 40GB SXM4"
out_has "up reached the service port on the instance ip" "port open: http://127.0.0.1:$IPORT"
check "ls shows lambda, the GPU, running and \$/h" sh -c "'$FLEET' ls | grep -E '^gpujob +lambda +A100 40GB SXM4 +running .* [$]1\.29 '"
up=$("$FLEET" url --upstream gpujob)
check "the upstream is the instance ip at the template port" [ "$up" = "http://127.0.0.1:$IPORT" ]
check "the upstream answers its health check" curl -fsS -m 5 "$up/health"
check "the upstream is the labelled instance" sh -c "curl -fsS -m 5 '$up/' | grep -q 'fleet-gpujob-'"
check "status shows the live state running" sh -c "'$FLEET' status gpujob | grep -q 'live state:  running'"
check "status --json names lambda and the GPU" sh -c "'$FLEET' status gpujob --json | tr -d ' \t' | grep -q '\"provider\":\"lambda\"' && '$FLEET' status gpujob --json | grep -q 'A100'"
launch_logged() {
	curl -fsS -m 10 "$FCU/_control/requests?prefix=/lambda/api/v1/instance-operations/launch" >"$T/launch.json" || return 1
	for w in region_name us-east-1 gpu_1x_a100_sxm4 ssh_key_names fleet-test \
	    fleet-gpujob- 'quantity\":1' "\"authorization\":\"Bearer "; do
		grep -qF -- "$w" "$T/launch.json" || { echo "missing $w"; return 1; }
	done
}
check "launch carried region, type, ssh key name, label, Bearer auth" launch_logged
one_active() { [ "$(lambda_instances | grep -c ' active$')" -eq 1 ]; }
check "the fake lists exactly one instance, active" one_active
check_exit "down exits 0" 0 "$FLEET" down gpujob
out_has "down prints uptime and cost" "cost \$"
out_has "down names lambda" "gpujob is down (lambda "
check "down terminated the instance at Lambda" wait_for 10 no_instances
check "the upstream is gone" sh -c "! curl -fsS -m 2 '$up/health'"
check "ls no longer lists it" sh -c "! '$FLEET' ls | grep -q '^gpujob '"

# --- a bad key ----------------------------------------------------------------
check_exit "bad key: up fails with exit 1" 1 env LAMBDA_API_KEY=wrong-key-e2e-31337 "$FLEET" up gpujob --name badkey
out_has "bad key: Lambda's code is shown" "global/invalid-api-key"
out_has "bad key: Lambda's message is shown" "API key was invalid, expired, or deleted."
out_has "bad key: typed auth" "(auth)"
check "bad key: the key is not echoed" sh -c "! grep -q wrong-key-e2e-31337 '$T/out'"
check "bad key: nothing was launched" no_instances
check "bad key: ls shows nothing running" sh -c "! '$FLEET' ls | grep -q '^badkey .*running'"

# --- no capacity ----------------------------------------------------------------
ctl /_control/capacity '{"provider":"lambda","gpu":"*","available":0}' >/dev/null
check_exit "sold out: up fails with exit 1" 1 "$FLEET" up gpujob --name soldout
out_has "sold out: says no capacity" "none has capacity in any region"
out_has "sold out: typed capacity" "(capacity)"
check "sold out: nothing was launched" no_instances
fake_setup
# The catalogue lists capacity, but every launch says otherwise.
ctl /_control/fail "{\"route\":\"/lambda/api/v1/instance-operations/launch\",\"status\":400,\"count\":-1,\"body\":\"{\\\"error\\\":{\\\"code\\\":\\\"instance-operations/launch/insufficient-capacity\\\",\\\"message\\\":\\\"Not enough capacity to fulfill launch request.\\\"}}\"}" >/dev/null
check_exit "stale catalogue: up fails with exit 1" 1 "$FLEET" up gpujob --name stale
out_has "stale catalogue: Lambda's code is shown" "instance-operations/launch/insufficient-capacity"
out_has "stale catalogue: every A100 offer was tried" "every offer failed"
check "stale catalogue: nothing was launched" no_instances
check "stale catalogue: nothing left running in state" sh -c "! '$FLEET' ls | grep -q '^stale .*\\(running\\|booting\\|pending\\)'"
fake_setup

# --- no ssh key name configured ---------------------------------------------
printf 'proxy:\n  shared_port: %d\n  port_min: %d\n  port_max: %d\n' \
    "$E2E_SHARED_PORT" "$E2E_PORT_MIN" "$E2E_PORT_MAX" > "$T/nokey.yaml"
check_exit "no ssh key name: up fails" 1 env FLEET_CONFIG="$T/nokey.yaml" "$FLEET" up gpujob --name nokey
out_has "no ssh key name: names the setting" "providers.lambda.ssh_key_name"
out_has "no ssh key name: typed invalid" "(invalid)"
check "no ssh key name: nothing was launched" no_instances

# --- crash right after create: down finds it by its label ----------------------
FLEET_TEST_CRASH=after-create "$FLEET" up gpujob --name crash1 >"$T/crash.out" 2>&1
crash_exists() { lambda_instances | grep -q ' fleet-crash1-'; }
check "killed after create: the instance exists at Lambda" crash_exists
cid=$(lambda_instances | awk '$2 ~ /^fleet-crash1-/ { print $1 }')
check "killed after create: ls shows it pending" sh -c "'$FLEET' ls | grep -Eq '^crash1 +lambda .* pending '"
check_exit "killed after create: down exits 0" 0 "$FLEET" down crash1
out_has "killed after create: down found the instance by its label" "(lambda $cid)"
check "killed after create: terminated at Lambda" wait_for 10 no_instances

# --- the key stays secret ---------------------------------------------------------
check "the key never appears in up -v -v output" sh -c "! grep -q '$KEY' '$T/up-verbose.out'"
check "the verbose output did log the API calls" grep -q 'GET .*/instance' "$T/up-verbose.out"
check "the key never appears in the state dir" sh -c "! grep -r -a -q '$KEY' '$FLEET_STATE_DIR'"
check "nothing of ours is left at the fake" sh -c "! curl -fsS '$FCU/_control/instances' | grep -q '\"state\":\"\\(pending\\|booting\\|running\\)\"'"

# The fake itself (fake-lambda.c) shuts down clean, sanitizers quiet.
fc_stop() {
	kill -TERM "$FCPID" && wait "$FCPID" &&
	    ! grep -qE 'Sanitizer|runtime error' "$T/fc.log"
}
check "fakecloud exits cleanly on SIGTERM" fc_stop

e2e_done
