"""Regenerates the committed seed corpus fuzz/corpus/<reader>/ from the io test generator
(tests/io/ref_weights.py): its small valid files and corrupt variants, a few KB each.
Run with /usr/bin/python3 (needs torch and numpy):  /usr/bin/python3 fuzz/make_corpus.py"""
import hashlib
import os
import shutil
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "io"))
import ref_weights  # noqa: E402

MAX_SEED_BYTES = 8192


def reader_of(rel):
    name = os.path.basename(rel)
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".gguf"):
        return "gguf"
    if name.endswith((".pt", ".pth")):
        return "pytorch"
    return None


def main():
    tmp = tempfile.mkdtemp()
    try:
        sys.argv = ["ref_weights.py", "--out", tmp]
        ref_weights.main()
        corpus = os.path.join(here, "corpus")
        shutil.rmtree(corpus, ignore_errors=True)
        total = 0
        for folder, _, files in os.walk(tmp):
            for f in sorted(files):
                path = os.path.join(folder, f)
                reader = reader_of(path)
                size = os.path.getsize(path)
                if reader is None or size > MAX_SEED_BYTES:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
                # Named by content, so that regenerating gives the same names.
                name = hashlib.sha1(data).hexdigest()[:16]
                dest = os.path.join(corpus, reader, name)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "wb") as fh:
                    fh.write(data)
                total += size
        print(f"seed corpus: {total} bytes")
        assert total < 200 * 1024, "the committed seed corpus must stay under 200 KB"
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
