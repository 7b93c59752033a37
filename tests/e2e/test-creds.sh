#!/bin/sh
# test-creds.sh: the guard always has its keys, and nothing runs unwatched.
# A daemon restarted without the RunPod key while a pod bills: ls, status,
# doctor and /metrics raise the alarm; recovery through the credentials
# file (SIGHUP, fleet auth set); a loose credentials file refused with the
# chmod to run; fleet auth ls naming sources, never keys; a killed daemon
# started again by fleet ls, and "no daemon" instead of a countdown when
# it cannot start.
# usage: sh tests/e2e/test-creds.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

# The providers' CLI key files live under HOME: keep the user's out.
export HOME=$T/home
mkdir -p "$HOME"
start_fakecloud --boot-delay-ms 300
KEY=rp_e2e_Cr3dsK9vQ2
export FLEET_RUNPOD_URL=$F/runpod/graphql
$C -d "{\"api_key\":\"$KEY\"}" "$F/runpod/_fake" >/dev/null
CREDS=$XDG_CONFIG_HOME/fleet/credentials
METRICS=http://127.0.0.1:$E2E_SHARED_PORT/metrics

keep() { cat "$T/out" >>"$T/all"; }
dpid() { our_daemon_pid; }
# unguarded N: /metrics says N runpod instances have no key behind them.
unguarded() {
	curl -fsS -m 5 "$METRICS" |
	    grep -qx "fleet_unguarded_instances{provider=\"runpod\"} $1"
}
ls_clean() { "$FLEET" ls >"$T/out" 2>&1 && ! grep -q "warning" "$T/out"; }
stop_daemon() {
	_p=$(dpid) || return 0
	kill "$_p"
	wait_for 15 sh -c "! kill -0 $_p 2>/dev/null"
}

write_gpu_template rpecho

# --- a pod rented with the key in the environment only --------------------
check_exit "up with RUNPOD_API_KEY exits 0" 0 \
    env RUNPOD_API_KEY=$KEY "$FLEET" up rpecho --provider runpod --idle 1h
keep
check "the daemon up started has the key: nothing unguarded" unguarded 0
check "ls without a key of its own: no warning" ls_clean
keep

# --- the daemon restarted from a shell without the key --------------------
check "the daemon stops" stop_daemon
check "a keyless daemon starts" "$FLEET" daemon --detach
check "/metrics counts 1 unguarded runpod instance" wait_for 5 unguarded 1
check "the daemon's log says it has no runpod key" \
    grep -q "keys: runpod: no API key" "$FLEET_STATE_DIR/daemon.log"
check "and that it cannot stop the pod" grep -q \
    "guard: 1 live runpod instance cannot be stopped: no API key" \
    "$FLEET_STATE_DIR/daemon.log"
check_exit "ls exits 0" 0 "$FLEET" ls
keep
out_has "ls warns: the daemon has no key for runpod" \
    "warning: the daemon has no API key for runpod: it cannot stop rpecho (fleet-rpecho-"
out_has "ls says how to fix it" "run \`fleet auth set runpod\`"
cp "$T/out" "$T/ls.out"
check "KILL IN says no key, not a countdown no job could act on" \
    grep -qE '^rpecho .* no key ' "$T/ls.out"
check "ls --json: kill_reason no key" \
    sh -c "'$FLEET' ls --json 2>/dev/null | grep -q '\"kill_reason\":[[:space:]]*\"no key\"'"
check_exit "status exits 0" 0 "$FLEET" status rpecho
keep
out_has "status warns too, naming the instance" \
    "fleet status: warning: the daemon has no API key for runpod: it cannot stop rpecho"
check_exit "daemon status exits 0" 0 "$FLEET" daemon status
out_has "daemon status warns too" \
    "fleet daemon: warning: the daemon has no API key for runpod"
check_exit "doctor exits 1" 1 "$FLEET" doctor --offline
keep
out_has "doctor names the guard failure" \
    "fail  guard              the daemon has no API key for runpod"
check_exit "doctor --json exits 1 too" 1 "$FLEET" doctor --offline --json
out_has "doctor --json: ok false" '"ok":	false'

# --- recovery: the credentials file, then SIGHUP --------------------------
mkdir -m 700 -p "$XDG_CONFIG_HOME/fleet"
(umask 077; printf 'runpod = %s\n' "$KEY" >"$CREDS")
kill -HUP "$(dpid)"
check "after SIGHUP: nothing unguarded" wait_for 5 unguarded 0
check "the daemon's log names the credentials file" \
    grep -q "keys: runpod: from credentials file $CREDS" \
    "$FLEET_STATE_DIR/daemon.log"
check "after SIGHUP: ls has no warning" ls_clean
keep
check_exit "after SIGHUP: doctor exits 0" 0 "$FLEET" doctor --offline
keep
out_has "doctor: runpod's key from the credentials file" \
    "key from credentials file $CREDS"

