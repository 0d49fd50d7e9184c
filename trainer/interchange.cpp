#include "trainer/interchange.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/lock.h"
#include "common/strings.h"
#include "model/tokenizer/tokenizer.h"
#include "trainer/corpus.h"
#include "trainer/shards.h"

// The layouts, as their own code writes and reads them:
//   Megatron-LM: megatron-core 0.16.1 (PyPI; the same in NVIDIA/Megatron-LM at d98e8a6),
//     megatron/core/datasets/indexed_dataset.py: _INDEX_HEADER b"MMIDIDX\x00\x00" (line 47); class DType, the
//     dtype codes uint8 1, int8 2, int16 3, int32 4, int64 5, float64 6, float32 7, uint16 8 (50-60), no uint32;
//     DType.optimal_dtype: uint16 for a vocabulary below 65500, else int32 (107-119), which tools/preprocess_data.py
//     passes the tokenizer's vocab_size (line 177); _IndexWriter: the header, version <Q 1, dtype code <B (141-151),
//     then sequence count <Q, document count <Q (= len(document_indices)), sequence lengths int32[], sequence
//     pointers int64[] (byte offsets, each the running sum of lengths x itemsize), document indices int64[] (194-207;
//     _sequence_pointers 209-227); multimodal files add an int8 mode per sequence (210). IndexedDatasetBuilder starts
//     document_indices at [0] and appends the sequence count at each end_document/add_document (962, 995, 1001);
//     IndexedDataset asserts sequence count == document_indices[-1] (674). PREFIX.bin holds the tokens alone.
//   llm.c (karpathy/llm.c at f1e2ace): dev/data/data_common.py HEADERS_INFO (26-37): gpt-2 magic 20240520, version
//     1, uint16; llama-3 magic 20240801, version 7, uint32; write_datafile (39-60): header np.zeros(256, int32),
//     [0] magic, [1] version, [2] token count (asserted < 2^31), the other 253 zero, then the tokens. Readers:
//     llmc/dataloader.h (72-93: magic, version, size == 1024 + count x 2), train_llama3.py (750-772). Documents:
//     dev/data/fineweb.py puts the delimiter first in every document (<|endoftext|> for gpt-2, <|begin_of_text|>
//     for llama-3: lines 67-85) and lets a document run on into the next shard (128-132).

