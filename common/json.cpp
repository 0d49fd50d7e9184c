#include "common/json.h"

#include <string>

namespace wr {
namespace {

// The byte where nesting first exceeds kMaxJsonDepth, or npos; brackets inside strings do not count.
size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}

}  // namespace

nlohmann::json parse_json(std::string_view text) {
  if (const size_t at = too_deep_at(text); at != std::string_view::npos)
    throw nlohmann::json::parse_error::create(
        101, at + 1, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at byte " + std::to_string(at + 1),
        nullptr);
  return nlohmann::json::parse(text);
}

}  // namespace wr
