// Advisory locks between real processes (fork): a waiter gets its turn, a refused writer names the holder.
#include "common/lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "tests/lock_util.h"
#include "tests/test_util.h"

namespace {

using wr::test::hold_lock_in_child;

TEST(FileLock, ASecondWriterIsRefusedNamingTheHolder) {
  const std::string dir = wr::test::temp_dir() + "/run";
  std::filesystem::create_directories(dir);
  const pid_t holder = hold_lock_in_child(dir, 1000);
  const std::string e = wr::test::error_of([&] { wr::FileLock::hold_or_fail(dir, "run.dir"); });
  EXPECT_TRUE(wr::test::contains(e, "run.dir " + dir + " is in use by pid " + std::to_string(holder))) << e;
  EXPECT_TRUE(wr::test::contains(e, "common_tests")) << e;  // the holder's command
  ::waitpid(holder, nullptr, 0);
  // the kernel released it when the holder exited
  EXPECT_EQ(wr::test::error_of([&] { wr::FileLock::hold_or_fail(dir, "run.dir"); }), "");
  EXPECT_TRUE(std::filesystem::exists(dir + "/.lock"));
}

TEST(FileLock, AWaiterGetsTheLockWhenTheHolderLetsGo) {
  const std::string path = wr::test::temp_dir() + "/results.csv";
  const pid_t holder = hold_lock_in_child(path, 300);
  const auto t0 = std::chrono::steady_clock::now();
  { const wr::FileLock lock = wr::FileLock::wait(path); }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(wr::lock_file_of(path), std::filesystem::path(path).parent_path().string() + "/.results.csv.lock");
}

TEST(FileLock, AnUnwritableFolderIsNamed) {
  const std::string e = wr::test::error_of([] { wr::FileLock::wait("/proc/wr-no-such-dir/x.csv"); });
  EXPECT_TRUE(wr::test::contains(e, "cannot open lock file /proc/wr-no-such-dir/.x.csv.lock")) << e;
}

}  // namespace
