#!/bin/sh
# One libFuzzer run, as ctest runs it in a -DKILN_FUZZ=ON build (label fuzz; see
# kiln_fuzz_target in cmake/KilnHelpers.cmake):
#   run-fuzzer.sh FUZZER WORK_DIR SEED_CORPUS [LIBFUZZER_FLAG...]
# Fuzzes for $FUZZ_SECONDS (default 60). An input that runs for 30 s fails the run as a hang
# (libFuzzer's own limit is 20 minutes); LIBFUZZER_FLAGs come later on the command line, so they
# override these defaults. New inputs go to WORK_DIR/corpus, which persists across runs; the
# checked-in SEED_CORPUS is only read. Crash inputs land in WORK_DIR/artifacts. Prints libFuzzer's
# final statistics (executions, executions per second); on failure also the end of the log,
# which is kept in WORK_DIR/log.
set -u
fuzzer=$1
work=$2
seeds=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
"$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" >"$work/log" 2>&1
status=$?
echo "$(basename "$fuzzer"):"
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$work/log"
if [ "$status" -ne 0 ]; then
  tail -n 80 "$work/log"
  echo "$(basename "$fuzzer") failed (exit $status); inputs in $work/artifacts:"
  ls "$work/artifacts"
fi
exit "$status"
