#!/bin/sh
# Across providers on one fake cloud (RunPod + Vast keys set): offers from
# both, cheapest first; capacity gone on the cheapest provider -> rented
# on the next; a create whose answer is lost after it happened is found by
# its label and not created twice; 5xx retried; a bad key names the
# provider and its env var; the shipped personaplex-7b to healthy on
# RunPod (WebSocket readiness on /api/chat).
. "$(dirname "$0")/lib.sh"

VKEY=vast_fo_91ab
export FAKECLOUD_VAST_KEY=$VKEY
start_fakecloud --boot-delay-ms 200
export RUNPOD_API_KEY=test-key FLEET_RUNPOD_URL=$F/runpod/graphql
export VAST_API_KEY=$VKEY FLEET_VAST_URL=$F/vast
cat > "$FLEET_TEMPLATE_DIR/fo.yaml" <<YAML
name: fo
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1, min_vram_gb: 24}
disk_gb: 20
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
YAML
live() { $C "$F/_control/instances" | tr '{' '\n' | grep "\"provider\":\"$1\"" |
    grep -Ec '"state":"(pending|booting|running|stopped)"'; }
first_provider() { "$FLEET" offers fo --json | tr -d ' \t\n' |
    grep -o '"provider":"[a-z]*"' | head -n 1 | cut -d'"' -f4; }

check "offers come from both providers" sh -c "'$FLEET' offers fo | grep -q '^runpod ' && '$FLEET' offers fo | grep -q '^vast '"
check "offers are cheapest first" sh -c "'$FLEET' offers fo --json | tr -d ' \t\n' | grep -o '\"price_per_hour\":[0-9.]*' | cut -d: -f2 | sort -c -n"
cheap=$(first_provider)
case $cheap in runpod) other=vast ;; *) other=runpod ;; esac

# Capacity gone on the cheapest provider: rented on the other one.
$C -d "{\"provider\":\"$cheap\",\"gpu\":\"*\",\"available\":0}" "$F/_control/capacity" >/dev/null
check_exit "no capacity on $cheap: up still succeeds" 0 "$FLEET" up fo
out_has "it says it moved on" "$other"
check "rented on $other" [ "$(live $other)" -eq 1 ]
check "nothing on $cheap" [ "$(live $cheap)" -eq 0 ]
check "ls shows $other" sh -c "'$FLEET' ls | grep -Eq '^fo +$other '"
"$FLEET" down fo >/dev/null 2>&1
check "down leaves nothing" [ "$(live $other)" -eq 0 ]
$C -d "{\"provider\":\"$cheap\",\"gpu\":\"*\",\"available\":-1}" "$F/_control/capacity" >/dev/null

# The create happens but its answer is lost (gateway 502 after the work).
$C -d '{"route":"/vast/api/v0/asks","count":1}' "$F/_control/lose" >/dev/null
check_exit "lost create answer: up still succeeds" 0 "$FLEET" up fo --name lost --provider vast
check "lost create answer: exactly one instance, not two" [ "$(live vast)" -eq 1 ]
check "lost create answer: adopted by its label" sh -c "'$FLEET' status lost | grep -q 'create-adopted'"
"$FLEET" down lost >/dev/null 2>&1
check "lost create answer: down leaves nothing" [ "$(live vast)" -eq 0 ]

# 5xx on the API is retried.
$C -d '{"route":"/runpod/graphql","status":503,"count":1}' "$F/_control/fail" >/dev/null
check_exit "one 503 from RunPod is retried: up succeeds" 0 "$FLEET" up fo --name retry --provider runpod
"$FLEET" down retry >/dev/null 2>&1

# A bad key: the message names the provider and the variable to fix.
check_exit "bad Vast key: up fails" 1 env VAST_API_KEY=wrong "$FLEET" up fo --name bad --provider vast
out_has "bad key: names vast" "vast"
out_has "bad key: names the variable" "VAST_API_KEY"
check "bad key: nothing rented" [ "$(live vast)" -eq 0 ]

# The shipped personaplex-7b: ws port over public TCP, WebSocket readiness.
# Its gated weights need HF_TOKEN: unset, up refuses before renting.
check_exit "personaplex-7b without HF_TOKEN: exit 2" 2 env -u HF_TOKEN "$FLEET" up personaplex-7b --name pp --provider runpod
out_has "personaplex-7b without HF_TOKEN: names it" "env HF_TOKEN: \${HF_TOKEN} is not set"
check_exit "personaplex-7b on runpod to healthy" 0 env HF_TOKEN=hf_e2e_dummy "$FLEET" up personaplex-7b --name pp --provider runpod
check "personaplex-7b answers a WebSocket on its stable URL" "$FC" wscheck 127.0.0.1 "$("$FLEET" url pp | sed 's/.*://')" /api/chat hello
check "ls --json: runpod, its price and an upstream" sh -c "'$FLEET' ls --json | tr -d ' \t\n' | grep -q '\"name\":\"pp\",\"template\":\"personaplex-7b\",\"desired\":\"up\",\"provider\":\"runpod\"'"
"$FLEET" down pp >/dev/null 2>&1
check "nothing left at runpod" [ "$(live runpod)" -eq 0 ]
check "nothing left at vast" [ "$(live vast)" -eq 0 ]
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
