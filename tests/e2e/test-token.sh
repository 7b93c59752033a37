#!/bin/sh
# The proxy bound beyond loopback: without proxy.token the daemon refuses
# to start; with it, every request needs `Authorization: Bearer TOKEN`,
# and the token never reaches the upstream.
#
# As root where `unshare -n` works, the script runs itself in a fresh
# network namespace: lo up, and 10.77.0.1/24 on a dummy interface d0 (on
# lo where the kernel has no dummy devices, as in some containers). The
# proxy binds that address: a real non-loopback one whose packets never
# leave the namespace. Without a namespace it binds 0.0.0.0 as
# configured, and traffic stays on 127.0.0.1. A note says which ran.
#
# Before lib.sh (its temp dir and traps belong to the run that stays):
# where a namespace with lo up can be made, run again inside one. The
# variable carries the old namespace, so only a new one is ever set up.
if [ -z "$E2E_NETNS" ] && [ "$(id -u)" -eq 0 ] &&
    unshare -n ip link set lo up 2>/dev/null; then
	E2E_NETNS=$(readlink /proc/self/ns/net) exec unshare -n sh "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

# In the new namespace: lo up, 10.77.0.1/24 on d0, or on lo without one.
netns_setup() {
	ip link set lo up || return 1
	if ip link add d0 type dummy 2>/dev/null; then
		NETNS_DEV=d0
		ip addr add 10.77.0.1/24 dev d0 && ip link set d0 up
	else
		NETNS_DEV=lo
		ip addr add 10.77.0.1/24 dev lo
	fi
}

BIND=0.0.0.0
HOST=127.0.0.1
if [ -n "$E2E_NETNS" ] &&
    [ "$(readlink /proc/self/ns/net)" != "$E2E_NETNS" ]; then
	check "a network namespace with 10.77.0.1" netns_setup
	[ "$E2E_FAILED" -eq 0 ] || { e2e_done; exit; }
	BIND=10.77.0.1
	HOST=$BIND
	echo "note: in a network namespace: proxy bound to $BIND on" \
	    "$NETNS_DEV$([ "$NETNS_DEV" = lo ] && echo ' (no dummy devices)')"
else
	echo "note: no network namespace (needs root and unshare -n):" \
	    "proxy bound to $BIND as configured"
fi

write_echo_template tok
TOKEN=fleet-e2e-token-7f3a
cat > "$FLEET_CONFIG" <<YAML
proxy:
  bind: $BIND
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
daemon:
  reconcile_interval: 0s
YAML
check_exit "bind $BIND without a token: the daemon refuses" 1 \
    "$FLEET" daemon --foreground
out_has "and says why" \
    "refusing to listen on $BIND without a bearer token"
cat > "$FLEET_CONFIG" <<YAML
proxy:
  bind: $BIND
  shared_port: $E2E_SHARED_PORT
  port_min: $E2E_PORT_MIN
  port_max: $E2E_PORT_MAX
  token: $TOKEN
daemon:
  reconcile_interval: 0s
YAML
check "up with a token configured" "$FLEET" up tok
URL=$("$FLEET" url tok)
code() { curl -s -o /dev/null -w '%{http_code}' -m 10 "$@"; }
check "the stable URL is on $HOST" [ "${URL%:*}" = "http://$HOST" ]
check "no token: 401" [ "$(code "$URL/health")" = 401 ]
check "wrong token: 401" [ "$(code -H "Authorization: Bearer nope" "$URL/health")" = 401 ]
check "right token: 200" [ "$(code -H "Authorization: Bearer $TOKEN" "$URL/health")" = 200 ]
curl -s -m 10 -H "Authorization: Bearer $TOKEN" "$URL/headers" >"$T/headers"
check "the upstream gets the request" grep -q x-forwarded-for "$T/headers"
check "but not the token" sh -c "! grep -q '$TOKEN' '$T/headers'"
check "the bind address is an allowed Host, a foreign one gets 421" \
    [ "$(code -H "Authorization: Bearer $TOKEN" -H "Host: evil.example" "$URL/health")" = 421 ]
check "/metrics needs it too" \
    [ "$(code "http://$HOST:$E2E_SHARED_PORT/metrics")" = 401 ]
if [ "$BIND" != 0.0.0.0 ]; then
	check "bound to $BIND only: nothing on 127.0.0.1" \
	    [ "$(code "http://127.0.0.1:${URL##*:}/health")" = 000 ]
fi
"$FLEET" down tok >/dev/null 2>&1
"$FLEET" daemon stop >/dev/null 2>&1
e2e_done
