// The bad-input catalogue: the malformed configs, tokenizers, chat templates, datasets and HTTP requests
// under tests/bad_inputs/ (catalogue.json lists each file with the fragments its error must contain),
// safetensors images mutated from a valid one and from a fixture, and the r1wb commands that read such files.
// Every error must name the file and the field or line at fault; the command line must exit non-zero by
// itself, never by a signal.
#include <sys/socket.h>
#include <unistd.h>

#include <QtTest/QtTest>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/grpo/tasks.h"
#include "engine/io/safetensors.h"
#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/sft_data.h"
#include "server/http_connection.h"
#include "server/openai_api.h"
#include "testlib/test_support.h"

using namespace r1;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path source_dir() {
  return R1WB_SOURCE_DIR;
}

fs::path bad_inputs() {
  return source_dir() / "tests" / "bad_inputs";
}

fs::path tiny_model() {
  return source_dir() / "resources" / "models" / "r1-tiny";
}

// The r1::Error message `run` throws, or nullopt when it throws none.
std::optional<std::string> error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

QString missing_fragment(const std::string& message, const QStringList& fragments) {
  for (const QString& f : fragments)
    if (message.find(f.toStdString()) == std::string::npos)
      return QString("message \"%1\" lacks \"%2\"").arg(QString::fromStdString(message), f);
  return {};
}

#define EXPECT_FRAGMENTS(message, fragments)                         \
  do {                                                               \
    const QString r1_missing = missing_fragment(message, fragments); \
    QVERIFY2(r1_missing.isEmpty(), qPrintable(r1_missing));          \
  } while (0)

// A safetensors image: u64 header length, the header, then `data_bytes` bytes.
std::string safetensors_image(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return out + header + std::string(data_bytes, '\x11');
}

// Reads one request from `raw` through the server's HTTP parser.
server::ReadResult read_raw_request(const std::string& raw, server::HttpRequest& request) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw Error("socketpair failed");
  size_t done = 0;
  while (done < raw.size()) {
    const ssize_t n = send(fds[1], raw.data() + done, raw.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += size_t(n);
  }
  close(fds[1]);
  server::HttpConnection connection(fds[0], server::HttpLimits{});
  const server::ReadResult result = connection.read_request(request);
  close(fds[0]);
  return result;
}

QString expand(QString text, const test::TempDir& dir) {
  return text.replace("{dir}", QString::fromStdString(dir.path().string()))
      .replace("{bad}", QString::fromStdString(bad_inputs().string()))
      .replace("{tiny}", QString::fromStdString(tiny_model().string()));
}

}  // namespace

class TestBadInputs : public QObject {
  Q_OBJECT

 private slots:
  void catalogue_data();
  void catalogue();
  void safetensors_data();
  void safetensors();
  void truncated_fixture_weights();
  void cli_data();
  void cli();
};

void TestBadInputs::catalogue_data() {
  QTest::addColumn<QString>("kind");
  QTest::addColumn<QString>("file");
  QTest::addColumn<QStringList>("expect");
  const json catalogue = json::parse(read_text_file(bad_inputs() / "catalogue.json"));
  QVERIFY(catalogue["cases"].size() >= 40);
  for (const json& c : catalogue["cases"]) {
    QStringList expect;
    for (const json& e : c["expect"]) expect << QString::fromStdString(e.get<std::string>());
    const std::string file = c["file"];
    QTest::newRow(file.c_str()) << QString::fromStdString(c["kind"].get<std::string>())
                                << QString::fromStdString(file) << expect;
  }
}

void TestBadInputs::catalogue() {
  QFETCH(QString, kind);
  QFETCH(QString, file);
  QFETCH(QStringList, expect);
  const fs::path path = bad_inputs() / file.toStdString();
  QVERIFY2(fs::exists(path), path.c_str());

  if (kind == "http" || kind == "openai") {
    const int status = expect.takeFirst().toInt();
    if (kind == "http") {
      server::HttpRequest request;
      const server::ReadResult r = read_raw_request(read_text_file(path), request);
      QCOMPARE(int(r.kind), int(server::ReadResult::Kind::Failed));
      QCOMPARE(r.status, status);
      EXPECT_FRAGMENTS(r.message, expect);
      return;
    }
    const QString param = expect.takeFirst();
    try {
      (void)server::parse_request(server::ApiKind::Chat, read_text_file(path));
      QFAIL("the request was accepted");
    } catch (const server::ApiError& e) {
      QCOMPARE(e.status, status);
      if (!param.isEmpty()) QCOMPARE(QString::fromStdString(e.param), param);
      EXPECT_FRAGMENTS(std::string(e.what()), expect);
    }
    return;
  }

  test::TempDir dir;
  fs::path named = path;  // the file the error has to name
  std::function<void()> load;
  if (kind == "config") {
    named = dir / "config.json";
    fs::copy_file(path, named);
    load = [&] { (void)load_model(dir.path()); };
  } else if (kind == "tokenizer_config") {
    named = dir / "tokenizer_config.json";
    fs::copy_file(path, named);
    load = [&] {
      const auto tokenizer = Tokenizer::load(tiny_model());
      (void)SftFormat::from_model_dir(dir.path(), *tokenizer);
    };
  } else if (kind == "tokenizer") {
    load = [&] { (void)Tokenizer::load(path); };
  } else if (kind == "sft") {
    load = [&] { (void)read_sft_jsonl(path); };
  } else if (kind == "problems") {
    load = [&] { (void)read_problems_jsonl(path); };
  } else {
    QFAIL(qPrintable("unknown kind " + kind));
  }
  const std::optional<std::string> message = error_of(load);
  QVERIFY2(message, "the input was accepted");
  expect << QString::fromStdString(named.string());
  EXPECT_FRAGMENTS(*message, expect);
}

