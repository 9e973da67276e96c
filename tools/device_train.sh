#!/usr/bin/env bash
# Runs on the GPU machine over a bundle made by tools/device_bundle.sh (carried in .bundle/): the training
# suites, an SFT run whose checkpoint transformers must load with our logits, the training benchmark and
# the PyTorch peer's training figures for the same shape. Logs under $OUT.
# Usage: tools/device_train.sh [tests|sft|bench|all] [shape]
set -uo pipefail
what=${1:-all}
shape=${2:-r1-distill-qwen-1.5b}
root=$(pwd)
mkdir -p /tmp/r1 && tar -C /tmp/r1 -xJf .bundle/bundle.tar.xz
export LD_LIBRARY_PATH=/tmp/r1/bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export R1WB_FIXTURES_DIR=$root/tests/fixtures R1WB_BIN_DIR=/tmp/r1/bundle/bin QT_QPA_PLATFORM=offscreen
bin=/tmp/r1/bundle/bin
if [[ $what == tests || $what == all ]]; then
  for t in "$bin"/tst_train*; do
    echo "== $(basename "$t")"
    "$t" 2>&1 | tee "$OUT/$(basename "$t").log" | grep -E "^(FAIL|QINFO|Totals|SKIP|QWARN)|Loc:" | head -60
  done
fi
if [[ $what == sft || $what == all ]]; then
  echo "== sft on cuda, then transformers loads the checkpoint"
  model=$root/tests/fixtures/models/qwen2-tied
  python3 -c "
import json
with open('/tmp/sft.jsonl', 'w') as f:
    for i in range(64):
        f.write(json.dumps({'prompt': f'add {i} and {i+1}:', 'completion': f' {2*i+1}'}) + '\n')"
  rm -rf /tmp/sft-run
  "$bin/r1wb" train sft --model "$model" --data /tmp/sft.jsonl --steps 30 --batch 8 --seq 32 --lr 3e-3 \
    --warmup 3 --device cuda --out /tmp/sft-run --metrics-jsonl "$OUT/sft_metrics.jsonl" --chat-template off \
    --quiet 2>&1 | tail -4
  ckpt=/tmp/sft-run/$(cat /tmp/sft-run/latest)
  ids=$(python3 -c "import numpy as np; print(','.join(str(int(x)) for x in np.load('$model/prompt.npy')))")
  "$bin/r1wb" logits --model "$ckpt" --ids "$ids" --out /tmp/ours.npy --device cpu
  python3 tests/fixtures/check_converted.py "$ckpt" "$model/prompt.npy" /tmp/ours.npy --tol 1e-4 2>&1 | tail -1
fi
if [[ $what == bench || $what == all ]]; then
  echo "== bench train $shape"
  "$bin/r1wb" bench train --device cuda --shape "$shape" --batch 8 --seq 1024 2>&1 | tee "$OUT/bench_train_$shape.json"
  if [[ -f .bundle/torch_peer.py ]]; then
    echo "== torch peer (training) $shape"
    PYTHONUNBUFFERED=1 python3 .bundle/torch_peer.py --shape "$shape" --decode-batches "" 2>&1 | grep -v Warning |
      tee "$OUT/peer_train_$shape.json"
  fi
fi
