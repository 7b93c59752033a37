#!/bin/sh
# test-cli.sh: the CLI's manners. fleet alone, did you mean (commands,
# options, providers, templates), shell completion, fleet rm and its
# port, a conflicting up and --replace, --spot without a spot offer, a
# daemon that cannot listen, Ctrl-C (130) and a config the daemon does
# not run with.
. "$(dirname "$0")/lib.sh"

write_echo_template echo1
write_echo_template echo2
write_echo_template slow "sh -c 'sleep 30; exec {fleet} echo-server --port {port}'" 60s
PATH=$BUILD:$PATH
export PATH

# --- fleet alone, did you mean -------------------------------------------
check_exit "fleet alone exits 0" 0 "$FLEET"
out_has "fleet alone lists the commands" "commands:"
out_has "fleet alone lists up" "  up "
check_exit "an unknown command exits 2" 2 "$FLEET" stauts
out_has "did you mean a command" "unknown command 'stauts' (did you mean 'status'?)"
check_exit "an unknown option exits 2" 2 "$FLEET" up echo1 --provder local
out_has "did you mean an option" "unknown option '--provder' (did you mean '--provider'?)"
check_exit "an unknown provider exits 2" 2 "$FLEET" up echo1 --provider runpd
out_has "did you mean a provider" "unknown provider 'runpd' (did you mean 'runpod'?)"
check_exit "an unknown template exits 2" 2 "$FLEET" up ehco1 --provider local
out_has "did you mean a template" "unknown template 'ehco1' (did you mean 'echo1'?)"

# --- a daemon that cannot listen: up fails at once, with its reason ------
"$FLEET" echo-server --port "$E2E_SHARED_PORT" 2>"$T/squat.log" &
squat=$!
E2E_PIDS="$E2E_PIDS $squat"
wait_for 10 grep -q listening "$T/squat.log"
t0=$(date +%s)
check_exit "up with the shared port taken exits 1" 1 "$FLEET" up echo1 --provider local
t1=$(date +%s)
out_has "it gives the daemon's own reason" "Address already in use"
out_has "it names proxy.shared_port" "proxy.shared_port $E2E_SHARED_PORT"
check "it says so at once ($((t1 - t0))s < 8s)" [ $((t1 - t0)) -lt 8 ]
check "nothing was rented" sh -c "[ -z \"$(local_procs)\" ]"
check "nothing was recorded" sh -c "! '$FLEET' ls --all | grep -q '^echo1 '"
kill_ours TERM "$squat"
wait "$squat" 2>/dev/null

# --- completion -----------------------------------------------------------
check_exit "up echo1 exits 0" 0 "$FLEET" up echo1 --provider local
port1=$("$FLEET" url echo1 | sed 's/.*://')
comp() {
	bash -c 'source <(fleet completion bash) || exit 1
	    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fleet
	    echo "${COMPREPLY[*]}"' comp "$@"
}
check "bash: 'fleet st' completes status, stop, start" \
    sh -c "[ \"\$(echo \$(printf '%s\n' $(comp fleet st) | sort))\" = 'start status stop' ]"
check "bash: 'fleet down e' completes the deployment echo1" \
    sh -c "[ '$(comp fleet down e)' = echo1 ]"
check "bash: 'fleet up ec' completes the templates" \
    sh -c "[ '$(comp fleet up ec)' = 'echo1 echo2' ]"
check "bash: 'fleet up x --prov' completes --provider" \
    sh -c "[ '$(comp fleet up x --prov)' = --provider ]"
check "bash: '--provider lo' completes local" \
    sh -c "[ '$(comp fleet up x --provider lo)' = local ]"
check "bash: 'fleet auth set r' completes runpod" \
    sh -c "[ '$(comp fleet auth set r)' = runpod ]"
# fish completes without a terminal (complete -C); skipped without fish.
if command -v fish >/dev/null 2>&1; then
	fcomp() {
		fish -c "fleet completion fish | source; complete -C'$1'" |
		    sort | tr '\n' ' ' | sed 's/ $//'
	}
	check "fish: 'fleet st' completes status, stop, start" \
	    sh -c "[ '$(fcomp 'fleet st')' = 'start status stop' ]"
	check "fish: 'fleet down e' completes the deployment echo1" \
	    sh -c "[ '$(fcomp 'fleet down e')' = echo1 ]"
fi
check "zsh script defines _fleet" sh -c "'$FLEET' completion zsh | grep -q '^_fleet() {'"
check "fish script completes fleet" sh -c "'$FLEET' completion fish | grep -q '^complete -c fleet'"
check_exit "completion of an unknown shell exits 2" 2 "$FLEET" completion tcsh

