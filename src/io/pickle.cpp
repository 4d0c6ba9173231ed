#include "io/pickle.h"

#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "io/byte_reader.h"

namespace kinema::io {
namespace {

using Kind = PickleNode::Kind;

// Storage classes torch.save names in its persistent ids (torch.cuda.* in old GPU checkpoints;
// the bytes are in the archive either way).
std::optional<DType> storage_dtype(std::string_view name) {
  static const std::pair<std::string_view, DType> table[] = {
      {"FloatStorage", DType::F32},
      {"HalfStorage", DType::F16},
      {"BFloat16Storage", DType::BF16},
      {"DoubleStorage", DType::F64},
      {"LongStorage", DType::I64},
      {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16},
      {"CharStorage", DType::I8},
      {"ByteStorage", DType::U8},
      {"BoolStorage", DType::Bool},
      {"Float8_e4m3fnStorage", DType::F8_E4M3},
      {"Float8_e5m2Storage", DType::F8_E5M2},
      {"UntypedStorage", DType::U8},
  };
  for (const auto& [n, dtype] : table)
    if (n == name) return dtype;
  return std::nullopt;
}

std::optional<DType> storage_global(std::string_view global) {
  for (std::string_view module : {"torch.", "torch.cuda."}) {
    if (global.substr(0, module.size()) != module) continue;
    std::string_view rest = global.substr(module.size());
    if (rest.find('.') == std::string_view::npos) return storage_dtype(rest);
  }
  return std::nullopt;
}

constexpr std::string_view kCallables[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "_codecs.encode",  // protocol 2 spells a bytes object as _codecs.encode(str, 'latin1')
};

bool allowed_global(std::string_view name) {
  for (std::string_view c : kCallables)
    if (c == name) return true;
  return storage_global(name).has_value();
}

class Unpickler {
 public:
  Unpickler(std::span<const std::byte> bytes, const std::string& what)
      : r_(bytes.data(), bytes.size(), what), what_(what) {}

  Pickle run() {
    for (;;) {
      op_pos_ = r_.pos();
      uint8_t op = r_.u8("an opcode (no STOP)");
      if (op == '.') break;
      step(op);
    }
    Pickle out;
    out.root = pop();
    out.nodes = std::move(nodes_);
    return out;
  }

 private:
  template <class... Parts>
  [[noreturn]] void bad(Parts&&... parts) {
    fail(what_, ": pickle byte ", op_pos_, ": ", std::forward<Parts>(parts)...);
  }

  uint32_t add(PickleNode node) {
    nodes_.push_back(std::move(node));
    return uint32_t(nodes_.size() - 1);
  }
  uint32_t add(Kind kind) {
    PickleNode n;
    n.kind = kind;
    return add(std::move(n));
  }
  uint32_t add_int(int64_t v) {
    PickleNode n;
    n.kind = Kind::Int;
    n.i = v;
    return add(std::move(n));
  }
  uint32_t add_string(Kind kind, std::string_view s) {
    PickleNode n;
    n.kind = kind;
    n.s = std::string(s);
    return add(std::move(n));
  }

  void push(uint32_t node) { stack_.push_back(node); }
  uint32_t pop() {
    if (stack_.size() <= base()) bad("the stack is empty");
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top() {
    if (stack_.size() <= base()) bad("the stack is empty");
    return stack_.back();
  }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  // The items pushed since the last MARK, removing them and the mark.
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) bad("no MARK to pop to");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + std::ptrdiff_t(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PickleNode& node(uint32_t i) { return nodes_[i]; }
  PickleNode& expect(uint32_t i, Kind kind, std::string_view what) {
    if (nodes_[i].kind != kind) bad("expected ", what);
    return nodes_[i];
  }

  void memo_put(uint64_t id) {
    if (id > UINT32_MAX) bad("memo id ", id, " is too large");
    memo_[uint32_t(id)] = top();
  }
  void memo_get(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) bad("memo id ", id, " was never stored");
    push(it->second);
  }

  uint32_t make_tuple(std::vector<uint32_t> items) {
    PickleNode n;
    n.kind = Kind::Tuple;
    n.items = std::move(items);
    return add(std::move(n));
  }

  void add_to_dict(uint32_t dict, const std::vector<uint32_t>& kv) {
    if (kv.size() % 2) bad("SETITEMS with an odd number of items");
    PickleNode& d = expect(dict, Kind::Dict, "a dict to set items on");
    d.items.insert(d.items.end(), kv.begin(), kv.end());
  }

