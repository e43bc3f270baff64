#!/bin/bash
# Quorum against etcd in ONE run, with the SAME generator (the shared loadgen.py), as BENCHMARKS.md asks:
#   1. floors (floors.py: fsync and loopback), 2. etcd 3 members (shared start/stop scripts) -> workloads,
#   3. Quorum 3 nodes (release build, fresh temp data dirs) -> the same workloads through quorum_adapter.py,
#   4. floors again, 5. summary table + Quorum/etcd ratios (summarize_vs_etcd.py).
# Everything listens on 127.0.0.1 only, every step is bounded by `timeout`, and every process started here is
# stopped by PID (also on Ctrl-C / error, via the EXIT trap); temp data is removed.
#
# Usage (as root, after the installs in BENCHMARKS.md and
#   swift build -c release --product quorum --scratch-path .build-release):
#   Benchmarks/peers/run_quorum_vs_etcd.sh
# Env: PEERS (shared harness dir, default ../shared/bench/peers from the repo root), REPS (2), DUR (12),
#      WL (seqput,put16,put64,get16; add lock8 to include the transaction-polling mutex), RES (results dir),
#      QUORUM_BIN (default .build-release/release/quorum), VENV (/tmp/benchvenv)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$(cd "$ROOT/../shared/bench/peers" 2>/dev/null && pwd || echo /work/shared/bench/peers)}
REPS=${REPS:-2}; DUR=${DUR:-12}; WL=${WL:-seqput,put16,put64,get16}
QUORUM_BIN=${QUORUM_BIN:-$ROOT/.build-release/release/quorum}
RES=${RES:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"; RES=$(cd "$RES" && pwd)
RUN=$(mktemp -d /tmp/quorum-vs-etcd.XXXXXX)
export ANCHOR_RUN=$RUN/anchors            # the shared scripts keep etcd data, logs and PID files here
source "$PEERS/env.sh"                    # PY, PIDDIR, LOGDIR, ETCD3_ENDPOINTS, wait_port
OUT=$RES/loadgen.jsonl
LG="timeout 900 $PY $PEERS/loadgen.py --duration $DUR --reps $REPS --out $OUT --wait-idle 60 --wait-idle-max 5"

QPIDS=()
Q_CLUSTER=1=127.0.0.1:27101:27201,2=127.0.0.1:27102:27202,3=127.0.0.1:27103:27203
Q_ENDPOINTS=127.0.0.1:27201,127.0.0.1:27202,127.0.0.1:27203

stop_quorum() {
  local pid i
  for pid in "${QPIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${QPIDS[@]}"; do
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "SIGKILL quorum $pid"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  [ ${#QPIDS[@]} -gt 0 ] && echo "stopped quorum pids ${QPIDS[*]}"
  QPIDS=()
}
cleanup() {
  stop_quorum
  "$PEERS/stop_etcd.sh" 3 >/dev/null 2>&1
  cp -r "$LOGDIR" "$RES/logs" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "=== $* $(date -u +%T)" | tee -a "$RES/run.log"; }
[ -x "$QUORUM_BIN" ] || { echo "no quorum binary at $QUORUM_BIN (build it first)"; exit 2; }
echo "nproc=$(nproc) $(date -u +%FT%TZ) reps=$REPS dur=$DUR wl=$WL quorum=$QUORUM_BIN $(etcd --version | head -1)" | tee -a "$RES/run.log"

log floors-1
timeout 300 python3 "$PEERS/floors.py" --dir "$RUN" --json "$RES/floors_1.json" >/dev/null

log etcd3
"$PEERS/start_etcd.sh" 3
$LG --system etcd --endpoints "$ETCD3_ENDPOINTS" --workloads "$WL" --label etcd3 \
  --server-pidfiles "$PIDDIR/etcd3-e1.pid,$PIDDIR/etcd3-e2.pid,$PIDDIR/etcd3-e3.pid" | tee -a "$RES/run.log"
"$PEERS/stop_etcd.sh" 3

log quorum3
for i in 1 2 3; do
  mkdir -p "$RUN/quorum"
  nohup setsid "$QUORUM_BIN" server --id $i --cluster "$Q_CLUSTER" --data-dir "$RUN/quorum/n$i" \
    >"$LOGDIR/quorum-n$i.log" 2>&1 </dev/null &
  QPIDS+=($!); echo $! >"$PIDDIR/quorum-n$i.pid"
done
echo "started quorum pids ${QPIDS[*]}"
for p in 27201 27202 27203; do wait_port $p 30 || exit 1; done
# wait until a leader accepts a write (through the adapter itself, so a failure here is the adapter's too)
timeout 60 $PY - "$HERE/quorum_adapter.py" "$Q_ENDPOINTS" <<'EOF' || { echo "quorum cluster not ready"; exit 1; }
import sys, time
class Adapter:
    def __init__(self, endpoint, opts): self.endpoint, self.opts = endpoint, opts
reg = {}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), {"Adapter": Adapter, "register": lambda c: reg.update(a=c)})
eps = sys.argv[2]
t = time.time()
while True:
    try:
        a = reg["a"](eps.split(",")[0], {"cluster": eps, "timeout": "5"})
        a.put(b"ready-probe-key0", b"x"); assert a.get(b"ready-probe-key0") == b"x"; a.close(); break
    except Exception as e:
        if time.time() - t > 50: raise
        time.sleep(0.5)
print("quorum ready after %.1f s (leader at %s)" % (time.time() - t, a.target))
EOF
$LG --adapter-module "$HERE/quorum_adapter.py" --system quorum --endpoints "$Q_ENDPOINTS" --opt cluster=$Q_ENDPOINTS \
  --workloads "$WL" --label quorum3 \
  --server-pidfiles "$PIDDIR/quorum-n1.pid,$PIDDIR/quorum-n2.pid,$PIDDIR/quorum-n3.pid" | tee -a "$RES/run.log"
stop_quorum

log floors-2
timeout 300 python3 "$PEERS/floors.py" --dir "$RUN" --json "$RES/floors_2.json" >/dev/null

log summary
python3 "$HERE/summarize_vs_etcd.py" "$RES" | tee "$RES/summary.md"
echo "results in $RES"
