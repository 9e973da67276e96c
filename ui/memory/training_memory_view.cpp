#include "training_memory_view.h"

#include <qcustomplot.h>
#include <QEvent>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>

#include "format_util.h"
#include "plot_style.h"

namespace r1::ui {
namespace {

constexpr double kGrpoKey = 2, kPpoKey = 1;  // the GRPO bar above the PPO one

// One colour per kind, the same in both palettes; a critic segment is its policy kind's colour, hatched.
QColor segmentColor(TrainingMemoryView::Segment s) {
  using S = TrainingMemoryView::Segment;
  switch (s) {
    case S::Weights:
    case S::CriticWeights:
      return QColor(0x4e, 0x79, 0xa7);
    case S::Reference:
      return QColor(0x9c, 0x75, 0x5f);
    case S::Gradients:
    case S::CriticGradients:
      return QColor(0xf2, 0x8e, 0x2b);
    case S::Optimizer:
    case S::CriticOptimizer:
      return QColor(0xe1, 0x57, 0x59);
    case S::Activations:
    case S::CriticActivations:
      return QColor(0x76, 0xb7, 0xb2);
    default:
      return QColor(0x59, 0xa1, 0x4f);
  }
}

bool isCritic(TrainingMemoryView::Segment s) {
  return s >= TrainingMemoryView::CriticWeights;
}

}  // namespace

TrainingMemoryView::TrainingMemoryView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("trainingMemoryView"));
  auto* layout = new QVBoxLayout(this);
  summary_ = new QLabel(tr("No fine-tune run yet."), this);
  summary_->setObjectName(QStringLiteral("trainingMemorySummary"));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  saves_ = new QLabel(this);
  saves_->setObjectName(QStringLiteral("trainingMemorySaves"));
  QFont bold = saves_->font();
  bold.setBold(true);
  saves_->setFont(bold);
  saves_->setWordWrap(true);
  auto* note = new QLabel(
      tr("Ghosted: what a PPO critic of the policy's size would add — a value model with the same weights, "
         "fp32 "
         "master, gradients, AdamW moments and activations as the policy. GRPO has no critic: the group's "
         "rewards are its baseline."),
      this);
  note->setWordWrap(true);
  note->setForegroundRole(QPalette::PlaceholderText);
  plot_ = new QCustomPlot(this);
  plot_->setObjectName(QStringLiteral("trainingMemoryPlot"));
  plot_->setMinimumSize(400, 240);
  plot_->setInteractions({});
  plot_->setToolTip(note->text());
  addPlotTitle(plot_, tr("Training memory, by kind"));
  layout->addWidget(summary_);
  layout->addWidget(saves_);
  layout->addWidget(plot_, 1);
  layout->addWidget(note);

  const QString names[SegmentCount] = {
      tr("Weights"),          tr("Reference model"),  tr("Gradients"),         tr("Optimizer state"),
      tr("Activations"),      tr("KV cache, in use"), tr("KV cache, free"),    tr("Critic weights"),
      tr("Critic gradients"), tr("Critic optimizer"), tr("Critic activations")};
  for (int i = 0; i < SegmentCount; ++i) {
    bars_[i] = new QCPBars(plot_->yAxis, plot_->xAxis);
    bars_[i]->setName(names[i]);
    bars_[i]->setObjectName(names[i]);
    bars_[i]->setWidth(0.6);
    if (i > 0) bars_[i]->moveAbove(bars_[i - 1]);
  }
  plot_->legend->clearItems();  // filled with the kinds a run holds
  setCategories(plot_->yAxis, {tr("PPO would add"), tr("GRPO (this run)")});
  for (QCPItemText*& t : totals_) t = barLabel(plot_);
  plot_->legend->setVisible(true);
  plot_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  plot_->legend->setWrap(4);
  // The legend in a row of its own under the plot, so it never covers a bar.
  auto* legend_row = new QCPLayoutGrid;
  plot_->plotLayout()->addElement(2, 0, legend_row);
  legend_row->addElement(0, 0, plot_->legend);
  legend_row->setMargins(QMargins(0, 0, 0, 4));
  plot_->plotLayout()->setRowStretchFactor(2, 0.001);
  applyColors();
}

qint64 TrainingMemoryView::segmentBytes(const r1::app::TrainingMemory& m, Segment s) {
  switch (s) {
    case Weights:
      return m.allWeightsBytes();
    case Reference:
      return m.reference_bytes;
    case Gradients:
      return m.grads_bytes;
    case Optimizer:
      return m.optimizer_bytes;
    case Activations:
      return m.activations_bytes;
    case KvUsed:
      return std::min(m.kv_used_bytes, m.kv_cache_bytes);
    case KvReserved:
      return m.kv_cache_bytes - std::min(m.kv_used_bytes, m.kv_cache_bytes);
    case CriticWeights:
      return m.critic_weights_bytes;
    case CriticGradients:
      return m.critic_grads_bytes;
    case CriticOptimizer:
      return m.critic_optimizer_bytes;
    case CriticActivations:
      return m.critic_activations_bytes;
    default:
      return 0;
  }
}

