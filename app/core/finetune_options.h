#pragma once
// A fine-tuning (GRPO) run as the workbench's form describes it, in Qt value types that travel in queued
// signals. The defaults are the command line's demo preset (r1wb train grpo --preset demo): r1-tiny's SFT
// checkpoint at step 500 (demoStartModelDir()) on easy200 countdown (targets up to 200), G 8, 16 prompts per
// step, 64 completion tokens, lr 1e-4, the DAPO loss with ε high 0.28, 50 steps on the CPU.
#include <QMetaType>
#include <QString>

namespace r1 {
struct GrpoRunOptions;
}

namespace r1::app {

struct FinetuneOptions {
  QString model_dir;
  QString task = QStringLiteral("countdown");  // "countdown" or "arithmetic"
  QString difficulty = QStringLiteral("easy200");
  QString data_path;  // a JSONL file of problems instead of the task's generator
  QString rewards;    // "name:weight,..."; empty: the task's default
  int group_size = 8;
  int prompts_per_step = 16;
  int max_completion = 64;
  double lr = 1e-4;
  double beta = 0.0;
  double epsilon_low = 0.2;
  double epsilon_high = 0.28;
  QString loss = QStringLiteral("dapo");  // grpo, dr_grpo, dapo or bnpo
  int mu = 1;
  int steps = 50;
  int save_every = 0;  // steps between checkpoints; 0: one at the end
  quint64 seed = 0;
  QString device = QStringLiteral("cpu");
  int gpus = 1;     // data-parallel over GPUs 0 .. gpus-1 (CUDA); the prompts per step split over them
  QString out_dir;  // where checkpoints go; empty: none are written
};

// The engine's options for the run; callbacks, recorder and cancel flag are the caller's to set.
r1::GrpoRunOptions toGrpoOptions(const FinetuneOptions& options);

// The reward spec a run of `task` uses when none is given ("countdown:1.0,format:0.2").
QString defaultRewardSpec(const QString& task);

// The built-in r1-tiny (installed next to the program or in the source tree); empty when absent.
QString builtinModelDir();
// Where the demo preset starts: r1-tiny's SFT checkpoint at step 500 (the built-in model's "sft-500" folder),
// which GRPO still improves within 50 CPU steps; the final r1-tiny, sharpened by GRPO already, barely moves
// in that many. The built-in model itself when the folder is missing; empty when that is missing too.
QString demoStartModelDir();

}  // namespace r1::app

Q_DECLARE_METATYPE(r1::app::FinetuneOptions)
