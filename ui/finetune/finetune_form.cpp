#include "finetune_form.h"

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "core/app_settings.h"
#include "engine/grpo/tasks.h"
#include "engine/runtime/runtime.h"

namespace r1::ui {
namespace {

const QString kJsonl = QStringLiteral("jsonl");

QSpinBox* spin(QWidget* parent, const char* name, int lo, int hi, const QString& tip = {}) {
  auto* s = new QSpinBox(parent);
  s->setObjectName(QLatin1String(name));
  s->setRange(lo, hi);
  s->setToolTip(tip);
  return s;
}

QDoubleSpinBox* real(QWidget* parent, const char* name, double lo, double hi, int decimals, double step,
                     const QString& tip = {}) {
  auto* s = new QDoubleSpinBox(parent);
  s->setObjectName(QLatin1String(name));
  s->setDecimals(decimals);
  s->setRange(lo, hi);
  s->setSingleStep(step);
  s->setToolTip(tip);
  return s;
}

// Widgets side by side in one form row; fields share the width, buttons and check boxes keep their own.
QWidget* inRow(QWidget* parent, std::initializer_list<QWidget*> widgets) {
  auto* row = new QWidget(parent);
  auto* h = new QHBoxLayout(row);
  h->setContentsMargins(0, 0, 0, 0);
  for (QWidget* w : widgets) {
    const bool button = qobject_cast<QAbstractButton*>(w) != nullptr;
    h->addWidget(w, button ? 0 : 1);
  }
  return row;
}

QFormLayout* compactForm(QWidget* parent) {
  auto* form = new QFormLayout(parent);
  form->setVerticalSpacing(4);
  form->setContentsMargins(8, 6, 8, 6);
  return form;
}

}  // namespace

FinetuneForm::FinetuneForm(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("finetuneForm"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);

  auto* source_box = new QGroupBox(tr("Model and data"), this);
  auto* data_form = compactForm(source_box);
  model_ = new QLineEdit(source_box);
  model_->setObjectName(QStringLiteral("modelDir"));
  model_->setPlaceholderText(tr("A Hugging Face model folder"));
  connect(model_, &QLineEdit::textChanged, model_, &QLineEdit::setToolTip);
  auto* browse_model = new QToolButton(source_box);
  browse_model->setText(QStringLiteral("…"));
  browse_model->setToolTip(tr("Choose the model folder"));
  task_ = new QComboBox(source_box);
  task_->setObjectName(QStringLiteral("task"));
  task_->addItem(tr("Countdown"), QStringLiteral("countdown"));
  task_->addItem(tr("Arithmetic"), QStringLiteral("arithmetic"));
  task_->addItem(tr("JSONL file"), kJsonl);
  difficulty_ = new QComboBox(source_box);
  difficulty_->setObjectName(QStringLiteral("difficulty"));
  for (const std::string& d : difficulty_names()) difficulty_->addItem(QString::fromStdString(d));
  data_ = new QLineEdit(source_box);
  data_->setObjectName(QStringLiteral("dataPath"));
  data_->setPlaceholderText(tr("A JSONL file of problems"));
  data_->setToolTip(tr("One {\"prompt\": …, \"answer\": …} object per line"));
  browse_data_ = new QToolButton(source_box);
  browse_data_->setText(QStringLiteral("…"));
  rewards_ = new QLineEdit(source_box);
  rewards_->setObjectName(QStringLiteral("rewards"));
  rewards_->setToolTip(
      tr("Reward functions and their weights, e.g. countdown:1,format:0.2; empty: the task's "
         "default"));
  data_form->addRow(tr("Model"), inRow(source_box, {model_, browse_model}));
  data_form->addRow(tr("Task"), inRow(source_box, {task_, difficulty_}));
  data_form->addRow(tr("Problems"), inRow(source_box, {data_, browse_data_}));
  data_form->addRow(tr("Rewards"), rewards_);
  layout->addWidget(source_box);

  auto* rollouts = new QGroupBox(tr("Rollouts and objective"), this);
  auto* roll_form = compactForm(rollouts);
  group_size_ = spin(rollouts, "groupSize", 2, 1024, tr("Completions sampled per prompt (G)"));
  prompts_ = spin(rollouts, "promptsPerStep", 1, 4096);
  max_completion_ = spin(rollouts, "maxCompletion", 1, 32768, tr("Tokens a completion may take at most"));
  loss_ = new QComboBox(rollouts);
  loss_->setObjectName(QStringLiteral("loss"));
  for (const char* l : {"grpo", "dr_grpo", "dapo", "bnpo"}) loss_->addItem(QLatin1String(l));
  loss_->setToolTip(
      tr("How token losses are averaged: per completion (grpo), by the length limit (dr_grpo), "
         "over all tokens (dapo) or per micro-batch (bnpo)"));
  beta_ = real(rollouts, "beta", 0, 10, 4, 0.01, tr("KL coefficient; 0 keeps no reference model"));
  eps_low_ = real(rollouts, "epsilonLow", 0, 1, 3, 0.01, tr("Lower clip range of the probability ratio"));
  eps_high_ = real(rollouts, "epsilonHigh", 0, 1, 3, 0.01, tr("Upper clip range (DAPO's clip-higher: 0.28)"));
  mu_ = spin(rollouts, "mu", 1, 64, tr("Policy updates per batch of rollouts (μ)"));
  lr_ = real(rollouts, "learningRate", 1e-8, 1, 8, 1e-5);
  roll_form->addRow(tr("Group size G"), group_size_);
  roll_form->addRow(tr("Prompts per step"), prompts_);
  roll_form->addRow(tr("Max completion"), max_completion_);
  roll_form->addRow(tr("Loss"), loss_);
  roll_form->addRow(tr("β (KL)"), beta_);
  roll_form->addRow(tr("ε low / high"), inRow(rollouts, {eps_low_, eps_high_}));
  roll_form->addRow(tr("μ"), mu_);
  roll_form->addRow(tr("Learning rate"), lr_);
  layout->addWidget(rollouts);

  auto* run = new QGroupBox(tr("Run"), this);
  auto* run_form = compactForm(run);
  steps_ = spin(run, "steps", 1, 1000000);
  save_every_ = spin(run, "saveEvery", 0, 1000000, tr("Steps between checkpoints"));
  save_every_->setSpecialValueText(tr("at the end"));
  save_every_->setPrefix(tr("every "));
  save_every_->setSuffix(tr(" steps"));
  save_ = new QCheckBox(tr("Save"), run);
  save_->setObjectName(QStringLiteral("saveCheckpoints"));
  save_->setToolTip(tr("Checkpoints go to a folder beside the run store"));
  seed_ = spin(run, "seed", 0, 1 << 30);
  device_ = new QComboBox(run);
  device_->setObjectName(QStringLiteral("device"));
  device_->addItem(tr("CPU"), QStringLiteral("cpu"));
  if (r1::cuda_device_count() > 0) device_->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
  gpus_ = spin(run, "gpus", 1, std::max(1, r1::cuda_device_count()),
               tr("Data-parallel over this many GPUs (NCCL); the prompts per step split evenly over them"));
  gpus_->setSuffix(tr(" GPU(s)"));
  auto* preset = new QPushButton(tr("Demo preset"), run);
  preset->setObjectName(QStringLiteral("demoPreset"));
  preset->setToolTip(
      tr("Countdown (medium), G 8, 8 prompts, 64 tokens, lr 5e-5, dapo, ε high 0.28, 50 steps"));
  run_form->addRow(tr("Steps"), steps_);
  run_form->addRow(tr("Checkpoints"), inRow(run, {save_, save_every_}));
  run_form->addRow(tr("Seed"), seed_);
  run_form->addRow(tr("Device"), inRow(run, {device_, gpus_, preset}));
  layout->addWidget(run);
  layout->addStretch(1);

  connect(browse_model, &QToolButton::clicked, this, &FinetuneForm::browseModel);
  connect(browse_data_, &QToolButton::clicked, this, &FinetuneForm::browseData);
  connect(task_, &QComboBox::currentIndexChanged, this, &FinetuneForm::onTaskChanged);
  connect(save_, &QCheckBox::toggled, save_every_, &QWidget::setEnabled);
  const auto gpus_enabled = [this] {
    gpus_->setEnabled(device_->currentData().toString() == QStringLiteral("cuda") && gpus_->maximum() > 1);
  };
  connect(device_, &QComboBox::currentIndexChanged, this, gpus_enabled);
  gpus_enabled();
  connect(preset, &QPushButton::clicked, this, [this] {
    const QString model = model_->text();
    setOptions(defaults());
    if (!model.isEmpty()) model_->setText(model);
  });
  setOptions(defaults());
  setCheckpointsWanted(true);
}

r1::app::FinetuneOptions FinetuneForm::defaults() {
  r1::app::FinetuneOptions o;
  o.model_dir = r1::app::demoStartModelDir();
  if (o.model_dir.isEmpty()) o.model_dir = r1::app::resolveDefaultModel().dir;
  return o;
}

r1::app::FinetuneOptions FinetuneForm::options() const {
  r1::app::FinetuneOptions o;
  o.model_dir = model_->text().trimmed();
  const bool from_file = task_->currentData().toString() == kJsonl;
  if (!from_file) o.task = task_->currentData().toString();
  o.difficulty = difficulty_->currentText();
  o.data_path = from_file ? data_->text().trimmed() : QString();
  o.rewards = rewards_->text().trimmed();
  o.group_size = group_size_->value();
  o.prompts_per_step = prompts_->value();
  o.max_completion = max_completion_->value();
  o.lr = lr_->value();
  o.beta = beta_->value();
  o.epsilon_low = eps_low_->value();
  o.epsilon_high = eps_high_->value();
  o.loss = loss_->currentText();
  o.mu = mu_->value();
  o.steps = steps_->value();
  o.save_every = save_every_->value();
  o.seed = quint64(seed_->value());
  o.device = device_->currentData().toString();
  o.gpus = o.device == QStringLiteral("cuda") ? gpus_->value() : 1;
  return o;
}

void FinetuneForm::setOptions(const r1::app::FinetuneOptions& o) {
  model_->setText(o.model_dir);
  const int task = task_->findData(o.data_path.isEmpty() ? o.task : kJsonl);
  task_->setCurrentIndex(std::max(task, 0));
  difficulty_->setCurrentText(o.difficulty);
  data_->setText(o.data_path);
  onTaskChanged();
  if (!o.rewards.isEmpty()) rewards_->setText(o.rewards);
  group_size_->setValue(o.group_size);
  prompts_->setValue(o.prompts_per_step);
  max_completion_->setValue(o.max_completion);
  lr_->setValue(o.lr);
  beta_->setValue(o.beta);
  eps_low_->setValue(o.epsilon_low);
  eps_high_->setValue(o.epsilon_high);
  loss_->setCurrentText(o.loss);
  mu_->setValue(o.mu);
  steps_->setValue(o.steps);
  save_every_->setValue(o.save_every);
  seed_->setValue(int(o.seed));
  const int device = device_->findData(o.device);
  if (device >= 0) device_->setCurrentIndex(device);
  gpus_->setValue(o.gpus);
}

bool FinetuneForm::checkpointsWanted() const {
  return save_->isChecked();
}

void FinetuneForm::setCheckpointsWanted(bool wanted) {
  save_->setChecked(wanted);
  save_every_->setEnabled(wanted);
}

void FinetuneForm::setModelDir(const QString& dir) {
  model_->setText(dir);
}

void FinetuneForm::onTaskChanged() {
  const QString task = task_->currentData().toString();
  const bool from_file = task == kJsonl;
  difficulty_->setEnabled(!from_file);
  data_->setEnabled(from_file);
  browse_data_->setEnabled(from_file);
  // The rewards follow the task until edited by hand.
  const QString fresh =
      from_file ? QStringLiteral("accuracy:1.0,format:0.2") : r1::app::defaultRewardSpec(task);
  if (rewards_->text().isEmpty() || rewards_->text() == shown_default_rewards_) rewards_->setText(fresh);
  shown_default_rewards_ = fresh;
}

void FinetuneForm::browseModel() {
  const QString dir =
      QFileDialog::getExistingDirectory(this, tr("Choose the model to fine-tune"), model_->text());
  if (!dir.isEmpty()) model_->setText(dir);
}

void FinetuneForm::browseData() {
  const QString file =
      QFileDialog::getOpenFileName(this, tr("Choose a JSONL file of problems"), data_->text(),
                                   tr("JSONL (*.jsonl *.json);;All files (*)"));
  if (!file.isEmpty()) data_->setText(file);
}

}  // namespace r1::ui
