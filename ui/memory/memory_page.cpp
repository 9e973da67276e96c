#include "memory_page.h"

#include <qcustomplot.h>
#include <QEvent>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QTabBar>
#include <QTabWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "format_util.h"
#include "plot_style.h"

namespace r1::ui {
namespace {

constexpr double kHistorySeconds = 600;  // kept; the view shows the last two minutes
constexpr double kViewSeconds = 120;
constexpr double kMinViewSeconds = 3;
constexpr double kHistoryStepMs = 200;

}  // namespace

MemoryPage::MemoryPage(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("memoryPage"));
  auto* page_layout = new QVBoxLayout(this);
  page_layout->setContentsMargins(0, 0, 0, 0);
  views_ = new QTabWidget(this);
  views_->setObjectName(QStringLiteral("memoryViews"));
  views_->setDocumentMode(true);
  chat_view_ = new QWidget(views_);
  training_ = new TrainingMemoryView(views_);
  views_->addTab(chat_view_, tr("Chat"));
  views_->addTab(training_, tr("Training"));
  views_->tabBar()->hide();  // until a fine-tune run reports its memory, the chat view is the page
  page_layout->addWidget(views_);
  auto* layout = new QVBoxLayout(chat_view_);
  // Figures in tiles of fixed height: their text changes many times a second and must never move the plots.
  auto* tiles = new QHBoxLayout;
  const QString captions[TileCount] = {
      tr("Model"),  tr("KV cache per token"),        tr("Capacity"),
      tr("In use"), tr("Longest context that fits"), tr("Full per-head K/V")};
  for (int i = 0; i < TileCount; ++i) {
    auto* tile = new QFrame(this);
    tile->setFrameShape(QFrame::StyledPanel);
    auto* tile_layout = new QVBoxLayout(tile);
    tile_layout->setContentsMargins(8, 4, 8, 4);
    tile_layout->setSpacing(0);
    auto* caption = new QLabel(captions[i], tile);
    caption->setForegroundRole(QPalette::PlaceholderText);
    tiles_[i] = new QLabel(QStringLiteral("–"), tile);
    tiles_[i]->setObjectName(QStringLiteral("memoryTile%1").arg(i));
    QFont bold = tiles_[i]->font();
    bold.setBold(true);
    tiles_[i]->setFont(bold);
    tiles_[i]->setTextInteractionFlags(Qt::TextSelectableByMouse);
    tile_layout->addWidget(caption);
    tile_layout->addWidget(tiles_[i]);
    tile->setFixedHeight(tile->sizeHint().height());
    tile->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
    tiles->addWidget(tile, 1);
  }
  layout->addLayout(tiles);
  auto* grid = new QGridLayout;
  usage_ = makePlot(tr("KV cache in use"));
  per_layer_ = makePlot(tr("KV bytes per token, one layer"));
  fits_ = makePlot(tr("Longest context that fits (tokens, log scale)"));
  history_ = makePlot(tr("KV cache over time (tokens)"));
  grid->addWidget(usage_, 0, 0);
  grid->addWidget(per_layer_, 0, 1);
  grid->addWidget(fits_, 1, 0);
  grid->addWidget(history_, 1, 1);
  layout->addLayout(grid, 1);

  usage_total_ = new QCPBars(usage_->yAxis, usage_->xAxis);
  usage_used_ = new QCPBars(usage_->yAxis, usage_->xAxis);
  for (QCPBars* b : {usage_total_, usage_used_}) b->setWidth(0.5);
  usage_total_->setName(tr("capacity"));
  usage_used_->setName(tr("in use"));
  setCategories(usage_->yAxis, {tr("KV cache")});

  per_layer_model_ = new QCPBars(per_layer_->yAxis, per_layer_->xAxis);
  per_layer_full_ = new QCPBars(per_layer_->yAxis, per_layer_->xAxis);
  for (QCPBars* b : {per_layer_model_, per_layer_full_}) b->setWidth(0.6);

