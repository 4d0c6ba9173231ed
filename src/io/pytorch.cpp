// PyTorch zip checkpoints (torch.save since 1.6): a ZIP of stored entries
//   <archive>/data.pkl       the pickled object, tensors as persistent-id storage references
//   <archive>/data/<key>     each storage's raw little-endian bytes
//   <archive>/version, <archive>/byteorder (newer torch), ...
// Tensors are views of the storages' bytes in the mapping; nothing is copied.
//
// Naming: the pickled object is flattened. Nested dicts, lists and tuples join their keys with
// '.', so {"model": {"w": t}} gives "model.w" and a plain state dict keeps its own keys; a bare
// tensor is named "tensor". Non-tensor leaves (ints, floats, strings, bools) go to metadata()
// under their flattened names. Wrapper prefixes ("model.", "state_dict.") are left for the
// model's name table to strip.
#include <algorithm>
#include <charconv>

#include "io/byte_reader.h"
#include "io/pickle.h"
#include "io/readers.h"
#include "io/zip.h"

namespace kinema::io {
namespace {

using Kind = PickleNode::Kind;

constexpr int kMaxNesting = 64;

std::string number_text(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

class CheckpointBuilder {
 public:
  CheckpointBuilder(WeightFile& out, const ZipArchive& zip, const Pickle& pickle,
                    std::string archive, int file_index)
      : out_(out),
        zip_(zip),
        pickle_(pickle),
        archive_(std::move(archive)),
        path_(zip.file().path()),
        file_index_(file_index),
        // A tree visits each node once; shared nodes (tied weights) may add a few visits, but a
        // pickle of nested shared references could otherwise expand exponentially.
        visit_budget_(2 * pickle.nodes.size() + 1024) {}

  void build() { visit(pickle_.root, "", 0); }

 private:
  void visit(uint32_t index, const std::string& name, int depth) {
    if (depth > kMaxNesting)
      fail(path_, ": '", name.substr(0, 40), "...': the checkpoint nests more than ", kMaxNesting,
           " levels (or contains a cycle)");
    if (visit_budget_-- == 0)
      fail(path_, ": the checkpoint's containers share references too much to flatten");
    const PickleNode& n = pickle_.nodes[index];
    auto child = [&](const std::string& key) { return name.empty() ? key : name + "." + key; };
    switch (n.kind) {
      case Kind::Dict:
        for (size_t k = 0; k + 1 < n.items.size(); k += 2)
          visit(n.items[k + 1], child(key_text(n.items[k], name)), depth + 1);
        break;
      case Kind::List:
      case Kind::Tuple:
        for (size_t k = 0; k < n.items.size(); ++k)
          visit(n.items[k], child(std::to_string(k)), depth + 1);
        break;
      case Kind::Tensor: add_tensor(n, name.empty() ? "tensor" : name); break;
      case Kind::Int: set_metadata(name, std::to_string(n.i)); break;
      case Kind::Bool: set_metadata(name, n.i ? "true" : "false"); break;
      case Kind::Float: set_metadata(name, number_text(n.f)); break;
      case Kind::String: set_metadata(name, n.s); break;
      default: break;  // None, bytes, storages, classes: nothing to load
    }
  }

  void set_metadata(const std::string& name, const std::string& value) {
    if (!name.empty()) out_.set_metadata(name, value);
  }

  std::string key_text(uint32_t key, const std::string& parent) {
    const PickleNode& k = pickle_.nodes[key];
    if (k.kind == Kind::String) return k.s;
    if (k.kind == Kind::Int) return std::to_string(k.i);
    fail(path_, ": '", parent, "': a dict key that is neither a string nor an integer");
  }

  void add_tensor(const PickleNode& t, const std::string& name) {
    const PickleNode& storage = pickle_.nodes[t.items.at(0)];
    DType dtype = storage.dtype;
    uint64_t elem = uint64_t(traits(dtype).block_bytes);
    std::string entry_name = archive_ + "data/" + storage.s;
    const ZipEntry* entry = zip_.find(entry_name);
    if (!entry)
      fail(path_, ": tensor '", name, "': its storage entry '", entry_name, "' is missing");
    std::span<const std::byte> bytes = zip_.data(*entry);
    uint64_t storage_bytes = 0;
    if (mul_overflows(storage.numel, elem, &storage_bytes) || storage_bytes > bytes.size())
      fail(path_, ": tensor '", name, "': storage '", entry_name, "' should hold ", storage.numel,
           " ", traits(dtype).name, " values but has ", bytes.size(), " bytes");

    uint64_t nbytes = tensor_bytes(path_, name, dtype, t.sizes);
    uint64_t numel = nbytes / elem;
    if (t.strides.size() != t.sizes.size())
      fail(path_, ": tensor '", name, "': ", t.sizes.size(), " sizes but ", t.strides.size(),
           " strides");
    // Zero-copy needs row-major contiguity; dims of size 1 may carry any stride.
    int64_t expected = 1;
    for (size_t k = t.sizes.size(); k-- > 0;) {
      if (numel != 0 && t.sizes[k] != 1 && t.strides[k] != expected)
        fail(path_, ": tensor '", name, "' is not contiguous (shape ", dims_str(t.sizes),
             ", strides ", dims_str(t.strides), "); re-save it with .contiguous()");
      expected *= t.sizes[k];  // cannot overflow: the product of sizes fits (tensor_bytes)
    }
    uint64_t end = 0;
    if (t.i < 0 || add_overflows(uint64_t(t.i), numel, &end) || end > storage.numel)
      fail(path_, ": tensor '", name, "': ", numel, " values at offset ", t.i,
           " reach past the end of its storage '", entry_name, "' (", storage.numel, " values)");
    TensorInfo info;
    info.name = name;
    info.dtype = dtype;
    info.shape = Shape(t.sizes);
    info.data = bytes.data() + uint64_t(t.i) * elem;
    info.nbytes = nbytes;
    info.file_index = file_index_;
    out_.add_tensor(std::move(info));
  }

  WeightFile& out_;
  const ZipArchive& zip_;
  const Pickle& pickle_;
  std::string archive_;  // "<archive>/"
  const std::string& path_;
  int file_index_;
  uint64_t visit_budget_;
};

}  // namespace

void read_pytorch(WeightFile& out, std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  ZipArchive zip(file);
  // torch names the archive folder after the file (1.x) or "archive" (2.x): find its data.pkl.
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash + 1) == "data.pkl") {
      pkl = &e;
      break;
    }
  }
  if (!pkl) {
    std::string names;
    for (size_t k = 0; k < std::min<size_t>(zip.entries().size(), 5); ++k)
      names += (k ? ", " : "") + zip.entries()[k].name;
    fail(path, ": a ZIP without '<archive>/data.pkl', so not a PyTorch checkpoint (entries: ",
         names.empty() ? "none" : names, zip.entries().size() > 5 ? ", ..." : "", ")");
  }
  std::string archive = pkl->name.substr(0, pkl->name.size() - std::string_view("data.pkl").size());
  if (const ZipEntry* order = zip.find(archive + "byteorder")) {
    std::span<const std::byte> b = zip.data(*order);
    std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    if (text != "little")
      fail(path, ": the checkpoint's byte order is '", text.substr(0, 16),
           "'; only little-endian is supported");
  }
  std::span<const std::byte> program = zip.data(*pkl);
  Pickle pickle = unpickle(program, str_cat(path, " (", pkl->name, ")"));
  int file_index = out.add_file(file);
  CheckpointBuilder(out, zip, pickle, archive, file_index).build();
}

}  // namespace kinema::io
