// The r1wb command line: its fixed interfaces, and one clear stderr line and a non-zero exit (never a
// signal) for every error.
#include <nlohmann/json.hpp>

#include "engine/core/files.h"
#include "engine/grpo/tasks.h"
#include "engine/io/npy.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

std::string model_dir(const char* name = "qwen2-tied") {
  return (test::fixtures() / "models" / name).string();
}

std::string join_ids(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

void expect_clean_failure(const test::ProcessResult& r, const char* fragment) {
  QVERIFY2(!r.crashed, "r1wb was killed by a signal");
  QVERIFY2(r.exit_code != 0, "r1wb exited 0 on bad input");
  QVERIFY2(r.err.rfind("r1wb: error: ", 0) == 0, qPrintable(QString::fromStdString(r.err)));
  QVERIFY2(r.err.find(fragment) != std::string::npos, qPrintable(QString::fromStdString(r.err)));
  QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), 1l);
}

}  // namespace

class TestCli : public QObject {
  Q_OBJECT

 private slots:
  void help_lists_every_task_preset() {
    const auto r = test::run_program("r1wb", {"--help"});
    QCOMPARE(r.exit_code, 0);
    std::string names;
    for (const std::string& d : difficulty_names()) names += (names.empty() ? "" : "|") + d;
    QVERIFY2(r.out.find("(D: " + names + ")") != std::string::npos,
             qPrintable(QString::fromStdString(r.out)));
  }

  void info_reports_the_model() {
    const auto r = test::run_program("r1wb", {"info", "--model", model_dir("qwen3-qknorm"), "--json"});
    QCOMPARE(r.exit_code, 0);
    const auto j = nlohmann::json::parse(r.out);
    QCOMPARE(j["architecture"].get<std::string>(), std::string("Qwen3ForCausalLM"));
    QCOMPARE(j["layers"].get<int>(), 3);
    QCOMPARE(j["kv_heads"].get<int>(), 2);
    QVERIFY(j["qk_norm"].get<bool>());
    // 2 (K and V) x 2 kv heads x 32 head_dim x 4 bytes x 3 layers
    QCOMPARE(j["kv_cache_bytes_per_token"].get<int64_t>(), int64_t(2 * 2 * 32 * 4 * 3));
    QVERIFY(j["parameters"].get<int64_t>() > 0);
    const auto human = test::run_program("r1wb", {"info", "--model", model_dir()});
    QCOMPARE(human.exit_code, 0);
    QVERIFY(human.out.find("Qwen2ForCausalLM") != std::string::npos);
  }

  // The decode bench samples as chat does when asked, with the runtime sized as chat sizes it, and says so.
  void bench_decode_samples_and_sizes_the_context() {
    const auto r = test::run_program("r1wb", {"bench",
                                              "decode",
                                              "--model",
                                              model_dir(),
                                              "--device",
                                              "cpu",
                                              "--batch",
                                              "1,2",
                                              "--new-tokens",
                                              "5",
                                              "--prompt-tokens",
                                              "3",
                                              "--prefill-tokens",
                                              "8",
                                              "--context",
                                              "40",
                                              "--temperature",
                                              "0.6",
                                              "--top-p",
                                              "0.9"});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const auto j = nlohmann::json::parse(r.out);
    QCOMPARE(j["decode_context"].get<int64_t>(), int64_t(40));
    QCOMPARE(j["sampling"]["temperature"].get<double>(), double(0.6f));
    QCOMPARE(j["sampling"]["top_p"].get<double>(), double(0.9f));
    QCOMPARE(j["decode"].size(), size_t(2));
    for (const auto& d : j["decode"]) QVERIFY(d["tokens_per_s"].get<double>() > 0);
    const auto greedy =
        test::run_program("r1wb", {"bench", "decode", "--model", model_dir(), "--device", "cpu",
                                   "--new-tokens", "4", "--prompt-tokens", "2", "--prefill-tokens", "4"});
    QVERIFY2(greedy.exit_code == 0, greedy.err.c_str());
    const auto g = nlohmann::json::parse(greedy.out);
    QCOMPARE(g["sampling"].get<std::string>(), std::string("greedy"));
    QCOMPARE(g["decode_context"].get<int64_t>(), int64_t(2 + 4 + 1));
    // The CPU runtime gains nothing from chained steps: one step a call, as its generation runs, unless
    // asked.
    QCOMPARE(g["decode"][0]["steps_per_call"].get<int>(), 1);
    const auto chained = test::run_program(
        "r1wb", {"bench", "decode", "--model", model_dir(), "--device", "cpu", "--new-tokens", "7",
                 "--prompt-tokens", "2", "--prefill-tokens", "4", "--steps-per-call", "2"});
    QVERIFY2(chained.exit_code == 0, chained.err.c_str());
    QCOMPARE(nlohmann::json::parse(chained.out)["decode"][0]["steps_per_call"].get<int>(), 2);
  }

