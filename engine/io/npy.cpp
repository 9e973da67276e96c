#include "npy.h"

#include <cstring>
#include <regex>

#include "engine/core/error.h"
#include "engine/core/files.h"

namespace r1 {
namespace {

const char* descr(DType t) {
  switch (t) {
    case DType::F32:
      return "<f4";
    case DType::F64:
      return "<f8";
    case DType::I32:
      return "<i4";
    case DType::I64:
      return "<i8";
    case DType::F16:
      return "<f2";
    default:
      return nullptr;
  }
}

}  // namespace

void write_npy(const std::filesystem::path& path, const TensorView& t) {
  const char* d = descr(t.dtype);
  if (!d) fail(path.string(), ": .npy cannot hold ", dtype_name(t.dtype));
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i)
    shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : (i + 1 < t.shape.size() ? ", " : ""));
  shape += ")";
  std::string header = cat("{'descr': '", d, "', 'fortran_order': False, 'shape': ", shape, ", }");
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  write_file_atomic(path, [&](std::FILE* f) {
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t len = uint16_t(header.size());
    const unsigned char len_le[2] = {uint8_t(len & 0xff), uint8_t(len >> 8)};
    bool ok = std::fwrite(magic, 1, 8, f) == 8 && std::fwrite(len_le, 1, 2, f) == 2 &&
              std::fwrite(header.data(), 1, header.size(), f) == header.size();
    ok = ok && (t.nbytes() == 0 || std::fwrite(t.data, 1, t.nbytes(), f) == t.nbytes());
    if (!ok) fail(path.string(), ": short write");
  });
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string data = read_text_file(path);
  if (data.size() < 10 || std::memcmp(data.data(), "\x93NUMPY", 6) != 0)
    fail(path.string(), ": not a .npy file");
  const int major = data[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = uint8_t(data[8]) | (size_t(uint8_t(data[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12) fail(path.string(), ": truncated .npy header");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | uint8_t(data[size_t(8 + i)]);
    offset = 12;
  } else {
    fail(path.string(), ": unsupported .npy version ", major);
  }
  if (offset + header_len > data.size()) fail(path.string(), ": truncated .npy header");
  const std::string header = data.substr(offset, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) fail(path.string(), ": no descr");
  NpyArray a;
  const std::string d = m[1];
  if (d == "<f4")
    a.dtype = DType::F32;
  else if (d == "<i4")
    a.dtype = DType::I32;
  else if (d == "<i8")
    a.dtype = DType::I64;
  else if (d == "<f8")
    a.dtype = DType::F64;
  else
    fail(path.string(), ": unsupported dtype ", d);
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    fail(path.string(), ": Fortran order");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    fail(path.string(), ": no shape");
  const std::string dims = m[1];
  const std::regex number("[0-9]+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    a.shape.push_back(std::stoll(it->str()));
  const size_t bytes = size_t(numel(a.shape)) * dtype_size(a.dtype);
  if (data.size() - offset - header_len != bytes)
    fail(path.string(), ": holds ", data.size() - offset - header_len, " data bytes, shape ",
         shape_str(a.shape), " needs ", bytes);
  a.bytes.assign(data.begin() + std::ptrdiff_t(offset + header_len), data.end());
  return a;
}

std::vector<int64_t> NpyArray::to_i64() const {
  std::vector<int64_t> out(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < out.size(); ++i) {
    if (dtype == DType::I64) {
      std::memcpy(&out[i], bytes.data() + i * 8, 8);
    } else if (dtype == DType::I32) {
      int32_t v;
      std::memcpy(&v, bytes.data() + i * 4, 4);
      out[i] = v;
    } else {
      fail(".npy array is not integer");
    }
  }
  return out;
}

}  // namespace r1
