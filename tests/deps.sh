#!/bin/sh
# Install the Debian packages fleet needs that are missing; as non-root, print
# the exact apt-get line instead.
missing=""
for p in "$@"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "fleet: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "fleet: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Installing a server (openssh-server for the ssh tests) must not start its
# system service: a policy-rc.d that says no, for this install only, and
# removed again only if we made it.
POLICY_RC=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	trap '[ -n "$POLICY_RC" ] && rm -f "$POLICY_RC"' EXIT
	trap 'exit 130' INT TERM HUP
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d &&
	    chmod 755 /usr/sbin/policy-rc.d && POLICY_RC=/usr/sbin/policy-rc.d
fi
apt-get install -y -q $missing >/dev/null || {
	apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null
} || { echo "fleet: apt-get install failed:$missing" >&2; exit 1; }
