// A model file mapped into memory read-only (mmap, MAP_PRIVATE), for the readers of every format: their tensors
// are views of the mapping (no copy), which load_state_dict copies once into the model's parameters, giving each
// tensor's pages back to the kernel once it is copied. A load then holds the model and about one tensor of the
// file, where reading the file into a string held the file, the tensors copied out of it and the model (3x).
// It does not read, check or convert anything: the formats' readers do (safetensors.cpp, native.cpp,
// llama2c.cpp). A file cut short in place while mapped would fault (SIGBUS) where a read would have seen its old
// bytes; wr replaces files by renaming a new one over them, which leaves a mapped file whole.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wr {

class MappedFile : public std::enable_shared_from_this<MappedFile> {
 public:
  // Fails naming path when it cannot be opened or mapped. The mapping lives while the returned pointer or any
  // view of it does.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // sha256 of the bytes, read in order through the mapping, each stretch given back once hashed.
  std::string sha256() const;
  // A tensor over bytes [offset, offset + numel x element size): the caller has checked that they are in the file.
  // Read-only memory: writing into it is a segmentation fault, so copy a tensor before changing it.
  torch::Tensor view(uint64_t offset, at::IntArrayRef shape, torch::ScalarType dtype) const;
  // The storage of such a view for LibTorch's unpickler, from offset on.
  at::DataPtr data_ptr(uint64_t offset) const;
  // Gives back the pages holding bytes [offset, offset + n) (clipped to the file): they stay readable, read again
  // from the file if touched, and stop counting in the process's memory.
  void release(uint64_t offset, uint64_t n) const;

 private:
  MappedFile(std::string path, const char* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Gives back the pages under t when it is a view of a MappedFile; does nothing for any other tensor.
void release_if_mapped(const torch::Tensor& t);

}  // namespace wr
