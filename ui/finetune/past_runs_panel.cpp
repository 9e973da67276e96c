#include "past_runs_panel.h"

#include <QDateTime>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "core/run_store.h"

namespace r1::ui {
namespace {

enum Column { IdColumn, StartedColumn, StatusColumn, StepsColumn, TaskColumn, ModelColumn, ColumnCount };

QString taskText(const QJsonObject& config) {
  const QString data = config.value(QStringLiteral("data")).toString();
  if (!data.isEmpty()) return QFileInfo(data).fileName();
  return QStringLiteral("%1 (%2)").arg(config.value(QStringLiteral("task")).toString(),
                                       config.value(QStringLiteral("difficulty")).toString());
}

}  // namespace

PastRunsPanel::PastRunsPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("pastRuns"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  list_ = new QTreeWidget(this);
  list_->setObjectName(QStringLiteral("pastRunsList"));
  list_->setRootIsDecorated(false);
  list_->setUniformRowHeights(true);
  list_->setAlternatingRowColors(true);
  list_->setHeaderLabels({tr("Run"), tr("Started"), tr("Status"), tr("Steps"), tr("Task"), tr("Model")});
  list_->header()->setStretchLastSection(true);
  layout->addWidget(list_, 1);
  message_ = new QLabel(this);
  message_->setWordWrap(true);
  message_->hide();
  layout->addWidget(message_);

  auto* buttons = new QHBoxLayout;
  open_ = new QPushButton(tr("Open"), this);
  open_->setObjectName(QStringLiteral("openRun"));
  open_->setToolTip(tr("Show this run's steps in the plots (double-click does the same)"));
  overlay_ = new QPushButton(tr("Overlay"), this);
  overlay_->setObjectName(QStringLiteral("overlayRun"));
  overlay_->setToolTip(tr("Draw this run over the shown one, in other colours"));
  auto* clear = new QPushButton(tr("Clear overlay"), this);
  clear->setObjectName(QStringLiteral("clearOverlay"));
  auto* reload = new QPushButton(tr("Refresh"), this);
  reload->setObjectName(QStringLiteral("refreshRuns"));
  for (QPushButton* b : {open_, overlay_, clear}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(reload);
  layout->addLayout(buttons);

  connect(open_, &QPushButton::clicked, this, [this] {
    if (const qint64 id = selectedRunId()) emit openRequested(id);
  });
  connect(overlay_, &QPushButton::clicked, this, [this] {
    if (const qint64 id = selectedRunId()) emit overlayRequested(id);
  });
  connect(clear, &QPushButton::clicked, this, &PastRunsPanel::clearOverlayRequested);
  connect(reload, &QPushButton::clicked, this, &PastRunsPanel::refresh);
  connect(list_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item) {
    emit openRequested(item->data(IdColumn, Qt::UserRole).toLongLong());
  });
  connect(list_, &QTreeWidget::currentItemChanged, this, &PastRunsPanel::updateButtons);
  updateButtons();
}

void PastRunsPanel::setStore(r1::app::RunStore* store, const QString& error) {
  store_ = store;
  message_->setText(error.isEmpty() ? QString() : tr("The run store cannot be read: %1").arg(error));
  message_->setVisible(!error.isEmpty());
  refresh();
}

void PastRunsPanel::refresh() {
  const qint64 selected = selectedRunId();
  list_->clear();
  if (!store_) return updateButtons();
  try {
    for (const r1::app::RunInfo& run : store_->runs(kMaxRuns)) {
      auto* item = new QTreeWidgetItem(list_);
      item->setData(IdColumn, Qt::UserRole, run.id);
      item->setText(IdColumn, QStringLiteral("#%1 %2").arg(run.id).arg(run.kind));
      item->setText(
          StartedColumn,
          QDateTime::fromMSecsSinceEpoch(run.created_ms).toString(QStringLiteral("yyyy-MM-dd HH:mm")));
      item->setText(StatusColumn, run.status);
      const qint64 planned = run.config.value(QStringLiteral("steps")).toInteger();
      const qint64 done = store_->lastStep(run.id);
      item->setText(StepsColumn, planned > 0 ? tr("%1 of %2").arg(done).arg(planned) : QString::number(done));
      item->setText(TaskColumn, taskText(run.config));
      item->setText(ModelColumn, QFileInfo(run.model).fileName());
      item->setToolTip(ModelColumn, run.model);
    }
    message_->hide();
  } catch (const std::exception& e) {
    message_->setText(tr("The run store cannot be read: %1").arg(QString::fromUtf8(e.what())));
    message_->show();
  }
  if (selected) select(selected);
  for (int c = 0; c + 1 < ColumnCount; ++c) {
    list_->resizeColumnToContents(c);
    list_->setColumnWidth(c, list_->columnWidth(c) + 12);
  }
  updateButtons();
}

qint64 PastRunsPanel::selectedRunId() const {
  const QTreeWidgetItem* item = list_->currentItem();
  return item ? item->data(IdColumn, Qt::UserRole).toLongLong() : 0;
}

bool PastRunsPanel::select(qint64 run_id) {
  for (int i = 0; i < list_->topLevelItemCount(); ++i) {
    QTreeWidgetItem* item = list_->topLevelItem(i);
    if (item->data(IdColumn, Qt::UserRole).toLongLong() == run_id) {
      list_->setCurrentItem(item);
      return true;
    }
  }
  return false;
}

void PastRunsPanel::updateButtons() {
  const bool any = selectedRunId() != 0;
  open_->setEnabled(any);
  overlay_->setEnabled(any);
}

}  // namespace r1::ui
