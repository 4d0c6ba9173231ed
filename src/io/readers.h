// The format readers behind WeightFile::open, and the checks they share. Each reader appends one
// file's tensors to a WeightFile (readers are also entry points for the fuzz harnesses).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/weight_file.h"

namespace kinema::io {

// Header length, JSON header, then the data section (see safetensors.cpp).
void read_safetensors(WeightFile& out, std::shared_ptr<const MappedFile> file);
// A *.safetensors.index.json: opens each shard once and checks its weight_map against them.
void read_safetensors_index(WeightFile& out, const std::string& index_path);
// GGUF v2/v3 (see gguf.cpp).
void read_gguf(WeightFile& out, std::shared_ptr<const MappedFile> file);
// A torch.save zip archive: data.pkl through the restricted unpickler, storages zero-copy.
void read_pytorch(WeightFile& out, std::shared_ptr<const MappedFile> file);

// Product of dims, or nullopt when it leaves int64 (every dim must be >= 0).
std::optional<uint64_t> checked_numel(const std::vector<int64_t>& dims);

// "[2, 3, 4]" for messages (any rank, unlike Shape).
std::string dims_str(const std::vector<int64_t>& dims);

// Bytes of a tensor of `dims` and `dtype`; fails naming file and tensor on more than
// Shape::kMaxRank dims, a negative dim, overflow or (for block types) an innermost dim that is
// not whole blocks.
uint64_t tensor_bytes(std::string_view file, std::string_view tensor, DType dtype,
                      const std::vector<int64_t>& dims);

// A tensor's byte range inside a data section.
struct Span {
  uint64_t begin = 0;
  uint64_t end = 0;
  std::string_view tensor;
};
// Fails naming both tensors when two non-empty spans share bytes.
void check_disjoint(std::string_view file, std::vector<Span> spans);

}  // namespace kinema::io
