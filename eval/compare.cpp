#include "eval/compare.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "eval/report.h"
#include "tasks/rules.h"

// wr-eval compare reads every input and checks it before it prints anything. It reads CSV columns by their
// header names and asks each row's task definition, under the rule set the row names, which metric heads the
// table (TaskDef::headline); it knows no task and no rule set by name.
namespace wr {
namespace {

// A run name or task as printed: control characters (a quoted line break in a run name) escaped, so a table
// row stays one line.
std::string printable(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += "?";
    else out += static_cast<char>(c);
  }
  return out;
}

// The rule set a CSV row or sample line names (the first word of the CSV's "rules" column, its name in a sample
// line), and the headline of each of its tasks, looked up once.
class Headlines {
 public:
  std::optional<Headline> of(const std::string& rules, const std::string& task, const std::string& where) {
    const auto key = std::make_pair(rules, task);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    try {
      if (!rule_sets_.count(rules)) rule_sets_.emplace(rules, load_rules(rules));
      return cache_[key] = rule_sets_.at(rules).headline_of(task);
    } catch (const Error& e) {
      fail(where, ": ", e.what());
    }
  }

 private:
  std::map<std::string, RuleSet> rule_sets_;
  std::map<std::pair<std::string, std::string>, std::optional<Headline>> cache_;
};

// The columns that say which evaluation a CSV row belongs to: rows agreeing on all of them are one column of the
// table (wr-eval's rows of one checkpoint and settings, however many invocations added tasks).
const std::vector<std::string> kIdentityColumns = {"run", "checkpoint", "checkpoint_sha256", "step",
                                                   "num_fewshot", "bos", "rules", "subset", "quant"};
// Of those, the ones that tell a sweep's checkpoints apart: columns agreeing on all the others are one series
// (a run's curve) and, holding more than one step, make the CSV a sweep.
const std::vector<std::string> kCheckpointColumns = {"checkpoint", "checkpoint_sha256", "step"};
const std::vector<std::string> kNeededColumns = {"run", "task", "metric", "value", "rules"};

struct Column {
  std::vector<std::string> identity;  // the values of kIdentityColumns ("" for a column the file lacks)
  std::string run, rule_set, label;
  std::string tokens;                 // the tokens column of its first row ("" where absent)
};

struct Cell {
  double value;
  std::string where;  // "results.csv:4", for a duplicate's message
  double stderr_ = std::nan("");  // NaN where the row has none
};

// The headline metrics (percent, higher is better) and the gold answer's bits per byte (lower is better):
// task -> column -> cell.
using Table = std::map<std::string, std::map<size_t, Cell>>;

struct Tables {
  std::vector<Column> columns;  // in the order first seen
  Table headline, bpb;
  std::set<std::string> undefined;  // tasks of rows no definition has a headline for (not shown)
};

double parse_value(const std::string& text, bool accuracy, const std::string& where, const std::string& what) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const bool number = !text.empty() && *end == '\0' && std::isfinite(v);
  if (accuracy && !(number && v >= 0 && v <= 1))
    fail(where, ": column 'value' of ", what, ": '", printable(text), "' is not an accuracy (a number from 0 to 1)");
  if (!accuracy && !(number && v >= 0))
    fail(where, ": column 'value' of ", what, ": '", printable(text), "' is not bits per byte (a number >= 0)");
  return v;
}