namespace wr {
namespace {

constexpr char kMegatronMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr int32_t kLlmcMagicU16 = 20240520, kLlmcMagicU32 = 20240801;
constexpr int64_t kChunkTokens = int64_t{1} << 20;

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // little-endian hosts only, as shards.cpp
  return v;
}

template <class T>
void append(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// A whole file mapped read-only (nothing mapped for an empty one).
class MappedFile {
 public:
  explicit MappedFile(std::string path) : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open ", path_, ": ", std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(path_, ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        fail("cannot map ", path_, ": ", std::strerror(e));
      }
      data_ = static_cast<const unsigned char*>(map);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const std::string& path() const { return path_; }
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

[[noreturn]] void bad_id(const std::string& file, uint64_t index, int64_t id, int64_t vocab_size) {
  if (id < 0) fail(file, ": token ", index, " is id ", id, ", negative");
  fail(file, ": token ", index, " is id ", id, ", beyond the tokenizer's vocabulary of ", vocab_size);
}

struct MegatronDtype {
  int code;
  const char* name;
  size_t bytes;
  bool integer;
};
constexpr MegatronDtype kMegatronDtypes[] = {{1, "uint8", 1, true},    {2, "int8", 1, true},  {3, "int16", 2, true},
                                             {4, "int32", 4, true},    {5, "int64", 8, true}, {6, "float64", 8, false},
                                             {7, "float32", 4, false}, {8, "uint16", 2, true}};

int64_t megatron_token(const unsigned char* p, int code) {
  switch (code) {
    case 1:
      return *p;
    case 2:
      return static_cast<int8_t>(*p);
    case 3:
      return load<int16_t>(p);
    case 4:
      return load<int32_t>(p);
    case 5:
      return load<int64_t>(p);
    default:
      return load<uint16_t>(p);  // 8
  }
}

std::string strip_megatron_extension(const std::string& path) {
  return ends_with(path, ".bin") || ends_with(path, ".idx") ? path.substr(0, path.size() - 4) : path;
}

// PREFIX, PREFIX.bin, PREFIX.idx or a glob of .idx files -> prefixes, each once, in order.
std::vector<std::string> megatron_prefixes(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    std::vector<std::string> names = {in};
    if (in.find_first_of("*?[") != std::string::npos) {
      names.clear();
      for (const auto& f : expand_inputs({in}))
        if (ends_with(f, ".idx")) names.push_back(f);
      if (names.empty()) fail("input ", in, ": matches no .idx file");
    }
    for (const auto& n : names) {
      const std::string prefix = strip_megatron_extension(n);
      if (std::find(out.begin(), out.end(), prefix) == out.end()) out.push_back(prefix);
    }
  }
  return out;
}

// One llm.c file's header, checked against the file's size.
struct LlmcHeader {
  int32_t magic = 0;
  size_t width = 0;
  int64_t tokens = 0;
};

LlmcHeader check_llmc_header(const MappedFile& f) {
  if (f.size() < kLlmcHeaderBytes) fail(f.path(), ": ", f.size(), " bytes, shorter than llm.c's 1024-byte header");
  LlmcHeader h;
  h.magic = load<int32_t>(f.data());
  const int32_t version = load<int32_t>(f.data() + 4), count = load<int32_t>(f.data() + 8);
  if (h.magic != kLlmcMagicU16 && h.magic != kLlmcMagicU32)
    fail(f.path(), ": magic ", h.magic,
         ", expected 20240520 (uint16 tokens) or 20240801 (uint32 tokens): not an llm.c token file");
  h.width = h.magic == kLlmcMagicU16 ? 2 : 4;
  const int32_t want_version = h.magic == kLlmcMagicU16 ? 1 : 7;
  if (version != want_version)
    fail(f.path(), ": version ", version, ", expected ", want_version, " with magic ", h.magic);
  if (count < 0) fail(f.path(), ": token count ", count, ", negative");
  h.tokens = count;
  if (f.size() != kLlmcHeaderBytes + static_cast<size_t>(count) * h.width)
    fail(f.path(), ": header says ", count, " tokens of ", h.width, " bytes, but the file has ", f.size(),
         " bytes, not ", kLlmcHeaderBytes + static_cast<size_t>(count) * h.width, " (truncated?)");
  return h;
}

bool is_plain_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\0') == std::string::npos && name != "." &&
         name != "..";
}

// The files that an earlier manifest.json (exported: false) or export.json (true) in dir listed: what a new run may
// remove once its own list is written. A damaged list names nothing; only plain names in dir are returned.
std::set<std::string> listed_files(const std::string& dir, bool exported) {
  std::set<std::string> out;
  const std::string path = dir + (exported ? "/export.json" : "/manifest.json");
  if (!file_exists(path)) return out;
  try {
    if (!exported) {
      const nlohmann::json manifest = read_manifest(dir);
      for (const auto& [split, entries] : manifest.at("splits").items())
        for (const auto& e : entries) out.insert(e.at("file").get<std::string>());
      return out;
    }
    const nlohmann::json j = parse_json(read_file(path));
    if (j.contains("tokenizer") && j["tokenizer"].is_string()) out.insert(j["tokenizer"].get<std::string>());
    for (const auto& [split, s] : j.at("splits").items())
      for (const auto& e : s.at("files"))
        if (e.contains("file") && e["file"].is_string()) out.insert(e["file"].get<std::string>());
  } catch (const std::exception&) {
    return {};
  }
  std::set<std::string> plain;
  for (const auto& name : out)
    if (is_plain_name(name)) plain.insert(name);
  return plain;
}

void remove_unlisted(const std::string& dir, const std::set<std::string>& earlier, const std::set<std::string>& now) {
  for (const auto& name : earlier)
    if (!now.count(name)) remove_durably(dir + "/" + name);
}

// Calls f(ids, n, position) over [begin, end) of the stream in chunks.
template <class F>
void for_each_chunk(const TokenStream& stream, int64_t begin, int64_t end, F&& f) {
  std::vector<int64_t> buf(static_cast<size_t>(std::min(kChunkTokens, std::max<int64_t>(end - begin, 1))));
  for (int64_t at = begin; at < end;) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(buf.size()), end - at);
    stream.read(at, n, buf.data());
    f(buf.data(), n, at);
    at += n;
  }
}

