#include "common/file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/error.h"

namespace wr {
namespace {

// Fails naming the final file: what a user knows (the temp file is removed and nothing is replaced).
void write_all(int fd, std::string_view data, const std::string& path) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write ", path, ": ", std::strerror(errno), " (nothing was replaced)");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

const char* file_kind(mode_t mode) {
  return S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
       : S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

// The file a result written to `path` replaces: path itself, or what its symlinks lead to; fails for anything
// that is not (or would not be) a regular file.
std::string output_target(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return path;  // a new file
  if (S_ISLNK(st.st_mode)) {
    if (::stat(path.c_str(), &st) != 0) fail(path, " is a symlink to a missing file; remove it or name another output");
    if (!S_ISREG(st.st_mode)) fail(path, " leads to ", file_kind(st.st_mode), "; results go to regular files only");
    return std::filesystem::canonical(path).string();
  }
  if (!S_ISREG(st.st_mode)) fail(path, " is ", file_kind(st.st_mode), "; results go to regular files only");
  return path;
}

// Temp files of this target left by processes that no longer exist (killed before commit or cleanup).
void remove_stale_temps(const std::string& target) {
  const std::filesystem::path p(target);
  const std::string prefix = p.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(p.parent_path().empty() ? "." : p.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size() ||
        name.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
      continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace

std::string read_file(const std::string& path) {
  if (is_directory(path)) fail(path, " is a directory, expected a file");  // ifstream would open it, then fail to read
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": ", std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("cannot read ", path, ": ", std::strerror(errno));
  return data;
}

void check_output_path(const std::string& path, const std::string& what) {
  const std::string target = output_target(path);
  // The result is written as <name>.tmp.<pid> first, and a CSV is locked through .<name>.lock beside it: both
  // names must fit the file system's limit, or the run would fail after its work.
  const size_t name_bytes = std::filesystem::path(target).filename().string().size();
  if (const size_t room = static_cast<size_t>(NAME_MAX) - std::strlen(".tmp.") - 10; name_bytes > room)
    fail("cannot write ", what, " ", path, ": its file name has ", name_bytes, " bytes; at most ", room,
         " leave room for the temporary file wr writes first");
  auto dir = std::filesystem::path(target).parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir) || ::access(dir.c_str(), W_OK) != 0)
    fail("cannot write ", what, " ", path, ": directory ", dir.string(), " does not exist or is not writable");
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return std::filesystem::weakly_canonical(a) == std::filesystem::weakly_canonical(b);
}

void check_not_an_input(const std::string& output, const std::string& what, const std::vector<std::string>& inputs) {
  if (output.empty()) return;
  for (const auto& input : inputs) {
    if (input.empty() || !file_exists(input)) continue;
    const std::string parent = std::filesystem::path(input).parent_path().string();
    if (same_file(output, input) || (is_directory(output) && !is_directory(input) && same_file(output, parent.empty() ? "." : parent)))
      fail(what, " ", output, " is an input of this run (", input, "); writing it would destroy it");
  }
}

AtomicFile::AtomicFile(const std::string& path)
    : path_(output_target(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {
  remove_stale_temps(path_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create ", tmp_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(std::string_view data) { write_all(fd_, data, path_); }

void AtomicFile::write_at(int64_t offset, std::string_view data) {
  if (::pwrite(fd_, data.data(), data.size(), offset) != static_cast<ssize_t>(data.size()))
    fail("cannot write ", path_, ": ", std::strerror(errno), " (nothing was replaced)");
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("cannot write ", path_, ": fsync: ", std::strerror(errno), " (nothing was replaced)");
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("cannot write ", path_, ": close: ", std::strerror(errno), " (nothing was replaced)");
  rename_durably(tmp_, path_);
  committed_ = true;
}

namespace {

void fsync_directory_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void remove_durably(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return;
    fail("cannot remove ", path, ": ", std::strerror(errno));
  }
  fsync_directory_of(path);
}

void rename_durably(const std::string& from, const std::string& to) {
  int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    fail("cannot fsync ", from, ": ", std::strerror(err));
  }
  ::close(fd);
  if (::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename ", from, " to ", to, ": ", std::strerror(errno));
  fsync_directory_of(to);
}

void write_file_atomic(const std::string& path, std::string_view data) {
  AtomicFile file(path);
  file.write(data);
  file.commit();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }

void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest, &len);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": ", std::strerror(errno));
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail("cannot read ", path, ": ", std::strerror(errno));
  return h.hex();
}

}  // namespace wr
