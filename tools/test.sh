#!/usr/bin/env bash
# Sets up (tools/setup.sh), fetches the test data, and runs the whole test suite. Tests labelled gpu
# report "skipped" on a machine without a CUDA device.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools/setup.sh "$@"
tools/fetch_test_data.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
