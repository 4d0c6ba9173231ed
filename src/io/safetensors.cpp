// safetensors: u64 little-endian header length N, N bytes of JSON, then the data section.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section), plus an optional "__metadata__" object of strings.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "io/byte_reader.h"
#include "io/readers.h"

namespace kinema::io {
namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a 14B model's header is ~100 KB.
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  static const std::pair<std::string_view, DType> table[] = {
      {"F64", DType::F64},   {"F32", DType::F32},         {"F16", DType::F16},
      {"BF16", DType::BF16}, {"F8_E4M3", DType::F8_E4M3}, {"F8_E5M2", DType::F8_E5M2},
      {"I64", DType::I64},   {"I32", DType::I32},         {"I16", DType::I16},
      {"I8", DType::I8},     {"U8", DType::U8},           {"BOOL", DType::Bool},
  };
  for (const auto& [text, dtype] : table)
    if (text == s) return dtype;
  return std::nullopt;
}

json parse_json(const std::string& path, std::string_view text, std::string_view what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(path, ": ", what, " is not valid JSON: ", e.what());
  }
}

// A JSON integer >= 0 that fits int64, or nullopt.
std::optional<int64_t> non_negative_int(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return int64_t(u);
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  return std::nullopt;
}

// A short rendering for messages. Never recursive: a hostile header may nest very deeply.
std::string describe(const json& v) {
  auto primitive = [](const json& x) { return !x.is_array() && !x.is_object(); };
  auto dump = [](const json& x) {
    std::string text = x.dump(-1, ' ', false, json::error_handler_t::replace);
    return text.size() > 60 ? text.substr(0, 57) + "..." : text;
  };
  if (primitive(v)) return dump(v);
  if (v.is_array() && v.size() <= 16 && std::all_of(v.begin(), v.end(), primitive)) return dump(v);
  return v.is_array() ? str_cat("a list of ", v.size(), " values")
                      : str_cat("an object of ", v.size(), " keys");
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       uint64_t data_size, uint64_t* begin_out) {
  if (!entry.is_object())
    fail(path, ": tensor '", name, "': expected an object with dtype, shape and data_offsets, got ",
         describe(entry));
  auto field = [&](const char* key) -> const json& {
    auto it = entry.find(key);
    if (it == entry.end()) fail(path, ": tensor '", name, "': the header entry has no '", key, "'");
    return *it;
  };
  const json& dtype_json = field("dtype");
  if (!dtype_json.is_string())
    fail(path, ": tensor '", name, "': dtype must be a string, got ", describe(dtype_json));
  auto dtype = dtype_from_safetensors(dtype_json.get_ref<const std::string&>());
  if (!dtype)
    fail(path, ": tensor '", name, "': unknown dtype ", describe(dtype_json),
         " (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL)");

  const json& shape_json = field("shape");
  if (!shape_json.is_array())
    fail(path, ": tensor '", name, "': shape must be a list of dims, got ", describe(shape_json));
  if (shape_json.size() > size_t(Shape::kMaxRank))
    fail(path, ": tensor '", name, "' has ", shape_json.size(), " dims; at most ", Shape::kMaxRank,
         " are supported");
  std::vector<int64_t> dims;
  for (const json& d : shape_json) {
    auto v = non_negative_int(d);
    if (!v)
      fail(path, ": tensor '", name, "': shape ", describe(shape_json),
           " must hold integers in 0..2^63-1");
    dims.push_back(*v);
  }
  uint64_t nbytes = tensor_bytes(path, name, *dtype, dims);

  const json& offsets = field("data_offsets");
  std::optional<int64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = non_negative_int(offsets[0]);
    end = non_negative_int(offsets[1]);
  }
  if (!begin || !end)
    fail(path, ": tensor '", name, "': data_offsets must be [begin, end] byte offsets, got ",
         describe(offsets));
  if (*begin > *end)
    fail(path, ": tensor '", name, "': data_offsets [", *begin, ", ", *end,
         "] end before they begin");
  if (uint64_t(*end) > data_size)
    fail(path, ": tensor '", name, "': data_offsets [", *begin, ", ", *end,
         "] reach past the data section (", data_size, " bytes; is the file truncated?)");
  if (uint64_t(*end - *begin) != nbytes)
    fail(path, ": tensor '", name, "': shape ", dims_str(dims), " of ",
         dtype_json.get<std::string>(), " needs ", nbytes, " bytes but data_offsets [", *begin,
         ", ", *end, "] hold ", *end - *begin);
  TensorInfo info;
  info.name = name;
  info.dtype = *dtype;
  info.shape = Shape(dims);
  info.nbytes = nbytes;
  *begin_out = uint64_t(*begin);
  return info;
}

}  // namespace

