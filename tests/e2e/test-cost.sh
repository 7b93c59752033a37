#!/bin/sh
# test-cost.sh: `fleet cost` from the ledger: a local deployment costs $0;
# an H100 rented from the fake RunPod at $2.99/h costs price x time, by
# deployment, provider and day; --since prorates at the window's edge;
# closed segments are stable; bad arguments exit 2.
# usage: sh tests/e2e/test-cost.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud --boot-delay-ms 200
KEY=rp_e2e_C0st5
export RUNPOD_API_KEY=$KEY
export FLEET_RUNPOD_URL=$F/runpod/graphql
curl -sS --max-time 10 -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null
PRICE=2.99

write_echo_template loc
cat > "$FLEET_TEMPLATE_DIR/hgpu.yaml" <<YAML
name: hgpu
description: echo service on the fake's priciest GPU
image: ghcr.io/example/echo:1
gpu: {models: ["H100 80GB HBM3"], count: 1}
ports:
  - port: 8080
    protocol: http
health: {type: http, path: /health, interval: 1s, timeout: 2s, boot_timeout: 30s}
YAML

# cost NAME CODE ARGS...: check_exit, keeping the output in $T/cost (check
# and out_has reuse $T/out).
cost() { n=$1; c=$2; shift 2; check_exit "$n" "$c" "$FLEET" cost "$@";
    cp "$T/out" "$T/cost"; }
# total_usd (or the usd of group KEY) of the last `cost ... --json`
total() { tr -d '\n\t ' <"$T/cost" | sed -n 's/.*"total_usd":\([-0-9.e+]*\).*/\1/p'; }
# the last cost output, blanks squeezed out, has TEXT
jhas() { tr -d '\n\t ' <"$T/cost" | grep -qF -- "$1"; }
group() { tr -d '\n\t ' <"$T/cost" | tr '{' '\n' | grep "\"key\":\"$1\"" |
    sed -n 's/.*"usd":\([-0-9.e+]*\).*/\1/p'; }
# between V LO HI: LO <= V <= HI, as numbers
between() { awk -v v="$1" -v lo="$2" -v hi="$3" \
    'BEGIN { exit !(v != "" && v + 0 >= lo + 0 && v + 0 <= hi + 0) }'; }
# usd for SECONDS at PRICE
usd() { awk -v s="$1" -v p="$PRICE" 'BEGIN { printf "%.10f", p * s / 3600 }'; }

# --- nothing rented yet ----------------------------------------------------
cost "cost on an empty ledger exits 0" 0
out_has "empty: a zero total" "TOTAL"
cost "cost --json on an empty ledger" 0 --json
check "empty: total_usd is 0" between "$(total)" 0 0

# --- local is free, the H100 is not ----------------------------------------
check_exit "up loc on local" 0 "$FLEET" up loc --provider local
t0=$(date +%s)
check_exit "up hgpu on runpod" 0 "$FLEET" up hgpu --provider runpod
check "hgpu rents at \$$PRICE/h" sh -c "'$FLEET' ls | grep -E '^hgpu .* [$]$PRICE '"
sleep 2
cost "cost --json while running" 0 --json
t1=$(date +%s)
tot=$(total)
check "running: total is positive and at most price x elapsed" \
    between "$tot" "$(usd 1)" "$(usd $((t1 - t0 + 1)))"
check "running: hgpu is all of it" between "$(group hgpu)" "$tot" "$tot"
check "running: loc costs \$0" between "$(group loc)" 0 0
cost "cost (table) exits 0" 0
out_has "table: a DEPLOYMENT header" "DEPLOYMENT"
out_has "table: hgpu's row" "hgpu"
out_has "table: loc at \$0.00" "\$0.00"
check "table: a TOTAL line in dollars" grep -Eq '^TOTAL +[0-9.]+ +\$0\.[0-9]+$' "$T/cost"
check "table: the window" grep -q "last 7d" "$T/cost"
cost "cost --since 1s --json while running" 0 --since 1s --json
check "--since 1s: exactly one second of the H100" between "$(total)" "$(usd 0.999)" "$(usd 1.001)"

# --- grouping ---------------------------------------------------------------
cost "cost --by provider --json" 0 --by provider --json
check "by provider: says so" jhas '"by":"provider"'
check "by provider: runpod carries the spend" between "$(group runpod)" "$(usd 1)" "$(usd $(($(date +%s) - t0 + 1)))"
check "by provider: local is \$0" between "$(group local)" 0 0
cost "cost --by day --json" 0 --by day --json
today=$(date +%F)
check "by day: today has it all" sh -c "[ \"\$(tr -d '\n\t ' <'$T/cost' | grep -o '\"key\":\"[^\"]*\"' | sort -u)\" = '\"key\":\"$today\"' ]"
check "by day: today's usd is the total" between "$(group "$today")" "$(total)" "$(total)"
cost "cost --by day (table)" 0 --by day
out_has "by day: a DAY header" "DAY"

# --- closed segments --------------------------------------------------------
sleep 1
check_exit "down hgpu" 0 "$FLEET" down hgpu
cost "cost --since 2s right after down" 0 --since 2s --json
edge=$(total)
cost "cost --since all after down" 0 --since all --json
all=$(total)
check "--since all: no lower bound" jhas '"since":null'
check "closed: at least 2s of the H100 were billed (3s slept, whole-second stamps)" between "$all" "$(usd 2)" "$(usd $(($(date +%s) - t0 + 1)))"
check "prorated: a 2s window is a part of it" between "$edge" 0 "$(usd 2.001)"
check "prorated: less than the whole" awk -v e="$edge" -v a="$all" 'BEGIN { exit !(e + 0 < a + 0) }'
sleep 2
cost "cost --since 1s long after down" 0 --since 1s --json
check "nothing billed in the last second" between "$(total)" 0 0
cost "cost --since all again" 0 --since all --json
check "a closed segment does not grow" between "$(total)" "$all" "$all"
"$FLEET" down loc >/dev/null 2>&1

# --- usage ------------------------------------------------------------------
cost "--since bogus: usage error" 2 --since bogus
out_has "--since bogus: says why" "duration"
cost "--since 0: usage error" 2 --since 0
cost "--since 1.5h: usage error" 2 --since 1.5h
cost "--by week: usage error" 2 --by week
out_has "--by week: names the choices" "deployment, provider or day"
cost "an extra argument: usage error" 2 hgpu
cost "--since 30d --by deployment exits 0" 0 --since 30d --by deployment
cost "cost --help exits 0" 0 --help
out_has "--help: documents --since" "--since"

check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log '$T'/out 2>/dev/null"
e2e_done
