#!/bin/sh
# The money guard under crashes: a bounded loop of `fleet up` and `fleet
# down` on three deployments over the fake RunPod and Vast APIs (a Vast
# create takes 0.5s to answer), while the ops are killed with SIGKILL at
# random points or at their FLEET_TEST_CRASH points, a second `fleet down`
# often races an up (and when that up is not killed, the down must win:
# nothing of the deployment alive afterwards), and the daemon is SIGKILLed at random points and
# started again. The daemon runs its watchdog (3s idle kills) and reconcile
# jobs meanwhile, so jobs orphaned by a dead daemon race the loop too.
# Then `fleet reconcile` catches up, and the fake's view is checked:
#
#  leaked        an instance alive at the fake (pending, booting, running or
#                stopped) that state does not know: not the current
#                instance (by provider id, or by label before the id was
#                recorded) of any deployment in `fleet ls --json`.
#  double-create a label created twice (one intent rented twice), or an
#                instance of a deployment created, by the fake's clock,
#                while another instance of it was alive, unless that other
#                was a late create: one whose create landed after its row
#                was given up (its `fleet up` died mid-create and a `fleet
#                down` found nothing to end), which no one could know of
#                before it appeared and which fleet terminated once it
#                did. Late creates and their overlaps are counted apart.
#  left          an instance alive at the fake after `fleet down` of every
#                deployment.
#
# All three must be 0. Two sequences the loop found are pinned first.
# CRASHLOOP_SEED, CRASHLOOP_ITERATIONS (50) and CRASHLOOP_SECONDS (55, the
# loop's wall-clock cap) vary it; the seed is printed, so a failing plan
# can be replayed (the timing still varies).
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
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
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

SEED=${CRASHLOOP_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
N=${CRASHLOOP_ITERATIONS:-50}
CAP=${CRASHLOOP_SECONDS:-55}
DEPS="d1 d2 d3"

# The plan, one iteration a line: deployment provider op crash delay idle
# daemon-kill daemon-delay rival rival-delay. crash is none, kill (SIGKILL
# after delay) or a FLEET_TEST_CRASH point; daemon-kill is 1 to SIGKILL
# the daemon daemon-delay seconds into the op; rival is 1 to run `fleet
# down` of the same deployment rival-delay seconds into an up, as from a
# second terminal.
awk -v seed="$SEED" -v n="$N" 'BEGIN {
	srand(seed)
	for (i = 0; i < n; i++) {
		dep = "d" (1 + int(rand() * 3))
		prov = rand() < 0.5 ? "runpod" : "vast"
		# Mostly the opposite of the last op on it: real work.
		flip = rand() < 0.8
		op = (last[dep] == "up") == flip ? "down" : "up"
		last[dep] = op
		r = rand()
		crash = "none"
		if (r < 0.4)
			crash = "kill"
		else if (r < 0.55 && op == "down")
			crash = "after-desired"
		else if (r < 0.55)
			crash = rand() < 0.5 ? "after-intent" : "after-create"
		printf "%s %s %s %s %.2f %s %d %.2f %d %.2f\n", dep, prov, op,
		    crash, rand() * (op == "up" ? 1.0 : 0.25),
		    rand() < 0.5 ? "3s" : "1h", rand() < 0.4, rand() * 1.0,
		    op == "up" && rand() < 0.35, rand() * 1.5
	}
}' > "$T/plan"