void read_csv(const std::string& path, Tables& tables, Headlines& headlines) {
  std::string text = read_file(path);
  if (starts_with(text, "\xEF\xBB\xBF")) text.erase(0, 3);  // a spreadsheet's save
  const auto rows = parse_csv(text, path);
  if (rows.empty()) fail(path, ": empty, expected wr-eval's CSV (", kCsvHeader, ")");
  const auto& header = rows[0].fields;
  auto index_of = [&](const std::string& name) -> std::optional<size_t> {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? std::nullopt : std::optional<size_t>(static_cast<size_t>(it - header.begin()));
  };
  for (const auto& name : kNeededColumns)
    if (!index_of(name)) fail(path, ": no column '", name, "' in the header; expected wr-eval's CSV (", kCsvHeader, ")");
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    const std::string where = path + ":" + std::to_string(rows[r].line);
    if (f.size() != header.size()) fail(where, ": ", f.size(), " fields, the header has ", header.size());
    auto field = [&](const std::string& name) { return f[*index_of(name)]; };
    const std::string task = field("task"), metric = field("metric"), run = field("run");
    const std::string rule_set = field("rules").substr(0, field("rules").find(' '));
    const auto headline = headlines.of(rule_set, task, where + ": column 'rules'");
    if (!headline) {
      tables.undefined.insert(task);
      continue;
    }
    Table* table = metric == headline->metric ? &tables.headline : metric == "bpb" ? &tables.bpb : nullptr;
    if (!table) continue;
    const std::string what = "run '" + printable(run) + "', " + printable(task) + " " + metric;
    const double value = parse_value(field("value"), table == &tables.headline, where, what);
    double se = std::nan("");
    if (index_of("stderr") && !field("stderr").empty()) {
      char* end = nullptr;
      se = std::strtod(field("stderr").c_str(), &end);
      if (*end || !(se >= 0)) fail(where, ": column 'stderr' of ", what, ": '", printable(field("stderr")), "' is not a standard error");
    }
    Column column{{}, run, rule_set, "", index_of("tokens") ? field("tokens") : ""};
    for (const auto& name : kIdentityColumns)  // a CSV from before the quant column holds models' own scores
      column.identity.push_back(index_of(name) ? field(name) : name == "quant" ? "none" : "");
    auto& columns = tables.columns;
    const auto found = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.identity == column.identity; });
    const size_t c = static_cast<size_t>(found - columns.begin());
    if (found == columns.end()) columns.push_back(column);
    const auto [cell, added] = (*table)[task].emplace(c, Cell{value, where, se});
    if (!added)
      fail(where, " and ", cell->second.where, ": two values of ", what, " from one checkpoint and settings; keep one "
           "(or name the runs apart with --run)");
  }
}

// Column headings: the run name, and where two columns share one, the identity columns they differ in (the
// rules column by its rule set's name where the names differ, whole where only the file's sha256 does).
void label_columns(std::vector<Column>& columns) {
  for (auto& column : columns) {
    std::vector<std::string> differ;
    for (size_t k = 0; k < kIdentityColumns.size(); ++k)
      for (const auto& other : columns)
        if (other.run == column.run && other.identity[k] != column.identity[k]) {
          const bool by_name = kIdentityColumns[k] == "rules" && other.rule_set != column.rule_set;
          differ.push_back(kIdentityColumns[k] + "=" + printable(by_name ? column.rule_set : column.identity[k]));
          break;
        }
    column.label = printable(column.run) + (differ.empty() ? "" : " [" + join(differ, ", ") + "]");
  }
}

// One document of a --log-samples file: whether the headline's prediction was right, the gold answer's bits per
// byte (NaN where there is none), and what must agree for two files' documents to pair: the rule set, the gold
// answer and each request's continuation (a generative document's accepted answers).
struct DocSample {
  std::string where;  // "a.jsonl:12", its first line
  std::string rules;
  nlohmann::json gold;  // null where the line has none (generative documents)
  std::vector<std::optional<std::string>> requests;
  bool correct = false;
  double bpb = std::nan("");
};

using Samples = std::map<std::string, std::map<int64_t, DocSample>>;  // task -> doc id -> its sample

// The sample line's value at key, or an error naming the line and the key.
const nlohmann::json& at(const nlohmann::json& j, const std::string& key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail(where, ": no '", key, "' (expected a line of wr-eval --log-samples)");
  return j[key];
}

