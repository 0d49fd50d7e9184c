#include "trainer/shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/json.h"

namespace wr {
namespace {

std::string shard_header(uint32_t token_bytes, int64_t tokens, int64_t docs) {
  std::string h(kShardHeaderBytes, '\0');
  std::memcpy(h.data(), kShardMagic, 8);
  uint32_t version = kShardVersion;
  uint64_t t = static_cast<uint64_t>(tokens), d = static_cast<uint64_t>(docs);
  std::memcpy(h.data() + 8, &version, 4);
  std::memcpy(h.data() + 12, &token_bytes, 4);
  std::memcpy(h.data() + 16, &t, 8);
  std::memcpy(h.data() + 24, &d, 8);
  return h;
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\0') == std::string::npos && name != "." &&
         name != "..";
}

}  // namespace

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

ShardWriter::ShardWriter(std::string dir, std::string split, uint32_t token_bytes, int64_t shard_tokens)
    : dir_(std::move(dir)), split_(std::move(split)), token_bytes_(token_bytes), shard_tokens_(shard_tokens) {}

void ShardWriter::open_shard() {
  char name[64];
  std::snprintf(name, sizeof(name), "%s_%06zu.bin", split_.c_str(), done_.size());
  file_name_ = name;
  file_ = std::make_unique<AtomicFile>(dir_ + "/" + file_name_);
  file_->write(shard_header(token_bytes_, 0, 0));  // counts are filled in on close
  tokens_ = docs_ = 0;
}

void ShardWriter::close_shard() {
  file_->write(buffer_);
  buffer_.clear();
  file_->write_at(0, shard_header(token_bytes_, tokens_, docs_));
  file_->commit();
  file_.reset();
  done_.push_back({file_name_, {tokens_, docs_}});
}

void ShardWriter::add_document(const std::vector<int>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (file_ && tokens_ > 0 && tokens_ + n > shard_tokens_) close_shard();
  if (!file_) open_shard();
  const uint64_t id_bound = uint64_t{1} << (8 * token_bytes_);
  for (int id : tokens) {
    if (id < 0 || static_cast<uint64_t>(id) >= id_bound)
      fail(dir_, ": token id ", id, " does not fit ", token_bytes_, "-byte shards (ids below ", id_bound, ")");
    uint32_t v = static_cast<uint32_t>(id);  // little-endian hosts only (x86-64, aarch64)
    buffer_.append(reinterpret_cast<const char*>(&v), token_bytes_);
  }
  tokens_ += n;
  docs_ += 1;
  if (buffer_.size() >= (8u << 20)) {
    file_->write(buffer_);
    buffer_.clear();
  }
}

nlohmann::json ShardWriter::finish() {
  if (file_) close_shard();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [file, counts] : done_)
    out.push_back({{"file", file}, {"tokens", counts.first}, {"documents", counts.second},
                   {"sha256", sha256_file(dir_ + "/" + file)}});
  return out;
}

