// A restricted unpickler for the pickles torch.save writes (protocol 2; the few protocol 4
// opcodes too). It never imports or calls anything: a GLOBAL outside a short whitelist (ordered
// dicts, the tensor/parameter rebuild functions, storage types) is refused with an Error, and the
// whitelisted ones are interpreted here, building a graph of plain nodes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace kinema::io {

struct PickleNode {
  enum class Kind : uint8_t {
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    Dict,
    Global,   // a whitelisted class or function, s = "module.name"
    Storage,  // a persistent id ('storage', type, key, location, numel): s = key
    Tensor,   // _rebuild_tensor[_v2](storage, offset, size, stride, ...)
  };
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool; Tensor: storage offset in elements
  double f = 0;
  std::string s;
  // Tuple, List: the items. Dict: key0, value0, key1, value1, ... in insertion order.
  // Tensor: items[0] is the storage node.
  std::vector<uint32_t> items;
  // Storage: element type and element count. Tensor: sizes and strides in elements.
  DType dtype = DType::U8;
  uint64_t numel = 0;
  std::vector<int64_t> sizes, strides;
};

// Nodes refer to each other by index: a pickle may share objects and even build cycles.
struct Pickle {
  std::vector<PickleNode> nodes;
  uint32_t root = 0;
};

// Runs the pickle program `bytes`; `what` names it in messages ("<file> (archive/data.pkl)").
// Memory is bounded by a small multiple of the pickle's size.
Pickle unpickle(std::span<const std::byte> bytes, const std::string& what);

}  // namespace kinema::io
