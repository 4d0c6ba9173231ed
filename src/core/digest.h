// SHA-256 of files and byte strings (OpenSSL's libcrypto), for the metadata that records which
// exact inputs made a video (an injected noise file, LoRAs, an input image).
#pragma once

#include <string>
#include <string_view>

namespace kinema {

// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

// Lower-case hex SHA-256 of the file's contents, read in blocks; throws naming the file when it
// cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace kinema
