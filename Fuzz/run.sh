#!/usr/bin/env bash
# Builds every libFuzzer target (Fuzz/Package.swift) with the fuzzer and AddressSanitizer, then runs each for the given
# number of seconds (default 10), one after another, starting from its corpus in Fuzz/Corpus/<target>/.
# Exits non-zero if any target finds an input that crashes, traps or breaks an invariant; that input is saved in the
# target's corpus directory (crash-*, oom-*, timeout-*), where QuorumFuzzingTests replays it: it is the regression test.
# New inputs found along the way go to Fuzz/.build/corpus/<target>/, never into the committed corpus.
#
#   bash Fuzz/run.sh            # 10 s per target
#   bash Fuzz/run.sh 600        # ten minutes per target
#   FUZZ_TARGETS="FuzzRESP FuzzHTTPFramer" bash Fuzz/run.sh 3600
set -euo pipefail
cd "$(dirname "$0")"
export SWIFT_DETERMINISTIC_HASHING=1
# Swift's backtracer would catch a trap before libFuzzer does, and AddressSanitizer then reports the backtracer's own
# reads instead of the trap. (A release build drops precondition messages: `swift test` replays the input with them.)
export SWIFT_BACKTRACE=enable=no
seconds="${1:-10}"

# Target and the longest input it is given: enough for every seed (a frame, a snapshot, a log segment or a JSON body)
# with room to grow; longer inputs only slow the search down.
targets=(
    FuzzFrameStream:8192 FuzzPeerMessages:4096 FuzzPeerControl:256 FuzzClientRequest:4096 FuzzClientResponse:8192
    FuzzRESP:4096 FuzzHTTPFramer:4096 FuzzHTTPBodies:2048 FuzzStoreCommand:4096 FuzzStoreSnapshot:4096
    FuzzSnapshotFile:4096 FuzzWALRecovery:8192
)
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    selected=()
    for entry in "${targets[@]}"; do
        for wanted in $FUZZ_TARGETS; do [[ "${entry%%:*}" == "$wanted" ]] && selected+=("$entry"); done
    done
    targets=("${selected[@]}")
fi

# lld: gold fails with an internal error on the sanitized link.
build_flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
for entry in "${targets[@]}"; do
    echo "== build ${entry%%:*}"
    swift build "${build_flags[@]}" --product "${entry%%:*}" 2>&1 | grep -vE '^\[|unhandled; explicitly|CMakeLists.txt$' || true
    test -x ".build/release/${entry%%:*}" || { echo "building ${entry%%:*} failed" >&2; exit 1; }
done

failed=()
for entry in "${targets[@]}"; do
    target="${entry%%:*}"
    max_len="${entry##*:}"
    corpus="Corpus/$target"
    scratch=".build/corpus/$target"
    mkdir -p "$scratch" "$corpus"
    echo "== fuzz $target for ${seconds}s"
    log=".build/corpus/$target.log"
    # Only the first directory is written to; the committed corpus is read.
    if ".build/release/$target" "$scratch" "$corpus" -max_total_time="$seconds" -max_len="$max_len" \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$corpus/" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "$log" || true
    else
        failed+=("$target")
        tail -n 40 "$log"
        echo "!! $target failed; the input is saved as:" >&2
        grep -E 'Test unit written to|artifact_prefix' "$log" >&2 || echo "(no input saved; see Fuzz/$log)" >&2
    fi
done

# The last line in the form CI reads a test count from.
if ((${#failed[@]} > 0)); then
    echo "fuzzing found failures in: ${failed[*]}; QuorumFuzzingTests replays the saved inputs" >&2
    echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
    exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