void add_sample_line(const nlohmann::json& j, const std::string& where, Samples& out, Headlines& headlines) {
  const std::string task = at(j, "task", where).get<std::string>();
  const std::string rules = j.value("rules", kDefaultRules);  // logs written before rule sets followed the default
  const auto headline = headlines.of(rules, task, where);
  if (!headline) fail(where, ": no definition of task '", printable(task), "' under the ", rules, " rules says what heads it");
  const int64_t id = at(j, "doc_id", where).get<int64_t>();
  const int64_t request = j.value("request", int64_t{0});
  if (request < 0 || request > 1000000) fail(where, ": request ", request, " is not a request's index");
  const auto& prediction = at(j, headline->prediction, where);
  const nlohmann::json gold = j.contains("gold") ? j["gold"] : nlohmann::json();
  const bool correct = prediction.is_boolean() ? prediction.get<bool>()
                                               : (gold.is_number_integer() && prediction.get<int64_t>() == gold.get<int64_t>());
  // a variant's lines (wr-eval --quant) pair with the same variant's in the other log
  const std::string quant = j.contains("quant") && j["quant"].is_string() ? j["quant"].get<std::string>() : "none";
  auto [doc, first] = out[quant == "none" ? task : task + " [quant " + quant + "]"].try_emplace(id);
  DocSample& d = doc->second;
  if (first) {
    d = {where, rules, gold, {}, correct, std::nan("")};
    if (gold.is_number_integer() && gold.get<int64_t>() >= 0 && j.contains("bpb") && j["bpb"].is_number())
      d.bpb = j["bpb"].get<double>();
  }
  if (d.requests.size() <= static_cast<size_t>(request)) d.requests.resize(static_cast<size_t>(request) + 1);
  auto& text = d.requests[static_cast<size_t>(request)];
  if (text) fail(where, " and ", d.where, ": ", printable(task), " document ", id, " request ", request, " twice");
  text = j.contains("continuation") ? j["continuation"].dump() : j.contains("answers") ? j["answers"].dump() : "";
}

Samples read_samples(const std::string& path, Headlines& headlines) {
  Samples out;
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    try {
      add_sample_line(nlohmann::json::parse(line), where, out, headlines);
    } catch (const nlohmann::json::exception& e) {
      fail(where, ": ", e.what());
    }
  }
  return out;
}

// The paired tests of one task on the documents both logs scored.
struct PairedRow {
  std::string task;
  int64_t n = 0, only_a = 0, only_b = 0;        // documents both scored; right in A only; right in B only
  int64_t unpaired_a = 0, unpaired_b = 0;       // documents one log scored
  std::vector<double> bpb_b_minus_a;
};

// Fails with one line where two documents of one id are not the same document under the same rules.
void check_pair(const std::string& task, int64_t id, const DocSample& a, const DocSample& b) {
  const std::string both = a.where + " and " + b.where + ": " + printable(task) + " document " + std::to_string(id);
  if (a.rules != b.rules)
    fail(both, " was scored under the ", a.rules, " rules in one and the ", b.rules,
         " rules in the other; their requests differ, so the documents do not pair");
  if (a.gold != b.gold) fail(both, " has gold ", a.gold.dump(), " in one and ", b.gold.dump(), " in the other");
  if (a.requests != b.requests)
    fail(both, " has other requests in one than in the other (other task files or another task version?)");
}

std::vector<PairedRow> pair_samples(const Samples& a, const Samples& b) {
  std::vector<PairedRow> rows;
  for (const auto& [task, docs_a] : a) {
    const auto docs_b = b.find(task);
    if (docs_b == b.end()) continue;
    const DocSample &first_a = docs_a.begin()->second, &first_b = docs_b->second.begin()->second;
    if (first_a.rules != first_b.rules)
      fail(first_a.where, " and ", first_b.where, ": ", printable(task), " was scored under the ", first_a.rules,
           " rules in one log and the ", first_b.rules, " rules in the other; their requests differ, so no document pairs");
    PairedRow row{task, 0, 0, 0, 0, 0, {}};
    for (const auto& [id, da] : docs_a) {
      const auto it = docs_b->second.find(id);
      if (it == docs_b->second.end()) {
        ++row.unpaired_a;
        continue;
      }
      const DocSample& db = it->second;
      check_pair(task, id, da, db);
      ++row.n;
      row.only_a += da.correct && !db.correct;
      row.only_b += !da.correct && db.correct;
      if (std::isfinite(da.bpb) && std::isfinite(db.bpb)) row.bpb_b_minus_a.push_back(db.bpb - da.bpb);
    }
    row.unpaired_b = static_cast<int64_t>(docs_b->second.size()) - row.n;
    rows.push_back(std::move(row));
  }
  return rows;
}

