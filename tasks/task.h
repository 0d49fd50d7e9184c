// Benchmark tasks as data: each tasks/defs/<name>.json (compiled into the binary) says where the original files
// are, how to read them, and lm-evaluation-harness's rules for building requests (doc_to_text, doc_to_choice,
// doc_to_target, target_delimiter, metric_list). Rules that are code live in named preprocessors (preprocess.h).
// This file turns a definition plus its files into documents of (context, continuation) requests; it does not
// score anything.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wr {

struct TaskFile {
  std::string path;        // relative to the data directory, e.g. "arc/ARC-Easy-Test.jsonl"
  std::string url;         // the original file (or the zip holding it)
  std::string generated_by;  // instead of a url: the command that makes the file (synthetic tasks)
  // Where no small original file exists: the Hugging Face datasets-server rows API at `url`, read in pages
  // ({"dataset", "config", "split", "rows"}: rows is the expected num_rows_total); null otherwise.
  nlohmann::json datasets_server;
  std::string zip_member;  // the member to extract when url is a zip
  std::string sha256;      // of the file at path; empty when not pinned
  int64_t size = -1;
};

// The gold index of a document (doc_to_target), one of: a constant; a labels-file line minus `minus`; the
// position of the document's `index_of` value among the values at `in` (a choice label); or the integer at
// `field` minus `minus`, or its position in `values`.
struct GoldRule {
  enum class Kind { none, constant, label, index_of, field } kind = Kind::none;
  int constant = 0, minus = 0;
  std::string path, in;             // index_of / field: the document paths
  std::vector<std::string> values;  // field: its accepted values, in choice order (empty: an integer)
};

// How a document of the task's files becomes requests, as the definition says: a reader format, then either a
// named preprocessor or the templates.
struct Formulation {
  std::string format;       // the first file's reader (tasks/formats.h)
  std::string labels_file;  // a file of one gold label per document; "" when gold is in the document
  std::string preprocess;   // a name in tasks/preprocess.h's table; "" when the templates below build requests
  std::string doc_to_text;  // the context template
  // The choices: a template per choice, or the values at a path (each after `choice_prefix`).
  std::vector<std::string> choice_templates;
  std::string choices_path, choice_prefix;
  std::string doc_to_answers;  // generative: the path of the accepted answers
  GoldRule gold;
  std::string target_delimiter, fewshot_delimiter;
};

// The number a comparison of runs reports for a task (wr-eval compare's table, the paper's column) and, for the
// paired test on per-sample logs, the field of each sample line that says whether the document counted: an
// integer prediction compared with the line's "gold" (pred, pred_norm, pred_norm_nospace) or a boolean
// (is_greedy, exact_match, quasi_exact_match). A definition's "headline": {"metric": ..., "prediction": ...};
// the metric must be one of its metric_list and an accuracy, the prediction the one that metric counts.
struct Headline {
  std::string metric;      // "acc_norm"
  std::string prediction;  // "pred_norm"
};

struct TaskDef {
  std::string name;         // the task's name in outputs: "piqa"
  std::string definition;   // the definition it was loaded from: "piqa", or "lighteval/piqa" under those rules
  std::string description;
  std::string harness;      // the harness version and file whose rules this formulation follows
  double version = 0;
  std::vector<TaskFile> files;
  std::vector<std::string> metrics;  // acc, acc_norm, perplexity
  Headline headline;
  Formulation form;
  nlohmann::json json;               // the whole definition, as loaded (for the results JSON's "configs")
  std::string source;                // "tasks/defs/<name>.json", for error messages
  // generate_until tasks (TriviaQA): greedy generation until one of `until`, scored by exact match.
  bool generative = false;
  std::vector<std::string> until;
  int64_t max_gen_toks = 256;
  // A group (MMLU): its subtasks' definitions ("mmlu_abstract_algebra", ...; "lighteval/mmlu_anatomy") and the
  // category of each by task name; no files.
  std::vector<std::string> subtasks;
  std::map<std::string, std::string> category_of;
};

// One scoring request: log P(continuation | context).
struct Request {
  std::string context, continuation;
};

struct Doc {
  int64_t id = 0;                    // position in the eval split
  std::vector<Request> requests;     // one per choice (a single one for loglikelihood tasks such as LAMBADA)
  std::vector<std::string> choices;  // choice strings, for acc_norm's length normalisation; for generative
                                     // tasks the accepted answers (one request with an empty continuation)
  int gold = -1;                     // index of the correct choice; -1 when the task has none
};

// The definitions compiled in and those in $WR_TASKS_DIR/<name>.json (which replace compiled-in ones of the
// same name), sorted; a rule set's own formulations are in its folder ("lighteval/piqa", see tasks/rules.h).
std::vector<std::string> task_names();
// Throws wr::Error for an unknown name, suggesting the closest one. A group's subtasks ("mmlu_anatomy") load by
// name too: their definition is the group's subtask_template with {subject} and {subject_words} filled in.
// Every key of a definition is checked as it loads, nested ones too, and so are its preprocessor, format and
// metric names: a misspelling is an error naming the definition file and the key. A definition may "include"
// another by name: the included keys first, its own replacing them (the ARC pair, a rule set's formulation of
// a task reusing the other's files).
TaskDef load_task(const std::string& definition);
// Reads the task's files under data_dir and builds its documents (the first `limit` when limit > 0).
std::vector<Doc> build_docs(const TaskDef& task, const std::string& data_dir, int64_t limit = 0);

// k-shot contexts, by the harness's layout: each request's context becomes
//   ex_1 + fewshot_delimiter + ... + ex_k + fewshot_delimiter + context
// where an example is another document's gold request, context + continuation (for generative tasks its first
// answer after target_delimiter). The examples come from `pool` (the whole eval split) minus the document
// itself, drawn without replacement by a generator seeded with (seed, document id), so a document's shots do
// not depend on --limit. (The harness samples training-split examples with Python's random; the draws differ.)
void add_fewshot(std::vector<Doc>& docs, const std::vector<Doc>& pool, const TaskDef& task, int k, uint64_t seed);
// A seeded random subset of n documents of `all` (all of them when n >= its size), in their original order: the
// same documents for every model and run with the same seed, so periodic evaluations and checkpoints compare
// on one set. std::mt19937_64 is specified exactly by the standard, so is the subset (on every platform).
std::vector<Doc> sample_docs(const std::vector<Doc>& all, int64_t n, uint64_t seed);

// The default data directory: $WR_DATA_DIR, else ~/.cache/wr/tasks.
std::string default_data_dir();

}  // namespace wr
