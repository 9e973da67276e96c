#include "safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace r1 {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, uint64_t buffer_size,
                             std::string_view origin) {
  const auto where = [&] { return cat(origin, ": tensor '", name, "'"); };
  if (!j.is_object()) fail(where(), ": header entry is not an object");
  SafetensorsEntry e;
  e.name = name;
  const auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) fail(where(), ": missing \"dtype\"");
  const auto parsed = parse_dtype(dt->get<std::string>());
  if (!parsed) fail(where(), ": unknown dtype \"", dt->get<std::string>(), "\"");
  e.dtype = *parsed;
  const auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) fail(where(), ": missing \"shape\" list");
  uint64_t count = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned())
      fail(where(), ": shape ", sh->dump(), " has a dimension that is not a count");
    const uint64_t v = d.get<uint64_t>();
    if (v != 0 && count > std::numeric_limits<uint64_t>::max() / 16 / v)
      fail(where(), ": shape ", sh->dump(), " is too large");
    count *= v;
    e.shape.push_back(int64_t(v));
  }
  const auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail(where(), ": \"data_offsets\" must be two non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end) fail(where(), ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
  if (e.end > buffer_size)
    fail(where(), ": data_offsets [", e.begin, ", ", e.end, "] run past the end of the data (", buffer_size,
         " bytes); the file may be truncated");
  const uint64_t expected = count * dtype_size(e.dtype);
  if (e.end - e.begin != expected)
    fail(where(), ": data_offsets span ", e.end - e.begin, " bytes but shape ", shape_str(e.shape), " of ",
         dtype_name(e.dtype), " needs ", expected);
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors(const unsigned char* data, size_t size, std::string_view origin) {
  if (size < 8) fail(origin, ": too short to be a safetensors file (", size, " bytes)");
  const uint64_t n = read_u64_le(data);
  if (n > size - 8)
    fail(origin, ": header length ", n, " runs past the end of the file (", size,
         " bytes); the file may be truncated");
  if (n > kMaxHeaderBytes)
    fail(origin, ": header length ", n, " is larger than the ", kMaxHeaderBytes, "-byte limit");
  if (n < 2) fail(origin, ": header is empty");
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& ex) {
    fail(origin, ": header is not valid JSON: ", ex.what());
  }
  if (!header.is_object()) fail(origin, ": header is not a JSON object");
  SafetensorsHeader out;
  out.buffer_offset = 8 + n;
  const uint64_t buffer_size = size - out.buffer_offset;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(origin, ": \"__metadata__\" is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(origin, ": metadata value \"", mk, "\" is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    out.entries.push_back(parse_entry(key, value, buffer_size, origin));
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto& e : out.entries) {
    if (e.begin < cursor)
      fail(origin, ": tensor '", e.name, "' (bytes ", e.begin, "..", e.end, ") overlaps tensor '", prev->name,
           "' (bytes ", prev->begin, "..", prev->end, ")");
    if (e.begin > cursor)
      fail(origin, ": ", e.begin - cursor, " unused bytes before tensor '", e.name,
           "' (the format allows no holes)");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != buffer_size)
    fail(origin, ": ", buffer_size - cursor, " bytes after the last tensor are not described by the header");
  return out;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(path), header_(parse_safetensors(file_.data(), file_.size(), path.string())) {
  for (size_t i = 0; i < header_.entries.size(); ++i) index_.emplace(header_.entries[i].name, i);
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.entries[it->second];
}

TensorView SafetensorsFile::view(const SafetensorsEntry& e) const {
  return TensorView{file_.data() + header_.buffer_offset + e.begin, e.dtype, e.shape};
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (header.contains(t.name)) fail(path.string(), ": tensor '", t.name, "' given twice");
    const uint64_t bytes = t.tensor.nbytes();
    header[t.name] = {{"dtype", std::string(dtype_name(t.tensor.dtype))},
                      {"shape", t.tensor.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomic(path, [&](std::FILE* f) {
    unsigned char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    for (const auto& t : tensors)
      ok = ok && (t.tensor.nbytes() == 0 ||
                  std::fwrite(t.tensor.data, 1, t.tensor.nbytes(), f) == t.tensor.nbytes());
    if (!ok) fail(path.string(), ": short write (disk full?)");
  });
}

}  // namespace r1
