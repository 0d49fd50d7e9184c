// OpenMP's wait policy in wr's programs (common/omp_wait.cpp), as libgomp itself reports what it read at start-up
// (OMP_DISPLAY_ENV=verbose): passive unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT. libgomp's default
// (each waiting thread spins ~300000 times before it sleeps) made `wr-model generate` 20-40x slower beside one busy
// process; bench-busy measures that (docs/PERFORMANCE.md). Settings made in main() come too late for libgomp, so
// this is checked through the programs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/file.h"
#include "tests/test_util.h"

namespace {

// What libgomp printed of its settings when `program --help` started with `env` (after OMP_* and GOMP_* unset).
std::string displayed(const std::string& program, const std::string& env) {
  const std::string out = wr::test::temp_dir() + "/display.txt";
  std::system(("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose " + env + " " + program + " --help > " +
               out + " 2>&1").c_str());
  return wr::read_file(out);
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(OmpWait, ProgramsWaitPassivelyUnlessTheUserChose) {
  for (const char* program : {WR_MODEL_BIN, WR_EVAL_BIN, WR_TRAIN_BIN, WR_DATA_BIN}) {
    const std::string text = displayed(program, "");
    if (!wr::test::contains(text, "GOMP_SPINCOUNT"))
      GTEST_SKIP() << program << " does not run on GNU libgomp (no GOMP_SPINCOUNT in OMP_DISPLAY_ENV): " << text;
    // once: the program restarted itself once, before libgomp started, and libgomp started once
    EXPECT_EQ(count(text, "OPENMP DISPLAY ENVIRONMENT BEGIN"), 1u) << program << ": " << text;
    EXPECT_TRUE(wr::test::contains(text, "OMP_WAIT_POLICY = 'PASSIVE'")) << program << ": " << text;
    EXPECT_TRUE(wr::test::contains(text, "GOMP_SPINCOUNT = '0'")) << program << ": " << text;  // libgomp's own: 300000
  }
  EXPECT_TRUE(wr::test::contains(displayed(WR_MODEL_BIN, "GOMP_SPINCOUNT=1234"), "GOMP_SPINCOUNT = '1234'"));
  const std::string active = displayed(WR_MODEL_BIN, "OMP_WAIT_POLICY=active");
  EXPECT_TRUE(wr::test::contains(active, "OMP_WAIT_POLICY = 'ACTIVE'")) << active;
  // Started through the dynamic loader by name, /proc/self/exe is the loader: no restart, and the program runs.
  const char* loader = "/lib64/ld-linux-x86-64.so.2";
  if (wr::file_exists(loader)) {
    const std::string through = displayed(std::string(loader) + " " + WR_MODEL_BIN, "");
    EXPECT_TRUE(wr::test::contains(through, "wr-model info MODEL")) << through;  // its usage
    EXPECT_FALSE(wr::test::contains(through, "GOMP_SPINCOUNT = '0'")) << through;
  }
}

}  // namespace