nlohmann::json read_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  if (!file_exists(path)) fail(path, ": no such file (make shards with `wr-data tokenize --out ", dir, "`)");
  nlohmann::json m;
  try {
    m = parse_json(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  if (!m.is_object() || !m.contains("format") || m["format"] != "wr-shards" || !m.contains("splits") ||
      !m.contains("token_bytes"))
    fail(path, ": not a wr-data manifest (expected \"format\": \"wr-shards\", \"splits\", \"token_bytes\")");
  // The shape every reader relies on, so that a hand-edited or damaged manifest is one line naming the field.
  const auto& token_bytes = m["token_bytes"];
  if (!token_bytes.is_number_unsigned() || (token_bytes.get<uint64_t>() != 2 && token_bytes.get<uint64_t>() != 4))
    fail(path, ": token_bytes is ", token_bytes.dump(), ", expected 2 or 4");
  if (m.contains("version") && m["version"] != kShardVersion)
    fail(path, ": version ", m["version"].dump(), ", expected ", kShardVersion);
  if (m.contains("tokenizer") && (!m["tokenizer"].is_string() || !is_plain_file_name(m["tokenizer"].get<std::string>())))
    fail(path, ": tokenizer is ", m["tokenizer"].dump(), ", expected a file name in the shard folder");
  if (!m["splits"].is_object()) fail(path, ": splits is not an object of split name -> shard list");
  std::set<std::string> files;  // a shard listed twice would double its weight in training
  for (const auto& [split, entries] : m["splits"].items()) {
    if (!entries.is_array()) fail(path, ": splits.", split, " is not a list of shards");
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      const std::string where = path + ": splits." + split + "[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("file") || !e["file"].is_string() || !e.contains("tokens") ||
          !e["tokens"].is_number_unsigned())
        fail(where, " is ", e.dump(), ", expected {\"file\": NAME, \"tokens\": COUNT, ...}");
      const std::string file = e["file"].get<std::string>();
      if (!is_plain_file_name(file)) fail(where, ": file \"", file, "\" is not a file name in the shard folder");
      if (!files.insert(file).second) fail(where, ": file \"", file, "\" is listed twice");
      if (e.contains("sha256") && !e["sha256"].is_string()) fail(where, ": sha256 is not a string");
    }
  }
  return m;
}

std::string read_shard_tokenizer(const std::string& dir, const nlohmann::json& manifest) {
  const std::string path = dir + "/" + manifest.value("tokenizer", "tokenizer.model");
  std::string bytes = read_file(path);
  if (manifest.contains("tokenizer_sha256")) {
    const std::string got = sha256_hex(bytes);
    if (!manifest["tokenizer_sha256"].is_string() || got != manifest["tokenizer_sha256"].get<std::string>())
      fail(path, ": sha256 ", got, " differs from the manifest's tokenizer_sha256 ", manifest["tokenizer_sha256"].dump(),
           " (", dir, "/manifest.json): the shards were made with another tokenizer");
  }
  return bytes;
}

TokenStream::TokenStream(const std::string& dir, const std::string& split) : split_(split) {
  manifest_ = read_manifest(dir);
  token_bytes_ = manifest_["token_bytes"].get<uint32_t>();
  if (!manifest_["splits"].contains(split) || manifest_["splits"][split].empty())
    fail(dir, "/manifest.json: split \"", split, "\" has no shards");
  for (const auto& entry : manifest_["splits"][split]) {
    Shard s;
    s.path = dir + "/" + entry.at("file").get<std::string>();
    int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open shard ", s.path, ": ", std::strerror(errno));
    struct stat st;
    ::fstat(fd, &st);
    s.map_bytes = static_cast<size_t>(st.st_size);
    if (s.map_bytes < kShardHeaderBytes) {
      ::close(fd);
      fail(s.path, ": ", s.map_bytes, " bytes, shorter than the 32-byte shard header");
    }
    s.map = ::mmap(nullptr, s.map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (s.map == MAP_FAILED) fail("cannot map shard ", s.path, ": ", std::strerror(errno));
    shards_.push_back(s);  // owned from here on, so the destructor unmaps it on any error below
    const auto* h = static_cast<const unsigned char*>(s.map);
    uint32_t version, tb;
    uint64_t tokens;
    std::memcpy(&version, h + 8, 4);
    std::memcpy(&tb, h + 12, 4);
    std::memcpy(&tokens, h + 16, 8);
    if (std::memcmp(h, kShardMagic, 8) != 0) fail(s.path, ": not a wr token shard (bad magic)");
    if (version != kShardVersion) fail(s.path, ": shard version ", version, ", expected ", kShardVersion);
    if (tb != token_bytes_) fail(s.path, ": ", tb, " bytes per token, manifest says ", token_bytes_);
    if (tokens > (s.map_bytes - kShardHeaderBytes) / tb || kShardHeaderBytes + tokens * tb != s.map_bytes)
      fail(s.path, ": header says ", tokens, " tokens but the file has ", s.map_bytes, " bytes (truncated?)");
    if (static_cast<int64_t>(tokens) != entry.at("tokens").get<int64_t>())
      fail(s.path, ": ", tokens, " tokens, manifest says ", entry.at("tokens").get<int64_t>());
    auto& back = shards_.back();
    back.tokens = h + kShardHeaderBytes;
    back.begin = total_;
    back.size = static_cast<int64_t>(tokens);
    total_ += back.size;
  }
  verify_shards(dir);
}

// Every shard against its manifest entry before any token is used: the sha256 (a shard changed or replaced
// after wr-data wrote it) and every id below the tokenizer's vocabulary (an out-of-range id would otherwise die
// inside the embedding lookup, naming no file). One pass over the mapped bytes, shards in parallel.
void TokenStream::verify_shards(const std::string& dir) const {
  if (!manifest_.contains("vocab_size") || !manifest_["vocab_size"].is_number_integer())
    fail(dir, "/manifest.json: no integer vocab_size (made by wr-data tokenize?)");
  const int64_t vocab = manifest_["vocab_size"].get<int64_t>();
  const auto& entries = manifest_["splits"][split_];
  std::vector<std::string> problems(shards_.size());
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < shards_.size(); ++i) {
    const Shard& s = shards_[i];
    const std::string want = entries[i].value("sha256", "");
    const std::string got = sha256_hex({static_cast<const char*>(s.map), s.map_bytes});
    if (!want.empty() && got != want) {
      problems[i] = s.path + ": sha256 " + got + " differs from the manifest's " + want + " (" + dir + "/manifest.json)";
      continue;
    }
    for (int64_t k = 0; k < s.size; ++k) {
      const int64_t id = token_at(s, k);
      if (id >= vocab) {
        problems[i] = s.path + ": token " + std::to_string(k) + " is id " + std::to_string(id) + ", beyond the vocabulary of " +
                      std::to_string(vocab) + " (" + dir + "/manifest.json)";
        break;
      }
    }
  }
  for (const auto& p : problems)
    if (!p.empty()) fail(p);
}

