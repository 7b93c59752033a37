#!/bin/sh
# test-vanish.sh: re-creation is bounded and the budget breaker is visible,
# against the fake RunPod API. A pod that vanishes (or that the user
# terminates in RunPod's console) is re-created at most max_recreates times
# in 24h, each time an event shown by ls and status; then the deployment
# goes down with the reason and nothing is rented any more. on_vanish: down
# and max_recreates: 0 take it down on the first vanish. The window rolls
# (FLEET_TEST_CLOCK_FILE moves fleet's clocks). The breaker, tripped by the
# daemon's watchdog, is named by ls, status, cost and a refused up, with
# the time launches open again, also after the daemon is gone; at that
# time they do.
# usage: sh tests/e2e/test-vanish.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 300
KEY=rp_e2e_V4n1sh
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null
CLK=$T/clock
echo 0 > "$CLK"
export FLEET_TEST_CLOCK_FILE=$CLK
# advance SECS: fleet's clocks move on (a new file, renamed over the old).
advance() {
	echo $(( $(cat "$CLK") + $1 )) > "$CLK.new" && mv "$CLK.new" "$CLK"
}
# now: fleet's wall clock.
now() { echo $(( $(date +%s) + $(cat "$CLK") )); }

rows() { $C "$F/_control/instances" | tr '{' '\n' | grep '"provider":"runpod"'; }
# creates NAME: pods the fake ever created for deployment NAME
creates() { rows | grep -c "\"label\":\"fleet-$1-"; }
live() { rows | grep "\"label\":\"fleet-$1-" |
    grep -Ec '"state":"(pending|booting|running|stopped)"'; }
