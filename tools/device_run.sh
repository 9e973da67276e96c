#!/usr/bin/env bash
# Runs on the GPU machine over a bundle made by tools/device_bundle.sh (carried in .bundle/): the gpu
# test suites, then the decode benchmark and the PyTorch peer for the same shape, logs under $OUT.
# Usage: tools/device_run.sh [tests|bench|all] [shape...]
set -uo pipefail
what=${1:-all}
shift || true
shapes=${*:-r1-distill-qwen-1.5b}
root=$(pwd)
mkdir -p /tmp/r1 && tar -C /tmp/r1 -xJf .bundle/bundle.tar.xz
export LD_LIBRARY_PATH=/tmp/r1/bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export R1WB_FIXTURES_DIR=$root/tests/fixtures R1WB_BIN_DIR=/tmp/r1/bundle/bin QT_QPA_PLATFORM=offscreen
export NCCL_NVLS_ENABLE=0
bin=/tmp/r1/bundle/bin
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
if [[ $what == tests || $what == all ]]; then
  for t in "$bin"/tst_*; do
    echo "== $(basename "$t")"
    "$t" 2>&1 | tee "$OUT/$(basename "$t").log" | grep -E "^(FAIL|QINFO|Totals|SKIP|QWARN)|Loc:" | head -60
  done
fi
if [[ $what == bench || $what == all ]]; then
  for s in $shapes; do
    echo "== bench decode $s"
    "$bin/r1wb" bench decode --device cuda --shape "$s" --batch 1,64 --new-tokens 256 2>&1 | tee "$OUT/bench_$s.json"
    if [[ -f .bundle/torch_peer.py ]]; then
      echo "== torch peer $s"
      PYTHONUNBUFFERED=1 python3 .bundle/torch_peer.py --shape "$s" 2>&1 | grep -v Warning | tee "$OUT/peer_$s.json"
    fi
  done
fi
