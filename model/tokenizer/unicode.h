// Unicode text helpers the Hugging Face tokenizer pipeline needs, from Debian's libraries: regular expressions
// with Unicode properties (PCRE2, JIT-compiled), normalization forms (ICU), and UTF-8 repair (ICU).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace wr {

// A compiled regular expression in the dialect of the Rust `tokenizers` library (Oniguruma): UTF-8, Unicode
// properties (\p{L}), Unicode-aware \s, lookahead. `where` names the file and field for errors.
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& where);
  // Calls on_match(start, end) for each non-overlapping match, leftmost first, as Rust's find_iter does.
  // `text` must be valid UTF-8 (see valid_utf8).
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;
  // Every match replaced by `with` (no group references), as Rust's replace_all.
  std::string replace_all(std::string_view text, std::string_view with) const;

 private:
  std::shared_ptr<void> code_;  // pcre2_code_8
  std::string where_;
};

// Regex metacharacters escaped, so a literal string can be matched as a pattern.
std::string regex_escape(std::string_view literal);

// UTF-8 with every ill-formed sequence replaced by U+FFFD, one per maximal subpart (the Unicode Standard's
// recommended practice, which Python's bytes.decode(errors="replace") follows); valid text is returned as is.
std::string valid_utf8(std::string_view text);

enum class NormalForm { nfc, nfkc };
std::string normalize_unicode(std::string_view utf8, NormalForm form);

// Unicode code points <-> UTF-8.
void append_utf8(std::string& out, char32_t cp);
// The length in bytes of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte).
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
}

}  // namespace wr
