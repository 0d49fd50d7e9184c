#include "model/tokenizer/unicode.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <vector>

#include "common/error.h"

namespace wr {
namespace {

// Oniguruma's \s (what the Rust library uses) is Unicode White_Space; PCRE2's with PCRE2_UCP is \p{Zs}, \h and
// \v, which adds U+180E (MONGOLIAN VOWEL SEPARATOR, White_Space no more since Unicode 6.3). Rewritten to an
// explicit class so both agree; inside a class the same set is spliced in.
constexpr const char* kSpaceSet = "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
                                  "\\x{202F}\\x{205F}\\x{3000}";

std::string onig_compatible(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kSpaceSet) : "[" + std::string(kSpaceSet) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kSpaceSet) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // a literal ] first in a class
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct MatchData {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  ~MatchData() { pcre2_match_data_free(md); }
};

pcre2_match_data* thread_match_data() {
  thread_local MatchData data;  // whole-match offsets only; shared by every pattern on this thread
  return data.md;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : where_(where) {
  const std::string translated = onig_compatible(pattern);
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 PCRE2_UTF | PCRE2_UCP, &code, &offset, nullptr);
  if (!re) fail(where, ": cannot compile the regular expression /", pattern, "/: ", pcre2_message(code));
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter where JIT is unavailable
  code_ = std::shared_ptr<void>(re, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); });
}

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
  auto* re = static_cast<pcre2_code*>(code_.get());
  pcre2_match_data* md = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0;
  while (at <= text.size()) {
    const int rc = pcre2_match(re, subject, text.size(), at, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) fail(where_, ": regular expression failed on the text: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t start = ov[0], end = ov[1];
    if (end > start) {
      on_match(start, end);
      at = end;
    } else {  // an empty match is not a split; step over one character
      at = start < text.size() ? start + utf8_length(static_cast<unsigned char>(text[start])) : text.size() + 1;
    }
  }
}

std::string Regex::replace_all(std::string_view text, std::string_view with) const {
  std::string out;
  size_t prev = 0;
  for_each_match(text, [&](size_t start, size_t end) {
    out.append(text.substr(prev, start - prev));
    out.append(with);
    prev = end;
  });
  out.append(text.substr(prev));
  return out;
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-#/ ").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t n = static_cast<int32_t>(text.size());
  bool valid = true;
  for (int32_t i = 0; i < n && valid;) {
    UChar32 c;
    U8_NEXT(s, i, n, c);
    valid = c >= 0;
  }
  if (valid) return std::string(text);
  std::vector<UChar> utf16(text.size() + 1);
  int32_t len = 0;
  UErrorCode err = U_ZERO_ERROR;
  u_strFromUTF8WithSub(utf16.data(), static_cast<int32_t>(utf16.size()), &len, text.data(), n, 0xFFFD, nullptr, &err);
  if (U_FAILURE(err)) fail("cannot repair ill-formed UTF-8: ", u_errorName(err));
  std::string out;
  icu::UnicodeString(false, utf16.data(), len).toUTF8String(out);
  return out;
}

std::string normalize_unicode(std::string_view utf8, NormalForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = form == NormalForm::nfc ? icu::Normalizer2::getNFCInstance(err)
                                                      : icu::Normalizer2::getNFKCInstance(err);
  if (U_FAILURE(err)) fail("ICU normalizer unavailable: ", u_errorName(err));
  const auto in = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  if (n->isNormalized(in, err) && U_SUCCESS(err)) return std::string(utf8);
  err = U_ZERO_ERROR;
  const icu::UnicodeString normalized = n->normalize(in, err);
  if (U_FAILURE(err)) fail("ICU normalization failed: ", u_errorName(err));
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace wr
