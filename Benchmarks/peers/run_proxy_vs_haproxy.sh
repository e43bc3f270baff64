#!/bin/bash
# `quorum proxy --mode http` against HAProxy in ONE run, in front of the SAME backends, with the SAME generator:
# three HTTPBenchBackend processes (a tiny SwiftNIO server, Benchmarks/Sources/HTTPBenchBackend) registered in a
# 3-node Quorum cluster; `quorum proxy --mode http --policy round-robin` and HAProxy (mode http, roundrobin,
# keep-alive to the backends) in front of them; `wrk -t2 -c50 -d10s --latency` through each in turn. Prints
# requests/s and p99 of both and their ratios.
# Everything listens on 127.0.0.1 only, every wait is bounded, and every process started here is stopped by PID
# (also on Ctrl-C / error, via the EXIT trap); temp data is removed. It installs nothing.
#
# Usage, as root (needs haproxy and wrk: apt-get install -y --no-install-recommends haproxy wrk):
#   swift build -c release --product quorum --scratch-path .build-release
#   swift build -c release --package-path Benchmarks --product HTTPBenchBackend
#   Benchmarks/peers/run_proxy_vs_haproxy.sh
# Env: DURATION (10s), CONNECTIONS (50), THREADS (2), BASE (first port, 27600),
#      QUORUM_BIN (default .build-release/release/quorum), BACKEND_BIN (default Benchmarks/.build/release/HTTPBenchBackend)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-50}; THREADS=${THREADS:-2}; BASE=${BASE:-27600}
QUORUM_BIN=${QUORUM_BIN:-$ROOT/.build-release/release/quorum}
BACKEND_BIN=${BACKEND_BIN:-$ROOT/Benchmarks/.build/release/HTTPBenchBackend}
RUN=$(mktemp -d /tmp/quorum-proxy-bench.XXXXXX)
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

for tool in haproxy wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y --no-install-recommends haproxy wrk curl"; exit 2; }
done
[ -x "$QUORUM_BIN" ] || { echo "no quorum binary at $QUORUM_BIN (build it first, see the usage above)"; exit 2; }
[ -x "$BACKEND_BIN" ] || { echo "no backend binary at $BACKEND_BIN (build it first, see the usage above)"; exit 2; }

# Waits until URL answers 200, for at most 30 s.
await_http() {
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

BACKENDS=()
for i in 1 2 3; do
  port=$((BASE + 40 + i))
  "$BACKEND_BIN" "$port" "b$i" >"$RUN/backend$i.log" 2>&1 &
  PIDS+=($!)
  BACKENDS+=("127.0.0.1:$port")
done
for address in "${BACKENDS[@]}"; do await_http "http://$address/" || { echo "backend $address did not start"; exit 1; }; done

CLUSTER=""; ENDPOINTS=""
for id in 1 2 3; do
  CLUSTER+="${CLUSTER:+,}$id=127.0.0.1:$((BASE + id)):$((BASE + 10 + id))"
  ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$((BASE + 10 + id))"
done
for id in 1 2 3; do
  "$QUORUM_BIN" server --id "$id" --cluster "$CLUSTER" --data-dir "$RUN/quorum-n$id" >"$RUN/quorum-n$id.log" 2>&1 &
  PIDS+=($!)
done
# Registrations last as long as the `quorum service register` process that keeps their lease alive.
for i in 1 2 3; do
  for _ in $(seq 1 150); do
    timeout 5 "$QUORUM_BIN" cluster status --endpoints "$ENDPOINTS" 2>/dev/null | grep -q leader && break
    sleep 0.2
  done
  "$QUORUM_BIN" service register web "b$i" "${BACKENDS[$((i - 1))]}" --endpoints "$ENDPOINTS" >"$RUN/register$i.log" 2>&1 &
  PIDS+=($!)
done

PROXY=127.0.0.1:$((BASE + 50)); ADMIN=$((BASE + 51))
"$QUORUM_BIN" proxy web --listen "$PROXY" --mode http --policy round-robin --admin-port "$ADMIN" \
  --endpoints "$ENDPOINTS" >"$RUN/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=($PROXY_PID)
# The proxy serves once it knows all three instances.
for _ in $(seq 1 150); do
  [ "$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN/stats" | grep -o '"address"' | wc -l)" = 3 ] && break
  sleep 0.2
done
await_http "http://$PROXY/" || { echo "quorum proxy did not start"; tail -n 20 "$RUN"/proxy.log "$RUN"/register*.log; exit 1; }

HAPROXY=127.0.0.1:$((BASE + 60))
{
  printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  option http-keep-alive\n'
  printf '  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n'
  printf 'frontend web\n  bind %s\n  default_backend web\n' "$HAPROXY"
  printf 'backend web\n  balance roundrobin\n  http-reuse always\n'
  for i in 1 2 3; do printf '  server b%s %s\n' "$i" "${BACKENDS[$((i - 1))]}"; done
} >"$RUN/haproxy.cfg"
haproxy -f "$RUN/haproxy.cfg" -db >"$RUN/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)
await_http "http://$HAPROXY/" || { echo "haproxy did not start"; tail -n 20 "$RUN/haproxy.log"; exit 1; }

# CPU time (user + system, all threads) a process has used so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wrk's --latency report: "Requests/sec: N" and a "99% T" line with a unit (us, ms, s); the proxy's CPU over the
# run divided by the requests wrk completed. Prints "rps p99_ms cpu_us_per_request".
bench() {
  local before after
  before=$(cpu_ticks "$3")
  timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://$1/" >"$RUN/wrk-$2.txt" 2>&1
  after=$(cpu_ticks "$3")
  cat "$RUN/wrk-$2.txt" >&2
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
       /requests in/ { requests = $1 }
       /Requests\/sec/ { rps = $2 }
       $1 == "99%" { v = $2; unit = v; gsub(/[0-9.]/, "", unit); gsub(/[a-z]/, "", v)
                     p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v }
       END { printf "%s %.3f %.1f\n", rps, p99, ticks / hz * 1e6 / requests }' "$RUN/wrk-$2.txt"
}
echo "nproc=$(nproc) $(date -u +%FT%TZ) $(haproxy -v | head -1 | cut -d' ' -f1-3) wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "--- quorum proxy --mode http (round-robin)"
read -r QRPS QP99 QCPU < <(bench "$PROXY" quorum "$PROXY_PID")
echo "--- haproxy (roundrobin, http-keep-alive)"
read -r HRPS HP99 HCPU < <(bench "$HAPROXY" haproxy "$HAPROXY_PID")
echo "--- per-backend counters from the proxy's admin endpoint"
curl -s "http://127.0.0.1:$ADMIN/stats"; echo
printf '%-22s %12s %10s %16s\n' "" "requests/s" "p99 ms" "CPU µs/request"
printf '%-22s %12s %10s %16s\n' "quorum proxy" "$QRPS" "$QP99" "$QCPU"
printf '%-22s %12s %10s %16s\n' "haproxy" "$HRPS" "$HP99" "$HCPU"
awk -v q="$QRPS" -v h="$HRPS" -v qp="$QP99" -v hp="$HP99" \
  'BEGIN { printf "throughput ratio quorum/haproxy: %.2f   p99 ratio quorum/haproxy: %.2f\n", q / h, qp / hp }'
