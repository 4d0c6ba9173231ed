"""Self-check of the demo model's synthetic domain (demo/synthetic.py): every generated clip,
measured with the same colour-mask and centroid-track code the adherence test uses, shows the
colour and the direction its caption names; captions name them; held-out combinations never
appear in training samples. Prints 'N passed, N failed'."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo"))
import synthetic  # noqa: E402

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAILED:", what)


rng = np.random.default_rng(1234)
for i in range(120):
    clip, text, labels = synthetic.sample_example(rng)
    m = synthetic.measure(clip)
    check(m["color"] == labels["color"], f"clip {i}: colour {m['color']} != {labels} ({text})")
    check(m["direction"] == labels["direction"],
          f"clip {i}: direction {m['direction']} != {labels} ({text})")
    check(m["displacement"] > 20, f"clip {i}: moved only {m['displacement']:.1f} px")
    check(labels["color"] in text and labels["shape"] in text, f"clip {i}: caption '{text}'")
    check((labels["color"], labels["shape"], labels["direction"]) not in synthetic.HELD_OUT,
          f"clip {i}: a held-out combination in training data")
    check(clip.dtype == np.uint8 and clip.shape == (17, 128, 128, 3), f"clip {i}: {clip.shape}")

# Held-out combinations render and measure correctly too (they are what the model is asked for).
for color, shape, direction in sorted(synthetic.HELD_OUT):
    bg = synthetic.background_for(color, rng)
    m = synthetic.measure(synthetic.render_clip(shape, color, direction, bg, rng))
    check(m["color"] == color and m["direction"] == direction,
          f"held out {color} {shape} {direction}: measured {m}")

# A static clip has no direction; a blank one no colour.
static = synthetic.render_clip("circle", "red", "right", "black", rng, speed=0.0)
check(synthetic.measure(static)["displacement"] < 1.0, "static clip moves")
blank = np.zeros((17, 64, 64, 3), dtype=np.uint8)
check(synthetic.measure(blank)["color"] is None, "blank clip has a colour")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