# A process's command line, words joined by spaces ("" once it is gone).
cmdline() { { tr '\0' ' ' < "/proc/$1/cmdline"; } 2>/dev/null; }
# The daemon's pid, only while it is this state dir's `fleet daemon`.
daemon_pid() {
	p=$(cat "$FLEET_STATE_DIR/daemon.pid" 2>/dev/null)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null &&
	    grep -qzx -F "FLEET_STATE_DIR=$FLEET_STATE_DIR" "/proc/$p/environ" 2>/dev/null &&
	    cmdline "$p" | grep -q ' daemon' && echo "$p"
}
# Fleet processes of this state dir other than the daemon (orphaned jobs).
others() {
	d=$(daemon_pid)
	for p in $(procs_with_env "FLEET_STATE_DIR=$FLEET_STATE_DIR"); do
		[ "$p" = "$d" ] && continue
		cmdline "$p" | grep -q "^$FLEET " &&
		    echo "$p"
	done
}
no_others() { [ -z "$(others)" ]; }
# The fake's RunPod and Vast instances: id label state created_ms updated_ms.
fake_rows() {
	$C "$F/_control/instances" | tr '{' '\n' |
	    grep -E '"provider":"(runpod|vast)"' |
	    sed -n 's/.*"id":"\([^"]*\)","provider":"[a-z]*","label":"\([^"]*\)","state":"\([a-z]*\)".*"created_ms":\([0-9]*\),"updated_ms":\([0-9]*\).*/\1 \2 \3 \4 \5/p'
}
alive_rows() { fake_rows | grep -E ' (pending|booting|running|stopped) '; }
# What state tracks: each deployment's current instance (id or label).
known() {
	"$FLEET" ls --all --json | tr -d '\n\t' | grep -o '"instance":"[^"]*"' |
	    cut -d'"' -f4
}
# leaked: alive at the fake, neither its id nor its label known to state.
leaked() {
	known > "$T/known"
	alive_rows | while read -r id label rest; do
		grep -qx -F -e "$id" -e "$label" "$T/known" || echo "$id $label $rest"
	done
}
# Late creates: instances whose create landed after their row was given up
# (the up that sent it died, or a down overruled it), which fleet names
# when it terminates them (reconcile's report, up's error).
late_ids() {
	cat "$T"/*.log "$T"/*.out "$FLEET_STATE_DIR/daemon.log" 2>/dev/null |
	    sed -n -e 's/.* [a-z]* \([^ :]*\): [^ ]*: its create landed after.*/\1/p' \
	    -e 's/.* while \([^ ]*\) was being created.*/\1/p' | sort -u
}
# Two instances of one deployment alive at once at the fake, and labels
# created twice, one line each: "label ..." and "overlap ..." are double
# creates; "late ..." an overlap with a late create, which nothing could
# know of before it landed and which fleet terminated when it did.
double_creates() {
	late_ids > "$T/late"
	fake_rows | sort -k4,4n | awk -v late="$T/late" '
	BEGIN { while ((getline l < late) > 0) islate[l] = 1 }
	{
		n = split($2, p, "-"); dep = p[2]
		end = ($3 == "terminated" || $3 == "gone") ? $5 : 9e15
		if (labels[$2]++)
			print "label", $1, $2, "created twice"
		if (dep in kend && kend[dep] > $4)
			print "overlap", $1, $2, "created while", kid[dep],
			    "was alive"
		else if (dep in lend && lend[dep] > $4)
			print "late", $1, $2, "created while the late create",
			    lid[dep], "was alive"
		if ($1 in islate) {
			if (!(dep in lend) || end > lend[dep]) {
				lend[dep] = end; lid[dep] = $1
			}
		} else if (!(dep in kend) || end > kend[dep]) {
			kend[dep] = end; kid[dep] = $1
		}
	}'
}

# A Vast create takes a while to answer, as a real one takes seconds: an
# up killed meanwhile leaves a create that lands after its process died.
create_takes() {
	$C -d "{\"route\":\"/vast/api/v0/asks/\",\"ms\":$1}" \
	    "$F/_control/delay" >/dev/null
}

# --- pinned first: what the loop found ----------------------------------------
# `fleet up` killed while its create is in flight; `fleet down` finds
# nothing by label and gives the row up; then the create lands. Nothing
# tracks that instance, so reconcile must terminate it, not merely report
# an orphan.
create_takes 1500
"$FLEET" up cl --name late --provider vast </dev/null >"$T/late.out" 2>&1 &
lpid=$!
intent() { "$FLEET" ls | grep -q "^$1 .* pending "; }
check "late: the up records its intent" wait_for 10 intent late
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
# `fleet down` while a live `fleet up` waits for its create: the down
# gives the row up, so the up must terminate what its create returns and
# fail, not report a deployment up that no row holds.
"$FLEET" up cl --name race --provider vast </dev/null >"$T/race.out" 2>&1 &
lpid=$!
check "race: the up records its intent" wait_for 10 intent race
check "race: down while the create is in flight" "$FLEET" down race
wait "$lpid"
rc=$?
check "race: the up fails" [ "$rc" -eq 1 ]
cp "$T/race.out" "$T/out"
out_has "race: and says why" "race was taken down while coming up"
race_alive() { alive_rows | grep -q ' fleet-race-'; }
race_gone() { ! race_alive; }
check "race: the up terminated its instance itself" race_gone
check "race: ls shows race down" sh -c "'$FLEET' ls --all | grep -q '^race .* down '"
create_takes 500

