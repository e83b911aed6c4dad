# Sourced by scripts/fuzz-device.sh and scripts/fuzz-link.sh: one libFuzzer
# run of a QEMU fuzz target and its report.
#
# fuzz_run PREFIX BIN TARGET DIR SECONDS MAX_LEN DICT SEEDS REPRO_ENV
#   runs BIN --fuzz-target=TARGET for SECONDS on DIR/corpus/NAME (kept
#   between runs) and SEEDS, with artifacts in DIR/crashes/NAME/ (those of
#   earlier runs are moved to DIR/crashes/NAME/earlier/ first), its
#   output in DIR/NAME.log and its wall time in DIR/NAME.seconds, where
#   NAME is TARGET without a "generic-fuzz-" prefix.  Prints what it ran,
#   the figures and one reproducer line per crash, timeout or oom file
#   (REPRO_ENV: extra environment for that line); returns 1 if there was
#   any, or if libFuzzer exited with an error.
#
# Every sanitizer report is a crash (libFuzzer records the input).  Leak
# checking is off: QEMU's per-input work (qtest command buffers, a machine
# reset) frees what it allocates only later or at exit, so every input
# would count as a leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

fuzz_run() {
    local prefix=$1 bin=$2 target=$3 dir=$4 seconds=$5 max_len=$6 dict=$7
    local seeds=$8 repro_env=$9
    local name=${target#generic-fuzz-}
    local corpus=$dir/corpus/$name crashes=$dir/crashes/$name
    local log=$dir/$name.log top
    local start end rc last execs speed f found=0

    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    rm -f "$dir/$name.seconds"
    mkdir -p "$corpus" "$crashes"
    # A run reports what it found itself: artifacts of earlier runs are
    # kept, one level down, out of its report and its results.
    for f in "$crashes"/crash-* "$crashes"/timeout-* "$crashes"/oom-* \
             "$crashes"/leak-*; do
        [ -e "$f" ] || continue
        mkdir -p "$crashes/earlier"
        mv -f "$f" "$crashes/earlier/"
        echo "$prefix: $name: ${f#"$top"/} is from an earlier run:" \
             "moved to ${crashes#"$top"/}/earlier/"
    done
    echo "$prefix: $target for ${seconds}s (log: ${log#"$top"/})"
    start=$(date +%s)
    # -timeout=25, OSS-Fuzz's default: the generic fuzzer itself slows
    # down with every DMA access of an input (its fuzz_dma_read_cb() walks
    # the regions seen so far), and a 10 s limit flagged a 7 s input
    # spending 94 % of its time there, not in QEMU.
    "$bin" --fuzz-target="$target" \
        -max_total_time="$seconds" -timeout=25 -max_len="$max_len" \
        -print_final_stats=1 -dict="$dict" -artifact_prefix="$crashes/" \
        "$corpus" "$seeds" > "$log" 2>&1
    rc=$?
    end=$(date +%s)
    echo $((end - start)) > "$dir/$name.seconds"
    last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "$prefix: $name: exit $rc after $((end - start))s," \
         "${execs:-?} executions, ${speed:-?} exec/s"
    echo "$prefix: $name: last status: ${last:-none}"
    for f in "$crashes"/crash-* "$crashes"/timeout-* "$crashes"/oom-* \
             "$crashes"/leak-*; do
        [ -e "$f" ] || continue
        found=1
        echo "$prefix: $name: ${f#"$top"/}; reproduce with:"
        echo "  ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS" \
             "${repro_env:+$repro_env }${bin#"$top"/}" \
             "--fuzz-target=$target ${f#"$top"/}"
    done
    if [ $found = 1 ] || [ $rc != 0 ]; then
        [ $found = 1 ] || tail -n 30 "$log"
        return 1
    fi
    return 0
}
