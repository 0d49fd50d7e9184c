#include "model/tokenizer/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/json.h"
#include "common/json_number.h"
#include "model/tokenizer/bpe.h"
#include "model/tokenizer/unicode.h"

namespace wr {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxId = 100'000'000;  // far above any real vocabulary; ids must fit an int

// A piece of text on its way through the pipeline, and whether it begins the original text (Metaspace's
// prepend_scheme "first" looks at that, as the Rust library looks at the piece's original offset 0).
struct Piece {
  std::string text;
  bool at_start;
};
using Pieces = std::vector<Piece>;
using Normalizer = std::function<std::string(std::string)>;
using PreTokenizer = std::function<void(Pieces&)>;
using Decoder = std::function<void(std::vector<std::string>&)>;  // one step of the decode chain, on token strings

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// The Rust library's NormalizedString::split: the text cut at `matches` (sorted, non-overlapping), the cuts
// joined per `behavior`, empty pieces dropped.
void split_by(const Piece& in, const std::vector<std::pair<size_t, size_t>>& matches, Behavior behavior, bool invert,
              Pieces& out) {
  struct Cut {
    size_t start, end;
    bool is_match;
  };
  std::vector<Cut> cuts;
  size_t prev = 0;
  for (auto [s, e] : matches) {
    if (s > prev) cuts.push_back({prev, s, invert});
    cuts.push_back({s, e, !invert});
    prev = e;
  }
  if (prev < in.text.size() || cuts.empty()) cuts.push_back({prev, in.text.size(), invert});

  std::vector<Cut> kept;  // is_match now means "remove"
  bool previous_match = false;
  switch (behavior) {
    case Behavior::removed: kept = cuts; break;
    case Behavior::isolated:
      for (auto c : cuts) kept.push_back({c.start, c.end, false});
      break;
    case Behavior::contiguous:
      for (auto c : cuts) {
        if (c.is_match == previous_match && !kept.empty()) kept.back().end = c.end;
        else kept.push_back({c.start, c.end, false});
        previous_match = c.is_match;
      }
      break;
    case Behavior::merged_with_previous:
      for (auto c : cuts) {
        if (c.is_match && !previous_match && !kept.empty()) kept.back().end = c.end;
        else kept.push_back({c.start, c.end, false});
        previous_match = c.is_match;
      }
      break;
    case Behavior::merged_with_next:
      for (auto it = cuts.rbegin(); it != cuts.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) kept.back().start = it->start;
        else kept.push_back({it->start, it->end, false});
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  for (const auto& c : kept)
    if (!c.is_match && c.end > c.start)
      out.push_back({in.text.substr(c.start, c.end - c.start), in.at_start && c.start == 0});
}

void split_all(Pieces& pieces, const Regex& re, Behavior behavior, bool invert) {
  Pieces out;
  out.reserve(pieces.size() * 4);
  std::vector<std::pair<size_t, size_t>> matches;
  for (const auto& p : pieces) {
    matches.clear();
    re.for_each_match(p.text, [&](size_t s, size_t e) { matches.emplace_back(s, e); });
    split_by(p, matches, behavior, invert, out);
  }
  pieces = std::move(out);
}

std::string replace_literal(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  size_t prev = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, prev)) {
    out.append(text, prev, at - prev).append(to);
    prev = at + from.size();
  }
  return out.append(text, prev, std::string::npos);
}

// GPT-2's pre-tokenization regex, which ByteLevel applies when use_regex is set.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct AddedToken {
  std::string content;
  int id;
  bool special;
};