// One row per task, a column per run (in the order first seen), the last run minus the first (unless
// !last_minus_first), and the mean over the tasks every run has. `scale` turns a value into what is printed (100
// for percentages).
void print_table(const Table& table, const std::vector<Column>& columns, double scale, const char* value_format,
                 bool last_minus_first = true) {
  size_t task_width = 20;
  for (const auto& [task, cells] : table) task_width = std::max(task_width, printable(task).size());
  std::vector<int> widths;
  for (const auto& c : columns) widths.push_back(static_cast<int>(std::max<size_t>(18, c.label.size())));
  const int tw = static_cast<int>(task_width);
  std::printf("%-*s", tw, "task");
  for (size_t i = 0; i < columns.size(); ++i) std::printf(" %*s", widths[i], columns[i].label.c_str());
  const bool delta = last_minus_first && columns.size() > 1;
  if (delta) std::printf(" %8s", "delta");
  std::printf("\n");
  const std::string cell_format = std::string(" %*") + value_format;
  const std::string delta_format = std::string(" %+8") + value_format;
  std::vector<double> sums(columns.size(), 0);
  int common = 0;
  for (const auto& [task, cells] : table) {
    std::printf("%-*s", tw, printable(task).c_str());
    for (size_t i = 0; i < columns.size(); ++i) {
      const auto it = cells.find(i);
      if (it == cells.end()) std::printf(" %*s", widths[i], "-");
      else std::printf(cell_format.c_str(), widths[i], scale * it->second.value);
    }
    const bool all = cells.size() == columns.size();
    if (delta && all)
      std::printf(delta_format.c_str(), scale * (cells.at(columns.size() - 1).value - cells.at(0).value));
    std::printf("\n");
    if (all) {
      ++common;
      for (size_t i = 0; i < columns.size(); ++i) sums[i] += cells.at(i).value;
    }
  }
  if (common > 0) {
    std::printf("%-*s", tw, ("mean (" + std::to_string(common) + " tasks)").c_str());
    for (size_t i = 0; i < columns.size(); ++i) std::printf(cell_format.c_str(), widths[i], scale * sums[i] / common);
    if (delta) std::printf(delta_format.c_str(), scale * (sums.back() - sums.front()) / common);
    std::printf("\n");
  }
}

// wr-eval --quant's columns against their own run's unquantized one (the column whose identity differs only in
// quant "none"): per task, the scheme's value minus that run's. Columns without such a partner are left out.
void print_drops(const Table& table, const std::vector<Column>& columns, double scale, const char* value_format) {
  const size_t quant = kIdentityColumns.size() - 1;  // "quant", the last identity column
  std::vector<Column> drop_columns;
  Table drops;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c].identity[quant] == "none") continue;
    auto own = columns[c].identity;
    own[quant] = "none";
    const auto ref = std::find_if(columns.begin(), columns.end(), [&](const Column& o) { return o.identity == own; });
    if (ref == columns.end()) continue;
    const size_t r = static_cast<size_t>(ref - columns.begin());
    for (const auto& [task, cells] : table)
      if (cells.count(c) && cells.count(r))
        drops[task].emplace(drop_columns.size(), Cell{cells.at(c).value - cells.at(r).value, cells.at(c).where, std::nan("")});
    drop_columns.push_back(columns[c]);
  }
  if (drop_columns.empty() || drops.empty()) return;
  print_table(drops, drop_columns, scale, value_format, /*last_minus_first=*/false);
}

// A sweep's curves: the columns that agree on every identity column but the checkpoint's, by step.
struct Series {
  std::vector<std::string> key;        // kIdentityColumns less kCheckpointColumns
  std::string run, label;
  std::map<int64_t, size_t> by_step;   // step -> column
};

bool is_checkpoint_column(const std::string& name) {
  return std::find(kCheckpointColumns.begin(), kCheckpointColumns.end(), name) != kCheckpointColumns.end();
}

