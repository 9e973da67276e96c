// safetensors reading and writing, and every way a file can be broken: each gets an error naming the file
// and the tensor.
#include <cstring>

#include "engine/core/error.h"
#include "engine/io/safetensors.h"
#include "engine/io/weight_store.h"
#include "engine/model/model.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

std::string image(const std::string& header, size_t data_bytes) {
  return u64le(header.size()) + header + std::string(data_bytes, '\x01');
}

SafetensorsHeader parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                           "t.safetensors");
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

 private slots:
  void round_trip() {
    test::TempDir dir;
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const uint16_t b[3] = {0x3f80, 0x4000, 0xc040};
    const int64_t c[2] = {-7, 1ll << 40};
    write_safetensors(
        dir / "m.safetensors",
        {{"a", {a, DType::F32, {2, 3}}}, {"b", {b, DType::BF16, {3}}}, {"c", {c, DType::I64, {2}}}},
        {{"format", "pt"}});
    const std::string raw = test::read_bytes(dir / "m.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, raw.data(), 8);
    QCOMPARE((8 + n) % 8, uint64_t(0));  // header padded to 8 bytes
    SafetensorsFile f(dir / "m.safetensors");
    QCOMPARE(f.entries().size(), size_t(3));
    QCOMPARE(f.metadata().at("format"), std::string("pt"));
    const auto va = f.view(*f.find("a"));
    QCOMPARE(va.shape, (Shape{2, 3}));
    QCOMPARE(std::memcmp(va.data, a, sizeof a), 0);
    QCOMPARE(std::memcmp(f.view(*f.find("b")).data, b, sizeof b), 0);
    QCOMPARE(std::memcmp(f.view(*f.find("c")).data, c, sizeof c), 0);
    QVERIFY(f.find("missing") == nullptr);
  }

  void accepts_empty_and_scalar_tensors() {
    const auto h = parse(image(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                               R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]}})",
                               4));
    QCOMPARE(h.entries.size(), size_t(2));
  }

  void rejects_bad_headers_data() {
    QTest::addColumn<QString>("bytes");
    QTest::addColumn<QString>("fragment");
    const auto row = [](const char* name, const std::string& bytes, const char* frag) {
      QTest::newRow(name) << QString::fromLatin1(bytes.data(), int(bytes.size())) << frag;
    };
    row("too short", "abc", "too short");
    row("header past end", u64le(1000) + "{}", "runs past the end of the file");
    row("not json", image("{nope", 0), "not valid JSON");
    row("not an object", image("[1,2]", 0), "not a JSON object");
    row("offsets past buffer", image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
        "run past the end of the data");
    row("wrong dtype size", image(R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})", 16),
        "needs 8");
    row("overlap",
        image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              12),
        "overlaps");
    row("hole", image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
        "unused bytes before tensor 'a'");
    row("trailing bytes", image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
        "after the last tensor");
    row("unknown dtype", image(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4),
        "unknown dtype \"Q4\"");
    row("negative dim", image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
        "not a count");
    row("reversed offsets", image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4),
        "end before they begin");
    row("missing offsets", image(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
    row("metadata not strings", image(R"({"__metadata__":{"k":1}})", 0), "metadata value \"k\"");
  }
  void rejects_bad_headers() {
    QFETCH(QString, bytes);
    QFETCH(QString, fragment);
    const QByteArray raw = bytes.toLatin1();
    const std::string frag = fragment.toStdString();
    R1_EXPECT_ERROR(parse(std::string(raw.constData(), size_t(raw.size()))), "t.safetensors", frag.c_str());
  }

  void truncated_fixture_names_the_file() {
    test::TempDir dir;
    test::copy_dir(test::fixtures() / "models" / "qwen2-tied", dir.path());
    const auto file = dir / "model.safetensors";
    std::string bytes = test::read_bytes(file);
    bytes.resize(bytes.size() - 100);
    test::write_bytes(file, bytes);
    R1_EXPECT_ERROR(load_model(dir.path()), "model.safetensors", "truncated");
  }

  void missing_tensor_is_named() {
    test::TempDir dir;
    const float one[4] = {1, 1, 1, 1};
    write_safetensors(dir / "model.safetensors", {{"model.embed_tokens.weight", {one, DType::F32, {2, 2}}}});
    test::write_bytes(
        dir / "config.json",
        R"({"architectures":["LlamaForCausalLM"],"vocab_size":2,"hidden_size":2,"intermediate_size":4,)"
        R"("num_hidden_layers":1,"num_attention_heads":1})");
    R1_EXPECT_ERROR(load_model(dir.path()), "missing tensor 'model.norm.weight'", "expected shape [2]");
  }

  void wrong_shape_is_named() {
    test::TempDir dir;
    test::copy_dir(test::fixtures() / "models" / "qwen2-tied", dir.path());
    auto cfg = test::read_bytes(dir / "config.json");
    cfg.replace(cfg.find("\"intermediate_size\": 160"), 24, "\"intermediate_size\": 128");
    test::write_bytes(dir / "config.json", cfg);
    R1_EXPECT_ERROR(load_model(dir.path()), "model.layers.0.mlp.gate_proj.weight", "has shape [160, 64]",
                    "expected [128, 64]");
  }

  void sharded_index_problems() {
    test::TempDir dir;
    test::copy_dir(test::fixtures() / "models" / "qwen2-untied-bf16-sharded", dir.path());
    QVERIFY(SafetensorsStore(dir.path()).find("lm_head.weight"));
    std::filesystem::remove(dir / "model-00003-of-00009.safetensors");
    R1_EXPECT_ERROR(SafetensorsStore(dir.path()), "model-00003-of-00009.safetensors", "missing");
    test::write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": 3}");
    R1_EXPECT_ERROR(SafetensorsStore(dir.path()), "model.safetensors.index.json", "weight_map");
  }

  void mixed_dtypes_rejected() {
    test::TempDir dir;
    const float f[4] = {1, 1, 1, 1};
    const uint16_t h[2] = {0x3c00, 0x3c00};
    write_safetensors(dir / "model.safetensors", {{"model.embed_tokens.weight", {f, DType::F32, {2, 2}}},
                                                  {"model.norm.weight", {h, DType::F16, {2}}}});
    test::write_bytes(
        dir / "config.json",
        R"({"architectures":["LlamaForCausalLM"],"vocab_size":2,"hidden_size":2,"intermediate_size":4,)"
        R"("num_hidden_layers":1,"num_attention_heads":1})");
    R1_EXPECT_ERROR(load_model(dir.path()), "model.norm.weight", "F16");
  }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
