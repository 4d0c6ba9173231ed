// One interface over every weight-file format: a name -> (dtype, shape, bytes) table whose
// tensors are zero-copy views of memory-mapped files.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace kinema {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;                      // PyTorch order (GGUF's reversed dims are already flipped)
  const std::byte* data = nullptr;  // inside one of the mapped files
  uint64_t nbytes = 0;
  int file_index = 0;  // which file of a sharded set
};

class WeightFile {
 public:
  // Opens a weight file, a sharded index or a model folder:
  //   *.safetensors; *.safetensors.index.json (sharded, shards relative to the index's folder);
  //   *.gguf (v2, v3); PyTorch zip checkpoints (*.pth / *.pt / *.bin, torch.save >= 1.6);
  //   a folder holding diffusion_pytorch_model.safetensors[.index.json],
  //   model.safetensors[.index.json], or exactly one *.safetensors[.index.json].
  // The format comes from the magic bytes. Every problem is an Error naming the file, the tensor
  // (when known) and what is wrong.
  static std::unique_ptr<WeightFile> open(const std::string& path);
  // The same for one file already in memory (a mapping, or MappedFile::from_bytes).
  static std::unique_ptr<WeightFile> open(std::shared_ptr<const MappedFile> file);

  const std::string& path() const { return path_; }
  std::string_view format() const { return format_; }  // "safetensors", "gguf", "pytorch"
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  // A read-only view of the named tensor; throws naming the file when it is absent.
  Tensor tensor(std::string_view name) const;
  // Free-form metadata as text: safetensors __metadata__; GGUF key/values (arrays of more than
  // 32 values are summarised, see string_array()); non-tensor leaves of a PyTorch checkpoint.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A GGUF string-array value in full (e.g. "tokenizer.ggml.tokens"), as views into the mapped
  // file; nullptr when there is no such key.
  const std::vector<std::string_view>* string_array(std::string_view key) const;
  const std::vector<std::shared_ptr<const MappedFile>>& files() const { return files_; }

  // Used by the format readers to build a WeightFile.
  WeightFile(std::string path, std::string format)
      : path_(std::move(path)), format_(std::move(format)) {}
  int add_file(std::shared_ptr<const MappedFile> file);
  // Adds a tensor; rejects duplicates and spans outside the file (naming both).
  void add_tensor(TensorInfo info);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void set_string_array(const std::string& key, std::vector<std::string_view> values);

 private:
  std::string path_;
  std::string format_;
  std::vector<std::shared_ptr<const MappedFile>> files_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, std::vector<std::string_view>, std::less<>> string_arrays_;
};

}  // namespace kinema