// Added tokens matched in text leftmost-longest, as the library's Aho-Corasick automaton does.
class AddedTokenMatcher {
 public:
  void add(const AddedToken& t) {
    by_first_byte_[static_cast<unsigned char>(t.content[0])].push_back(t);
    auto& bucket = by_first_byte_[static_cast<unsigned char>(t.content[0])];
    std::stable_sort(bucket.begin(), bucket.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  }
  bool empty() const {
    return std::all_of(by_first_byte_.begin(), by_first_byte_.end(), [](const auto& b) { return b.empty(); });
  }
  // Calls on_text(piece start, piece end) for the text between tokens and on_token(id) for each token, in order.
  void split(const std::string& text, const std::function<void(size_t, size_t)>& on_text,
             const std::function<void(int)>& on_token) const {
    size_t prev = 0;
    for (size_t i = 0; i < text.size();) {
      const AddedToken* hit = nullptr;
      for (const auto& t : by_first_byte_[static_cast<unsigned char>(text[i])])
        if (text.compare(i, t.content.size(), t.content) == 0) {
          hit = &t;
          break;
        }
      if (!hit) {
        ++i;
        continue;
      }
      if (i > prev) on_text(prev, i);
      on_token(hit->id);
      i += hit->content.size();
      prev = i;
    }
    if (text.size() > prev) on_text(prev, text.size());
  }

 private:
  std::array<std::vector<AddedToken>, 256> by_first_byte_;
};

class HfTokenizer final : public TokenizerImpl {
 public:
  HfTokenizer(const std::string& bytes, const std::string& source);

  std::vector<int> encode(const std::string& raw) const override {
    const std::string text = valid_utf8(raw);
    std::vector<int> ids;
    raw_tokens_.split(
        text,
        [&](size_t start, size_t end) {
          const std::string normalized = normalize(text.substr(start, end - start));
          normalized_tokens_.split(
              normalized,
              [&](size_t s, size_t e) {
                Pieces pieces = {{normalized.substr(s, e - s), start == 0 && s == 0}};
                for (const auto& step : pre_tokenizers_) step(pieces);
                for (const auto& p : pieces) bpe_->encode_word(p.text, ids);
              },
              [&](int id) { ids.push_back(id); });
        },
        [&](int id) { ids.push_back(id); });
    return ids;
  }

  std::string decode(const std::vector<int>& ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
      if (id < 0 || id >= static_cast<int>(tokens_.size()) || !known_[id])
        fail(source_, ": cannot decode id ", id, ": not in the vocabulary (", tokens_.size(), " ids)");
      tokens.push_back(tokens_[id]);
    }
    for (const auto& step : decoders_) step(tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    // The ByteLevel decoder joins the bytes and repairs what is not UTF-8 (Rust's from_utf8_lossy): ids can end in
    // the middle of a character, or lack one of its bytes where the vocabulary has no piece for it.
    return byte_level_decoder_ ? valid_utf8(out) : out;
  }

  std::string piece(int id) const override {
    if (id < 0 || id >= static_cast<int>(pieces_.size())) return "";
    return pieces_[id];
  }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  int bos_id() const override { return bos_; }
  int template_bos() const override { return template_bos_; }
  int eos_id() const override { return eos_; }

 private:
  std::string normalize(std::string text) const {
    for (const auto& n : normalizers_) text = n(std::move(text));
    return text;
  }
  void read_normalizer(const json& j, const std::string& at);
  void read_pre_tokenizer(const json& j, const std::string& at);
  void read_model(const json& j, const std::string& at);
  void read_decoder(const json& j, const std::string& at);
  void read_post_processor(const json& j, const std::string& at);
  void read_added_tokens(const json& j);
  [[noreturn]] void unsupported(const std::string& at, const json& j, const char* supported) const {
    fail(source_, ": ", at, ": unsupported ", j.is_object() ? "type '" + j.value("type", std::string("?")) + "'" : j.dump(),
         " (wr implements ", supported, ")");
  }
  Behavior behavior(const json& j, const std::string& at) const;
  std::string field_string(const json& j, const std::string& key, const std::string& at) const {
    if (!j.contains(key) || !j.at(key).is_string()) fail(source_, ": ", at, ".", key, ": expected a string");
    return j.at(key).get<std::string>();
  }

