// Helpers shared by the tests: the ../shared data folder and a fresh temp directory per test.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

namespace wr::test {

inline std::string shared_path(const std::string& rel) { return std::string(WR_SHARED_DIR) + "/" + rel; }

// Whether the suite runs where ../shared is present and set-up has run (scripts/test sets WR_TEST_STRICT=1 then, as
// in CI): there a test that would skip for want of ../shared or of what set-up installs fails instead, so a broken
// path or a missing package cannot pass as skipped.
inline bool strict() {
  const char* v = std::getenv("WR_TEST_STRICT");
  return v && std::string(v) == "1";
}

// Skips the calling test for a reason set-up or ../shared removes; fails instead under WR_TEST_STRICT=1.
#define WR_SKIP_UNLESS_STRICT(why)                                                                  \
  do {                                                                                              \
    if (wr::test::strict()) FAIL() << why << " (WR_TEST_STRICT=1: ../shared and set-up are expected)"; \
    GTEST_SKIP() << why;                                                                            \
  } while (0)

// Skips the calling test when a ../shared file is absent (it is not on users' machines).
#define WR_REQUIRE_SHARED(rel)                                                                         \
  do {                                                                                                 \
    if (!std::filesystem::exists(wr::test::shared_path(rel)))                                          \
      WR_SKIP_UNLESS_STRICT("needs " << wr::test::shared_path(rel) << " (../shared is absent)");       \
  } while (0)

// A fresh, empty directory named after the running test.
inline std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir =
      std::filesystem::path(WR_TEST_TMP) / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// The wr::Error message f throws, or "" when it throws nothing.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const wr::Error& e) {
    return e.what();
  }
  return "";
}

// A run's telemetry.csv rows with this name and stat, as {step: value}.
inline std::map<int64_t, double> telemetry_series(const std::string& run_dir, const std::string& name, const std::string& stat) {
  std::istringstream in(wr::read_file(run_dir + "/telemetry.csv"));
  std::string line;
  std::map<int64_t, double> out;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string step, n, s, v;
    std::getline(ss, step, ',');
    std::getline(ss, n, ',');
    std::getline(ss, s, ',');
    std::getline(ss, v, ',');
    if (n == name && s == stat) out[std::stoll(step)] = std::stod(v);
  }
  return out;
}

// Removes a per-process fixture folder when the test process ends.
struct RemovedAtExit {
  std::string path;
  ~RemovedAtExit() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A reference script run with the project's .venv Python, the way every cross-check runs the implementation it is
// held against (tests/**/*_reference.py, scripts/peers/). The scripts exit with 3, a message on stderr, when a
// package they need is absent; the caller skips then (WR_SKIP_UNLESS_STRICT, so CI, where set-up installed it, fails).
struct VenvRun {
  std::string skip;  // why the cross-check cannot run: no .venv, or the script's message when it exited with 3
  int code = 0;      // the exit status otherwise (-1: killed by a signal)
  std::string out, err;
};

// script: a path in the source tree; args: appended as given (quote what the shell must not split).
inline VenvRun run_venv_python(const std::string& script, const std::string& args) {
  const std::string python = std::string(WR_SOURCE_DIR) + "/.venv/bin/python";
  VenvRun r;
  if (!wr::file_exists(python)) {
    r.skip = "no " + python + " (scripts/setup creates it)";
    return r;
  }
  static int calls = 0;
  const std::string base = std::string(WR_TEST_TMP) + "/venv_python." + std::to_string(::getpid()) + "." + std::to_string(calls++);
  const int status = std::system(
      (python + " " + WR_SOURCE_DIR + "/" + script + " " + args + " > " + base + ".out 2> " + base + ".err").c_str());
  for (auto [path, text] : {std::pair{base + ".out", &r.out}, std::pair{base + ".err", &r.err}}) {
    if (wr::file_exists(path)) *text = wr::read_file(path);
    std::filesystem::remove(path);
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (r.code == 3) r.skip = r.err.empty() ? script + " exited with 3 (a package it needs is absent)" : r.err;
  return r;
}

}  // namespace wr::test
