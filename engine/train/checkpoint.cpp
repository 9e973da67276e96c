#include "checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/core/checksum.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/io/model_writer.h"
#include "engine/io/safetensors.h"

namespace r1 {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "checkpoint-%06lld", static_cast<long long>(step));
  return buf;
}

// Size and XXH64 of every file of a checkpoint folder but the state file, which records them.
nlohmann::json file_checksums(const fs::path& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == kStateFile) continue;
    files[name] = {{"bytes", e.file_size()}, {"xxh64", file_xxh64(e.path())}};
  }
  return files;
}

std::string other_checkpoints(const fs::path& ckpt) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(ckpt.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (e.path() != ckpt && name.rfind("checkpoint-", 0) == 0 && name.find(".partial") == std::string::npos)
      names.push_back(name);
  }
  if (names.empty()) return "";
  std::sort(names.rbegin(), names.rend());
  return "; earlier checkpoints beside it: " + names.front() + (names.size() > 1 ? ", ..." : "");
}

// Compares the files of `ckpt` against the sizes and checksums its state recorded when it was saved.
void verify_checksums(const fs::path& ckpt, const nlohmann::json& state) {
  const auto files = state.find("files");
  if (files == state.end()) return;  // saved before checksums were recorded
  const fs::path state_path = ckpt / kStateFile;
  if (!files->is_object()) fail(state_path.string(), ": field 'files' is not an object");
  for (const auto& [name, expect] : files->items()) {
    const fs::path path = ckpt / name;
    const auto bytes = expect.find("bytes");
    const auto sum = expect.find("xxh64");
    if (!expect.is_object() || bytes == expect.end() || !bytes->is_number_unsigned() || sum == expect.end() ||
        !sum->is_string())
      fail(state_path.string(), ": field 'files.", name, "' needs 'bytes' and 'xxh64'");
    if (!fs::exists(path))
      fail(path.string(), ": missing; the checkpoint is damaged", other_checkpoints(ckpt));
    const uint64_t size = fs::file_size(path);
    if (size != bytes->get<uint64_t>())
      fail(path.string(), ": ", size, " bytes where ", bytes->get<uint64_t>(),
           " were saved; the checkpoint is damaged", other_checkpoints(ckpt));
    const std::string actual = file_xxh64(path);
    if (actual != sum->get<std::string>())
      fail(path.string(), ": checksum ", actual, " does not match the saved ", sum->get<std::string>(),
           "; the checkpoint is damaged", other_checkpoints(ckpt));
  }
}

}  // namespace

fs::path save_checkpoint(const fs::path& out, const Model& base, const Trainer& trainer,
                         const nlohmann::json& state) {
  const int64_t step = trainer.steps_taken();
  const fs::path final_dir = out / checkpoint_name(step);
  const fs::path tmp = out / (checkpoint_name(step) + ".partial-" + std::to_string(::getpid()));
  fs::create_directories(out);
  // Folders a killed save left behind; one process writes to a run folder at a time.
  for (const fs::directory_entry& e : fs::directory_iterator(out))
    if (e.path().filename().string().find(".partial-") != std::string::npos) fs::remove_all(e.path());
  const std::vector<float> params = trainer.parameters();
  save_model(*trained_model(base, trainer.layout(), params), tmp, DType::F32);
  try {
    const Trainer::OptimizerState opt = trainer.optimizer_state();
    std::vector<TensorToWrite> tensors;
    for (const ParamTensor& t : trainer.layout().tensors) {
      tensors.push_back({"m." + t.name, TensorView{opt.m.data() + t.offset, DType::F32, t.shape}});
      tensors.push_back({"v." + t.name, TensorView{opt.v.data() + t.offset, DType::F32, t.shape}});
    }
    write_safetensors(tmp / kOptimizerFile, tensors, {{"step", std::to_string(opt.step)}});
    nlohmann::json s = state;
    s["step"] = step;
    s["files"] = file_checksums(tmp);
    write_text_file_atomic(tmp / kStateFile, s.dump(2) + "\n");
    if (fs::exists(final_dir)) fs::remove_all(final_dir);  // a re-run of the same step after a resume
    fs::rename(tmp, final_dir);
    write_text_file_atomic(out / "latest", final_dir.filename().string() + "\n");
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return final_dir;
}

LoadedCheckpoint find_checkpoint(const fs::path& dir) {
  fs::path ckpt = dir;
  if (fs::exists(dir / "latest")) {
    std::string name = read_text_file(dir / "latest");
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' '))
      name.pop_back();
    ckpt = dir / name;
  }
  for (const char* f : {kStateFile, kOptimizerFile, "model.safetensors", "config.json"})
    if (!fs::exists(ckpt / f)) fail(ckpt.string(), ": not a complete checkpoint (", f, " is missing)");
  LoadedCheckpoint out;
  out.dir = ckpt;
  try {
    out.state = nlohmann::json::parse(read_text_file(ckpt / kStateFile));
  } catch (const nlohmann::json::exception& e) {
    fail((ckpt / kStateFile).string(), ": not valid JSON: ", e.what());
  }
  if (!out.state.is_object() || !out.state.contains("step") || !out.state["step"].is_number_integer())
    fail((ckpt / kStateFile).string(), ": field 'step' is missing or not an integer");
  verify_checksums(ckpt, out.state);
  return out;
}

void load_optimizer_state(const fs::path& dir, Trainer& trainer) {
  const fs::path path = dir / kOptimizerFile;
  const SafetensorsFile file(path);
  Trainer::OptimizerState s;
  const int64_t n = trainer.layout().total;
  s.m.assign(size_t(n), 0.0f);
  s.v.assign(size_t(n), 0.0f);
  const auto it = file.metadata().find("step");
  if (it == file.metadata().end()) fail(path.string(), ": metadata field 'step' is missing");
  s.step = std::stoll(it->second);
  for (const ParamTensor& t : trainer.layout().tensors) {
    for (auto [prefix, dst] : {std::pair{"m.", &s.m}, std::pair{"v.", &s.v}}) {
      const SafetensorsEntry* e = file.find(prefix + t.name);
      if (!e) fail(path.string(), ": tensor '", prefix, t.name, "' is missing");
      const TensorView v = file.view(*e);
      if (v.dtype != DType::F32 || v.shape != t.shape)
        fail(path.string(), ": tensor '", prefix, t.name, "' is ", dtype_name(v.dtype), " ",
             shape_str(v.shape), ", expected F32 ", shape_str(t.shape));
      std::memcpy(dst->data() + t.offset, v.data, size_t(t.numel()) * 4);
    }
  }
  trainer.set_optimizer_state(s);
}

}  // namespace r1
