#include "chat_page.h"

#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QListView>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QSplitter>
#include <QVBoxLayout>

#include "chat_settings_panel.h"
#include "conversation_model.h"
#include "core/app_settings.h"
#include "core/chat_session.h"
#include "core/run_store.h"
#include "message_widgets.h"
#include "transcript_view.h"

namespace r1::ui {
namespace {

QString titleFor(const QString& text) {
  QString line = text.section(QLatin1Char('\n'), 0, 0).simplified();
  if (line.size() > 60) line = line.left(57) + QStringLiteral("…");
  return line;
}

}  // namespace

ChatPage::ChatPage(r1::app::ChatSession* session, r1::app::RunStore* store, QWidget* parent)
    : QWidget(parent), session_(session), store_(store) {
  setObjectName(QStringLiteral("chatPage"));
  auto* outer = new QHBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  splitter_ = new QSplitter(Qt::Horizontal, this);
  splitter_->setObjectName(QStringLiteral("chatSplitter"));
  outer->addWidget(splitter_);

  // Conversations.
  auto* left = new QWidget(splitter_);
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(6, 6, 0, 6);
  auto* new_chat = new QPushButton(tr("New chat"), left);
  new_chat->setObjectName(QStringLiteral("newChat"));
  new_chat->setToolTip(tr("Start a new conversation (Ctrl+N)"));
  left_layout->addWidget(new_chat);
  conversations_ = new ConversationModel(store_, this);
  list_ = new QListView(left);
  list_->setObjectName(QStringLiteral("conversations"));
  list_->setModel(conversations_);
  list_->setUniformItemSizes(true);
  list_->setContextMenuPolicy(Qt::CustomContextMenu);
  list_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  list_->setTextElideMode(Qt::ElideRight);
  left_layout->addWidget(list_, 1);
  if (!store_) list_->setToolTip(tr("The run store could not be opened: conversations are not kept"));

  // Transcript and composer.
  auto* center = new QWidget(splitter_);
  auto* center_layout = new QVBoxLayout(center);
  center_layout->setContentsMargins(0, 0, 0, 6);
  transcript_ = new TranscriptView(center);
  transcript_->setPlaceholder(
      tr("Load a model, then ask it something.\nIts reasoning appears in a thinking "
         "block above its answer."));
  center_layout->addWidget(transcript_, 1);
  context_bar_ = new QProgressBar(center);
  context_bar_->setObjectName(QStringLiteral("contextBar"));
  context_bar_->setRange(0, 1);
  context_bar_->setValue(0);
  context_bar_->setFormat(tr("Context: %v of %m tokens"));
  context_bar_->setMaximumHeight(18);
  context_bar_->setToolTip(tr("Tokens this conversation holds in the model's context (KV cache)"));
  auto* composer_row = new QHBoxLayout;
  composer_row->setContentsMargins(8, 0, 8, 0);
  composer_ = new QPlainTextEdit(center);
  composer_->setObjectName(QStringLiteral("composer"));
  composer_->setPlaceholderText(tr("Ask something… (Ctrl+Enter sends, Esc stops)"));
  composer_->setTabChangesFocus(true);
  composer_->setMaximumHeight(110);
  composer_row->addWidget(composer_, 1);
  auto* buttons = new QVBoxLayout;
  send_ = new QPushButton(tr("Send"), center);
  send_->setObjectName(QStringLiteral("send"));
  send_->setToolTip(tr("Send (Ctrl+Enter)"));
  stop_ = new QPushButton(tr("Stop"), center);
  stop_->setObjectName(QStringLiteral("stop"));
  stop_->setToolTip(tr("Stop the reply (Esc)"));
  buttons->addWidget(send_);
  buttons->addWidget(stop_);
  buttons->addStretch();
  composer_row->addLayout(buttons);
  auto* context_row = new QHBoxLayout;
  context_row->setContentsMargins(8, 0, 8, 0);
  context_row->addWidget(context_bar_);
  center_layout->addLayout(context_row);
  center_layout->addLayout(composer_row);

  settings_ = new ChatSettingsPanel(splitter_);
  splitter_->addWidget(left);
  splitter_->addWidget(center);
  splitter_->addWidget(settings_);
  splitter_->setStretchFactor(0, 0);
  splitter_->setStretchFactor(1, 1);
  splitter_->setStretchFactor(2, 0);
  splitter_->setSizes({220, 760, 280});

  r1::app::AppSettings app_settings;
  settings_->setSettings(app_settings.chatSettings());
  hourly_price_ = app_settings.hourlyPrice();
  settings_->setHourlyPrice(hourly_price_);
  connect(settings_, &ChatSettingsPanel::settingsChanged, this,
          [](const r1::app::ChatSettings& s) { r1::app::AppSettings().setChatSettings(s); });
  connect(settings_, &ChatSettingsPanel::hourlyPriceChanged, this, &ChatPage::setHourlyPrice);

  connect(new_chat, &QPushButton::clicked, this, &ChatPage::newConversation);
  connect(send_, &QPushButton::clicked, this, &ChatPage::sendFromComposer);
  connect(stop_, &QPushButton::clicked, this, &ChatPage::stop);
  for (const QKeySequence& keys :
       {QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)}) {
    auto* shortcut = new QShortcut(keys, this, nullptr, nullptr, Qt::WidgetWithChildrenShortcut);
    connect(shortcut, &QShortcut::activated, this, &ChatPage::sendFromComposer);
  }
  connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          &ChatPage::onConversationActivated);
  connect(list_, &QListView::customContextMenuRequested, this, &ChatPage::showConversationMenu);

  connect(session_, &r1::app::ChatSession::textDelta, this, &ChatPage::onTextDelta);
  connect(session_, &r1::app::ChatSession::statsUpdated, this, &ChatPage::onStats);
  connect(session_, &r1::app::ChatSession::replyFinished, this, &ChatPage::onReplyFinished);
  connect(session_, &r1::app::ChatSession::replyFailed, this, &ChatPage::onReplyFailed);
  connect(session_, &r1::app::ChatSession::modelLoaded, this, [this](const r1::app::ModelInfo& info) {
    settings_->setMaxTokensLimit(int(info.max_context));
    context_bar_->setMaximum(int(info.max_context));
  });
  updateButtons();
}

