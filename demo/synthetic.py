"""The bundled demo model's video domain: simple shapes in named colours moving in named
directions over plain backgrounds, each clip with a caption in varied phrasing, and the
measurements (colour masks, centroid tracks) that check a clip against its caption.

Everything is our own code and deterministic given a numpy Generator. Clips are uint8 arrays
[frames, height, width, 3].
"""
import math

import numpy as np

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "cyan": (40, 205, 215),
}
BACKGROUNDS = {
    "black": (0, 0, 0),
    "gray": (110, 110, 110),
    "dark blue": (15, 20, 70),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")
# Unit motion per direction name (x right, y down, as image coordinates).
DIRECTIONS = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up and to the right": (0.7071, -0.7071),
    "up and to the left": (-0.7071, -0.7071),
    "down and to the right": (0.7071, 0.7071),
    "down and to the left": (-0.7071, 0.7071),
}
_DIRECTION_PHRASES = {
    "right": ["to the right", "right", "rightward"],
    "left": ["to the left", "left", "leftward"],
    "up": ["up", "upward", "toward the top"],
    "down": ["down", "downward", "toward the bottom"],
    "up and to the right": ["up and to the right", "diagonally up to the right"],
    "up and to the left": ["up and to the left", "diagonally up to the left"],
    "down and to the right": ["down and to the right", "diagonally down to the right"],
    "down and to the left": ["down and to the left", "diagonally down to the left"],
}
_TEMPLATES = [
    "a {color} {shape} moves {dir} on a {bg} background",
    "a {color} {shape} moving {dir} across a {bg} background",
    "{color} {shape} slides {dir}, {bg} background",
    "a {color} {shape} travels {dir} over a plain {bg} background",
    "the {color} {shape} drifts {dir} on {bg}",
]

# Colour/shape/direction combinations never shown in training: the adherence test asks for them.
HELD_OUT = {
    ("blue", "triangle", "up"),
    ("red", "square", "down and to the left"),
    ("yellow", "circle", "left"),
    ("green", "triangle", "up and to the right"),
    ("purple", "square", "right"),
    ("orange", "circle", "down"),
}


def caption(color, shape, direction, background, rng):
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    phrases = _DIRECTION_PHRASES[direction]
    return template.format(color=color, shape=shape, dir=phrases[rng.integers(len(phrases))],
                           bg=background)


def background_for(color, rng):
    """A background that differs clearly from the object's colour."""
    names = [b for b in BACKGROUNDS if b != color]
    return names[rng.integers(len(names))]


def _coverage(shape, xs, ys, cx, cy, r):
    """Fraction-free inside test on a supersampled grid."""
    if shape == "circle":
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xs - cx) <= r * 0.85) & (np.abs(ys - cy) <= r * 0.85)
    # An upward-pointing triangle inscribed in the circle of radius r.
    top, base = cy - r, cy + r * 0.6
    half = (ys - top) / (base - top) * r * 0.95
    return (ys >= top) & (ys <= base) & (np.abs(xs - cx) <= half)


def render_clip(shape, color, direction, background, rng, size=128, frames=17, speed=None):
    """One clip: the object starts where its whole path stays inside the frame."""
    r = float(rng.uniform(0.11, 0.15) * size)
    speed = float(speed if speed is not None else rng.uniform(0.022, 0.03) * size)
    dx, dy = DIRECTIONS[direction]
    travel = speed * (frames - 1)
    margin = r + 2
    lo_x = margin - min(0.0, dx * travel)
    hi_x = size - margin - max(0.0, dx * travel)
    lo_y = margin - min(0.0, dy * travel)
    hi_y = size - margin - max(0.0, dy * travel)
    x0 = float(rng.uniform(lo_x, hi_x)) if hi_x > lo_x else size / 2
    y0 = float(rng.uniform(lo_y, hi_y)) if hi_y > lo_y else size / 2
    ss = 2  # supersampling for smooth edges
    grid = (np.arange(size * ss) + 0.5) / ss
    xs, ys = np.meshgrid(grid, grid)
    fg = np.array(COLORS[color], dtype=np.float32)
    bg = np.array(BACKGROUNDS[background], dtype=np.float32)
    clip = np.empty((frames, size, size, 3), dtype=np.uint8)
    for f in range(frames):
        cx, cy = x0 + dx * speed * f, y0 + dy * speed * f
        inside = _coverage(shape, xs, ys, cx, cy, r).astype(np.float32)
        alpha = inside.reshape(size, ss, size, ss).mean(axis=(1, 3))[..., None]
        clip[f] = np.clip(np.rint(bg + (fg - bg) * alpha), 0, 255).astype(np.uint8)
    return clip


