#!/bin/sh
# No boot that cannot work. A ${VAR} in a template that is unset or empty
# stops `fleet up` with exit 2 before any provider call, naming the
# variable and file:line; ${VAR:-x} and ${VAR:-} are sent as written. A
# workload that exits while it boots (RunPod pod EXITED, Vast
# actual_status exited, the local process gone) ends `fleet up` with
# exit 1 long before its 10 minute boot timeout, with the reason (and the
# local log's last lines), the instance terminated and no second create
# although another offer exists.
. "$(dirname "$0")/lib.sh"

VKEY=vast_bf_5c2d
export FAKECLOUD_VAST_KEY=$VKEY
start_fakecloud --boot-delay-ms 200
export RUNPOD_API_KEY=test-key FLEET_RUNPOD_URL=$F/runpod/graphql
export VAST_API_KEY=$VKEY FLEET_VAST_URL=$F/vast
unset BF_TOKEN BF_EMPTY BF_OPT HF_TOKEN

# The boot timeout is 10 minutes, and every `fleet up` below runs under
# `timeout 120`: an exit code of 1 (not 124) proves it did not wait.
cat > "$FLEET_TEMPLATE_DIR/bf.yaml" <<'YAML'
name: bf
image: ghcr.io/example/echo:1
gpu: {count: 1, min_vram_gb: 24}
disk_gb: 20
env:
  GREETING: hello
  BF_OPT: ${BF_OPT:-bf-default-71}
  BF_MAYBE: ${BF_EMPTY:-}
  HF_TOKEN: ${BF_TOKEN}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 10m}
YAML
cat > "$FLEET_TEMPLATE_DIR/bflocal.yaml" <<'YAML'
name: bflocal
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 10m}
local:
  command: "sh -c 'echo greeting=$GREETING; exec {fleet} echo-server --port {port}'"
  env:
    GREETING: ${BF_OPT:-local-default-39}
    TOKEN: ${BF_TOKEN}
YAML
cat > "$FLEET_TEMPLATE_DIR/bfdies.yaml" <<'YAML'
name: bfdies
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 10m}
local:
  command: "sh -c 'echo loading weights; echo fatal: no HF_TOKEN >&2; exit 3'"
YAML

TO="timeout 120"
reqs() { $C "$F/_control/requests?prefix=$1"; }
creates() {
	case $1 in
	runpod) reqs /runpod/graphql | grep -o 'podFindAndDeployOnDemand(' | wc -l ;;
	vast) reqs /vast/api/v0/asks/ | grep -o '"method":"PUT"' | wc -l ;;
	esac
}
live() { $C "$F/_control/instances" | tr '{' '\n' | grep "\"provider\":\"$1\"" |
    grep -Ec '"state":"(pending|booting|running|stopped|exited)"'; }
# The state of provider $1's only instance at the fake.
fake_state() { $C "$F/_control/instances" | tr '{' '\n' |
    grep "\"provider\":\"$1\"" | grep -o '"state":"[a-z]*"' | cut -d'"' -f4; }
noffers() { "$FLEET" offers bf --provider "$1" --json | tr -d ' \t\n' |
    grep -o '"provider":"'"$1"'"' | wc -l; }
# Run `fleet up ARGS` and keep its wall time in ms in $ms.
timed_up() {
	t0=$(date +%s%N)
	$TO "$FLEET" up "$@"
	rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	return $rc
}

