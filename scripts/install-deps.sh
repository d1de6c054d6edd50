#!/usr/bin/env bash
# Installs the Debian (bookworm) packages rngfree needs. Idempotent: quiet when nothing is missing.
# clang (with its runtime: libFuzzer and the sanitizers, and LLVM OpenMP) builds the asan preset.
# python3-skimage and opencv-doc are there for their sample photographs (the superres task's
# `photos` data, docs/superres.md); libstb-dev decodes them. fortunes is the lm task's English text
# (`--data fortunes`, docs/lm.md).
# python3-torch (the same libtorch 1.13 as libtorch-dev) and python3-pytest: the Python package and its tests.
# Uses sudo when not root. Nothing else is downloaded, at install or at run time.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev libomp-dev
  libgtest-dev libbenchmark-dev
  libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libfftw3-dev
  libtorch-dev libgloo-dev libopenblas0-pthread libopenblas-dev zlib1g-dev
  dataset-fashion-mnist
  libstb-dev python3-skimage opencv-doc
  fortunes
  python3-torch python3-pytest python3-numpy
  yosys verilator
)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed ${#missing[@]} packages."