  std::string source_;
  std::vector<Normalizer> normalizers_;
  std::vector<PreTokenizer> pre_tokenizers_;
  std::vector<Decoder> decoders_;
  bool byte_level_ = false;          // a ByteLevel pre-tokenizer: the model's symbols are bytes
  bool byte_level_decoder_ = false;  // a ByteLevel decoder
  std::optional<Bpe> bpe_;
  AddedTokenMatcher raw_tokens_, normalized_tokens_;
  std::vector<std::string> tokens_;  // id -> what decoding starts from (raw bytes for byte-level pieces)
  std::vector<std::string> pieces_;  // id -> the piece as the file writes it
  std::vector<bool> known_;
  int bos_ = -1, eos_ = -1;
  int template_bos_ = -1;  // the post-processor's token before the text
};

Behavior HfTokenizer::behavior(const json& j, const std::string& at) const {
  static const std::map<std::string, Behavior> names = {{"Removed", Behavior::removed},
                                                        {"Isolated", Behavior::isolated},
                                                        {"MergedWithPrevious", Behavior::merged_with_previous},
                                                        {"MergedWithNext", Behavior::merged_with_next},
                                                        {"Contiguous", Behavior::contiguous}};
  auto it = names.find(j.value("behavior", std::string()));
  if (it == names.end()) fail(source_, ": ", at, ".behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
  return it->second;
}

void HfTokenizer::read_normalizer(const json& j, const std::string& at) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    const auto& list = j.at("normalizers");
    for (size_t i = 0; i < list.size(); ++i) read_normalizer(list[i], at + ".normalizers[" + std::to_string(i) + "]");
  } else if (type == "Prepend") {
    const std::string prefix = field_string(j, "prepend", at);
    normalizers_.push_back([prefix](std::string s) { return s.empty() ? s : prefix + s; });
  } else if (type == "Replace") {
    const json& pattern = j.at("pattern");
    const std::string content = field_string(j, "content", at);
    if (pattern.contains("String")) {
      const std::string from = pattern.at("String").get<std::string>();
      normalizers_.push_back([from, content](std::string s) { return replace_literal(std::move(s), from, content); });
    } else if (pattern.contains("Regex")) {
      auto re = std::make_shared<Regex>(pattern.at("Regex").get<std::string>(), source_ + ": " + at);
      normalizers_.push_back([re, content](std::string s) { return re->replace_all(s, content); });
    } else {
      fail(source_, ": ", at, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
    }
  } else if (type == "NFC" || type == "NFKC") {
    const NormalForm form = type == "NFC" ? NormalForm::nfc : NormalForm::nfkc;
    normalizers_.push_back([form](std::string s) { return normalize_unicode(s, form); });
  } else {
    unsupported(at, j, "normalizers Sequence, Prepend, Replace, NFC, NFKC");
  }
}

void HfTokenizer::read_pre_tokenizer(const json& j, const std::string& at) {
  if (j.is_null()) return;
  if (byte_level_) fail(source_, ": ", at, ": a pre-tokenizer after ByteLevel is not supported (it would see mapped bytes)");
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    const auto& list = j.at("pretokenizers");
    for (size_t i = 0; i < list.size(); ++i) read_pre_tokenizer(list[i], at + ".pretokenizers[" + std::to_string(i) + "]");
  } else if (type == "Split") {
    const json& pattern = j.at("pattern");
    std::string regex;
    if (pattern.contains("String")) regex = regex_escape(pattern.at("String").get<std::string>());
    else if (pattern.contains("Regex")) regex = pattern.at("Regex").get<std::string>();
    else fail(source_, ": ", at, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
    auto re = std::make_shared<Regex>(regex, source_ + ": " + at);
    const Behavior b = behavior(j, at);
    const bool invert = j.value("invert", false);
    pre_tokenizers_.push_back([re, b, invert](Pieces& p) { split_all(p, *re, b, invert); });
  } else if (type == "Digits") {
    auto re = std::make_shared<Regex>("\\p{N}", source_ + ": " + at);  // Rust's char::is_numeric
    const Behavior b = j.value("individual_digits", false) ? Behavior::isolated : Behavior::contiguous;
    pre_tokenizers_.push_back([re, b](Pieces& p) { split_all(p, *re, b, false); });
  } else if (type == "ByteLevel") {
    const bool add_prefix_space = j.value("add_prefix_space", true);
    if (add_prefix_space)
      pre_tokenizers_.push_back([](Pieces& p) {
        for (auto& piece : p)
          if (piece.text.empty() || piece.text[0] != ' ') piece.text.insert(0, " ");
      });
    if (j.value("use_regex", true)) {
      auto re = std::make_shared<Regex>(kGpt2Pattern, source_ + ": " + at);
      pre_tokenizers_.push_back([re](Pieces& p) { split_all(p, *re, Behavior::isolated, false); });
    }
    byte_level_ = true;  // the mapping to GPT-2's alphabet is implicit: the model works on the bytes themselves
  } else if (type == "Metaspace") {
    const std::string replacement = field_string(j, "replacement", at);
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      fail(source_, ": ", at, ".prepend_scheme: expected always, first or never");
    const bool split = j.value("split", true);
    auto re = std::make_shared<Regex>(regex_escape(replacement), source_ + ": " + at);
    pre_tokenizers_.push_back([replacement, scheme, split, re](Pieces& p) {
      for (auto& piece : p) {
        piece.text = replace_literal(std::move(piece.text), " ", replacement);
        const bool starts = piece.text.compare(0, replacement.size(), replacement) == 0;
        if (!starts && (scheme == "always" || (scheme == "first" && piece.at_start))) piece.text.insert(0, replacement);
      }
      if (split) split_all(p, *re, Behavior::merged_with_next, false);
    });
  } else {
    unsupported(at, j, "pre-tokenizers Sequence, Split, Digits, ByteLevel, Metaspace");
  }
}

void HfTokenizer::read_model(const json& j, const std::string& at) {
  if (!j.is_object() || j.value("type", "BPE") != "BPE") unsupported(at, j, "the BPE model");
  for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
    if (j.contains(key) && !j.at(key).is_null() && !(j.at(key).is_string() && j.at(key).get<std::string>().empty()))
      fail(source_, ": ", at, ".", key, " is set: wr implements BPE without it");
  BpeOptions opt;
  opt.byte_level = byte_level_;
  opt.byte_fallback = j.value("byte_fallback", false);
  opt.ignore_merges = j.value("ignore_merges", false);
  opt.fuse_unk = j.value("fuse_unk", false);
  if (opt.byte_level && opt.byte_fallback) fail(source_, ": ", at, ": byte_fallback with a ByteLevel pre-tokenizer");

  std::unordered_map<std::string, int> vocab;
  std::string bytes;
  for (const auto& [piece, id_json] : j.at("vocab").items()) {
    // json_integer: 2.5 or 2^40 would otherwise be taken as 2 or wrap to 0
    const int id = static_cast<int>(json_integer(id_json, source_ + ": " + at + ".vocab[\"" + piece + "\"]", 0, kMaxId));
    if (static_cast<size_t>(id) < known_.size() && known_[id])
      fail(source_, ": ", at, ".vocab: id ", id, " belongs to both \"", pieces_[id], "\" and \"", piece, "\"");
    if (static_cast<size_t>(id) >= tokens_.size()) {
      tokens_.resize(id + 1);
      pieces_.resize(id + 1);
      known_.resize(id + 1);
    }
    pieces_[id] = piece;
    known_[id] = true;
    // A byte-level piece is kept as its bytes; one outside GPT-2's alphabet cannot be produced by encoding,
    // and decodes as its own UTF-8, as the library's ByteLevel decoder does.
    tokens_[id] = opt.byte_level && byte_level_decode(piece, bytes) ? bytes : piece;
    if (!opt.byte_level || byte_level_decode(piece, bytes)) vocab.emplace(tokens_[id], id);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  std::set<std::pair<std::string, std::string>> seen_merges;  // a repeated merge would take a second rank
  const auto& list = j.at("merges");
  merges.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    std::pair<std::string, std::string> m;
    if (list[i].is_string()) {  // "a b"
      const std::string s = list[i].get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(source_, ": ", at, ".merges[", i, "]: expected two pieces separated by one space");
      m = {s.substr(0, space), s.substr(space + 1)};
    } else if (list[i].is_array() && list[i].size() == 2) {  // ["a", "b"]
      m = {list[i][0].get<std::string>(), list[i][1].get<std::string>()};
    } else {
      fail(source_, ": ", at, ".merges[", i, "]: expected \"a b\" or [\"a\", \"b\"]");
    }
    if (opt.byte_level) {
      std::string a, b;
      if (!byte_level_decode(m.first, a) || !byte_level_decode(m.second, b))
        fail(source_, ": ", at, ".merges[", i, "]: a piece outside the byte-level alphabet");
      m = {a, b};
    }
    if (!seen_merges.insert(m).second) fail(source_, ": ", at, ".merges[", i, "] repeats an earlier merge");
    merges.push_back(std::move(m));
  }
  if (j.contains("unk_token") && j.at("unk_token").is_string()) {
    auto it = vocab.find(j.at("unk_token").get<std::string>());
    if (it == vocab.end()) fail(source_, ": ", at, ".unk_token is not in the vocabulary");
    opt.unk_id = it->second;
  }
  bpe_.emplace(std::move(vocab), merges, opt, source_ + ": " + at);
}

void HfTokenizer::read_added_tokens(const json& list) {
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    const std::string at = "added_tokens[" + std::to_string(i) + "]";
    for (const char* flag : {"single_word", "lstrip", "rstrip"})
      if (t.value(flag, false)) fail(source_, ": ", at, ".", flag, " is true: wr implements added tokens without it");
    if (!t.contains("id")) fail(source_, ": ", at, ": no id");
    AddedToken token{field_string(t, "content", at), static_cast<int>(json_integer(t.at("id"), source_ + ": " + at + ".id", 0, kMaxId)),
                     t.value("special", false)};
    if (token.content.empty()) fail(source_, ": ", at, ": expected a non-empty content");
    // An added token may repeat a vocabulary piece under its own id (special tokens usually do); another content
    // under a taken id would make encode and decode disagree.
    if (static_cast<size_t>(token.id) < known_.size() && known_[token.id] && pieces_[token.id] != token.content)
      fail(source_, ": ", at, ": id ", token.id, " is \"", token.content, "\" here and \"", pieces_[token.id], "\" already");
    if (static_cast<size_t>(token.id) >= tokens_.size()) {
      tokens_.resize(token.id + 1);
      pieces_.resize(token.id + 1);
      known_.resize(token.id + 1);
    }
    std::string bytes;
    // Decoding passes added tokens through the decoders too: under ByteLevel their characters map to bytes.
    tokens_[token.id] = byte_level_decoder_ && byte_level_decode(token.content, bytes) ? bytes : token.content;
    pieces_[token.id] = token.content;
    known_[token.id] = true;
    (t.value("normalized", !token.special) ? normalized_tokens_ : raw_tokens_).add(token);
  }
}

