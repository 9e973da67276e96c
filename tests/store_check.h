#pragma once
// A raw SQLite connection for tests that check a store apart from RunStore, so the checks do not depend on
// the code under test.
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>

namespace r1::test {

inline QStringList raw_query(const QString& path, const QString& sql) {
  const QString name = QStringLiteral("raw-check");
  QStringList rows;
  {
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
    db.setDatabaseName(path);
    if (db.open()) {
      QSqlQuery q(db);
      if (!q.exec(sql)) rows << QStringLiteral("query failed: ") + q.lastError().text();
      while (q.next()) rows << q.value(0).toString();
      q.finish();
    } else {
      rows << QStringLiteral("cannot open: ") + db.lastError().text();
    }
    db.close();
  }
  QSqlDatabase::removeDatabase(name);
  return rows;
}

}  // namespace r1::test
