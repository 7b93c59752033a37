#!/bin/sh
# The money guard under crashes, over the fake RunPod and Vast APIs: a
# create that lands after the `fleet up` that sent it was killed and a
# `fleet down` gave its row up is terminated by the next reconcile pass.
. "$(dirname "$0")/lib.sh"

VKEY=vast_cl_5e2d
export FAKECLOUD_VAST_KEY=$VKEY
start_fakecloud --boot-delay-ms 300
export RUNPOD_API_KEY=test-key FLEET_RUNPOD_URL=$F/runpod/graphql
export VAST_API_KEY=$VKEY FLEET_VAST_URL=$F/vast
# Every Vast RTX 4090 ask, so three deployments can rent there at once.
export FLEET_VAST_MIN_RELIABILITY=0 FLEET_VAST_VERIFIED=0
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
daemon:
  watch_interval: 1s
  reconcile_interval: 2s
YAML
cat > "$FLEET_TEMPLATE_DIR/cl.yaml" <<YAML
name: cl
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1, min_vram_gb: 24}
disk_gb: 20
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 20s}
YAML

# The fake's RunPod and Vast instances: id label state created_ms updated_ms.
fake_rows() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep -E '"provider":"(runpod|vast)"' |
	    sed -n 's/.*"id":"\([^"]*\)","provider":"[a-z]*","label":"\([^"]*\)","state":"\([a-z]*\)".*"created_ms":\([0-9]*\),"updated_ms":\([0-9]*\).*/\1 \2 \3 \4 \5/p'
}
alive_rows() { fake_rows | grep -E ' (pending|booting|running|stopped) '; }
# A Vast create takes a while to answer, as a real one takes seconds: an
# up killed meanwhile leaves a create that lands after its process died.
create_takes() {
	$C -d "{\"route\":\"/vast/api/v0/asks/\",\"ms\":$1}" \
	    "$F/_control/delay" >/dev/null
}

# --- a create that lands after fleet down gave it up ----------------------------
# `fleet up` killed while its create is in flight; `fleet down` finds
# nothing by label and gives the row up; then the create lands. Nothing
# tracks that instance, so reconcile must terminate it, not merely report
# an orphan.
create_takes 1500
"$FLEET" up cl --name late --provider vast </dev/null >"$T/late.out" 2>&1 &
lpid=$!
intent() { "$FLEET" ls | grep -q '^late .* pending '; }
check "late: the up records its intent" wait_for 10 intent
sleep 0.3
kill -9 "$lpid"
wait "$lpid" 2>/dev/null
check "late: down while the create is in flight" "$FLEET" down late
late_alive() { alive_rows | grep -q ' fleet-late-'; }
check "late: the create lands at the fake after the down" wait_for 10 late_alive
check_exit "late: reconcile exits 0" 0 "$FLEET" reconcile --once
late_gone() { ! late_alive; }
check "late: the late instance is terminated" wait_for 10 late_gone
check "late: the event log says why" sh -c "'$FLEET' status late | grep -q 'its create landed after its row was given up'"

check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log '$T'/late.out"
e2e_done
