// File helpers: whole-file reads with errors that name the file, atomic writes (temp file, fsync,
// rename, so a crash never leaves a half-written file under the final name), and SHA-256.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace wr {

std::string read_file(const std::string& path);

// A file written in pieces that appears under its final name only on commit(): data goes to path.tmp.<pid>,
// commit() fsyncs it, renames it over path and fsyncs the directory; destroying it uncommitted removes the temp.
// A symlink is written through (the file it names is replaced, the link stays); a path naming anything but a
// regular file (a directory, a device such as /dev/full, a FIFO) is refused: renaming over it would replace it.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(std::string_view data);
  void write_at(int64_t offset, std::string_view data);  // overwrite already written bytes (a header)
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Makes a finished file durable under its final name: fsync `from`, rename it over `to`, fsync the directory.
// AtomicFile::commit ends with it; so does a download that was appended to across attempts.
void rename_durably(const std::string& from, const std::string& to);

// Removes path if it exists and makes the removal durable (fsync of its directory): a file that must be gone
// before others are replaced (a manifest naming them).
void remove_durably(const std::string& path);

// AtomicFile with one write.
void write_file_atomic(const std::string& path, std::string_view data);
bool file_exists(const std::string& path);
// Fails naming `what` (an option) unless path can be written as a result file: its directory exists and is
// writable, and the path is new or names a regular file (through symlinks). Call before long work.
void check_output_path(const std::string& path, const std::string& what);
// Fails naming `what` (an option or argument) when writing `output` would replace one of `inputs`: the same
// file, or, for an output directory, a file directly inside it (a Hugging Face folder written over the one it
// was read from). Every tool calls it before any work: `convert ck.pt ck.pt` once lost a run's optimizer state.
void check_not_an_input(const std::string& output, const std::string& what, const std::vector<std::string>& inputs);
// Whether the two paths name one file: the same inode when both exist, else the same normalised path.
bool same_file(const std::string& a, const std::string& b);
bool is_directory(const std::string& path);

// Incremental SHA-256 (OpenSSL's EVP interface): for bytes that arrive in pieces (a mapped file, a stream).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // once, at the end

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::string& path);

}  // namespace wr