void HfTokenizer::read_decoder(const json& j, const std::string& at) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    const auto& list = j.at("decoders");
    for (size_t i = 0; i < list.size(); ++i) read_decoder(list[i], at + ".decoders[" + std::to_string(i) + "]");
  } else if (type == "ByteLevel") {
    if (!byte_level_) fail(source_, ": ", at, ": a ByteLevel decoder without a ByteLevel pre-tokenizer is not supported");
    byte_level_decoder_ = true;  // byte-level pieces are already held as bytes
  } else if (byte_level_) {
    fail(source_, ": ", at, ": decoder '", type, "' beside a ByteLevel pre-tokenizer is not supported");
  } else if (type == "Replace") {
    const json& pattern = j.at("pattern");
    if (!pattern.contains("String")) fail(source_, ": ", at, ".pattern: wr implements the String pattern");
    const std::string from = pattern.at("String").get<std::string>(), to = field_string(j, "content", at);
    decoders_.push_back([from, to](std::vector<std::string>& t) {
      for (auto& s : t) s = replace_literal(std::move(s), from, to);
    });
  } else if (type == "ByteFallback") {
    decoders_.push_back([](std::vector<std::string>& tokens) {
      std::vector<std::string> out;
      std::string bytes;
      int byte_count = 0;
      auto flush = [&] {
        if (byte_count == 0) return;
        if (valid_utf8(bytes) == bytes) out.push_back(bytes);
        else for (int k = 0; k < byte_count; ++k) out.push_back("\xEF\xBF\xBD");  // one U+FFFD per byte
        bytes.clear();
        byte_count = 0;
      };
      for (auto& t : tokens) {
        if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
            std::isxdigit(static_cast<unsigned char>(t[4]))) {
          bytes += static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16));
          ++byte_count;
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      tokens = std::move(out);
    });
  } else if (type == "Fuse") {
    decoders_.push_back([](std::vector<std::string>& t) {
      std::string all;
      for (const auto& s : t) all += s;
      t = {all};
    });
  } else if (type == "Strip") {
    const std::string content = field_string(j, "content", at);
    const size_t start = j.value("start", 0), stop = j.value("stop", 0);
    decoders_.push_back([content, start, stop](std::vector<std::string>& t) {
      for (auto& s : t) {
        size_t from = 0, to = s.size();
        for (size_t k = 0; k < start && s.compare(from, content.size(), content) == 0; ++k) from += content.size();
        for (size_t k = 0; k < stop && to >= from + content.size() && s.compare(to - content.size(), content.size(), content) == 0; ++k)
          to -= content.size();
        s = s.substr(from, to - from);
      }
    });
  } else if (type == "Metaspace") {
    const std::string replacement = field_string(j, "replacement", at);
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    decoders_.push_back([replacement, scheme](std::vector<std::string>& t) {
      // As the library: in the first token every replacement character is dropped (unless "never").
      for (size_t i = 0; i < t.size(); ++i)
        t[i] = replace_literal(std::move(t[i]), replacement, i == 0 && scheme != "never" ? "" : " ");
    });
  } else {
    unsupported(at, j, "decoders Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace");
  }
}

