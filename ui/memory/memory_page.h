#pragma once
// The Memory page, in two views. Chat: the KV cache as the runtime accounts for it, live while chatting —
// bars for the cache in use against its capacity, bytes per token for one layer beside what full per-head
// K/V would take, the longest context that fits, and the cache's fill over time. Training (once a fine-tune
// run has begun): the run's memory by kind from the engine's accounting — weights, reference model,
// gradients, optimizer state, activations and the rollouts' KV cache — stacked in one bar, and beside it,
// ghosted, what a PPO critic of the policy's size would add: the memory GRPO saves.
#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

#include "core/chat_types.h"
#include "core/training_memory.h"
#include "training_memory_view.h"

class QCustomPlot;
class QCPBars;
class QCPGraph;
class QCPItemText;
class QLabel;
class QTabWidget;

namespace r1::ui {

class MemoryPage : public QWidget {
  Q_OBJECT

 public:
  explicit MemoryPage(QWidget* parent = nullptr);

  void setModel(const r1::app::ModelInfo& info);
  void setKv(const r1::app::KvSnapshot& kv);
  // A fine-tune run's memory: shows the training view (switching to it when a run begins) and keeps it
  // current.
  void setTrainingMemory(const r1::app::TrainingMemory& memory);

  QTabWidget* views() const { return views_; }
  TrainingMemoryView* trainingView() const { return training_; }
  bool showsTraining() const;

  const r1::app::KvSnapshot& kv() const { return kv_; }
  QString summaryText() const;
  QCustomPlot* usagePlot() const { return usage_; }
  QCustomPlot* historyPlot() const { return history_; }
  // What the usage bar currently shows, in bytes (for tests: the plot follows the snapshots).
  double plottedUsedBytes() const;

 protected:
  void changeEvent(QEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  enum Tile { ModelTile, PerTokenTile, CapacityTile, InUseTile, LongestTile, FullKvTile, TileCount };

  void refresh();  // on the ~30 Hz timer, when something changed and the page is on screen
  void setTile(Tile tile, const QString& value, const QString& tooltip = {});
  void applyColors();
  QCustomPlot* makePlot(const QString& title);

  QTabWidget* views_ = nullptr;
  QWidget* chat_view_ = nullptr;
  TrainingMemoryView* training_ = nullptr;
  QLabel* tiles_[TileCount] = {};
  QCustomPlot* usage_ = nullptr;
  QCustomPlot* per_layer_ = nullptr;
  QCustomPlot* fits_ = nullptr;
  QCustomPlot* history_ = nullptr;
  QCPBars* usage_total_ = nullptr;
  QCPBars* usage_used_ = nullptr;
  QCPBars* per_layer_model_ = nullptr;
  QCPBars* per_layer_full_ = nullptr;
  QCPBars* fits_bars_ = nullptr;
  QCPGraph* history_graph_ = nullptr;
  QCPGraph* history_tail_ = nullptr;
  double last_history_point_ = 0;
  QCPItemText* usage_label_ = nullptr;
  QVector<QCPItemText*> per_layer_labels_;
  QVector<QCPItemText*> fits_labels_;
  QTimer replot_timer_;
  QElapsedTimer clock_;
  r1::app::ModelInfo model_;
  r1::app::KvSnapshot kv_;
  bool dirty_ = false;
  bool layout_dirty_ = false;
  int refreshes_ = 0;
};

}  // namespace r1::ui