# --- the loop -----------------------------------------------------------------
echo "crash loop: seed $SEED, $N iterations at most, ${CAP}s cap"
start=$(date +%s)
iter=0 kills=0 crashes=0 dkills=0 restarts=0 rivals=0 lived=0 overruled=0
dep_alive() { alive_rows | grep -q " fleet-$1-"; }
dep_quiet() { ! dep_alive "$1"; }
while read -r dep prov op crash delay idle dkill ddelay rival rdelay; do
	[ $(( $(date +%s) - start )) -ge "$CAP" ] && break
	iter=$((iter + 1))
	if [ "$op" = up ]; then
		set -- up cl --name "$dep" --provider "$prov" --idle "$idle" \
		    --timeout 20s
	else
		set -- down "$dep"
	fi
	case $crash in
	after-*) pt=$crash; crashes=$((crashes + 1)) ;;
	*) pt=none ;;
	esac
	echo "--- $iter: fleet $* (crash $crash $delay, daemon kill $dkill" \
	    "$ddelay, rival down $rival $rdelay)" >>"$T/ops.log"
	FLEET_TEST_CRASH=$pt "$FLEET" "$@" </dev/null >>"$T/ops.log" 2>&1 &
	opid=$!
	killer="" rpid=""
	if [ "$rival" = 1 ]; then
		(sleep "$rdelay"; "$FLEET" down "$dep" </dev/null \
		    >>"$T/ops.log" 2>&1) &
		rpid=$!
		rivals=$((rivals + 1))
	fi
	if [ "$dkill" = 1 ] && d=$(daemon_pid); then
		(sleep "$ddelay"; kill_ours 9 "$d") &
		killer=$!
		dkills=$((dkills + 1))
	fi
	if [ "$crash" = kill ]; then
		sleep "$delay"
		if kill_ours 9 "$opid"; then kills=$((kills + 1)); fi
	fi
	w=0
	while kill -0 "$opid" 2>/dev/null && [ $w -lt 300 ]; do
		sleep 0.1; w=$((w + 1))
	done
	kill_ours 9 "$opid"
	wait "$opid" 2>/dev/null
	[ -n "$killer" ] && wait "$killer" 2>/dev/null
	[ -n "$rpid" ] && wait "$rpid" 2>/dev/null
	# A down raced an up that kept running: the down must win, and
	# nothing of that deployment may be left alive at the fakes.
	if [ "$rival" = 1 ] && [ "$crash" = none ]; then
		lived=$((lived + 1))
		if ! wait_for 5 dep_quiet "$dep"; then
			overruled=$((overruled + 1))
			echo "    overruled: iteration $iter ($dep on $prov," \
			    "down at ${rdelay}s)" >>"$T/ops.log"
		fi
	fi
	if [ -z "$(daemon_pid)" ]; then
		"$FLEET" daemon --detach </dev/null >>"$T/ops.log" 2>&1
		wait_for 10 "$FLEET" daemon status
		restarts=$((restarts + 1))
	fi
done < "$T/plan"
elapsed=$(( $(date +%s) - start ))
echo "crash loop: $iter iterations in ${elapsed}s: $kills ops killed (SIGKILL)," \
    "$crashes crash points, $dkills daemon SIGKILLs, $restarts restarts," \
    "$rivals downs racing an up"
echo "racing downs whose up kept running: $lived, overruled: $overruled"
check "racing downs whose up kept running: none overruled" \
    [ "$overruled" -eq 0 ]
check "the loop ran at least 10 iterations" [ "$iter" -ge 10 ]

# --- catch up: quiet the daemon, let orphaned jobs end, reconcile ----------------
no_daemon() { [ -z "$(daemon_pid)" ]; }
check "the daemon answers" wait_for 10 "$FLEET" daemon status
check "the daemon stops" "$FLEET" daemon stop
check "the daemon is gone" wait_for 15 no_daemon
check "orphaned jobs finish" wait_for 40 no_others
for p in $(others); do
	echo "    still running: $(cmdline "$p")"
done
before=$(leaked | wc -l)
"$FLEET" reconcile --once >"$T/reconcile.out" 2>&1
"$FLEET" reconcile --once >>"$T/reconcile.out" 2>&1
leaked > "$T/leaked"
nleaked=$(wc -l < "$T/leaked")
creates=$(fake_rows | wc -l)
echo "after the loop: $creates instances created at the fakes," \
    "$(alive_rows | wc -l) alive, $before untracked before reconcile"
check "the loop rented something (at least 5 creates)" [ "$creates" -ge 5 ]
echo "leaked: $nleaked"
sed 's/^/    leaked /' "$T/leaked"
cp "$T/leaked" "$T/out"
check "(a) no instance alive at the fakes that state does not know" [ "$nleaked" -eq 0 ]

# --- everything down ---------------------------------------------------------------
for d in $DEPS; do "$FLEET" down "$d" >>"$T/ops.log" 2>&1; done
alive_rows > "$T/left"
double_creates > "$T/overlaps"
grep -v '^late ' "$T/overlaps" > "$T/doubles"
ndouble=$(wc -l < "$T/doubles")
late_loop=$(fake_rows | awk 'NR == FNR { l[$1]; next }
    ($1 in l) && $2 ~ /^fleet-d[0-9]-/' "$T/late" - | wc -l)
echo "late creates in the loop (landed after their row was given up," \
    "then terminated): $late_loop; overlapping one: $(grep -c '^late ' "$T/overlaps")"
echo "double-creates: $ndouble"
sed 's/^/    /' "$T/overlaps"
cp "$T/doubles" "$T/out"
check "(b) no deployment ever had two known instances alive at once" [ "$ndouble" -eq 0 ]
echo "left alive after fleet down: $(wc -l < "$T/left")"
cp "$T/left" "$T/out"
check "(c) nothing alive at the fakes after fleet down" [ ! -s "$T/left" ]
check "ls shows nothing up" sh -c "! '$FLEET' ls | grep -E '^d[0-9] ' | grep -qv ' down '"
check "the fake served to the end" $C "$F/_control/health"
check "no sanitizer reports" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR'/daemon.log '$T'/*.log '$T'/*.out"
[ "$E2E_FAILED" -gt 0 ] && [ -z "$E2E_KEEP" ] && {
	echo "ops (tail):"; tail -n 40 "$T/ops.log" | sed 's/^/    /'; }
e2e_done
