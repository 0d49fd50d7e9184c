// The JSON files compiled into the binary by tasks/CMakeLists.txt (wr_embed_json): task definitions
// (tasks/defs/**/*.json, named "piqa", "lighteval/piqa") and rule sets (tasks/rules/*.json).
#pragma once
#include <cstddef>

namespace wr {

struct EmbeddedJson {
  const char* name;  // the path under its folder without ".json"
  const char* json;
};
extern const EmbeddedJson kEmbeddedDefs[];
extern const size_t kEmbeddedDefsCount;
extern const EmbeddedJson kEmbeddedRules[];
extern const size_t kEmbeddedRulesCount;

}  // namespace wr
