#!/bin/sh
# The user's word and the price win in ordinary use, against the fake
# clouds: a `fleet down` from a second terminal beats a running `fleet up`
# at every timing, before and after the create returns (no failover
# rents again, nothing left billing); a daemon job (--recreate) never
# undoes a down; gpu.count is exact unless count_max says otherwise;
# failover stops at max_price, or at failover_max_ratio times the first
# offer; the price question on a terminal (script(1)); and the stable
# port of a template is free again right after the daemon stops, with
# its connections in TIME_WAIT. RACE_N (10) sets the ups raced per provider.
# usage: sh tests/e2e/test-race.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

VKEY=vast_race_5e21
export FAKECLOUD_VAST_KEY=$VKEY
start_fakecloud --boot-delay-ms 1200
export RUNPOD_API_KEY=test-key FLEET_RUNPOD_URL=$F/runpod/graphql
export VAST_API_KEY=$VKEY FLEET_VAST_URL=$F/vast
export LAMBDA_API_KEY=lk-race FLEET_LAMBDA_URL=$F/lambda/api/v1
$C -d '{"api_key":"lk-race"}' "$F/lambda/_control" >/dev/null

# RunPod's community RTX 4090 ($0.34) comes first and its A6000 ($0.49,
# within the failover ratio) next, so a down overruled by failover would
# rent again.
cat > "$FLEET_TEMPLATE_DIR/race.yaml" <<YAML
name: race
image: ghcr.io/example/echo:1
gpu: {models: ["RTX A6000", "RTX 4090"], count: 1}
disk_gb: 20
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
YAML

# instances PROVIDER NAME: how many the fake ever created for NAME.
instances() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep "\"provider\":\"$1\",\"label\":\"fleet-$2-" | grep -c .
}
live() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep "\"provider\":\"$1\"" |
	    grep -Ec '"state":"(pending|booting|running|stopped)"'
}
desired() { "$FLEET" status "$1" --json | tr -d ' \t\n' |
    sed -n 's/.*"desired":"\([a-z]*\)".*/\1/p'; }

# race PROVIDER NAME N: N ups, each with a down from "another terminal"
# at a different moment, 0.2 s to 2.2 s after the up started (0.2 s: a
# sanitizer build takes up to ~0.1 s to start, and a down that comes
# before the up has begun is no race); counts what was created and what
# overruled.
RACE_DOWNS=0 RACE_CREATED=0 RACE_OVERRULED=0
race() {
	prov=$1 name=$2 n=$3 i=0
	while [ $i -lt "$n" ]; do
		d=$(awk "BEGIN { printf \"%.2f\", 0.2 + $i * 2.0 / $n }")
		before=$(instances "$prov" "$name")
		timeout 60 "$FLEET" up race --name "$name" --provider "$prov" -y \
		    >"$T/up.$name.$i" 2>&1 &
		upid=$!
		sleep "$d"
		"$FLEET" down "$name" >"$T/down.$name.$i" 2>&1
		wait $upid
		rc=$?
		after=$(instances "$prov" "$name")
		made=$((after - before))
		RACE_DOWNS=$((RACE_DOWNS + 1))
		RACE_CREATED=$((RACE_CREATED + made))
		left=$(live "$prov")
		if [ "$left" -ne 0 ] || [ "$made" -gt 1 ] ||
		    [ "$(desired "$name")" != down ]; then
			RACE_OVERRULED=$((RACE_OVERRULED + 1))
			echo "    overruled: $prov down at ${d}s: up exit $rc," \
			    "$made created, $left live"
			sed 's/^/    up| /' "$T/up.$name.$i"
			sed 's/^/    down| /' "$T/down.$name.$i"
			"$FLEET" down "$name" >/dev/null 2>&1
		fi
		if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
			echo "    up exit $rc (down at ${d}s)"
			RACE_OVERRULED=$((RACE_OVERRULED + 1))
		fi
		i=$((i + 1))
	done
}

# Vast: the create answer is held 0.6s, so downs land before and after
# it returns, and during the boot that follows.
$C -d '{"route":"/vast/api/v0/asks","ms":600}' "$F/_control/delay" >/dev/null
race vast rv "${RACE_N:-10}"
$C -d '{"route":"/vast/api/v0/asks","ms":0}' "$F/_control/delay" >/dev/null
# RunPod: community first; a lost down would fail over to secure.
race runpod rr "${RACE_N:-10}"
echo "race: $RACE_DOWNS racing downs, $RACE_CREATED instances created," \
    "$RACE_OVERRULED downs overruled"
