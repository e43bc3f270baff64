#!/usr/bin/env bash
# What TLS costs: three `quorum server` processes on 127.0.0.1 (fsync on every node), first without TLS, then with
# mutual TLS between peers and TLS on the client port; each time `quorum bench` puts and linearizable gets from 64
# clients, with the servers' CPU per operation. The same binary, machine and settings, one after the other (ROUNDS
# times, alternating, to spread the machine's noise over both).
#
# Usage: [CLIENTS=64] [DURATION=10] [ROUNDS=2] Benchmarks/peers/run_tls.sh [QUORUM_BINARY]
#   default binary .build-release/release/quorum (swift build -c release --product quorum --scratch-path .build-release)
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
SERVER_NAMES="IP:127.0.0.1" scripts/peer-certificates.sh "$work/certificates" 1 2 3
cluster=1=127.0.0.1:28101:28201,2=127.0.0.1:28102:28202,3=127.0.0.1:28103:28203
export QUORUM_ENDPOINTS=127.0.0.1:28201,127.0.0.1:28202,127.0.0.1:28203
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $clients clients, ${duration}s per run"
for round in $(seq "${ROUNDS:-2}"); do
    for mode in plain tls; do
        client_tls=()
        for id in 1 2 3; do
            tls=()
            if [ "$mode" = tls ]; then
                certificate="$work/certificates/node-$id"
                tls=(--peer-cert "$certificate.pem" --peer-key "$certificate.key" --peer-ca "$work/certificates/ca.pem"
                    --tls-cert "$certificate.pem" --tls-key "$certificate.key")
                client_tls=(--tls-ca "$work/certificates/ca.pem")
            fi
            "$binary" server --id "$id" --cluster "$cluster" --data-dir "$work/$mode-$round/n$id" "${tls[@]}" \
                >"$work/$mode-$round-n$id.log" 2>&1 &
            pids[$id]=$!
        done
        until "$binary" put warmup 1 "${client_tls[@]}" >/dev/null 2>&1; do sleep 0.2; done
        echo "== round $round: $mode"
        for workload in put get; do
            "$binary" bench --workload "$workload" --clients "$clients" --duration "$duration" "${client_tls[@]}" \
                --server-pids "${pids[1]},${pids[2]},${pids[3]}" 2>/dev/null
        done
        stop
    done
done