# --- unset and empty variables: exit 2, named, nothing called -------------
line=$(grep -n 'HF_TOKEN: ' "$FLEET_TEMPLATE_DIR/bf.yaml" | cut -d: -f1)
check_exit "unset \${BF_TOKEN}: exit 2" 2 $TO "$FLEET" up bf
out_has "unset: names the variable" "env HF_TOKEN: \${BF_TOKEN} is not set"
out_has "unset: names file:line" "bf.yaml:$line:"
out_has "unset: says how to allow empty" "\${BF_TOKEN:-}"
check "unset: no provider call at all" [ "$($C "$F/_control/requests")" = "[]" ]
check_exit "empty \${BF_TOKEN}: exit 2" 2 env BF_TOKEN= $TO "$FLEET" up bf --provider runpod
out_has "empty: says it is empty" "\${BF_TOKEN} is empty"
out_has "empty: names file:line" "bf.yaml:$line: env HF_TOKEN"
check_exit "empty on vast: exit 2" 2 env BF_TOKEN= $TO "$FLEET" up bf --provider vast
check "empty: still no provider call" [ "$($C "$F/_control/requests")" = "[]" ]
check "nothing was rented" [ "$(live runpod)" -eq 0 -a "$(live vast)" -eq 0 ]
check_exit "unset in local.env: exit 2 with --provider local" 2 $TO "$FLEET" up bflocal --provider local
out_has "local.env: named with file:line" "bflocal.yaml:8: local.env TOKEN: \${BF_TOKEN} is not set"
check "local.env: no process started" sh -c "[ -z \"$(local_procs)\" ]"
# The local stand-in sends no env: the shipped template runs locally
# without HF_TOKEN, while a cloud up of it is refused.
check_exit "local ignores env: personaplex-7b without HF_TOKEN" 0 $TO "$FLEET" up personaplex-7b --name pplocal --provider local
"$FLEET" down pplocal >/dev/null 2>&1
check_exit "but on runpod it is refused" 2 $TO "$FLEET" up personaplex-7b --name pplocal --provider runpod
out_has "refused naming HF_TOKEN" "env HF_TOKEN: \${HF_TOKEN} is not set"
cat > "$FLEET_TEMPLATE_DIR/bfbad.yaml" <<'YAML'
name: bfbad
image: x
ports: [{port: 8080}]
env: {A: "${BF_TOKEN"}
YAML
check_exit "malformed \${: exit 2" 2 env BF_TOKEN=x $TO "$FLEET" up bfbad --provider runpod
out_has "malformed: a clear error" "bfbad.yaml:4: env A: \"\${BF_TOKEN\" has no closing '}'"

# --- ${VAR:-x} and ${VAR:-} reach the create request ----------------------
export BF_TOKEN=hf_bf_secret_8817
check_exit "set: up on runpod is healthy" 0 $TO "$FLEET" up bf --name bfok --provider runpod
reqs /runpod/graphql >"$T/reqs"
check "\${BF_OPT:-bf-default-71} reached RunPod's create" grep -q 'podFindAndDeployOnDemand.*bf-default-71' "$T/reqs"
# The log keeps the body as a JSON string: its quotes are escaped.
printf '%s' '{\"key\":\"BF_MAYBE\",\"value\":\"\"}' >"$T/pat"
check "\${BF_EMPTY:-} was sent empty" grep -qF -f "$T/pat" "$T/reqs"
"$FLEET" down bfok >/dev/null 2>&1
check_exit "BF_OPT set: up on vast is healthy" 0 env BF_OPT=from-env-52 $TO "$FLEET" up bf --name bfok --provider vast
check "the variable's value reached Vast's create" sh -c "$C '$F/_control/requests?prefix=/vast/api/v0/asks/' | grep -q 'from-env-52'"
"$FLEET" down bfok >/dev/null 2>&1
check_exit "local.env defaults: up local is healthy" 0 $TO "$FLEET" up bflocal --provider local
check "\${BF_OPT:-local-default-39} reached the local process" wait_for 10 grep -q "greeting=local-default-39" "$FLEET_STATE_DIR"/local/fleet-bflocal-*.log
"$FLEET" down bflocal >/dev/null 2>&1

