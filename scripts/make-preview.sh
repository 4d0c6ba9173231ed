#!/bin/sh
# Makes docs/demo.gif, the README's preview: four clips from the bundled demo model, side by side
# (2x2, 256x256, looping). Usage: scripts/make-preview.sh [BUILD_DIR]
set -eu
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for prompt in "a red circle moves to the right on a black background" \
              "a blue triangle moves up on a black background" \
              "a yellow square moves down and to the left on a gray background" \
              "a white circle moves up and to the right on a dark blue background"; do
  "$build/kinema" generate "$prompt" --seed $((7 + i)) -q -o "$tmp/$i.mp4"
  i=$((i + 1))
done
ffmpeg -v error -y -i "$tmp/0.mp4" -i "$tmp/1.mp4" -i "$tmp/2.mp4" -i "$tmp/3.mp4" \
  -filter_complex "xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0,split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse=dither=none" \
  -loop 0 "$tmp/demo.gif"
mv "$tmp/demo.gif" docs/demo.gif
echo "wrote docs/demo.gif ($(stat -c %s docs/demo.gif) bytes)"
