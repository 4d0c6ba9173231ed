#!/usr/bin/env bash
# Runs the kernel benchmarks and the PyTorch baselines in one session and prints both, with the
# ratio Kinema / PyTorch, so that no number is compared across runs or machines.
#   bench/run.sh [build-dir]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
threads=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$build/bench/kinema_bench" --benchmark_filter='BM_Peak|BM_Linear/|attention_(self|cross)' \
  --benchmark_format=json --benchmark_out="$out/kinema.json" --benchmark_out_format=json \
  > /dev/null
/usr/bin/python3 "$here/torch_baseline.py" --threads "$threads" > "$out/torch.json"

/usr/bin/python3 - "$out/kinema.json" "$out/torch.json" <<'PY'
import json, re, sys
kin = json.load(open(sys.argv[1]))["benchmarks"]
torch = json.load(open(sys.argv[2]))
print("| benchmark | Kinema GFLOP/s | PyTorch GFLOP/s | Kinema / PyTorch |")
print("|---|---|---|---|")
variants = {0: "f32", 3: "bf16", 2: "bf16"}
for b in kin:
    name = b["name"]
    g = b.get("GFLOP/s") or b.get("GFLOPs")
    if g is None:
        continue
    base = None
    m = re.match(r"BM_Linear/variant:(\d+)/M:(\d+)/K:(\d+)/N:(\d+)", name)
    if m:
        v, mm, k, n = map(int, m.groups())
        label = b.get("label", "")
        tag = "f32" if label.startswith("f32") else ("bf16" if label.startswith("bf16") else None)
        if tag:
            base = torch.get(f"matmul_{tag}/{mm}x{k}x{n}")
        name = f"linear {label.split(' ')[0]} {mm}x{k}x{n}"
    m = re.match(r"attention_self_L4096.*?/(\w+)", name)
    if m:
        base = torch.get("attention_bf16/4096x4096")
    m = re.match(r"attention_cross_Lq4096_Lk512.*?/(\w+)", name)
    if m:
        base = torch.get("attention_bf16/4096x512")
    m = re.match(r"BM_Peak/unit:\d+/threads:(\d+)", name)
    if m:
        name = f"peak: {b.get('label', '')}, {m.group(1)} thread(s)"
    name = name.replace("/real_time", "")
    ratio = f"{g / base:.1f}x" if base else "-"
    print(f"| {name} | {g:.0f} | {base:.0f} | {ratio} |" if base else f"| {name} | {g:.0f} | - | - |")
PY
