#!/usr/bin/env python3
"""Creates r1-tiny's starting point: a randomly initialised DeepseekV3ForCausalLM (Multi-head Latent
Attention, dense MLPs) with a small byte-level BPE tokenizer trained on the task corpus and the
DeepSeek-R1 chat template. Our own trainer does everything after this (SFT, then GRPO).

    python3 tools/r1_tiny/make_init.py --corpus sft.jsonl --out DIR [--vocab 512] [--seed 0]

The tokenizer has Qwen2.5's structure (a Split pre-tokenizer that isolates every digit, then byte-level BPE),
so numbers are written digit by digit; <think>, </think>, <answer> and </answer> are single, non-special
tokens, so decoding with special tokens skipped keeps them.
"""
import argparse, json, os

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--corpus", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--vocab", type=int, default=512)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--template", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures",
                                                    "tokenizer", "deepseek_r1_distill", "tokenizer_config.json"))
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)

BOS, EOS, USER, ASSISTANT = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
texts = []
with open(a.corpus) as f:
    for line in f:
        if line.strip():
            j = json.loads(line)
            texts += [j["prompt"], j["completion"]]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=a.vocab - 8, special_tokens=[BOS, EOS, USER, ASSISTANT],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
                              show_progress=False)
tok.train_from_iterator(texts, trainer)
tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ["<think>", "</think>", "<answer>", "</answer>"]])
tok.save(os.path.join(a.out, "tokenizer.json"))
vocab = tok.get_vocab_size()

template = json.load(open(a.template))["chat_template"]
json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": BOS, "eos_token": EOS, "pad_token": EOS,
           "chat_template": template, "model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast"},
          open(os.path.join(a.out, "tokenizer_config.json"), "w"), indent=1, ensure_ascii=False)

torch.manual_seed(a.seed)
cfg = DeepseekV3Config(
    vocab_size=vocab, hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
    num_key_value_heads=4, q_lora_rank=128, kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16,
    v_head_dim=32, first_k_dense_replace=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=64,
    n_shared_experts=1, n_group=1, topk_group=1, max_position_embeddings=512, rms_norm_eps=1e-6,
    rope_interleave=True, tie_word_embeddings=False, bos_token_id=tok.token_to_id(BOS),
    eos_token_id=tok.token_to_id(EOS), pad_token_id=tok.token_to_id(EOS), initializer_range=0.02)
model = DeepseekV3ForCausalLM(cfg).float()
model.generation_config.eos_token_id = cfg.eos_token_id
model.save_pretrained(a.out)
n = sum(p.numel() for p in model.parameters())
print(json.dumps({"out": a.out, "vocab": vocab, "parameters": n}))
