// A second process holding a lock, for the tests of what a second writer sees.
#pragma once
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/lock.h"

namespace wr::test {

// Forks a child that takes the lock on path, says so through a pipe, holds it for hold_ms and exits; its pid, once
// the lock is held.
inline pid_t hold_lock_in_child(const std::string& path, int hold_ms) {
  int ready[2];
  EXPECT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    const FileLock lock = FileLock::wait(path);
    (void)!::write(ready[1], "x", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    _exit(0);
  }
  ::close(ready[1]);
  char c;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  return pid;
}

}  // namespace wr::test
