#include "io/weight_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/byte_reader.h"
#include "io/readers.h"

namespace kinema {
namespace {

namespace fs = std::filesystem;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The weights of a model folder: a known Diffusers/HF file name first, else the only candidate.
std::string resolve_folder(const std::string& dir) {
  for (const char* name :
       {"diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
        "diffusion_pytorch_model.safetensors", "model.safetensors"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
  }
  std::vector<std::string> indexes, singles;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file()) continue;
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(entry.path().string());
    if (ends_with(name, ".safetensors")) singles.push_back(entry.path().string());
  }
  if (ec) fail(dir, ": cannot list the folder: ", ec.message());
  const std::vector<std::string>& pick = indexes.empty() ? singles : indexes;
  if (pick.size() == 1) return pick[0];
  if (pick.empty())
    fail(dir,
         ": no weights in this folder (expected diffusion_pytorch_model.safetensors, "
         "model.safetensors, a *.safetensors.index.json or one *.safetensors file)");
  std::vector<std::string> names;
  for (const auto& p : pick) names.push_back(fs::path(p).filename().string());
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  fail(dir, ": several candidate weight files (", list, "); pass the one to load");
}

std::string hex_prefix(const MappedFile& file) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(file.size(), 8); ++i) {
    auto b = uint8_t(file.data()[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
    out += ' ';
  }
  return out.empty() ? "(empty file)" : out.substr(0, out.size() - 1);
}

}  // namespace

std::unique_ptr<WeightFile> WeightFile::open(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return open(resolve_folder(path));
  if (ends_with(path, ".json")) {
    auto out = std::make_unique<WeightFile>(path, "safetensors");
    io::read_safetensors_index(*out, path);
    return out;
  }
  return open(MappedFile::open(path));
}

std::unique_ptr<WeightFile> WeightFile::open(std::shared_ptr<const MappedFile> file) {
  const std::byte* d = file->data();
  size_t n = file->size();
  auto starts = [&](const char* magic, size_t len) {
    return n >= len && std::memcmp(d, magic, len) == 0;
  };
  std::unique_ptr<WeightFile> out;
  if (starts("GGUF", 4)) {
    out = std::make_unique<WeightFile>(file->path(), "gguf");
    io::read_gguf(*out, std::move(file));
  } else if (starts("PK\x03\x04", 4) || starts("PK\x05\x06", 4)) {
    out = std::make_unique<WeightFile>(file->path(), "pytorch");
    io::read_pytorch(*out, std::move(file));
  } else if (n >= 9 && char(d[8]) == '{') {
    out = std::make_unique<WeightFile>(file->path(), "safetensors");
    io::read_safetensors(*out, std::move(file));
  } else if (starts("\x80\x02\x8a", 3)) {
    // torch.save's legacy format starts with a pickled magic number (LONG1).
    fail(file->path(),
         ": a legacy (pre-1.6, non-zip) PyTorch checkpoint; not supported: re-save it "
         "with a recent torch.save");
  } else if (ends_with(file->path(), ".safetensors")) {
    // No magic matched: the name decides, so that a damaged file gets its format's diagnosis.
    out = std::make_unique<WeightFile>(file->path(), "safetensors");
    io::read_safetensors(*out, std::move(file));
  } else if (ends_with(file->path(), ".gguf")) {
    out = std::make_unique<WeightFile>(file->path(), "gguf");
    io::read_gguf(*out, std::move(file));
  } else if (ends_with(file->path(), ".pt") || ends_with(file->path(), ".pth") ||
             ends_with(file->path(), ".bin") || ends_with(file->path(), ".ckpt")) {
    out = std::make_unique<WeightFile>(file->path(), "pytorch");
    io::read_pytorch(*out, std::move(file));
  } else {
    fail(file->path(),
         ": unknown weight format (expected safetensors, GGUF or a PyTorch zip "
         "checkpoint); the file starts with ",
         hex_prefix(*file));
  }
  return out;
}

const TensorInfo* WeightFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor WeightFile::tensor(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (!info) fail(path_, ": no tensor named '", name, "'");
  return Tensor::view(files_[size_t(info->file_index)], info->data, info->shape, info->dtype);
}

const std::vector<std::string_view>* WeightFile::string_array(std::string_view key) const {
  auto it = string_arrays_.find(key);
  return it == string_arrays_.end() ? nullptr : &it->second;
}

void WeightFile::set_string_array(const std::string& key, std::vector<std::string_view> values) {
  string_arrays_[key] = std::move(values);
}

int WeightFile::add_file(std::shared_ptr<const MappedFile> file) {
  files_.push_back(std::move(file));
  return int(files_.size() - 1);
}

void WeightFile::add_tensor(TensorInfo info) {
  const MappedFile& file = *files_.at(size_t(info.file_index));
  const std::byte* begin = file.data();
  if (info.nbytes > 0 && (info.data < begin || info.nbytes > file.size() ||
                          uint64_t(info.data - begin) > file.size() - info.nbytes))
    fail(file.path(), ": tensor '", info.name, "' lies outside the file (", file.size(), " bytes)");
  if (index_.count(info.name)) {
    const TensorInfo& first = tensors_[index_[info.name]];
    fail(file.path(), ": tensor '", info.name, "' appears twice",
         first.file_index == info.file_index
             ? std::string()
             : str_cat(" (also in ", files_[size_t(first.file_index)]->path(), ")"));
  }
  index_.emplace(info.name, tensors_.size());
  tensors_.push_back(std::move(info));
}

namespace io {

std::optional<uint64_t> checked_numel(const std::vector<int64_t>& dims) {
  uint64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || mul_overflows(n, uint64_t(d), &n)) return std::nullopt;
  }
  if (n > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return n;
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

uint64_t tensor_bytes(std::string_view file, std::string_view tensor, DType dtype,
                      const std::vector<int64_t>& dims) {
  if (dims.size() > size_t(Shape::kMaxRank))
    fail(file, ": tensor '", tensor, "' has ", dims.size(), " dims; at most ", Shape::kMaxRank,
         " are supported");
  for (int64_t d : dims)
    if (d < 0) fail(file, ": tensor '", tensor, "': negative dim in shape ", dims_str(dims));
  auto numel = checked_numel(dims);
  if (!numel) fail(file, ": tensor '", tensor, "': shape ", dims_str(dims), " is too large");
  const DTypeTraits& t = traits(dtype);
  if (t.is_quantized && (dims.empty() || dims.back() % t.block_elems != 0))
    fail(file, ": tensor '", tensor, "': ", t.name, " needs the innermost dim to be a multiple of ",
         t.block_elems, ", got shape ", dims_str(dims));
  auto bytes = storage_bytes(dtype, *numel);
  if (!bytes) fail(file, ": tensor '", tensor, "': shape ", dims_str(dims), " is too large");
  return *bytes;
}

void check_disjoint(std::string_view file, std::vector<Span> spans) {
  std::erase_if(spans, [](const Span& s) { return s.begin == s.end; });
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end)
      fail(file, ": tensors '", spans[i - 1].tensor, "' (bytes ", spans[i - 1].begin, "..",
           spans[i - 1].end, ") and '", spans[i].tensor, "' (bytes ", spans[i].begin, "..",
           spans[i].end, ") overlap");
  }
}

}  // namespace io
}  // namespace kinema
