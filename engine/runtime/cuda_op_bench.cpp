#include "cuda_op_bench.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/core/error.h"
#include "engine/runtime/cuda_bench_util.h"
#include "engine/runtime/cuda_gemm_bench.h"
#include "engine/train/cuda/cuda_ops.h"
#include "engine/train/train_memory.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_prefill.h"
#include "kernels/cuda/causal_attention.h"
#include "kernels/cuda/flash_attention.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/qkv_rope.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/sampling.h"
#include "kernels/cuda/swiglu.h"

namespace r1 {
namespace {

using cuda::bf16;
using cuda::DeviceBuffer;

double time_us(const std::function<void()>& op) {
  return event_time_us(op, 3, 20);
}

struct Reporter {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  double bandwidth;

  void add(const std::string& name, double us, double bytes, double flops) {
    nlohmann::ordered_json r;
    r["op"] = name;
    r["us"] = us;
    r["GBs"] = bytes / us / 1e3;
    r["bandwidth_fraction"] = bytes / (us * 1e-6) / bandwidth;
    if (flops > 0) {
      r["TFLOPs"] = flops / us / 1e6;
      r["peak_fraction"] = flops / (us * 1e-6) / (kBf16PeakTflops * 1e12);
    }
    rows.push_back(r);
  }
};

// The trainer's causal attention at B x L: the flash kernels (kernels/cuda/flash_attention.h) and the cuBLAS
// path that keeps the probabilities, forward and backward. FLOPs are those of the causal products: two in
// the forward (Q K^T, P V) and five in the backward (S again, dP, dV, dQ, dK), each 2 B H (L^2 / 2) D.
nlohmann::ordered_json bench_train_attention(const ModelConfig& c, int64_t B, int64_t L, double bandwidth) {
  cpu::AttentionShape s;
  s.B = B, s.L = L, s.H = c.num_heads, s.KVH = c.num_kv_heads, s.Dk = s.Dv = c.head_dim;
  s.scale = 1.0f / std::sqrt(float(c.head_dim));
  const int64_t nq = B * s.H * L * s.Dk, nk = B * s.KVH * L * s.Dk;
  DeviceBuffer q = random_device_buffer(nq, false, 21), k = random_device_buffer(nk, false, 22),
               v = random_device_buffer(nk, false, 23);
  DeviceBuffer dout = random_device_buffer(nq, false, 24), out(size_t(nq) * 2), dq(size_t(nq) * 2),
               dk(size_t(nk) * 2), dv(size_t(nk) * 2);
  const double unit = 2.0 * double(B * s.H) * double(L) * double(L) / 2 * double(s.Dk);
  const double io = 2.0 * double(2 * nq + 2 * nk);  // q, k, v, out (bf16)
  Reporter r{nlohmann::ordered_json::array(), bandwidth};
  if (cuda::flash_attention_supports(s)) {
    DeviceBuffer lse(size_t(B * s.H * L) * 4), scratch(cuda::flash_attention_scratch_bytes(s));
    r.add("flash forward", time_us([&] {
            cuda::flash_attention_forward(out.as<bf16>(), lse.as<float>(), q.as<bf16>(), k.as<bf16>(),
                                          v.as<bf16>(), s, nullptr);
          }),
          io, 2 * unit);
    r.add("flash backward", time_us([&] {
            cuda::flash_attention_backward(dq.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), scratch.get(),
                                           dout.as<bf16>(), out.as<bf16>(), lse.as<float>(), q.as<bf16>(),
                                           k.as<bf16>(), v.as<bf16>(), s, nullptr);
          }),
          2 * io, 5 * unit);
  }
  {
    cuda::Blas blas;
    DeviceBuffer probs(size_t(B * s.H * L * L) * 2), scratch(cuda::causal_attention_scratch_bytes(s));
    r.add("unfused forward (probabilities kept)", time_us([&] {
            cuda::causal_attention_forward(blas, out.as<bf16>(), probs.as<bf16>(), q.as<bf16>(), k.as<bf16>(),
                                           v.as<bf16>(), scratch.get(), s, nullptr);
          }),
          io + double(probs.bytes()), 2 * unit);
    r.add("unfused backward", time_us([&] {
            cuda::causal_attention_backward(blas, dq.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), scratch.get(),
                                            dout.as<bf16>(), out.as<bf16>(), probs.as<bf16>(), q.as<bf16>(),
                                            k.as<bf16>(), v.as<bf16>(), s, nullptr);
          }),
          2 * io + double(probs.bytes()), 5 * unit);
  }
  return {{"batch", B}, {"seq", L}, {"ops", r.rows}};
}

}  // namespace