nlohmann::json file_entry(const std::string& dir, const std::string& name) {
  return {{"file", name}, {"sha256", sha256_file(dir + "/" + name)}};
}

// One split as PREFIX.bin + PREFIX.idx, a sequence and a document per BOS run.
nlohmann::json export_megatron(const TokenStream& stream, const std::string& out_dir, const std::string& split,
                               int64_t vocab_size, int bos) {
  const bool u16 = vocab_size < 65500;  // DType.optimal_dtype, as preprocess_data.py chooses it
  const uint8_t code = u16 ? 8 : 4;
  const size_t width = u16 ? 2 : 4;
  const std::string bin_name = split + ".bin", idx_name = split + ".idx";
  // An old index over a new .bin would be read without complaint: it goes first, and the new one comes last.
  remove_durably(out_dir + "/" + idx_name);
  std::vector<int32_t> lengths;
  int64_t run = 0;
  {
    AtomicFile bin(out_dir + "/" + bin_name);
    std::string buf;
    for_each_chunk(stream, 0, stream.size(), [&](const int64_t* ids, int64_t n, int64_t at) {
      buf.clear();
      for (int64_t k = 0; k < n; ++k) {
        if (ids[k] == bos && run > 0) {
          lengths.push_back(static_cast<int32_t>(run));
          run = 0;
        }
        if (run == INT32_MAX)
          fail("split ", split, ": the document before token ", at + k, " is longer than 2^31 - 1 tokens, the most a ",
               "Megatron-LM sequence length (int32) holds");
        ++run;
        if (u16)
          append(buf, static_cast<uint16_t>(ids[k]));
        else
          append(buf, static_cast<int32_t>(ids[k]));
      }
      bin.write(buf);
    });
    if (run > 0) lengths.push_back(static_cast<int32_t>(run));
    bin.commit();
  }
  const uint64_t sequences = lengths.size();
  AtomicFile idx(out_dir + "/" + idx_name);
  std::string buf(kMegatronMagic, sizeof(kMegatronMagic));
  append<uint64_t>(buf, 1);              // version
  append<uint8_t>(buf, code);            // dtype code
  append<uint64_t>(buf, sequences);      // sequence count
  append<uint64_t>(buf, sequences + 1);  // document count: len(document_indices), which starts with 0
  auto flush = [&](bool force) {
    if (force || buf.size() >= (8u << 20)) {
      idx.write(buf);
      buf.clear();
    }
  };
  for (int32_t len : lengths) {
    append(buf, len);
    flush(false);
  }
  int64_t pointer = 0;
  for (int32_t len : lengths) {
    append(buf, pointer);
    pointer += static_cast<int64_t>(len) * static_cast<int64_t>(width);
    flush(false);
  }
  for (uint64_t d = 0; d <= sequences; ++d) {
    append(buf, static_cast<int64_t>(d));
    flush(false);
  }
  flush(true);
  idx.commit();
  return {{"tokens", stream.size()},
          {"documents", sequences},
          {"megatron_dtype", u16 ? "uint16" : "int32"},
          {"files", {file_entry(out_dir, bin_name), file_entry(out_dir, idx_name)}}};
}

