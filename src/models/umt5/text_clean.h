// Wan's prompt cleaning before tokenization (wan-spec section 4.2): the parts of ftfy.fix_text
// that change prompts in practice, then HTML unescaping twice, then whitespace collapsing.
#pragma once

#include <string>
#include <string_view>

namespace kinema {

// - full-width forms U+FF01..U+FF5E become ASCII, the ideographic space U+3000 a space;
// - curly quotes become straight quotes, Latin ligatures (U+FB00..U+FB06) their letters;
// - HTML entities are unescaped twice (&amp; &lt; &gt; &quot; &apos; &#39; &nbsp; and numeric
//   &#NNN; / &#xHH;; other named entities are left as they are);
// - every run of Unicode whitespace becomes one space; leading and trailing space is removed.
// Invalid UTF-8 bytes become U+FFFD.
std::string clean_prompt(std::string_view text);

}  // namespace kinema
