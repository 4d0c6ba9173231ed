#!/usr/bin/env bash
# Times what `make run` costs beyond install and build: `make run` itself on a built tree (the
# dependency check, the no-op build, and the demo generation), and the demo generation alone,
# each RUNS times.
#   bench/demo_run.sh [build-dir] [runs]
set -euo pipefail
build=${1:-build}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Seconds taken by the command "$@", to millisecond precision.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

stats() {  # "min median max" of the numbers on stdin
  sort -g | awk '{a[NR]=$1} END {printf "%.2f s / %.2f s / %.2f s", a[1], a[int((NR+1)/2)], a[NR]}'
}

cd "$root"
make -s BUILD="$build" build > /dev/null  # so that the timed runs build nothing
for _ in $(seq "$runs"); do seconds make -s BUILD="$build" run; done | stats > "$out/make"
for _ in $(seq "$runs"); do
  seconds "$build/kinema" generate "a red circle moves to the right on a black background" \
    --seed 7 -q -o "$out/demo.mp4"
done | stats > "$out/gen"

echo "| what ($(nproc) threads, $runs runs) | min / median / max |"
echo "|---|---|"
echo "| \`make run\` on a built tree (dependency check, no-op build, demo generation) | $(cat "$out/make") |"
echo "| \`kinema generate PROMPT\` with the bundled model (128x128, 17 frames, 20 steps) | $(cat "$out/gen") |"
