#!/bin/sh
# SSH to instances over libssh2, against a real sshd on a loopback port
# standing in for the instance (the fakes report it as the ssh endpoint):
# fleet ssh (output, exit status, stdin), fleet logs, the ssh health
# check (pass, fail, timeout), host keys (first use recorded, a changed
# key refused), a tunnel as the proxy's upstream to a service that only
# listens behind sshd, and the tunnel coming back after sshd restarts.
. "$(dirname "$0")/lib.sh"

if ! start_sshd; then
	fail "sshd starts for the tests"
	e2e_done
	exit 1
fi
start_fakecloud --boot-delay-ms 100 --ssh-port "$SSHD_PORT"
export RUNPOD_API_KEY=test-key
export FLEET_RUNPOD_URL=$F/runpod/graphql
# The service behind sshd: a port nobody listens on.
SVC=$((56000 + $$ % 4000))
while [ -n "$(ss -Hltn "sport = :$SVC" 2>/dev/null)" ]; do SVC=$((SVC + 1)); done
cat > "$FLEET_CONFIG" <<YAML
proxy:
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  reconcile_interval: 0s
  watch_interval: 1s
ssh:
  key: $SSHD_KEY
  keepalive: 1s
  connect_timeout: 3s
  gpu_sample_interval: 1s
providers:
  runpod:
    ssh_user: $SSHD_USER
YAML
cat > "$FLEET_TEMPLATE_DIR/box.yaml" <<YAML
name: box
image: ghcr.io/example/box:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: ssh, command: "test -e $T/ready", interval: 1s, timeout: 3s, boot_timeout: 8s}
log_file: $T/app.log
YAML

# --- the ssh health check -----------------------------------------------
check_exit "ssh check failing (no ready file): up gives up" 1 "$FLEET" up box --provider runpod
out_has "the check's exit status is the reason" "exited 1"
touch "$T/ready"
check "ssh check passing: up" "$FLEET" up box --provider runpod
check "host key recorded on first use" grep -q "127.0.0.1\]:$SSHD_PORT ssh-ed25519" "$FLEET_STATE_DIR/known_hosts"
check "the known_hosts file is private" sh -c "[ \$(stat -c %a '$FLEET_STATE_DIR/known_hosts') = 600 ]"

# --- fleet ssh and fleet logs -------------------------------------------
check "fleet ssh -- echo hi prints hi" sh -c "[ \"\$('$FLEET' ssh box -- echo hi)\" = hi ]"
check_exit "fleet ssh returns the command's exit status" 7 "$FLEET" ssh box -- exit 7
check "stdin goes to the command" sh -c "[ \"\$(echo piped | '$FLEET' ssh box -- cat)\" = piped ]"
check "stderr stays stderr" sh -c "[ \"\$('$FLEET' ssh box -- 'echo oops >&2' 2>&1 >/dev/null)\" = oops ]"
# An interactive shell: script(1) gives fleet a terminal, so it asks for
# a pty (the remote tty is a /dev/pts) and restores the terminal after.
if command -v script >/dev/null 2>&1; then
	( sleep 2; printf 'tty; exit 3\n' ) | script -qefc "'$FLEET' ssh box" "$T/pty.out" >/dev/null 2>&1
	rc=$?
	check "interactive: a shell on a pty (remote tty is /dev/pts)" grep -q '/dev/pts/' "$T/pty.out"
	check "interactive: the shell's exit status comes back" [ "$rc" -eq 3 ]
	( sleep 2; printf 'tty; exit 0\n' ) | script -qefc "'$FLEET' ssh -T box" "$T/nopty.out" >/dev/null 2>&1
	check "-T: a shell without a pty even on a terminal" grep -q 'not a tty' "$T/nopty.out"
else
	echo "SKIP: interactive pty (no script(1))"
