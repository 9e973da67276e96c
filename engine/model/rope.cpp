#include "rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace r1 {
namespace {

double yarn_mscale(double scale, double m) {
  return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

double yarn_correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

RopeTables rope_frequencies(const ModelConfig& c) {
  const RopeConfig& r = c.rope;
  const int64_t dim = c.rotary_dim();
  const int64_t half = dim / 2;
  RopeTables out;
  out.inv_freq.resize(size_t(half));
  std::vector<double> base_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in fp32
    const float exponent = float(2 * i) / float(dim);
    base_freq[size_t(i)] = 1.0 / double(std::pow(float(r.theta), exponent));
  }
  switch (r.type) {
    case RopeType::Default:
      for (int64_t i = 0; i < half; ++i) out.inv_freq[size_t(i)] = float(base_freq[size_t(i)]);
      break;
    case RopeType::Linear:
      for (int64_t i = 0; i < half; ++i) out.inv_freq[size_t(i)] = float(base_freq[size_t(i)] / r.factor);
      break;
    case RopeType::Llama3: {
      const double old_len = double(r.original_max_position);
      const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
      for (int64_t i = 0; i < half; ++i) {
        const double f = base_freq[size_t(i)];
        const double wavelen = 2 * std::numbers::pi / f;
        double v;
        if (wavelen < high_wavelen) {
          v = f;
        } else if (wavelen > low_wavelen) {
          v = f / r.factor;
        } else {
          const double smooth =
              (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
          v = (1 - smooth) * f / r.factor + smooth * f;
        }
        out.inv_freq[size_t(i)] = float(v);
      }
      break;
    }
    case RopeType::Yarn: {
      // transformers 5: original_max_position_embeddings defaults to max_position_embeddings, and the
      // configured factor drives both the interpolation and the attention factor.
      const double factor = r.factor;
      const double original =
          double(r.original_max_position > 0 ? r.original_max_position : c.max_position_embeddings);
      double af = r.attention_factor;
      if (af <= 0) {
        af = (r.mscale != 0 && r.mscale_all_dim != 0)
                 ? yarn_mscale(factor, r.mscale) / yarn_mscale(factor, r.mscale_all_dim)
                 : yarn_mscale(factor, 1.0);
      }
      out.attention_factor = float(af);
      double low = yarn_correction_dim(r.beta_fast, double(dim), r.theta, original);
      double high = yarn_correction_dim(r.beta_slow, double(dim), r.theta, original);
      if (r.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, double(dim - 1));
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1 - ramp;
        const double f = base_freq[size_t(i)];
        out.inv_freq[size_t(i)] = float(f / factor * (1 - extrapolation) + f * extrapolation);
      }
      break;
    }
  }
  return out;
}

void fill_rope_table(float* cos_sin, const RopeTables& t, int64_t positions) {
  const int64_t half = int64_t(t.inv_freq.size());
  for (int64_t p = 0; p < positions; ++p) {
    float* row = cos_sin + p * 2 * half;
    for (int64_t i = 0; i < half; ++i) {
      const float angle = float(p) * t.inv_freq[size_t(i)];  // fp32 product, as transformers does
      row[i] = std::cos(angle) * t.attention_factor;
      row[half + i] = std::sin(angle) * t.attention_factor;
    }
  }
}

}  // namespace r1
