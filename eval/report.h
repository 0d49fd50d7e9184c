// Evaluation outputs that other tools already read: a flat CSV (one row per task and metric, appended safely),
// lm-evaluation-harness's results JSON layout, and per-request JSONL samples.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "eval/evaluate.h"

namespace wr {

struct RunInfo {
  std::string run;                // a name for this run (default: default_run_name of the checkpoint)
  std::string checkpoint;
  std::string checkpoint_sha256;  // of the file; empty for a directory or an in-memory model
  int64_t step = -1;              // training step from the checkpoint's meta; -1 unknown
  std::string rules;              // RuleSet::id(): the rule set's name and sha256
  bool bos = true;
  int num_fewshot = 0;
  std::string date;               // ISO 8601, UTC
  std::string bos_why;            // what decided bos: "--bos on", or the model's or its tokenizer's file and field
  nlohmann::json quant;           // wr-eval --quant's schemes, scope and calibration; null without
  int64_t tokens = -1;            // training tokens seen, from the checkpoint's meta; -1 unknown (other formats)
  std::string subset = "all";     // which documents of each task: subset_name()
};

// The CSV's subset column: "all", "first N" (--limit N) or "sample N seed S" (--sample N --seed S).
std::string subset_name(int64_t limit, int64_t sample, uint64_t seed);

extern const char* const kCsvHeader;

// The run name a checkpoint gets without --run: its folder and file name ("lir/ckpt_00000500.pt", "SmolLM-135M"'s
// parent and the folder itself), so the checkpoints of two runs differ in the CSV and in wr-eval compare.
std::string default_run_name(const std::string& checkpoint);

std::string utc_now_iso8601();
// Appends rows to path, writing the header first when the file is new; an existing file with another header
// is an error. The file is rewritten atomically, so a crash leaves the old or the new version. A variant's row
// (TaskResult::quant) also gets <metric>_delta (value and paired stderr) and <metric>_delta_p rows. Rows already
// there with the key (row_key) of a row written are replaced: a recomputation (wr-eval --force) is listed once.
void append_csv(const std::string& path, const RunInfo& run, const std::vector<TaskResult>& results);
// What makes a CSV row one evaluation of one task, for a sweep to skip what a killed run already wrote: run, step,
// task, rule set (name and sha256), BOS, few-shot, subset and quant scheme.
std::string row_key(const RunInfo& run, const std::string& task, const std::string& quant);
// The keys of the rows in a CSV to append to (none for a new file), read by column name; fails as
// read_csv_to_append does.
std::set<std::string> csv_row_keys(const std::string& path);
// The rows already in a CSV to append to, from the header on, "\n"-terminated: "" for a new or empty file; a
// UTF-8 BOM and CRLF line ends (a spreadsheet's save) are accepted and normalised, and a CSV written before the
// quant column (its header without it) comes back with it, each row's quant "none"; one written before the tokens
// and subset columns gets them empty (unknown: such rows match no sweep's key, so a sweep scores them again).
// Fails naming the file when it is not wr's CSV (another header), so wr-eval can check before scoring.
std::string read_csv_to_append(const std::string& path);
// One row of a CSV: its fields, the line it starts on (the header's is 1) and its text as written, without its
// line end (a quoted field may hold line breaks, so a row can span lines).
struct CsvRow {
  std::vector<std::string> fields;
  int64_t line = 0;
  std::string text;
};
// The rows of a CSV in RFC 4180's form, the one append_csv writes: a field holding a comma, quote or line break
// is quoted, its quotes doubled; rows end in "\n" or "\r\n"; empty lines are skipped. A quote left open, or one
// inside an unquoted field, fails naming `source` and the line.
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source);
// A resumed training run's eval.csv: keeps the header and the rows of steps <= step (the evaluations the
// checkpoint it resumed from had seen), so evaluations redone after the resume are not listed twice. A new run
// (step < 0) starts with no rows. Rewritten atomically; a missing file stays missing.
void keep_csv_rows_through_step(const std::string& path, int64_t step);
// The results JSON: lm-eval's keys for the model's own rows; rows of variants (wr-eval --quant) under
// "quant": {"results": {scheme: {task: metrics and "paired"}}}, and the settings under config.quant.
nlohmann::json harness_json(const RunInfo& run, const EvalOptions& opt, const std::vector<TaskResult>& results);
// wr-eval --quant's table for people: per task, variant and metric, the model's value, the variant's, the
// difference with its paired standard error and p-value, then kl and top1_agree, and the seconds each spent.
std::string paired_table(const std::vector<TaskResult>& results);

}  // namespace wr
