#include "app_settings.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace r1::app {

bool looksLikeModelDir(const QString& dir) {
  return !dir.isEmpty() && QFileInfo(QDir(dir).filePath(QStringLiteral("config.json"))).isFile();
}

DefaultModel resolveDefaultModel() {
  const QString env = qEnvironmentVariable("R1WB_DEFAULT_MODEL");
  if (!env.isEmpty()) return {env, QStringLiteral("R1WB_DEFAULT_MODEL")};
  const QString configured = QSettings().value(QStringLiteral("models/default")).toString();
  if (looksLikeModelDir(configured)) return {configured, QStringLiteral("settings")};
  const QString app_dir = QCoreApplication::instance() ? QCoreApplication::applicationDirPath() : QString();
  QStringList candidates;
  if (!app_dir.isEmpty()) candidates << app_dir + QStringLiteral("/../share/r1-workbench/models/r1-tiny");
#ifdef R1WB_SOURCE_DIR
  candidates << QStringLiteral(R1WB_SOURCE_DIR "/resources/models/r1-tiny");
#endif
  for (const QString& c : candidates)
    if (looksLikeModelDir(c)) return {QDir::cleanPath(c), QStringLiteral("built-in r1-tiny")};
#ifdef R1WB_SOURCE_DIR
  const QString fixture = QStringLiteral(R1WB_SOURCE_DIR "/tests/fixtures/models/qwen2-tied");
  if (looksLikeModelDir(fixture)) return {fixture, QStringLiteral("development fixture")};
#endif
  return {};
}

QStringList AppSettings::recentModels() const {
  return settings_.value(QStringLiteral("models/recent")).toStringList();
}

void AppSettings::addRecentModel(const QString& dir) {
  QStringList list = recentModels();
  const QString clean = QDir::cleanPath(dir);
  list.removeAll(clean);
  list.prepend(clean);
  while (list.size() > kMaxRecentModels) list.removeLast();
  settings_.setValue(QStringLiteral("models/recent"), list);
}

void AppSettings::removeRecentModel(const QString& dir) {
  QStringList list = recentModels();
  list.removeAll(QDir::cleanPath(dir));
  settings_.setValue(QStringLiteral("models/recent"), list);
}

ChatSettings AppSettings::chatSettings() const {
  ChatSettings d;
  ChatSettings s;
  s.temperature = settings_.value(QStringLiteral("chat/temperature"), d.temperature).toDouble();
  s.top_p = settings_.value(QStringLiteral("chat/top_p"), d.top_p).toDouble();
  s.max_tokens = settings_.value(QStringLiteral("chat/max_tokens"), d.max_tokens).toInt();
  s.system_prompt = settings_.value(QStringLiteral("chat/system_prompt"), d.system_prompt).toString();
  s.keep_reasoning = settings_.value(QStringLiteral("chat/keep_reasoning"), d.keep_reasoning).toBool();
  s.drop_oldest = settings_.value(QStringLiteral("chat/drop_oldest"), d.drop_oldest).toBool();
  s.seed = settings_.value(QStringLiteral("chat/seed"), d.seed).toULongLong();
  return s;
}

void AppSettings::setChatSettings(const ChatSettings& s) {
  settings_.setValue(QStringLiteral("chat/temperature"), s.temperature);
  settings_.setValue(QStringLiteral("chat/top_p"), s.top_p);
  settings_.setValue(QStringLiteral("chat/max_tokens"), s.max_tokens);
  settings_.setValue(QStringLiteral("chat/system_prompt"), s.system_prompt);
  settings_.setValue(QStringLiteral("chat/keep_reasoning"), s.keep_reasoning);
  settings_.setValue(QStringLiteral("chat/drop_oldest"), s.drop_oldest);
  settings_.setValue(QStringLiteral("chat/seed"), s.seed);
}

void AppSettings::setDefaultModel(const QString& dir) {
  settings_.setValue(QStringLiteral("models/default"), QDir::cleanPath(dir));
}

double AppSettings::hourlyPrice() const {
  return settings_.value(QStringLiteral("cost/hourly_price"), 1.0).toDouble();
}
void AppSettings::setHourlyPrice(double dollars) {
  settings_.setValue(QStringLiteral("cost/hourly_price"), dollars);
}

bool AppSettings::darkPalette() const {
  return settings_.value(QStringLiteral("view/dark"), false).toBool();
}
void AppSettings::setDarkPalette(bool dark) {
  settings_.setValue(QStringLiteral("view/dark"), dark);
}

QString AppSettings::device() const {
  return settings_.value(QStringLiteral("model/device")).toString();
}
void AppSettings::setDevice(const QString& device) {
  settings_.setValue(QStringLiteral("model/device"), device);
}

QByteArray AppSettings::valueBytes(const QString& key) const {
  return settings_.value(key).toByteArray();
}
void AppSettings::setValueBytes(const QString& key, const QByteArray& bytes) {
  settings_.setValue(key, bytes);
}

double costPerMillionTokens(double tokens_per_second, double hourly_price) {
  if (tokens_per_second <= 0) return 0;
  return hourly_price / (tokens_per_second * 3600.0) * 1e6;
}

}  // namespace r1::app
