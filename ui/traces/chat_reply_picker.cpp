#include "chat_reply_picker.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>

#include "chat/conversation_model.h"
#include "core/run_store.h"

namespace r1::ui {

ChatReplyPicker::ChatReplyPicker(QWidget* parent) : QWidget(parent) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(new QLabel(tr("Open chat reply"), this));
  conversations_ = new QComboBox(this);
  conversations_->setObjectName(QStringLiteral("chatConversationPicker"));
  conversations_->setMinimumContentsLength(24);
  conversations_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  replies_ = new QComboBox(this);
  replies_->setObjectName(QStringLiteral("chatReplyPicker"));
  replies_->setMinimumContentsLength(32);
  replies_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  layout->addWidget(conversations_);
  layout->addWidget(replies_);
  layout->addStretch(1);
  connect(conversations_, &QComboBox::activated, this, &ChatReplyPicker::onConversationPicked);
  connect(replies_, &QComboBox::activated, this, &ChatReplyPicker::onReplyPicked);
}

void ChatReplyPicker::setStore(r1::app::RunStore* store) {
  store_ = store;
  const QSignalBlocker block(conversations_);
  // The conversations come a page at a time as the popup scrolls, like the Chat page's list.
  auto* model = new ConversationModel(store, this);
  conversations_->setModel(model);
  delete model_;
  model_ = model;
  conversations_->setCurrentIndex(-1);
  conversations_->setPlaceholderText(model->rowCount() ? tr("Conversation…") : tr("No conversations"));
  replies_->clear();
  replies_->setPlaceholderText(tr("Reply…"));
  shown_.clear();
  questions_.clear();
}

void ChatReplyPicker::onConversationPicked(int index) {
  replies_->clear();
  shown_.clear();
  questions_.clear();
  if (!store_ || index < 0) return;
  try {
    const qint64 id = model_->idAt(index);
    const auto messages = store_->messages(id);
    QString question;
    for (int i = 0; i < messages.size(); ++i) {
      if (messages[i].role == QStringLiteral("user")) question = messages[i].content;
      if (messages[i].role != QStringLiteral("assistant")) continue;
      shown_.push_back(messages[i]);
      questions_.push_back(question);
      QString first = messages[i].content.simplified();
      if (first.size() > 60) first = first.left(59) + QChar(0x2026);
      replies_->addItem(tr("Reply %1: %2").arg(shown_.size()).arg(first));
    }
  } catch (const std::exception& e) {
    emit loadFailed(QString::fromUtf8(e.what()));
  }
  replies_->setPlaceholderText(shown_.isEmpty() ? tr("No replies") : tr("Reply…"));
  replies_->setCurrentIndex(-1);
  if (shown_.size() == 1) {  // nothing to choose between
    replies_->setCurrentIndex(0);
    onReplyPicked(0);
  }
}

void ChatReplyPicker::onReplyPicked(int index) {
  if (index < 0 || index >= shown_.size()) return;
  emit replyPicked(
      tr("%1, reply %2 to: %3").arg(conversations_->currentText()).arg(index + 1).arg(questions_[index]),
      shown_[index]);
}

}  // namespace r1::ui