// One split as SPLIT_NNNNNN.bin, one file per shard, the shard's token width.
nlohmann::json export_llmc(const TokenStream& stream, const std::string& shard_dir, const std::string& out_dir,
                           const std::string& split, int bos) {
  const auto token_bytes = stream.manifest().at("token_bytes").get<uint32_t>();
  const int32_t magic = token_bytes == 2 ? kLlmcMagicU16 : kLlmcMagicU32, version = token_bytes == 2 ? 1 : 7;
  const auto& entries = stream.manifest()["splits"][split];
  nlohmann::json files = nlohmann::json::array();
  int64_t begin = 0, documents = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const int64_t n = entries[i].at("tokens").get<int64_t>();
    if (n > INT32_MAX)
      fail(shard_dir, "/", entries[i].at("file").get<std::string>(), ": ", n, " tokens, more than an llm.c file holds ",
           "(its header counts them in an int32); tokenize with a smaller --shard-tokens");
    char name[64];
    std::snprintf(name, sizeof(name), "%s_%06zu.bin", split.c_str(), i);
    AtomicFile f(out_dir + "/" + name);
    std::string buf(kLlmcHeaderBytes, '\0');
    const int32_t header[3] = {magic, version, static_cast<int32_t>(n)};
    std::memcpy(buf.data(), header, sizeof(header));
    f.write(buf);
    for_each_chunk(stream, begin, begin + n, [&](const int64_t* ids, int64_t count, int64_t at) {
      buf.clear();
      for (int64_t k = 0; k < count; ++k) {
        documents += (at + k == 0 || ids[k] == bos);
        if (token_bytes == 2)
          append(buf, static_cast<uint16_t>(ids[k]));
        else
          append(buf, static_cast<uint32_t>(ids[k]));
      }
      f.write(buf);
    });
    f.commit();
    auto entry = file_entry(out_dir, name);
    entry["tokens"] = n;
    files.push_back(entry);
    begin += n;
  }
  return {{"tokens", stream.size()}, {"documents", documents}, {"files", files}};
}

}  // namespace

TokenFormat token_format_from_name(const std::string& name, const std::string& what) {
  if (name == "megatron") return TokenFormat::megatron;
  if (name == "llmc") return TokenFormat::llmc;
  fail(what, " \"", name, "\": expected \"megatron\" (Megatron-LM's .bin/.idx) or \"llmc\" (llm.c's .bin)");
}

const char* token_format_name(TokenFormat format) { return format == TokenFormat::megatron ? "megatron" : "llmc"; }

void read_megatron(const std::string& prefix_in, int64_t vocab_size, const DocumentSink& document) {
  const std::string prefix = strip_megatron_extension(prefix_in);
  const MappedFile idx(prefix + ".idx"), bin(prefix + ".bin");
  const std::string& ip = idx.path();
  const size_t size = idx.size();
  if (size < kMegatronIndexHeaderBytes) fail(ip, ": ", size, " bytes, shorter than Megatron-LM's 34-byte index header");
  const unsigned char* h = idx.data();
  if (std::memcmp(h, kMegatronMagic, sizeof(kMegatronMagic)) != 0)
    fail(ip, ": magic is not \"MMIDIDX\\0\\0\": not a Megatron-LM index");
  if (const auto version = load<uint64_t>(h + 9); version != 1) fail(ip, ": version ", version, ", expected 1");
  const int code = h[17];
  const MegatronDtype* dtype = nullptr;
  for (const auto& d : kMegatronDtypes)
    if (d.code == code) dtype = &d;
  if (!dtype) fail(ip, ": dtype code ", code, ", not one of Megatron-LM's DType codes 1-8");
  if (!dtype->integer) fail(ip, ": dtype code ", code, " (", dtype->name, "): token ids are integers");
  const auto sequences = load<uint64_t>(h + 18), entries = load<uint64_t>(h + 26);
  // Then int32 lengths and int64 pointers per sequence, int64 per document index, and nothing else.
  const uint64_t body = size - kMegatronIndexHeaderBytes;
  const bool fits = sequences <= body / 12 && entries <= (body - 12 * sequences) / 8;
  if (!fits || body != 12 * sequences + 8 * entries) {
    if (fits && sequences > 0 && body - 12 * sequences - 8 * entries == sequences)
      fail(ip, ": a mode byte per sequence follows the document indices (a multimodal dataset); wr imports token ",
           "documents only");
    fail(ip, ": ", size, " bytes, but its header's sequence count ", sequences, " and document count ", entries,
         " need 34 + 12 x ", sequences, " + 8 x ", entries, " (truncated or damaged?)");
  }
  if (entries == 0) fail(ip, ": document count 0, expected at least 1 (document_indices starts with 0)");
  const unsigned char* lengths = h + kMegatronIndexHeaderBytes;
  const unsigned char* pointers = lengths + 4 * sequences;
  const unsigned char* docs = pointers + 8 * sequences;
  if (const auto first = load<int64_t>(docs); first != 0) fail(ip, ": document_indices[0] is ", first, ", expected 0");
  for (uint64_t d = 1; d < entries; ++d) {
    const auto prev = load<int64_t>(docs + 8 * (d - 1)), cur = load<int64_t>(docs + 8 * d);
    if (cur < prev || static_cast<uint64_t>(cur) > sequences)
      fail(ip, ": document_indices[", d, "] is ", cur, ", expected from ", prev, " to the sequence count ", sequences);
  }
  if (const auto last = load<int64_t>(docs + 8 * (entries - 1)); static_cast<uint64_t>(last) != sequences)
    fail(ip, ": document_indices ends at ", last, ", expected the sequence count ", sequences);
  uint64_t end = 0;  // bytes of .bin that the sequences so far cover
  for (uint64_t s = 0; s < sequences; ++s) {
    const auto length = load<int32_t>(lengths + 4 * s);
    const auto pointer = load<int64_t>(pointers + 8 * s);
    if (length < 0) fail(ip, ": sequence_lengths[", s, "] is ", length, ", negative");
    if (pointer < 0 || static_cast<uint64_t>(pointer) != end)
      fail(ip, ": sequence_pointers[", s, "] is ", pointer, ", expected ", end,
           " (where the sequence before it ends: Megatron-LM writes them back to back)");
    end += static_cast<uint64_t>(length) * dtype->bytes;
    if (end > bin.size())
      fail(bin.path(), ": ", bin.size(), " bytes, but the index's sequences 0 to ", s, " need ", end, " (truncated?)");
  }
  if (end != bin.size())
    fail(bin.path(), ": ", bin.size(), " bytes, but the index's ", sequences, " sequences of ", dtype->name,
         " ids need ", end);
  std::vector<int> ids;
  for (uint64_t d = 0; d + 1 < entries; ++d) {
    const auto first = load<uint64_t>(docs + 8 * d), last = load<uint64_t>(docs + 8 * (d + 1));
    const uint64_t from = first < sequences ? load<uint64_t>(pointers + 8 * first) : end;
    const uint64_t to = last < sequences ? load<uint64_t>(pointers + 8 * last) : end;
    ids.clear();
    for (uint64_t b = from; b < to; b += dtype->bytes) {
      const int64_t id = megatron_token(bin.data() + b, code);
      if (id < 0 || id >= vocab_size) bad_id(bin.path(), b / dtype->bytes, id, vocab_size);
      ids.push_back(static_cast<int>(id));
    }
    if (!ids.empty()) document(ids);
  }
}

