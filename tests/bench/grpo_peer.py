#!/usr/bin/env python3
"""The PyTorch + transformers peer of `r1wb bench grpo`: the same GRPO step on the same shape with random bf16
weights. P prompts of T random tokens, G sampled completions of N new tokens each (model.generate, temperature
1, no early stop), a synthetic reward (the share of even token ids), group-normalised advantages, then one
update: log-probabilities of the completions with gradients in micro-batches, the surrogate -A * logp / tokens
(ratio 1 at the first iteration), AdamW (fused, bf16 states). Prints one JSON object with the time split.

    python3 tests/bench/grpo_peer.py [--shape r1-distill-qwen-1.5b] [--prompts 16] [--group-size 8]
        [--new-tokens 512] [--prompt-tokens 64] [--micro-batch 16] [--steps 2]
"""
import argparse, json, os, sys, time

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".bundle"))
from torch_peer import SHAPES  # noqa: E402  (shared/peers/torch_peer.py, copied beside the bundle)

ap = argparse.ArgumentParser()
ap.add_argument("--shape", default="r1-distill-qwen-1.5b", choices=sorted(SHAPES))
ap.add_argument("--prompts", type=int, default=16)
ap.add_argument("--group-size", type=int, default=8)
ap.add_argument("--new-tokens", type=int, default=512)
ap.add_argument("--prompt-tokens", type=int, default=64)
ap.add_argument("--micro-batch", type=int, default=16)
ap.add_argument("--steps", type=int, default=2)
a = ap.parse_args()

torch.manual_seed(0)
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(SHAPES[a.shape]()).to(torch.bfloat16)
opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
V, P, G, N, T = model.config.vocab_size, a.prompts, a.group_size, a.new_tokens, a.prompt_tokens
prompts = torch.randint(0, V, (P, T), device="cuda")
gen_s = upd_s = 0.0
for step in range(a.steps + 1):
    torch.cuda.synchronize(); t0 = time.time()
    model.eval()
    with torch.no_grad():
        n = N if step > 0 else 8  # the warm-up step only needs the kernels loaded
        seqs = model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True, temperature=1.0,
                              max_new_tokens=n, min_new_tokens=n, num_return_sequences=G, pad_token_id=0)
    torch.cuda.synchronize(); t1 = time.time()
    comp = seqs[:, T:]
    reward = (comp % 2 == 0).float().mean(dim=1).view(P, G)
    adv = ((reward - reward.mean(1, keepdim=True)) / (reward.std(1, unbiased=False, keepdim=True) + 1e-4)).view(-1)
    model.train()
    for r0 in range(0, P * G, a.micro_batch):
        x = seqs[r0:r0 + a.micro_batch]
        logits = model(input_ids=x).logits[:, T - 1:-1].float()
        logp = torch.log_softmax(logits, -1).gather(-1, x[:, T:, None]).squeeze(-1)
        loss = -(adv[r0:r0 + a.micro_batch, None] * logp).sum() / (comp.shape[1] * P * G)
        loss.backward()
    opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(); t2 = time.time()
    if step > 0:
        gen_s += t1 - t0; upd_s += t2 - t1
res = {"shape": a.shape, "prompts": P, "group_size": G, "new_tokens": N, "generation_s": gen_s / a.steps,
       "update_s": upd_s / a.steps, "step_s": (gen_s + upd_s) / a.steps,
       "peak_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 1), "torch": torch.__version__}
print(json.dumps(res), flush=True)