def sample_example(rng, size=128, frames=17, allow_held_out=False):
    """(clip, caption, labels) for one random training example."""
    while True:
        color = list(COLORS)[rng.integers(len(COLORS))]
        shape = SHAPES[rng.integers(len(SHAPES))]
        direction = list(DIRECTIONS)[rng.integers(len(DIRECTIONS))]
        if allow_held_out or (color, shape, direction) not in HELD_OUT:
            break
    background = background_for(color, rng)
    clip = render_clip(shape, color, direction, background, rng, size, frames)
    labels = {"color": color, "shape": shape, "direction": direction, "background": background}
    return clip, caption(color, shape, direction, background, rng), labels


def measure(clip, background=None):
    """Measures a clip: the moving object's colour (nearest named colour to the median of the
    pixels that differ most from the background), and its direction (nearest of the 8 named
    directions to the centroid's displacement from the first to the last frame). The background
    is the clip's most common border colour unless given. Returns a dict with 'color',
    'direction', 'displacement' (pixels) and 'foreground' (mean fraction of pixels that differ
    from the background)."""
    frames = clip.astype(np.float32)
    if background is None:
        border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]])
        background = np.median(border.reshape(-1, 3), axis=0)
    bg = np.asarray(background, dtype=np.float32)
    diff = np.linalg.norm(frames - bg, axis=-1)
    mask = diff > 60.0
    h, w = clip.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w]
    centroids = []
    for f in range(clip.shape[0]):
        m = mask[f]
        if m.sum() < 4:
            centroids.append(None)
            continue
        centroids.append((float(xs[m].mean()), float(ys[m].mean())))
    valid = [(i, c) for i, c in enumerate(centroids) if c is not None]
    result = {"foreground": float(mask.mean()), "color": None, "direction": None,
              "displacement": 0.0}
    if not valid:
        return result
    # The colour from the object's core: the masked pixels that differ from the background at
    # least as much as the median masked pixel (edge pixels are blends with the background).
    strength = diff[mask]
    pixels = frames[mask][strength >= np.median(strength)]
    mean_rgb = np.median(pixels, axis=0)
    names = list(COLORS)
    dists = [np.linalg.norm(mean_rgb - np.array(COLORS[n], dtype=np.float32)) for n in names]
    result["color"] = names[int(np.argmin(dists))]
    # Displacement from a least-squares line through the valid centroids.
    t = np.array([i for i, _ in valid], dtype=np.float64)
    cx = np.array([c[0] for _, c in valid])
    cy = np.array([c[1] for _, c in valid])
    if len(valid) >= 2 and t.max() > t.min():
        vx = np.polyfit(t, cx, 1)[0] * (clip.shape[0] - 1)
        vy = np.polyfit(t, cy, 1)[0] * (clip.shape[0] - 1)
        result["displacement"] = float(math.hypot(vx, vy))
        if result["displacement"] > 0:
            best, best_dot = None, -2.0
            for name, (dx, dy) in DIRECTIONS.items():
                dot = (vx * dx + vy * dy) / result["displacement"]
                if dot > best_dot:
                    best, best_dot = name, dot
            result["direction"] = best
    return result