  void logits_writes_npy_matching_transformers() {
    test::TempDir tmp;
    const auto dir = test::fixtures() / "models" / "llama-llama3rope";
    const auto prompt = read_npy(dir / "prompt.npy").to_i64();
    const std::vector<int32_t> ids(prompt.begin(), prompt.end());
    const auto out = (tmp / "l.npy").string();
    const auto r =
        test::run_program("r1wb", {"logits", "--model", dir.string(), "--ids", join_ids(ids), "--out", out});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const auto ours = read_npy(out), ref = read_npy(dir / "logits.npy");
    QCOMPARE(ours.shape, ref.shape);
    for (int64_t i = 0; i < numel(ref.shape); ++i) QVERIFY(std::abs(ours.f32()[i] - ref.f32()[i]) <= 1e-3f);
  }

  void generate_greedy_prints_the_reference_ids() {
    const auto dir = test::fixtures() / "models" / "qwen2-untied-bf16-sharded";
    const auto exp = nlohmann::json::parse(read_text_file(dir / "expected.json"));
    const auto r =
        test::run_program("r1wb", {"generate", "--model", dir.string(), "--ids",
                                   join_ids(exp["prompt"].get<std::vector<int32_t>>()), "--max-new-tokens",
                                   "32", "--greedy", "--print-ids", "--no-stop"});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    QCOMPARE(r.out, join_ids(exp["greedy"].get<std::vector<int32_t>>()) + "\n");
  }

  void generate_with_seed_is_reproducible() {
    const std::vector<std::string> args = {"generate", "--model",          model_dir(), "--ids",
                                           "5,6,7",    "--max-new-tokens", "16",        "--temperature",
                                           "1.0",      "--top-p",          "0.9",       "--seed",
                                           "7",        "--print-ids",      "--no-stop"};
    const auto a = test::run_program("r1wb", args), b = test::run_program("r1wb", args);
    QCOMPARE(a.exit_code, 0);
    QCOMPARE(a.out, b.out);
  }

  // A prompt longer than the context is refused, or with --truncate-prompt cut to its last tokens.
  void generate_refuses_or_truncates_an_overlong_prompt() {
    std::string ids;
    for (int i = 0; i < 40; ++i) ids += (i ? "," : "") + std::to_string(5 + i);
    const std::vector<std::string> base = {
        "generate",    "--model",   model_dir(),        "--ids", ids, "--context", "24", "--greedy",
        "--print-ids", "--no-stop", "--max-new-tokens", "8"};
    expect_clean_failure(test::run_program("r1wb", base),
                         "the prompt takes 40 tokens and the context holds 24");
    std::vector<std::string> cut = base;
    cut.push_back("--truncate-prompt");
    const auto r = test::run_program("r1wb", cut);
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    QVERIFY2(r.err.find("truncated from 40 to its last 16 tokens") != std::string::npos, r.err.c_str());
    QCOMPARE(std::count(r.out.begin(), r.out.end(), ','), 7l);  // 8 new tokens fill the context exactly

    // The same as giving only the last 16 ids.
    std::string tail;
    for (int i = 24; i < 40; ++i) tail += (i > 24 ? "," : "") + std::to_string(5 + i);
    std::vector<std::string> same = base;
    same[4] = tail;
    QCOMPARE(test::run_program("r1wb", same).out, r.out);
  }

