#include "grpo_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "engine/core/error.h"
#include "engine/runtime/runtime.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/data_parallel.h"
#include "engine/train/metrics_log.h"
#include "engine/train/schedule.h"
#include "engine/train/sft_data.h"
#include "rollout.h"

namespace r1 {
namespace fs = std::filesystem;

std::vector<int32_t> encode_prompt(const fs::path& model_dir, const Tokenizer& tokenizer,
                                   const std::string& text) {
  const SftFormat f = SftFormat::from_model_dir(model_dir, tokenizer);
  if (f.chat) {
    const std::vector<ChatMessage> msgs{{"user", text, ""}};
    ChatOptions opt;
    opt.add_generation_prompt = true;
    return tokenizer.encode(f.chat->render(msgs, opt));
  }
  std::vector<int32_t> ids;
  if (f.bos_id) ids.push_back(*f.bos_id);
  const auto body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// The rollout runtime at the trainer's current weights, kept across steps where the weights can move device
// to device (CUDA), else rebuilt.
void policy_runtime(std::unique_ptr<Runtime>& rt, const Model& base, const Trainer& trainer,
                    TrainDevice device, int64_t sequences, int64_t context) {
  RuntimeOptions ro;
  ro.device = rollout_device(device);
  ro.max_sequences = int(sequences);
  ro.max_context = context;
  sync_policy_runtime(rt, base, trainer, ro);
}

struct Row {
  int64_t rollout = 0;  // index into the step's rollouts
  int64_t prompt_len = 0, completion_len = 0;
};

// One micro-batch: rows, their token weights, advantages and (optional) old/ref log-probs per position.
struct MicroBatch {
  TrainBatch batch;
  std::vector<int64_t> rows;  // rollout indices
  std::vector<float> weight, advantage, old_logp, ref_logp;
};

// Rollouts of the whole batch from every rank's share, in rank order (each rank holds consecutive prompts).
RolloutBatch gather_rollouts(const RankContext& ctx, RolloutBatch local) {
  if (ctx.ranks == 1) return local;
  const std::vector<RolloutBatch> parts = ctx.all_gather(std::move(local));
  RolloutBatch all;
  all.G = parts.front().G;
  for (const RolloutBatch& p : parts) {
    all.completions.insert(all.completions.end(), p.completions.begin(), p.completions.end());
    all.truncated.insert(all.truncated.end(), p.truncated.begin(), p.truncated.end());
    all.seconds = std::max(all.seconds, p.seconds);  // the ranks generate at the same time
    all.tokens += p.tokens;
  }
  return all;
}

// What a rank's update adds to the step's metrics and records.
struct UpdateShare {
  GrpoObjective::Stats stats;
  double loss = 0, train_tokens = 0;
  std::vector<std::pair<int64_t, std::vector<float>>> rollout_logp;  // per trained rollout
};

void grpo_rank(const GrpoRunOptions& o, RankContext& ctx, GrpoRunResult& result);

}  // namespace

GrpoRunResult run_grpo(const GrpoRunOptions& o) {
  if (o.gpus > 1 && o.prompts_per_step % o.gpus != 0)
    fail("prompts per step (", o.prompts_per_step, ") must split evenly over the ", o.gpus, " GPUs");
  GrpoRunResult result;
  run_ranks(int(o.gpus), o.device, [&](RankContext& ctx) { grpo_rank(o, ctx, result); });
  return result;
}

namespace {

// One rank of a run (the only one without data parallelism). Every rank samples the same problems, generates
// its share of the prompts' groups, and sees every rollout, so rewards, advantages and loss weights are
// those of the whole batch; it trains on its own rows, and the leader (rank 0) records, logs and saves.
void grpo_rank(const GrpoRunOptions& o, RankContext& ctx, GrpoRunResult& result) {
  const bool lead = ctx.leader();
  const auto log = [&](const std::string& s) {
    if (o.on_log && lead) o.on_log(s);
  };
  if (o.group_size < 2 || o.prompts_per_step < 1 || o.max_completion < 1 || o.steps < 1 || o.mu < 1)
    fail("GRPO needs group size >= 2 and positive prompts per step, max completion, steps and mu (got G ",
         o.group_size, ", P ", o.prompts_per_step, ", max completion ", o.max_completion, ", steps ", o.steps,
         ", mu ", o.mu, ")");
  std::optional<LoadedCheckpoint> resume;
  if (!o.resume.empty()) resume = find_checkpoint(o.resume);
  const fs::path model_dir = resume ? resume->dir : o.model_dir;
  const auto model = load_model(model_dir);
  const auto tokenizer = Tokenizer::load(model_dir);
  if (model->stop_ids.empty())
    fail(model_dir.string(), ": the model names no eos_token_id; rollouts could never end");

  TaskConfig task = TaskConfig::preset(o.task, o.difficulty);
  std::vector<Problem> data;
  if (!o.data_path.empty()) data = read_problems_jsonl(o.data_path);
  RewardOptions ropt;
  ropt.max_tokens = o.max_completion;
  // JSONL problems carry no task of their own: the verifier their meta names, else math answers.
  const std::string spec = !o.rewards.empty() ? o.rewards
                           : data.empty()     ? default_reward_spec(task.kind)
                                              : std::string("accuracy:1.0,format:0.2");
  const RewardSet rewards = RewardSet::parse(spec, ropt);
  const int64_t P = o.prompts_per_step, G = o.group_size, N = P * G;
  const auto [p_begin, p_end] = ctx.share(P);
  const int64_t P_local = p_end - p_begin;
  const auto problem_at = [&](int64_t index) {
    return data.empty() ? training_problem(task, o.seed, uint64_t(index)) : data[size_t(index) % data.size()];
  };
  // The prompt budget: the longest of the first problems (or the whole file) plus a margin.
  int64_t prompt_budget = 0;
  for (int64_t i = 0; i < (data.empty() ? 256 : int64_t(data.size())); ++i)
    prompt_budget = std::max<int64_t>(
        prompt_budget, int64_t(encode_prompt(model_dir, *tokenizer, problem_at(i).prompt).size()));
  prompt_budget += 32;
  const int64_t micro = o.micro_batch > 0 ? std::min(o.micro_batch, P_local * G) : P_local * G;

  TrainerOptions to;
  to.device = o.device;
  to.max_batch = micro, to.max_seq = prompt_budget + o.max_completion;
  auto trainer = make_trainer(*model, to);
  log(cat("memory plan (", train_device_name(o.device), "): ", trainer->memory_plan().describe()));
  std::unique_ptr<Trainer> reference;
  if (o.loss.beta > 0) {
    const fs::path ref_dir = resume && resume->state.contains("reference")
                                 ? fs::path(resume->state["reference"].get<std::string>())
                                 : o.model_dir;
    reference = make_trainer(*load_model(ref_dir), to);
  }
  GrpoMemory memory;
  memory.policy = trainer->memory_plan();
  memory.reference_bytes = reference ? reference->memory_plan().total_bytes() : 0;
  memory.critic = ppo_critic_estimate(memory.policy);
  if (o.on_memory && lead) o.on_memory(memory);
  if (resume) load_optimizer_state(resume->dir, *trainer);
  trainer->set_gradient_sync(ctx.sync);
  int64_t step = trainer->steps_taken() / o.mu;

  nlohmann::json config = {{"task", o.task},
                           {"difficulty", o.difficulty},
                           {"data", o.data_path.string()},
                           {"rewards", rewards.spec()},
                           {"group_size", G},
                           {"prompts_per_step", P},
                           {"max_completion", o.max_completion},
                           {"steps", o.steps},
                           {"mu", o.mu},
                           {"lr", o.lr},
                           {"beta", o.loss.beta},
                           {"epsilon_low", o.loss.epsilon_low},
                           {"epsilon_high", o.loss.epsilon_high},
                           {"loss", loss_aggregation_name(o.aggregation)},
                           {"dynamic_sampling", o.dynamic_sampling},
                           {"mask_truncated", o.mask_truncated},
                           {"temperature", o.temperature},
                           {"top_p", o.top_p},
                           {"seed", o.seed},
                           {"device", train_device_name(o.device)},
                           {"gpus", ctx.ranks}};
  // Only the leader records, and only it touches `result`: the other ranks' threads share it.
  RunRecorder* const recorder = lead ? o.recorder : nullptr;
  if (recorder) {
    result.run_id =
        o.resume_run_id > 0 ? o.resume_run_id : recorder->begin_run("grpo", model_dir.string(), config);
    if (o.resume_run_id > 0) recorder->resume_run(o.resume_run_id);
  }
  const int64_t run_id = lead ? result.run_id : 0;
  // A run that ends by an exception (a CUDA error, a full disk) is recorded as failed, not left running.
  struct MarkFailed {
    RunRecorder* recorder;
    int64_t run;
    ~MarkFailed() {
      if (!recorder || run <= 0 || std::uncaught_exceptions() == 0) return;
      try {
        recorder->finish_run(run, "failed");
      } catch (...) {  // the store's own failure must not replace the one being reported
      }
    }
  } mark_failed{recorder, run_id};
  MetricsLog metrics_file(lead ? o.metrics_jsonl : fs::path());
  const auto save = [&]() {
    if (o.out_dir.empty() || !lead) return;
    nlohmann::json state = config;
    state["kind"] = "grpo";
    state["grpo_step"] = step;
    state["reference"] = (resume && resume->state.contains("reference"))
                             ? resume->state["reference"].get<std::string>()
                             : o.model_dir.string();
    result.last_checkpoint = save_checkpoint(o.out_dir, *model, *trainer, state);
    if (recorder) recorder->record_checkpoint(result.run_id, step, result.last_checkpoint.string());
    log(cat("saved ", result.last_checkpoint.string()));
  };
  LrSchedule sched;
  sched.peak = o.lr, sched.warmup_steps = o.warmup, sched.total_steps = o.steps * o.mu,
  sched.min_ratio = o.min_lr_ratio;
  SamplingParams sampling;
  sampling.temperature = o.temperature, sampling.top_p = o.top_p;
  sampling.validate();

  if (lead) result.first_step = step + 1;
  std::unique_ptr<Runtime> rt;  // the rollout runtime (kept across steps on CUDA)
  while (step < o.steps) {
    if (ctx.any(o.cancel && o.cancel->load())) {
      if (lead) result.cancelled = true;
      break;
    }
    ++step;
    const auto t_step = clock_type::now();
    // Rollouts.
    std::vector<Problem> problems;
    std::vector<std::vector<int32_t>> prompts;
    for (int64_t p = 0; p < P; ++p) {
      problems.push_back(problem_at((step - 1) * P + p));
      prompts.push_back(encode_prompt(model_dir, *tokenizer, problems.back().prompt));
      if (int64_t(prompts.back().size()) > prompt_budget)
        fail("prompt of problem ", (step - 1) * P + p, " has ", prompts.back().size(),
             " tokens, over the run's budget of ", prompt_budget);
    }
    policy_runtime(rt, *model, *trainer, o.device, P_local * G, prompt_budget + o.max_completion + 1);
    const std::vector<std::vector<int32_t>> my_prompts(prompts.begin() + p_begin, prompts.begin() + p_end);
    const RolloutBatch gen = gather_rollouts(
        ctx, generate_rollouts(*rt, my_prompts, G, o.max_completion, sampling,
                               o.seed * 1000003 + uint64_t(step), model->stop_ids, p_begin * G));
    if (o.on_memory && lead) {
      // At the end of generation a sequence holds its prompt and its completion but the last token.
      int64_t held = 0;
      for (int64_t i = p_begin * G; i < p_end * G; ++i)
        held += int64_t(prompts[size_t(i / G)].size() + gen.completions[size_t(i)].size()) - 1;
      memory.step = step;
      account_rollout(memory, *rt, held);
      o.on_memory(memory);
    }
    if (!trainer->device_compute_weights()) rt.reset();  // a host runtime is rebuilt each step anyway

    // Rewards and advantages.
    std::vector<Completion> completions;
    std::vector<RewardScore> scores;
    std::vector<double> totals;
    double correct = 0, formatted = 0;
    for (int64_t i = 0; i < N; ++i) {
      const auto& toks = gen.completions[size_t(i)];
      completions.push_back(Completion::from_text(tokenizer->decode(toks, true), gen.truncated[size_t(i)],
                                                  int64_t(toks.size())));
      scores.push_back(rewards.score(problems[size_t(i / G)], completions.back()));
      totals.push_back(scores.back().total);
      correct += is_correct(problems[size_t(i / G)], completions.back()) ? 1 : 0;
      formatted += well_formatted(completions.back()) ? 1 : 0;
    }
    const AdvantageScale scale = o.aggregation == LossAggregation::DrGrpo ? AdvantageScale::None : o.scale;
    const std::vector<double> adv = group_advantages(totals, G, scale);
    std::vector<Row> rows;  // the whole batch's; this rank trains those of its prompts
    int64_t zero_std_groups = 0;
    for (int64_t g = 0; g < P; ++g) {
      const auto [lo, hi] = std::minmax_element(totals.begin() + g * G, totals.begin() + (g + 1) * G);
      const bool flat = *lo == *hi;
      zero_std_groups += flat ? 1 : 0;
      if (flat && o.dynamic_sampling) continue;
      for (int64_t j = 0; j < G; ++j) {
        const int64_t i = g * G + j;
        if (o.mask_truncated && gen.truncated[size_t(i)]) continue;
        rows.push_back({i, int64_t(prompts[size_t(g)].size()), int64_t(gen.completions[size_t(i)].size())});
      }
    }
    // Token weights of the chosen aggregation, over the whole batch.
    double all_tokens = 0;
    for (const Row& r : rows) all_tokens += double(r.completion_len);
    const auto rows_of_rank = [&](int rank) {
      std::vector<Row> out;
      for (const Row& r : rows)
        if (r.rollout / G * ctx.ranks / P == rank) out.push_back(r);
      return out;
    };
    double micro_batches = 0;  // BNPO normalises per micro-batch, counted over every rank
    for (int r = 0; r < ctx.ranks; ++r)
      micro_batches += std::ceil(double(rows_of_rank(r).size()) / double(micro));
    const std::vector<Row> mine = rows_of_rank(ctx.rank);
    std::vector<MicroBatch> mbs;
    for (size_t r0 = 0; r0 < mine.size(); r0 += size_t(micro)) {
      MicroBatch mb;
      const size_t r1 = std::min(mine.size(), r0 + size_t(micro));
      int64_t L = 0;
      double mb_tokens = 0;
      for (size_t r = r0; r < r1; ++r) {
        L = std::max(L, mine[r].prompt_len + mine[r].completion_len);
        mb_tokens += double(mine[r].completion_len);
      }
      TrainBatch& b = mb.batch;
      b.B = int64_t(r1 - r0), b.L = L;
      b.ids.assign(size_t(b.B * L), 0);
      b.targets.assign(size_t(b.B * L), 0);
      b.weights.assign(size_t(b.B * L), 0.0f);
      mb.weight.assign(size_t(b.B * L), 0.0f);
      mb.advantage.assign(size_t(b.B * L), 0.0f);
      for (size_t r = r0; r < r1; ++r) {
        const Row& row = mine[r];
        const int64_t off = int64_t(r - r0) * L;
        const auto& pr = prompts[size_t(row.rollout / G)];
        const auto& cp = gen.completions[size_t(row.rollout)];
        std::vector<int32_t> seq(pr.begin(), pr.end());
        seq.insert(seq.end(), cp.begin(), cp.end());
        double w = 0;
        switch (o.aggregation) {
          case LossAggregation::Grpo:
            w = 1.0 / (double(std::max<int64_t>(row.completion_len, 1)) * double(rows.size()));
            break;
          case LossAggregation::DrGrpo:
            w = 1.0 / (double(o.max_completion) * double(rows.size()));
            break;
          case LossAggregation::Dapo:
            w = 1.0 / std::max(all_tokens, 1.0);
            break;
          case LossAggregation::Bnpo:
            w = 1.0 / std::max(mb_tokens, 1.0) / micro_batches;
            break;
        }
        for (int64_t t = 0; t < int64_t(seq.size()); ++t) {
          b.ids[size_t(off + t)] = seq[size_t(t)];
          if (t + 1 < int64_t(seq.size())) b.targets[size_t(off + t)] = seq[size_t(t + 1)];
          if (t >= row.prompt_len - 1 && t + 1 < int64_t(seq.size())) {
            b.weights[size_t(off + t)] = 1.0f;
            mb.weight[size_t(off + t)] = float(w);
            mb.advantage[size_t(off + t)] = float(adv[size_t(row.rollout)]);
          }
        }
        mb.rows.push_back(row.rollout);
      }
      mbs.push_back(std::move(mb));
    }

    // Policy update(s).
    const auto t_update = clock_type::now();
    UpdateShare share;
    double grad_norm = 0, lr = 0;
    for (MicroBatch& mb : mbs) {
      const size_t n = size_t(mb.batch.tokens());
      if (o.mu > 1) {
        mb.old_logp.resize(n);
        trainer->score(mb.batch, mb.old_logp.data());
      }
      if (reference) {
        mb.ref_logp.resize(n);
        reference->score(mb.batch, mb.ref_logp.data());
      }
    }
    rank_fault_point(ctx, step);
    for (int64_t it = 0; it < o.mu && !rows.empty(); ++it) {
      for (MicroBatch& mb : mbs) {
        if (ctx.sync && &mb == &mbs.back()) ctx.sync->reduce_in_next_backward();
        GrpoObjective obj(o.loss, mb.weight.data(), mb.advantage.data(),
                          mb.old_logp.empty() ? nullptr : mb.old_logp.data(),
                          mb.ref_logp.empty() ? nullptr : mb.ref_logp.data());
        std::vector<float> logp(size_t(mb.batch.tokens())), ent(logp.size());
        share.loss += trainer->forward_backward(mb.batch, obj, logp.data(), ent.data());
        share.train_tokens += double(mb.batch.tokens());
        if (it == 0) {
          share.stats.add(obj.stats());
          for (size_t r = 0; r < mb.rows.size(); ++r) {  // the policy's log-prob of each sampled token
            const int64_t i = mb.rows[r];
            const int64_t pl = int64_t(prompts[size_t(i / G)].size());
            std::vector<float> lp;
            for (size_t k = 0; k < gen.completions[size_t(i)].size(); ++k)
              lp.push_back(logp[size_t(int64_t(r) * mb.batch.L + pl - 1 + int64_t(k))]);
            share.rollout_logp.emplace_back(i, std::move(lp));
          }
        }
      }
      lr = sched.at(trainer->steps_taken() + 1);
      grad_norm = trainer->optimizer_step(o.optimizer, lr);
    }
    if (rows.empty()) {  // every group was flat: nothing to learn, but the step is recorded
      lr = sched.at(trainer->steps_taken() + 1);
    }
    // The ranks' shares of the update, summed; only the leader reports them.
    GrpoObjective::Stats stats;
    double loss = 0, train_tokens = 0;
    std::vector<std::vector<float>> rollout_logp(static_cast<size_t>(N));
    for (UpdateShare& s : ctx.all_gather(std::move(share))) {
      stats.add(s.stats);
      loss += s.loss, train_tokens += s.train_tokens;
      for (auto& [i, lp] : s.rollout_logp) rollout_logp[size_t(i)] = std::move(lp);
    }
    const double update_s = since(t_update);
    if (!lead) continue;

    // Metrics.
    nlohmann::ordered_json m;
    m["step"] = step;
    double mean = 0, sq = 0, len_sum = 0, len_min = 1e18, len_max = 0, trunc = 0;
    for (int64_t i = 0; i < N; ++i) {
      mean += totals[size_t(i)] / double(N);
      const double len = double(gen.completions[size_t(i)].size());
      len_sum += len, len_min = std::min(len_min, len), len_max = std::max(len_max, len);
      trunc += gen.truncated[size_t(i)] ? 1 : 0;
    }
    for (double t : totals) sq += (t - mean) * (t - mean) / double(N);
    m["reward_mean"] = mean;
    m["reward_std"] = std::sqrt(sq);
    for (size_t f = 0; f < rewards.functions().size(); ++f) {
      double s = 0;
      for (const RewardScore& sc : scores) s += sc.values[f].second / double(N);
      m["reward_" + rewards.functions()[f].name] = s;
    }
    m["accuracy"] = correct / double(N);
    m["format_rate"] = formatted / double(N);
    m["zero_std_frac"] = double(zero_std_groups) / double(P);
    m["completion_len_mean"] = len_sum / double(N);
    m["completion_len_min"] = len_min;
    m["completion_len_max"] = len_max;
    m["truncated_frac"] = trunc / double(N);
    const double toks = std::max(stats.tokens, 1.0);
    m["kl"] = stats.kl / toks;
    m["entropy"] = stats.entropy / toks;
    m["clip_low_frac"] = stats.clipped_low / toks;
    m["clip_high_frac"] = stats.clipped_high / toks;
    m["policy_loss"] = stats.policy_loss;
    m["loss"] = loss / double(o.mu);
    m["grad_norm"] = grad_norm;
    m["lr"] = lr;
    m["rows_trained"] = int64_t(rows.size());
    m["rollout_tokens_per_s"] = double(gen.tokens) / std::max(gen.seconds, 1e-9);
    m["train_tokens_per_s"] = train_tokens / std::max(update_s, 1e-9);
    m["generation_s"] = gen.seconds;
    m["update_s"] = update_s;
    m["step_s"] = since(t_step);
    m["memory_bytes"] =
        trainer->memory_plan().total_bytes() + (reference ? reference->memory_plan().total_bytes() : 0);
    const nlohmann::json mj = m;
    result.metrics.push_back(mj);
    result.last_step = step;
    metrics_file.write(mj.dump());
    if (recorder) {
      StepRecord rec;
      rec.step = step;
      rec.metrics = mj;
      for (int64_t i = 0; i < N; ++i) {
        RolloutRecord r;
        r.prompt_index = i / G, r.group_index = i % G;
        r.prompt = problems[size_t(i / G)].prompt;
        r.thinking = completions[size_t(i)].thinking, r.answer = completions[size_t(i)].answer;
        r.rewards = scores[size_t(i)].values;
        r.reward = totals[size_t(i)], r.advantage = adv[size_t(i)];
        r.truncated = gen.truncated[size_t(i)];
        r.tokens = gen.completions[size_t(i)];
        r.logprobs = rollout_logp[size_t(i)];
        rec.rollouts.push_back(std::move(r));
      }
      recorder->record_step(result.run_id, rec);
    }
    if (o.on_step) o.on_step(mj);
    if (o.save_every > 0 && step % o.save_every == 0 && step < o.steps) save();
  }
  save();
  if (recorder) recorder->finish_run(result.run_id, result.cancelled ? "cancelled" : "finished");
}

}  // namespace

EvalResult evaluate(const fs::path& model_dir, const TaskConfig& task, int64_t n, int64_t max_completion,
                    TrainDevice device, const fs::path& data_path) {
  const auto model = load_model(model_dir);
  const auto tokenizer = Tokenizer::load(model_dir);
  const std::vector<Problem> problems =
      data_path.empty() ? heldout_problems(task, n) : read_problems_jsonl(data_path);
  const int64_t count = std::min<int64_t>(n, int64_t(problems.size()));
  EvalResult out;
  out.n = count;
  const int64_t batch = 64;
  for (int64_t p0 = 0; p0 < count; p0 += batch) {
    const int64_t m = std::min(batch, count - p0);
    std::vector<std::vector<int32_t>> prompts;
    int64_t longest = 0;
    for (int64_t i = 0; i < m; ++i) {
      prompts.push_back(encode_prompt(model_dir, *tokenizer, problems[size_t(p0 + i)].prompt));
      longest = std::max<int64_t>(longest, int64_t(prompts.back().size()));
    }
    RuntimeOptions ro;
    ro.device = rollout_device(device);
    ro.max_sequences = int(m);
    ro.max_context = longest + max_completion + 1;
    auto rt = create_runtime(model, ro);
    const RolloutBatch gen =
        generate_rollouts(*rt, prompts, 1, max_completion, SamplingParams::greedy(), 0, model->stop_ids);
    for (int64_t i = 0; i < m; ++i) {
      const Completion c =
          Completion::from_text(tokenizer->decode(gen.completions[size_t(i)], true), gen.truncated[size_t(i)],
                                int64_t(gen.completions[size_t(i)].size()));
      out.accuracy += is_correct(problems[size_t(p0 + i)], c) ? 1 : 0;
      out.format_rate += well_formatted(c) ? 1 : 0;
      out.mean_length += double(c.tokens);
    }
  }
  if (count > 0)
    out.accuracy /= double(count), out.format_rate /= double(count), out.mean_length /= double(count);
  return out;
}

}  // namespace r1
