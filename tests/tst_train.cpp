// The trainer's contracts beyond PyTorch parity: memory planning, chunking, recomputation and gradient
// accumulation leave the gradients unchanged; SFT lowers the loss; checkpoints resume bit-exactly; the CLI
// reports bad data with its line.
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/checksum.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/train/checkpoint.h"
#include "engine/train/grad_zeroing.h"
#include "engine/train/schedule.h"
#include "engine/train/sft_run.h"
#include "engine/train/trainer.h"
#include "testlib/test_support.h"

using namespace r1;
using namespace r1::test;

namespace {

std::filesystem::path parity_model(const char* name) {
  return fixtures() / "train" / name;
}

TrainBatch random_batch(int64_t B, int64_t L, int64_t vocab, uint32_t seed) {
  TrainBatch b;
  b.B = B, b.L = L;
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < B * L; ++i) {
    b.ids.push_back(int32_t(rng() % uint32_t(vocab)));
    b.targets.push_back(int32_t(rng() % uint32_t(vocab)));
    b.weights.push_back((rng() % 4) ? 1.0f : 0.0f);
  }
  return b;
}

std::vector<float> grads_of(const Model& m, const TrainerOptions& o, const std::vector<TrainBatch>& batches,
                            double* loss) {
  auto t = make_trainer(m, o);
  double norm = 0;
  for (const TrainBatch& b : batches) norm += b.weight_sum();
  *loss = 0;
  for (const TrainBatch& b : batches) {
    CrossEntropyObjective ce(b.weights.data(), norm);
    *loss += t->forward_backward(b, ce);
  }
  return t->gradients();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, double(std::abs(x)));
  return m;
}

void write_sft_data(const std::filesystem::path& p, int n) {
  std::ofstream f(p);
  for (int i = 0; i < n; ++i) {
    nlohmann::json j;
    j["prompt"] = "add " + std::to_string(i) + " and " + std::to_string(i + 1) + ":";
    j["completion"] = " " + std::to_string(2 * i + 1);
    f << j.dump() << "\n";
  }
}

}  // namespace

class TestTrain : public QObject {
  Q_OBJECT
 private slots:
  void plan_breaks_memory_down() {
    const ModelConfig c = shape_config("r1-distill-qwen-1.5b");
    const TrainMemoryPlan full = plan_train_memory(c, 8, 1024, false, 1024, 2, true, false, 0);
    const TrainMemoryPlan rec = plan_train_memory(c, 8, 1024, true, 1024, 2, true, false, 0);
    QCOMPARE(full.master_bytes, full.parameters * 4);
    QCOMPARE(full.grads_bytes, full.parameters * 4);
    QCOMPARE(full.optimizer_bytes, full.parameters * 8);
    QCOMPARE(full.weights_bytes, full.parameters * 2);
    QVERIFY(full.parameters > 1'700'000'000 && full.parameters < 1'800'000'000);
    QVERIFY(rec.activations_bytes * 4 < full.activations_bytes);  // one layer's set instead of 28
    // Flash attention keeps [B, H, L] fp32 log-sum-exp rows instead of the [B, H, L, L] probabilities.
    const TrainMemoryPlan flash = plan_train_memory(c, 8, 1024, false, 1024, 2, true, true, 0);
    QCOMPARE(flash.parameters, full.parameters);
    const int64_t rows = 8 * int64_t(c.num_heads) * 1024;
    QCOMPARE(full.activations_bytes - flash.activations_bytes,
             int64_t(c.num_layers) * (rows * 1024 * 2 - rows * 4));
    QCOMPARE(full.total_bytes(), full.weights_bytes + full.master_bytes + full.grads_bytes +
                                     full.optimizer_bytes + full.activations_bytes);
    QVERIFY(full.describe().find("optimizer") != std::string::npos);
  }