  fits_bars_ = new QCPBars(fits_->yAxis, fits_->xAxis);
  fits_bars_->setWidth(0.6);
  fits_bars_->setBaseValue(1);
  fits_->xAxis->setScaleType(QCPAxis::stLogarithmic);
  QSharedPointer<QCPAxisTickerLog> log_ticker(new QCPAxisTickerLog);
  fits_->xAxis->setTicker(log_ticker);
  fits_->xAxis->setNumberFormat(QStringLiteral("eb"));
  fits_->xAxis->setNumberPrecision(0);

  usage_label_ = barLabel(usage_);
  usage_label_->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
  for (int i = 0; i < 2; ++i) per_layer_labels_ << barLabel(per_layer_);
  for (int i = 0; i < 3; ++i) fits_labels_ << barLabel(fits_);

  history_graph_ = history_->addGraph();
  history_graph_->setLineStyle(QCPGraph::lsStepLeft);
  history_tail_ = history_->addGraph();
  history_tail_->setLineStyle(QCPGraph::lsLine);
  history_->xAxis->setLabel(tr("seconds"));
  history_->xAxis->setRange(0, kMinViewSeconds);

  applyColors();
  clock_.start();
  replot_timer_.setInterval(33);
  connect(&replot_timer_, &QTimer::timeout, this, &MemoryPage::refresh);
  replot_timer_.start();
}

QCustomPlot* MemoryPage::makePlot(const QString& title) {
  auto* plot = new QCustomPlot(this);
  plot->setMinimumSize(260, 170);
  addPlotTitle(plot, title);
  plot->setInteractions({});
  return plot;
}

void MemoryPage::setTrainingMemory(const r1::app::TrainingMemory& memory) {
  const bool new_run = !training_->hasMemory() || memory.step == 0;
  training_->setMemory(memory);
  views_->tabBar()->show();
  if (new_run) views_->setCurrentWidget(training_);
}

bool MemoryPage::showsTraining() const {
  return views_->currentWidget() == training_;
}

void MemoryPage::setModel(const r1::app::ModelInfo& info) {
  model_ = info;
  history_graph_->data()->clear();
  history_tail_->data()->clear();
  clock_.restart();
  last_history_point_ = 0;
  layout_dirty_ = true;
  setKv(info.kv);
}

void MemoryPage::setKv(const r1::app::KvSnapshot& kv) {
  // The history keeps a point every kHistoryStepMs while the cache grows (a long chat stays a few thousand
  // points, cheap to draw), and every drop, so a truncation always shows.
  const double now = double(clock_.elapsed()) / 1000.0;
  const bool dropped = kv.used_tokens < kv_.used_tokens;
  if (dropped || history_graph_->data()->isEmpty() || now - last_history_point_ >= kHistoryStepMs / 1000.0) {
    history_graph_->addData(now, double(kv.used_tokens));
    last_history_point_ = now;
  }
  kv_ = kv;
  dirty_ = true;
}

double MemoryPage::plottedUsedBytes() const {
  const auto bars = usage_used_->data();
  if (bars->isEmpty()) return 0;
  return bars->constBegin()->value * byteUnitFor(double(kv_.total_bytes)).scale;
}

QString MemoryPage::summaryText() const {
  QStringList parts;
  for (QLabel* t : tiles_) parts << t->text();
  return parts.join(QStringLiteral(" · "));
}

void MemoryPage::setTile(Tile tile, const QString& value, const QString& tooltip) {
  if (tiles_[tile]->text() != value) tiles_[tile]->setText(value);
  tiles_[tile]->setToolTip(tooltip);
}

void MemoryPage::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  refresh();
}

