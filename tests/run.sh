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

for s in tests/e2e/test-*.sh; do
	[ -f "$s" ] || continue
	name=e2e/$(basename "$s" .sh)
	log="$LOGDIR/$(basename "$s").log"
	timeout 600 sh "$s" "$BUILD" >"$log" 2>&1
	count "$name" "$log" $?
done

[ "$failed" -eq 0 ] && rm -rf "$LOGDIR" || echo "logs kept in $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
