#pragma once
// Sampling settings (temperature, top-p, max tokens, seed, system prompt), whether earlier reasoning stays in
// the context, and the machine's hourly price the cost per million tokens is figured from.
#include <QWidget>

#include "core/chat_types.h"

class QCheckBox;
class QDoubleSpinBox;
class QPlainTextEdit;
class QSpinBox;

namespace r1::ui {

class ChatSettingsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ChatSettingsPanel(QWidget* parent = nullptr);

  r1::app::ChatSettings settings() const;
  void setSettings(const r1::app::ChatSettings& s);
  double hourlyPrice() const;
  void setHourlyPrice(double dollars);
  void setMaxTokensLimit(int tokens);  // the loaded model's context

 signals:
  void settingsChanged(const r1::app::ChatSettings& settings);
  void hourlyPriceChanged(double dollars);

 private:
  void emitSettings();

  QDoubleSpinBox* temperature_;
  QDoubleSpinBox* top_p_;
  QSpinBox* max_tokens_;
  QSpinBox* seed_;
  QPlainTextEdit* system_prompt_;
  QCheckBox* keep_reasoning_;
  QCheckBox* drop_oldest_;
  QDoubleSpinBox* hourly_price_;
  bool loading_ = false;
};

}  // namespace r1::ui
