#!/bin/bash
# lock8 in ONE run (BENCHMARKS.md): 8 clients contend on one mutex, one op = acquire + release.
#   1. etcd, 3 members: python-etcd3's Lock recipe through the shared loadgen.py (its `lock8` workload);
#   2. ZooKeeper, 3 members: kazoo's Lock recipe, the same way;
#   3. Quorum, 3 nodes (release build): its own lock recipe with fencing tokens, through `quorum bench --workload
#      lock --clients 8` (the Swift client; loadgen's Python adapter has no Quorum lock recipe).
# The generators differ, but neither is near its limit at these rates (loadgen tops out near 4,500 ops/s).
# Everything listens on 127.0.0.1; every process started here is stopped by PID, also on error (EXIT trap).
#
# Usage (as root, after the installs in BENCHMARKS.md and
#   swift build -c release --product quorum --scratch-path .build-release):
#   Benchmarks/peers/run_lock8.sh
# Env: PEERS (shared harness dir), DUR (12 s), QUORUM_BIN (.build-release/release/quorum), VENV (/tmp/benchvenv)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$(cd "$ROOT/../shared/bench/peers" 2>/dev/null && pwd || echo /work/shared/bench/peers)}
DUR=${DUR:-12}
QUORUM_BIN=${QUORUM_BIN:-$ROOT/.build-release/release/quorum}
RUN=$(mktemp -d /tmp/quorum-lock8.XXXXXX)
export ANCHOR_RUN=$RUN/anchors
source "$PEERS/env.sh"                    # PY, PIDDIR, LOGDIR, ETCD3_ENDPOINTS, wait_port

QPIDS=()
Q_CLUSTER=1=127.0.0.1:27101:27201,2=127.0.0.1:27102:27202,3=127.0.0.1:27103:27203
Q_ENDPOINTS=127.0.0.1:27201,127.0.0.1:27202,127.0.0.1:27203
cleanup() {
  local pid
  for pid in "${QPIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  "$PEERS/stop_etcd.sh" 3 >/dev/null 2>&1
  "$PEERS/stop_zk.sh" >/dev/null 2>&1
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -x "$QUORUM_BIN" ] || { echo "no quorum binary at $QUORUM_BIN (build it first)"; exit 2; }
echo "nproc=$(nproc) $(date -u +%FT%TZ) dur=$DUR $(etcd --version | head -1)"

echo "=== etcd, 3 members: python-etcd3 Lock"
"$PEERS/start_etcd.sh" 3
timeout 300 $PY "$PEERS/loadgen.py" --system etcd --endpoints "$ETCD3_ENDPOINTS" --workloads lock8 \
  --duration "$DUR" --reps 1 --label etcd3 --out "$RUN/etcd.jsonl" \
  --server-pidfiles "$PIDDIR/etcd3-e1.pid,$PIDDIR/etcd3-e2.pid,$PIDDIR/etcd3-e3.pid"
"$PEERS/stop_etcd.sh" 3

echo "=== ZooKeeper, 3 members: kazoo Lock"
"$PEERS/start_zk.sh"
timeout 300 $PY "$PEERS/loadgen.py" --system zookeeper --endpoints "$ZK3_HOSTS" --workloads lock8 \
  --duration "$DUR" --reps 1 --label zk3 --out "$RUN/zk.jsonl" \
  --server-pidfiles "$PIDDIR/zk1.pid,$PIDDIR/zk2.pid,$PIDDIR/zk3.pid"
"$PEERS/stop_zk.sh"

echo "=== Quorum, 3 nodes: its lock recipe"
for i in 1 2 3; do
  nohup setsid "$QUORUM_BIN" server --id $i --cluster "$Q_CLUSTER" --data-dir "$RUN/quorum/n$i" \
    >"$LOGDIR/quorum-n$i.log" 2>&1 </dev/null &
  QPIDS+=($!)
done
for p in 27201 27202 27203; do wait_port $p 30 || exit 1; done
timeout 60 "$QUORUM_BIN" put --endpoints "$Q_ENDPOINTS" --timeout 50 ready yes >/dev/null || exit 1
timeout 120 "$QUORUM_BIN" bench --endpoints "$Q_ENDPOINTS" --workload lock --clients 8 --duration "$DUR" \
  --server-pids "$(IFS=,; echo "${QPIDS[*]}")"
