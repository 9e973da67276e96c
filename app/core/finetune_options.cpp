#include "finetune_options.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>

#include "app_settings.h"
#include "engine/grpo/grpo_run.h"

namespace r1::app {
namespace {

std::filesystem::path to_path(const QString& s) {
  return std::filesystem::path(QFile::encodeName(s).toStdString());
}

}  // namespace

r1::GrpoRunOptions toGrpoOptions(const FinetuneOptions& f) {
  r1::GrpoRunOptions o;
  o.model_dir = to_path(f.model_dir);
  o.task = f.task.toStdString();
  o.difficulty = f.difficulty.toStdString();
  o.data_path = to_path(f.data_path);
  o.rewards = f.rewards.trimmed().toStdString();
  o.group_size = f.group_size;
  o.prompts_per_step = f.prompts_per_step;
  o.max_completion = f.max_completion;
  o.lr = f.lr;
  o.loss.beta = f.beta;
  o.loss.epsilon_low = f.epsilon_low;
  o.loss.epsilon_high = f.epsilon_high;
  o.aggregation = r1::parse_loss_aggregation(f.loss.toStdString());
  o.mu = f.mu;
  o.steps = f.steps;
  o.save_every = f.save_every;
  o.seed = f.seed;
  o.device = r1::parse_train_device(f.device.toStdString());
  o.gpus = f.gpus;
  o.out_dir = to_path(f.out_dir);
  return o;
}

QString defaultRewardSpec(const QString& task) {
  const r1::TaskConfig config = r1::TaskConfig::preset(task.toStdString());
  return QString::fromStdString(r1::default_reward_spec(config.kind));
}

QString builtinModelDir() {
  QStringList candidates;
  if (QCoreApplication::instance())
    candidates << QCoreApplication::applicationDirPath() +
                      QStringLiteral("/../share/r1-workbench/models/r1-tiny");
#ifdef R1WB_SOURCE_DIR
  candidates << QStringLiteral(R1WB_SOURCE_DIR "/resources/models/r1-tiny");
#endif
  for (const QString& c : candidates)
    if (looksLikeModelDir(c)) return QDir::cleanPath(c);
  return {};
}

QString demoStartModelDir() {
  const QString builtin = builtinModelDir();
  if (builtin.isEmpty()) return {};
  const QString sft = QDir(builtin).filePath(QStringLiteral("sft-500"));
  return looksLikeModelDir(sft) ? QDir::cleanPath(sft) : builtin;
}

}  // namespace r1::app
