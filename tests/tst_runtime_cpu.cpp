// The CPU runtime and generator: batching, chunking, cache reuse, limits, stopping and cancelling.
#include <atomic>
#include <thread>

#include "engine/core/error.h"
#include "engine/runtime/generator.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

std::shared_ptr<const Model> fixture(const char* name = "qwen3-qknorm") {
  return load_model(test::fixtures() / "models" / name);
}

std::vector<int32_t> ids(int n, int seed) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(5 + (seed * 31 + i * 17) % 300);
  return v;
}

// NaN anywhere counts as an infinite difference.
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    m = d == d ? std::max(m, d) : INFINITY;
  }
  return m;
}

std::vector<float> run_alone(const std::shared_ptr<const Model>& m, const std::vector<int32_t>& toks) {
  RuntimeOptions o;
  o.max_context = 128;
  auto rt = create_runtime(m, o);
  std::vector<float> out(static_cast<size_t>(m->config.vocab_size));
  const SequenceInput in{0, toks, false};
  rt->forward({&in, 1}, out.data());
  return out;
}

}  // namespace

class TestRuntimeCpu : public QObject {
  Q_OBJECT

 private slots:
  void batch_of_mixed_lengths_equals_separate_runs() {
    const auto m = fixture();
    const int64_t V = m->config.vocab_size;
    RuntimeOptions o;
    o.max_sequences = 3;
    o.max_context = 128;
    auto rt = create_runtime(m, o);
    const auto a = ids(7, 1), b = ids(19, 2), c = ids(1, 3);
    const std::vector<SequenceInput> batch = {{0, a, false}, {1, b, false}, {2, c, false}};
    std::vector<float> out(static_cast<size_t>(3 * V));
    rt->forward(batch, out.data());
    for (int s = 0; s < 3; ++s) {
      const auto alone = run_alone(m, s == 0 ? a : s == 1 ? b : c);
      const std::vector<float> row(out.begin() + s * V, out.begin() + (s + 1) * V);
      QVERIFY2(max_diff(row, alone) < 1e-4, qPrintable(QString("sequence %1").arg(s)));
    }
    // Decode one more token for two of them only (sequences leave and join freely).
    const std::vector<int32_t> next = {9};
    const std::vector<SequenceInput> step = {{2, next, false}, {0, next, false}};
    std::vector<float> out2(static_cast<size_t>(2 * V));
    rt->forward(step, out2.data());
    auto a2 = a;
    a2.push_back(9);
    const auto alone = run_alone(m, a2);
    QVERIFY(max_diff(std::vector<float>(out2.begin() + V, out2.end()), alone) < 1e-4);
    QCOMPARE(rt->sequence_length(1), int64_t(19));
    QCOMPARE(rt->kv_stats().used_tokens, int64_t(8 + 19 + 2));
  }

  void chunked_prefill_equals_one_pass() {
    const auto m = fixture("llama-llama3rope");
    const int64_t V = m->config.vocab_size;
    const auto p = ids(45, 4);
    RuntimeOptions o;
    o.max_context = 64;
    o.max_batch_tokens = 8;  // forces six chunks, a split prompt
    auto rt = create_runtime(m, o);
    std::vector<float> all(p.size() * size_t(V));
    const SequenceInput in{0, p, true};
    rt->forward({&in, 1}, all.data());
    const auto alone = run_alone(m, p);
    QVERIFY(max_diff(std::vector<float>(all.end() - V, all.end()), alone) < 1e-4);
    rt->truncate(0, 0);
    std::vector<float> last(static_cast<size_t>(V));
    const SequenceInput in_last{0, p, false};
    rt->forward({&in_last, 1}, last.data());
    QVERIFY(max_diff(last, alone) < 1e-4);
  }

  void truncate_then_refeed_reproduces_logits() {
    const auto m = fixture();
    const int64_t V = m->config.vocab_size;
    RuntimeOptions o;
    o.max_context = 64;
    auto rt = create_runtime(m, o);
    const auto p = ids(20, 5);
    std::vector<float> first(static_cast<size_t>(V)), again(static_cast<size_t>(V));
    const SequenceInput in{0, p, false};
    rt->forward({&in, 1}, first.data());
    rt->truncate(0, 12);
    const SequenceInput tail{0, std::span<const int32_t>(p).subspan(12), false};
    rt->forward({&tail, 1}, again.data());
    QVERIFY(max_diff(first, again) < 1e-5);
  }

