#include "metric_plot.h"

#include <QEvent>
#include <algorithm>
#include <cmath>

#include "decimate.h"
#include "plot_style.h"
#include "run_series.h"

namespace r1::ui {
namespace {

// Line colours per slot: the shown run in blues and greens, the overlaid run in oranges and reds.
const QColor kColors[MetricPlot::kSlots][3] = {
    {QColor(0x2a, 0x7a, 0xd5), QColor(0x2c, 0xa0, 0x2c), QColor(0x94, 0x67, 0xbd)},
    {QColor(0xe0, 0x7b, 0x1a), QColor(0xd6, 0x27, 0x28), QColor(0x8c, 0x56, 0x4b)}};

QString tr(const char* text) {
  return QCoreApplication::translate("r1::ui::MetricPlot", text);
}

}  // namespace

QVector<MetricGroup> fineTuneMetricGroups() {
  return {
      {QStringLiteral("reward"),
       tr("Reward (mean ± std)"),
       {{QStringLiteral("reward_mean"), tr("mean")}},
       QStringLiteral("reward_std")},
      {QStringLiteral("accuracy"),
       tr("Accuracy"),
       {{QStringLiteral("accuracy"), tr("accuracy")}, {QStringLiteral("format_rate"), tr("format")}},
       {}},
      {QStringLiteral("kl"), tr("KL to the reference"), {{QStringLiteral("kl"), tr("KL")}}, {}},
      {QStringLiteral("policy_loss"),
       tr("Policy loss"),
       {{QStringLiteral("policy_loss"), tr("policy loss")}},
       {}},
      {QStringLiteral("completion_length"),
       tr("Completion length (tokens)"),
       {{QStringLiteral("completion_len_mean"), tr("mean")},
        {QStringLiteral("completion_len_max"), tr("max")}},
       {}},
      {QStringLiteral("clip_fractions"),
       tr("Clip fractions"),
       {{QStringLiteral("clip_low_frac"), tr("low")}, {QStringLiteral("clip_high_frac"), tr("high")}},
       {}},
      {QStringLiteral("entropy"), tr("Entropy (nats)"), {{QStringLiteral("entropy"), tr("entropy")}}, {}},
      {QStringLiteral("tokens_per_s"),
       tr("Tokens per second"),
       {{QStringLiteral("rollout_tokens_per_s"), tr("generation")},
        {QStringLiteral("train_tokens_per_s"), tr("update")}},
       {}},
      {QStringLiteral("step_time"),
       tr("Time per step (s)"),
       {{QStringLiteral("generation_s"), tr("generation")}, {QStringLiteral("update_s"), tr("update")}},
       {}},
  };
}

MetricPlot::MetricPlot(const MetricGroup& group, QWidget* parent) : QCustomPlot(parent), group_(group) {
  setObjectName(QStringLiteral("plot_") + group.id);
  setMinimumSize(220, 150);
  setInteractions({});
  setNoAntialiasingOnDrag(true);
  title_ = addPlotTitle(this, group.title);
  xAxis->setLabel(tr("step"));
  QFont small = font();
  small.setPointSizeF(small.pointSizeF() * 0.85);
  legend->setFont(small);
  legend->setRowSpacing(0);
  legend->setColumnSpacing(10);
  legend->setIconSize(16, 8);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(std::max<int>(2, int(group.lines.size())));
  legend->setMargins(QMargins(4, 0, 4, 0));
  axisRect()->insetLayout()->take(legend);
  legend->setVisible(false);
  for (int slot = 0; slot < kSlots; ++slot) {
    SlotGraphs& g = graphs_[slot];
    if (!group.band_std.isEmpty()) {
      g.band_upper = addGraph();
      g.band_lower = addGraph();
      g.band_upper->setChannelFillGraph(g.band_lower);
      g.band_upper->removeFromLegend();
      g.band_lower->removeFromLegend();
    }
    for (const MetricLine& line : group.lines) {
      QCPGraph* line_graph = addGraph();
      line_graph->setName(line.label);
      g.lines << line_graph;
    }
  }
  applyColors();
}

void MetricPlot::setRun(int slot, const RunSeries* series) {
  runs_[slot] = series;
}

QCPGraph* MetricPlot::metricGraph(int slot, const QString& key) const {
  for (int i = 0; i < group_.lines.size(); ++i)
    if (group_.lines[i].key == key) return graphs_[slot].lines[i];
  return nullptr;
}

void MetricPlot::refresh(int max_points) {
  QVector<QCPGraph*> named, drawn;  // lines for the legend; everything that holds data, for the ranges
  for (int slot = 0; slot < kSlots; ++slot) {
    const RunSeries* run = runs_[slot];
    SlotGraphs& g = graphs_[slot];
    const bool has = run && !run->isEmpty();
    for (int i = 0; i < group_.lines.size(); ++i) {
      QCPGraph* line = g.lines[i];
      const QVector<double>& values = has ? run->column(group_.lines[i].key) : QVector<double>();
      const PlotPoints p = values.isEmpty() ? PlotPoints{} : decimate(run->steps(), values, max_points);
      line->setData(p.keys, p.values, true);
      line->setVisible(!values.isEmpty());
      if (values.isEmpty()) continue;
      QString name = group_.lines[i].label;
      if (i == 0 && g.band_upper) name = tr("%1 ± std").arg(name);
      line->setName(slot == 0 ? name : tr("%1 (%2)").arg(name, run->label()));
      named << line;
      drawn << line;
    }
    if (!g.band_upper) continue;
    const QVector<double>& mean = has ? run->column(group_.lines[0].key) : QVector<double>();
    const QVector<double>& std_dev = has ? run->column(group_.band_std) : QVector<double>();
    const bool band = !mean.isEmpty() && mean.size() == std_dev.size();
    QVector<double> upper(band ? mean.size() : 0), lower(band ? mean.size() : 0);
    for (qsizetype k = 0; k < upper.size(); ++k) {
      upper[k] = mean[k] + std_dev[k];
      lower[k] = mean[k] - std_dev[k];
    }
    for (auto [edge, values] : {std::pair{g.band_upper, &upper}, std::pair{g.band_lower, &lower}}) {
      const PlotPoints p = band ? decimate(run->steps(), *values, max_points) : PlotPoints{};
      edge->setData(p.keys, p.values, true);
      edge->setVisible(band);
      if (band) drawn << edge;
    }
  }
  updateLegend(named);
  fitRanges(drawn);
  replot(QCustomPlot::rpQueuedReplot);
}

// The legend sits in its own row under the title, one row per run, and only when the plot draws more than
// one line: it never covers the data.
void MetricPlot::updateLegend(const QVector<QCPGraph*>& named) {
  QVector<QCPAbstractPlottable*> listed;
  for (int i = 0; i < legend->itemCount(); ++i)
    if (auto* item = qobject_cast<QCPPlottableLegendItem*>(legend->item(i))) listed << item->plottable();
  if (listed != QVector<QCPAbstractPlottable*>(named.begin(), named.end())) {
    legend->clearItems();
    for (QCPGraph* g : named) g->addToLegend();
  }
  const bool wanted = named.size() > 1;
  if (wanted != legend_shown_) {
    if (wanted) {
      plotLayout()->insertRow(1);
      plotLayout()->addElement(1, 0, legend);
      plotLayout()->setRowStretchFactor(1, 0.001);
    } else {
      plotLayout()->take(legend);
      plotLayout()->simplify();
    }
    legend_shown_ = wanted;
  }
  legend->setVisible(wanted);
}

void MetricPlot::fitRanges(const QVector<QCPGraph*>& drawn) {
  QCPRange keys, values;
  bool have_keys = false, have_values = false;
  const auto merge = [](QCPRange& into, bool& have, const QCPRange& r) {
    if (have)
      into.expand(r);
    else
      into = r;
    have = true;
  };
  for (QCPGraph* g : drawn) {
    bool found = false;
    const QCPRange k = g->data()->keyRange(found);
    if (found) merge(keys, have_keys, k);
    const QCPRange v = g->data()->valueRange(found);
    if (found) merge(values, have_values, v);
  }
  if (!have_keys || !have_values) return;
  if (keys.size() < 1) keys = QCPRange(keys.lower - 0.5, keys.upper + 0.5);
  xAxis->setRange(keys);
  // A flat line (a metric that stays 0, say) gets a small range around it rather than a degenerate one.
  const double pad =
      values.size() > 1e-12 ? values.size() * 0.08 : std::max(std::abs(values.center()) * 0.1, 0.01);
  yAxis->setRange(values.lower - pad, values.upper + pad);
}

void MetricPlot::applyColors() {
  const QPalette pal = palette();
  const QColor text = pal.color(QPalette::WindowText);
  applyPlotPalette(this, pal);
  legend->setBrush(Qt::NoBrush);
  legend->setTextColor(text);
  legend->setBorderPen(Qt::NoPen);
  for (int slot = 0; slot < kSlots; ++slot) {
    SlotGraphs& g = graphs_[slot];
    for (int i = 0; i < g.lines.size(); ++i) {
      const QColor c = kColors[slot][i % 3];
      g.lines[i]->setPen(QPen(c, 1.6, slot == 0 ? Qt::SolidLine : Qt::DashLine));
    }
    if (g.band_upper) {
      QColor fill = kColors[slot][0];
      fill.setAlpha(55);
      for (QCPGraph* b : {g.band_upper, g.band_lower}) b->setPen(Qt::NoPen);
      g.band_upper->setBrush(fill);
    }
  }
  replot(QCustomPlot::rpQueuedReplot);
}

void MetricPlot::changeEvent(QEvent* event) {
  QCustomPlot::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && title_) applyColors();
}

}  // namespace r1::ui
