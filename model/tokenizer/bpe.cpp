#include "model/tokenizer/bpe.h"

#include <atomic>
#include <cstdio>
#include <queue>

#include "common/error.h"
#include "model/tokenizer/unicode.h"

namespace wr {

char32_t byte_to_char(uint8_t b) {
  // Printable bytes stand for themselves; the other 68 take the code points 256, 257, ... in byte order.
  static const auto table = [] {
    std::vector<char32_t> t(256);
    char32_t next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      t[i] = printable ? static_cast<char32_t>(i) : next++;
    }
    return t;
  }();
  return table[b];
}

bool byte_level_decode(std::string_view piece, std::string& bytes) {
  static const auto reverse = [] {
    std::unordered_map<char32_t, uint8_t> r;
    for (int b = 0; b < 256; ++b) r[byte_to_char(static_cast<uint8_t>(b))] = static_cast<uint8_t>(b);
    return r;
  }();
  bytes.clear();
  for (size_t i = 0; i < piece.size();) {
    const auto lead = static_cast<unsigned char>(piece[i]);
    const size_t n = utf8_length(lead);
    if (i + n > piece.size()) return false;
    char32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(piece[i + k]) & 0x3F);
    auto it = reverse.find(cp);
    if (it == reverse.end()) return false;
    bytes += static_cast<char>(it->second);
    i += n;
  }
  return true;
}

Bpe::Bpe(std::unordered_map<std::string, int> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
         BpeOptions options, const std::string& where)
    : vocab_(std::move(vocab)), opt_(options) {
  static std::atomic<uint64_t> models{0};
  model_id_ = ++models;  // names this model in the per-thread word caches (an address can be reused)
  std::string missing;  // byte-level: the bytes without a piece, which encoding drops as the Rust library does
  int n_missing = 0;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(opt_.byte_level ? std::string(1, static_cast<char>(b)) : std::string(name));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    if (opt_.byte_level && byte_ids_[b] < 0) missing += (n_missing++ ? ", " : "") + std::to_string(b);
  }
  if (n_missing > 0)
    std::fprintf(stderr, "wr: note: %s: no piece for %d of the 256 bytes (%s); encoding drops them, as Hugging Face "
                 "tokenizers does\n", where.c_str(), n_missing, missing.c_str());
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
      fail(where, ": model.merges[", rank, "] merges pieces that are not in model.vocab");
    merges_.emplace(pair_key(ia->second, ib->second), Merge{static_cast<int>(rank), iab->second});
  }
}

void Bpe::initial_symbols(std::string_view word, std::vector<int>& ids) const {
  // A character (a byte, when byte_level) without a piece becomes unk_id, or nothing without one, as the Rust
  // library's merge_word does.
  int unk_pending = 0;  // unknown characters not yet emitted (fused when fuse_unk)
  std::string ch;
  for (size_t i = 0; i < word.size();) {
    const size_t n = opt_.byte_level ? 1 : std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    ch.assign(word.substr(i, n));
    i += n;
    int id = -1;
    if (opt_.byte_level) id = byte_ids_[static_cast<unsigned char>(ch[0])];
    else if (auto it = vocab_.find(ch); it != vocab_.end()) id = it->second;
    if (id >= 0) {
      for (; unk_pending > 0; --unk_pending) ids.push_back(opt_.unk_id);
      ids.push_back(id);
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {  // (the Rust library leaves a pending unk in place here too)
        for (char c : ch) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (opt_.unk_id < 0) continue;
    if (opt_.fuse_unk) unk_pending = 1;
    else {
      for (; unk_pending > 0; --unk_pending) ids.push_back(opt_.unk_id);
      unk_pending = 1;
    }
  }
  for (; unk_pending > 0; --unk_pending) ids.push_back(opt_.unk_id);
}

void Bpe::merge_all(std::vector<int>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  struct Symbol {
    int id, prev, next;
    bool alive;
  };
  struct Candidate {
    int rank, pos, new_id;
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Symbol> sym(n);
  std::priority_queue<Candidate> queue;
  for (int i = 0; i < n; ++i) {
    sym[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1, true};
    if (i + 1 < n)
      if (auto m = merges_.find(pair_key(ids[i], ids[i + 1])); m != merges_.end())
        queue.push({m->second.rank, i, m->second.new_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    auto m = merges_.find(pair_key(cur.id, sym[cur.next].id));
    if (m == merges_.end() || m->second.new_id != top.new_id) continue;  // stale: a neighbour changed
    Symbol& right = sym[cur.next];
    cur.id = top.new_id;
    right.alive = false;
    cur.next = right.next;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0)
      if (auto p = merges_.find(pair_key(sym[cur.prev].id, cur.id)); p != merges_.end())
        queue.push({p->second.rank, cur.prev, p->second.new_id});
    if (cur.next >= 0)
      if (auto q = merges_.find(pair_key(cur.id, sym[cur.next].id)); q != merges_.end())
        queue.push({q->second.rank, top.pos, q->second.new_id});
  }
  ids.clear();
  for (int i = 0; i >= 0; i = sym[i].next) ids.push_back(sym[i].id);
}

void Bpe::encode_word(std::string_view word, std::vector<int>& out) const {
  if (word.empty()) return;
  if (opt_.ignore_merges)
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  // Words repeat (Zipf): a per-thread cache of this model's results, as the Rust library keeps one per model.
  thread_local uint64_t cached_model = 0;
  thread_local std::unordered_map<std::string, std::vector<int>> cache;
  if (cached_model != model_id_ || cache.size() > 200000) {
    cache.clear();
    cached_model = model_id_;
  }
  const std::string key(word);
  if (auto it = cache.find(key); it != cache.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  std::vector<int> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge_all(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (word.size() <= 256) cache.emplace(key, std::move(ids));
}

}  // namespace wr
