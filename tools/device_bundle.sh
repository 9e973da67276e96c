#!/usr/bin/env bash
# Packs what the GPU machine needs to run our binaries (it has CUDA but no Qt, OpenBLAS, PCRE2 ...):
# the given executables plus every shared library they load that is not glibc, libstdc++, libgcc or
# CUDA's own, into one .tar.xz. Usage: tools/device_bundle.sh OUT.tar.xz BINARY...
set -euo pipefail
out=$1
shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/bin" "$stage/bundle/lib"
for b in "$@"; do cp "$b" "$stage/bundle/bin/"; done
skip='linux-vdso|ld-linux|libc\.so|libm\.so|libstdc\+\+|libgcc_s|libpthread|libdl\.so|librt\.so|libcuda\.so|libcudart|libcublas|libnvidia'
for b in "$@"; do
  ldd "$b" | awk '/=> \//{print $3}' | grep -Ev "$skip" | while read -r lib; do
    cp -Ln "$lib" "$stage/bundle/lib/" 2>/dev/null || true
  done
done
tar -C "$stage" -cJf "$out" bundle
du -h "$out"
