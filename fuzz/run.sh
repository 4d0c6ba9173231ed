#!/usr/bin/env bash
# Usage: fuzz/run.sh <build-dir> <seconds>
# Runs every libFuzzer harness <build-dir>/fuzz/fuzz_<reader> for <seconds> on a scratch copy of
# its seed corpus (fuzz/corpus-work/<reader>, never the committed fuzz/corpus/<reader>), and
# fails if any harness crashes, leaks, times out or allocates more than 256 MB at once (inputs
# are a few KB, so a large allocation is a bug). Findings stay in fuzz/corpus-work/<reader>/.
set -euo pipefail

build=${1:?usage: fuzz/run.sh <build-dir> <seconds>}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$here/corpus-work

shopt -s nullglob
harnesses=("$build"/fuzz/fuzz_*)
if [ ${#harnesses[@]} -eq 0 ]; then
  echo "fuzz/run.sh: no harnesses in $build/fuzz (configure with -DKINEMA_FUZZ=ON)" >&2
  exit 1
fi

status=0
for harness in "${harnesses[@]}"; do
  [ -x "$harness" ] || continue
  reader=$(basename "$harness")
  reader=${reader#fuzz_}
  dir=$work/$reader
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$here/corpus/$reader"/* "$dir/corpus/"
  echo "fuzz_$reader: ${seconds}s on $(ls "$dir/corpus" | wc -l) seeds"
  # UBSan reports must stop the run (the default only prints and carries on).
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$harness" "$dir/corpus" -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=256 \
      -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
      >"$dir/log" 2>&1; then
    echo "fuzz_$reader: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$') runs, corpus $(ls "$dir/corpus" | wc -l) inputs"
  else
    echo "fuzz_$reader: FAILED (log $dir/log, inputs in $dir/artifacts/):"
    tail -n 60 "$dir/log"
    status=1
  fi
done
exit $status
