#!/usr/bin/env bash
# The r1-tiny recipe, run on the GPU machine over a bundle (tools/device_bundle.sh, carried in .bundle/):
#   sft:  synthesise traces, create the random-init model and its tokenizer, SFT, evaluate
#   grpo: GRPO from the SFT checkpoint, evaluate, export the model with a transformers logits check
# Everything lands in $OUT (or $R1_TINY_WORK between the stages when they run in separate calls).
# Usage: tools/r1_tiny/train.sh sft|grpo|all
set -euo pipefail
stage=${1:-all}
root=$(pwd)
work=${R1_TINY_WORK:-/tmp/r1-tiny-work}
mkdir -p "$work" /tmp/r1
[[ -x /tmp/r1/bundle/bin/r1wb ]] || tar -C /tmp/r1 -xJf .bundle/bundle.tar.xz
export LD_LIBRARY_PATH=/tmp/r1/bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
r1wb=/tmp/r1/bundle/bin/r1wb
task=${R1_TINY_TASK:-countdown}
difficulty=${R1_TINY_DIFFICULTY:-easy}
log() { echo "[$(date +%T)] $*"; }

if [[ $stage == sft || $stage == all ]]; then
  log "synthesising traces"
  "$r1wb" synth --task "$task" --difficulty "$difficulty" --n "${R1_TINY_SFT_EXAMPLES:-60000}" --seed 1 \
    --out "$work/sft.jsonl"
  log "random init"
  rm -rf "$work/init" && python3 tools/r1_tiny/make_init.py --corpus "$work/sft.jsonl" --out "$work/init"
  log "SFT"
  rm -rf "$work/sft"
  "$r1wb" train sft --model "$work/init" --data "$work/sft.jsonl" --device cuda --steps "${R1_TINY_SFT_STEPS:-2000}" \
    --batch 64 --seq 320 --lr 2e-3 --warmup 100 --min-lr-ratio 0.05 --weight-decay 0.1 --seed 1 \
    --out "$work/sft" --save-every 1000 --metrics-jsonl "$work/sft_metrics.jsonl" --quiet
  log "eval after SFT"
  "$r1wb" eval --model "$work/sft/$(cat "$work/sft/latest")" --task "$task" --difficulty "$difficulty" --n 500 \
    --max-completion 128 | tee "$work/eval_sft.json"
fi
if [[ $stage == grpo || $stage == all ]]; then
  log "GRPO"
  rm -rf "$work/grpo"
  "$r1wb" train grpo --model "$work/sft/$(cat "$work/sft/latest")" --task "$task" --difficulty "$difficulty" \
    --device cuda --group-size 8 --prompts-per-step 32 --max-completion 128 --steps "${R1_TINY_GRPO_STEPS:-100}" \
    --lr 2e-5 --beta 0 --loss dapo --epsilon-high 0.28 --temperature 1.0 --seed 1 --out "$work/grpo" \
    --save-every 50 --metrics-jsonl "$work/grpo_metrics.jsonl" --store "$work/runs.sqlite" --quiet
  log "eval after GRPO"
  final="$work/grpo/$(cat "$work/grpo/latest")"
  "$r1wb" eval --model "$final" --task "$task" --difficulty "$difficulty" --n 500 --max-completion 128 |
    tee "$work/eval_grpo.json"
  rm -rf "$work/r1-tiny" && "$r1wb" convert --model "$final" --out "$work/r1-tiny" --dtype f32
  ids=$(python3 -c "print(','.join(str(i) for i in range(2, 40)))")
  "$r1wb" logits --model "$work/r1-tiny" --ids "$ids" --out "$work/r1-tiny-logits.npy"
  python3 -c "import numpy as np; np.save('$work/r1-tiny-prompt.npy', np.arange(2, 40, dtype=np.int64))"
  python3 tests/fixtures/check_converted.py "$work/r1-tiny" "$work/r1-tiny-prompt.npy" "$work/r1-tiny-logits.npy" \
    --tol 1e-4 | tee "$work/transformers_check.json"
fi
if [[ -n ${OUT:-} ]]; then
  tar -C "$work" -czf "$OUT/r1-tiny-results.tgz" --exclude=sft.jsonl --exclude=init --exclude='sft/checkpoint-*' \
    --exclude='grpo/checkpoint-*' . 2>/dev/null || true
fi
