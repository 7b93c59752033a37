#!/bin/sh
# test-readme.sh: the README's tour runs as written. Every line of its
# code block not marked "needs a cloud key" runs here, in order, on the
# local provider with no keys, in this script's private state dir; each
# must exit 0. Every deployment a line names (local or cloud) was brought
# up by an earlier line. Ports are this script's own: the tour's 8990 and
# 7070 become its stable and shared ports.
# usage: sh tests/e2e/test-readme.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

README=$(pwd)/README.md
TOUR_PORT=$E2E_PORT_MAX
MARK="needs a cloud key"

# The tour: the indented block after "## A short tour", unindented.
awk '
	/^## A short tour/ { in_tour = 1; next }
	in_tour && /^## / { exit }
	in_tour && /^    / { seen = 1; sub(/^    /, ""); print; next }
	in_tour && seen && /^[^ ]/ { exit }
' "$README" >"$T/tour"
grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$T/tour" >"$T/lines"
grep -vF "$MARK" "$T/lines" >"$T/local"

check "the README has a tour" test -s "$T/lines"
check "the tour has local lines" test -s "$T/local"
check "the tour has lines that need a cloud key" grep -qF "$MARK" "$T/lines"

# Every deployment named by url/status/ssh/logs/down/stop/start/keep was
# brought up by an earlier line of the tour.
names_ok() {
	_up=" "
	while IFS= read -r _l; do
		set -- $(printf '%s\n' "$_l" | sed 's/#.*//; s/&&/\n/g' |
		    sed -n 's|^[[:space:]]*build/fleet \([a-z]*\) \([a-z0-9][a-z0-9.-]*\).*|\1 \2|p')
		while [ $# -ge 2 ]; do
			case $1 in
			up) _up="$_up$2 " ;;
			url|status|ssh|logs|down|stop|start|keep)
				case "$_up" in *" $2 "*) ;; *)
					echo "'$_l' uses $2 before any up"
					return 1 ;;
				esac ;;
			esac
			shift 2
		done
	done <"$T/lines"
}
check "the tour deploys what it later uses" names_ok

# The shipped templates, with the tour's stable port moved to ours.
for f in templates/*.yaml; do
	sed "s/^stable_port: 8990\$/stable_port: $TOUR_PORT/" "$f" \
	    >"$FLEET_TEMPLATE_DIR/$(basename "$f")"
done
check "demo-echo's stable port is the tour's 8990" \
    grep -qx 'stable_port: 8990' templates/demo-echo.yaml
ln -s "$BUILD" "$T/build"

n=0
while IFS= read -r line; do
	n=$((n + 1))
	run=$(printf '%s\n' "$line" |
	    sed "s/127\.0\.0\.1:8990/127.0.0.1:$TOUR_PORT/g;
		s/:7070/:$E2E_SHARED_PORT/g")
	# Bounded: a tour line that waits for ever (logs -f) is a bug here.
	(cd "$T" && timeout 120 sh -c "$run") >"$T/out" 2>&1 </dev/null
	rc=$?
	cat "$T/out" >>"$T/all"
	if [ $rc -eq 0 ]; then pass "tour line $n: $line"; else
		echo "    (exit $rc)" >>"$T/out"; fail "tour line $n: $line"; fi
	case $line in
	curl*/health*) out_has "tour line $n: the stable URL answers" \
	    '"status":"ok"' ;;
	esac
done <"$T/local"

check "nothing of the tour is left running" sh -c \
    "'$FLEET' ls --json | grep -q '\"state\":[[:space:]]*\"running\"' && exit 1 || exit 0"

echo "$E2E_PASSED passed, $E2E_FAILED failed"
[ "$E2E_FAILED" -eq 0 ]