void HfTokenizer::read_post_processor(const json& j, const std::string& at) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "Sequence") {
    const auto& list = j.at("processors");
    for (size_t i = 0; i < list.size(); ++i) read_post_processor(list[i], at + ".processors[" + std::to_string(i) + "]");
  } else if (type == "ByteLevel") {
    // offsets only
  } else if (type == "TemplateProcessing") {
    // The template's special token before $A is the BOS the library adds; wr adds it itself where --bos says.
    const auto& single = j.at("single");
    bool seen_sequence = false;
    for (const auto& item : single) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      if (seen_sequence) fail(source_, ": ", at, ".single appends '", name, "' after the text: wr adds only a BOS");
      if (bos_ >= 0) fail(source_, ": ", at, ".single puts two tokens before the text: wr adds only a BOS");
      bos_ = template_bos_ = static_cast<int>(
          json_integer(j.at("special_tokens").at(name).at("ids").at(0), source_ + ": " + at + ".special_tokens ids", 0, kMaxId));
    }
  } else {
    unsupported(at, j, "post-processors TemplateProcessing, ByteLevel, Sequence");
  }
}

HfTokenizer::HfTokenizer(const std::string& bytes, const std::string& source) : source_(source) {
  json j;
  try {
    j = parse_json(bytes);
  } catch (const json::exception& e) {
    fail(source, ": not a tokenizer.json: ", e.what());
  }
  try {
    if (!j.is_object() || !j.contains("model")) fail(source, ": not a tokenizer.json: no \"model\"");
    for (const char* key : {"truncation", "padding"})
      if (j.contains(key) && !j.at(key).is_null()) fail(source, ": \"", key, "\" is set: wr never truncates or pads a text");
    read_normalizer(j.value("normalizer", json()), "normalizer");
    read_pre_tokenizer(j.value("pre_tokenizer", json()), "pre_tokenizer");
    read_decoder(j.value("decoder", json()), "decoder");
    if (byte_level_ && !byte_level_decoder_) fail(source, ": decoder: a ByteLevel pre-tokenizer needs the ByteLevel decoder");
    read_model(j.at("model"), "model");
    read_added_tokens(j.value("added_tokens", json::array()));
    read_post_processor(j.value("post_processor", json()), "post_processor");
    // The post-processor's BOS is written into every document's shard and context: it must be a token.
    if (template_bos_ >= 0 && (static_cast<size_t>(template_bos_) >= known_.size() || !known_[template_bos_]))
      fail(source, ": post_processor: BOS id ", template_bos_, " is not a token of this tokenizer (", known_.size(),
           " ids)");
  } catch (const json::exception& e) {
    fail(source, ": malformed tokenizer.json: ", e.what());
  }
  // A tokenizer.json does not say which token ends a document; the added tokens' conventional names do.
  auto special_named = [&](std::initializer_list<const char*> names) {
    for (const char* name : names)
      for (size_t id = 0; id < pieces_.size(); ++id)
        if (known_[id] && pieces_[id] == name) return static_cast<int>(id);
    return -1;
  };
  if (bos_ < 0) bos_ = special_named({"<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"});
  eos_ = special_named({"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"});
}

}  // namespace

std::shared_ptr<const TokenizerImpl> load_hf_tokenizer(const std::string& json_bytes, const std::string& source) {
  return std::make_shared<HfTokenizer>(json_bytes, source);
}

}  // namespace wr
