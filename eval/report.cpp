#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/file.h"
#include "common/lock.h"

namespace wr {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string number(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

}  // namespace

const char* const kCsvHeader =
    "run,checkpoint,checkpoint_sha256,step,task,metric,value,stderr,n,num_fewshot,bos,rules,wr_version,date,quant,"
    "tokens,subset";

namespace {
// Earlier headers, each the one after it less its last columns: before the quant column (issue 28; its rows are
// models' own scores, quant "none") and before the tokens and subset columns (issue 29; unknown, empty).
const char* const kCsvHeaderBeforeQuant =
    "run,checkpoint,checkpoint_sha256,step,task,metric,value,stderr,n,num_fewshot,bos,rules,wr_version,date";
const char* const kCsvHeaderBeforeSweep =
    "run,checkpoint,checkpoint_sha256,step,task,metric,value,stderr,n,num_fewshot,bos,rules,wr_version,date,quant";

const std::vector<std::string>& header_names() {
  static const auto names = parse_csv(kCsvHeader, "kCsvHeader")[0].fields;
  return names;
}

// The column of `name` in kCsvHeader.
size_t column(const std::string& name) {
  const auto& names = header_names();
  return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

std::string key_of(const std::vector<std::string>& fields) {
  std::string key;
  for (const char* name : {"run", "step", "task", "rules", "bos", "num_fewshot", "subset", "quant"})
    key += fields[column(name)] + '\x1f';
  return key;
}
}  // namespace

std::string subset_name(int64_t limit, int64_t sample, uint64_t seed) {
  if (sample > 0) return "sample " + std::to_string(sample) + " seed " + std::to_string(seed);
  return limit > 0 ? "first " + std::to_string(limit) : "all";
}

std::string default_run_name(const std::string& checkpoint) {
  std::filesystem::path p = std::filesystem::absolute(checkpoint).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "hf/" names the folder hf
  return (p.parent_path().filename() / p.filename()).generic_string();
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string read_csv_to_append(const std::string& path) {
  if (!file_exists(path)) return "";
  std::string raw = read_file(path), content;
  if (raw.rfind("\xEF\xBB\xBF", 0) == 0) raw.erase(0, 3);
  content.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i)
    if (!(raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n')) content += raw[i];
  if (content.find_first_not_of(" \t\r\n") == std::string::npos) return "";
  const std::string first = content.substr(0, content.find('\n'));
  if (first == kCsvHeaderBeforeQuant || first == kCsvHeaderBeforeSweep) {  // the missing columns added to each row
    const std::string missing = std::string(kCsvHeader).substr(first.size());
    std::string added;
    const auto names = parse_csv(missing.substr(1), path);
    for (const auto& name : names[0].fields) added += name == "quant" ? ",none" : ",";
    std::string upgraded = std::string(kCsvHeader) + "\n";
    const auto rows = parse_csv(content, path);
    for (size_t r = 1; r < rows.size(); ++r) upgraded += rows[r].text + added + "\n";
    return upgraded;
  }
  if (first != kCsvHeader) fail(path, ": existing file has another header; expected ", kCsvHeader);
  if (content.back() != '\n') content += '\n';
  return content;
}

std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source) {
  std::vector<CsvRow> rows;
  int64_t line = 1;
  for (size_t i = 0; i < text.size();) {
    CsvRow row;
    row.line = line;
    row.fields.emplace_back();
    const size_t start = i;
    bool quoted = false, closed = false;  // inside quotes; after a field's closing quote
    for (; i < text.size(); ++i) {
      const char c = text[i];
      std::string& field = row.fields.back();
      if (quoted) {
        if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          field += '"', ++i;
        } else if (c == '"') {
          quoted = false, closed = true;
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
        break;
      } else if (c == ',') {
        row.fields.emplace_back();
        closed = false;
      } else if (closed) {
        fail(source, ":", line, ": text after a quoted field's closing quote (RFC 4180: a quote inside a quoted "
             "field is doubled)");
      } else if (c == '"') {
        if (!field.empty()) fail(source, ":", line, ": a quote inside an unquoted field (RFC 4180 quotes the whole field)");
        quoted = true;
      } else {
        field += c;
      }
    }
    if (quoted) fail(source, ":", row.line, ": a quoted field is never closed");
    row.text = text.substr(start, i - start);
    if (i < text.size() && text[i] == '\r') ++i;
    if (i < text.size() && text[i] == '\n') ++i, ++line;
    if (!row.text.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

void keep_csv_rows_through_step(const std::string& path, int64_t step) {
  if (!file_exists(path)) return;
  const FileLock lock = FileLock::wait(path);
  if (step < 0) return write_file_atomic(path, std::string(kCsvHeader) + "\n");
  const auto rows = parse_csv(read_csv_to_append(path), path);
  std::string kept = std::string(kCsvHeader) + "\n";
  for (size_t r = 1; r < rows.size(); ++r) {  // rows[0]: the header, checked by read_csv_to_append
    const auto& fields = rows[r].fields;
    char* end = nullptr;
    const long long row_step = fields.size() > 3 ? std::strtoll(fields[3].c_str(), &end, 10) : 0;
    const size_t columns = rows[0].fields.size();
    if (fields.size() != columns || fields[3].empty() || *end)
      fail(path, ":", rows[r].line, ": expected a row of ", columns, " fields with a training step, got '", rows[r].text, "'");
    if (row_step <= step) kept += rows[r].text + "\n";
  }
  write_file_atomic(path, kept);
}

std::string row_key(const RunInfo& run, const std::string& task, const std::string& quant) {
  std::vector<std::string> fields(header_names().size());
  fields[column("run")] = run.run;
  fields[column("step")] = run.step >= 0 ? std::to_string(run.step) : "";
  fields[column("task")] = task;
  fields[column("rules")] = run.rules;
  fields[column("bos")] = run.bos ? "on" : "off";
  fields[column("num_fewshot")] = std::to_string(run.num_fewshot);
  fields[column("subset")] = run.subset;
  fields[column("quant")] = quant;
  return key_of(fields);
}

std::set<std::string> csv_row_keys(const std::string& path) {
  std::set<std::string> keys;
  const auto rows = parse_csv(read_csv_to_append(path), path);
  for (size_t r = 1; r < rows.size(); ++r)
    if (rows[r].fields.size() == rows[0].fields.size()) keys.insert(key_of(rows[r].fields));
  return keys;
}

// Read, extend and replace under the CSV's lock: two runs appending at once (a sweep) each add their rows.
void append_csv(const std::string& path, const RunInfo& run, const std::vector<TaskResult>& results) {
  const FileLock lock = FileLock::wait(path);
  std::set<std::string> replaced;
  for (const auto& r : results) replaced.insert(row_key(run, r.task.name, r.quant));
  std::string content = std::string(kCsvHeader) + "\n";
  const auto rows = parse_csv(read_csv_to_append(path), path);
  for (size_t r = 1; r < rows.size(); ++r)  // rows of another width are kept as they are: they are not ours to drop
    if (rows[r].fields.size() != rows[0].fields.size() || !replaced.count(key_of(rows[r].fields)))
      content += rows[r].text + "\n";
  for (const auto& r : results) {
    std::vector<MetricValue> metrics = r.metrics;
    for (const auto& pm : r.paired) {
      metrics.push_back({pm.name + "_delta", pm.delta, pm.stderr_});
      if (std::isfinite(pm.p)) metrics.push_back({pm.name + "_delta_p", pm.p, -1});
    }
    for (const auto& m : metrics) {
      std::vector<std::string> row = {run.run,
                                      run.checkpoint,
                                      run.checkpoint_sha256,
                                      run.step >= 0 ? std::to_string(run.step) : "",
                                      r.task.name,
                                      m.name,
                                      number(m.value),
                                      m.stderr_ >= 0 ? number(m.stderr_) : "",
                                      std::to_string(r.n_docs),
                                      std::to_string(run.num_fewshot),
                                      run.bos ? "on" : "off",
                                      run.rules,
                                      WR_VERSION,
                                      run.date,
                                      r.quant,
                                      run.tokens >= 0 ? std::to_string(run.tokens) : "",
                                      run.subset};
      for (size_t i = 0; i < row.size(); ++i) content += (i ? "," : "") + csv_field(row[i]);
      content += "\n";
    }
  }
  write_file_atomic(path, content);
}

nlohmann::json harness_json(const RunInfo& run, const EvalOptions& opt, const std::vector<TaskResult>& results) {
  nlohmann::json j;
  j["results"] = nlohmann::json::object();
  for (const auto& r : results) {
    if (r.quant != "none") {  // a variant's row: under "quant", with its paired differences
      auto& t = j["quant"]["results"][r.quant][r.task.name];
      for (const auto& m : r.metrics) {
        t[m.name + ",none"] = m.value;
        t[m.name + "_stderr,none"] = m.stderr_ >= 0 ? nlohmann::json(m.stderr_) : nlohmann::json("N/A");
      }
      for (const auto& pm : r.paired)
        t["paired"][pm.name] = {{"reference", pm.reference}, {"value", pm.value}, {"delta", pm.delta},
                                {"delta_stderr", pm.stderr_ >= 0 ? nlohmann::json(pm.stderr_) : nlohmann::json("N/A")},
                                {"p", std::isfinite(pm.p) ? nlohmann::json(pm.p) : nlohmann::json("N/A")}};
      t["seconds"] = r.model_seconds;
      continue;
    }
    auto& t = j["results"][r.task.name];
    t["alias"] = r.task.name;
    for (const auto& m : r.metrics) {
      t[m.name + ",none"] = m.value;
      t[m.name + "_stderr,none"] = m.stderr_ >= 0 ? nlohmann::json(m.stderr_) : nlohmann::json("N/A");
    }
    j["n-shot"][r.task.name] = run.num_fewshot;
    j["versions"][r.task.name] = r.task.version;
    j["configs"][r.task.name] = r.task.json;
    j["n-samples"][r.task.name] = {{"original", r.n_docs}, {"effective", r.n_docs}};
    if (r.requests > 0)  // wr's own key: how often the harness rule sliced a context's last piece
      j["context_not_prefix"][r.task.name] = {{"requests", r.requests}, {"context_not_prefix", r.context_not_prefix}};
    if (!r.task.subtasks.empty()) {  // a group's result (mmlu, mmlu_stem, ...): also under "groups", as lm-eval does
      j["groups"][r.task.name] = t;
      j["group_subtasks"][r.task.name] = r.task.subtasks;
    }
  }
  j["config"] = {{"model", "wr"},
                 {"model_args", run.checkpoint},
                 {"checkpoint_sha256", run.checkpoint_sha256},
                 {"step", run.step},
                 {"bos", run.bos},
                 {"bos_why", run.bos_why},
                 {"rules", {{"name", opt.rules.name}, {"sha256", opt.rules.sha256}, {"follows", opt.rules.follows},
                            {"source", opt.rules.source}}},
                 {"limit", opt.limit > 0 ? nlohmann::json(opt.limit) : nlohmann::json(nullptr)},
                 {"sample", opt.sample > 0 ? nlohmann::json(opt.sample) : nlohmann::json(nullptr)},
                 {"sample_seed", opt.sample_seed},
                 {"batch_tokens", opt.score.batch_tokens},
                 {"share_context", opt.score.share},
                 {"quant", run.quant}};
  j["date"] = run.date;
  j["wr_version"] = WR_VERSION;
  return j;
}

std::string paired_table(const std::vector<TaskResult>& results) {
  std::string out =
      "against the model's own scores (quant none) on the same documents: delta = quant - none, its paired stderr "
      "and p\n(exact McNemar for accuracies, paired normal approximation otherwise); kl: mean KL(none || quant) "
      "of the\nnext-token distributions over the scored tokens, top1_agree: how often their argmaxes agree\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-20s %-8s %-16s %9s %9s %9s %8s %9s\n", "task", "quant", "metric", "none",
                "quant", "delta", "stderr", "p");
  out += line;
  auto number = [](double v, const char* format) {
    char buf[32];
    std::snprintf(buf, sizeof buf, format, v);
    return std::string(buf);
  };
  for (const auto& r : results) {
    if (r.quant == "none") continue;
    for (const auto& pm : r.paired) {
      std::snprintf(line, sizeof line, "%-20s %-8s %-16s %9.4f %9.4f %+9.4f %8s %9s\n", r.task.name.c_str(),
                    r.quant.c_str(), pm.name.c_str(), pm.reference, pm.value, pm.delta,
                    pm.stderr_ >= 0 ? number(pm.stderr_, "%.4f").c_str() : "",
                    std::isfinite(pm.p) ? number(pm.p, "%.3g").c_str() : "");
      out += line;
    }
    for (const auto& m : r.metrics)
      if (m.name == "kl" || m.name == "top1_agree") {
        std::snprintf(line, sizeof line, "%-20s %-8s %-16s %9s %9.5f %9s %8s\n", r.task.name.c_str(), r.quant.c_str(),
                      m.name.c_str(), "", m.value, "", m.stderr_ >= 0 ? number(m.stderr_, "%.5f").c_str() : "");
        out += line;
      }
  }
  std::string seconds;  // the time each model spent scoring, over all tasks
  std::vector<std::pair<std::string, double>> by_quant;
  for (const auto& r : results) {
    if (!r.task.subtasks.empty()) continue;  // a group's rows repeat its subtasks' time
    auto it = std::find_if(by_quant.begin(), by_quant.end(), [&](const auto& q) { return q.first == r.quant; });
    if (it == by_quant.end()) by_quant.emplace_back(r.quant, 0), it = by_quant.end() - 1;
    it->second += r.model_seconds;
  }
  for (const auto& [quant, s] : by_quant) {
    seconds += (seconds.empty() ? "" : ", ") + quant + " " + number(s, "%.1f") + " s";
    if (quant != "none" && by_quant[0].second > 0) seconds += " (" + number(100 * (s / by_quant[0].second - 1), "%+.0f") + "%)";
  }
  return out + "seconds scoring (decoder and head): " + seconds + "\n";
}

}  // namespace wr