void read_llmc(const std::vector<std::string>& files, int64_t vocab_size, int delimiter, const DocumentSink& document) {
  size_t width = 0;
  for (const auto& path : files) {  // every header before the first document
    const LlmcHeader h = check_llmc_header(MappedFile(path));
    if (width == 0) width = h.width;
    if (h.width != width)
      fail(path, ": ", 8 * h.width, "-bit tokens (magic ", h.magic, "), but ", files[0], " has ", 8 * width,
           "-bit ones; one stream has one width");
  }
  std::vector<int> ids;
  for (const auto& path : files) {
    const MappedFile f(path);
    const LlmcHeader h = check_llmc_header(f);  // again: the file may have changed since
    if (h.width != width) fail(path, ": changed while it was read");
    const unsigned char* tokens = f.data() + kLlmcHeaderBytes;
    for (int64_t k = 0; k < h.tokens; ++k) {
      const int64_t id = width == 2 ? int64_t{load<uint16_t>(tokens + 2 * k)} : int64_t{load<uint32_t>(tokens + 4 * k)};
      if (id >= vocab_size) bad_id(path, static_cast<uint64_t>(k), id, vocab_size);
      if (id == delimiter && !ids.empty()) {
        document(ids);
        ids.clear();
      }
      ids.push_back(static_cast<int>(id));
    }
  }
  if (!ids.empty()) document(ids);
}