// A valid image has tensors 'a' (F32 [2, 3], bytes 0..24) and 'b' (F32 [2], bytes 24..32); each row changes
// one thing.
void TestBadInputs::safetensors_data() {
  QTest::addColumn<QByteArray>("image");
  QTest::addColumn<QStringList>("expect");
  const auto image = [](const std::string& header, size_t bytes = 32) {
    return QByteArray::fromStdString(safetensors_image(header, bytes));
  };
  const std::string b = R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]})";
  QTest::newRow("too short") << QByteArray("abc") << QStringList{"too short to be a safetensors file"};
  QTest::newRow("header past the end") << QByteArray("\xE8\0\0\0\0\0\0\0", 8).append(QByteArray(20, ' '))
                                       << QStringList{"header length 232 runs past the end", "truncated"};
  QTest::newRow("header not JSON") << image(R"({"a": {"dtype": "F32",)") << QStringList{"not valid JSON"};
  QTest::newRow("header not an object") << image("[1, 2]") << QStringList{"header is not a JSON object"};
  QTest::newRow("unknown dtype")
      << image(R"({"a": {"dtype": "F7", "shape": [2, 3], "data_offsets": [0, 24]}, )" + b + "}")
      << QStringList{"tensor 'a'", "unknown dtype \"F7\""};
  QTest::newRow("shape missing") << image(R"({"a": {"dtype": "F32", "data_offsets": [0, 24]}, )" + b + "}")
                                 << QStringList{"tensor 'a'", "missing \"shape\""};
  QTest::newRow("negative dimension")
      << image(R"({"a": {"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}, )" + b + "}")
      << QStringList{"tensor 'a'", "not a count"};
  QTest::newRow("offsets past the end")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, )" + b + "}", 28)
      << QStringList{"tensor 'b'", "run past the end of the data"};
  QTest::newRow("span does not match the shape")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 24]}, )" + b + "}")
      << QStringList{"tensor 'a'", "needs 16"};
  QTest::newRow("offsets reversed")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [24, 0]}, )" + b + "}")
      << QStringList{"tensor 'a'", "end before they begin"};
  QTest::newRow("overlapping tensors")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, )"
               R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [20, 28]}})",
               28)
      << QStringList{"tensor 'b'", "overlaps tensor 'a'"};
  QTest::newRow("hole between tensors")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, )" + b + "}")
      << QStringList{"unused bytes before tensor 'b'"};
  QTest::newRow("bytes after the last tensor")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, )" + b + "}", 40)
      << QStringList{"8 bytes after the last tensor"};
  QTest::newRow("metadata value not a string")
      << image(
             R"({"__metadata__": {"n": 3}, "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, )" +
             b + "}")
      << QStringList{"metadata value \"n\""};
  QTest::newRow("offsets not a pair")
      << image(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0]}, )" + b + "}")
      << QStringList{"tensor 'a'", "data_offsets"};
}

void TestBadInputs::safetensors() {
  QFETCH(QByteArray, image);
  QFETCH(QStringList, expect);
  test::TempDir dir;
  const fs::path path = dir / "model.safetensors";
  test::write_bytes(path, image.toStdString());
  const std::optional<std::string> message = error_of([&] { SafetensorsFile file(path); });
  QVERIFY2(message, "the image was accepted");
  expect << QString::fromStdString(path.string());
  EXPECT_FRAGMENTS(*message, expect);
}

// A real model folder whose weights file lost its end (an interrupted download) fails in the model loader,
// naming the file.
void TestBadInputs::truncated_fixture_weights() {
  test::TempDir dir;
  const fs::path model = dir / "model";
  test::copy_dir(test::fixtures() / "models" / "qwen2-tied", model);
  const fs::path weights = model / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 100);
  const std::optional<std::string> message = error_of([&] { (void)load_model(model); });
  QVERIFY2(message, "the truncated weights were accepted");
  EXPECT_FRAGMENTS(*message, (QStringList{QString::fromStdString(weights.string()), "truncated"}));
}

