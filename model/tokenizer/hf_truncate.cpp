#include <nlohmann/json.hpp>

#include <functional>
#include <map>

#include "common/error.h"
#include "common/json.h"
#include "model/tokenizer/bpe.h"
#include "model/tokenizer/hf_tokenizer.h"
#include "model/tokenizer/unicode.h"

namespace wr {

std::string truncate_hf_tokenizer(const std::string& json_bytes, int pieces, const std::string& source) {
  load_hf_tokenizer(json_bytes, source);  // the input must be one wr reads
  // Plain (sorted) JSON objects: ordered_json's linear key lookup is quadratic in a 128k-piece vocabulary. The
  // library reads vocab as a map, so key order carries nothing.
  using ojson = nlohmann::json;
  ojson j = parse_json(json_bytes);
  ojson& model = j.at("model");
  const int have = static_cast<int>(model.at("vocab").size());
  if (pieces < 1 || pieces > have) fail("--vocab-size ", pieces, ": expected 1 to ", have, " (the pieces of ", source, ")");

  // Kept pieces by rank (old id), renumbered densely in that order.
  std::map<int, std::string> by_id;
  for (const auto& [piece, id] : model.at("vocab").items()) by_id.emplace(id.get<int>(), piece);
  std::map<std::string, int> kept;
  for (const auto& [id, piece] : by_id) {
    if (static_cast<int>(kept.size()) == pieces) break;
    kept.emplace(piece, static_cast<int>(kept.size()));
  }
  // A byte-level vocabulary keeps the pieces of every byte it has (without one, encoding drops the byte).
  if (j.value("pre_tokenizer", ojson()).dump().find("\"ByteLevel\"") != std::string::npos)
    for (int b = 0; b < 256; ++b) {
      std::string piece;
      append_utf8(piece, byte_to_char(static_cast<uint8_t>(b)));
      if (model.at("vocab").contains(piece) && !kept.count(piece))
        fail("--vocab-size ", pieces, ": the cut of ", source, " loses the piece of byte ", b,
             " (a byte-level vocabulary keeps its bytes)");
    }
  ojson vocab = ojson::object();
  for (const auto& [id, piece] : by_id)
    if (kept.count(piece)) vocab[piece] = kept.at(piece);

  ojson merges = ojson::array();
  for (const auto& m : model.at("merges")) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      a = s.substr(0, s.find(' '));
      b = s.substr(s.find(' ') + 1);
    } else {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(m);
  }
  model["vocab"] = vocab;
  model["merges"] = merges;

  // Added tokens after the pieces, in their original id order (one that is also a kept piece keeps its id).
  std::map<int, int> renumbered;
  int next_id = pieces;
  ojson& added = j["added_tokens"];
  if (added.is_null()) added = ojson::array();
  std::map<int, ojson*> added_by_id;
  for (auto& t : added) added_by_id[t.at("id").get<int>()] = &t;
  for (auto& [old_id, token] : added_by_id) {
    const std::string content = token->at("content").get<std::string>();
    const int new_id = kept.count(content) ? kept.at(content) : next_id++;
    renumbered[old_id] = new_id;
    (*token)["id"] = new_id;
  }
  // TemplateProcessing names its special tokens' ids.
  std::function<void(ojson&)> renumber_processor = [&](ojson& p) {
    if (!p.is_object()) return;
    if (p.contains("processors"))
      for (auto& q : p["processors"]) renumber_processor(q);
    if (p.value("type", "") != "TemplateProcessing" || !p.contains("special_tokens")) return;
    for (auto& [name, special] : p["special_tokens"].items())
      for (auto& id : special["ids"]) {
        auto it = renumbered.find(id.get<int>());
        if (it == renumbered.end()) fail(source, ": post_processor.special_tokens.", name, ": id ", id.get<int>(), " is not an added token");
        id = it->second;
      }
  };
  renumber_processor(j["post_processor"]);

  std::string out = j.dump(2, ' ', false) + "\n";
  load_hf_tokenizer(out, source + " cut to " + std::to_string(pieces) + " pieces");
  return out;
}

}  // namespace wr
