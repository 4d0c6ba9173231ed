#!/usr/bin/env bash
# Installs every package Kinema needs to build, test and run, from Debian 12's archive.
# Idempotent and quick when everything is present: apt is only called for what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libdnnl-dev               # oneDNN: bf16/f32 GEMM
  nlohmann-json3-dev        # safetensors headers, configs
  libsentencepiece-dev sentencepiece  # umT5 tokenizer (and spm_train for tests and the demo model)
  libcli11-dev              # the kinema command line
  libssl-dev                # SHA-256 of the inputs recorded in a video's metadata (libcrypto)
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev  # MP4 (H.264 via libx264)
  libwebp-dev libpng-dev    # animated WebP, PNG frames
  ffmpeg                    # ffprobe, for the end-to-end tests of video files
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev          # bench/
  python3-torch python3-numpy  # reference data for the parity tests
  libopenblas0-pthread      # a real BLAS for PyTorch (else it falls back to the slow netlib one)
  clang libclang-rt-14-dev  # libFuzzer harnesses (make fuzz)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "kinema: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
