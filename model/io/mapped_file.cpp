#include "model/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/file.h"

namespace wr {
namespace {

// The context of a view's storage: one reference to the mapping, dropped with the storage.
void drop_reference(void* ctx) { delete static_cast<std::shared_ptr<const MappedFile>*>(ctx); }

uintptr_t page_size() {
  static const uintptr_t size = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// Hashing 64 MB at a time, each stretch given back once hashed: the hash holds no more of the file than that.
constexpr size_t kHashChunk = size_t{64} << 20;

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", path, ": ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot read ", path, ": ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, S_ISDIR(st.st_mode) ? " is a directory, expected a file" : " is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const char* data = "";
  if (size > 0) {  // mmap refuses a length of 0
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail("cannot map ", path, " into memory: ", std::strerror(err));
    }
    ::madvise(p, size, MADV_SEQUENTIAL);  // read ahead: tensors and the hash go through the file in order
    data = static_cast<const char*>(p);
  }
  ::close(fd);  // the mapping keeps the file
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (size_ > 0) ::munmap(const_cast<char*>(data_), size_);
}

std::string MappedFile::sha256() const {
  Sha256 hash;
  for (size_t at = 0; at < size_; at += kHashChunk) {
    const size_t n = std::min(kHashChunk, size_ - at);
    hash.update(data_ + at, n);
    release(at, n);
  }
  return hash.hex();
}

at::DataPtr MappedFile::data_ptr(uint64_t offset) const {
  // The storage holds a reference to the mapping: a view outlives the MappedFile pointer it came from.
  auto* self = new std::shared_ptr<const MappedFile>(shared_from_this());
  return at::DataPtr(const_cast<char*>(data_) + offset, self, &drop_reference, at::Device(at::kCPU));
}

torch::Tensor MappedFile::view(uint64_t offset, at::IntArrayRef shape, torch::ScalarType dtype) const {
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  const size_t nbytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  at::Storage storage(c10::Storage::use_byte_size_t(), nbytes, data_ptr(offset), /*allocator=*/nullptr,
                      /*resizable=*/false);
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return torch::empty({0}, torch::TensorOptions().dtype(dtype)).set_(storage, 0, shape, strides);
}

void MappedFile::release(uint64_t offset, uint64_t n) const {
  if (offset >= size_ || n == 0) return;
  // Whole pages, those at the ends included: a page shared with a neighbour not yet copied is read again from the
  // file when the neighbour is (the mapping is never written, so nothing is lost).
  const uintptr_t page = page_size();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_ + offset) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(data_ + offset + std::min<uint64_t>(n, size_ - offset));
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void release_if_mapped(const torch::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return;
  const at::DataPtr& storage = t.storage().data_ptr();
  if (storage.get_deleter() != &drop_reference) return;
  const MappedFile& file = **static_cast<const std::shared_ptr<const MappedFile>*>(storage.get_context());
  const char* base = file.bytes().data();
  // A contiguous tensor's own bytes; anything else, its whole storage.
  const char* from = t.is_contiguous() ? static_cast<const char*>(t.data_ptr()) : static_cast<const char*>(storage.get());
  const size_t n = t.is_contiguous() ? static_cast<size_t>(t.numel()) * t.element_size() : t.storage().nbytes();
  if (from < base) return;
  file.release(static_cast<uint64_t>(from - base), n);
}

}  // namespace wr