  void bad_requests_leave_the_cache_intact() {
    const auto m = fixture();
    const int64_t V = m->config.vocab_size;
    RuntimeOptions o;
    o.max_sequences = 2;
    o.max_context = 16;
    auto rt = create_runtime(m, o);
    std::vector<float> out(static_cast<size_t>(2 * V));
    const auto p = ids(10, 6);
    const SequenceInput ok{0, p, false};
    rt->forward({&ok, 1}, out.data());
    const std::vector<int32_t> bad = {1, int32_t(V)};
    const SequenceInput oob{0, bad, false};
    R1_EXPECT_ERROR(rt->forward({&oob, 1}, out.data()), "out of range");
    const auto more = ids(7, 7);
    const SequenceInput full{0, more, false};
    R1_EXPECT_ERROR(rt->forward({&full, 1}, out.data()), "context full", "16");
    const std::vector<SequenceInput> twice = {{1, p, false}, {1, p, false}};
    R1_EXPECT_ERROR(rt->forward(twice, out.data()), "appears twice");
    const SequenceInput nosuch{5, p, false};
    R1_EXPECT_ERROR(rt->forward({&nosuch, 1}, out.data()), "out of range");
    QCOMPARE(rt->sequence_length(0), int64_t(10));
    QCOMPARE(rt->sequence_length(1), int64_t(0));
    R1_EXPECT_ERROR(create_runtime(m, RuntimeOptions{Device::Cpu, 1, 1 << 20, 0}), "max_position_embeddings");
  }

