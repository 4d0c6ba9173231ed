"""Prompt adherence of a demo model, measured on videos made by the real kinema binary: for each
prompt (colour/shape/direction combinations, some held out of training) and fixed seed, the
moving object's colour (colour mask) and direction (centroid track) are compared with the prompt.
Prints one line per prompt and the two rates; exits 1 when either is below --min (percent).

  adherence.py --kinema build/kinema [--model DIR] [--min 90] [--lora FILE[:SCALE]]...

Without --model, kinema's default (the bundled demo model) with its own defaults (size, frames,
steps) is what gets measured: exactly what a user gets from `kinema generate PROMPT`. With
--lora (the distilled demo: models/demo/distill-4step.safetensors), the model folder's
lora_defaults for that LoRA apply (sampler, steps, guidance) unless given here.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synthetic  # noqa: E402

PROMPTS = [
    # Held out of training (synthetic.HELD_OUT).
    ("blue", "triangle", "up", "black"),
    ("red", "square", "down and to the left", "gray"),
    ("yellow", "circle", "left", "dark blue"),
    ("green", "triangle", "up and to the right", "black"),
    ("purple", "square", "right", "white"),
    ("orange", "circle", "down", "black"),
    # Seen combinations.
    ("red", "circle", "right", "black"),
    ("blue", "square", "up", "black"),
    ("white", "triangle", "down", "dark blue"),
    ("cyan", "circle", "left", "gray"),
    ("yellow", "square", "down and to the right", "black"),
    ("green", "circle", "up and to the left", "white"),
]


def generate(args, prompt, seed, out):
    """Runs kinema and reads the MP4 back as uint8 frames [F, H, W, 3]."""
    cmd = [args.kinema, "generate", prompt, "--seed", str(seed), "-q", "-o", out]
    if args.model:
        cmd += ["--model", args.model]
    for flag in ("size", "frames", "steps", "guidance", "shift", "sampler"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    for lora in args.lora:
        cmd += ["--lora", lora]
    subprocess.run(cmd, check=True)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", out],
                           check=True, capture_output=True, text=True).stdout
    width, height = (int(v) for v in probe.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", out, "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinema", required=True)
    ap.add_argument("--model", help="a model folder (default: kinema's bundled demo model)")
    ap.add_argument("--min", type=float, default=90.0, help="pass mark, percent")
    ap.add_argument("--size", help="WxH (default: the model's)")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--guidance", type=float)
    ap.add_argument("--shift", type=float)
    ap.add_argument("--sampler")
    ap.add_argument("--lora", action="append", default=[], help="FILE[:SCALE], repeatable")
    ap.add_argument("--seed", type=int, default=1000, help="seed of the first prompt (then +1)")
    ap.add_argument("--skip-without", metavar="FILE",
                    help="exit 77 (CTest's skip) when FILE does not exist")
    args = ap.parse_args()
    if args.skip_without and not os.path.exists(args.skip_without):
        print(f"skipped: {args.skip_without} does not exist")
        sys.exit(77)
    color_ok = direction_ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (color, shape, direction, bg) in enumerate(PROMPTS):
            prompt = f"a {color} {shape} moves {direction} on a {bg} background"
            clip = generate(args, prompt, args.seed + i, os.path.join(tmp, "v.mp4"))
            m = synthetic.measure(clip, synthetic.BACKGROUNDS[bg])
            c, d = m["color"] == color, m["direction"] == direction
            color_ok += c
            direction_ok += d
            held = "held out" if (color, shape, direction) in synthetic.HELD_OUT else "seen"
            print(f"{'ok  ' if c and d else 'MISS'} [{held:8}] {prompt!r}: measured colour "
                  f"{m['color']}, direction {m['direction']} ({m['displacement']:.0f} px)")
    n = len(PROMPTS)
    print(f"colour adherence {100 * color_ok / n:.0f}%, direction adherence "
          f"{100 * direction_ok / n:.0f}% over {n} prompts")
    passed = 100 * color_ok / n >= args.min and 100 * direction_ok / n >= args.min
    print(f"{int(passed)} passed, {int(not passed)} failed")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