ls_field() { "$FLEET" ls --all --json | tr -d '\n\t' | tr '{' '\n' |
    grep "\"name\":\"$1\"" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
gql() { $C -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$1" "$F/runpod/graphql"; }
# console_terminate ID: the user ends the pod in RunPod's web console.
console_terminate() {
	gql "{\"query\":\"mutation(\$podId: String!) { podTerminate(input: {podId: \$podId}) }\",\"variables\":{\"podId\":\"$1\"}}" >/dev/null
}
vanish() { $C -d "{\"provider\":\"runpod\",\"id\":\"$1\"}" "$F/_control/vanish" >/dev/null; }
inst() { ls_field "$1" instance; }
# ls_row NAME STATE: the table row of NAME shows STATE.
ls_row() { "$FLEET" ls | grep -Eq "^$1 +[^ ]+ +.* $2 "; }
down_row() { "$FLEET" ls | grep -Eq "^$1 +- +- +down "; }

# template NAME [EXTRA YAML LINE]: an echo pod on one RunPod RTX 4090; the
# watchdog's idle and lifetime limits off, so clock jumps only test ours.
template() {
	cat > "$FLEET_TEMPLATE_DIR/$1.yaml" <<YAML
name: $1
image: ghcr.io/example/echo:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
idle_timeout: 0s
max_lifetime: 0s
$2
YAML
}
template vrec
template vdown "on_vanish: down"
template vzero "max_recreates: 0"

# --- on_vanish: recreate (default), max_recreates: 3 (default) -------------
check_exit "up vrec" 0 "$FLEET" up vrec --provider runpod
check "status: no re-creation yet" sh -c "'$FLEET' status vrec | grep -q '^re-created:  0/3 in the last 24h (max_recreates; on_vanish: recreate)'"
k=1
while [ $k -le 3 ]; do
	id=$(inst vrec)
	if [ $k -eq 2 ]; then console_terminate "$id"; else vanish "$id"; fi
	check_exit "vanish $k: reconcile exits 0" 0 "$FLEET" reconcile --once
	out_has "vanish $k: re-creating" "; re-creating"
	out_has "vanish $k: recreated" "recreated"
	check "vanish $k: a new pod runs" [ "$(live vrec)" -eq 1 ]
	check "vanish $k: state has the new pod" [ "$(inst vrec)" != "$id" ]
	check "vanish $k: $((k + 1)) creates at the fake" [ "$(creates vrec)" -eq $((k + 1)) ]
	check "vanish $k: ls notes re-created $k/3" sh -c "'$FLEET' ls | grep -qx 'vrec: re-created $k/3 in 24h (max_recreates)'"
	check "vanish $k: ls still shows it running" ls_row vrec running
	check "vanish $k: status counts $k/3" sh -c "'$FLEET' status vrec | grep -q '^re-created:  $k/3 in the last 24h'"
	check "vanish $k: the event says which of 3" sh -c "'$FLEET' status vrec | grep -q 'recreate .*($k of at most 3 in 24h)'"
	check "vanish $k: ls --json recreates_24h $k" [ "$(ls_field vrec recreates_24h)" = "$k" ]
	k=$((k + 1))
done
check "the console's terminate was judged a vanish" sh -c "'$FLEET' status vrec | grep -q 'vanished at provider'"
id=$(inst vrec)
vanish "$id"
check_exit "vanish 4: reconcile exits 0" 0 "$FLEET" reconcile --once
out_has "vanish 4: not re-created, with the reason" "re-created 3 times in 24h (max_recreates: 3); taken down: \`fleet up vrec\` brings it back"
check "vanish 4: nothing rented (4 creates)" [ "$(creates vrec)" -eq 4 ]
check "vanish 4: nothing alive" [ "$(live vrec)" -eq 0 ]
check "vanish 4: desired down" [ "$(ls_field vrec desired)" = down ]
check "vanish 4: ls lists it down" down_row vrec
check "vanish 4: ls notes why" sh -c "'$FLEET' ls | grep -qx 'vrec: re-created 3 times in 24h (max_recreates: 3); taken down: \`fleet up vrec\` brings it back'"
check "vanish 4: ls --json taken_down" sh -c "'$FLEET' ls --json | grep -q '\"taken_down\":.*re-created 3 times in 24h'"
"$FLEET" status vrec >"$T/out" 2>&1
out_has "vanish 4: status says taken down" "taken down:  re-created 3 times in 24h (max_recreates: 3)"
out_has "vanish 4: status counts 3/3" "re-created:  3/3 in the last 24h"
out_has "vanish 4: the event" "vanish-down"
check_exit "status --json exits 0" 0 "$FLEET" status vrec --json
out_has "status --json: recreates_24h" '"recreates_24h":	3'
out_has "status --json: max_recreates" '"max_recreates":	3'
out_has "status --json: taken_down" '"taken_down":	"re-created 3 times'
check_exit "another pass exits 0" 0 "$FLEET" reconcile --once
check "another pass: still 4 creates" [ "$(creates vrec)" -eq 4 ]

# The user's up brings it back, but the window still holds 3: the next
# vanish takes it down at once, with no create.
check_exit "fleet up vrec brings it back" 0 "$FLEET" up vrec --provider runpod
check "ls: no taken-down note after the up" sh -c "! '$FLEET' ls | grep -q 'taken down'"
check "ls --json: taken_down null after the up" [ "$(ls_field vrec taken_down)" = null ]
vanish "$(inst vrec)"
check_exit "vanish within the window: reconcile exits 0" 0 "$FLEET" reconcile --once
out_has "within the window: taken down at once" "re-created 3 times in 24h (max_recreates: 3); taken down"
check "within the window: no create (5 in all)" [ "$(creates vrec)" -eq 5 ]

# A day later the window is empty: re-created again, counted from 1.
advance 90000
check_exit "a day later: fleet up vrec" 0 "$FLEET" up vrec --provider runpod
check "a day later: status counts 0/3" sh -c "'$FLEET' status vrec | grep -q '^re-created:  0/3'"
vanish "$(inst vrec)"
check_exit "a day later: reconcile exits 0" 0 "$FLEET" reconcile --once
out_has "a day later: re-created" "; re-creating"
check "a day later: 7 creates" [ "$(creates vrec)" -eq 7 ]
check "a day later: ls notes 1/3" sh -c "'$FLEET' ls | grep -qx 'vrec: re-created 1/3 in 24h (max_recreates)'"
check_exit "down vrec" 0 "$FLEET" down vrec

# --- on_vanish: down: the console's terminate is the user's word -----------
check_exit "up vdown" 0 "$FLEET" up vdown --provider runpod
console_terminate "$(inst vdown)"
check_exit "vdown: reconcile exits 0" 0 "$FLEET" reconcile --once
out_has "vdown: not re-created (on_vanish: down)" "at provider; not re-created (on_vanish: down); taken down"
check "vdown: no create (1 in all)" [ "$(creates vdown)" -eq 1 ]
check "vdown: desired down" [ "$(ls_field vdown desired)" = down ]
check "vdown: ls lists it down with the reason" sh -c "'$FLEET' ls | grep -qx 'vdown: not re-created (on_vanish: down); taken down: \`fleet up vdown\` brings it back'"
check "vdown: status says so" sh -c "'$FLEET' status vdown | grep -q '^taken down:  not re-created (on_vanish: down)'"
check "vdown: ls --json on_vanish" [ "$(ls_field vdown on_vanish)" = down ]
check_exit "vdown: another pass exits 0" 0 "$FLEET" reconcile --once
check "vdown: still 1 create" [ "$(creates vdown)" -eq 1 ]

# --- max_recreates: 0 ------------------------------------------------------
check_exit "up vzero" 0 "$FLEET" up vzero --provider runpod
vanish "$(inst vzero)"
check_exit "vzero: reconcile exits 0" 0 "$FLEET" reconcile --once
out_has "vzero: not re-created (max_recreates: 0)" "not re-created (max_recreates: 0); taken down"
check "vzero: no create (1 in all)" [ "$(creates vzero)" -eq 1 ]

# --- the daemon's own reconcile obeys the limit too ------------------------
template vd "max_recreates: 1"
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  watch_interval: 1s
  reconcile_interval: 1s
YAML
"$FLEET" daemon stop >/dev/null 2>&1
check_exit "up vd (starts a daemon that reconciles every 1s)" 0 "$FLEET" up vd --provider runpod
vd0=$(inst vd)
vanish "$vd0"
# Back means healthy in state: a vanish while its up still boots is that
# up's failure, not a second vanish.
vd_back() { [ "$(live vd)" -eq 1 ] && [ "$(creates vd)" -eq 2 ] &&
    [ "$(inst vd)" != "$vd0" ] &&
    [ "$("$FLEET" status vd | grep -c ' healthy ')" -eq 2 ]; }
check "daemon: re-created once" wait_for 30 vd_back
vanish "$(inst vd)"
check "daemon: then taken down" wait_for 30 down_row vd
sleep 3
check "daemon: nothing rented after (2 creates)" [ "$(creates vd)" -eq 2 ]
check "daemon: nothing alive" [ "$(live vd)" -eq 0 ]
check "daemon: ls notes why" sh -c "'$FLEET' ls | grep -q '^vd: re-created 1 time in 24h (max_recreates: 1); taken down'"
"$FLEET" daemon stop >/dev/null 2>&1

# --- the budget breaker: a fresh state, fleet's clock at 00:10 UTC ---------
export FLEET_STATE_DIR=$T/state2
mid=$(( ($(date +%s) / 86400 + 1) * 86400 ))
echo $(( mid + 600 - $(date +%s) )) > "$CLK.new" && mv "$CLK.new" "$CLK"
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  watch_interval: 1s
  reconcile_interval: 0s
budget:
  daily_usd: 1.00
YAML
template paid
check_exit "breaker: up paid under a \$1.00 daily cap" 0 "$FLEET" up paid --provider runpod
check "breaker: not tripped yet" sh -c "! '$FLEET' ls | grep -q 'budget breaker'"
check "breaker: cost --json breaker null" sh -c "'$FLEET' cost --json | grep -q '\"breaker\":	null'"
# Three hours of billing at the fake's price cross the cap.
advance 10800
check "breaker: the watchdog stops it" wait_for 20 down_row paid
check "breaker: nothing alive at the fake" [ "$(live paid)" -eq 0 ]
opens=$(date -u -d "@$((mid + 86400))" +%Y-%m-%dT%H:%M:%SZ)
line="stopped by the budget breaker: daily \$"
"$FLEET" ls >"$T/out" 2>&1
out_has "breaker: ls says it" "$line"
out_has "breaker: ls names the cap" " of \$1.00; new launches open at $opens (in 20h"
out_has "breaker: ls notes the deployment it stopped" "paid: stopped by the budget breaker"
check_exit "breaker: ls --json exits 0" 0 "$FLEET" ls --json
out_has "breaker: ls --json stopped_by_breaker" '"stopped_by_breaker":	true'
out_has "breaker: ls --json opens_at" "\"opens_at\":	\"$opens\""
out_has "breaker: ls --json period" '"period":	"daily"'
"$FLEET" status paid >"$T/out" 2>&1
out_has "breaker: status says it" "budget:      $line"
out_has "breaker: status says when" "new launches open at $opens"
out_has "breaker: the event" " budget "
check_exit "breaker: status --json exits 0" 0 "$FLEET" status paid --json
out_has "breaker: status --json opens_at" "\"opens_at\":	\"$opens\""
out_has "breaker: status --json cap" '"cap_usd":	1'
"$FLEET" cost >"$T/out" 2>&1
out_has "breaker: cost says it" "$line"
out_has "breaker: cost says when" "new launches open at $opens"
check_exit "breaker: cost --json exits 0" 0 "$FLEET" cost --json
out_has "breaker: cost --json opens_at" "\"opens_at\":	\"$opens\""
c0=$(creates paid)
check_exit "breaker: fleet up is refused" 1 "$FLEET" up paid --provider runpod
out_has "breaker: the refusal names the breaker" "the budget breaker is tripped: daily \$"
out_has "breaker: and when launches open" "of \$1.00 (budget.daily_usd); new launches open at $opens"
check "breaker: the refused up rented nothing" [ "$(creates paid)" -eq "$c0" ]
# Derived from the ledger: true with no daemon at all.
"$FLEET" daemon stop >/dev/null 2>&1
check "breaker: no daemon runs" sh -c "! [ -e '$FLEET_STATE_DIR/daemon.pid' ] || ! kill -0 \$(cat '$FLEET_STATE_DIR/daemon.pid') 2>/dev/null"
check "breaker: ls says it with no daemon" sh -c "'$FLEET' ls | grep -qF '$line'"
# The next UTC day: launches open again.
advance $(( mid + 86400 + 60 - $(now) ))
check "next day: ls says nothing of the breaker" sh -c "! '$FLEET' ls | grep -q 'budget breaker'"
check "next day: status has no budget line" sh -c "! '$FLEET' status paid | grep -q '^budget:'"
check_exit "next day: fleet up paid rents again" 0 "$FLEET" up paid --provider runpod
check "next day: one more create" [ "$(creates paid)" -eq $((c0 + 1)) ]
check_exit "down paid" 0 "$FLEET" down paid
"$FLEET" daemon stop >/dev/null 2>&1

check "the key is in no output or state" sh -c "! grep -rqa '$KEY' '$T/state' '$T/state2'"
check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$T'/state*/daemon.log '$T'/out 2>/dev/null"
e2e_done