  void add_to_list(uint32_t list, const std::vector<uint32_t>& values) {
    PickleNode& l = expect(list, Kind::List, "a list to append to");
    l.items.insert(l.items.end(), values.begin(), values.end());
  }

  void global(std::string name) {
    if (!allowed_global(name))
      fail("refusing to load ", what_, ": the pickle asks for global '", name,
           "', which is not a tensor, storage or container type; only plain state dicts of "
           "tensors are loaded, so this file may run code when opened with torch.load");
    push(add_string(Kind::Global, name));
  }

  std::vector<int64_t> int_tuple(uint32_t i, std::string_view what) {
    const PickleNode& t = nodes_[i];
    if (t.kind != Kind::Tuple && t.kind != Kind::List) bad(what, " is not a tuple");
    std::vector<int64_t> out;
    for (uint32_t item : t.items) {
      if (nodes_[item].kind != Kind::Int) bad(what, " holds a non-integer");
      out.push_back(nodes_[item].i);
    }
    return out;
  }

  // storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]
  uint32_t rebuild_tensor(const std::vector<uint32_t>& args) {
    if (args.size() < 4) bad("_rebuild_tensor needs at least 4 arguments, got ", args.size());
    expect(args[0], Kind::Storage, "a storage as the first argument of _rebuild_tensor");
    PickleNode t;
    t.kind = Kind::Tensor;
    t.items = {args[0]};
    t.i = expect(args[1], Kind::Int, "an integer storage offset").i;
    t.sizes = int_tuple(args[2], "the tensor size");
    t.strides = int_tuple(args[3], "the tensor stride");
    return add(std::move(t));
  }

  void reduce() {
    uint32_t args_node = pop();
    uint32_t callable = pop();
    const std::string name = expect(callable, Kind::Global, "a callable for REDUCE").s;
    std::vector<uint32_t> args =
        expect(args_node, Kind::Tuple, "an argument tuple for REDUCE").items;
    if (name == "collections.OrderedDict") {
      if (!args.empty()) bad("OrderedDict with arguments is not supported");
      push(add(Kind::Dict));
    } else if (name == "torch._utils._rebuild_tensor" ||
               name == "torch._utils._rebuild_tensor_v2") {
      push(rebuild_tensor(args));
    } else if (name == "torch._utils._rebuild_parameter" ||
               name == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty()) bad("_rebuild_parameter without arguments");
      expect(args[0], Kind::Tensor, "a tensor as the first argument of _rebuild_parameter");
      push(args[0]);
    } else if (name == "_codecs.encode") {
      if (args.empty()) bad("_codecs.encode without arguments");
      push(add_string(Kind::Bytes, expect(args[0], Kind::String, "a string to encode").s));
    } else {
      bad("'", name, "' cannot be called");
    }
  }

  // ('storage', storage_type, key, location, numel)
  void persistent_load() {
    const std::vector<uint32_t> pid = expect(pop(), Kind::Tuple, "a tuple persistent id").items;
    if (pid.size() != 5 || node(pid[0]).kind != Kind::String || node(pid[0]).s != "storage")
      bad("unsupported persistent id (expected ('storage', type, key, location, numel))");
    const PickleNode& type = expect(pid[1], Kind::Global, "a storage type in the persistent id");
    auto dtype = storage_global(type.s);
    if (!dtype) bad("'", type.s, "' is not a storage type");
    PickleNode s;
    s.kind = Kind::Storage;
    s.dtype = *dtype;
    s.s = expect(pid[2], Kind::String, "a string storage key").s;
    int64_t numel = expect(pid[4], Kind::Int, "an integer storage size").i;
    if (numel < 0) bad("negative storage size ", numel);
    s.numel = uint64_t(numel);
    push(add(std::move(s)));
  }