void MemoryPage::refresh() {
  if (!dirty_ || !chat_view_->isVisible()) return;
  dirty_ = false;
  const r1::app::KvSnapshot& k = kv_;
  const qint64 available = model_.device == QLatin1String("cpu") ? availableSystemMemory() : 0;
  const double share =
      k.capacity_tokens > 0 ? 100.0 * double(k.used_tokens) / double(k.capacity_tokens) : 0.0;
  const double ratio = k.bytes_per_token_layer > 0
                           ? double(k.mha_bytes_per_token_layer) / double(k.bytes_per_token_layer)
                           : 1.0;
  QString fits_free;
  if (available > 0 && k.bytes_per_token > 0)
    fits_free = tr(", %1 in free memory").arg(formatCount(double(available / k.bytes_per_token)));
  if (model_.name.isEmpty()) {
    for (int i = 0; i < TileCount; ++i) setTile(Tile(i), QStringLiteral("–"));
  } else {
    setTile(ModelTile, tr("%1 on %2").arg(model_.name, model_.device), model_.dir);
    setTile(PerTokenTile, tr("%1 (%2 layers × %3)")
                              .arg(formatBytes(double(k.bytes_per_token)))
                              .arg(k.layers)
                              .arg(formatBytes(double(k.bytes_per_token_layer))));
    setTile(CapacityTile,
            tr("%1 tokens · %2").arg(k.capacity_tokens).arg(formatBytes(double(k.total_bytes))));
    setTile(InUseTile, tr("%1 tokens (%2%)").arg(k.used_tokens).arg(share, 0, 'f', 1),
            formatBytes(double(k.used_bytes())));
    setTile(LongestTile, tr("%1 tokens planned%2").arg(k.max_context).arg(fits_free),
            tr("The runtime planned a cache of %1 tokens per sequence%2").arg(k.max_context).arg(fits_free));
    setTile(FullKvTile, tr("%1× this cache").arg(ratio, 0, 'f', 1),
            tr("The same model with one K and one V per attention head would need %1 per token")
                .arg(formatBytes(double(k.mha_bytes_per_token_layer * k.layers))));
  }

  const ByteUnit u = byteUnitFor(double(k.total_bytes));
  usage_total_->setData({1}, {double(k.total_bytes) / u.scale});
  usage_used_->setData({1}, {double(k.used_bytes()) / u.scale});
  usage_->xAxis->setLabel(u.name);
  usage_->xAxis->setRange(0, std::max(1e-9, double(k.total_bytes) / u.scale) * 1.05);
  usage_label_->position->setCoords(0, 1.3);
  usage_label_->setText(tr("%1 of %2 tokens (%3%) · %4 of %5")
                            .arg(k.used_tokens)
                            .arg(k.capacity_tokens)
                            .arg(share, 0, 'f', 1)
                            .arg(formatBytes(double(k.used_bytes())), formatBytes(double(k.total_bytes))));

  // The per-layer and longest-context plots change with the model (and free memory, slowly): they are redrawn
  // on a model change and about once a second, the live plots on every refresh.
  const bool slow_plots = layout_dirty_ || ++refreshes_ % 30 == 0;
  if (layout_dirty_) {
    layout_dirty_ = false;
    setCategories(per_layer_->yAxis, {tr("this model (%1)").arg(k.cache_kind),
                                      tr("full per-head K/V (%1×)").arg(ratio, 0, 'f', 1)});
    QStringList fit_names{tr("planned cache")};
    if (available > 0) fit_names << tr("free memory, this cache") << tr("free memory, full K/V");
    setCategories(fits_->yAxis, fit_names);
  }
  const ByteUnit lu = byteUnitFor(double(std::max(k.mha_bytes_per_token_layer, k.bytes_per_token_layer)));
  per_layer_model_->setData({1}, {double(k.bytes_per_token_layer) / lu.scale});
  per_layer_full_->setData({2}, {double(k.mha_bytes_per_token_layer) / lu.scale});
  per_layer_->xAxis->setLabel(lu.name);
  per_layer_->xAxis->setRange(0, std::max(1e-9, double(k.mha_bytes_per_token_layer) / lu.scale) * 1.3);
  const double layer_values[] = {double(k.bytes_per_token_layer), double(k.mha_bytes_per_token_layer)};
  for (int i = 0; i < 2; ++i) {
    per_layer_labels_[i]->position->setCoords(layer_values[i] / lu.scale, i + 1);
    per_layer_labels_[i]->setText(formatBytes(layer_values[i]));
  }

  QVector<double> keys{1}, values{double(std::max<qint64>(k.max_context, 1))};
  if (available > 0 && k.bytes_per_token > 0 && k.layers > 0 && k.mha_bytes_per_token_layer > 0) {
    keys << 2 << 3;
    values << double(available / k.bytes_per_token)
           << double(available / (k.mha_bytes_per_token_layer * k.layers));
  }
  fits_bars_->setData(keys, values);
  fits_->xAxis->setRange(1, *std::max_element(values.begin(), values.end()) * 60);
  for (int i = 0; i < fits_labels_.size(); ++i) {
    fits_labels_[i]->setVisible(i < values.size());
    if (i >= values.size()) continue;
    fits_labels_[i]->position->setCoords(values[i], keys[i]);
    fits_labels_[i]->setText(formatCount(values[i]));
  }

  const double now = double(clock_.elapsed()) / 1000.0;
  history_graph_->data()->removeBefore(now - kHistorySeconds);
  // The line ends at the latest figure even between kept points.
  history_tail_->setData({last_history_point_, now}, {double(k.used_tokens), double(k.used_tokens)});
  // The view spans the cache's recorded life, from a few seconds (a fast chat stays readable) up to two
  // minutes.
  const double first = history_graph_->data()->isEmpty() ? 0.0 : history_graph_->data()->constBegin()->key;
  const double span = std::clamp(now - first, kMinViewSeconds, kViewSeconds);
  history_->xAxis->setRange(std::max(0.0, now - span) - span * 0.02, std::max(now, span) + span * 0.02);
  history_->yAxis->setRange(0, double(std::max<qint64>(k.capacity_tokens, 1)) * 1.05);

  for (QCustomPlot* p : {usage_, history_}) p->replot(QCustomPlot::rpQueuedReplot);
  if (slow_plots)
    for (QCustomPlot* p : {per_layer_, fits_}) p->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryPage::applyColors() {
  const QPalette pal = palette();
  const QColor text = pal.color(QPalette::WindowText);
  const QColor accent = pal.color(QPalette::Highlight);
  QColor ghost = pal.color(QPalette::Mid);
  ghost.setAlpha(110);
  for (QCustomPlot* p : {usage_, per_layer_, fits_, history_}) applyPlotPalette(p, pal);
  QVector<QCPItemText*> labels = per_layer_labels_ + fits_labels_;
  labels << usage_label_;
  for (QCPItemText* l : labels) l->setColor(text);
  usage_total_->setBrush(ghost);
  usage_total_->setPen(Qt::NoPen);
  usage_used_->setBrush(accent);
  usage_used_->setPen(Qt::NoPen);
  per_layer_model_->setBrush(accent);
  per_layer_model_->setPen(Qt::NoPen);
  per_layer_full_->setBrush(ghost);
  per_layer_full_->setPen(QPen(pal.color(QPalette::Dark), 1, Qt::DashLine));
  fits_bars_->setBrush(accent.lighter(120));
  fits_bars_->setPen(Qt::NoPen);
  QColor fill = accent;
  fill.setAlpha(60);
  for (QCPGraph* g : {history_graph_, history_tail_}) {
    g->setPen(QPen(accent, 2));
    g->setBrush(fill);
  }
  dirty_ = true;
  // The slow plots otherwise keep their old colours until their next once-a-second redraw.
  for (QCustomPlot* p : {usage_, per_layer_, fits_, history_}) p->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryPage::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && usage_) applyColors();
}

}  // namespace r1::ui
