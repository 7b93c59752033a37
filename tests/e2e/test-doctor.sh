#!/bin/sh
# test-doctor.sh: fleet doctor makes one authenticated call per provider.
# A wrong key fails (exit 1) naming where it came from: the env var, the
# credentials file or the provider CLI's file; a missing key only warns;
# a good key shows the account's balance and the provider's spend limit;
# that limit above fleet's budget, or no budget at all, warns; a provider
# that does not answer warns. Against the fakes on 127.0.0.1 only.
# usage: sh tests/e2e/test-doctor.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

start_fakecloud
export FLEET_RUNPOD_URL=$F/runpod/graphql
export FLEET_VAST_URL=$F/vast
RPKEY=rp_e2e_D0ct0rK3y
VKEY=vast_e2e_D0ct0rK3y
$C -d "{\"api_key\":\"$RPKEY\"}" "$F/runpod/_fake" >/dev/null
$C -d "{\"api_key\":\"$VKEY\"}" "$F/vast/_fake/config" >/dev/null
CREDS=$XDG_CONFIG_HOME/fleet/credentials
BASE_CONFIG=$(cat "$FLEET_CONFIG")

# budget YAML...: fleet.yaml is the test's proxy block plus these lines.
budget() {
	{ echo "$BASE_CONFIG"; for l in "$@"; do echo "$l"; done; } \
	    >"$FLEET_CONFIG"
}
doctor() { "$FLEET" doctor "$@"; }
# out_lacks NAME TEXT: the last command's output does not contain TEXT
# (check would truncate $T/out before grep reads it).
out_lacks() {
	if grep -qF -- "$2" "$T/out"; then
		echo "    ('$2' is in the output)" >>"$T/out"; fail "$1"
	else pass "$1"; fi
}
no_key_in_out() {
	out_lacks "$1: the key is never printed" "$RPKEY"
	out_lacks "$1: nor the wrong one" "wrong_rp_key"
}

# --- no key at all: warnings, exit as before ------------------------------
check_exit "no keys: doctor exits 0" 0 doctor
out_has "no keys: runpod warns" "warn  runpod"
out_has "no keys: no account call" "RUNPOD_API_KEY"
out_has "no budget: a warning" "warn  budget"
out_has "no budget: names the keys" "no budget.daily_usd or budget.monthly_usd"
out_has "local needs no key" "no key needed"
out_lacks "no keys: no runpod account line" "runpod account"

# --- a wrong key in the environment ---------------------------------------
check_exit "wrong env key: doctor exits 1" 1 \
    env RUNPOD_API_KEY=wrong_rp_key "$FLEET" doctor
out_has "wrong env key: runpod account fails" "fail  runpod account"
out_has "wrong env key: names the variable" \
    "the key from env RUNPOD_API_KEY was refused"
out_has "wrong env key: the provider's 401" "HTTP 401"
out_has "wrong env key: says how to fix it" "set RUNPOD_API_KEY to a valid key"
no_key_in_out "wrong env key"
check_exit "wrong env key: doctor --json exits 1" 1 \
    env RUNPOD_API_KEY=wrong_rp_key "$FLEET" doctor --json
out_has "--json: ok false" '"ok":	false'
out_has "--json: key_source" '"key_source":	"env RUNPOD_API_KEY"'
out_has "--json: account null on failure" '"account":	null'

# --- a wrong key in fleet's credentials file ------------------------------
mkdir -p "$XDG_CONFIG_HOME/fleet"
printf 'runpod = wrong_rp_key\n' >"$CREDS"
chmod 600 "$CREDS"
check_exit "wrong file key: doctor exits 1" 1 doctor
out_has "wrong file key: names the file" \
    "the key from credentials file $CREDS was refused"
out_has "wrong file key: fleet auth set fixes it" "run \`fleet auth set runpod\`"
no_key_in_out "wrong file key"

# --- a wrong key in the provider CLI's file -------------------------------
rm -f "$CREDS"
mkdir -p "$HOME/.runpod"
printf 'apikey = "wrong_rp_key"\n' >"$HOME/.runpod/config.toml"
check_exit "wrong runpodctl key: doctor exits 1" 1 doctor
out_has "wrong runpodctl key: names runpodctl's file" \
    "the key from runpodctl file $HOME/.runpod/config.toml was refused"
rm -f "$HOME/.runpod/config.toml"

# --- good keys: the account, its balance and spend limit ------------------
printf 'runpod = %s\nvast = %s\n' "$RPKEY" "$VKEY" >"$CREDS"
chmod 600 "$CREDS"
$C -d '{"balance": 12.5, "spend_limit": 80}' "$F/runpod/_fake" >/dev/null
$C -d '{"credit": 7.25}' "$F/vast/_fake/config" >/dev/null
check_exit "good keys: doctor exits 0" 0 doctor
out_has "good key: runpod account ok" "ok    runpod account"
out_has "good key: balance and limit shown" \
    "account fleet@example.com, balance \$12.50, spend limit \$80.00/h"
out_has "good key: spend per hour shown" "spending \$0.00/h now"
out_has "good key: vast credit shown" "balance \$7.25"
no_key_in_out "good key"
out_lacks "good key: no limit check without a budget" "runpod limit"
check_exit "good keys: doctor --json exits 0" 0 doctor --json
out_has "--json: balance_usd" '"balance_usd":	12.5'
out_has "--json: spend_limit_usd" '"spend_limit_usd":	80'
out_has "--json: the limit's period" '"spend_limit_period_s":	3600'
out_has "--json: who" '"who":	"fleet@example.com"'
out_has "--json: vast's unknown limit is null" '"spend_limit_usd":	null'

# --- the provider's limit against fleet's budget --------------------------
budget "budget:" "  daily_usd: 50"
check_exit "limit above budget: doctor still exits 0" 0 doctor
out_has "limit above budget: a warning" "warn  runpod limit"
out_has "limit above budget: like with like" \
    "spend limit \$80.00/h lets \$1920.00 a day through, above budget.daily_usd \$50.00"
out_has "budget shown" "ok    budget"
$C -d '{"spend_limit": 2}' "$F/runpod/_fake" >/dev/null
check_exit "limit within budget: exits 0" 0 doctor
out_has "limit within budget: ok" "ok    runpod limit"
budget "budget:" "  monthly_usd: 1000"
$C -d '{"spend_limit": 2}' "$F/runpod/_fake" >/dev/null
check_exit "monthly budget: exits 0" 0 doctor
out_has "monthly budget: a 30-day month at the limit" \
    "lets \$1440.00 a 30-day month through, above budget.monthly_usd \$1000.00"

# --- a provider that does not answer: a warning, not a failure ------------
check_exit "unreachable: doctor exits 0" 0 \
    env FLEET_RUNPOD_URL=http://127.0.0.1:1/graphql "$FLEET" doctor
out_has "unreachable: a warning" "warn  runpod account"
out_has "unreachable: says so" "cannot be checked now"
check_exit "--offline: no account call" 0 doctor --offline
out_lacks "--offline: no account line" "account"

echo "$E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