// The series of the columns with a step, in the order first seen; empty unless one holds two steps (a sweep).
std::vector<Series> sweep_series(const std::vector<Column>& columns, const Tables& tables) {
  const size_t step_index = static_cast<size_t>(std::find(kIdentityColumns.begin(), kIdentityColumns.end(), "step") -
                                                kIdentityColumns.begin());
  std::vector<Series> series;
  std::vector<std::pair<size_t, size_t>> twice;  // (first column, another) of one series and step
  bool sweep = false;
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::string& text = columns[c].identity[step_index];
    char* end = nullptr;
    const long long step = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end) continue;
    std::vector<std::string> key;
    for (size_t k = 0; k < kIdentityColumns.size(); ++k)
      if (!is_checkpoint_column(kIdentityColumns[k])) key.push_back(columns[c].identity[k]);
    auto s = std::find_if(series.begin(), series.end(), [&](const Series& x) { return x.key == key; });
    if (s == series.end()) s = series.insert(series.end(), Series{key, columns[c].run, "", {}});
    const auto [at, added] = s->by_step.emplace(step, c);
    if (!added) twice.emplace_back(at->second, c);
    sweep = sweep || s->by_step.size() > 1;
  }
  if (!sweep) return {};
  if (!twice.empty()) {  // two checkpoints of one run at one step: which is the curve's is the user's call
    const auto [first, other] = twice[0];
    auto where = [&tables](size_t column) {  // a row of the column, to name it
      for (const Table* t : {&tables.headline, &tables.bpb})
        for (const auto& [task, cells] : *t)
          if (cells.count(column)) return cells.at(column).where;
      return std::string();
    };
    fail(where(first), " and ", where(other), ": two checkpoints of run '", printable(columns[first].run), "' at step ",
         columns[first].identity[3], "; a sweep's curve has one per step (name the runs apart with --run)");
  }
  // labels: the run name, and where two series share one, the identity columns they differ in
  for (auto& s : series) {
    std::vector<std::string> differ;
    size_t k = 0;
    for (const auto& name : kIdentityColumns) {
      if (is_checkpoint_column(name)) continue;
      for (const auto& other : series)
        if (other.run == s.run && other.key[k] != s.key[k]) {
          differ.push_back(name + "=" + printable(s.key[k]));
          break;
        }
      ++k;
    }
    s.label = printable(s.run) + (differ.empty() ? "" : " [" + join(differ, ", ") + "]");
  }
  return series;
}

// value ± stderr, scaled
std::string with_stderr(const Cell& cell, double scale, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, scale * cell.value);
  std::string out = buf;
  if (std::isfinite(cell.stderr_)) {
    std::snprintf(buf, sizeof buf, format, scale * cell.stderr_);
    out += std::string("±") + buf;
  }
  return out;
}

// Per task, each series' value at each step, and each series against the first at the steps both scored: the
// difference, its standard error and p, and p after Holm's correction over those steps.
void print_sweep(const Table& table, const std::vector<Series>& series, const std::vector<Column>& columns,
                 double scale, const char* format, const char* what) {
  for (const auto& [task, cells] : table) {
    std::set<int64_t> steps;
    for (const auto& s : series)
      for (const auto& [step, c] : s.by_step)
        if (cells.count(c)) steps.insert(step);
    if (steps.empty()) continue;
    // the tests: per other series, its differences at the steps both have
    std::vector<std::map<int64_t, std::array<double, 4>>> tests(series.size());  // step -> d, se, p, p Holm
    for (size_t b = 1; b < series.size(); ++b) {
      std::vector<int64_t> at;
      std::vector<double> p;
      for (const int64_t step : steps) {
        const auto ca = series[0].by_step.find(step), cb = series[b].by_step.find(step);
        if (ca == series[0].by_step.end() || cb == series[b].by_step.end() || !cells.count(ca->second) ||
            !cells.count(cb->second))
          continue;
        const Cell &x = cells.at(ca->second), &y = cells.at(cb->second);
        const double d = y.value - x.value, se = std::sqrt(x.stderr_ * x.stderr_ + y.stderr_ * y.stderr_);
        const double pv = se > 0 ? std::erfc(std::fabs(d / se) / std::sqrt(2.0)) : std::nan("");
        tests[b][step] = {d, se, pv, std::nan("")};
        if (std::isfinite(pv)) at.push_back(step), p.push_back(pv);
      }
      const auto holm = holm_adjusted(p);
      for (size_t i = 0; i < at.size(); ++i) tests[b][at[i]][3] = holm[i];
    }
    std::printf("\n%s: %s\n%8s %12s", printable(task).c_str(), what, "step", "tokens");
    for (size_t s = 0; s < series.size(); ++s) std::printf(" %16c", static_cast<char>('A' + s % 26));
    for (size_t b = 1; b < series.size(); ++b)
      std::printf(" %8s %8s %8s %8s", (std::string(1, static_cast<char>('A' + b % 26)) + "-A").c_str(), "stderr", "p",
                  "p Holm");
    std::printf("\n");
    for (const int64_t step : steps) {
      std::string tokens;
      for (const auto& s : series)
        if (tokens.empty() && s.by_step.count(step)) tokens = columns[s.by_step.at(step)].tokens;
      std::printf("%8ld %12s", static_cast<long>(step), printable(tokens).c_str());
      for (const auto& s : series) {
        const auto c = s.by_step.find(step);
        const bool has = c != s.by_step.end() && cells.count(c->second);
        std::printf(" %16s", has ? with_stderr(cells.at(c->second), scale, format).c_str() : "-");
      }
      for (size_t b = 1; b < series.size(); ++b) {
        const auto t = tests[b].find(step);
        if (t == tests[b].end()) {
          std::printf(" %8s %8s %8s %8s", "-", "", "", "");
          continue;
        }
        const auto& [d, se, p, holm] = t->second;
        char cols[4][32];
        std::snprintf(cols[0], 32, (std::string("%+") + (format + 1)).c_str(), scale * d);  // "%.1f" -> "%+.1f"
        std::snprintf(cols[1], 32, format, scale * se);
        std::snprintf(cols[2], 32, "%.3g", p);
        std::snprintf(cols[3], 32, "%.3g", holm);
        std::printf(" %8s %8s %8s %8s", cols[0], std::isfinite(se) ? cols[1] : "", std::isfinite(p) ? cols[2] : "",
                    std::isfinite(holm) ? cols[3] : "");
      }
      std::printf("\n");
    }
  }
}