fi
printf 'one\ntwo\nthree\n' > "$T/app.log"
check "fleet logs -n 2 shows the last two lines" sh -c "[ \"\$('$FLEET' logs -n 2 box | tr '\n' ' ')\" = 'two three ' ]"
"$FLEET" logs -f box > "$T/follow.out" 2>&1 & FOLLOW=$!
sleep 1
echo four >> "$T/app.log"
check "fleet logs -f follows new lines" wait_for 10 grep -q four "$T/follow.out"
kill "$FOLLOW" 2>/dev/null; wait "$FOLLOW" 2>/dev/null
check "down" "$FLEET" down box

# --- health check timeout -----------------------------------------------
sed -i "s|command: \"test -e $T/ready\"|command: \"sleep 30\"|; s|timeout: 3s|timeout: 1s|; s|boot_timeout: 8s|boot_timeout: 4s|" "$FLEET_TEMPLATE_DIR/box.yaml"
check_exit "ssh check that hangs: times out" 1 "$FLEET" up box --provider runpod
out_has "timed out is the reason" "timed out"
sed -i "s|command: \"sleep 30\"|command: \"test -e $T/ready\"|; s|timeout: 1s|timeout: 3s|; s|boot_timeout: 4s|boot_timeout: 8s|" "$FLEET_TEMPLATE_DIR/box.yaml"

# --- a tunnel as the upstream --------------------------------------------
# The service listens on 127.0.0.1:$SVC "inside the instance" (behind
# sshd); the fake's own echo port is never used: tunnel: true.
"$FLEET" echo-server --port "$SVC" --bind 127.0.0.1 >"$T/svc.log" 2>&1 &
SVCPID=$!
E2E_PIDS="$E2E_PIDS $SVCPID"
check "the service behind sshd listens on 127.0.0.1:$SVC" wait_for 10 sh -c "curl -s http://127.0.0.1:$SVC/health >/dev/null"
cat > "$FLEET_TEMPLATE_DIR/tun.yaml" <<YAML
name: tun
image: ghcr.io/example/box:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: $SVC, protocol: http}]
health: {type: http, path: /health, interval: 1s, timeout: 3s, boot_timeout: 20s}
tunnel: true
YAML
check "up with tunnel: true (health probed through the tunnel)" "$FLEET" up tun --provider runpod
grep -E 'ssh|tunnel' "$FLEET_STATE_DIR/daemon.log" | tail -n 5 | sed 's/^/    daemon.log: /'
check "the upstream is the tunnel" sh -c "'$FLEET' url tun --upstream | grep -q '^http+ssh://127.0.0.1:$SVC'"
URL=$("$FLEET" url tun)
check "GET through the stable URL and the tunnel" sh -c "curl -sf --max-time 5 '$URL/health' >/dev/null"
head -c 300000 /dev/urandom > "$T/blob"
check "300 kB POST echoed back intact through the tunnel" sh -c "curl -sf --max-time 20 --data-binary @'$T/blob' '$URL/echo' | cmp -s - '$T/blob'"
check "daemon status shows the session with tunnel bytes" sh -c "'$FLEET' daemon status --json | tr -d ' \t\n' | grep -q '\"tunnel_bytes_in\":[1-9]'"
stop_sshd
check "sshd gone: the request fails, nothing hangs" sh -c "! curl -sf --max-time 15 '$URL/health' >/dev/null"
restart_sshd
check "sshd back: the tunnel comes back on the same URL" wait_for 30 sh -c "curl -sf --max-time 5 '$URL/health' >/dev/null"
kill "$SVCPID" 2>/dev/null
wait_for 5 sh -c "! curl -s http://127.0.0.1:$SVC/health >/dev/null"
check "service gone behind sshd: 502 at once, not a hang" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 '$URL/health')\" = 502 ]"
check "the daemon says the tunnel was refused" grep -q "tunnel to 127.0.0.1:$SVC refused" "$FLEET_STATE_DIR/daemon.log"
check "down tun" "$FLEET" down tun

