// A rule set: how one evaluation harness turns a task's documents into requests and its scores into reported
// numbers. Two harnesses build different requests for the same benchmark (prompt, choice strings, scored split,
// metrics), so their numbers do not compare; a rule set names which one a run follows. It is data
// (tasks/rules/<name>.json, compiled in): the request rules below, passed explicitly to tokenization and group
// means, and the folder of task definitions that hold its per-task formulations (`definitions`). The scorer
// never asks which rule set it runs. Every output records the name and the sha256 of the file's bytes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace wr {

// Where the context's trailing whitespace goes before tokenizing: into the continuation (both harnesses:
// "Answer: " + "A" scores " A"), or left in the context.
enum class ContextWhitespace { kMoveToContinuation, kKeep };
// The continuation's tokens: enc(ctx + cont)[len(enc(ctx)):] (both harnesses), or enc(cont) on its own.
enum class ContinuationTokens { kSliceOfWhole, kSeparate };
// A group's (MMLU's) mean over its subtasks: weighted by their documents (lm-eval v0.4's weight_by_size), or
// each subtask counting once.
enum class GroupMean { kWeightBySize, kMeanOfSubtasks };

struct RuleSet {
  std::string name;         // the value of --rules: "lm-eval", "lighteval"
  std::string description;
  std::string follows;      // the harness, its version or commit, and the files these rules were read from
  std::string source;       // "tasks/rules/lm-eval.json", for messages
  std::string sha256;       // of the file's bytes
  std::string definitions;  // folder of tasks/defs with this rule set's task formulations; "" the top level
  ContextWhitespace context_whitespace = ContextWhitespace::kMoveToContinuation;
  ContinuationTokens continuation_tokens = ContinuationTokens::kSliceOfWhole;
  GroupMean group_mean = GroupMean::kWeightBySize;

  // The definition a task name means under these rules: "piqa" -> "lighteval/piqa".
  std::string definition_of(const std::string& task) const;
  // The headline of the results rows of `task` (a name as wr-eval writes it in a CSV or sample log) under these
  // rules: its definition's, or for a group's mean over one category ("mmlu_stem") the group's. Nothing for a
  // name no definition of this rule set has (wr-train's "val" loss rows, a task of another WR_TASKS_DIR).
  std::optional<Headline> headline_of(const std::string& task) const;
  // "lm-eval sha256:0123456789ab", the form every output records.
  std::string id() const;
};

// The compiled-in rule sets, sorted.
std::vector<std::string> rule_set_names();
// Throws wr::Error for an unknown name (with the closest one) or a rule set whose file has an unknown key or value.
RuleSet load_rules(const std::string& name);
// What wr-eval and wr-train use unless told otherwise.
constexpr const char* kDefaultRules = "lm-eval";

}  // namespace wr