void print_paired(const std::vector<PairedRow>& rows, const Samples& a, const Samples& b,
                  const std::vector<std::string>& samples) {
  std::printf("\npaired tests on the documents both scored, %s (A) vs %s (B):\n"
              "accuracy: exact McNemar on the discordant documents; bits per byte of the gold answer: mean of B - A\n"
              "per document, its standard error and two-sided p (normal approximation)\n"
              "%-20s %6s %6s %6s %10s %12s %10s %10s\n",
              samples[0].c_str(), samples[1].c_str(), "task", "n", "A-only", "B-only", "p-value", "bpb B-A", "stderr",
              "p-value");
  for (const auto& r : rows) {
    std::printf("%-20s %6ld %6ld %6ld %10.4g", printable(r.task).c_str(), static_cast<long>(r.n),
                static_cast<long>(r.only_a), static_cast<long>(r.only_b), mcnemar_exact_p(r.only_a, r.only_b));
    if (r.bpb_b_minus_a.size() >= 2) {
      const PairedDifference d = paired_difference(r.bpb_b_minus_a);
      std::printf(" %+12.4f %10.4f %10.4g", d.mean, d.standard_error, d.p);
    }
    std::printf("\n");
  }
  for (const auto& r : rows)
    if (r.unpaired_a > 0 || r.unpaired_b > 0)
      std::printf("note: %s: left out %ld document(s) only A scored and %ld only B scored\n", printable(r.task).c_str(),
                  static_cast<long>(r.unpaired_a), static_cast<long>(r.unpaired_b));
  for (const auto& [one, other, name] : {std::tuple(&a, &b, "A"), std::tuple(&b, &a, "B")})
    for (const auto& [task, docs] : *one)
      if (!other->count(task))
        std::printf("note: %s: only %s scored it (%zu documents); no test\n", printable(task).c_str(), name, docs.size());
}

}  // namespace

double mcnemar_exact_p(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t k = std::min(b, c);
  // P(X <= k) for X ~ Binomial(n, 1/2), doubled, in log space for large n
  double p = 0;
  for (int64_t i = 0; i <= k; ++i)
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  return std::min(1.0, 2 * p);
}

std::vector<double> holm_adjusted(const std::vector<double>& p) {
  std::vector<size_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size());
  double running = 0;  // the adjusted values never decrease along the sorted order
  for (size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, static_cast<double>(p.size() - k) * p[order[k]]));
    out[order[k]] = running;
  }
  return out;
}

