#include "chat_settings_panel.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/app_settings.h"

namespace r1::ui {

ChatSettingsPanel::ChatSettingsPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("chatSettings"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  auto* sampling = new QGroupBox(tr("Sampling"), this);
  auto* form = new QFormLayout(sampling);
  temperature_ = new QDoubleSpinBox(sampling);
  temperature_->setObjectName(QStringLiteral("temperature"));
  temperature_->setRange(0.0, 2.0);
  temperature_->setSingleStep(0.05);
  temperature_->setToolTip(tr("0 picks the most likely token every time"));
  top_p_ = new QDoubleSpinBox(sampling);
  top_p_->setObjectName(QStringLiteral("topP"));
  top_p_->setRange(0.01, 1.0);
  top_p_->setSingleStep(0.01);
  max_tokens_ = new QSpinBox(sampling);
  max_tokens_->setObjectName(QStringLiteral("maxTokens"));
  max_tokens_->setRange(1, 32768);
  max_tokens_->setSingleStep(64);
  seed_ = new QSpinBox(sampling);
  seed_->setObjectName(QStringLiteral("seed"));
  seed_->setRange(0, 1 << 30);
  seed_->setSpecialValueText(tr("random"));
  seed_->setToolTip(
      tr("The same seed and settings give the same reply; \"random\" draws a new one per reply"));
  form->addRow(tr("Temperature"), temperature_);
  form->addRow(tr("Top-p"), top_p_);
  form->addRow(tr("Max tokens"), max_tokens_);
  form->addRow(tr("Seed"), seed_);
  layout->addWidget(sampling);

  auto* context = new QGroupBox(tr("Context"), this);
  auto* context_layout = new QVBoxLayout(context);
  context_layout->addWidget(new QLabel(tr("System prompt"), context));
  system_prompt_ = new QPlainTextEdit(context);
  system_prompt_->setObjectName(QStringLiteral("systemPrompt"));
  system_prompt_->setPlaceholderText(tr("None"));
  system_prompt_->setTabChangesFocus(true);
  system_prompt_->setMaximumHeight(110);
  context_layout->addWidget(system_prompt_);
  keep_reasoning_ = new QCheckBox(tr("Keep earlier reasoning in the context"), context);
  keep_reasoning_->setObjectName(QStringLiteral("keepReasoning"));
  keep_reasoning_->setToolTip(
      tr("Off (as R1 was trained): earlier replies go back into the context without their thinking, "
         "which saves context and keeps old reasoning from steering new answers"));
  context_layout->addWidget(keep_reasoning_);
  drop_oldest_ = new QCheckBox(tr("Drop the earliest messages"), context);
  drop_oldest_->setObjectName(QStringLiteral("dropOldest"));
  drop_oldest_->setToolTip(
      tr("When the conversation outgrows the model's context, leave its earliest turns out of the prompt. "
         "Off: such a reply is refused with the token counts"));
  context_layout->addWidget(drop_oldest_);
  layout->addWidget(context);

  auto* cost = new QGroupBox(tr("Cost"), this);
  auto* cost_form = new QFormLayout(cost);
  hourly_price_ = new QDoubleSpinBox(cost);
  hourly_price_->setObjectName(QStringLiteral("hourlyPrice"));
  hourly_price_->setRange(0.0, 1000.0);
  hourly_price_->setDecimals(2);
  hourly_price_->setSingleStep(0.1);
  hourly_price_->setPrefix(QStringLiteral("$"));
  hourly_price_->setSuffix(tr(" / hour"));
  cost_form->addRow(tr("This machine"), hourly_price_);
  auto* api = new QLabel(tr("API prices per million output tokens: o1 $%1, DeepSeek-R1 $%2")
                             .arg(r1::app::kO1DollarsPerMillion, 0, 'f', 2)
                             .arg(r1::app::kR1DollarsPerMillion, 0, 'f', 2),
                         cost);
  api->setWordWrap(true);
  api->setForegroundRole(QPalette::PlaceholderText);
  cost_form->addRow(api);
  layout->addWidget(cost);
  layout->addStretch(1);

  for (QDoubleSpinBox* box : {temperature_, top_p_})
    connect(box, &QDoubleSpinBox::valueChanged, this, &ChatSettingsPanel::emitSettings);
  for (QSpinBox* box : {max_tokens_, seed_})
    connect(box, &QSpinBox::valueChanged, this, &ChatSettingsPanel::emitSettings);
  connect(system_prompt_, &QPlainTextEdit::textChanged, this, &ChatSettingsPanel::emitSettings);
  connect(keep_reasoning_, &QCheckBox::toggled, this, &ChatSettingsPanel::emitSettings);
  connect(drop_oldest_, &QCheckBox::toggled, this, &ChatSettingsPanel::emitSettings);
  connect(hourly_price_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
    if (!loading_) emit hourlyPriceChanged(v);
  });
}

r1::app::ChatSettings ChatSettingsPanel::settings() const {
  r1::app::ChatSettings s;
  s.temperature = temperature_->value();
  s.top_p = top_p_->value();
  s.max_tokens = max_tokens_->value();
  s.seed = quint64(seed_->value());
  s.system_prompt = system_prompt_->toPlainText();
  s.keep_reasoning = keep_reasoning_->isChecked();
  s.drop_oldest = drop_oldest_->isChecked();
  return s;
}

void ChatSettingsPanel::setSettings(const r1::app::ChatSettings& s) {
  loading_ = true;
  temperature_->setValue(s.temperature);
  top_p_->setValue(s.top_p);
  max_tokens_->setValue(s.max_tokens);
  seed_->setValue(int(s.seed));
  if (system_prompt_->toPlainText() != s.system_prompt) system_prompt_->setPlainText(s.system_prompt);
  keep_reasoning_->setChecked(s.keep_reasoning);
  drop_oldest_->setChecked(s.drop_oldest);
  loading_ = false;
}

double ChatSettingsPanel::hourlyPrice() const {
  return hourly_price_->value();
}

void ChatSettingsPanel::setHourlyPrice(double dollars) {
  loading_ = true;
  hourly_price_->setValue(dollars);
  loading_ = false;
}

void ChatSettingsPanel::setMaxTokensLimit(int tokens) {
  max_tokens_->setToolTip(
      tr("At most %1 with this model's context; longer replies stop when the context is full").arg(tokens));
}

void ChatSettingsPanel::emitSettings() {
  if (!loading_) emit settingsChanged(settings());
}

}  // namespace r1::ui
