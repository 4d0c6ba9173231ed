"""Reference data for the tokenizer: trains a small sentencepiece unigram model with Debian's
spm_train, cleans prompts as Wan does (the ftfy parts Kinema implements, html.unescape twice,
whitespace collapse) and encodes them with spm_encode."""
import argparse
import html
import json
import os
import re
import subprocess
import unicodedata

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
out = ap.parse_args().out
os.makedirs(out, exist_ok=True)

colors = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
shapes = ["circle", "square", "triangle", "star"]
moves = ["moves to the left", "moves to the right", "moves up", "moves down", "drifts diagonally"]
corpus = [f"a {c} {s} {m} on a {b} background, camera still" for c in colors for s in shapes
          for m in moves for b in colors[:3]]
corpus += ["Ein Hund läuft über die Wiese.", "一只猫在草地上奔跑，阳光明媚。", "déjà vu & co."] * 20
with open(f"{out}/corpus.txt", "w") as f:
    f.write("\n".join(corpus) + "\n")
subprocess.run(["spm_train", f"--input={out}/corpus.txt", f"--model_prefix={out}/spiece",
                "--vocab_size=200", "--hard_vocab_limit=false", "--model_type=unigram", "--character_coverage=1.0",
                "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--minloglevel=2"],
               check=True, capture_output=True)


def clean(text):
    chars = []
    for ch in text:
        cp = ord(ch)
        if 0xFF01 <= cp <= 0xFF5E or cp == 0x3000 or 0xFB00 <= cp <= 0xFB06:
            chars.append(unicodedata.normalize("NFKC", ch))
        elif ch in "\u2018\u2019\u201a\u201b":
            chars.append("'")
        elif ch in "\u201c\u201d\u201e\u201f":
            chars.append('"')
        else:
            chars.append(ch)
    text = html.unescape(html.unescape("".join(chars)))
    return re.sub(r"\s+", " ", text).strip()


prompts = [
    "a red circle moves to the right on a black background",
    "  A   blue\tsquare\n moves up  ",
    "a green triangle，moves down！",  # full-width punctuation
    "\u201ca yellow star\u201d &amp;amp; a \u2018purple\u2019 circle &#33; &#x41;",
    "一只猫在草地上奔跑，阳光明媚。\u3000Ein Hund läuft",
    "ﬁne ﬂowers move to the left",
    " ".join(["a red circle moves to the left"] * 200),  # longer than 512 tokens
]
cases = []
for p in prompts:
    c = clean(p)
    ids = subprocess.run(["spm_encode", f"--model={out}/spiece.model", "--output_format=id"],
                         input=c, capture_output=True, text=True, check=True).stdout.split()
    ids = [int(i) for i in ids][:511] + [1]
    cases.append({"prompt": p, "clean": c, "ids": ids})
with open(f"{out}/tokenizer_cases.json", "w") as f:
    json.dump(cases, f, ensure_ascii=False)