  void refuses_what_does_not_fit() {
    const auto m = load_model(parity_model("qwen2-untied"));
    TrainerOptions o;
    o.max_batch = 1 << 18, o.max_seq = 64;  // hundreds of GiB of activations
    R1_EXPECT_ERROR(make_trainer(*m, o), "training on the CPU needs", "activations", "MiB of host memory");
    o.max_batch = 1, o.max_seq = 100000;
    R1_EXPECT_ERROR(make_trainer(*m, o), "max_position_embeddings");
  }

  void refuses_bad_batches() {
    const auto m = load_model(parity_model("qwen2-untied"));
    TrainerOptions o;
    o.max_batch = 2, o.max_seq = 8;
    auto t = make_trainer(*m, o);
    TrainBatch b = random_batch(2, 8, m->config.vocab_size, 1);
    b.ids[3] = int32_t(m->config.vocab_size);
    CrossEntropyObjective ce(b.weights.data(), 1.0);
    R1_EXPECT_ERROR(t->forward_backward(b, ce), "token id", "vocabulary");
    TrainBatch big = random_batch(3, 8, m->config.vocab_size, 1);
    R1_EXPECT_ERROR(t->forward_backward(big, ce), "does not fit");
  }

  void gradients_do_not_depend_on_how_the_work_is_split_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("dense") << "qwen3-qknorm";
    QTest::newRow("mla") << "deepseek-v3-mla-dense";
  }
  void gradients_do_not_depend_on_how_the_work_is_split() {
    QFETCH(QString, name);
    const auto m = load_model(parity_model(name.toStdString().c_str()));
    const int64_t V = m->config.vocab_size;
    const TrainBatch both = random_batch(2, 12, V, 5);
    const TrainBatch r0 = both.rows(0, 1), r1b = both.rows(1, 2);
    TrainerOptions o;
    o.max_batch = 2, o.max_seq = 12;
    double loss_ref = 0, loss = 0;
    const auto ref = grads_of(*m, o, {both}, &loss_ref);
    const double scale = max_abs(ref);
    QVERIFY(scale > 0);
    // The LM head one row at a time.
    o.lm_head_chunk_rows = 1;
    auto g = grads_of(*m, o, {both}, &loss);
    QVERIFY(std::abs(loss - loss_ref) < 1e-6 * loss_ref);
    QVERIFY2(max_abs_diff(g, ref) < 1e-5 * scale, "chunked LM head changed the gradients");
    // Recomputing each layer's activations in backward.
    o.lm_head_chunk_rows = 0;
    o.recompute = true;
    g = grads_of(*m, o, {both}, &loss);
    QCOMPARE(loss, loss_ref);
    QVERIFY2(max_abs_diff(g, ref) == 0.0, "recomputation changed the gradients");
    // Two micro-batches of one row each.
    o.recompute = false;
    g = grads_of(*m, o, {r0, r1b}, &loss);
    QVERIFY(std::abs(loss - loss_ref) < 1e-6 * loss_ref);
    QVERIFY2(max_abs_diff(g, ref) < 1e-5 * scale, "gradient accumulation differs from one batch");
  }

  // After an optimizer step the projections' gradients are stale and the next backward assigns them
  // (grad_zeroing.h): two accumulated micro-batches then give the gradients a fresh trainer gives at the
  // same weights, and reading the gradients before any backward gives zeros.
  void gradients_start_from_zero_after_a_step_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("chunk");  // LM head rows per chunk; 0: the default
    QTest::newRow("dense, tied, biases") << "llama-tied-bias" << 0;
    QTest::newRow("dense, untied, first chunk without loss") << "qwen2-untied" << 1;
    QTest::newRow("mla") << "deepseek-v3-mla-dense" << 0;
    QTest::newRow("moe") << "deepseek-v3-moe" << 0;
  }
  void gradients_start_from_zero_after_a_step() {
    QFETCH(QString, name);
    QFETCH(int, chunk);
    const auto m = load_model(parity_model(name.toStdString().c_str()));
    const int64_t V = m->config.vocab_size;
    TrainerOptions o;
    o.max_batch = 2, o.max_seq = 12, o.lm_head_chunk_rows = chunk;
    // The plan: the assigned products and the cleared ranges tile the block exactly once.
    const ParamLayout layout = make_param_layout(m->config);
    const GradZeroPlan plan(layout, make_train_dims(m->config, 2, 12, false, 1));
    std::vector<GradRange> all = plan.assigned();
    all.insert(all.end(), plan.cleared().begin(), plan.cleared().end());
    std::sort(all.begin(), all.end(),
              [](const GradRange& a, const GradRange& b) { return a.offset < b.offset; });
    int64_t at = 0;
    for (const GradRange& r : all) {
      QCOMPARE(r.offset, at);
      at += r.count;
    }
    QCOMPARE(at, layout.total);
    QVERIFY(!plan.assigned().empty() && !plan.cleared().empty());
    QVERIFY(plan.assigns(plan.assigned()[0].offset, plan.assigned()[0].count));
    QVERIFY_THROWS_EXCEPTION(std::logic_error,
                             plan.assigns(plan.assigned()[0].offset, plan.assigned()[0].count + 1));

    auto t = make_trainer(*m, o);
    const TrainBatch first = random_batch(2, 12, V, 7);
    TrainBatch second = random_batch(2, 12, V, 8);
    second.weights[0] = 0.0f;  // with one-row chunks, the first chunk has no loss term
    CrossEntropyObjective ce(first.weights.data(), first.weight_sum());
    t->forward_backward(first, ce);
    OptimizerHyper h;
    h.max_grad_norm = 1.0;
    t->optimizer_step(h, 1e-2);
    QCOMPARE(max_abs(t->gradients()), 0.0);
    t->forward_backward(first, ce);
    t->optimizer_step(h, 1e-2);  // stale again, after a backward that assigned
    const std::vector<float> weights = t->parameters();

    const TrainBatch r0 = second.rows(0, 1), r1b = second.rows(1, 2);
    const double norm = second.weight_sum();
    CrossEntropyObjective ce0(r0.weights.data(), norm), ce1(r1b.weights.data(), norm);
    t->forward_backward(r0, ce0);
    t->forward_backward(r1b, ce1);
    const std::vector<float> g = t->gradients();

    auto fresh = make_trainer(*m, o);
    fresh->set_parameters(weights);
    fresh->forward_backward(r0, ce0);
    fresh->forward_backward(r1b, ce1);
    const std::vector<float> ref = fresh->gradients();
    QVERIFY(max_abs(ref) > 0);
    QVERIFY2(max_abs_diff(g, ref) <= 1e-6 * max_abs(ref), "stale gradients leaked into the next step");
  }

  void schedule_warms_up_then_decays() {
    LrSchedule s;
    s.peak = 1.0, s.warmup_steps = 10, s.total_steps = 110, s.min_ratio = 0.1;
    QCOMPARE(s.at(1), 0.1);
    QCOMPARE(s.at(10), 1.0);
    QVERIFY(std::abs(s.at(60) - 0.55) < 1e-12);  // half way through the cosine
    QVERIFY(std::abs(s.at(110) - 0.1) < 1e-12);
    QVERIFY(std::abs(s.at(500) - 0.1) < 1e-12);
  }

  void sft_learns_and_resumes_exactly() {
    TempDir tmp;
    write_sft_data(tmp / "data.jsonl", 24);
    SftRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.data_path = tmp / "data.jsonl";
    o.batch = 4, o.seq = 24, o.steps = 12, o.lr = 3e-3, o.warmup = 2, o.seed = 9;
    o.chat_template = false;
    o.out_dir = tmp / "full";
    o.save_every = 6;
    o.metrics_jsonl = tmp / "full.jsonl";
    const SftRunResult full = run_sft(o);
    QCOMPARE(int64_t(full.losses.size()), int64_t(12));
    const double first = (full.losses[0] + full.losses[1]) / 2,
                 last = (full.losses[10] + full.losses[11]) / 2;
    qInfo("SFT loss %.4f -> %.4f", first, last);
    QVERIFY2(last < 0.7 * first, "SFT did not lower the loss");

    // Every step wrote a metrics line with the documented fields.
    std::ifstream mf(tmp / "full.jsonl");
    std::string line;
    int lines = 0;
    while (std::getline(mf, line)) {
      const auto j = nlohmann::json::parse(line);
      for (const char* k : {"step", "loss", "lr", "grad_norm", "tokens_per_s"}) QVERIFY(j.contains(k));
      QCOMPARE(j["step"].get<int>(), ++lines);
    }
    QCOMPARE(lines, 12);

    // Stop at 6, resume from the checkpoint: the same losses as the uninterrupted run, bit for bit.
    o.out_dir = tmp / "part";
    o.metrics_jsonl.clear();
    o.steps = 6;
    o.save_every = 0;
    SftRunOptions first_half = o;
    first_half.steps = 12;  // the schedule is the full run's
    std::atomic<bool> stop{false};
    first_half.cancel = &stop;
    first_half.on_step = [&](const SftStepMetrics& m) {
      if (m.step == 6) stop = true;
    };
    const SftRunResult a = run_sft(first_half);
    QVERIFY(a.cancelled);
    QCOMPARE(a.last_step, int64_t(6));
    QVERIFY(std::filesystem::exists(tmp / "part" / "checkpoint-000006" / "model.safetensors"));
    SftRunOptions second = o;
    second.steps = 12;
    second.resume = tmp / "part";
    const SftRunResult b = run_sft(second);
    QCOMPARE(b.first_step, int64_t(7));
    QCOMPARE(int64_t(b.losses.size()), int64_t(6));
    for (size_t i = 0; i < 6; ++i) QCOMPARE(b.losses[i], full.losses[6 + i]);

    // The checkpoint is a model folder this engine loads, with the trainer's exact weights.
    const auto saved = load_model(tmp / "full" / "checkpoint-000012");
    QCOMPARE(saved->weight_dtype(), DType::F32);
    QVERIFY(std::filesystem::exists(tmp / "full" / "checkpoint-000012" / "tokenizer.json"));
    QCOMPARE(find_checkpoint(tmp / "full").dir.filename().string(), std::string("checkpoint-000012"));
  }

  void sft_reports_tokens_per_expert() {
    TempDir tmp;
    write_sft_data(tmp / "data.jsonl", 8);
    SftRunOptions o;
    o.model_dir = fixtures() / "models" / "deepseek-v2-lite-style";  // layers 1-2: 8 experts, top 2
    o.data_path = tmp / "data.jsonl";
    o.batch = 2, o.seq = 16, o.steps = 1, o.chat_template = false;
    o.metrics_jsonl = tmp / "m.jsonl";
    run_sft(o);
    std::ifstream mf(tmp / "m.jsonl");
    std::string line;
    QVERIFY(std::getline(mf, line));
    const auto j = nlohmann::json::parse(line);
    QVERIFY(j.contains("expert_tokens"));
    QCOMPARE(j["expert_tokens"].size(), size_t(2));
    for (const auto& layer : j["expert_tokens"]) {
      QCOMPARE(layer.size(), size_t(8));
      int64_t routed = 0;
      for (const auto& n : layer) routed += n.get<int64_t>();
      QCOMPARE(routed, int64_t(2 * 16 * 2));  // every position of the batch, to two experts
    }
  }

  // Published XXH64 test vectors (seed 0): the empty input, short tails, and the 32-byte stripe loop.
  void xxh64_matches_reference_vectors() {
    QCOMPARE(r1::xxh64("", 0), uint64_t(0xEF46DB3751D8E999ull));
    QCOMPARE(r1::xxh64("a", 1), uint64_t(0xD24EC4F1A98C6E5Bull));
    QCOMPARE(r1::xxh64("abc", 3), uint64_t(0x44BC2CF5AD770999ull));
    const std::string long_text = "Nobody inspects the spammish repetition";
    QCOMPARE(r1::xxh64(long_text.data(), long_text.size()), uint64_t(0xFBCEA83C8A378BF1ull));
  }

  // A checkpoint whose files no longer match the sizes and checksums recorded at save time is refused with
  // the damaged file named, and the earlier checkpoints beside it offered.
  void damaged_checkpoint_is_refused() {
    TempDir tmp;
    write_sft_data(tmp / "data.jsonl", 8);
    SftRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.data_path = tmp / "data.jsonl";
    o.batch = 2, o.seq = 16, o.steps = 2, o.save_every = 1, o.chat_template = false;
    o.out_dir = tmp / "run";
    run_sft(o);
    const auto ckpt = tmp / "run" / "checkpoint-000002";
    const auto state = nlohmann::json::parse(r1::read_text_file(ckpt / "trainer_state.json"));
    for (const char* f : {"model.safetensors", "optimizer.safetensors", "config.json", "tokenizer.json"})
      QVERIFY2(state["files"].contains(f), f);
    QCOMPARE(find_checkpoint(tmp / "run").dir, ckpt);

    // One flipped bit in the middle of the optimizer moments.
    const auto opt = ckpt / "optimizer.safetensors";
    std::string bytes = r1::read_text_file(opt);
    bytes[bytes.size() / 2] ^= 0x10;
    write_bytes(opt, bytes);
    R1_EXPECT_ERROR(find_checkpoint(tmp / "run"), "optimizer.safetensors: checksum");
    R1_EXPECT_ERROR(find_checkpoint(tmp / "run"), "checkpoint-000001");

    // A truncated model file.
    const auto model = ckpt / "model.safetensors";
    std::filesystem::resize_file(model, std::filesystem::file_size(model) - 100);
    R1_EXPECT_ERROR(find_checkpoint(ckpt), "bytes where");
    QCOMPARE(find_checkpoint(tmp / "run" / "checkpoint-000001").dir, tmp / "run" / "checkpoint-000001");
  }

  void incomplete_checkpoint_is_refused() {
    TempDir tmp;
    std::filesystem::create_directories(tmp / "checkpoint-000001");
    write_bytes(tmp / "checkpoint-000001" / "config.json", "{}");
    R1_EXPECT_ERROR(find_checkpoint(tmp / "checkpoint-000001"), "not a complete checkpoint");
  }

  void cli_reports_bad_lines_and_writes_metrics() {
    TempDir tmp;
    write_bytes(tmp / "bad.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3}\n");
    const std::string model = (fixtures() / "models" / "qwen2-tied").string();
    ProcessResult r =
        run_program("r1wb", {"train", "sft", "--model", model, "--data", (tmp / "bad.jsonl").string()});
    QVERIFY(!r.crashed);
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.find("bad.jsonl") != std::string::npos && r.err.find("line 2") != std::string::npos,
             r.err.c_str());
    write_sft_data(tmp / "good.jsonl", 8);
    r = run_program("r1wb", {"train",
                             "sft",
                             "--model",
                             model,
                             "--data",
                             (tmp / "good.jsonl").string(),
                             "--steps",
                             "3",
                             "--batch",
                             "2",
                             "--seq",
                             "16",
                             "--lr",
                             "1e-3",
                             "--out",
                             (tmp / "run").string(),
                             "--metrics-jsonl",
                             (tmp / "m.jsonl").string(),
                             "--chat-template",
                             "off"});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const auto summary = nlohmann::json::parse(r.out);
    QCOMPARE(summary["last_step"].get<int>(), 3);
    QVERIFY(std::filesystem::exists(tmp / "run" / "checkpoint-000003" / "optimizer.safetensors"));
    std::ifstream mf(tmp / "m.jsonl");
    int n = 0;
    for (std::string line; std::getline(mf, line);) ++n;
    QCOMPARE(n, 3);
  }
};

QTEST_APPLESS_MAIN(TestTrain)
#include "tst_train.moc"
