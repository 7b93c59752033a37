#!/bin/sh
# The proxy bound beyond loopback: without proxy.token the daemon refuses
# to start; with it, every request needs `Authorization: Bearer TOKEN`,
# and the token never reaches the upstream. Traffic stays on 127.0.0.1.
. "$(dirname "$0")/lib.sh"

write_echo_template tok
TOKEN=fleet-e2e-token-7f3a
cat > "$FLEET_CONFIG" <<YAML
proxy:
  bind: 0.0.0.0
  shared_port: $E2E_SHARED_PORT
daemon:
  reconcile_interval: 0s
YAML
check_exit "bind 0.0.0.0 without a token: the daemon refuses" 1 "$FLEET" daemon --foreground
out_has "and says the token is needed" "token"
cat > "$FLEET_CONFIG" <<YAML
proxy:
  bind: 0.0.0.0
  shared_port: $E2E_SHARED_PORT
  token: $TOKEN
daemon:
  reconcile_interval: 0s
YAML
check "up with a token configured" "$FLEET" up tok
URL=$("$FLEET" url tok)
code() { curl -s -o /dev/null -w '%{http_code}' -m 10 "$@"; }
check "no token: 401" [ "$(code "$URL/health")" = 401 ]
check "wrong token: 401" [ "$(code -H "Authorization: Bearer nope" "$URL/health")" = 401 ]
check "right token: 200" [ "$(code -H "Authorization: Bearer $TOKEN" "$URL/health")" = 200 ]
check "the token is not forwarded upstream" sh -c "! curl -s -m 10 -H 'Authorization: Bearer $TOKEN' '$URL/headers' | grep -q '$TOKEN'"
check "/metrics needs it too" [ "$(code "http://127.0.0.1:$E2E_SHARED_PORT/metrics")" = 401 ]
"$FLEET" down tok >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