PairedDifference paired_difference(const std::vector<double>& differences) {
  const double n = static_cast<double>(differences.size());
  if (n < 2) fail("a paired difference needs at least two pairs, got ", differences.size());
  double mean = 0;
  for (double d : differences) mean += d;
  mean /= n;
  double ss = 0;
  for (double d : differences) ss += (d - mean) * (d - mean);
  const double se = std::sqrt(ss / (n - 1) / n);
  // two-sided P(|Z| >= |mean / se|); a zero standard error (identical differences) is significant unless zero
  const double p = se > 0 ? std::erfc(std::fabs(mean / se) / std::sqrt(2.0)) : (mean == 0 ? 1.0 : 0.0);
  return {mean, se, p};
}

void compare_runs(const std::vector<std::string>& csv_paths, const std::vector<std::string>& samples) {
  // Everything is read and checked first: an error prints no table.
  if (csv_paths.empty()) fail("compare needs at least one CSV (wr-eval compare A.csv B.csv ...)");
  if (!samples.empty() && samples.size() != 2) fail("--samples needs exactly two per-sample logs (A,B), got ", samples.size());
  for (const auto* paths : {&csv_paths, &samples})
    for (size_t i = 0; i < paths->size(); ++i)
      for (size_t k = 0; k < i; ++k)
        if (same_file((*paths)[k], (*paths)[i]))
          fail((*paths)[k], " and ", (*paths)[i], " are one file; name each input once");
  Headlines headlines;
  Tables tables;
  for (const auto& p : csv_paths) read_csv(p, tables, headlines);
  if (tables.columns.empty()) fail("no results in ", csv_paths.size(), " file(s)");
  label_columns(tables.columns);
  Samples a, b;
  std::vector<PairedRow> paired;
  if (!samples.empty()) {
    a = read_samples(samples[0], headlines);
    b = read_samples(samples[1], headlines);
    paired = pair_samples(a, b);
  }

  std::set<std::string> rule_sets;
  for (const auto& c : tables.columns) rule_sets.insert(c.rule_set);
  if (rule_sets.size() > 1) {
    std::printf("note: these runs follow different rule sets; the harnesses build different requests, so their\n"
                "numbers do not compare task by task:\n");
    for (const auto& c : tables.columns) std::printf("  %-24s %s\n", c.label.c_str(), printable(c.rule_set).c_str());
    std::printf("\n");
  }
  if (!tables.undefined.empty()) {
    std::vector<std::string> names;
    for (const auto& t : tables.undefined) names.push_back(printable(t));
    std::printf("note: not shown, no task definition says what heads them: %s\n\n", join(names, ", ").c_str());
  }
  const auto series = sweep_series(tables.columns, tables);
  if (!series.empty()) {  // a sweep: curves by step, and each run against the first at the steps both scored
    std::printf("a sweep of %zu run(s); per task, each run's value ± stderr at each step, and each run against A at\n"
                "the steps both scored: the difference, its stderr sqrt(se_A^2 + se_B^2) from the CSV (conservative\n"
                "for the same documents), two-sided p (normal approximation) and p after Holm's correction over the\n"
                "steps compared\n", series.size());
    for (size_t s = 0; s < series.size(); ++s)
      std::printf("  %c = %s\n", static_cast<char>('A' + s % 26), series[s].label.c_str());
    print_sweep(tables.headline, series, tables.columns, 100, "%.1f", "headline metric, percent");
    print_sweep(tables.bpb, series, tables.columns, 1, "%.4f", "bits per byte of the gold answer (lower is better)");
  } else {
    print_table(tables.headline, tables.columns, 100, ".1f");
    if (!tables.bpb.empty()) {
      std::printf("\nbits per byte of the gold answer (lower is better)\n");
      print_table(tables.bpb, tables.columns, 1, ".4f");
    }
  }
  const bool quantized = std::any_of(tables.columns.begin(), tables.columns.end(),
                                     [](const Column& c) { return c.identity.back() != "none"; });
  if (quantized) {  // wr-eval --quant: each scheme's drop from its own run's unquantized score
    std::printf("\nunder --quant, each scheme minus its own run's unquantized score (quant none)\n");
    print_drops(tables.headline, tables.columns, 100, ".1f");
    if (!tables.bpb.empty()) {
      std::printf("\nbits per byte, each scheme minus its own run's unquantized (positive: worse)\n");
      print_drops(tables.bpb, tables.columns, 1, ".4f");
    }
  }
  if (!samples.empty()) print_paired(paired, a, b, samples);
}

}  // namespace wr