check "racing downs: none overruled ($RACE_OVERRULED of $RACE_DOWNS)" \
    [ "$RACE_OVERRULED" -eq 0 ]
check "racing downs: never more than one create per up" \
    [ "$RACE_CREATED" -le "$RACE_DOWNS" ]
check "racing downs: nothing billing at the fakes" \
    [ "$(live vast)" -eq 0 -a "$(live runpod)" -eq 0 ]
check "taken down while coming up: said" \
    sh -c "cat '$T'/up.r[rv].* | grep -q 'was taken down while coming up'"

# A down during the boot: up exits 1 at once, saying so.
timeout 60 "$FLEET" up race --name rb --provider runpod -y >"$T/up.rb" 2>&1 &
upid=$!
wait_for 20 sh -c "'$FLEET' status rb | grep -q booting"
"$FLEET" down rb >/dev/null 2>&1
wait $upid
echo $? >"$T/rc.rb"
check "down while booting: up exits 1" [ "$(cat "$T/rc.rb")" -eq 1 ]
check "down while booting: 'rb was taken down while coming up'" \
    grep -q "rb was taken down while coming up" "$T/up.rb"
check "down while booting: no failover to secure cloud" \
    sh -c "! grep -q 'trying the next offer' '$T/up.rb'"
check "down while booting: one instance, terminated" \
    [ "$(instances runpod rb)" -eq 1 -a "$(live runpod)" -eq 0 ]

# A daemon job acts only for a deployment that is still wanted up.
n0=$(instances runpod rb)
check_exit "up --recreate of a deployment wanted down: exit 1" 1 \
    "$FLEET" up race --name rb --provider runpod --recreate
out_has "up --recreate: says it was taken down" "taken down"
check "up --recreate: nothing created" [ "$(instances runpod rb)" -eq "$n0" ]

