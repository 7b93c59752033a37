#!/bin/sh
# make demo: bring demo-echo up on the local provider (no keys, no cloud),
# show it, talk to it, take it down. Uses a throwaway state dir.
set -e
BUILD=${1:-build}
cd "$(dirname "$0")/.."
FLEET=$(pwd)/$BUILD/fleet
export FLEET_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")
export FLEET_CONFIG=$(pwd)/fleet.yaml
trap '"$FLEET" down demo-echo >/dev/null 2>&1 || true
    "$FLEET" daemon stop >/dev/null 2>&1 || true; rm -rf "$FLEET_STATE_DIR"' EXIT

say() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "fleet $("$FLEET" version | head -n 1 | cut -d' ' -f2): templates it can deploy"
run "$FLEET" templates

say "Rent demo-echo on the 'local' provider (a process on this machine, \$0/h)"
run "$FLEET" up demo-echo --provider local

say "What is running, what it costs"
run "$FLEET" ls

say "The app talks to the stable URL; the daemon (started by up) proxies it"
url=$("$FLEET" url demo-echo)
run curl -sS "$url/health"
echo
run curl -sS -d 'hello from fleet' "$url/echo"
echo
run "$FLEET" daemon status

say "Restart the instance: a new upstream port, the same stable URL"
before=$("$FLEET" url --upstream demo-echo)
run "$FLEET" down demo-echo
run "$FLEET" up demo-echo --provider local
after=$("$FLEET" url --upstream demo-echo)
echo "upstream was $before, is now $after; the app still uses $url:"
run curl -sS "$url/health"
echo

say "Its record: policy, live state, events"
run "$FLEET" status demo-echo

say "Take it down: prints uptime and cost"
run "$FLEET" down demo-echo

say "Nothing left running"
run "$FLEET" ls --all
run "$FLEET" daemon stop
