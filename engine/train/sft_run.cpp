#include "sft_run.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "data_parallel.h"
#include "engine/core/error.h"
#include "metrics_log.h"
#include "schedule.h"
#include "sft_data.h"

namespace r1 {
namespace fs = std::filesystem;

std::string sft_metrics_json(const SftStepMetrics& m) {
  nlohmann::ordered_json j;
  j["step"] = m.step;
  j["loss"] = m.loss;
  j["lr"] = m.lr;
  j["grad_norm"] = m.grad_norm;
  j["entropy"] = m.entropy;
  j["tokens"] = m.tokens;
  j["trained_tokens"] = m.trained_tokens;
  j["tokens_per_s"] = m.tokens_per_s;
  j["elapsed_s"] = m.elapsed_s;
  j["memory_bytes"] = m.memory_bytes;
  if (!m.expert_tokens.empty()) j["expert_tokens"] = m.expert_tokens;
  return j.dump();
}

namespace {

nlohmann::json run_state(const SftRunOptions& o, const SftBatcher& batcher) {
  nlohmann::json s;
  s["kind"] = "sft";
  s["data_cursor"] = batcher.cursor().to_json();
  s["data"] = o.data_path.string();
  s["steps"] = o.steps, s["batch"] = o.batch, s["seq"] = o.seq, s["grad_accum"] = o.grad_accum;
  s["lr"] = o.lr, s["warmup"] = o.warmup, s["min_lr_ratio"] = o.min_lr_ratio;
  s["weight_decay"] = o.optimizer.weight_decay, s["max_grad_norm"] = o.optimizer.max_grad_norm;
  s["seed"] = o.seed;
  return s;
}

struct StepShare {
  double loss = 0, entropy = 0;
};

void sft_rank(const SftRunOptions& o, RankContext& ctx, SftRunResult& result);

}  // namespace

SftRunResult run_sft(const SftRunOptions& o) {
  if (o.gpus > 1 && o.batch % o.gpus != 0)
    fail("the batch (", o.batch, " rows) must split evenly over the ", o.gpus, " GPUs");
  SftRunResult result;
  run_ranks(int(o.gpus), o.device, [&](RankContext& ctx) { sft_rank(o, ctx, result); });
  return result;
}

namespace {

// One rank: every rank reads the same micro-batches and trains its share of their rows, with the loss
// normalised by the whole step's weight; the leader (rank 0) logs, reports and saves.
void sft_rank(const SftRunOptions& o, RankContext& ctx, SftRunResult& result) {
  const bool lead = ctx.leader();
  const auto log = [&](const std::string& s) {
    if (o.on_log && lead) o.on_log(s);
  };
  if (o.steps <= 0 || o.batch <= 0 || o.seq <= 1 || o.grad_accum <= 0)
    fail("steps, batch and grad-accum must be positive and seq at least 2 (got steps ", o.steps, ", batch ",
         o.batch, ", seq ", o.seq, ", grad-accum ", o.grad_accum, ")");
  const auto [row_begin, row_end] = ctx.share(o.batch);
  std::optional<LoadedCheckpoint> resume;
  if (!o.resume.empty()) resume = find_checkpoint(o.resume);
  const fs::path model_dir = resume ? resume->dir : o.model_dir;
  const auto model = load_model(model_dir);
  const auto tokenizer = Tokenizer::load(model_dir);
  const SftFormat format = SftFormat::from_model_dir(model_dir, *tokenizer, o.chat_template);
  const SftDataset data = read_sft_jsonl(o.data_path);
  const std::vector<TokenizedExample> examples = tokenize_sft(data, *tokenizer, format);
  SftBatchOptions bo;
  bo.batch_size = o.batch, bo.seq_len = o.seq, bo.seed = o.seed, bo.pad_id = format.pad_id;
  SftBatcher batcher(examples, bo);
  const SftStats& st = batcher.stats();
  log(cat(data.origin, ": ", st.examples, " examples, ", st.trained_tokens, " trained tokens per epoch, ",
          st.truncated, " truncated to ", o.seq, " tokens, ", st.untrained, " with nothing left to train"));

  TrainerOptions to;
  to.device = o.device;
  to.max_batch = row_end - row_begin, to.max_seq = o.seq, to.recompute = o.recompute;
  auto trainer = make_trainer(*model, to);
  trainer->set_gradient_sync(ctx.sync);
  if (lead) result.plan = trainer->memory_plan();
  log(cat("memory plan (", train_device_name(o.device), "): ", trainer->memory_plan().describe()));
  if (resume) {
    load_optimizer_state(resume->dir, *trainer);
    if (!resume->state.contains("data_cursor"))
      fail((resume->dir / "trainer_state.json").string(), ": field 'data_cursor' is missing");
    batcher.restore(
        SftCursor::from_json(resume->state["data_cursor"], (resume->dir / "trainer_state.json").string()));
    log(cat("resumed from ", resume->dir.string(), " at step ", trainer->steps_taken()));
  }

  LrSchedule sched;
  sched.peak = o.lr, sched.warmup_steps = o.warmup, sched.total_steps = o.steps,
  sched.min_ratio = o.min_lr_ratio;
  MetricsLog metrics(lead ? o.metrics_jsonl : fs::path());
  const auto save = [&]() {
    if (o.out_dir.empty() || !lead) return;
    result.last_checkpoint = save_checkpoint(o.out_dir, *model, *trainer, run_state(o, batcher));
    log(cat("saved ", result.last_checkpoint.string()));
  };

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  if (lead) result.first_step = trainer->steps_taken() + 1;
  std::vector<TrainBatch> micro(size_t(o.grad_accum));
  while (trainer->steps_taken() < o.steps) {
    if (ctx.any(o.cancel && o.cancel->load())) {
      if (!lead) break;
      result.cancelled = true;
      log(cat("cancelled after step ", trainer->steps_taken()));
      break;
    }
    const auto t0 = clock::now();
    double weight = 0;
    for (TrainBatch& b : micro) {
      batcher.next(b);
      weight += b.weight_sum();
    }
    SftStepMetrics m;
    m.step = trainer->steps_taken() + 1;
    m.total_steps = o.steps;
    rank_fault_point(ctx, m.step);
    StepShare share;
    for (const TrainBatch& b : micro) {
      if (weight <= 0) break;  // nothing to learn in this step's rows; the optimizer still counts the step
      m.tokens += double(b.tokens());
      TrainBatch mine;
      const TrainBatch& part = ctx.ranks == 1 ? b : (mine = b.rows(row_begin, row_end));
      CrossEntropyObjective ce(part.weights.data(), weight);
      if (ctx.sync && &b == &micro.back()) ctx.sync->reduce_in_next_backward();
      share.loss += trainer->forward_backward(part, ce);
      share.entropy += ce.weighted_entropy() / weight;
    }
    m.trained_tokens = weight;
    m.lr = sched.at(m.step);
    m.grad_norm = trainer->optimizer_step(o.optimizer, m.lr);
    for (const StepShare& s : ctx.all_gather(share)) m.loss += s.loss, m.entropy += s.entropy;
    if (!lead) continue;
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    m.tokens_per_s = m.tokens / std::max(dt, 1e-9);
    m.elapsed_s = std::chrono::duration<double>(clock::now() - start).count();
    m.memory_bytes = result.plan.total_bytes();
    m.expert_tokens = trainer->expert_token_counts();  // the step's last micro-batch
    result.losses.push_back(m.loss);
    result.last_step = m.step;
    metrics.write(sft_metrics_json(m));
    if (o.on_step) o.on_step(m);
    if (o.save_every > 0 && m.step % o.save_every == 0 && m.step < o.steps) save();
  }
  save();
}

}  // namespace

}  // namespace r1
