#include "checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

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

}  // namespace

fs::path save_checkpoint(const fs::path& out, const Model& base, const Trainer& trainer,
                         const nlohmann::json& state) {
  const int64_t step = trainer.steps_taken();
  const fs::path final_dir = out / checkpoint_name(step);
  const fs::path tmp = out / (checkpoint_name(step) + ".partial-" + std::to_string(::getpid()));
  fs::create_directories(out);
  fs::remove_all(tmp);
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
