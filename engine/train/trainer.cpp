#include "trainer.h"

#include <cstring>

#include "engine/core/error.h"
#include "kernels/common/half.h"

namespace r1 {

std::unique_ptr<Trainer> make_cpu_trainer(const Model& model, const TrainerOptions& options);
#ifdef R1WB_HAVE_CUDA
std::unique_ptr<Trainer> make_cuda_trainer(const Model& model, const TrainerOptions& options);
#endif

double CrossEntropyObjective::chunk(int64_t row0, int64_t n, const float* logp, const float* entropy,
                                    float* g_logp, float*) {
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float w = weights_[row0 + i];
    if (w == 0.0f) continue;
    loss -= double(w) * logp[i] / norm_;
    g_logp[i] = float(-double(w) / norm_);
    if (entropy) entropy_sum_ += double(w) * entropy[i];
  }
  return loss;
}

const char* train_device_name(TrainDevice d) {
  return d == TrainDevice::Cuda ? "cuda" : "cpu";
}

TrainDevice parse_train_device(const std::string& s) {
  if (s == "cpu") return TrainDevice::Cpu;
  if (s == "cuda") return TrainDevice::Cuda;
  fail("unknown device '", s, "' (expected cpu or cuda)");
}

void widen_tensor(float* dst, const TensorView& t) {
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(dst, t.data, size_t(n) * 4);
      return;
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(t.data);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(t.data);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    default:
      fail("cannot train on ", dtype_name(t.dtype), " weights (expected F32, F16 or BF16)");
  }
}

std::unique_ptr<Trainer> make_trainer(const Model& model, const TrainerOptions& options) {
  if (options.device == TrainDevice::Cpu) return make_cpu_trainer(model, options);
#ifdef R1WB_HAVE_CUDA
  return make_cuda_trainer(model, options);
#else
  fail("this build has no CUDA support; train with --device cpu");
#endif
}

std::shared_ptr<const Model> trained_model(const Model& base, const ParamLayout& layout,
                                           const std::vector<float>& params) {
  if (int64_t(params.size()) != layout.total)
    fail("parameter block has ", params.size(), " values, the model needs ", layout.total);
  auto store = std::make_shared<MemoryStore>();
  for (const ParamTensor& t : layout.tensors) {
    void* p = store->add(t.name, DType::F32, t.shape);
    std::memcpy(p, params.data() + t.offset, size_t(t.numel()) * 4);
  }
  // Tensors training leaves alone (a V3 router's correction bias, say) keep the base model's values.
  for (const std::string& name : base.store->names()) {
    if (layout.find(name)) continue;
    const TensorView t = base.store->find(name);
    if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16) continue;
    void* p = store->add(name, DType::F32, t.shape);
    widen_tensor(static_cast<float*>(p), t);
  }
  auto m = std::make_shared<Model>();
  m->config = base.config;
  m->dir = base.dir;
  m->name = base.name;
  m->stop_ids = base.stop_ids;
  m->weights = bind_weights(m->config, *store);
  if (m->config.is_deepseek()) m->deepseek_layers = bind_deepseek_layers(m->config, *store, DType::F32);
  m->store = std::move(store);
  return m;
}

}  // namespace r1