  int64_t read_long(uint64_t n) {
    if (n > 8) bad("an integer of ", n, " bytes is too large");
    const std::byte* p = r_.take(n, "a LONG");
    uint64_t v = 0;
    for (uint64_t k = 0; k < n; ++k) v |= uint64_t(p[k]) << (8 * k);
    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return int64_t(v);
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: r_.u8("PROTO"); break;
      case 0x95: r_.u64("FRAME"); break;  // framing is only a read-ahead hint
      case '}': push(add(Kind::Dict)); break;
      case ']': push(add(Kind::List)); break;
      case ')': push(make_tuple({})); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 't': push(make_tuple(pop_mark())); break;
      case 'l': {
        PickleNode list;
        list.kind = Kind::List;
        list.items = pop_mark();
        push(add(std::move(list)));
        break;
      }
      case 0x85: {
        uint32_t a = pop();
        push(make_tuple({a}));
        break;
      }
      case 0x86: {
        uint32_t b = pop(), a = pop();
        push(make_tuple({a, b}));
        break;
      }
      case 0x87: {
        uint32_t c = pop(), b = pop(), a = pop();
        push(make_tuple({a, b, c}));
        break;
      }
      case 'N': push(add(Kind::None)); break;
      case 0x88:
      case 0x89: {
        uint32_t b = add(Kind::Bool);
        node(b).i = op == 0x88;
        push(b);
        break;
      }
      case 'J': push(add_int(r_.read<int32_t>("BININT"))); break;
      case 'K': push(add_int(r_.u8("BININT1"))); break;
      case 'M': push(add_int(r_.u16("BININT2"))); break;
      case 0x8a: push(add_int(read_long(r_.u8("LONG1")))); break;
      case 0x8b: push(add_int(read_long(r_.u32("LONG4")))); break;
      case 'G': {
        uint64_t bits = __builtin_bswap64(r_.u64("BINFLOAT"));  // big-endian, unlike the rest
        PickleNode n;
        n.kind = Kind::Float;
        std::memcpy(&n.f, &bits, 8);
        push(add(std::move(n)));
        break;
      }
      case 'X': push(add_string(Kind::String, r_.chars(r_.u32("BINUNICODE"), "BINUNICODE"))); break;
      case 0x8c:
        push(add_string(Kind::String, r_.chars(r_.u8("SHORT_BINUNICODE"), "SHORT_BINUNICODE")));
        break;
      case 0x8d:
        push(add_string(Kind::String, r_.chars(r_.u64("BINUNICODE8"), "BINUNICODE8")));
        break;
      case 'T': push(add_string(Kind::Bytes, r_.chars(r_.u32("BINSTRING"), "BINSTRING"))); break;
      case 'U':
        push(add_string(Kind::Bytes, r_.chars(r_.u8("SHORT_BINSTRING"), "SHORT_BINSTRING")));
        break;
      case 'B': push(add_string(Kind::Bytes, r_.chars(r_.u32("BINBYTES"), "BINBYTES"))); break;
      case 'C':
        push(add_string(Kind::Bytes, r_.chars(r_.u8("SHORT_BINBYTES"), "SHORT_BINBYTES")));
        break;
      case 'q': memo_put(r_.u8("BINPUT")); break;
      case 'r': memo_put(r_.u32("LONG_BINPUT")); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'h': memo_get(r_.u8("BINGET")); break;
      case 'j': memo_get(r_.u32("LONG_BINGET")); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 's': {
        uint32_t value = pop(), key = pop();
        add_to_dict(top(), {key, value});
        break;
      }
      case 'u': {
        std::vector<uint32_t> kv = pop_mark();
        add_to_dict(top(), kv);
        break;
      }
      case 'a': {
        uint32_t value = pop();
        add_to_list(top(), {value});
        break;
      }
      case 'e': {
        std::vector<uint32_t> values = pop_mark();
        add_to_list(top(), values);
        break;
      }
      case 'c': {
        std::string module = read_line("GLOBAL module");
        std::string name = read_line("GLOBAL name");
        global(module + "." + name);
        break;
      }
      case 0x93: {
        uint32_t name = pop(), module = pop();
        global(expect(module, Kind::String, "a module name string").s + "." +
               expect(name, Kind::String, "a global name string").s);
        break;
      }
      case 'R': reduce(); break;
      case 'b': {
        pop();  // the state: attributes such as a state dict's _metadata, which we do not use
        Kind target = node(top()).kind;
        if (target != Kind::Dict && target != Kind::Tensor) bad("BUILD on an unsupported object");
        break;
      }
      case 'Q': persistent_load(); break;
      default: bad("unsupported pickle opcode 0x", hex(op), " (not a torch.save state dict?)");
    }
  }

  static std::string hex(uint8_t v) {
    const char* digits = "0123456789abcdef";
    return {digits[v >> 4], digits[v & 15]};
  }

  std::string read_line(std::string_view field) {
    std::string out;
    for (;;) {
      char c = char(r_.u8(field));
      if (c == '\n') return out;
      if (out.size() >= 256) bad(field, " is too long");
      out += c;
    }
  }

  ByteReader r_;
  const std::string& what_;
  size_t op_pos_ = 0;
  std::vector<PickleNode> nodes_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;
};

}  // namespace

Pickle unpickle(std::span<const std::byte> bytes, const std::string& what) {
  return Unpickler(bytes, what).run();
}

}  // namespace kinema::io
