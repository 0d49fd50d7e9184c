#include "common/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "common/error.h"
#include "common/file.h"

namespace wr {
namespace {

int open_lock_file(const std::string& path) {
  const std::string lock = lock_file_of(path);
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot open lock file ", lock, ": ", std::strerror(errno));
  return fd;
}

// "pid 123 (wr-train configs/tiny.json) since 2026-12-07T09:30:00Z": what a refused process prints.
std::string holder_line() {
  std::string cmd;
  try {
    cmd = read_file("/proc/self/cmdline");
  } catch (const Error&) {
  }
  for (char& c : cmd) c = c == '\0' ? ' ' : c;
  while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  std::time_t t = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return "pid " + std::to_string(::getpid()) + " (" + cmd + ") since " + date;
}

void record_holder(int fd) {
  const std::string line = holder_line();
  if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, line.data(), line.size(), 0) < 0) {
    // Naming the holder is a courtesy to a refused process; the lock itself is held.
  }
}

}  // namespace

std::string lock_file_of(const std::string& path) {
  if (is_directory(path)) return (std::filesystem::path(path) / ".lock").string();
  const std::filesystem::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".lock")).string();
}

FileLock FileLock::wait(const std::string& path) {
  const int fd = open_lock_file(path);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    fail("cannot lock ", lock_file_of(path), ": ", std::strerror(err));
  }
  record_holder(fd);
  return FileLock(fd);
}

FileLock FileLock::hold_or_fail(const std::string& path, const std::string& what) {
  const int fd = open_lock_file(path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    if (err == EWOULDBLOCK) {
      char buf[512];
      const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
      holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "another process";
    }
    ::close(fd);
    if (err == EWOULDBLOCK)
      fail(what, " ", path, " is in use by ", holder, "; wait for it to finish or choose another");
    fail("cannot lock ", lock_file_of(path), ": ", std::strerror(err));
  }
  record_holder(fd);
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

}  // namespace wr