# --- fleet auth rm and set, which tell the daemon -------------------------
check_exit "auth rm runpod exits 0" 0 "$FLEET" auth rm runpod
keep
out_has "auth rm says what it did" "runpod: key removed from $CREDS"
check "after rm: the daemon lost the file's key" wait_for 5 unguarded 1
check_exit "after rm: ls exits 0" 0 "$FLEET" ls
out_has "after rm: ls warns again" "the daemon has no API key for runpod"
check_exit "auth set runpod from stdin exits 0" 0 \
    sh -c "printf '%s\n' '$KEY' | '$FLEET' auth set runpod"
keep
out_has "auth set says where" "runpod: key saved in $CREDS"
check "the credentials file is 0600" \
    sh -c "[ \"\$(stat -c %a '$CREDS')\" = 600 ]"
check "its dir is 0700" \
    sh -c "[ \"\$(stat -c %a '$XDG_CONFIG_HOME/fleet')\" = 700 ]"
check "after set: nothing unguarded" wait_for 5 unguarded 0
check "after set: ls has no warning" ls_clean
keep

# --- any command hands over the keys it has -------------------------------
check "the daemon stops again" stop_daemon
check "a keyless daemon starts again" "$FLEET" daemon --detach
check "the daemon read the file itself at start" wait_for 5 unguarded 0
mv "$CREDS" "$CREDS.away"
check "the daemon stops a third time" stop_daemon
check "a third keyless daemon, with no file to read" "$FLEET" daemon --detach
check "with no file: 1 unguarded" wait_for 5 unguarded 1
check_exit "ls from a shell with the key exits 0" 0 \
    env RUNPOD_API_KEY=$KEY "$FLEET" ls
keep
check "ls handed its key over: nothing unguarded" unguarded 0
mv "$CREDS.away" "$CREDS"

# --- fleet auth ls: sources, never keys -----------------------------------
check_exit "auth ls exits 0" 0 "$FLEET" auth ls
keep
out_has "auth ls: runpod from the credentials file" \
    "runpod       credentials file $CREDS"
out_has "auth ls: local needs no key" "local        no key needed"
check_exit "auth ls with the env set exits 0" 0 \
    env RUNPOD_API_KEY=rp_env_Other77 "$FLEET" auth ls
out_has "auth ls: the env comes first" "runpod       env RUNPOD_API_KEY"
cp "$T/out" "$T/auth.out"
check "auth ls never prints the key" sh -c "grep -q RUNPOD_API_KEY '$T/auth.out' && ! grep -q 'rp_env_Other77' '$T/auth.out'"
mkdir -p "$HOME/.runpod" "$XDG_CONFIG_HOME/vastai"
printf 'apikey = "rp_cli_Zz88"\napiurl = "x"\n' >"$HOME/.runpod/config.toml"
printf 'vk_cli_Yy99\n' >"$XDG_CONFIG_HOME/vastai/vast_api_key"
check_exit "auth ls --json exits 0" 0 "$FLEET" auth ls --json
keep
out_has "auth ls --json: vast from vastai's file" \
    "\"where\":	\"$XDG_CONFIG_HOME/vastai/vast_api_key\""
mv "$CREDS" "$CREDS.away"
check_exit "auth ls, no credentials file" 0 "$FLEET" auth ls
keep
out_has "auth ls: runpod from runpodctl's file" \
    "runpod       runpodctl file $HOME/.runpod/config.toml"
out_has "auth ls: vast from vastai's file" \
    "vast         vastai file $XDG_CONFIG_HOME/vastai/vast_api_key"
cp "$T/out" "$T/auth.out"
check "no CLI key printed" sh -c "grep -q runpodctl '$T/auth.out' && ! grep -qE 'rp_cli_Zz88|vk_cli_Yy99' '$T/auth.out'"
mv "$CREDS.away" "$CREDS"
rm -rf "$HOME/.runpod" "$XDG_CONFIG_HOME/vastai"

# --- on a terminal: a prompt, no echo (script(1) gives it a pty) ----------
if command -v script >/dev/null 2>&1; then
	(sleep 1; printf 'rp_tty_Pq4242\n') |
	    timeout 20 script -qec "'$FLEET' auth set vast" /dev/null \
	    >"$T/tty.out" 2>&1
	check "tty: the prompt is shown" grep -q "API key for vast (not echoed)" "$T/tty.out"
	check "tty: the key is not echoed" sh -c "! grep -q rp_tty_Pq4242 '$T/tty.out'"
	check "tty: the key is stored" grep -qx "vast = rp_tty_Pq4242" "$CREDS"
	"$FLEET" auth rm vast >/dev/null 2>&1
else
	echo "note: no script(1): the tty prompt is not tested"
fi

# --- bad input ------------------------------------------------------------
check_exit "auth set of an unknown provider exits 2" 2 \
    sh -c "echo x1234 | '$FLEET' auth set runpd"