# --- a conflicting up, and --replace --------------------------------------
check_exit "up echo1 again with its settings is a no-op" 0 "$FLEET" up echo1 --provider local
check_exit "up with another template exits 2" 2 "$FLEET" up echo2 --name echo1 --provider local
out_has "it names the template conflict" "echo1 is already up, but it runs template echo1, not echo2"
out_has "it names --replace" "--replace"
check_exit "up with another provider exits 2" 2 env RUNPOD_API_KEY=not-used "$FLEET" up echo1 --provider runpod
out_has "it names the provider conflict" "it runs on local, not --provider runpod"
check "the conflict left it running" sh -c "'$FLEET' ls | grep -Eq '^echo1 +local .* running'"
check_exit "up --replace re-creates it" 0 "$FLEET" up echo2 --name echo1 --provider local --replace
out_has "--replace took the old one down" "echo1 is down"
out_has "--replace brought it up again" "echo1 is up on local"
check "it now runs template echo2" sh -c "'$FLEET' status echo1 | grep -q 'echo2'"
check "it kept its stable port" [ "$("$FLEET" url echo1 | sed 's/.*://')" = "$port1" ]
check "one local process" [ "$(local_procs | wc -l)" -eq 1 ]

# --- --spot never rents on demand ------------------------------------------
check_exit "up --spot with no spot offer exits 1" 1 "$FLEET" up echo1 --name sp --provider local --spot
out_has "it says no spot offer exists" "no spot offer for echo1 (--spot)"
check "nothing rented for sp" sh -c "! '$FLEET' ls --all | grep -q '^sp '"

# --- config: a command that loaded another one is told --------------------
cp "$FLEET_CONFIG" "$T/other.yaml"
check_exit "ls with another config exits 0" 0 env FLEET_CONFIG="$T/other.yaml" "$FLEET" ls
out_has "it warns about the daemon's config" "the daemon for $FLEET_STATE_DIR runs with $FLEET_CONFIG"
out_has "it names its own config" "this command loaded $T/other.yaml"
check "once" [ "$(grep -c 'warning: this command loaded' "$T/out")" -eq 1 ]
check_exit "ls with the daemon's config" 0 "$FLEET" ls
check "does not warn" sh -c "! grep -q 'warning: this command loaded' '$T/out'"

# --- fleet rm ---------------------------------------------------------------
sleep 2	# a whole second of billing, for the cost check after rm
check_exit "rm of a live deployment exits 1" 1 "$FLEET" rm echo1
out_has "it names --force" "--force"
check "it is still running" sh -c "'$FLEET' ls | grep -Eq '^echo1 .* running'"
check_exit "rm --force takes it down and forgets it" 0 "$FLEET" rm --force echo1
out_has "rm --force says it is down" "echo1 is down"
out_has "rm says the port is free" "echo1 removed; port $port1 is free"
check "nothing left running" sh -c "[ -z \"$(local_procs)\" ]"
check "ls --all no longer shows it" sh -c "! '$FLEET' ls --all | grep -q '^echo1 '"
check_exit "cost after rm exits 0" 0 "$FLEET" cost --json
out_has "cost still counts it under its name" '"echo1"'
check_exit "another deployment up" 0 "$FLEET" up echo2 --provider local
check "it gets the freed port $port1" [ "$("$FLEET" url echo2 | sed 's/.*://')" = "$port1" ]
check_exit "down echo2" 0 "$FLEET" down echo2
check_exit "rm of a down deployment exits 0" 0 "$FLEET" rm echo2
check_exit "rm of an unknown one exits 1" 1 "$FLEET" rm echo2
check_exit "echo1 can be used again" 0 "$FLEET" up echo1 --provider local
check_exit "down echo1" 0 "$FLEET" down echo1

# --- Ctrl-C during up: terminate what it rented, exit 130 -----------------
"$FLEET" up slow --provider local >"$T/slow.out" 2>&1 &
upid=$!
E2E_PIDS="$E2E_PIDS $upid"
wait_for 20 grep -q booting "$T/slow.out"
kill_ours INT "$upid"
wait "$upid"
rc=$?
check "up exits 130 on SIGINT (got $rc)" [ "$rc" -eq 130 ]
check "it terminated what it rented" grep -q "terminated fleet-slow-" "$T/slow.out"
check "nothing left running" wait_for 5 sh -c "[ -z \"\$(grep -lzx -F -- 'FLEET_LOCAL_OWNER=$FLEET_STATE_DIR' /proc/[0-9]*/environ 2>/dev/null)\" ]"

check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log '$T'/slow.out '$T'/squat.log 2>/dev/null"

e2e_done
