#pragma once
// The colours of the traces view: a completion's tokens by log-probability or by advantage, and the
// advantage badge. Backgrounds are light so that dark text stays readable on them in either palette.
#include <QColor>
#include <QString>

class QTextDocument;

namespace r1::app {
struct RolloutEntry;
}

namespace r1::ui {

class TokenText;

enum class TokenColouring { LogProbability, Advantage };

// Red for an unlikely token, through yellow, to green for one the policy was sure of.
QColor logprobColour(double logprob);
// Red below zero, white at zero, green above; `scale` is the magnitude shown fully saturated.
QColor advantageColour(double advantage, double scale);

// Fills `document` with the rollout's tokens, one coloured fragment each, whose tooltip gives the token's
// text, id, log-probability and the completion's advantage.
void writeTokens(QTextDocument* document, const r1::app::RolloutEntry& rollout, const TokenText& text,
                 TokenColouring colouring, double advantage_scale);

// The tooltip of one token, as writeTokens sets it.
QString tokenTooltip(const QString& text, qint32 id, double logprob, double advantage);

}  // namespace r1::ui
