#!/usr/bin/env bash
# Raft against Multi-Paxos on real processes: for each engine, three `quorum server --consensus ENGINE` processes on
# 127.0.0.1 (fsync on every node), then `quorum bench` puts and linearizable gets from 64 clients, with the servers'
# CPU per operation. The same binary, machine and settings for both, one after the other.
#
# Usage: [CLIENTS=64] [DURATION=10] [ENGINES="raft paxos"] Benchmarks/peers/run_engines.sh [QUORUM_BINARY]
#   default binary .build-release/release/quorum (swift build -c release --product quorum --scratch-path .build-release)
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
cluster=1=127.0.0.1:28101:28201,2=127.0.0.1:28102:28202,3=127.0.0.1:28103:28203
export QUORUM_ENDPOINTS=127.0.0.1:28201,127.0.0.1:28202,127.0.0.1:28203
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $clients clients, ${duration}s per run"
for engine in ${ENGINES:-raft paxos}; do
    for id in 1 2 3; do
        "$binary" server --id "$id" --cluster "$cluster" --data-dir "$work/$engine/n$id" --consensus "$engine" \
            >"$work/$engine-n$id.log" 2>&1 &
        pids[$id]=$!
    done
    until "$binary" put warmup 1 >/dev/null 2>&1; do sleep 0.2; done
    echo "== $engine"
    for workload in put get; do
        "$binary" bench --workload "$workload" --clients "$clients" --duration "$duration" \
            --server-pids "${pids[1]},${pids[2]},${pids[3]}" 2>/dev/null
    done
    stop
done
