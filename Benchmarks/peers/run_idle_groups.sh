#!/usr/bin/env bash
# Idle cost of many consensus groups: three `quorum server` processes on 127.0.0.1 hosting N groups each, nothing
# happening. Prints, per node, CPU (percent of one core, from /proc utime+stime over the window) and resident
# memory, then the memory per group against a 1-group baseline, and the restart time of one node (until it
# answers for all N groups again).
#
# Usage: Benchmarks/peers/run_idle_groups.sh [QUORUM_BINARY] [GROUPS...]
#   default binary .build-release/release/quorum (swift build -c release --product quorum --scratch-path .build-release)
#   default groups: 1 1000 10000
#   SERVER_ARGS: more arguments for every server (e.g. --placement)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build-release/release/quorum}
shift || true
sizes=("${@:-1 1000 10000}")
[ -x "$binary" ] || { echo "no $binary; build it first (see the usage line)" >&2; exit 1; }
window=${WINDOW:-30}
ticks=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
endpoints=127.0.0.1:27201,127.0.0.1:27202,127.0.0.1:27203
cluster=1=127.0.0.1:27101:27201,2=127.0.0.1:27102:27202,3=127.0.0.1:27103:27203

start() { # id groups
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of words
    "$binary" server --id "$1" --cluster "$cluster" --data-dir "$work/n$1" --groups "$2" --http-port "2730$1" \
        ${SERVER_ARGS:-} >"$work/n$1.log" 2>&1 &
    pids[$1]=$!
}

# Waits until node $1 answers for $2 groups, all of them quiescent when $3 is "quiet".
await_groups() {
    for _ in $(seq 1 1200); do
        local json
        json=$(curl -sf "http://127.0.0.1:2730$1/metrics" 2>/dev/null || true)
        local hosted quiet
        hosted=$(awk -v n="$1" '$1 == "quorum_server_groups{node=\""n"\"}" { print int($2) }' <<<"$json")
        quiet=$(awk -v n="$1" '$1 == "quorum_server_groups_quiescent{node=\""n"\"}" { print int($2) }' <<<"$json")
        if [ "${hosted:-0}" = "$2" ] && { [ "$3" != quiet ] || [ "${quiet:-0}" = "$2" ]; }; then return 0; fi
        sleep 0.25
    done
    echo "node $1 did not reach $2 groups ($3)" >&2
    return 1
}

echo "machine: $(nproc) cores; binary $binary; window ${window}s"
printf '%-8s %-6s %-12s %-10s %-16s %s\n' GROUPS NODE CPU%ONECORE RSS_MIB KIB_PER_GROUP RESTART_S
baseline=()
for groups in ${sizes[*]}; do
    rm -rf "$work"/n*
    for id in 1 2 3; do start "$id" "$groups"; done
    for id in 1 2 3; do await_groups "$id" "$groups" quiet; done
    declare -A before
    for id in 1 2 3; do before[$id]=$(cpu_ticks "${pids[$id]}"); done
    sleep "$window"
    for id in 1 2 3; do
        used=$(( $(cpu_ticks "${pids[$id]}") - before[$id] ))
        cpu=$(awk -v u="$used" -v t="$ticks" -v w="$window" 'BEGIN { printf "%.2f", 100 * u / t / w }')
        rss=$(rss_kib "${pids[$id]}")
        [ "$groups" = 1 ] && baseline[$id]=$rss
        per=$(awk -v r="$rss" -v b="${baseline[$id]:-$rss}" -v g="$groups" 'BEGIN { if (g > 1) printf "%.1f", (r - b) / (g - 1); else print "-" }')
        restart=-
        if [ "$id" = 3 ]; then
            kill -9 "${pids[3]}"
            wait "${pids[3]}" 2>/dev/null || true
            began=$(date +%s.%N)
            start 3 "$groups"
            await_groups 3 "$groups" any
            restart=$(awk -v b="$began" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - b }')
        fi
        printf '%-8s %-6s %-12s %-10s %-16s %s\n' "$groups" "$id" "$cpu" "$((rss / 1024))" "$per" "$restart"
    done
    for id in 1 2 3; do kill -9 "${pids[$id]}" 2>/dev/null || true; wait "${pids[$id]}" 2>/dev/null || true; done
done