nlohmann::json export_shards(const ExportOptions& opt) {
  const nlohmann::json manifest = read_manifest(opt.shard_dir);
  const std::string tokenizer_name = manifest.value("tokenizer", "tokenizer.model");
  const std::string tokenizer_bytes = read_shard_tokenizer(opt.shard_dir, manifest);
  const Tokenizer tok = Tokenizer::from_bytes(tokenizer_bytes, opt.shard_dir + "/" + tokenizer_name);
  const int bos = tok.bos_id();
  std::vector<std::string> splits = opt.splits;
  std::vector<std::string> inputs = {opt.shard_dir + "/manifest.json", opt.shard_dir + "/" + tokenizer_name};
  for (const auto& [split, entries] : manifest["splits"].items()) {
    if (opt.splits.empty() && !entries.empty()) splits.push_back(split);
    for (const auto& e : entries) inputs.push_back(opt.shard_dir + "/" + e["file"].get<std::string>());
  }
  if (splits.empty()) fail(opt.shard_dir, "/manifest.json: no split has shards");
  for (const auto& split : splits)
    if (!manifest["splits"].contains(split) || manifest["splits"][split].empty())
      fail(opt.shard_dir, "/manifest.json: split \"", split, "\" has no shards");
  check_not_an_input(opt.out_dir, "--out", inputs);
  // llm.c's file names are wr's shard names: a shard folder is not written into.
  if (file_exists(opt.out_dir + "/manifest.json"))
    fail("--out ", opt.out_dir, " holds a wr shard folder (manifest.json); export into another folder");
  std::filesystem::create_directories(opt.out_dir);
  const FileLock lock = FileLock::hold_or_fail(opt.out_dir, "--out");
  const std::set<std::string> earlier = listed_files(opt.out_dir, true);
  remove_durably(opt.out_dir + "/export.json");  // no list of files until they are all written

  nlohmann::json out_splits = nlohmann::json::object();
  std::set<std::string> written = {tokenizer_name};
  for (const auto& split : splits) {
    const TokenStream stream(opt.shard_dir, split);  // every shard's sha256 and ids checked first
    const int64_t vocab_size = stream.manifest().at("vocab_size").get<int64_t>();
    nlohmann::json s = opt.format == TokenFormat::megatron
                           ? export_megatron(stream, opt.out_dir, split, vocab_size, bos)
                           : export_llmc(stream, opt.shard_dir, opt.out_dir, split, bos);
    int64_t wr_documents = 0;
    for (const auto& e : manifest["splits"][split])
      if (e.contains("documents") && e["documents"].is_number_unsigned()) wr_documents += e["documents"].get<int64_t>();
    s["wr_documents"] = wr_documents;
    for (const auto& f : s["files"]) written.insert(f["file"].get<std::string>());
    out_splits[split] = s;
  }
  write_file_atomic(opt.out_dir + "/" + tokenizer_name, tokenizer_bytes);
  const nlohmann::json out = {
      {"format", token_format_name(opt.format)},
      {"source", opt.shard_dir},
      {"source_manifest_sha256", sha256_file(opt.shard_dir + "/manifest.json")},
      {"tokenizer", tokenizer_name},
      {"tokenizer_sha256", sha256_hex(tokenizer_bytes)},
      {"vocab_size", manifest.at("vocab_size")},
      {"bos_id", bos},
      {"splits", out_splits},
  };
  write_file_atomic(opt.out_dir + "/export.json", out.dump(2) + "\n");
  remove_unlisted(opt.out_dir, earlier, written);
  return out;
}

