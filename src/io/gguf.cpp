// GGUF v2/v3 (ggml's single-file format): header, metadata key/values, tensor infos, then the
// data section at the next multiple of general.alignment. All integers are little-endian; dims
// are stored innermost first (ggml ne[0]), the reverse of PyTorch order.
#include <algorithm>
#include <array>
#include <charconv>

#include "io/byte_reader.h"
#include "io/readers.h"

namespace kinema::io {
namespace {

enum GgufType : uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64,
};
constexpr std::array<std::string_view, 13> kTypeNames = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
constexpr std::array<uint8_t, 13> kFixedSize = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
// Smallest encoding of one value: a string is at least its u64 length, an array its type+count.
uint64_t min_value_bytes(uint32_t type) {
  return type == kString ? 8 : type == kArray ? 12 : kFixedSize[type];
}

constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;       // nested arrays: a sanity bound, real files use 1
constexpr size_t kArrayJoinLimit = 32;  // longer arrays are summarised in metadata()
constexpr uint64_t kMinTensorInfoBytes =
    8 + 4 + 8 + 4 + 8;                       // name len, n_dims, 1 dim, type, offset
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // key len, type, 1-byte value

std::optional<DType> dtype_from_ggml(uint32_t id) {
  switch (id) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 2: return DType::Q4_0;
    case 8: return DType::Q8_0;
    case 12: return DType::Q4_K;
    case 13: return DType::Q5_K;
    case 14: return DType::Q6_K;
    case 24: return DType::I8;
    case 25: return DType::I16;
    case 26: return DType::I32;
    case 27: return DType::I64;
    case 28: return DType::F64;
    case 30: return DType::BF16;
    default: return std::nullopt;
  }
}

std::string_view ggml_type_name(uint32_t id) {
  static constexpr std::array<std::string_view, 40> names = {"F32",
                                                             "F16",
                                                             "Q4_0",
                                                             "Q4_1",
                                                             "Q4_2 (removed)",
                                                             "Q4_3 (removed)",
                                                             "Q5_0",
                                                             "Q5_1",
                                                             "Q8_0",
                                                             "Q8_1",
                                                             "Q2_K",
                                                             "Q3_K",
                                                             "Q4_K",
                                                             "Q5_K",
                                                             "Q6_K",
                                                             "Q8_K",
                                                             "IQ2_XXS",
                                                             "IQ2_XS",
                                                             "IQ3_XXS",
                                                             "IQ1_S",
                                                             "IQ4_NL",
                                                             "IQ3_S",
                                                             "IQ2_S",
                                                             "IQ4_XS",
                                                             "I8",
                                                             "I16",
                                                             "I32",
                                                             "I64",
                                                             "F64",
                                                             "IQ1_M",
                                                             "BF16",
                                                             "Q4_0_4_4",
                                                             "Q4_0_4_8",
                                                             "Q4_0_8_8",
                                                             "TQ1_0",
                                                             "TQ2_0",
                                                             "IQ4_NL_4_4",
                                                             "IQ4_NL_4_8",
                                                             "IQ4_NL_8_8",
                                                             "MXFP4"};
  return id < names.size() ? names[id] : "unknown";
}

