#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <vector>

namespace kinema::test {

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open (was the reference data generated? run ctest)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) fail(path, ": not .npy");
  int major = bytes[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    offset = 10;
  } else {
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  }
  std::string header(bytes.data() + offset, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr': *'([^']+)'"))) fail(path, ": no descr");
  std::string descr = m[1];
  if (header.find("'fortran_order': False") == std::string::npos) fail(path, ": fortran order");
  if (!std::regex_search(header, m, std::regex("'shape': *\\(([^)]*)\\)")))
    fail(path, ": no shape");
  std::vector<int64_t> dims;
  std::string shape_text = m[1];
  std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(shape_text.begin(), shape_text.end(), num);
       it != std::sregex_iterator(); ++it)
    dims.push_back(std::stoll(it->str()));
  DType dtype;
  if (descr == "<f4")
    dtype = DType::F32;
  else if (descr == "<f8")
    dtype = DType::F64;
  else if (descr == "<f2")
    dtype = DType::F16;
  else if (descr == "<u2")
    dtype = DType::BF16;
  else if (descr == "<i8")
    dtype = DType::I64;
  else if (descr == "<i4")
    dtype = DType::I32;
  else if (descr == "|u1")
    dtype = DType::U8;
  else
    fail(path, ": unsupported descr ", descr);
  Shape shape(dims);
  size_t data_offset = offset + header_len;
  Tensor t = Tensor::empty(shape, dtype);
  if (bytes.size() - data_offset != t.nbytes()) fail(path, ": size mismatch");
  std::memcpy(t.mutable_raw(), bytes.data() + data_offset, t.nbytes());
  if (dtype == DType::F64) return t.to(DType::F32);
  return t;
}

}  // namespace kinema::test