void read_safetensors(WeightFile& out, std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  ByteReader r(file->data(), file->size(), path);
  uint64_t header_len = r.u64("the header length");
  if (header_len > r.remaining())
    fail(path, ": header length ", header_len, " exceeds the rest of the file (", r.remaining(),
         " bytes): truncated, or not a safetensors file");
  if (header_len > kMaxHeaderBytes)
    fail(path, ": header length ", header_len, " is implausibly large (limit ", kMaxHeaderBytes,
         ")");
  if (header_len < 2) fail(path, ": header length ", header_len, " is too small for a JSON object");
  std::string_view text = r.chars(header_len, "the JSON header");
  json header = parse_json(path, text, "the header");
  if (!header.is_object()) fail(path, ": the header is not a JSON object but ", describe(header));

  const std::byte* data = r.data() + r.pos();
  uint64_t data_size = r.remaining();
  int file_index = out.add_file(file);
  std::vector<std::pair<uint64_t, TensorInfo>> infos;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, ": __metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          fail(path, ": __metadata__ '", key, "' must be a string, got ", describe(value));
        out.set_metadata(key, value.get<std::string>());
      }
      continue;
    }
    uint64_t begin = 0;
    TensorInfo info = parse_entry(path, name, entry, data_size, &begin);
    info.data = data + begin;
    info.file_index = file_index;
    infos.emplace_back(begin, std::move(info));
  }
  std::vector<Span> spans;
  for (const auto& [begin, info] : infos) spans.push_back({begin, begin + info.nbytes, info.name});
  check_disjoint(path, std::move(spans));
  // File order, so that a sequential load reads the disk front to back.
  std::stable_sort(infos.begin(), infos.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [begin, info] : infos) out.add_tensor(std::move(info));
}

void read_safetensors_index(WeightFile& out, const std::string& index_path) {
  namespace fs = std::filesystem;
  auto index_file = MappedFile::open(index_path);
  std::string_view text(reinterpret_cast<const char*>(index_file->data()), index_file->size());
  json index = parse_json(index_path, text, "the index");
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail(index_path, ": not a sharded safetensors index (expected an object with a 'weight_map')");
  const json& weight_map = index["weight_map"];
  if (weight_map.empty()) fail(index_path, ": the weight_map is empty");

  // Each shard is opened once, in name order (the -0000k-of-0000n names sort as written).
  fs::path folder = fs::path(index_path).parent_path();
  std::map<std::string, std::string> shard_paths;  // as written in the map -> path on disk
  for (const auto& [name, shard] : weight_map.items()) {
    if (!shard.is_string() || shard.get_ref<const std::string&>().empty())
      fail(index_path, ": tensor '", name, "' maps to ", describe(shard),
           ", not a shard file name");
    const std::string& rel = shard.get_ref<const std::string&>();
    fs::path p(rel);
    if (p.is_absolute() ||
        std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; }))
      fail(index_path, ": tensor '", name, "' maps to '", rel,
           "': shard files must lie in the index's folder");
    shard_paths.emplace(rel, (folder / p).string());
  }
  for (const auto& [rel, shard_path] : shard_paths) {
    if (!fs::exists(shard_path))
      fail(index_path, ": shard '", rel, "' named in the weight_map does not exist (", shard_path,
           ")");
    read_safetensors(out, MappedFile::open(shard_path));
  }

  for (const auto& [name, shard] : weight_map.items()) {
    const std::string& shard_path = shard_paths.at(shard.get<std::string>());
    const TensorInfo* info = out.find(name);
    if (!info)
      fail(index_path, ": tensor '", name, "' is mapped to ", shard.get<std::string>(),
           " but that shard does not hold it");
    const std::string& holder = out.files()[size_t(info->file_index)]->path();
    if (holder != shard_path)
      fail(index_path, ": tensor '", name, "' is mapped to ", shard.get<std::string>(),
           " but lies in ", holder);
  }
  if (index.contains("metadata") && index["metadata"].is_object())
    for (const auto& [key, value] : index["metadata"].items())
      out.set_metadata(key, value.is_string() ? value.get<std::string>() : describe(value));
}

}  // namespace kinema::io
