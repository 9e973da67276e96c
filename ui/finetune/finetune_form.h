#pragma once
// The Fine-tune page's form: model folder, task (countdown or arithmetic at a difficulty, or a JSONL file of
// problems), reward spec, group size G, prompts per step, completion length, learning rate, β, ε low/high,
// loss, μ, steps, checkpoint interval, seed and device. It opens on the demo preset with the built-in model.
#include <QWidget>

#include "core/finetune_options.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QToolButton;

namespace r1::ui {

class FinetuneForm : public QWidget {
  Q_OBJECT

 public:
  explicit FinetuneForm(QWidget* parent = nullptr);

  // The demo preset on the built-in model.
  static r1::app::FinetuneOptions defaults();

  // The run the form describes; out_dir is left empty (checkpointsWanted() says whether to save).
  r1::app::FinetuneOptions options() const;
  void setOptions(const r1::app::FinetuneOptions& options);
  bool checkpointsWanted() const;
  void setCheckpointsWanted(bool wanted);
  void setModelDir(const QString& dir);

 private:
  void browseModel();
  void browseData();
  void onTaskChanged();

  QLineEdit* model_ = nullptr;
  QComboBox* task_ = nullptr;
  QComboBox* difficulty_ = nullptr;
  QLineEdit* data_ = nullptr;
  QToolButton* browse_data_ = nullptr;
  QLineEdit* rewards_ = nullptr;
  QSpinBox* group_size_ = nullptr;
  QSpinBox* prompts_ = nullptr;
  QSpinBox* max_completion_ = nullptr;
  QDoubleSpinBox* lr_ = nullptr;
  QDoubleSpinBox* beta_ = nullptr;
  QDoubleSpinBox* eps_low_ = nullptr;
  QDoubleSpinBox* eps_high_ = nullptr;
  QComboBox* loss_ = nullptr;
  QSpinBox* mu_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QSpinBox* save_every_ = nullptr;
  QCheckBox* save_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QComboBox* device_ = nullptr;
  QSpinBox* gpus_ = nullptr;
  QString shown_default_rewards_;  // the task default the rewards field was last filled with
};

}  // namespace r1::ui