void TrainingMemoryView::setMemory(const r1::app::TrainingMemory& m) {
  memory_ = m;
  has_memory_ = true;
  const ByteUnit u = byteUnitFor(double(m.ppoTotal()));
  scale_ = u.scale;
  plot_->legend->clearItems();  // the kinds this run holds, in stacking order
  for (int i = 0; i < SegmentCount; ++i) {
    const Segment s = Segment(i);
    const qint64 bytes = segmentBytes(m, s);
    const double v = double(bytes) / scale_;
    if (isCritic(s))
      bars_[i]->setData({kPpoKey}, {v});
    else
      bars_[i]->setData({kPpoKey, kGrpoKey}, {v, v});
    bars_[i]->setName(QStringLiteral("%1 %2").arg(bars_[i]->objectName(), formatBytes(double(bytes))));
    if (bytes > 0) bars_[i]->addToLegend();
  }
  plot_->xAxis->setLabel(u.name);
  plot_->xAxis->setRange(0, std::max(1e-9, double(m.ppoTotal()) / scale_) * 1.3);
  totals_[GrpoBar]->position->setCoords(double(m.grpoTotal()) / scale_, kGrpoKey);
  totals_[GrpoBar]->setText(tr("GRPO %1").arg(formatBytes(double(m.grpoTotal()))));
  totals_[PpoBar]->position->setCoords(double(m.ppoTotal()) / scale_, kPpoKey);
  totals_[PpoBar]->setText(tr("PPO %1").arg(formatBytes(double(m.ppoTotal()))));

  const double share = m.ppoTotal() > 0 ? 100.0 * double(m.criticTotal()) / double(m.ppoTotal()) : 0.0;
  saves_->setText(tr("GRPO saves %1 (%2% of what PPO would hold): no critic to keep, train or step.")
                      .arg(formatBytes(double(m.criticTotal())))
                      .arg(share, 0, 'f', 0));
  const QString when =
      m.step > 0 ? tr("After step %1's rollouts").arg(m.step) : tr("Planned before the first rollout");
  QString kv = tr("the rollout runtime's KV cache comes with the first rollouts");
  if (m.kv_cache_bytes > 0)
    kv = tr("the last rollouts filled %1 of the %2 KV cache")
             .arg(formatBytes(double(std::min(m.kv_used_bytes, m.kv_cache_bytes))),
                  formatBytes(double(m.kv_cache_bytes)));
  const QString copy = m.weights_bytes > 0
                           ? tr("bf16 compute copy %1").arg(formatBytes(double(m.weights_bytes)))
                           : tr("no compute copy (the CPU computes on the master)");
  QString weights = tr("Weights: fp32 master %1, %2").arg(formatBytes(double(m.master_bytes)), copy);
  if (m.rollout_weights_bytes > 0)
    weights += tr(", rollout runtime %1").arg(formatBytes(double(m.rollout_weights_bytes)));
  QString reference;
  if (m.reference_bytes > 0)
    reference =
        tr(" The reference model (β > 0) is a full trainer: %1.").arg(formatBytes(double(m.reference_bytes)));
  summary_->setText(tr("%1: %2 parameters, trainer batch %3 × %4 tokens; %5. %6.%7")
                        .arg(when, formatCount(double(m.parameters)))
                        .arg(m.batch)
                        .arg(m.seq)
                        .arg(kv, weights, reference));
  replotIfShown();
}

QString TrainingMemoryView::savesText() const {
  return saves_->text();
}

QString TrainingMemoryView::summaryText() const {
  return summary_->text();
}

double TrainingMemoryView::plottedBytes(Segment segment, Bar bar) const {
  const double key = bar == GrpoBar ? kGrpoKey : kPpoKey;
  for (auto it = bars_[segment]->data()->constBegin(); it != bars_[segment]->data()->constEnd(); ++it)
    if (it->key == key) return it->value * scale_;
  return 0;
}

void TrainingMemoryView::replotIfShown() {
  if (isVisible()) plot_->replot(QCustomPlot::rpQueuedReplot);
}

void TrainingMemoryView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void TrainingMemoryView::applyColors() {
  const QPalette pal = palette();
  const QColor text = pal.color(QPalette::WindowText);
  applyPlotPalette(plot_, pal);
  plot_->legend->setBrush(pal.brush(QPalette::Base));
  plot_->legend->setBorderPen(Qt::NoPen);
  plot_->legend->setTextColor(text);
  for (QCPItemText* t : totals_) t->setColor(text);
  for (int i = 0; i < SegmentCount; ++i) {
    const Segment s = Segment(i);
    QColor c = segmentColor(s);
    if (isCritic(s)) {
      bars_[i]->setBrush(QBrush(c, Qt::BDiagPattern));
      bars_[i]->setPen(QPen(c, 1, Qt::DashLine));
    } else {
      if (s == KvReserved) c.setAlpha(90);
      bars_[i]->setBrush(c);
      bars_[i]->setPen(QPen(pal.color(QPalette::Base), 1));  // a thin gap between segments
    }
  }
  replotIfShown();
}

void TrainingMemoryView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && plot_) applyColors();
}

}  // namespace r1::ui