  void errors_are_one_line_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("fragment");
    const QString m = QString::fromStdString(model_dir());
    QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command";
    QTest::newRow("missing folder") << QStringList{"info", "--model", "/no/such/model"} << "/no/such/model";
    QTest::newRow("missing option") << QStringList{"info"} << "--model is required";
    QTest::newRow("unknown option") << QStringList{"info", "--model", m, "--colour"}
                                    << "unknown option --colour";
    QTest::newRow("bad id") << QStringList{"logits", "--model", m, "--ids", "1,x", "--out", "/tmp/x.npy"}
                            << "\"x\" is not an integer";
    QTest::newRow("id out of range") << QStringList{"generate", "--model", m, "--ids", "1,99999"}
                                     << "out of range";
    QTest::newRow("bad device") << QStringList{"generate", "--model", m, "--ids", "1", "--device", "tpu"}
                                << "unknown device";
    QTest::newRow("greedy and temperature")
        << QStringList{"generate", "--model", m, "--ids", "1", "--greedy", "--temperature", "2"}
        << "--greedy cannot";
    QTest::newRow("unknown shape") << QStringList{"bench", "decode", "--shape", "gpt-5"} << "known shapes";
    QTest::newRow("bench context too short")
        << QStringList{"bench", "decode",          "--model", m,           "--new-tokens",
                       "4",     "--prompt-tokens", "4",       "--context", "8"}
        << "--context 8 is shorter than --prompt-tokens + --new-tokens + 1 (9)";
    QTest::newRow("bench steps per call")
        << QStringList{"bench", "decode", "--model", m, "--new-tokens", "7", "--steps-per-call", "3"}
        << "at most (--new-tokens - 1) / 3";
    QTest::newRow("bench bad top-p") << QStringList{"bench",        "decode", "--model",       m,
                                                    "--new-tokens", "4",      "--temperature", "0.6",
                                                    "--top-p",      "1.5"}
                                     << "top_p";
    QTest::newRow("no GPUs") << QStringList{"train",  "grpo",      "--model", m,
                                            "--task", "countdown", "--gpus",  "0"}
                             << "at least 1";
    QTest::newRow("prompts over GPUs")
        << QStringList{"train", "grpo",   "--model", m, "--task", "countdown", "--prompts-per-step",
                       "3",     "--gpus", "2"}
        << "prompts per step (3) must split evenly over the 2 GPUs";
    QTest::newRow("unwritable out") << QStringList{"logits", "--model",      m, "--ids", "1",
                                                   "--out",  "/no/dir/x.npy"}
                                    << "/no/dir/x.npy";
  }
  void errors_are_one_line() {
    QFETCH(QStringList, args);
    QFETCH(QString, fragment);
    std::vector<std::string> a;
    for (const auto& s : args) a.push_back(s.toStdString());
    const auto r = test::run_program("r1wb", a);
    if (args.first() == "frobnicate") {
      QVERIFY(!r.crashed && r.exit_code == 2 && r.err.find("unknown command") != std::string::npos);
      return;
    }
    expect_clean_failure(r, fragment.toStdString().c_str());
  }

  void convert_writes_a_loadable_folder() {
    test::TempDir tmp;
    const auto src = test::fixtures() / "models" / "qwen2-untied-bf16-sharded";
    const auto f32 = (tmp / "f32").string(), bf16 = (tmp / "bf16").string();
    QCOMPARE(test::run_program("r1wb", {"convert", "--model", src.string(), "--out", f32, "--dtype", "f32"})
                 .exit_code,
             0);
    QCOMPARE(test::run_program("r1wb", {"convert", "--model", f32, "--out", bf16}).exit_code, 0);
    const std::string header = test::read_bytes(tmp / "bf16" / "model.safetensors").substr(0, 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(header[size_t(i)]);
    QCOMPARE((8 + n) % 8, uint64_t(0));
    const auto info =
        nlohmann::json::parse(test::run_program("r1wb", {"info", "--model", f32, "--json"}).out);
    QCOMPARE(info["weight_dtype"].get<std::string>(), std::string("F32"));
    QVERIFY(nlohmann::json::parse(read_text_file(tmp / "bf16" / "config.json"))["dtype"] == "bfloat16");
    // bf16 -> f32 -> bf16 is lossless: the round trip reproduces the reference greedy ids exactly.
    const auto exp = nlohmann::json::parse(read_text_file(src / "expected.json"));
    for (const auto& dir : {f32, bf16}) {
      const auto r = test::run_program(
          "r1wb", {"generate", "--model", dir, "--ids", join_ids(exp["prompt"].get<std::vector<int32_t>>()),
                   "--max-new-tokens", "32", "--greedy", "--print-ids", "--no-stop"});
      QCOMPARE(r.out, join_ids(exp["greedy"].get<std::vector<int32_t>>()) + "\n");
    }
    expect_clean_failure(test::run_program("r1wb", {"convert", "--model", src.string(), "--out", f32}),
                         "already exists");
    QVERIFY(std::filesystem::exists(tmp / "f32" / "model.safetensors"));  // the existing folder is untouched
  }

  void corrupt_model_fails_cleanly() {
    test::TempDir tmp;
    test::copy_dir(test::fixtures() / "models" / "qwen2-tied", tmp.path());
    std::string bytes = test::read_bytes(tmp / "model.safetensors");
    bytes[3] = '\x7f';  // header length now far past the end
    test::write_bytes(tmp / "model.safetensors", bytes);
    expect_clean_failure(test::run_program("r1wb", {"info", "--model", tmp.path().string()}),
                         "header length");
    test::write_bytes(tmp / "config.json", "{\"architectures\": [\"GPT2LMHeadModel\"]}");
    expect_clean_failure(test::run_program("r1wb", {"info", "--model", tmp.path().string()}),
                         "GPT2LMHeadModel");
  }
};

QTEST_APPLESS_MAIN(TestCli)
#include "tst_cli.moc"