check_exit "auth set local exits 2" 2 sh -c "echo x1234 | '$FLEET' auth set local"
check_exit "auth set with an empty key exits 2" 2 \
    sh -c "printf '\n' | '$FLEET' auth set runpod"
check_exit "auth rm of an unknown provider exits 2" 2 "$FLEET" auth rm nope
check_exit "auth without a subcommand exits 2" 2 "$FLEET" auth
check "bad input left the file as it was" grep -qx "runpod = $KEY" "$CREDS"

# --- a credentials file others can read is refused ------------------------
chmod 644 "$CREDS"
check_exit "auth ls with a 0644 file exits 1" 1 "$FLEET" auth ls
keep
out_has "auth ls names the chmod to run" "run \`chmod 600 $CREDS\`"
check_exit "up with a 0644 file and no env key exits 2" 2 \
    "$FLEET" up rpecho --name loose --provider runpod
keep
out_has "up names the chmod to run" "run \`chmod 600 $CREDS\`"
check "nothing was rented for it" sh -c "! $C '$F/_control/instances' | grep -q fleet-loose-"
check_exit "auth set refuses to edit it (exit 1)" 1 \
    sh -c "echo rp_new_1234 | '$FLEET' auth set runpod"
out_has "auth set names the chmod too" "chmod 600 $CREDS"
check "the loose file is left as it was" grep -qx "runpod = $KEY" "$CREDS"
check_exit "doctor with a 0644 file exits 1" 1 "$FLEET" doctor --offline
keep
out_has "doctor fails runpod with the chmod" "chmod 600 $CREDS"
check_exit "with the key in env, the loose file is not read" 0 \
    env RUNPOD_API_KEY=$KEY "$FLEET" offers rpecho --provider runpod
chmod 600 "$CREDS"
printf 'runpod = %s\nrunpod = %s\n' "$KEY" "$KEY" >"$CREDS"
check_exit "auth ls with a bad line exits 1" 1 "$FLEET" auth ls
out_has "the error names file:line" "$CREDS:2: runpod is already set on line 1"
printf 'runpod = %s\n' "$KEY" >"$CREDS"

# --- nothing runs unwatched -----------------------------------------------
kill -9 "$(dpid)"
check "the daemon is dead" sh -c "! '$FLEET' daemon status"
check_exit "ls with a live pod and no daemon exits 0" 0 "$FLEET" ls
keep
out_has "ls says it started the daemon" \
    "fleet ls: started the daemon: 1 live deployment had no watchdog"
check "a daemon answers again" "$FLEET" daemon status
check "the countdown is shown while a daemon watches" \
    sh -c "'$FLEET' ls | grep -E '^rpecho .* (59m|1h)'"
kill -9 "$(dpid)"
# A daemon that cannot start: its shared port is taken.
"$FLEET" echo-server --port "$E2E_SHARED_PORT" >/dev/null 2>&1 &
E2E_PIDS="$E2E_PIDS $!"
blocker=$!
wait_for 5 curl -fsS -m 2 "http://127.0.0.1:$E2E_SHARED_PORT/health"
check_exit "ls when the daemon cannot start exits 0" 0 "$FLEET" ls
keep
out_has "ls warns that nothing watches" "warning: no daemon: 1 live deployment has no watchdog"
out_has "KILL IN says no daemon, not a countdown" "no daemon"
cp "$T/out" "$T/ls.out"
check "no countdown for rpecho" sh -c "! grep -E '^rpecho .* (59m|1h) ' '$T/ls.out'"
check "ls --json: kill_reason no daemon" \
    sh -c "'$FLEET' ls --json 2>/dev/null | grep -q '\"kill_reason\":[[:space:]]*\"no daemon\"'"
kill "$blocker"
wait_for 5 sh -c "! kill -0 $blocker 2>/dev/null"

# A daemon `fleet up` starts reads the file's key itself, so `auth rm`
# (or a SIGHUP) still applies to it.
check_exit "up with the key from the file starts a daemon" 0 \
    "$FLEET" up rpecho --name two --provider runpod --idle 1h
keep
check "that daemon has the key" wait_for 5 unguarded 0
check_exit "auth rm runpod exits 0" 0 "$FLEET" auth rm runpod
check "the daemon up started let the file's key go: 2 unguarded" \
    wait_for 5 unguarded 2
check_exit "auth set runpod again" 0 \
    sh -c "printf '%s\n' '$KEY' | '$FLEET' auth set runpod"
check "and has it again" wait_for 5 unguarded 0
check_exit "down two exits 0" 0 "$FLEET" down two
keep

# --- the end --------------------------------------------------------------
check_exit "down exits 0" 0 "$FLEET" down rpecho
keep
check "the key is in no output" sh -c "! grep -q '$KEY' '$T/all'"
check "the key is in no state file" sh -c "! grep -rq '$KEY' '$FLEET_STATE_DIR'"
check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$T/all' '$FLEET_STATE_DIR/daemon.log'"

e2e_done
