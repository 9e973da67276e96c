#!/usr/bin/env python3
"""The PyTorch + transformers peer of `r1wb bench decode --shape deepseek-v2-lite`: DeepSeek-V2-Lite's shape
(27 layers, MLA with kv_lora 512, 64 routed + 2 shared experts, top 6) with random bf16 weights on the GPU,
`generate` from random prompts at each batch size, no early stop. Prints one JSON object of tokens/s.

    python3 tests/bench/deepseek_decode_peer.py [--layers 27] [--decode-batches 1,64] [--prompt-tokens 32]
        [--new-tokens 32]
"""
import argparse, json, time

import torch
import transformers
from transformers import AutoModelForCausalLM, DeepseekV2Config

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=27)
ap.add_argument("--decode-batches", default="1,64")
ap.add_argument("--prompt-tokens", type=int, default=32)
ap.add_argument("--new-tokens", type=int, default=32)
a = ap.parse_args()

config = DeepseekV2Config(vocab_size=102400, hidden_size=2048, intermediate_size=10944,
                          num_hidden_layers=a.layers, num_attention_heads=16, num_key_value_heads=16,
                          q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                          v_head_dim=128, n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2,
                          moe_intermediate_size=1408, first_k_dense_replace=1, n_group=1, topk_group=1,
                          topk_method="greedy", norm_topk_prob=False, routed_scaling_factor=1.0,
                          max_position_embeddings=4096, tie_word_embeddings=False)
torch.manual_seed(0)
t0 = time.time()
with torch.device("cuda"):
    m = AutoModelForCausalLM.from_config(config).to(torch.bfloat16).eval()
res = {"shape": f"deepseek-v2-lite ({a.layers} layers)", "params": sum(p.numel() for p in m.parameters()),
       "torch": torch.__version__, "transformers": transformers.__version__, "build_s": round(time.time() - t0, 1)}
for bs in [int(b) for b in a.decode_batches.split(",") if b]:
    ids = torch.randint(0, config.vocab_size, (bs, a.prompt_tokens), device="cuda")
    with torch.no_grad():
        m.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        torch.cuda.synchronize()
        t = time.time()
        m.generate(ids, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=True, temperature=1.0)
        torch.cuda.synchronize()
    res[f"generate_bs{bs}_tok_s"] = round(bs * a.new_tokens / (time.time() - t), 1)
print(json.dumps(res), flush=True)
