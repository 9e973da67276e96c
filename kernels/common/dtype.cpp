#include "dtype.h"

namespace r1 {

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32, DType::I16,
                  DType::I8, DType::U8, DType::Bool, DType::F8E4M3, DType::F8E5M2}) {
    if (dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

}  // namespace r1