// Columns: the r1wb arguments ({dir}: a temporary folder, {bad}: tests/bad_inputs, {tiny}: the built-in
// model), a file to place as {dir}/model/config.json first (empty: none), and the fragments stderr must hold.
void TestBadInputs::cli_data() {
  QTest::addColumn<QStringList>("args");
  QTest::addColumn<QString>("config");
  QTest::addColumn<QStringList>("expect");
  QTest::newRow("info, unknown architecture")
      << QStringList{"info", "--model", "{dir}/model"} << "config/unknown_architecture.json"
      << QStringList{"{dir}/model/config.json", "\"GPT2LMHeadModel\" is not supported"};
  QTest::newRow("info, config not JSON")
      << QStringList{"info", "--model", "{dir}/model"} << "config/not_json.json"
      << QStringList{"{dir}/model/config.json", "not valid JSON"};
  QTest::newRow("info, no config") << QStringList{"info", "--model", "{dir}/nothing"} << ""
                                   << QStringList{"{dir}/nothing", "not a model folder"};
  QTest::newRow("tokenize, WordPiece tokenizer")
      << QStringList{"tokenize", "--tokenizer", "{bad}/tokenizer/wordpiece_model.json", "--text", "hi"} << ""
      << QStringList{"{bad}/tokenizer/wordpiece_model.json", "field \"model.type\""};
  QTest::newRow("tokenize, regex that does not compile")
      << QStringList{"tokenize", "--tokenizer", "{bad}/tokenizer/bad_regex.json", "--text", "hi"} << ""
      << QStringList{"{bad}/tokenizer/bad_regex.json", "pre_tokenizer.pretokenizers[0].pattern"};
  QTest::newRow("train sft, invalid line")
      << QStringList{"train",   "sft", "--model", "{tiny}",    "--data", "{bad}/sft/invalid_json_line3.jsonl",
                     "--steps", "1",   "--out",   "{dir}/out", "--quiet"}
      << "" << QStringList{"{bad}/sft/invalid_json_line3.jsonl", "line 3", "not valid JSON"};
  QTest::newRow("train sft, unknown role")
      << QStringList{"train",   "sft", "--model", "{tiny}",    "--data", "{bad}/sft/unknown_role.jsonl",
                     "--steps", "1",   "--out",   "{dir}/out", "--quiet"}
      << "" << QStringList{"{bad}/sft/unknown_role.jsonl", "line 1", "messages[0].role"};
  QTest::newRow("train grpo, answer missing")
      << QStringList{"train",    "grpo",   "--model",
                     "{tiny}",   "--data", "{bad}/problems/missing_answer.jsonl",
                     "--steps",  "1",      "--out",
                     "{dir}/out"}
      << "" << QStringList{"{bad}/problems/missing_answer.jsonl", "line 2", "field \"answer\""};
  QTest::newRow("eval, not an object")
      << QStringList{"eval",   "--model",   "{tiny}",
                     "--task", "countdown", "--n",
                     "1",      "--data",    "{bad}/problems/not_object.jsonl"}
      << "" << QStringList{"{bad}/problems/not_object.jsonl", "line 3", "expected an object"};
  QTest::newRow("eval, data missing")
      << QStringList{"eval", "--model", "{tiny}", "--n", "1", "--data", "{dir}/absent.jsonl"} << ""
      << QStringList{"{dir}/absent.jsonl", "cannot open"};
}

void TestBadInputs::cli() {
  QFETCH(QStringList, args);
  QFETCH(QString, config);
  QFETCH(QStringList, expect);
  test::TempDir dir;
  if (!config.isEmpty()) {
    fs::create_directories(dir / "model");
    fs::copy_file(bad_inputs() / config.toStdString(), dir / "model" / "config.json");
  }
  std::vector<std::string> argv;
  for (const QString& a : args) argv.push_back(expand(a, dir).toStdString());
  const test::ProcessResult r = test::run_program("r1wb", argv);
  QVERIFY2(!r.crashed, qPrintable(QString::fromStdString("ended by a signal or timed out: " + r.err)));
  QVERIFY2(r.exit_code != 0, qPrintable(QString::fromStdString("exit code 0; stderr: " + r.err)));
  QStringList fragments;
  for (const QString& e : expect) fragments << expand(e, dir);
  EXPECT_FRAGMENTS(r.err, fragments);
}

QTEST_APPLESS_MAIN(TestBadInputs)
#include "tst_bad_inputs.moc"
