#include "core/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace kinema {
namespace {

struct FreeContext {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Context = std::unique_ptr<EVP_MD_CTX, FreeContext>;

Context new_sha256() {
  Context c(EVP_MD_CTX_new());
  if (!c || EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr) != 1)
    fail("cannot start a SHA-256 digest (libcrypto)");
  return c;
}

std::string finish_hex(EVP_MD_CTX* c) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(c, digest, &size) != 1) fail("cannot finish a SHA-256 digest");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Context c = new_sha256();
  if (EVP_DigestUpdate(c.get(), bytes.data(), bytes.size()) != 1) fail("SHA-256 update failed");
  return finish_hex(c.get());
}

std::string sha256_file_hex(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, ": cannot open: ", std::strerror(errno));
  Context c = new_sha256();
  std::vector<unsigned char> block(size_t(1) << 20);
  while (size_t n = std::fread(block.data(), 1, block.size(), f.get()))
    if (EVP_DigestUpdate(c.get(), block.data(), n) != 1) fail("SHA-256 update failed");
  if (std::ferror(f.get())) fail(path, ": read error: ", std::strerror(errno));
  return finish_hex(c.get());
}

}  // namespace kinema
