// Evaluation outputs that other tools already read: a flat CSV (one row per task and metric, appended safely),
// lm-evaluation-harness's results JSON layout, and per-request JSONL samples.
#pragma once
#include <string>
#include <vector>

#include "eval/evaluate.h"

namespace wr {

struct RunInfo {
  std::string run;                // a name for this run (default: the checkpoint's file name)
  std::string checkpoint;
  std::string checkpoint_sha256;  // of the file; empty for a directory or an in-memory model
  int64_t step = -1;              // training step from the checkpoint's meta; -1 unknown
  std::string rules;              // RuleSet::id(): the rule set's name and sha256
  bool bos = true;
  int num_fewshot = 0;
  std::string date;               // ISO 8601, UTC
};

extern const char* const kCsvHeader;

std::string utc_now_iso8601();
// Appends rows to path, writing the header first when the file is new; an existing file with another header
// is an error. The file is rewritten atomically, so a crash leaves the old or the new version.
void append_csv(const std::string& path, const RunInfo& run, const std::vector<TaskResult>& results);
// The rows already in a CSV to append to, from the header on, "\n"-terminated: "" for a new or empty file; a
// UTF-8 BOM and CRLF line ends (a spreadsheet's save) are accepted and normalised. Fails naming the file when
// it is not wr's CSV (another header), so wr-eval can check before scoring.
std::string read_csv_to_append(const std::string& path);
// The fields of one CSV row (RFC 4180 quoting; the row holds no line break).
std::vector<std::string> split_csv_row(const std::string& line);
// A resumed training run's eval.csv: keeps the header and the rows of steps <= step (the evaluations the
// checkpoint it resumed from had seen), so evaluations redone after the resume are not listed twice. A new run
// (step < 0) starts with no rows. Rewritten atomically; a missing file stays missing.
void keep_csv_rows_through_step(const std::string& path, int64_t step);
nlohmann::json harness_json(const RunInfo& run, const EvalOptions& opt, const std::vector<TaskResult>& results);

}  // namespace wr
