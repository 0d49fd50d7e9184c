#include "tasks/rules.h"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/strings.h"
#include "tasks/embedded.h"
#include "tasks/task.h"

namespace wr {

namespace {

// A function's static, so that a rule set can be loaded while other files' statics are being initialised.
const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {"rules", "description", "follows", "definitions", "context_whitespace",
                                             "continuation_tokens", "group_mean"};
  return keys;
}

// The value of `key` in j, one of the names in `values`; the error names the file, the key and what it accepts.
template <typename Enum>
Enum named(const nlohmann::json& j, const std::string& key, const std::map<std::string, Enum>& values,
           const std::string& source) {
  const std::string v = j.at(key).get<std::string>();
  if (auto it = values.find(v); it != values.end()) return it->second;
  std::vector<std::string> accepted;
  for (const auto& [name, _] : values) accepted.push_back(name);
  fail(source, ": ", key, " is '", v, "', expected one of ", join(accepted, ", "));
}

}  // namespace

std::string RuleSet::definition_of(const std::string& task) const {
  if (definitions.empty()) return task;
  const std::string definition = definitions + "/" + task;
  std::vector<std::string> mine;  // this rule set's formulations, and their groups' subtasks
  for (const auto& known : task_names())
    if (starts_with(known, definitions + "/")) mine.push_back(known.substr(definitions.size() + 1));
  for (const auto& m : mine)
    if (m == task || starts_with(task, m + "_")) return definition;  // load_task checks the subtask's name
  fail("the ", name, " rules have no formulation of task '", task, "' (", source, " takes tasks/defs/", definitions,
       "/*.json: ", join(mine, ", "), ")");
}

std::optional<Headline> RuleSet::headline_of(const std::string& task) const {
  const std::string folder = definitions.empty() ? "" : definitions + "/";
  for (const auto& definition : task_names()) {
    const bool mine = folder.empty() ? definition.find('/') == std::string::npos : starts_with(definition, folder);
    if (!mine) continue;
    const std::string called = definition.substr(folder.size());  // the name results give it
    if (called == task) return load_task(definition).headline;
    if (!starts_with(task, called + "_")) continue;
    const TaskDef group = load_task(definition);  // a group: its subtasks, and its means by category
    const std::string subtask = folder + task;
    if (std::find(group.subtasks.begin(), group.subtasks.end(), subtask) != group.subtasks.end())
      return load_task(subtask).headline;
    for (const auto& [member, category] : group.category_of)
      if (task == group.name + "_" + category) return group.headline;
  }
  return std::nullopt;
}

std::string RuleSet::id() const { return name + " sha256:" + sha256.substr(0, 12); }

std::vector<std::string> rule_set_names() {
  std::vector<std::string> names;
  for (size_t i = 0; i < kEmbeddedRulesCount; ++i) names.push_back(kEmbeddedRules[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

RuleSet load_rules(const std::string& name) {
  const EmbeddedJson* found = nullptr;
  for (size_t i = 0; i < kEmbeddedRulesCount; ++i)
    if (name == kEmbeddedRules[i].name) found = &kEmbeddedRules[i];
  if (!found) {
    const std::string hint = closest(name, rule_set_names());
    fail("unknown rule set '", name, "'", hint.empty() ? "" : " (did you mean " + hint + "?)", "; known: ",
         join(rule_set_names(), ", "));
  }
  RuleSet r;
  r.source = "tasks/rules/" + name + ".json";
  r.sha256 = sha256_hex(found->json);
  try {
    const auto j = parse_json(found->json);
    for (const auto& [key, _] : j.items())
      if (!known_keys().count(key)) fail(r.source, ": unknown key '", key, "'");
    r.name = j.at("rules").get<std::string>();
    if (r.name != name) fail(r.source, ": 'rules' is '", r.name, "', expected '", name, "'");
    r.description = j.at("description").get<std::string>();
    r.follows = j.at("follows").get<std::string>();
    r.definitions = j.at("definitions").get<std::string>();
    r.context_whitespace = named<ContextWhitespace>(
        j, "context_whitespace",
        {{"move_to_continuation", ContextWhitespace::kMoveToContinuation}, {"keep", ContextWhitespace::kKeep}},
        r.source);
    r.continuation_tokens = named<ContinuationTokens>(
        j, "continuation_tokens",
        {{"slice_of_whole", ContinuationTokens::kSliceOfWhole}, {"separate", ContinuationTokens::kSeparate}},
        r.source);
    r.group_mean = named<GroupMean>(
        j, "group_mean", {{"weight_by_size", GroupMean::kWeightBySize}, {"mean_of_subtasks", GroupMean::kMeanOfSubtasks}},
        r.source);
  } catch (const nlohmann::json::exception& e) {
    fail(r.source, ": ", e.what());
  }
  return r;
}

}  // namespace wr
