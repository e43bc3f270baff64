#!/usr/bin/env bash
# Shared fsync across groups: three `quorum server` processes on 127.0.0.1 hosting 8 groups; `quorum bench`
# puts from 64 clients, first all on group 1, then spread over the 8 groups, in the same run. Prints throughput,
# latency and the log syncs per acknowledged write (all three nodes' fdatasyncs, from /metrics, over the writes),
# and how many syncs one log per group would have needed for the same writes (a sync per group it made durable).
#
# Usage: [COLOCATE=1] [GROUP_COUNTS="1 2 4 8"] Benchmarks/peers/run_shared_fsync.sh [QUORUM_BINARY]
#   GROUP_COUNTS: the numbers of groups the clients are spread over, one run each (default "1 8")
#   default binary .build-release/release/quorum (swift build -c release --product quorum --scratch-path .build-release)
set -euo pipefail
source "$(dirname "$0")/cluster.sh"
cluster=1=127.0.0.1:27101:27201,2=127.0.0.1:27102:27202,3=127.0.0.1:27103:27203
for id in 1 2 3; do
    "$binary" server --id "$id" --cluster "$cluster" --data-dir "$work/n$id" --groups 8 --http-port "2730$id" \
        >"$work/n$id.log" 2>&1 &
    pids[$id]=$!
done
# The sum over the three nodes of a metric from /metrics.
summed() {
    local total=0
    for id in 1 2 3; do
        local count
        count=$(curl -sf "http://127.0.0.1:2730$id/metrics" | awk -v m="$1" '$1 ~ "^" m { print int($2) }')
        total=$((total + ${count:-0}))
    done
    echo "$total"
}
syncs() { summed quorum_disk_wal_fsync_duration_seconds_count; }
group_syncs() { summed quorum_disk_wal_group_writes_synced_total; }
until [ "$(curl -sf http://127.0.0.1:27301/metrics | awk '/^quorum_server_groups\{/ { print int($2) }')" = 8 ]; do sleep 0.2; done
export QUORUM_ENDPOINTS=127.0.0.1:27201,127.0.0.1:27202,127.0.0.1:27203
# Every group elects first: a write to each.
for group in 1 2 3 4 5 6 7 8; do "$binary" put --group "$group" warmup 1 >/dev/null; done
# COLOCATE=1 moves every group's leadership to node 1, so that one node leads and two follow, as with one group.
if [ "${COLOCATE:-0}" = 1 ]; then
    for group in 1 2 3 4 5 6 7 8; do "$binary" cluster transfer 1 --group "$group" >/dev/null || true; done
    sleep 1
fi
echo "machine: $(nproc) cores; $clients clients, ${duration}s per run"
for groups in ${GROUP_COUNTS:-1 8}; do
    before=$(syncs)
    group_before=$(group_syncs)
    out=$("$binary" bench --workload put --clients "$clients" --duration "$duration" --groups "$groups" \
        --server-pids "${pids[1]},${pids[2]},${pids[3]}" 2>/dev/null)
    after=$(syncs)
    group_after=$(group_syncs)
    writes=$(awk '$1 == "put" { print $3 }' <<<"$out")
    echo "groups=$groups"
    echo "$out"
    awk -v s="$((after - before))" -v w="$writes" 'BEGIN { printf "log syncs per write (3 nodes): %.3f (%d syncs, %d writes)\n", s / w, s, w }'
    awk -v g="$((group_after - group_before))" -v w="$writes" -v s="$((after - before))" \
        'BEGIN { printf "syncs per write with a log per group: %.3f (%.2f groups per sync)\n\n", g / w, g / s }'
done