# --- a workload that exits during boot: no failover, exit 1 ---------------
for prov in runpod vast; do
	check "$prov: a second offer exists" [ "$(noffers $prov)" -ge 2 ]
	before=$(creates $prov)
	$C -d "{\"provider\":\"$prov\",\"after_ms\":400,\"message\":\"container exited with code 3\"}" "$F/_control/exit" >/dev/null
	check_exit "$prov: workload exits while booting: up exits 1" 1 timed_up bf --name ex-$prov --provider $prov
	echo "note: $prov: fleet up ended ${ms} ms after it started (boot timeout 10m)"
	case $prov in
	runpod) out_has "runpod: names the reason" "exited: pod EXITED (container exited with code 3)" ;;
	vast) out_has "vast: names the reason" "exited: actual_status exited: container exited with code 3" ;;
	esac
	out_has "$prov: says why it does not fail over" "no other offer is tried"
	check "$prov: no second create (no failover)" [ "$(creates $prov)" -eq $((before + 1)) ]
	check "$prov: it never said it tried the next offer" sh -c "! grep -q 'trying the next offer' '$T/out'"
	check "$prov: the instance is terminated at the fake" [ "$(fake_state $prov | tail -n 1)" = terminated ]
	check "$prov: nothing left at the fake" [ "$(live $prov)" -eq 0 ]
	check "$prov: an exited event is recorded" sh -c "'$FLEET' status ex-$prov | grep -q 'exited .*exited during boot'"
	check "$prov: the deployment is down" sh -c "'$FLEET' status ex-$prov | grep -q 'wants down'"
done

# RunPod's runtime gone after it had started (the container restarting
# itself): a health path the workload never answers keeps up waiting.
sed 's,path: /health,path: /never-healthy,; s,^name: bf$,name: bfrestart,' \
    "$FLEET_TEMPLATE_DIR/bf.yaml" >"$FLEET_TEMPLATE_DIR/bfrestart.yaml"
before=$(creates runpod)
$C -d '{"provider":"runpod","after_ms":600,"when":"running"}' "$F/_control/exit" >/dev/null
check_exit "runpod: runtime gone after running: up exits 1" 1 timed_up bfrestart --provider runpod
echo "note: runpod restart: fleet up ended ${ms} ms after it started"
out_has "runpod restart: it was running first" "port open:"
out_has "runpod restart: names the reason" "exited: it was running, then booting again"
check "runpod restart: no second create" [ "$(creates runpod)" -eq $((before + 1)) ]
check "runpod restart: nothing left" [ "$(live runpod)" -eq 0 ]

# Without --provider: both providers' offers, still no failover.
before=$(( $(creates runpod) + $(creates vast) ))
$C -d '{"provider":"*","after_ms":300}' "$F/_control/exit" >/dev/null
check_exit "any provider: exits while booting: up exits 1" 1 timed_up bf --name ex-any
echo "note: any: fleet up ended ${ms} ms after it started"
check "any provider: exactly one create" [ "$(( $(creates runpod) + $(creates vast) ))" -eq $((before + 1)) ]
check "any provider: nothing left" [ "$(live runpod)" -eq 0 -a "$(live vast)" -eq 0 ]
# The rule was used up: the next boot works, so the exit was the workload's.
check_exit "afterwards a normal up is healthy" 0 $TO "$FLEET" up bf --name ex-any
"$FLEET" down ex-any >/dev/null 2>&1

# --- local: the process is gone -------------------------------------------
check_exit "local: command exits at once: up exits 1" 1 timed_up bfdies --provider local
echo "note: local: fleet up ended ${ms} ms after it started"
out_has "local: names the reason" "exited: process "
out_has "local: shows the last output (stdout)" "| loading weights"
out_has "local: shows the last output (stderr)" "| fatal: no HF_TOKEN"
out_has "local: no failover" "no other offer is tried"
out_has "local: terminated" "terminated fleet-bfdies-"
check "local: no process left" sh -c "[ -z \"$(local_procs)\" ]"
check "local: the event keeps the last line" sh -c "'$FLEET' status bfdies | grep -q 'last output: fatal: no HF_TOKEN'"
check_exit "local: down afterwards exits 0" 0 "$FLEET" down bfdies

check "nothing left anywhere" [ "$(live runpod)" -eq 0 -a "$(live vast)" -eq 0 ]
e2e_done
