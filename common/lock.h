// Advisory locks between processes (flock(2)) on what two of them may write at once: a results CSV that sweeps
// append to, a training run's directory, a shard folder. The lock is taken on a lock file beside what it guards
// (`.<name>.lock` beside a file, `<dir>/.lock` in a directory), because results are replaced by rename and a lock
// on the old inode would guard nothing. Lock files are never removed: removing one would let a third process lock
// a fresh file while the second still holds the old one. The holder writes its pid and command into the file, so
// a refused process can name it. The kernel drops the lock when the holder exits, however it exits.
#pragma once
#include <string>

namespace wr {

class FileLock {
 public:
  // Blocks until this process holds the lock on `path` (a file or a directory): for short writers that must all
  // get their turn (appending rows).
  static FileLock wait(const std::string& path);
  // Holds the lock on `path` or fails at once with one line naming `what`, the path and the holder: for long
  // writers that must not interleave (a training run, a tokenization).
  static FileLock hold_or_fail(const std::string& path, const std::string& what);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The lock file that guards `path`.
std::string lock_file_of(const std::string& path);

}  // namespace wr
