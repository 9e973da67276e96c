#pragma once
// The Memory page: the KV cache as the runtime accounts for it, live while chatting. Bars for the cache in
// use against its capacity, bytes per token for one layer beside what full per-head K/V would take, the
// longest context that fits, and the cache's fill over time.
#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

#include "core/chat_types.h"

class QCustomPlot;
class QCPBars;
class QCPGraph;
class QCPItemText;
class QLabel;

namespace r1::ui {

class MemoryPage : public QWidget {
  Q_OBJECT

 public:
  explicit MemoryPage(QWidget* parent = nullptr);

  void setModel(const r1::app::ModelInfo& info);
  void setKv(const r1::app::KvSnapshot& kv);

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
