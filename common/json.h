// JSON read from outside wr (configs, tokenizer.json, task files, manifests, safetensors headers) with a bound on
// nesting: nlohmann's parser is iterative, but what walks or prints the value afterwards recurses (a config merge,
// a normalizer Sequence, dump()), so 30000 nested arrays crashed wr and 10000 became a 200 MB config.json.
#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

namespace wr {

// Deeper than any real file wr reads (tokenizer.json nests about 8 levels).
constexpr int kMaxJsonDepth = 128;

// nlohmann::json::parse with the bound: nesting deeper than kMaxJsonDepth throws nlohmann::json::parse_error, as
// a syntax error does, so each caller's message names its file as before.
nlohmann::json parse_json(std::string_view text);

}  // namespace wr
