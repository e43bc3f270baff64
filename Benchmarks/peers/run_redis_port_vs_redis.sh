#!/bin/bash
# Quorum's Redis port against a real Redis with the same durability promise, in ONE run, with the SAME generator
# (redis-benchmark): a 3-node Quorum cluster (release build, fresh temp data dirs; writes fsynced on a majority
# before the reply) and one redis-server with appendonly yes + appendfsync always (fsynced before the reply).
# The benchmark runs against the Quorum leader's Redis port, then against redis-server, and both are printed.
# Everything listens on 127.0.0.1 only, every step is bounded by `timeout`, and every process started here is
# stopped by PID (also on Ctrl-C / error, via the EXIT trap); temp data is removed.
#
# Usage (after `swift build -c release --product quorum --scratch-path .build-redis`; needs redis-server and
# redis-benchmark, Debian packages redis-server and redis-tools):
#   Benchmarks/peers/run_redis_port_vs_redis.sh
# Env: N (requests per test, 20000), C (clients, 50), P (pipeline depth, 1), TESTS (set,get; "types" for the
#      data-type rows hset,lpush,lpop,zadd,sadd, each a read-modify-write of one hot key),
#      QUORUM_BIN (default .build-redis/release/quorum), BASE (first port, 27400),
#      EVALSHA (1: also an EVALSHA workload, a read-modify-write script on random keys; needs liblua5.1-0 for Quorum)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${N:-20000}; C=${C:-50}; P=${P:-1}; TESTS=${TESTS:-set,get}; BASE=${BASE:-27400}; EVALSHA=${EVALSHA:-1}
[ "$TESTS" = types ] && TESTS=hset,lpush,lpop,zadd,sadd
QUORUM_BIN=${QUORUM_BIN:-$ROOT/.build-redis/release/quorum}
RUN=$(mktemp -d /tmp/quorum-redis-bench.XXXXXX)
PIDS=()

cleanup() {
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install redis-server redis-tools"; exit 2; }
done
[ -x "$QUORUM_BIN" ] || { echo "no quorum binary at $QUORUM_BIN (build it first, see the usage above)"; exit 2; }

# Waits until `redis-cli -p PORT CMD...` prints something matching PATTERN, for at most 30 s.
await_answer() {
  local port=$1 pattern=$2; shift 2
  for _ in $(seq 1 150); do
    timeout 2 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null | grep -q "$pattern" && return 0
    sleep 0.2
  done
  return 1
}

CLUSTER=""
for id in 1 2 3; do CLUSTER+="${CLUSTER:+,}$id=127.0.0.1:$((BASE + id)):$((BASE + 10 + id))"; done
for id in 1 2 3; do
  "$QUORUM_BIN" server --id "$id" --cluster "$CLUSTER" --data-dir "$RUN/quorum-n$id" \
    --redis-port $((BASE + 20 + id)) >"$RUN/quorum-n$id.log" 2>&1 &
  PIDS+=($!)
done
LEADER=""
for _ in $(seq 1 150); do
  for id in 1 2 3; do
    if timeout 2 redis-cli -h 127.0.0.1 -p $((BASE + 20 + id)) INFO 2>/dev/null | grep -q '^role:master'; then
      LEADER=$((BASE + 20 + id)); break 2
    fi
  done
  sleep 0.2
done
[ -n "$LEADER" ] || { echo "no Quorum leader within 30 s"; tail -n 20 "$RUN"/quorum-n*.log; exit 1; }

mkdir -p "$RUN/redis"
redis-server --bind 127.0.0.1 --port $((BASE + 30)) --dir "$RUN/redis" --appendonly yes --appendfsync always \
  --save "" --daemonize no >"$RUN/redis.log" 2>&1 &
PIDS+=($!)
await_answer $((BASE + 30)) PONG PING || { echo "redis-server did not start"; tail -n 20 "$RUN/redis.log"; exit 1; }

bench() {
  timeout 900 redis-benchmark -h 127.0.0.1 -p "$1" -t "$TESTS" -n "$N" -c "$C" -P "$P" -q 2>&1 |
    tr '\r' '\n' | grep 'requests per second' | sed 's/^ *//'
}
# CPU time (user + system, in clock ticks) of the three Quorum servers so far.
server_ticks() {
  local pid total=0
  for pid in "${PIDS[@]:0:3}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
echo "nproc=$(nproc) $(date -u +%FT%TZ) $(redis-server --version | cut -d' ' -f1-3) n=$N c=$C P=$P tests=$TESTS"
echo "--- Quorum, 3 nodes, Redis port of the leader ($LEADER); then the servers' CPU per test"
for test in ${TESTS//,/ }; do
  before=$(server_ticks)
  TESTS=$test bench "$LEADER"
  ticks=$(( $(server_ticks) - before ))
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$N" -v name="$test" \
    'BEGIN { s = t / hz; printf "  %s: %.2f server core-seconds, %.0f requests per server core-second\n", name, s, (s > 0 ? n / s : 0) }'
done
echo "--- redis-server, appendonly yes, appendfsync always"
bench $((BASE + 30))

# A script as lock and rate-limiter libraries send them: read a key, write it back changed, on 100,000 random keys
# (redis-benchmark puts a random number for __rand_int__), loaded once with SCRIPT LOAD and run by its SHA-1.
SCRIPT="local v = tonumber(redis.call('get', KEYS[1]) or '0') + 1 redis.call('set', KEYS[1], v) return v"
evalsha_bench() {
  local sha
  sha=$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" SCRIPT LOAD "$SCRIPT")
  [[ "$sha" =~ ^[0-9a-f]{40}$ ]] || { echo "SCRIPT LOAD failed: $sha"; return; }
  timeout 900 redis-benchmark -h 127.0.0.1 -p "$1" -n "$N" -c "$C" -P "$P" -r 100000 -q \
    EVALSHA "$sha" 1 'script:__rand_int__' 2>&1 | tr '\r' '\n' | grep 'requests per second' | sed 's/^ *//'
}
if [ "$EVALSHA" = 1 ]; then
  echo "--- EVALSHA read-modify-write script: Quorum leader ($LEADER), then redis-server"
  evalsha_bench "$LEADER"
  evalsha_bench $((BASE + 30))
fi
