#include "io/weight_file.h"

namespace kinema {

const TensorInfo* WeightFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor WeightFile::tensor(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (!info) fail(path_, ": no tensor named '", name, "'");
  return Tensor::view(files_[size_t(info->file_index)], info->data, info->shape, info->dtype);
}

int WeightFile::add_file(std::shared_ptr<const MappedFile> file) {
  files_.push_back(std::move(file));
  return int(files_.size() - 1);
}

void WeightFile::add_tensor(TensorInfo info) {
  const MappedFile& file = *files_.at(size_t(info.file_index));
  const std::byte* begin = file.data();
  if (info.data < begin || info.nbytes > file.size() ||
      uint64_t(info.data - begin) > file.size() - info.nbytes)
    fail(file.path(), ": tensor '", info.name, "' lies outside the file (", file.size(), " bytes)");
  if (index_.count(info.name)) fail(file.path(), ": tensor '", info.name, "' appears twice");
  index_.emplace(info.name, tensors_.size());
  tensors_.push_back(std::move(info));
}

}  // namespace kinema