void ChatPage::setHourlyPrice(double dollars) {
  hourly_price_ = dollars;
  if (settings_->hourlyPrice() != dollars) settings_->setHourlyPrice(dollars);
  r1::app::AppSettings().setHourlyPrice(dollars);
  for (ReplyWidget* r : replies()) r->setHourlyPrice(dollars);
}

void ChatPage::setModelReady(bool ready) {
  model_ready_ = ready;
  updateButtons();
}

void ChatPage::updateButtons() {
  const bool busy = active_request_ != 0;
  send_->setEnabled(model_ready_ && !busy);
  send_->setVisible(!busy);
  stop_->setVisible(busy);
  const QList<ReplyWidget*> all = replies();
  for (ReplyWidget* r : all) r->setRegenerateVisible(!busy && model_ready_ && r == all.last());
  for (int i = 0; i < transcript_->entryCount(); ++i)
    if (auto* u = qobject_cast<UserMessageWidget*>(transcript_->entryAt(i)))
      u->setEditable(!busy && model_ready_);
}

UserMessageWidget* ChatPage::addUserEntry(const QString& text) {
  auto* w = new UserMessageWidget(text, transcript_);
  connect(w, &UserMessageWidget::editSubmitted, this, [this, w](const QString& t) { editAndResend(w, t); });
  transcript_->addEntry(w);
  return w;
}

ReplyWidget* ChatPage::addReplyEntry() {
  auto* w = new ReplyWidget(transcript_);
  w->setHourlyPrice(hourly_price_);
  connect(w, &ReplyWidget::regenerateRequested, this, &ChatPage::regenerate);
  transcript_->addEntry(w);
  return w;
}

ReplyWidget* ChatPage::lastReply() const {
  const QList<ReplyWidget*> all = replies();
  return all.isEmpty() ? nullptr : all.last();
}

QList<ReplyWidget*> ChatPage::replies() const {
  QList<ReplyWidget*> out;
  for (int i = 0; i < transcript_->entryCount(); ++i)
    if (auto* r = qobject_cast<ReplyWidget*>(transcript_->entryAt(i))) out << r;
  return out;
}

void ChatPage::sendFromComposer() {
  if (sendMessage(composer_->toPlainText())) composer_->clear();
}

bool ChatPage::sendMessage(const QString& text) {
  const QString trimmed = text.trimmed();
  if (trimmed.isEmpty() || !model_ready_ || active_request_ != 0) return false;
  if (conversation_id_ == 0 && store_) {
    try {
      conversation_id_ = store_->createConversation(titleFor(trimmed), session_->model().name);
    } catch (const std::exception& e) {
      emit statusMessage(tr("Conversation not stored: %1").arg(QString::fromUtf8(e.what())));
    }
    conversations_->reload();
    selectConversationRow();
  }
  transcript_->removeEntriesFrom(int(messages_.size()));  // a failed reply's leftovers
  r1::app::ChatMessage m;
  m.role = QStringLiteral("user");
  m.content = trimmed;
  messages_.append(m);
  addUserEntry(trimmed);
  startReply(int(messages_.size()) - 1);
  return true;
}

void ChatPage::startReply(int persist_from) {
  r1::app::ChatRequest r;
  r.conversation_id = conversation_id_;
  r.messages = messages_;
  r.persist_from = persist_from;
  r.settings = settings_->settings();
  active_reply_ = addReplyEntry();
  active_reply_->startStreaming();
  transcript_->scrollToBottom();
  active_request_ = session_->send(r);
  updateButtons();
}

void ChatPage::stop() {
  if (active_request_ != 0) session_->stop();
}

void ChatPage::regenerate() {
  if (active_request_ != 0 || !model_ready_ || messages_.isEmpty()) return;
  if (messages_.last().role == QLatin1String("assistant")) messages_.removeLast();
  if (messages_.isEmpty()) return;
  transcript_->removeEntriesFrom(int(messages_.size()));
  startReply(int(messages_.size()));
}

