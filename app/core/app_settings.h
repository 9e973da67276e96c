#pragma once
// Settings the GUI and the chat session share, kept in QSettings: which model opens by default, recent
// model folders, sampling settings, the machine's hourly price, palette and device.
#include <QSettings>
#include <QString>
#include <QStringList>

#include "chat_types.h"

namespace r1::app {

struct DefaultModel {
  QString dir;     // empty when none was found
  QString origin;  // where it came from, for the model picker's tooltip
};

// The model opened at start: R1WB_DEFAULT_MODEL, then the "models/default" setting, then the built-in r1-tiny
// (installed next to the program or in the source tree's resources/models), then the development fixture.
DefaultModel resolveDefaultModel();

// A folder that looks like a model: it holds a config.json.
bool looksLikeModelDir(const QString& dir);

class AppSettings {
 public:
  static constexpr int kMaxRecentModels = 8;

  QStringList recentModels() const;
  void addRecentModel(const QString& dir);  // moves it to the front
  void removeRecentModel(const QString& dir);
  void setDefaultModel(const QString& dir);  // read by resolveDefaultModel()

  ChatSettings chatSettings() const;
  void setChatSettings(const ChatSettings& s);

  double hourlyPrice() const;  // US dollars per hour of this machine
  void setHourlyPrice(double dollars);

  bool darkPalette() const;
  void setDarkPalette(bool dark);

  QString device() const;  // "cpu" or "cuda"; empty: the best one present
  void setDevice(const QString& device);

  QByteArray valueBytes(const QString& key) const;
  void setValueBytes(const QString& key, const QByteArray& bytes);

 private:
  mutable QSettings settings_;
};

// Dollars per million generated tokens for a machine costing `hourly_price` dollars per hour that
// generates `tokens_per_second`; 0 when the speed is unknown.
double costPerMillionTokens(double tokens_per_second, double hourly_price);

// API prices per million output tokens the R1 story compares against.
constexpr double kO1DollarsPerMillion = 15.0;
constexpr double kR1DollarsPerMillion = 0.55;

}  // namespace r1::app
