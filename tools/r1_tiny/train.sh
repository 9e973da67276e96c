#!/usr/bin/env bash
# The r1-tiny recipe, run on the GPU machine over a bundle (tools/device_bundle.sh, carried in .bundle/):
#   sft:  synthesise traces, create the random-init model and its tokenizer, SFT, evaluate
#   grpo: GRPO from the SFT checkpoint, evaluate, export the model with a transformers logits check
#   grpo2: a second GRPO stage of the same length from the first one's final weights (fresh optimizer, seed 2),
#          evaluated and exported the same way
#   demo: the CPU demo's starting point (resources/models/r1-tiny/sft-500): a shorter SFT (80 000 examples,
#         1 000 steps) whose step-500 checkpoint still leaves GRPO room within 50 steps; then 50-step GRPO runs
#         of the demo preset from it on easy200 (lr 0 and 1e-4, four seeds each) on the GPU
# Everything lands in $OUT (or $R1_TINY_WORK between the stages when they run in separate calls).
# Usage: tools/r1_tiny/train.sh sft|grpo|grpo2|demo|all (all: sft, grpo and grpo2)
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
  "$r1wb" synth --task "$task" --difficulty "$difficulty" --n "${R1_TINY_SFT_EXAMPLES:-150000}" --seed 1 \
    --out "$work/sft.jsonl"
  log "random init"
  rm -rf "$work/init" && python3 tools/r1_tiny/make_init.py --corpus "$work/sft.jsonl" --out "$work/init"
  log "SFT"
  rm -rf "$work/sft"
  "$r1wb" train sft --model "$work/init" --data "$work/sft.jsonl" --device cuda --steps "${R1_TINY_SFT_STEPS:-6000}" \
    --batch 64 --seq 192 --lr 2e-3 --warmup 100 --min-lr-ratio 0.05 --weight-decay 0.1 --seed 1 \
    --out "$work/sft" --save-every 2000 --metrics-jsonl "$work/sft_metrics.jsonl" --quiet
  log "eval after SFT"
  "$r1wb" eval --model "$work/sft/$(cat "$work/sft/latest")" --task "$task" --difficulty "$difficulty" --n 500 \
    --max-completion 96 --device cuda | tee "$work/eval_sft.json"
fi
# grpo_stage FROM NAME SEED: GRPO from checkpoint FROM into $work/NAME, then evaluation and export.
grpo_stage() {
  local from=$1 grpo=$work/$2 seed=$3
  log "GRPO $2 from $from"
  rm -rf "$grpo"
  "$r1wb" train grpo --model "$from" --task "$task" --difficulty "$difficulty" \
    --device cuda --group-size 8 --prompts-per-step 32 --max-completion 96 --steps "${R1_TINY_GRPO_STEPS:-1000}" \
    --lr "${R1_TINY_GRPO_LR:-2e-5}" --beta 0 --loss dapo --epsilon-high 0.28 \
    --temperature "${R1_TINY_GRPO_TEMPERATURE:-1.0}" ${R1_TINY_GRPO_FLAGS:-} --seed "$seed" --out "$grpo" \
    --save-every 250 --metrics-jsonl "$grpo/../$(basename "$grpo")_metrics.jsonl" --quiet
  log "eval after GRPO $2"
  for c in $(ls -d "$grpo"/checkpoint-* | sort -V); do
    "$r1wb" eval --model "$c" --task "$task" --difficulty "$difficulty" --n 500 --max-completion 96 --device cuda |
      tee "$work/eval_$(basename "$grpo")_$(basename "$c").json"
  done
  final="$grpo/$(cat "$grpo/latest")"
  if [[ ${R1_TINY_EXPORT:-1} == 1 ]]; then
    export_dir=$work/r1-tiny-$(basename "$grpo")
    rm -rf "$export_dir" && "$r1wb" convert --model "$final" --out "$export_dir" --dtype f32
    ids=$(python3 -c "print(','.join(str(i) for i in range(2, 40)))")
    "$r1wb" logits --model "$export_dir" --ids "$ids" --out "$export_dir.logits.npy"
    python3 -c "import numpy as np; np.save('$work/prompt.npy', np.arange(2, 40, dtype=np.int64))"
    python3 tests/fixtures/check_converted.py "$export_dir" "$work/prompt.npy" "$export_dir.logits.npy" --tol 1e-4 |
      tee "$export_dir.transformers_check.json"
    python3 tests/fixtures/make_r1_tiny_fixture.py "$export_dir" "$work/fixture-$(basename "$grpo")"
  fi
}
if [[ $stage == grpo || $stage == all ]]; then
  grpo_stage "$work/sft/$(cat "$work/sft/latest")" "${R1_TINY_GRPO_NAME:-grpo}" 1
fi
if [[ $stage == grpo2 || $stage == all ]]; then
  first=$work/${R1_TINY_GRPO_NAME:-grpo}
  grpo_stage "$first/$(cat "$first/latest")" "${R1_TINY_GRPO_NAME:-grpo}2" 2
fi
if [[ $stage == demo ]]; then
  d=$work/demo && mkdir -p "$d"
  log "demo: synthesising traces, random init, SFT for 1 000 steps"
  "$r1wb" synth --task "$task" --difficulty easy --n 80000 --seed 1 --out "$d/sft.jsonl"
  rm -rf "$d/init" && python3 tools/r1_tiny/make_init.py --corpus "$d/sft.jsonl" --out "$d/init"
  rm -rf "$d/sft"
  "$r1wb" train sft --model "$d/init" --data "$d/sft.jsonl" --device cuda --steps 1000 --batch 64 --seq 192 \
    --lr 2e-3 --warmup 100 --min-lr-ratio 0.05 --weight-decay 0.1 --seed 1 --out "$d/sft" --save-every 500 --quiet
  start=$d/sft/checkpoint-000500
  for diff in easy easy200 medium; do
    "$r1wb" eval --model "$start" --task "$task" --difficulty "$diff" --n 500 --max-completion 64 --device cuda |
      tee "$d/eval_sft500_$diff.json"
  done
  for seed in 1 2 3 4; do
    for lr in 0 1e-4; do
      "$r1wb" train grpo --model "$start" --task "$task" --difficulty easy200 --device cuda --group-size 8 \
        --prompts-per-step 16 --max-completion 64 --steps 50 --lr "$lr" --beta 0 --loss dapo --epsilon-high 0.28 \
        --seed "$seed" --metrics-jsonl "$d/demo_lr${lr}_seed${seed}.jsonl" --quiet
    done
  done
fi
if [[ -n ${OUT:-} ]]; then
  tar -C "$work" -czf "$OUT/r1-tiny-results.tgz" --exclude=sft.jsonl --exclude=init --exclude='checkpoint-*' . 2>/dev/null || true
fi
