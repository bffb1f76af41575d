#!/bin/bash
# Runs one auctionbench scenario against a fresh database and a freshly started server, as every
# number in BENCHMARKS.md was measured:
#
#   go build -o /tmp/srv . && go build -o /tmp/bench ./cmd/auctionbench
#   cmd/auctionbench/scripts/runbench.sh hot -duration 15s
#
# SRV and BENCH name the binaries (default /tmp/srv, /tmp/bench); PGURL the PostgreSQL server
# (default postgres://postgres@127.0.0.1:5432, trust auth), on which database "bench" is dropped
# and made again. The server listens on :3800, with pprof on 127.0.0.1:6060; its log goes to
# /tmp/srv.log. Extra arguments go to the bench after -url and -pid. REPEAT=N runs it N times,
# each with a fresh database and server.
set -u
SRV=${SRV:-/tmp/srv}
BENCH=${BENCH:-/tmp/bench}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
REPEAT=${REPEAT:-1}

# run_once runs the scenario once against a fresh database and server, and returns the bench's
# exit status.
run_once() {
	psql -q "$PGURL/postgres" -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' >/dev/null || return 1
	RATE_LIMITS=off PORT=3800 DEBUG_ADDR=127.0.0.1:6060 DATABASE_URL="$PGURL/bench?sslmode=disable" \
		"$SRV" >/tmp/srv.log 2>&1 &
	local pid=$!
	for _ in $(seq 100); do curl -sf http://127.0.0.1:3800/healthz >/dev/null && break; sleep 0.1; done
	"$BENCH" -url http://127.0.0.1:3800 -pid $pid "$@"
	local rc=$?
	kill -TERM $pid
	wait $pid
	return $rc
}

if [ "$REPEAT" = 1 ]; then
	run_once "$@"
	exit $?
fi
# On two shared cores one run can be 15 % off the next: REPEAT=N runs the scenario N times,
# each against a fresh database and server, and exits with the first non-zero status.
RC=0
for i in $(seq "$REPEAT"); do
	echo "== run $i of $REPEAT"
	run_once "$@"
	R=$?
	echo "== run $i of $REPEAT: exit status $R"
	[ $RC = 0 ] && RC=$R
done
exit $RC
