#pragma once
// The Memory page's training view: a fine-tune run's memory by kind from the engine's accounting — weights,
// reference model, gradients, optimizer state, activations and the rollouts' KV cache — stacked in one bar,
// and beside it, ghosted, what a PPO critic of the policy's size would add: the memory GRPO saves.
#include <QWidget>

#include "core/training_memory.h"

class QCustomPlot;
class QCPBars;
class QCPItemText;
class QLabel;

namespace r1::ui {

// The training view: one stacked bar for the GRPO run and one for PPO (the same plus a critic, ghosted).
class TrainingMemoryView : public QWidget {
  Q_OBJECT

 public:
  enum Segment {
    Weights,  // the policy's master and compute copy, and the rollout runtime's copy
    Reference,
    Gradients,
    Optimizer,
    Activations,
    KvUsed,      // the KV cache the last rollouts filled
    KvReserved,  // the rest of the allocated KV cache
    CriticWeights,
    CriticGradients,
    CriticOptimizer,
    CriticActivations,
    SegmentCount
  };
  enum Bar { GrpoBar, PpoBar };

  explicit TrainingMemoryView(QWidget* parent = nullptr);

  void setMemory(const r1::app::TrainingMemory& memory);
  const r1::app::TrainingMemory& memory() const { return memory_; }
  bool hasMemory() const { return has_memory_; }

  QCustomPlot* plot() const { return plot_; }
  QString savesText() const;
  QString summaryText() const;
  // The bytes a segment shows in a bar, read back from the plot (0 where the bar has no such segment).
  double plottedBytes(Segment segment, Bar bar) const;
  // The bytes of each kind in `memory` (the critic's kinds are PPO's only).
  static qint64 segmentBytes(const r1::app::TrainingMemory& memory, Segment segment);

 protected:
  void changeEvent(QEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  void applyColors();
  void replotIfShown();

  QCustomPlot* plot_ = nullptr;
  QCPBars* bars_[SegmentCount] = {};
  QCPItemText* totals_[2] = {};
  QLabel* summary_ = nullptr;
  QLabel* saves_ = nullptr;
  r1::app::TrainingMemory memory_;
  bool has_memory_ = false;
  double scale_ = 1;  // bytes per plotted unit
};

}  // namespace r1::ui
