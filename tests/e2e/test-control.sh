#!/bin/sh
# test-control.sh: the daemon's control socket against hostile clients: a
# request whose numbers are not whole (1.5, 1e300, "1") gets an error
# reply and the daemon lives on; a client that sends half a line, or
# trickles one, is closed after the 10 s limit; past 64 clients a new one
# is answered "too many control clients" at once, and served again once
# the others are gone. The raw client is perl (perl-base is in every
# Debian), talking to the socket directly.
# usage: sh tests/e2e/test-control.sh BUILD_DIR   (from the repository root)
. "$(dirname "$0")/lib.sh"

SOCK=$FLEET_STATE_DIR/control.sock
cat >"$T/ctl.pl" <<'PERL'
# ctl.pl SOCK MODE [ARG]: one raw control client.
#   line TEXT     send TEXT and a newline, print the reply line
#   half TEXT     send TEXT without a newline, print the seconds until the
#                 daemon closes (or "open" after 30 s)
#   trickle TEXT  send TEXT a byte a second, no newline; print the seconds
#                 until the daemon closes (or "open" after 30 s)
#   hold N        open N clients at once, then one more with a hello: print
#                 how many of the N were answered "too many" at once and
#                 the extra one's reply
use strict; use warnings;
use IO::Socket::UNIX; use IO::Select; use Time::HiRes qw(time sleep);
my ($sock, $mode, $arg) = @ARGV;
# A refused client may be closed before it writes: EPIPE, not death.
$SIG{PIPE} = 'IGNORE';
sub conn { IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $sock)
    or die "connect $sock: $!\n" }
sub closed_in { my ($c, $t0, $limit) = @_; my $s = IO::Select->new($c);
	while (time - $t0 < $limit) {
		if ($s->can_read(0.2)) { my $b; my $n = sysread($c, $b, 4096);
			return sprintf("%.1f", time - $t0) if !defined $n || $n == 0; }
	}
	return "open"; }
if ($mode eq 'line') {
	my $c = conn(); print $c "$arg\n"; $c->flush;
	my $s = IO::Select->new($c); my $r = '';
	while ($s->can_read(5)) { my $b; last if !sysread($c, $b, 65536);
		$r .= $b; last if $r =~ /\n/; }
	print $r eq '' ? "no reply\n" : $r;
} elsif ($mode eq 'half') {
	my $c = conn(); my $t0 = time; print $c $arg; $c->flush;
	print closed_in($c, $t0, 30), "\n";
} elsif ($mode eq 'trickle') {
	my $c = conn(); my $t0 = time; my $s = IO::Select->new($c);
	for my $ch (split //, $arg x 40) {
		last if time - $t0 > 30;
		if ($s->can_read(0)) { my $b; my $n = sysread($c, $b, 4096);
			if (!defined $n || $n == 0) {
				printf("%.1f\n", time - $t0); exit 0; } }
		if (!defined syswrite($c, $ch)) {
			printf("%.1f\n", time - $t0); exit 0; }
		sleep 1;
	}
	print closed_in($c, $t0, 30 - (time - $t0)), "\n";
} elsif ($mode eq 'hold') {
	my @c = map { conn() } 1 .. $arg; sleep 0.5;
	my $busy = 0;
	for my $c (@c) { my $s = IO::Select->new($c);
		if ($s->can_read(0)) { my $b = ''; sysread($c, $b, 4096);
			$busy++ if $b =~ /too many control clients/; } }
	my $x = conn(); print $x "{\"v\":1,\"cmd\":\"hello\"}\n"; $x->flush;
	my $s = IO::Select->new($x); my $r = '';
	$r = <$x> if $s->can_read(5);
	print "$busy\n", defined $r && $r ne '' ? $r : "no reply\n";
}
PERL
ctl() { perl "$T/ctl.pl" "$SOCK" "$@"; }
# ok REPLY: the reply says ok:true.
is_ok() { printf '%s\n' "$1" | grep -q '"ok":true'; }
hello() { is_ok "$(ctl line '{"v":1,"cmd":"hello"}')"; }

check_exit "the daemon starts" 0 "$FLEET" daemon --detach
check "it answers hello" wait_for 10 hello

# refused LINE WANT: an ok:false reply containing WANT.
refused() {
	r=$(ctl line "$1")
	printf '%s\n' "$r"
	printf '%s\n' "$r" | grep -q '"ok":false' &&
	    printf '%s\n' "$r" | grep -qF -- "$2"
}
for v in '"1"' 1.5 1e300 0 -1 true null '[1]'; do
	check "version $v is refused" \
	    refused "{\"v\":$v,\"cmd\":\"hello\"}" '\"v\" must be a whole number'
done
check "version 2 is too new" refused '{"v":2,"cmd":"hello"}' 'too new'
check "no version at all" refused '{"cmd":"hello"}' 'needs \"v\"'
for n in 1e300 -1e300 1.5 '"1"' 0 -3 9007199254740993 true; do
	check "forward instance $n: an error reply" \
	    refused "{\"v\":1,\"cmd\":\"forward\",\"instance\":$n}" \
	    'a whole number from 1'
done
check "forward of an instance that is not there: an error, not a crash" \
    refused '{"v":1,"cmd":"forward","instance":4242}' '"error"'
check "the daemon lives on" hello
check "v 1.0 is the same as 1" sh -c "perl '$T/ctl.pl' '$SOCK' line '{\"v\":1.0,\"cmd\":\"hello\"}' | grep -q '\"ok\":true'"

# Half a line, and a line trickled a byte a second: both closed by the
# 10 s limit, the trickle by its deadline (each byte resets the idle
# timer). Run side by side; figures printed, not asserted beyond "closed".
ctl half '{"v":1,"cmd":"hel' >"$T/half" 2>&1 &
hpid=$!
ctl trickle 'x' >"$T/trickle" 2>&1 &
tpid=$!
wait $hpid $tpid
half=$(cat "$T/half")
trickle=$(cat "$T/trickle")
echo "note: half a line closed after ${half}s, a trickle after ${trickle}s"
check "a client that sent half a line is closed" [ "$half" != open ]
check "not before the idle limit" awk "BEGIN { exit !($half >= 9) }"
check "a trickling client is closed too" [ "$trickle" != open ]
check "the daemon still answers" hello

dfds() { ls "/proc/$(our_daemon_pid)/fd" | wc -l; }
base=$(dfds)
# 70 clients at once: 64 are held, the rest answered at once; a new one
# while they are held is refused too, and served once they are gone.
ctl hold 70 >"$T/hold" 2>&1
busy=$(head -n 1 "$T/hold")
echo "note: $busy of 70 clients answered 'too many control clients'"
check "past 64 clients a new one is told so at once" [ "$busy" -eq 6 ]
check "the extra client is refused while they are held" \
    grep -q 'too many control clients' "$T/hold"
check "once they are gone a client is served again" wait_for 5 hello
fds_back() { [ "$(dfds)" -le "$base" ]; }
check "the daemon's descriptors are back to $base" wait_for 5 fds_back

check_exit "daemon stop" 0 "$FLEET" daemon stop
e2e_done
