#include "models/umt5/text_clean.h"

#include <cstdint>
#include <vector>

namespace kinema {
namespace {

std::vector<char32_t> decode_utf8(std::string_view s) {
  std::vector<char32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    auto c = uint8_t(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len > 0 && i + size_t(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      auto cc = uint8_t(s[i + size_t(k)]);
      if ((cc >> 6) != 2) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      i += 1;
    } else {
      out.push_back(cp);
      i += size_t(len);
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Python's str.isspace() set.
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

void fix_characters(const std::vector<char32_t>& in, std::u32string& out) {
  static const char32_t* const kLigatures[] = {U"ff", U"fi", U"fl", U"ffi", U"ffl", U"st", U"st"};
  for (char32_t c : in) {
    if (c >= 0xFF01 && c <= 0xFF5E)
      out += char32_t(c - 0xFF01 + 0x21);
    else if (c == 0x3000)
      out += U' ';
    else if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B)
      out += U'\'';
    else if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F)
      out += U'"';
    else if (c >= 0xFB00 && c <= 0xFB06)
      out += kLigatures[c - 0xFB00];
    else
      out += c;
  }
}

bool parse_entity(const std::u32string& s, size_t amp, char32_t* cp, size_t* len) {
  size_t semi = s.find(U';', amp);
  if (semi == std::u32string::npos || semi - amp > 12) return false;
  std::u32string name = s.substr(amp + 1, semi - amp - 1);
  *len = semi - amp + 1;
  static const std::pair<const char32_t*, char32_t> kNamed[] = {{U"amp", U'&'},   {U"lt", U'<'},
                                                                {U"gt", U'>'},    {U"quot", U'"'},
                                                                {U"apos", U'\''}, {U"nbsp", 0xA0}};
  for (auto& [n, v] : kNamed)
    if (name == n) {
      *cp = v;
      return true;
    }
  if (name.size() >= 2 && name[0] == U'#') {
    bool hex = name[1] == U'x' || name[1] == U'X';
    uint64_t v = 0;
    size_t start = hex ? 2 : 1;
    if (start >= name.size()) return false;
    for (size_t i = start; i < name.size(); ++i) {
      char32_t d = name[i];
      int digit = d >= U'0' && d <= U'9'          ? int(d - U'0')
                  : hex && d >= U'a' && d <= U'f' ? int(d - U'a' + 10)
                  : hex && d >= U'A' && d <= U'F' ? int(d - U'A' + 10)
                                                  : -1;
      if (digit < 0) return false;
      v = v * (hex ? 16 : 10) + uint64_t(digit);
      if (v > 0x10FFFF) return false;
    }
    if (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
    *cp = char32_t(v);
    return true;
  }
  return false;
}

std::u32string unescape_html(const std::u32string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    size_t len;
    if (s[i] == U'&' && parse_entity(s, i, &cp, &len)) {
      out += cp;
      i += len;
    } else {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace

std::string clean_prompt(std::string_view text) {
  std::u32string fixed;
  fix_characters(decode_utf8(text), fixed);
  fixed = unescape_html(unescape_html(fixed));
  std::string out;
  bool pending_space = false;
  for (char32_t c : fixed) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    append_utf8(out, c);
  }
  return out;
}

}  // namespace kinema
