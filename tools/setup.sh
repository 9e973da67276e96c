#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine: installs the missing Debian packages, then configures and builds
# R1 Workbench into build/ (CUDA backend included when nvcc is found; GPU tests skip without a GPU).
# Usage: tools/setup.sh [extra cmake arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

packages=(build-essential cmake ninja-build pkg-config git xz-utils
  qt6-base-dev qt6-base-dev-tools libqt6sql6-sqlite libqt6opengl6-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  libopenblas-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libsqlite3-dev
  xvfb xauth
  clang-14 libclang-rt-14-dev)  # libFuzzer and the sanitizer runtimes: tools/fuzz, tools/sanitize.sh -c clang
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nvcc lives outside PATH in the usual CUDA install.
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$jobs"
