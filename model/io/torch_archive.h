// The zip archive torch.save and wr's save_native write (ckpt.pt), checked without LibTorch before LibTorch reads
// it. LibTorch trusts the sizes an archive declares: it allocates a record's declared size before reading it, and
// its unpickler reserves a string's declared length and a memo table sized by the largest memo id, so a file of a
// few bytes could ask for terabytes. Every declared size is checked here against the bytes that hold it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace wr {

struct TorchArchive {
  std::vector<uint64_t> storage_record_sizes;  // the records under <archive>/data/: one per tensor storage
  // Those stored without compression or encryption, by their names inside the archive's folder ("data/0", the
  // names LibTorch's reader takes; the folder is the first record's, as there), with their sizes: their bytes are
  // the tensor's bytes, readable in place.
  std::map<std::string, uint64_t> stored_records;
};

// Fails naming path when the bytes are not a zip archive, a record declares more bytes than its compressed size can
// hold, there is no <archive>/data.pkl, or the pickle has an unknown opcode, an operand running past its end, a memo
// id out of order, or no STOP.
TorchArchive check_torch_archive(std::string_view file, const std::string& path);

}  // namespace wr
