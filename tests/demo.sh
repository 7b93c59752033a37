#!/bin/sh
# make demo: bring demo-echo up on the local provider (no keys, no cloud),
# show it, talk to it, take it down. Uses a throwaway state dir.
set -e
BUILD=${1:-build}
cd "$(dirname "$0")/.."
FLEET=$(pwd)/$BUILD/fleet
export FLEET_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")
export FLEET_CONFIG=$(pwd)/fleet.yaml
trap '"$FLEET" down demo-echo >/dev/null 2>&1 || true; rm -rf "$FLEET_STATE_DIR"' EXIT

say() { printf '\n==> %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "fleet $("$FLEET" version | head -n 1 | cut -d' ' -f2): templates it can deploy"
run "$FLEET" templates

say "Rent demo-echo on the 'local' provider (a process on this machine, \$0/h)"
run "$FLEET" up demo-echo --provider local

say "What is running, what it costs"
run "$FLEET" ls

say "Talk to the instance through its current upstream"
up=$("$FLEET" url --upstream demo-echo)
run curl -sS "$up/health"
echo
run curl -sS -d 'hello from fleet' "$up/echo"
echo

say "The stable URL apps point at (it survives restarts and provider moves)"
run "$FLEET" url demo-echo

say "Its record: policy, live state, events"
run "$FLEET" status demo-echo

say "Take it down: prints uptime and cost"
run "$FLEET" down demo-echo

say "Nothing left running"
run "$FLEET" ls --all