template <class T>
std::string number_text(T v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class GgufParser {
 public:
  GgufParser(WeightFile& out, std::shared_ptr<const MappedFile> file)
      : out_(out),
        file_(std::move(file)),
        path_(file_->path()),
        r_(file_->data(), file_->size(), path_) {}

  void parse() {
    r_.take(4, "the magic");
    uint32_t version = r_.u32("the version");
    if (version == 1)
      fail(path_, ": GGUF version 1 (32-bit counts) is not supported; re-convert the file");
    if (version == 0x02000000u || version == 0x03000000u)
      fail(path_, ": a big-endian GGUF file; only little-endian files are supported");
    if (version != 2 && version != 3)
      fail(path_, ": unsupported GGUF version ", version, " (expected 2 or 3)");
    uint64_t tensor_count = r_.u64("the tensor count");
    uint64_t kv_count = r_.u64("the metadata count");
    // Counts are checked against the bytes left before anything is allocated for them.
    if (tensor_count > r_.remaining() / kMinTensorInfoBytes)
      fail(path_, ": claims ", tensor_count, " tensors but only ", r_.remaining(),
           " bytes follow the header (corrupt or truncated)");
    if (kv_count > r_.remaining() / kMinKvBytes)
      fail(path_, ": claims ", kv_count, " metadata entries but only ", r_.remaining(),
           " bytes follow the header (corrupt or truncated)");

    for (uint64_t i = 0; i < kv_count; ++i) read_kv();
    file_index_ = out_.add_file(file_);

    struct Pending {
      TensorInfo info;
      uint64_t offset;
    };
    std::vector<Pending> pending;
    pending.reserve(size_t(tensor_count));
    for (uint64_t i = 0; i < tensor_count; ++i) {
      Pending p;
      p.info = read_tensor_info(i, &p.offset);
      pending.push_back(std::move(p));
    }

    uint64_t data_start = r_.pos();
    if (data_start % alignment_ != 0) data_start += alignment_ - data_start % alignment_;
    if (tensor_count > 0 && data_start > file_->size())
      fail(path_, ": truncated: the data section would start at byte ", data_start,
           " but the file has ", file_->size(), " bytes");
    std::vector<Span> spans;
    for (Pending& p : pending) {
      uint64_t begin = 0, end = 0;
      if (add_overflows(data_start, p.offset, &begin) ||
          add_overflows(begin, p.info.nbytes, &end) || end > file_->size())
        fail(path_, ": tensor '", p.info.name, "': ", p.info.nbytes, " bytes at data offset ",
             p.offset, " reach past the end of the file (", file_->size(),
             " bytes; is it truncated?)");
      p.info.data = file_->data() + begin;
      spans.push_back({begin, end, p.info.name});
    }
    check_disjoint(path_, std::move(spans));
    for (Pending& p : pending) out_.add_tensor(std::move(p.info));
  }

 private:
  std::string read_string(std::string_view field) {
    uint64_t len = r_.u64(field);
    return std::string(r_.chars(len, field));
  }

  void read_kv() {
    std::string key = read_string("a metadata key");
    if (out_.metadata().count(key)) fail(path_, ": metadata key '", key, "' appears twice");
    uint32_t type = r_.u32("a metadata type");
    if (type >= kTypeNames.size())
      fail(path_, ": metadata '", key, "' has unknown value type ", type);
    std::string text = read_value(key, type, 0);
    if (key == "general.alignment") set_alignment(type, text);
    out_.set_metadata(key, text);
  }

  void set_alignment(uint32_t type, const std::string& text) {
    uint64_t value = 0;
    bool integer = type <= kI32 || type == kU64 || type == kI64;
    auto res = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!integer || res.ec != std::errc() || value == 0 || (value & (value - 1)) != 0 ||
        value > (uint64_t(1) << 30))
      fail(path_, ": general.alignment must be a power of two integer, got ", text, " (",
           kTypeNames[type], ")");
    alignment_ = value;
  }

  std::string read_scalar(uint32_t type, std::string_view key) {
    switch (type) {
      case kU8: return number_text(r_.read<uint8_t>(key));
      case kI8: return number_text(r_.read<int8_t>(key));
      case kU16: return number_text(r_.read<uint16_t>(key));
      case kI16: return number_text(r_.read<int16_t>(key));
      case kU32: return number_text(r_.read<uint32_t>(key));
      case kI32: return number_text(r_.read<int32_t>(key));
      case kU64: return number_text(r_.read<uint64_t>(key));
      case kI64: return number_text(r_.read<int64_t>(key));
      case kF32: return number_text(r_.read<float>(key));
      case kF64: return number_text(r_.read<double>(key));
      case kBool: {
        uint8_t b = r_.u8(key);
        if (b > 1)
          fail(path_, ": metadata '", key, "': bool value ", int(b), " is neither 0 nor 1");
        return b ? "true" : "false";
      }
      default: fail(path_, ": metadata '", key, "': not a scalar type ", type);
    }
  }

  // Renders one value as text; top-level string arrays are also kept whole (string_array()).
  std::string read_value(const std::string& key, uint32_t type, int depth) {
    if (type == kString) return read_string(key);
    if (type != kArray) return read_scalar(type, key);
    if (depth >= kMaxArrayDepth)
      fail(path_, ": metadata '", key, "': arrays nested more than ", kMaxArrayDepth, " deep");
    uint32_t elem = r_.u32(key);
    if (elem >= kTypeNames.size())
      fail(path_, ": metadata '", key, "': array of unknown value type ", elem);
    uint64_t count = r_.u64(key);
    if (count > r_.remaining() / min_value_bytes(elem))
      fail(path_, ": metadata '", key, "': an array of ", count, " ", kTypeNames[elem],
           " values cannot fit in the ", r_.remaining(), " bytes left (corrupt or truncated)");
    bool keep_strings = elem == kString && depth == 0;
    std::vector<std::string_view> strings;
    if (keep_strings) strings.reserve(size_t(count));
    std::string text = "[";
    for (uint64_t i = 0; i < count; ++i) {
      std::string item;
      if (elem == kString) {
        uint64_t len = r_.u64(key);
        std::string_view s = r_.chars(len, key);
        if (keep_strings) strings.push_back(s);
        if (count <= kArrayJoinLimit) item = quoted(s);
      } else if (elem == kArray) {
        item = read_value(key, elem, depth + 1);
      } else if (count <= kArrayJoinLimit) {
        item = read_scalar(elem, key);
      } else {
        r_.skip(kFixedSize[elem], key);
      }
      if (count <= kArrayJoinLimit) text += (i ? ", " : "") + item;
    }
    if (keep_strings) out_.set_string_array(key, std::move(strings));
    if (count > kArrayJoinLimit) return str_cat("[array of ", count, " ", kTypeNames[elem], "]");
    return text + "]";
  }

  TensorInfo read_tensor_info(uint64_t index, uint64_t* offset) {
    TensorInfo info;
    info.name = read_string(str_cat("the name of tensor #", index));
    const std::string& name = info.name;
    uint32_t n_dims = r_.u32(name);
    // ComfyUI-GGUF re-inserts a 5-D F32 tensor; our shapes hold up to 8 dims.
    if (n_dims == 0 || n_dims > uint32_t(Shape::kMaxRank))
      fail(path_, ": tensor '", name, "' has ", n_dims, " dims; expected 1 to ", Shape::kMaxRank);
    std::vector<int64_t> dims(n_dims);
    for (uint32_t i = 0; i < n_dims; ++i) {
      uint64_t d = r_.u64(name);
      if (d > uint64_t(INT64_MAX)) fail(path_, ": tensor '", name, "': dim ", d, " is too large");
      dims[n_dims - 1 - i] = int64_t(d);  // ggml ne[0] is the innermost (last PyTorch) dim
    }
    uint32_t type = r_.u32(name);
    auto dtype = dtype_from_ggml(type);
    if (!dtype)
      fail(path_, ": tensor '", name, "' has ggml type ", type, " (", ggml_type_name(type),
           "), which Kinema does not read (supported: F32 F16 BF16 F64 Q8_0 Q4_0 Q4_K Q5_K Q6_K "
           "I8 I16 I32 I64)");
    *offset = r_.u64(name);
    if (*offset % alignment_ != 0)
      fail(path_, ": tensor '", name, "': data offset ", *offset,
           " is not a multiple of the alignment ", alignment_);
    info.dtype = *dtype;
    info.nbytes = tensor_bytes(path_, name, *dtype, dims);
    info.shape = Shape(dims);
    info.file_index = file_index_;
    return info;
  }

  WeightFile& out_;
  std::shared_ptr<const MappedFile> file_;
  const std::string& path_;
  ByteReader r_;
  uint64_t alignment_ = kDefaultAlignment;
  int file_index_ = 0;
};

}  // namespace

void read_gguf(WeightFile& out, std::shared_ptr<const MappedFile> file) {
  if (file->size() < 4 ||
      std::string_view(reinterpret_cast<const char*>(file->data()), 4) != "GGUF")
    fail(file->path(), ": truncated or not a GGUF file (no 'GGUF' magic)");
  GgufParser(out, std::move(file)).parse();
}

}  // namespace kinema::io
