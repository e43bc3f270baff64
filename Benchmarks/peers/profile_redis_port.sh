#!/bin/bash
# A CPU profile of the Redis port's leader under redis-benchmark SET, then GET: three `quorum server` processes on
# 127.0.0.1 (release build, fresh temp data directories), `perf record` on the leader's process while
# redis-benchmark runs against it; prints each run's rate and where the leader's samples fell (by object, then the
# top symbols). Every process started here is stopped on exit.
#
# Usage (needs perf and redis-benchmark: Debian packages linux-perf and redis-tools):
#   Benchmarks/peers/profile_redis_port.sh [QUORUM_BINARY]   (default .build-release/release/quorum)
set -u
cd "$(dirname "$0")/../.."
Q=${1:-.build-release/release/quorum}
[ -x "$Q" ] || { echo "no $Q; swift build -c release --product quorum --scratch-path .build-release" >&2; exit 1; }
W=$(mktemp -d)
C=1=127.0.0.1:28501:28601,2=127.0.0.1:28502:28602,3=127.0.0.1:28503:28603
pids=()
for i in 1 2 3; do
    "$Q" server --id $i --cluster $C --data-dir "$W/d$i" --redis-port 2870$i >"$W/l$i" 2>&1 &
    pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$W"' EXIT
QUORUM_ENDPOINTS=127.0.0.1:28601,127.0.0.1:28602,127.0.0.1:28603 timeout 20 "$Q" put warm-up 1 >/dev/null
L=
for i in 1 2 3; do
    [ "$(redis-cli -p 2870$i info | tr -d '\r' | grep '^role:')" = "role:master" ] && L=$i
done
[ -n "$L" ] || { echo "no leader" >&2; exit 1; }
echo "leader: node $L (pid ${pids[$((L - 1))]})"
for test in set get; do
    perf record -F 999 -p "${pids[$((L - 1))]}" -o "$W/perf.$test" -- sleep 6 >/dev/null 2>&1 &
    recorder=$!
    sleep 0.5
    redis-benchmark -p 2870$L -t $test -n 60000 -c 50 -q 2>/dev/null | tr '\r' '\n' | grep "per second" | tail -1
    wait $recorder
    echo "--- $test: the leader's samples by object, then by symbol"
    perf report -i "$W/perf.$test" --no-children --sort dso --stdio 2>/dev/null | grep "%" | head -6
    perf report -i "$W/perf.$test" --no-children --sort symbol --stdio 2>/dev/null | grep "%" | head -14 | cut -c1-120
done