# gpu.count is exact: with no 1x A100 80GB anywhere, up does not rent
# Lambda's 2x or 8x machines.
cat > "$FLEET_TEMPLATE_DIR/one.yaml" <<YAML
name: one
image: ghcr.io/example/echo:1
gpu: {models: ["A100 80GB"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
providers: [lambda]
YAML
check "offers: no 2x or 8x machine for a 1-GPU template" \
    sh -c "'$FLEET' offers one --json | tr -d ' \t\n' | grep -q '\"offers\":\[\]'"
check_exit "exact count: up fails, rents nothing" 1 "$FLEET" up one -y
out_has "exact count: names the count and count_max" "count_max"
check "exact count: nothing created at lambda" [ "$(instances lambda one)" -eq 0 ]
sed -i 's/count: 1}/count: 1, count_max: 8}/' "$FLEET_TEMPLATE_DIR/one.yaml"
check "count_max 8: 2x and 8x offered" \
    sh -c "'$FLEET' offers one --json | tr -d ' \t\n' | grep -q '\"count\":8,'"
cat > "$FLEET_TEMPLATE_DIR/bad.yaml" <<YAML
name: bad
image: x
gpu: {count: 4, count_max: 2}
ports: [{port: 8080, protocol: http}]
YAML
check_exit "count_max below count: exit 2" 2 "$FLEET" up bad
out_has "count_max below count: file:line" "bad.yaml:3:"

# Failover ceilings. RTX 4090 on RunPod: community $0.34, secure $0.69,
# 2.03x: with no max_price the ratio (2.0) stops the climb.
cat > "$FLEET_TEMPLATE_DIR/r4090.yaml" <<YAML
name: r4090
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
YAML
$C -d '{"provider":"runpod","gpu":"*","available":0}' "$F/_control/capacity" >/dev/null
$C -d '{"provider":"vast","gpu":"*","available":0}' "$F/_control/capacity" >/dev/null
n0=$(instances runpod cap)
check_exit "ratio ceiling: up stops, exit 1" 1 \
    "$FLEET" up r4090 --name cap --provider runpod -y
out_has "ratio ceiling: names failover_max_ratio" "failover_max_ratio"
out_has "ratio ceiling: says how to lift it" "--max-price 0.6900"
check_exit "max_price ceiling: up stops, exit 1" 1 \
    "$FLEET" up r4090 --name cap --provider runpod -y --max-price 0.50
out_has "max_price ceiling: names the cap" "above the price cap \$0.5000/h"
check "ceilings: nothing created" [ "$(instances runpod cap)" -eq "$n0" ]
check "ceilings: the deployment is down" [ "$(desired cap)" = down ]
# --max-price lifts the ratio: now secure is tried (and has no capacity).
check_exit "with --max-price 0.70 secure is tried" 1 \
    "$FLEET" up r4090 --name cap --provider runpod -y --max-price 0.70
out_has "with --max-price: every offer failed" "every offer failed (2 tried)"
$C -d '{"provider":"runpod","gpu":"*","available":-1}' "$F/_control/capacity" >/dev/null
$C -d '{"provider":"vast","gpu":"*","available":-1}' "$F/_control/capacity" >/dev/null

# The price question on a terminal: A100 80GB PCIe at $1.19/h > $1.00.
cat > "$FLEET_TEMPLATE_DIR/pricey.yaml" <<YAML
name: pricey
image: ghcr.io/example/echo:1
gpu: {models: ["A100 80GB PCIe"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 30s}
providers: [runpod]
YAML
n0=$(instances runpod pricey)
printf 'n\n' | script -qec "'$FLEET' up pricey" /dev/null >"$T/out.no" 2>&1
echo $? >"$T/rc.no"
check "prompt: asks 'Rent A100 80GB PCIe on runpod for \$1.19/h? [Y/n]'" \
    grep -qF 'Rent A100 80GB PCIe on runpod for $1.19/h? [Y/n]' "$T/out.no"
check "prompt: n exits 1" [ "$(cat "$T/rc.no")" -eq 1 ]
check "prompt: n rents nothing" [ "$(instances runpod pricey)" -eq "$n0" ]
printf 'y\n' | script -qec "'$FLEET' up pricey" /dev/null >"$T/out.yes" 2>&1
echo $? >"$T/rc.yes"
check "prompt: y rents and comes up" [ "$(cat "$T/rc.yes")" -eq 0 ]
"$FLEET" down pricey >/dev/null 2>&1
script -qec "'$FLEET' up pricey -y" /dev/null >"$T/out.y" 2>&1 </dev/null
echo $? >"$T/rc.y"
check "prompt: -y rents without the question" \
    sh -c "[ \$(cat '$T/rc.y') -eq 0 ] && ! grep -q 'Rent ' '$T/out.y'"
"$FLEET" down pricey >/dev/null 2>&1
"$FLEET" up pricey >"$T/out.notty" 2>&1 </dev/null
echo $? >"$T/rc.notty"
check "no terminal: rents without the question" \
    sh -c "[ \$(cat '$T/rc.notty') -eq 0 ] && ! grep -q 'Rent ' '$T/out.notty'"
"$FLEET" down pricey >/dev/null 2>&1
printf 'defaults:\n  confirm_above_usd: 2.00\n' >>"$FLEET_CONFIG"
script -qec "'$FLEET' up pricey" /dev/null >"$T/out.above" 2>&1 </dev/null
echo $? >"$T/rc.above"
check "confirm_above_usd 2.00: \$1.19/h rents without the question" \
    sh -c "[ \$(cat '$T/rc.above') -eq 0 ] && ! grep -q 'Rent ' '$T/out.above'"
"$FLEET" down pricey >/dev/null 2>&1

# TIME_WAIT on a template's stable port: a server there just closed its
# connections first (as the daemon's proxy does on Connection: close).
SP=$((E2E_PORT_MAX - 1))
cat > "$FLEET_TEMPLATE_DIR/tw.yaml" <<YAML
name: tw
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 20s}
stable_port: $SP
local: {command: "{fleet} echo-server --port {port}"}
YAML
"$FLEET" echo-server --port "$SP" >/dev/null 2>&1 &
ep=$!
wait_for 5 curl -fsS "http://127.0.0.1:$SP/health"
# The client reads to EOF before it closes: the server closes first, so
# the TIME_WAIT is the server's, on the stable port.
i=0
while [ $i -lt 5 ]; do
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SP &&
	    printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 &&
	    cat <&3 >/dev/null" 2>/dev/null
	i=$((i + 1))
done
kill $ep 2>/dev/null
wait $ep 2>/dev/null
check "tw: connections in TIME_WAIT on the stable port" \
    sh -c "ss -Htan state time-wait '( sport = :$SP )' | grep -q ."
check_exit "tw: up on it at once, port not 'in use'" 0 "$FLEET" up tw
"$FLEET" down tw >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
