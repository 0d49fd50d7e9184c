// Shared by the libFuzzer targets (tests/fuzz/README.md). The contract they check: bytes from anywhere either
// load or raise wr::Error, whose message names the input; anything else (another exception, a crash, a sanitizer
// report, a hang, an allocation of absurd size) is a bug in the reader.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"

namespace wr::fuzz {

inline std::string bytes(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// A folder of this process's own under $TMPDIR, made once.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    const std::string d = std::string(tmp && *tmp ? tmp : "/tmp") + "/wr-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// A plain write, not wr::write_file_atomic: its fsync and rename on every input would cost most of the fuzzing time.
inline void write_bytes(const std::string& path, const std::string& data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) std::abort();
  std::fclose(f);
}

// Runs f; wr::Error is the clear refusal a bad file should get, and is expected.
template <class F>
void expect_load_or_wr_error(F&& f) {
  try {
    f();
  } catch (const wr::Error&) {
  }
}

}  // namespace wr::fuzz
