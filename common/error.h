// wr's one error type. Library code throws it with a message that names the file, field or URL
// and what was expected; each tool's main catches it, prints one line to stderr and exits non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace wr {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenates its arguments with operator<< and throws wr::Error.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}

}  // namespace wr
