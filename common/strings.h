// The string helpers more than one tool needs (C++17 has no starts_with / ends_with).
#pragma once
#include <algorithm>
#include <string>
#include <vector>

namespace wr {

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The non-empty items of a separated list ("a,,b," -> {"a", "b"}), as command-line lists are read.
inline std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= s.size()) {
    const size_t end = std::min(s.find(sep, begin), s.size());
    if (end > begin) out.push_back(s.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// The items with sep between them ({"a", "b"}, ", " -> "a, b").
inline std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

}  // namespace wr