nlohmann::ordered_json bench_cuda_ops(const ModelConfig& c, const std::vector<int64_t>& batches,
                                      int64_t prefill_tokens, int64_t context, int64_t train_batch,
                                      int64_t train_seq) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  const int64_t D = c.head_dim;
  const int64_t Tmax = std::max<int64_t>(prefill_tokens, *std::max_element(batches.begin(), batches.end()));
  Reporter rep{nlohmann::ordered_json::array(), cuda::measure_copy_bandwidth()};
  // Weights of one layer and the LM head.
  DeviceBuffer wqkv = random_device_buffer((Q + 2 * KV) * H, false, 1),
               wo = random_device_buffer(H * Q, false, 2);
  DeviceBuffer wgu = random_device_buffer(2 * I * H, false, 3), wdown = random_device_buffer(H * I, false, 4);
  DeviceBuffer wlm = random_device_buffer(V * H, false, 5), norm = random_device_buffer(H, false, 6);
  // Activations for the largest row count.
  DeviceBuffer x = random_device_buffer(Tmax * H, true, 7),
               h = random_device_buffer(Tmax * std::max(H, I), false, 8);
  DeviceBuffer qkv = random_device_buffer(Tmax * (Q + 2 * KV), false, 9),
               q = random_device_buffer(Tmax * Q, false, 10);
  DeviceBuffer att(size_t(Tmax * Q) * 2), gu = random_device_buffer(Tmax * 2 * I, false, 11);
  DeviceBuffer logits(size_t(std::max<int64_t>(Tmax, 64) * V) * 4);
  cuda::Blas blas;
  const auto gemv = [&](const DeviceBuffer& w, int64_t n, int64_t k, const void* in, int64_t B,
                        cuda::GemvInput gi, void* y, cuda::GemvOutput go) {
    cuda::GemvArgs a;
    a.w = w.as<bf16>();
    a.n = n;
    a.k = k;
    a.x = in;
    a.batch = B;
    a.input = gi;
    a.norm_w = norm.as<bf16>();
    a.y = y;
    a.output = go;
    cuda::gemv(a, nullptr);
  };
  // The four projections of a decoder layer through cuBLAS for T rows.
  const auto add_layer_gemms = [&](Reporter& r, int64_t T) {
    const double t = double(T);
    r.add("gemm qkv", time_us([&] {
            cuda::gemm(blas, qkv.get(), cuda::GemmOutput::Bf16, h.as<bf16>(), wqkv.as<bf16>(), T, H,
                       Q + 2 * KV);
          }),
          2.0 * double((Q + 2 * KV) * H), 2 * t * double((Q + 2 * KV) * H));
    r.add("gemm o (+residual)", time_us([&] {
            cuda::gemm(blas, x.get(), cuda::GemmOutput::F32Accumulate, att.as<bf16>(), wo.as<bf16>(), T, Q,
                       H);
          }),
          2.0 * double(H * Q), 2 * t * double(H * Q));
    r.add("gemm gate_up", time_us([&] {
            cuda::gemm(blas, gu.get(), cuda::GemmOutput::Bf16, h.as<bf16>(), wgu.as<bf16>(), T, H, 2 * I);
          }),
          4.0 * double(I * H), 4 * t * double(I * H));
    r.add("gemm down (+residual)", time_us([&] {
            cuda::gemm(blas, x.get(), cuda::GemmOutput::F32Accumulate, h.as<bf16>(), wdown.as<bf16>(), T, I,
                       H);
          }),
          2.0 * double(H * I), 2 * t * double(H * I));
  };
  const double wbytes_layer = 2.0 * double((Q + 2 * KV) * H + H * Q + 2 * I * H + H * I);
  // KV cache of `context` tokens for up to Tmax sequences, contiguous blocks.
  cuda::KvLayout kv;
  kv.block_size = 16;
  kv.kv_heads = int32_t(c.num_kv_heads);
  kv.head_dim = int32_t(D);
  kv.layers = 1;
  const int64_t blocks_per_seq = (context + 15) / 16;
  const int64_t max_seqs = std::min<int64_t>(Tmax, 64);
  kv.num_blocks =
      blocks_per_seq * std::max<int64_t>(max_seqs, (prefill_tokens + 15) / 16 / blocks_per_seq + 1);
  DeviceBuffer pool = random_device_buffer(kv.bytes() / 2, false, 12);
  kv.pool = pool.as<bf16>();
  std::vector<int32_t> tables(size_t(kv.num_blocks));
  for (size_t i = 0; i < tables.size(); ++i) tables[i] = int32_t(i);
  DeviceBuffer dtables(tables.size() * 4);
  R1_CUDA_CHECK(cudaMemcpy(dtables.get(), tables.data(), tables.size() * 4, cudaMemcpyHostToDevice));
  DeviceBuffer partial(
      size_t(cuda::attention_partial_floats(Tmax, int32_t(c.num_heads), int32_t(D), int32_t(context)) + 1) *
      4);
  std::vector<float> cs(size_t(std::max(context, prefill_tokens) * c.rotary_dim()), 0.5f);
  DeviceBuffer dcs(cs.size() * 4);
  R1_CUDA_CHECK(cudaMemcpy(dcs.get(), cs.data(), cs.size() * 4, cudaMemcpyHostToDevice));

  nlohmann::ordered_json out;
  out["device_copy_bandwidth_GBs"] = rep.bandwidth / 1e9;
  for (int64_t B : batches) {
    Reporter r{nlohmann::ordered_json::array(), rep.bandwidth};
    // Per-row inputs: sequence s holds `context` tokens; row s is its newest.
    std::vector<int32_t> rows(size_t(B) * 4);
    for (int64_t s = 0; s < B; ++s) {
      rows[size_t(s)] = int32_t(context - 1);                                // positions
      rows[size_t(B + s)] = int32_t(s * blocks_per_seq * 16 + context - 1);  // slots
      rows[size_t(2 * B + s)] = int32_t(s);                                  // row_seq
      rows[size_t(3 * B + s)] = int32_t(context);                            // n_keys
    }
    DeviceBuffer drows(rows.size() * 4);
    R1_CUDA_CHECK(cudaMemcpy(drows.get(), rows.data(), rows.size() * 4, cudaMemcpyHostToDevice));
    const int32_t* pos = drows.as<int32_t>();
    const double act = double(B);
    if (B <= cuda::kGemvMaxBatch) {
      r.add("gemv qkv (norm fused)", time_us([&] {
              gemv(wqkv, Q + 2 * KV, H, x.get(), B, cuda::GemvInput::RmsNormF32, qkv.get(),
                   cuda::GemvOutput::Bf16);
            }),
            2.0 * double((Q + 2 * KV) * H), 2 * act * double((Q + 2 * KV) * H));
      r.add("gemv o (+residual)", time_us([&] {
              gemv(wo, H, Q, att.get(), B, cuda::GemvInput::Bf16, x.get(), cuda::GemvOutput::F32Accumulate);
            }),
            2.0 * double(H * Q), 2 * act * double(H * Q));
      r.add("gemv gate_up (norm, swiglu fused)", time_us([&] {
              gemv(wgu, 2 * I, H, x.get(), B, cuda::GemvInput::RmsNormF32, h.get(),
                   cuda::GemvOutput::SwiGluBf16);
            }),
            4.0 * double(I * H), 4 * act * double(I * H));
      r.add("gemv down (+residual)", time_us([&] {
              gemv(wdown, H, I, h.get(), B, cuda::GemvInput::Bf16, x.get(), cuda::GemvOutput::F32Accumulate);
            }),
            2.0 * double(H * I), 2 * act * double(H * I));
      r.add("gemv lm_head (norm fused)", time_us([&] {
              gemv(wlm, V, H, x.get(), B, cuda::GemvInput::RmsNormF32, logits.get(), cuda::GemvOutput::F32);
            }),
            2.0 * double(V * H), 2 * act * double(V * H));
    } else {
      add_layer_gemms(r, B);
      r.add("gemm lm_head", time_us([&] {
              cuda::gemm(blas, logits.get(), cuda::GemmOutput::F32, h.as<bf16>(), wlm.as<bf16>(), B, H, V);
            }),
            2.0 * double(V * H), 2 * act * double(V * H));
      r.add("rmsnorm", time_us([&] {
              cuda::rmsnorm_forward(h.as<bf16>(), x.as<float>(), norm.as<bf16>(), B, H, 1e-6f, nullptr);
            }),
            act * H * 6.0, 0);
      r.add("swiglu", time_us([&] { cuda::swiglu_forward(h.as<bf16>(), gu.as<bf16>(), B, I, nullptr); }),
            act * I * 6.0, 0);
    }
    cuda::QkvRopeArgs ra;
    ra.qkv = qkv.as<bf16>();
    ra.cos_sin = dcs.as<float>();
    ra.positions = pos;
    ra.slot_of_row = pos + B;
    ra.T = B;
    ra.heads = int32_t(c.num_heads);
    ra.kv_heads = int32_t(c.num_kv_heads);
    ra.head_dim = int32_t(D);
    ra.rot_dim = int32_t(c.rotary_dim());
    ra.kv = kv;
    ra.q_out = q.as<bf16>();
    r.add("qkv_rope", time_us([&] { cuda::qkv_rope(ra, nullptr); }), act * double(Q + 2 * KV) * 4.0, 0);
    const double kv_bytes = act * double(context) * double(2 * KV) * 2.0;
    cuda::AttentionArgs at;
    at.q = q.as<bf16>();
    at.rows = B;
    at.heads = int32_t(c.num_heads);
    at.tables = dtables.as<int32_t>();
    at.table_stride = int32_t(blocks_per_seq);
    at.row_seq = pos + 2 * B;
    at.n_keys = pos + 3 * B;
    at.max_keys = int32_t(context);
    at.scale = 0.1f;
    at.kv = kv;
    at.out = att.as<bf16>();
    at.partial = partial.as<float>();
    r.add("attention split-K (paged)", time_us([&] { cuda::attention_paged(at, nullptr); }), kv_bytes, 0);
    std::vector<cuda::FlashTile> tiles;
    for (int64_t s = 0; s < B; ++s) tiles.push_back({int32_t(s), 1, int32_t(s), int32_t(context - 1)});
    DeviceBuffer dtiles(tiles.size() * sizeof(cuda::FlashTile));
    R1_CUDA_CHECK(cudaMemcpy(dtiles.get(), tiles.data(), dtiles.bytes(), cudaMemcpyHostToDevice));
    if (cuda::flash_supports(int32_t(D))) {
      cuda::FlashArgs fa{q.as<bf16>(),
                         int32_t(c.num_heads),
                         dtiles.as<cuda::FlashTile>(),
                         int32_t(B),
                         dtables.as<int32_t>(),
                         int32_t(blocks_per_seq),
                         0.1f,
                         0,
                         kv,
                         att.as<bf16>()};
      r.add("attention flash (1-row tiles)", time_us([&] { cuda::attention_flash(fa, nullptr); }), kv_bytes,
            0);
    }
    std::vector<cuda::RowSampling> sp(static_cast<size_t>(B));
    DeviceBuffer dsp(sp.size() * sizeof(cuda::RowSampling)), dtok(size_t(B) * 4);
    const auto sampling = [&](const char* name, const DeviceBuffer& row_logits, float temperature,
                              float top_p, int32_t top_k) {
      for (auto& s : sp) s.temperature = temperature, s.top_p = top_p, s.top_k = top_k;
      R1_CUDA_CHECK(cudaMemcpy(dsp.get(), sp.data(), dsp.bytes(), cudaMemcpyHostToDevice));
      r.add(name, time_us([&] {
              cuda::sample_rows(row_logits.as<float>(), B, V, dsp.as<cuda::RowSampling>(), dtok.as<int32_t>(),
                                nullptr);
            }),
            act * double(V) * 4, 0);
    };
    sampling("sample greedy", logits, 0.0f, 1.0f, 0);
    // The random LM head's rows are flat (most of the vocabulary within a few nats of the top): top-p takes
    // the full path. At temperature 1 the calls leave the row as it is; the top-k/top-p row after it scales
    // the row by 1 / 0.7 on every call, so it runs last of the two.
    sampling("sample top-p, flat row", logits, 1.0f, 0.95f, 0);
    sampling("sample top-k/top-p", logits, 0.7f, 0.9f, 50);
    // A row shaped like a trained model's (a few likely tokens, the rest about 19 nats below them) at
    // temperature 1, so the row stays the same from one call to the next: top-p is chosen from a short list.
    std::vector<float> peaked(size_t(B * V));
    uint32_t state = 12345;
    for (auto& v : peaked) {
      state = state * 1664525u + 1013904223u;
      v = float(state >> 8) / 16777216.0f - 14.5f;
    }
    for (int64_t b = 0; b < B; ++b)
      for (int i = 0; i < 5; ++i) peaked[size_t(b * V + (i * 30011) % V)] = 5.0f - float(i);
    DeviceBuffer dpeaked(peaked.size() * 4);
    R1_CUDA_CHECK(cudaMemcpy(dpeaked.get(), peaked.data(), dpeaked.bytes(), cudaMemcpyHostToDevice));
    sampling("sample top-p, peaked row", dpeaked, 1.0f, 0.95f, 0);
    double layer_us = 0;
    for (const auto& row : r.rows)
      if (row["op"].get<std::string>().rfind("gemv lm", 0) &&
          row["op"].get<std::string>().rfind("gemm lm", 0) &&
          row["op"].get<std::string>().rfind("sample", 0) &&
          row["op"].get<std::string>() != "attention flash (1-row tiles)")
        layer_us += row["us"].get<double>();
    out[cat("decode_batch_", B)] = {{"ops", r.rows},
                                    {"layer_us_sum", layer_us},
                                    {"layer_weight_bytes", wbytes_layer},
                                    {"layers", c.num_layers}};
  }
  {  // Prefill of one prompt.
    Reporter r{nlohmann::ordered_json::array(), rep.bandwidth};
    const int64_t T = prefill_tokens;
    const double t = double(T);
    add_layer_gemms(r, T);
    r.add("rmsnorm", time_us([&] {
            cuda::rmsnorm_forward(h.as<bf16>(), x.as<float>(), norm.as<bf16>(), T, H, 1e-6f, nullptr);
          }),
          t * H * 6.0, 0);
    r.add("swiglu", time_us([&] { cuda::swiglu_forward(h.as<bf16>(), gu.as<bf16>(), T, I, nullptr); }),
          t * I * 6.0, 0);
    std::vector<cuda::FlashTile> tiles;
    for (int64_t t0 = 0; t0 < T; t0 += cuda::kFlashTileRows)
      tiles.push_back(
          {int32_t(t0), int32_t(std::min<int64_t>(cuda::kFlashTileRows, T - t0)), 0, int32_t(t0)});
    DeviceBuffer dtiles(tiles.size() * sizeof(cuda::FlashTile));
    R1_CUDA_CHECK(cudaMemcpy(dtiles.get(), tiles.data(), dtiles.bytes(), cudaMemcpyHostToDevice));
    if (cuda::flash_supports(int32_t(D))) {
      cuda::FlashArgs fa{q.as<bf16>(),
                         int32_t(c.num_heads),
                         dtiles.as<cuda::FlashTile>(),
                         int32_t(tiles.size()),
                         dtables.as<int32_t>(),
                         int32_t(kv.num_blocks),
                         0.1f,
                         0,
                         kv,
                         att.as<bf16>()};
      const double flops = 4.0 * double(c.num_heads) * double(D) * t * t / 2;
      r.add("attention flash (causal)", time_us([&] { cuda::attention_flash(fa, nullptr); }),
            t * double(2 * KV + 2 * Q) * 2, flops);
    }
    out[cat("prefill_", T)] = {{"ops", r.rows}};
  }
  if (train_batch > 0 && train_seq > 0 && !c.is_deepseek()) {
    out[cat("train_attention_", train_batch, "x", train_seq)] =
        bench_train_attention(c, train_batch, train_seq, rep.bandwidth);
    const int64_t T = train_batch * train_seq;
    out[cat("train_gemms_", train_batch, "x", train_seq)] = bench_train_gemms(
        c, T, lm_head_chunk_rows(T, c.vocab_size, int(sizeof(CudaOps::Act)), CudaOps::kLogitsBudget));
  }
  return out;
}

}  // namespace r1