void ChatPage::editAndResend(UserMessageWidget* widget, const QString& text) {
  if (active_request_ != 0 || !model_ready_) return;
  int index = -1;
  for (int i = 0; i < transcript_->entryCount(); ++i)
    if (transcript_->entryAt(i) == widget) index = i;
  if (index < 0 || index >= messages_.size()) return;
  messages_.resize(index + 1);
  messages_[index].content = text;
  transcript_->removeEntriesFrom(index + 1);
  startReply(index);
}

void ChatPage::onTextDelta(quint64 request_id, r1::app::ReplyPhase phase, const QString& text) {
  if (request_id == active_request_ && active_reply_) active_reply_->appendText(phase, text);
}

void ChatPage::onStats(quint64 request_id, const r1::app::ReplyStats& stats) {
  if (request_id != active_request_ || !active_reply_) return;
  active_reply_->setLiveStats(stats);
  context_bar_->setMaximum(int(std::max<qint64>(stats.context_max, 1)));
  context_bar_->setValue(int(stats.context_used));
}

void ChatPage::onReplyFinished(quint64 request_id, const r1::app::ChatMessage& reply) {
  if (request_id != active_request_) return;
  messages_.append(reply);
  if (active_reply_) active_reply_->finish(reply);
  context_bar_->setMaximum(int(std::max<qint64>(reply.stats.context_max, 1)));
  context_bar_->setValue(int(reply.stats.context_used));
  active_request_ = 0;
  active_reply_ = nullptr;
  conversations_->reload();
  selectConversationRow();
  updateButtons();
}

void ChatPage::onReplyFailed(quint64 request_id, const QString& message) {
  if (request_id != active_request_) return;
  if (active_reply_) active_reply_->fail(message);
  active_request_ = 0;
  active_reply_ = nullptr;
  emit statusMessage(tr("The reply failed: %1").arg(message));
  updateButtons();
}

void ChatPage::selectConversationRow() {
  const int row = conversations_->rowOf(conversation_id_);
  QSignalBlocker block(list_->selectionModel());
  if (row < 0) {
    list_->clearSelection();
    list_->setCurrentIndex({});
  } else {
    list_->setCurrentIndex(conversations_->index(row));
  }
}

void ChatPage::onConversationActivated() {
  const qint64 id = conversations_->idAt(list_->currentIndex().row());
  if (id != 0 && id != conversation_id_) openConversation(id);
}

void ChatPage::newConversation() {
  stop();
  active_request_ = 0;
  active_reply_ = nullptr;
  conversation_id_ = 0;
  messages_.clear();
  transcript_->clear();
  context_bar_->setValue(0);
  selectConversationRow();
  updateButtons();
  composer_->setFocus();
}

void ChatPage::openConversation(qint64 id) {
  if (!store_) return;
  QVector<r1::app::ChatMessage> loaded;
  try {
    loaded = store_->messages(id);
  } catch (const std::exception& e) {
    emit statusMessage(tr("Could not read the conversation: %1").arg(QString::fromUtf8(e.what())));
    return;
  }
  stop();  // a reply still streaming for the conversation left behind is finished and stored by the worker
  active_request_ = 0;
  active_reply_ = nullptr;
  conversation_id_ = id;
  messages_ = loaded;
  transcript_->clear();
  qint64 context_used = 0;
  for (const r1::app::ChatMessage& m : messages_) {
    if (m.role == QLatin1String("assistant")) {
      addReplyEntry()->showStored(m);
      context_used = m.stats.context_used;
    } else {
      addUserEntry(m.content);
    }
  }
  context_bar_->setValue(int(std::min<qint64>(context_used, context_bar_->maximum())));
  selectConversationRow();
  updateButtons();
  transcript_->scrollToBottom();
}

void ChatPage::showConversationMenu(const QPoint& pos) {
  const QModelIndex index = list_->indexAt(pos);
  if (!index.isValid() || !store_) return;
  const qint64 id = conversations_->idAt(index.row());
  QMenu menu(this);
  QAction* rename = menu.addAction(tr("Rename…"));
  QAction* remove = menu.addAction(tr("Delete"));
  QAction* chosen = menu.exec(list_->viewport()->mapToGlobal(pos));
  try {
    if (chosen == rename) {
      bool ok = false;
      const QString title = QInputDialog::getText(this, tr("Rename conversation"), tr("Title"),
                                                  QLineEdit::Normal, index.data().toString(), &ok);
      if (ok && !title.trimmed().isEmpty()) store_->renameConversation(id, title.trimmed());
    } else if (chosen == remove) {
      if (QMessageBox::question(this, tr("Delete conversation"),
                                tr("Delete \"%1\" and its messages?").arg(index.data().toString())) !=
          QMessageBox::Yes)
        return;
      store_->deleteConversation(id);
      if (id == conversation_id_) newConversation();
    }
  } catch (const std::exception& e) {
    emit statusMessage(QString::fromUtf8(e.what()));
  }
  conversations_->reload();
  selectConversationRow();
}

}  // namespace r1::ui