  void generator_stops_on_eos_and_strings() {
    const auto m = fixture("qwen2-tied");
    RuntimeOptions o;
    o.max_context = 64;
    auto rt = create_runtime(m, o);
    Generator gen(*rt);
    const auto p = ids(6, 8);
    GenerateOptions go;
    go.max_new_tokens = 20;
    const auto free_run = gen.generate(p, go, SamplingParams::greedy());
    QCOMPARE(free_run.tokens.size(), size_t(20));
    QVERIFY(free_run.tokens[4] != free_run.tokens[0]);
    // Make the 5th greedy token a stop id: generation ends there, including it.
    go.stop_ids = {free_run.tokens[4]};
    const auto stopped = gen.generate(p, go, SamplingParams::greedy());
    const auto first_hit =
        size_t(std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[4]) -
               free_run.tokens.begin());
    QCOMPARE(stopped.reason, StopReason::Eos);
    QCOMPARE(stopped.tokens.size(), first_hit + 1);
    QCOMPARE(stopped.reused_tokens, int64_t(p.size() - 1));  // the prompt came from the cache
    // The cache holds the prompt and every generated token but the last, also where the stop came inside a
    // call of chained steps (the tokens sampled past it left the cache again).
    QCOMPARE(gen.cached_tokens().size(), p.size() + first_hit);
    QCOMPARE(gen.cached_tokens()[p.size()], stopped.tokens[0]);
    for (const int chain : {2, 3, 8}) {
      go.steps_per_call = chain;
      const auto chained = gen.generate(p, go, SamplingParams::greedy());
      QCOMPARE(chained.tokens, stopped.tokens);
      QCOMPARE(chained.reason, StopReason::Eos);
      QCOMPARE(gen.cached_tokens().size(), p.size() + first_hit);
      go.stop_ids.clear();
      QCOMPARE(gen.generate(p, go, SamplingParams::greedy()).tokens, free_run.tokens);
      go.stop_ids = {free_run.tokens[4]};
    }
    go.steps_per_call = 9;
    R1_EXPECT_ERROR(gen.generate(p, go, SamplingParams::greedy()), "steps_per_call must be 0 to 8");
    go.steps_per_call = 0;
    // Stop strings work on the token text.
    go.stop_ids.clear();
    go.token_bytes = [](int32_t id) { return "<" + std::to_string(id) + ">"; };
    go.stop_strings = {"<" + std::to_string(free_run.tokens[2]) + "><" + std::to_string(free_run.tokens[3]) +
                       ">"};
    const auto by_string = gen.generate(p, go, SamplingParams::greedy());
    QCOMPARE(by_string.reason, StopReason::StopString);
    QVERIFY(by_string.tokens.size() <= 4);
    QVERIFY(by_string.tokens.size() >= 2);
  }

  // Chained steps feed each step the token the step before sampled: the same tokens, and the same sequence
  // contents, as one call a step; what cannot be chained is refused with nothing changed.
  void chained_steps_equal_single_steps() {
    const auto m = fixture("qwen2-tied");
    RuntimeOptions o;
    o.max_context = 16;
    o.max_sequences = 2;
    auto a = create_runtime(m, o), b = create_runtime(m, o);
    SamplingParams sp;
    sp.temperature = 0.9f;
    sp.seed = 5;
    const std::vector<SamplingParams> params = {sp, SamplingParams::greedy()};
    const auto p0 = ids(5, 3), p1 = ids(2, 7);
    std::vector<SequenceInput> batch = {{0, p0, false}, {1, p1, false}};
    std::vector<int32_t> first(2), got(size_t(2 * Runtime::kMaxDecodeSteps)), want;
    a->forward_sample(batch, params, first.data());
    b->forward_sample(batch, params, first.data());
    std::vector<int32_t> last = first;
    for (int k = 0; k < Runtime::kMaxDecodeSteps; ++k) {
      batch = {{0, std::span<const int32_t>(&last[0], 1), false},
               {1, std::span<const int32_t>(&last[1], 1), false}};
      std::vector<int32_t> next(2);
      b->forward_sample(batch, params, next.data());
      want.insert(want.end(), next.begin(), next.end());
      last = next;
    }
    batch = {{0, std::span<const int32_t>(&first[0], 1), false},
             {1, std::span<const int32_t>(&first[1], 1), false}};
    a->forward_sample_steps(batch, params, Runtime::kMaxDecodeSteps, got.data());
    QCOMPARE(got, want);
    for (int s = 0; s < 2; ++s) {
      const auto x = a->sequence_tokens(s), y = b->sequence_tokens(s);
      QCOMPARE(std::vector<int32_t>(x.begin(), x.end()), std::vector<int32_t>(y.begin(), y.end()));
    }
    const int64_t len = a->sequence_length(0);
    R1_EXPECT_ERROR(a->forward_sample_steps(batch, params, Runtime::kMaxDecodeSteps + 1, got.data()),
                    "1 to 8");
    R1_EXPECT_ERROR(a->forward_sample_steps(batch, {&params[0], 1}, 2, got.data()), "1 sampling settings");
    std::vector<SequenceInput> two = {{0, p0, false}};
    R1_EXPECT_ERROR(a->forward_sample_steps(two, {&params[0], 1}, 2, got.data()), "brings 5 tokens");
    R1_EXPECT_ERROR(a->forward_sample_steps(batch, params, 8, got.data()), "context full");  // 13 + 8 > 16
    QCOMPARE(a->sequence_length(0), len);
  }

  // A cache larger than the host memory available is refused before anything is allocated, with the
  // breakdown; R1WB_HOST_MEMORY_MB caps what the planner may use, as a cgroup limit would.
  void refuses_a_cache_larger_than_host_memory() {
    const auto dense = fixture("qwen2-tied"), mla = fixture("deepseek-v2-lite-style");
    RuntimeOptions o;
    o.max_context = 256;
    o.max_sequences = 1 << 22;  // a terabyte of KV cache
    R1_EXPECT_ERROR(create_runtime(dense, o), "the CPU runtime needs", "KV cache", "MiB of host memory");
    R1_EXPECT_ERROR(create_runtime(mla, o), "the CPU MLA runtime needs", "latent KV cache");
    qputenv("R1WB_HOST_MEMORY_MB", "1");
    o.max_sequences = 4;
    R1_EXPECT_ERROR(create_runtime(dense, o), "but 1 MiB of host memory are available",
                    "lower the context or the number of sequences");
    qputenv("R1WB_HOST_MEMORY_MB", "lots");
    R1_EXPECT_ERROR(create_runtime(dense, o), "R1WB_HOST_MEMORY_MB");
    qunsetenv("R1WB_HOST_MEMORY_MB");
    QVERIFY(create_runtime(dense, o) != nullptr);
  }

  void generator_fills_the_context_and_cancels() {
    const auto m = fixture("qwen2-tied");
    RuntimeOptions o;
    o.max_context = 12;
    auto rt = create_runtime(m, o);
    Generator gen(*rt);
    GenerateOptions go;
    go.max_new_tokens = 100;
    const auto res = gen.generate(ids(8, 9), go, SamplingParams::greedy());
    QCOMPARE(res.reason, StopReason::ContextFull);
    QCOMPARE(res.tokens.size(), size_t(5));  // 8 prompt + 4 fed back = 12, the fifth sampled from the last
    R1_EXPECT_ERROR(gen.generate(ids(12, 9), go, SamplingParams::greedy()), "does not fit");

    // The flag set while the n-th token is taken: generation stops there, and the cache holds what one step
    // a call leaves (the prompt and the generated tokens but the last), also where the flag is seen inside
    // a call of chained steps.
    const auto cancelled_at = [&](int n, int steps_per_call) {
      std::atomic<bool> cancel{false};
      int seen = 0;
      go.steps_per_call = steps_per_call;
      const auto r = gen.generate(
          ids(3, 1), go, SamplingParams::greedy(),
          [&](int32_t) {
            if (++seen == n) cancel = true;
            return true;
          },
          &cancel);
      QCOMPARE(r.reason, StopReason::Cancelled);
      QCOMPARE(r.tokens.size(), size_t(n));
      QCOMPARE(gen.cached_tokens().size(), size_t(3 + n - 1));
    };
    cancelled_at(2, 1);
    cancelled_at(3, 4);
  }

  void cancel_from_another_thread() {
    const auto m = fixture("qwen2-tied");
    RuntimeOptions o;
    o.max_context = 256;
    auto rt = create_runtime(m, o);
    Generator gen(*rt);
    GenerateOptions go;
    go.max_new_tokens = 250;
    std::atomic<bool> cancel{false};
    std::atomic<int> produced{0};
    std::thread stopper([&] {
      while (produced.load() < 3) std::this_thread::yield();
      cancel = true;
    });
    const auto res = gen.generate(
        ids(2, 2), go, SamplingParams{},
        [&](int32_t) {
          ++produced;
          return true;
        },
        &cancel);
    stopper.join();
    QCOMPARE(res.reason, StopReason::Cancelled);
    QVERIFY(res.tokens.size() < 250);
  }
};

QTEST_APPLESS_MAIN(TestRuntimeCpu)
#include "tst_runtime_cpu.moc"