nlohmann::json import_tokens(const ImportOptions& opt) {
  if (opt.train.empty()) fail("no INPUTS given");
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1)) fail("--val-fraction ", opt.val_fraction, ": expected [0, 1)");
  if (opt.val_fraction > 0 && !opt.val.empty())
    fail("--val and --val-fraction both choose the validation documents; give one");
  if (opt.shard_tokens < 1) fail("--shard-tokens ", opt.shard_tokens, ": expected a positive count");
  const Tokenizer tok = Tokenizer::from_file(opt.tokenizer);
  const int64_t vocab_size = tok.vocab_size();
  auto id_or_none = [](auto get) {
    try {
      return get();
    } catch (const Error&) {
      return -1;
    }
  };
  const int bos = opt.format == TokenFormat::llmc ? tok.bos_id() : id_or_none([&] { return tok.bos_id(); });
  const int eos = id_or_none([&] { return tok.eos_id(); });
  const bool megatron = opt.format == TokenFormat::megatron;
  const std::vector<std::string> train_in = megatron ? megatron_prefixes(opt.train) : expand_inputs(opt.train);
  const std::vector<std::string> val_in = opt.val.empty() ? std::vector<std::string>{}
                                          : megatron      ? megatron_prefixes(opt.val)
                                                          : expand_inputs(opt.val);
  std::vector<std::string> files;
  for (const auto* list : {&train_in, &val_in})
    for (const auto& f : *list) {
      if (megatron) files.push_back(f + ".idx");
      files.push_back(megatron ? f + ".bin" : f);
    }
  check_not_an_input(opt.out_dir, "--out", files);
  if (file_exists(opt.out_dir + "/export.json"))
    fail("--out ", opt.out_dir,
         " holds an export (export.json) whose files shards would replace; import into another folder");
  int64_t input_bytes = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(f, ec);
    if (ec) fail("input ", f, ": ", ec.message());
    input_bytes += static_cast<int64_t>(n);
  }
  std::filesystem::create_directories(opt.out_dir);
  const FileLock lock = FileLock::hold_or_fail(opt.out_dir, "--out");  // as tokenize: two writers would mix shards
  const std::set<std::string> earlier = listed_files(opt.out_dir, false);
  remove_durably(opt.out_dir + "/manifest.json");

  const uint32_t token_bytes = token_bytes_for(static_cast<int>(vocab_size));
  ShardWriter train(opt.out_dir, "train", token_bytes, opt.shard_tokens),
      val(opt.out_dir, "val", token_bytes, opt.shard_tokens);
  int64_t docs = 0, split_docs[2] = {0, 0}, split_tokens[2] = {0, 0};
  bool all_bos = true, all_eos = true;
  const uint64_t threshold = static_cast<uint64_t>(opt.val_fraction * 18446744073709551615.0);
  auto sink = [&](int fixed_split) -> DocumentSink {
    return [&, fixed_split](const std::vector<int>& ids) {
      // by the hash tokenize_corpus.cpp uses, when asked
      const int split =
          fixed_split >= 0 ? fixed_split : mix64(opt.seed ^ mix64(static_cast<uint64_t>(docs))) < threshold;
      (split ? val : train).add_document(ids);
      split_docs[split] += 1;
      split_tokens[split] += static_cast<int64_t>(ids.size());
      all_bos = all_bos && ids.front() == bos;
      all_eos = all_eos && ids.back() == eos;
      ++docs;
    };
  };
  auto read = [&](const std::vector<std::string>& inputs, const DocumentSink& to) {
    if (megatron)
      for (const auto& prefix : inputs) read_megatron(prefix, vocab_size, to);
    else if (!inputs.empty())
      read_llmc(inputs, vocab_size, bos, to);
  };
  read(train_in, sink(opt.val_fraction > 0 ? -1 : 0));
  read(val_in, sink(1));
  if (docs == 0) fail("no tokens in the inputs");
  if (opt.val_fraction > 0 && split_docs[1] == 0)
    fail("no document fell into the validation split (", docs, " documents, --val-fraction ", opt.val_fraction,
         "); raise --val-fraction");

  write_file_atomic(opt.out_dir + "/" + tok.file_name(), tok.model_bytes());
  nlohmann::json inputs = nlohmann::json::object();
  inputs["train"] = train_in;
  inputs["val"] = val_in;
  nlohmann::json manifest = {
      {"format", "wr-shards"},
      {"version", kShardVersion},
      {"token_bytes", token_bytes},
      {"vocab_size", vocab_size},
      {"tokenizer", tok.file_name()},
      {"tokenizer_sha256", sha256_hex(tok.model_bytes())},
      {"bos", all_bos},
      {"eos", all_eos},
      {"imported_from", token_format_name(opt.format)},
      {"inputs", inputs},
      {"input_bytes", input_bytes},
      {"val_fraction", opt.val_fraction},
      {"seed", opt.seed},
      {"documents", {{"train", split_docs[0]}, {"val", split_docs[1]}}},
      {"tokens", {{"train", split_tokens[0]}, {"val", split_tokens[1]}}},
      {"splits", {{"train", train.finish()}, {"val", val.finish()}}},
  };
  write_file_atomic(opt.out_dir + "/manifest.json", manifest.dump(2) + "\n");
  std::set<std::string> listed;
  for (const auto& [split, entries] : manifest["splits"].items())
    for (const auto& e : entries) listed.insert(e["file"].get<std::string>());
  remove_unlisted(opt.out_dir, earlier, listed);
  return manifest;
}

}  // namespace wr
