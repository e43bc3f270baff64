# Sourced by the benchmark scripts that start `quorum server` processes of their own: resolves the binary (the
# script's first argument, default .build-release/release/quorum), makes a work directory, and stops every server
# in `pids` gracefully (SIGTERM: exit 0, so that bash reports no killed jobs) and removes the directory on exit.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
binary=${1:-.build-release/release/quorum}
[ -x "$binary" ] || { echo "no $binary; build it first (see the usage line)" >&2; exit 1; }
clients=${CLIENTS:-64}
duration=${DURATION:-10}
work=$(mktemp -d)
pids=()
stop() {
    for pid in "${pids[@]:-}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]:-}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop; rm -rf "$work"' EXIT
