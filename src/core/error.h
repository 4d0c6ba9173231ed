// Error type and message building shared by every layer.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace kinema {

// Every user-facing failure is an Error whose message names the file, tensor or field, what was
// expected and what was found, so that the CLI can print it as one line.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A computation produced NaN or inf: a model error that callers may extend with the weight
// behind it (see io/weight_scan.h).
class NonFiniteError : public Error {
 public:
  explicit NonFiniteError(const std::string& message) : Error(message) {}
};

template <class... Parts>
std::string str_cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(str_cat(std::forward<Parts>(parts)...));
}

// `text` as it can be shown in a one-line message: control characters, bytes that are not valid
// UTF-8 and a backslash are written as \xNN escapes, and text longer than `max_bytes` is cut
// with "..." (file contents such as tensor names must never put raw bytes on a terminal).
std::string printable(std::string_view text, size_t max_bytes = 200);

// Internal invariant checks: a failing check is a bug in Kinema, not bad input.
#define KINEMA_CHECK(cond, ...)                                                           \
  do {                                                                                    \
    if (!(cond))                                                                          \
      ::kinema::fail("internal check failed: " #cond " (", __FILE__, ":", __LINE__, ") ", \
                     ##__VA_ARGS__);                                                      \
  } while (0)

}  // namespace kinema
