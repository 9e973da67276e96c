#include "token_colours.h"

#include <QTextCursor>
#include <QTextDocument>
#include <algorithm>
#include <cmath>

#include "core/run_store.h"
#include "token_text.h"

namespace r1::ui {

QColor logprobColour(double logprob) {
  const double p = std::isnan(logprob) ? 0.0 : std::clamp(std::exp(logprob), 0.0, 1.0);
  return QColor::fromHsvF(float(p / 3.0), 0.45f, 1.0f);  // hue 0 (red) to 1/3 (green)
}

QColor advantageColour(double advantage, double scale) {
  if (std::isnan(advantage) || scale <= 0) return QColor(Qt::white);
  const double t = std::clamp(advantage / scale, -1.0, 1.0);
  return QColor::fromHsvF(t < 0 ? 0.0f : 1.0f / 3.0f, float(0.6 * std::abs(t)), 1.0f);
}

QString tokenTooltip(const QString& text, qint32 id, double logprob, double advantage) {
  QString shown = text;
  shown.replace(QLatin1Char('\n'), QStringLiteral("\\n")).replace(QLatin1Char('\t'), QStringLiteral("\\t"));
  return QStringLiteral("log p %1 (p %2) · advantage %3\ntoken %4: \u201c%5\u201d")
      .arg(logprob, 0, 'f', 3)
      .arg(std::exp(logprob), 0, 'f', 3)
      .arg(advantage, 0, 'f', 3)
      .arg(id)
      .arg(shown);
}

void writeTokens(QTextDocument* document, const r1::app::RolloutEntry& rollout, const TokenText& text,
                 TokenColouring colouring, double advantage_scale) {
  document->clear();
  QTextCursor cursor(document);
  cursor.beginEditBlock();
  const QColor by_advantage = advantageColour(rollout.advantage, advantage_scale);
  for (qsizetype i = 0; i < rollout.tokens.size(); ++i) {
    const qint32 id = rollout.tokens[i];
    const double logprob = i < rollout.logprobs.size() ? double(rollout.logprobs[i]) : std::nan("");
    QColor background = colouring == TokenColouring::Advantage ? by_advantage : logprobColour(logprob);
    if (i % 2) background = background.darker(108);  // neighbours of one colour stay apart
    QTextCharFormat format;
    format.setBackground(background);
    format.setForeground(QColor(Qt::black));
    const QString token = text.text(id);
    format.setToolTip(tokenTooltip(token, id, logprob, rollout.advantage));
    QString shown = token;
    shown.replace(QLatin1Char('\n'), QStringLiteral("\u21b5\n"));
    cursor.insertText(shown, format);
  }
  cursor.endEditBlock();
}

}  // namespace r1::ui
