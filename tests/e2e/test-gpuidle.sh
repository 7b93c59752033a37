#!/bin/sh
# GPU utilisation as an idle signal: a deployment with no HTTP traffic is
# kept while the provider reports its GPU busy (RunPod's
# runtime.gpus[].gpuUtilPercent, sampled by the daemon's reconcile job),
# and terminated once it drops below idle_gpu_percent.
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 200
export RUNPOD_API_KEY=test-key
export FLEET_RUNPOD_URL=$F/runpod/graphql
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  watch_interval: 1s
  reconcile_interval: 1s
YAML
cat > "$FLEET_TEMPLATE_DIR/batch.yaml" <<YAML
name: batch
image: ghcr.io/example/batch:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
idle_timeout: 4s
idle_gpu_percent: 10
YAML
gone() { ! "$FLEET" ls | grep -q "^batch "; }

$C -d '{"gpu_util": 90}' "$F/runpod/_fake" >/dev/null
check "up batch on runpod" "$FLEET" up batch --provider runpod
sleep 10
check "GPU at 90%: alive after 2.5x its idle timeout, no traffic" sh -c "'$FLEET' ls | grep -q '^batch '"
check "the provider's 90% sample is recorded" sh -c "'$FLEET' ls --json | tr -d ' \t\n' | grep -q '\"gpu_util_percent\":90'"
$C -d '{"gpu_util": 3}' "$F/runpod/_fake" >/dev/null
check "GPU at 3% (< 10): terminated as idle" wait_for 25 gone
check "recorded as idle" sh -c "'$FLEET' status batch | grep -q ' idle '"
check "nothing left at the fake" sh -c "! $C '$F/_control/instances' | grep -q '\"state\":\"running\"'"
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
