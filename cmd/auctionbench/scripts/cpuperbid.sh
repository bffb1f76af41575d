#!/bin/bash
# Splits the CPU that bids cost among the server, PostgreSQL and the load tool, each into user
# and kernel time, while a runbench.sh scenario bids against the server on :3800:
#
#   cmd/auctionbench/scripts/runbench.sh many -duration 20s > /tmp/many.log &
#   sleep 25   # past the sign-up, into the bidding (the log says "bidding for …")
#   cmd/auctionbench/scripts/cpuperbid.sh 8
#
# It reads /proc/PID/stat of the server (SRV, default /tmp/srv), of the tool (BENCH, default
# /tmp/bench) and of every process of the postgres user, and the server's auction_bids_total,
# at the start and the end of the window (default 8 s), and prints microseconds of CPU per
# processed bid. Kernel time is where the loopback frames are paid for: a write also does the
# receiver's TCP work. On two cores, N bids/s leave 2,000,000 / N µs per bid for everything.
set -eu
SRV=${SRV:-/tmp/srv}
BENCH=${BENCH:-/tmp/bench}
WINDOW=${1:-8}
srv=$(pgrep -f "^$SRV( |$)" | head -1)
tool=$(pgrep -f "^$BENCH( |$)" | head -1)
if [ -z "$srv" ] || [ -z "$tool" ]; then
	echo "cpuperbid: no running $SRV or $BENCH" >&2
	exit 1
fi

# snapshot prints: time, server user and system ticks, tool user and system ticks, postgres
# user and system ticks, processed bids.
snapshot() {
	local pu=0 ps=0 p u s
	for p in $(pgrep -u postgres); do
		read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo 0 0)
		pu=$((pu + u)) ps=$((ps + s))
	done
	echo "$(date +%s.%N) $(awk '{print $14, $15}' "/proc/$srv/stat") $(awk '{print $14, $15}' "/proc/$tool/stat") $pu $ps" \
		"$(curl -sf 127.0.0.1:3800/metrics | awk '/^auction_bids_total/ {n += $2} END {printf "%d", n}')"
}

a=$(snapshot)
sleep "$WINDOW"
b=$(snapshot)
awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	split(a, x); split(b, y)
	bids = y[8] - x[8]
	if (bids <= 0) { print "cpuperbid: no bids in the window" > "/dev/stderr"; exit 1 }
	us = 1e6 / hz / bids
	printf "%.0f bids/s; µs of CPU per bid (user + kernel):\n", bids / (y[1] - x[1])
	printf "  server      %6.1f + %5.1f\n", (y[2] - x[2]) * us, (y[3] - x[3]) * us
	printf "  PostgreSQL  %6.1f + %5.1f\n", (y[6] - x[6]) * us, (y[7] - x[7]) * us
	printf "  tool        %6.1f + %5.1f\n", (y[4] - x[4]) * us, (y[5] - x[5]) * us
	all = 0; for (i = 2; i <= 7; i++) all += y[i] - x[i]
	printf "  in all      %6.1f\n", all * us
	# The kernel'"'"'s and PostgreSQL'"'"'s share: what bids would still cost if the server'"'"'s and the
	# tool'"'"'s own code cost nothing.
	printf "  all but the server'"'"'s and the tool'"'"'s user time: %.1f\n", ((y[3] - x[3]) + (y[5] - x[5]) + (y[6] - x[6]) + (y[7] - x[7])) * us
}'