# --- GPU samples over ssh feed the idle watchdog -----------------------
cat > "$FLEET_TEMPLATE_DIR/gpuw.yaml" <<YAML
name: gpuw
image: ghcr.io/example/box:1
gpu: {models: ["RTX 4090"], count: 1}
ports: [{port: 8080, protocol: http}]
health: {type: http, path: /health, interval: 1s, boot_timeout: 20s}
idle_timeout: 4s
idle_gpu_percent: 10
YAML
gpuw_gone() { ! "$FLEET" ls | grep -q "^gpuw "; }
sampled() { "$FLEET" ls --json | tr -d ' \t\n' | grep -q "\"gpu_util_percent\":$1"; }
fake_nvidia_smi 90 30512 2
t0=$(date +%s)
check "up gpuw" "$FLEET" up gpuw --provider runpod
check "the busiest GPU (90%) is sampled over ssh" wait_for 15 sampled 90
echo "time to first sample: $(( $(date +%s) - t0 ))s after fleet up returned (gpu_sample_interval 1s)"
sleep 8
check "GPU at 90%: alive after 2x its idle timeout with no traffic" sh -c "'$FLEET' ls | grep -q '^gpuw '"
check "nvidia-smi ran over the kept-open session" test -s "$SSHD_CALLS"
fake_nvidia_smi_fail
sleep 3
check "a failing nvidia-smi is unknown, not 0% idle" sh -c "! '$FLEET' ls --json | tr -d ' \t\n' | grep -q '\"gpu_util_percent\":0,'"
check "and the daemon says so" grep -q "GPU utilisation unknown" "$FLEET_STATE_DIR/daemon.log"
fake_nvidia_smi 3 100
check "GPU at 3% (< 10): killed as idle" wait_for 30 gpuw_gone
fake_nvidia_smi_remove

# --- ssh-agent instead of a key file -----------------------------------
if command -v ssh-agent >/dev/null 2>&1 && command -v ssh-add >/dev/null 2>&1; then
	check "up box again" "$FLEET" up box --provider runpod
	eval "$(ssh-agent -s)" >/dev/null
	E2E_PIDS="$E2E_PIDS $SSH_AGENT_PID"
	ssh-add -q "$SSHD_KEY" 2>/dev/null
	cp "$FLEET_CONFIG" "$T/fleet.key.yaml"
	sed -i '/^  key: /d' "$FLEET_CONFIG"
	check "agent: no ssh.key, fleet ssh logs in with the agent's key" sh -c "[ \"\$('$FLEET' ssh box -- echo agent)\" = agent ]"
	ssh-add -D -q 2>/dev/null
	check_exit "agent: the agent has no key the server takes: refused" 1 "$FLEET" ssh box -- true
	out_has "agent: and says so" "ssh-agent"
	kill "$SSH_AGENT_PID" 2>/dev/null
	unset SSH_AUTH_SOCK SSH_AGENT_PID
	cp "$T/fleet.key.yaml" "$FLEET_CONFIG"
	"$FLEET" down box >/dev/null 2>&1
else
	echo "SKIP: ssh-agent (no ssh-agent/ssh-add)"
fi

# --- a changed host key is refused --------------------------------------
sshd_new_hostkey
check_exit "changed host key: fleet ssh refuses" 1 "$FLEET" ssh box -- true
"$FLEET" up box --provider runpod >"$T/out" 2>&1
out_has "and says the key CHANGED, naming known_hosts" "CHANGED"
out_has "the message names the file to edit" "known_hosts"
"$FLEET" down box >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
check "the daemon exits (sessions and tunnels freed)" wait_for 15 sh -c "! '$FLEET' daemon status >/dev/null 2>&1"
sleep 1
check "no sanitizer reports from the daemon" sh -c "! grep -E 'Sanitizer|runtime error' '$FLEET_STATE_DIR/daemon.log'"
e2e_done
