#!/bin/bash
# Measures the auction page with wrk against a fresh database and server, as BENCHMARKS.md did:
# one user and one auction are made through the JSON API, then
#   wrk -t2 -c64 -d15s --latency http://127.0.0.1:3800/auctions/1
# SRV and PGURL as in runbench.sh; DUR changes the 15 s.
set -u
SRV=${SRV:-/tmp/srv}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
BASE=http://127.0.0.1:3800
psql -q "$PGURL/postgres" -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench' >/dev/null || exit 1
RATE_LIMITS=off PORT=3800 DEBUG_ADDR=127.0.0.1:6060 DATABASE_URL="$PGURL/bench?sslmode=disable" \
	"$SRV" >/tmp/srv.log 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf $BASE/healthz >/dev/null && break; sleep 0.1; done
json='Content-Type: application/json'
curl -sf -X POST $BASE/api/v1/users -H "$json" -d '{"username":"ann","password":"password123"}' >/dev/null
TOKEN=$(curl -sf -X POST $BASE/api/v1/sessions -H "$json" -d '{"username":"ann","password":"password123"}' |
	sed 's/.*"token":"\([^"]*\)".*/\1/')
ENDS=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
curl -sf -X POST $BASE/api/v1/auctions -H "Authorization: Bearer $TOKEN" -H "$json" \
	-d "{\"title\":\"Lamp\",\"description\":\"A fine lamp\",\"starting_price\":\"10.00\",\"ends_at\":\"$ENDS\"}" >/dev/null
wrk -t2 -c64 -d"${DUR:-15s}" --latency $BASE/auctions/1
kill -TERM $PID
wait $PID