TokenStream::~TokenStream() {
  for (auto& s : shards_)
    if (s.map && s.map != MAP_FAILED) ::munmap(s.map, s.map_bytes);
}

void TokenStream::read(int64_t offset, int64_t n, int64_t* out) const {
  if (offset < 0 || n < 0 || offset + n > total_) fail("token range [", offset, ", ", offset + n, ") outside the stream of ", total_);
  size_t i = 0;
  while (i + 1 < shards_.size() && shards_[i + 1].begin <= offset) ++i;
  for (int64_t k = 0; k < n; ++i) {
    const Shard& s = shards_[i];
    for (int64_t p = offset + k - s.begin; p < s.size && k < n; ++p, ++k) out[k] = token_at(s, p);
  }
}

int64_t TokenStream::token_at(const Shard& s, int64_t p) const {
  if (token_bytes_ == 2) {
    uint16_t v;
    std::memcpy(&v, s.tokens + 2 * p, 2);
    return v;
  }
  uint32_t v;
  std::memcpy(&v, s.tokens + 4 * p, 4);
  return v;
}

DataMode data_mode_from_name(const std::string& name, const std::string& what) {
  if (name == "random") return DataMode::random;
  if (name == "sequential") return DataMode::sequential;
  fail(what, " \"", name, "\": expected \"random\" or \"sequential\"");
}

int64_t window_offset(DataMode mode, uint64_t seed, int64_t batch, int64_t rows, int64_t row, int64_t window,
                      int64_t stream_size) {
  if (window > stream_size) fail("the token stream has ", stream_size, " tokens, fewer than one window of ", window);
  if (mode == DataMode::random) {
    uint64_t h = mix64(mix64(seed) ^ mix64(static_cast<uint64_t>(batch) * 0x100000001b3ULL + static_cast<uint64_t>(row)));
    return static_cast<int64_t>(h % static_cast<uint64_t>(stream_size - window + 1));
  }
  const int64_t stride = window - 1;  // sequential
  const int64_t per_pass = (stream_size - 1) / stride;  // whole windows in one pass over the stream
  return ((batch * rows + row) % per_pass) * stride;
}

}  // namespace wr
