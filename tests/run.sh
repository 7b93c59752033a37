#!/bin/sh
# Run every unit test binary and end-to-end script against BUILD (build or
# build-asan). Prints PASS/FAIL per suite, keeps logs only for failures,
# and ends with one line: N passed, N failed.
BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 2
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/fleet-tests.XXXXXX")
passed=0
failed=0
failures=""

# Count a suite's results from its own summary lines.
count() {	# name log status
	p=0 f=0
	line=$(grep -E '^(.*: )?[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/^(.*: )?([0-9]+) passed.*/\2/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	else
		p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$2" | awk '{s+=$1} END {print s+0}')
		f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$2" | awk '{s+=$1} END {print s+0}')
	fi
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed, leaked or exited non-zero without saying why
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -eq 0 ]; then
		echo "PASS: $1 ($p)"
	else
		echo "FAIL: $1 ($p passed, $f failed; log follows)"
		tail -n 60 "$2" | sed 's/^/    /'
		failures="$failures $1"
	fi
}

for t in "$BUILD"/tests/test-*; do
	[ -x "$t" ] || continue
	name=unit/$(basename "$t")
	log="$LOGDIR/$(basename "$t").log"
	timeout 300 "$t" >"$log" 2>&1
	count "$name" "$log" $?
done

# End-to-end scripts run side by side, E2E_JOBS at a time (default 4:
# they mostly wait on timers and children, not on the CPU). Each gets its
# own slot, hence its own proxy ports (lib.sh), and its own state dir.
# Results are reported in name order once all have finished.
JOBS=${E2E_JOBS:-4}
# Three groups of 33 slots: a suite takes the first group no other suite
# on this machine holds (make test and make asan-test side by side, or
# two checkouts), by a lock kept open for the whole run.
group=0
while [ $group -lt 3 ]; do
	exec 9>"${TMPDIR:-/tmp}/fleet-e2e-ports.$group.lock"
	flock -n 9 && break
	group=$((group + 1))
done
[ $group -lt 3 ] || { echo "run.sh: three suites run already" >&2; exit 2; }
slot=$((group * 33))
running=""
for s in tests/e2e/test-*.sh; do
	[ -f "$s" ] || continue
	while [ "$(echo $running | wc -w)" -ge "$JOBS" ]; do
		still=""
		for r in $running; do
			[ -f "$LOGDIR/$r.rc" ] || still="$still $r"
		done
		running=$still
		[ "$(echo $running | wc -w)" -ge "$JOBS" ] && sleep 0.2
	done
	b=$(basename "$s")
	if [ $slot -ge $(((group + 1) * 33)) ]; then
		echo "run.sh: more than 33 e2e scripts: widen the slot groups" >&2
		exit 2
	fi
	(
		E2E_SLOT=$slot timeout 600 sh "$s" "$BUILD" >"$LOGDIR/$b.log" 2>&1
		echo $? >"$LOGDIR/$b.rc"
	) &
	running="$running $b"
	slot=$((slot + 1))
done
wait
exec 9>&-
for s in tests/e2e/test-*.sh; do
	[ -f "$s" ] || continue
	b=$(basename "$s")
	count "e2e/$(basename "$s" .sh)" "$LOGDIR/$b.log" \
	    "$(cat "$LOGDIR/$b.rc" 2>/dev/null || echo 1)"
done

[ "$failed" -eq 0 ] && rm -rf "$LOGDIR" || echo "logs kept in $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
