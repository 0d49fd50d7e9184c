#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "tasks/embedded.h"
#include "tasks/formats.h"
#include "tasks/preprocess.h"
#include "tasks/task.h"
#include "tasks/template.h"

// Task definitions: where they come from (compiled in, $WR_TASKS_DIR), "include" between them, and the checks
// that turn a definition into a TaskDef or one error naming its file and key.
namespace wr {

namespace {

// A task file's path stays inside the data directory: relative, no ".." component, no NUL (a definition naming
// "../../../../etc/passwd" would otherwise be read, or downloaded to, outside it).
void check_data_path(const std::string& path, const std::string& source) {
  const std::filesystem::path p(path);
  bool escapes = path.empty() || p.is_absolute() || path.find('\0') != std::string::npos;
  for (const auto& part : p) escapes = escapes || part == "..";
  if (escapes) fail(source, ": file path \"", path, "\" must be relative to the data directory, without \"..\"");
}

// The value at a dotted key ("metadata.harness"), or one line naming the file and the missing key (not the JSON
// library's "key 'metadata' not found").
const nlohmann::json& required(const nlohmann::json& j, const std::string& dotted, const std::string& source) {
  const nlohmann::json* at = &j;
  for (size_t begin = 0; begin <= dotted.size();) {
    const size_t end = std::min(dotted.find('.', begin), dotted.size());
    const std::string key = dotted.substr(begin, end - begin);
    if (!at->is_object() || !at->contains(key)) fail(source, ": missing key '", dotted, "'");
    at = &(*at)[key];
    begin = end + 1;
  }
  return *at;
}

// Every key a definition may hold, at the top and inside its objects ("files[]": each entry of the files array);
// anything else is a misspelling, refused when the definition loads rather than read as "" later.
const std::map<std::string, std::set<std::string>> kKnownKeys = {
    {"", {"task", "include", "description", "metadata", "files", "format", "labels_file", "preprocess", "doc_to_text",
          "doc_to_choice", "doc_to_target", "target_delimiter", "fewshot_delimiter", "metric_list", "output_type",
          "generation_kwargs", "doc_to_answers", "subtasks", "subtask_template", "headline"}},
    {"metadata", {"version", "harness"}},
    {"headline", {"metric", "prediction"}},
    {"files[]", {"path", "url", "generated_by", "zip_member", "sha256", "size", "datasets_server"}},
    {"files[].datasets_server", {"dataset", "config", "split", "rows"}},
    {"generation_kwargs", {"until", "max_gen_toks"}},
    {"doc_to_choice", {"values", "prefix"}},
    {"doc_to_target", {"constant", "label", "index_of", "in", "field", "minus", "values"}},
};
// The metrics eval/metrics.h computes.
const std::set<std::string> kMetrics = {"acc", "acc_norm", "acc_norm_nospace", "perplexity", "exact_match",
                                        "quasi_exact_match"};
// The metrics that can head a comparison (the accuracies), each with the per-sample fields that say whether a
// document counted for it (eval/evaluate.cpp writes them): acc's is "pred", or "is_greedy" for a task of one
// request per document (LAMBADA's greedy match).
const std::map<std::string, std::set<std::string>> kHeadlinePredictions = {
    {"acc", {"pred", "is_greedy"}},
    {"acc_norm", {"pred_norm"}},
    {"acc_norm_nospace", {"pred_norm_nospace"}},
    {"exact_match", {"exact_match"}},
    {"quasi_exact_match", {"quasi_exact_match"}}};

void check_keys(const nlohmann::json& node, const std::string& path, const std::string& source) {
  if (node.is_array() && kKnownKeys.count(path + "[]")) {
    for (const auto& item : node) check_keys(item, path + "[]", source);
    return;
  }
  const auto known = kKnownKeys.find(path);
  if (known == kKnownKeys.end() || !node.is_object()) return;
  for (const auto& [key, value] : node.items()) {
    const std::string where = path.empty() ? key : path + "." + key;
    if (!known->second.count(key)) {
      const std::string hint = closest(key, {known->second.begin(), known->second.end()});
      fail(source, ": unknown key '", where, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)");
    }
    check_keys(value, where, source);
  }
}

// A named value must be one of `known`: the error names the definition, the key and the closest known value.
void check_name(const std::string& value, const std::set<std::string>& known, const std::string& key,
                const std::string& source) {
  if (known.count(value)) return;
  const std::string hint = closest(value, {known.begin(), known.end()});
  fail(source, ": unknown ", key, " '", value, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)");
}

// The definition's "headline", checked against its metrics: one line naming the file and the key.
Headline headline_from_json(const nlohmann::json& j, const std::vector<std::string>& metrics, const std::string& source) {
  if (!j.contains("headline"))
    fail(source, ": needs 'headline' ({\"metric\": the accuracy a comparison reports, one of metric_list, "
                 "\"prediction\": the sample field it counts})");
  const auto& h = j["headline"];
  for (const char* key : {"metric", "prediction"})
    if (!h.is_object() || !h.contains(key) || !h[key].is_string())
      fail(source, ": 'headline' needs '", key, "' (a string)");
  Headline out{h["metric"].get<std::string>(), h["prediction"].get<std::string>()};
  if (std::find(metrics.begin(), metrics.end(), out.metric) == metrics.end())
    fail(source, ": headline.metric '", out.metric, "' is not in metric_list (", join(metrics, ", "), ")");
  const auto predictions = kHeadlinePredictions.find(out.metric);
  if (predictions == kHeadlinePredictions.end()) {
    std::vector<std::string> accuracies;
    for (const auto& [metric, _] : kHeadlinePredictions) accuracies.push_back(metric);
    fail(source, ": headline.metric '", out.metric, "' is not an accuracy (one of ", join(accuracies, ", "), ")");
  }
  if (!predictions->second.count(out.prediction))
    fail(source, ": headline.prediction '", out.prediction, "' is not what ", out.metric, " counts (",
         join({predictions->second.begin(), predictions->second.end()}, " or "), ")");
  return out;
}

Formulation formulation_from_json(const nlohmann::json& j) {
  Formulation f;
  f.format = j.at("format").get<std::string>();
  f.labels_file = j.value("labels_file", "");
  f.preprocess = j.value("preprocess", "");
  f.doc_to_text = j.value("doc_to_text", "");
  if (j.contains("doc_to_choice")) {
    const auto& c = j["doc_to_choice"];
    if (c.is_string()) {
      f.choices_path = c.get<std::string>();
    } else if (c.is_object()) {  // {values: a path, prefix: put before each (lighteval's " ")}
      f.choices_path = c.at("values").get<std::string>();
      f.choice_prefix = c.value("prefix", "");
    } else {
      f.choice_templates = c.get<std::vector<std::string>>();
    }
  }
  f.doc_to_answers = j.value("doc_to_answers", "");
  if (j.contains("doc_to_target")) f.gold = gold_rule_from_json(j["doc_to_target"]);
  f.target_delimiter = j.value("target_delimiter", " ");
  f.fewshot_delimiter = j.value("fewshot_delimiter", "\n\n");
  if (f.preprocess.empty() && !j.contains("doc_to_text")) fail("needs 'doc_to_text' or 'preprocess'");
  if (f.preprocess.empty() && !j.contains("doc_to_choice") && !j.contains("doc_to_answers"))
    fail("needs 'doc_to_choice' (or 'doc_to_answers' for generate_until) or 'preprocess'");
  return f;
}

TaskDef task_from_json(const nlohmann::json& json, const std::string& name, const std::string& source) {
  TaskDef t;
  t.source = source;
  try {
    t.json = json;
    if (!t.json.is_object()) fail(t.source, ": a definition is a JSON object");
    check_keys(t.json, "", t.source);
    // "lighteval/piqa" is the definition of the task named "piqa" under the lighteval rules
    t.definition = name;
    const std::string expected = name.substr(name.rfind('/') + 1);
    t.name = required(t.json, "task", t.source).get<std::string>();
    if (t.name != expected) fail(t.source, ": 'task' is '", t.name, "', expected '", expected, "'");
    t.description = t.json.value("description", "");
    t.version = required(t.json, "metadata.version", t.source).get<double>();
    t.harness = required(t.json, "metadata.harness", t.source).get<std::string>();
    if (t.json.contains("subtasks")) {  // a group
      for (const auto& [subject, category] : t.json.at("subtasks").items()) {
        t.subtasks.push_back(name + "_" + subject);
        t.category_of[t.name + "_" + subject] = category.get<std::string>();
      }
      t.metrics = {"acc"};
      t.headline = headline_from_json(t.json, t.metrics, t.source);
      return t;
    }
    t.metrics = required(t.json, "metric_list", t.source).get<std::vector<std::string>>();
    t.form = formulation_from_json(t.json);
    for (const auto& m : t.metrics) check_name(m, kMetrics, "metric", t.source);
    t.headline = headline_from_json(t.json, t.metrics, t.source);
    check_name(required(t.json, "format", t.source).get<std::string>(), doc_formats(), "format", t.source);
    if (t.json.contains("preprocess") && !find_preprocessor(t.json["preprocess"].get<std::string>())) {
      std::set<std::string> names;
      for (const auto& p : preprocessors()) names.insert(p.name);
      check_name(t.json["preprocess"].get<std::string>(), names, "preprocess", t.source);
    }
    for (const auto& f : required(t.json, "files", t.source)) {
      TaskFile tf;
      tf.path = required(f, "path", t.source + ": files[]").get<std::string>();
      check_data_path(tf.path, t.source);
      tf.url = f.value("url", "");
      tf.generated_by = f.value("generated_by", "");
      if (tf.url.empty() == tf.generated_by.empty())
        fail(t.source, ": file ", tf.path, " needs exactly one of 'url' and 'generated_by'");
      tf.zip_member = f.value("zip_member", "");
      if (f.contains("sha256") && !f["sha256"].is_null()) tf.sha256 = f["sha256"].get<std::string>();
      if (f.contains("size") && !f["size"].is_null())
        tf.size = json_integer(f["size"], t.source + ": size of " + tf.path, 0, int64_t{1} << 40);
      if (f.contains("datasets_server")) {
        tf.datasets_server = f["datasets_server"];
        for (const char* k : {"dataset", "config", "split", "rows"})
          if (!tf.datasets_server.contains(k)) fail(t.source, ": datasets_server of ", tf.path, " lacks '", k, "'");
      }
      t.files.push_back(tf);
    }
    if (t.files.empty()) fail(t.source, ": 'files' is empty");
    const std::string output_type = t.json.value("output_type", "multiple_choice");
    if (output_type == "generate_until") {
      t.generative = true;
      const auto& g = t.json.at("generation_kwargs");
      t.until = g.at("until").get<std::vector<std::string>>();
      t.max_gen_toks = g.value("max_gen_toks", int64_t{256});
      if (!t.json.contains("doc_to_answers")) fail(t.source, ": generate_until needs 'doc_to_answers'");
    } else if (output_type != "multiple_choice") {
      fail(t.source, ": output_type '", output_type, "', expected multiple_choice or generate_until");
    }
  } catch (const nlohmann::json::exception& e) {
    fail(t.source, ": ", e.what());
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(t.source, 0) == 0) throw;
    fail(t.source, ": ", e.what());
  }
  return t;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
}

// One definition's text and where it came from.
struct DefText {
  std::string name, json, source;
};

// The definitions in $WR_TASKS_DIR (<name>.json each, "lighteval/piqa" for lighteval/piqa.json), then the
// compiled-in ones they do not replace.
std::vector<DefText> definitions() {
  std::vector<DefText> defs;
  if (const char* dir = std::getenv("WR_TASKS_DIR"); dir && *dir) {
    if (!is_directory(dir)) fail("WR_TASKS_DIR=", dir, ": not a directory");
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (e.path().extension() != ".json") continue;
      const std::string name = std::filesystem::relative(e.path(), dir).replace_extension().generic_string();
      defs.push_back({name, read_file(e.path().string()), e.path().string()});
    }
    std::sort(defs.begin(), defs.end(), [](const DefText& a, const DefText& b) { return a.name < b.name; });
  }
  const size_t from_dir = defs.size();
  for (size_t i = 0; i < kEmbeddedDefsCount; ++i) {
    const std::string name = kEmbeddedDefs[i].name;
    const bool replaced = std::any_of(defs.begin(), defs.begin() + static_cast<std::ptrdiff_t>(from_dir),
                                      [&](const DefText& d) { return d.name == name; });
    if (!replaced) defs.push_back({name, kEmbeddedDefs[i].json, "tasks/defs/" + name + ".json"});
  }
  return defs;
}

nlohmann::json parse_definition(const DefText& def) {
  try {
    return parse_json(def.json);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    fail(def.source, ": not valid JSON: ", e.what());
  }
}

// A definition with its "include" resolved: the included definition's keys, then this one's on top (a key
// given here replaces the included value whole). Includes may chain; a cycle is an error naming the chain.
nlohmann::json resolve_includes(const std::vector<DefText>& defs, const DefText& def, std::vector<std::string> chain = {}) {
  nlohmann::json j = parse_definition(def);
  if (!j.is_object() || !j.contains("include")) return j;
  chain.push_back(def.name);
  const auto& include = j["include"];
  if (!include.is_string()) fail(def.source, ": 'include' must be the name of another definition");
  const std::string base_name = include.get<std::string>();
  if (std::find(chain.begin(), chain.end(), base_name) != chain.end())
    fail(def.source, ": 'include' makes a cycle (", join(chain, " -> "), " -> ", base_name, ")");
  const auto base = std::find_if(defs.begin(), defs.end(), [&](const DefText& d) { return d.name == base_name; });
  if (base == defs.end()) fail(def.source, ": 'include' names '", base_name, "', which is not a task definition");
  nlohmann::json merged = resolve_includes(defs, *base, chain);
  for (const auto& [key, value] : j.items())
    if (key != "include") merged[key] = value;
  return merged;
}

}  // namespace

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const auto& d : definitions()) names.push_back(d.name);
  std::sort(names.begin(), names.end());
  return names;
}

TaskDef load_task(const std::string& name) {
  const auto defs = definitions();
  for (const auto& def : defs) {
    const std::string &def_name = def.name, &source = def.source;
    if (name == def_name) return task_from_json(resolve_includes(defs, def), name, source);
    // A subtask of a group: <group>_<subject>.
    if (name.rfind(def_name + "_", 0) != 0) continue;
    const auto group = resolve_includes(defs, def);
    const std::string subject = name.substr(def_name.size() + 1);
    if (!group.contains("subtasks") || !group["subtasks"].contains(subject)) continue;
    std::string words = subject;
    std::replace(words.begin(), words.end(), '_', ' ');
    std::string text = group.at("subtask_template").dump();
    replace_all(text, "{subject_words}", words);
    replace_all(text, "{subject}", subject);
    return task_from_json(parse_json(text), name, source + " (subtask " + subject + ")");
  }
  std::string hint = closest(name, task_names());
  fail("unknown task '", name, "'", hint.empty() ? "" : " (did you mean " + hint + "?)", "; see wr-eval tasks list");
}

std::string default_data_dir() {
  if (const char* d = std::getenv("WR_DATA_DIR")) return d;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/wr/tasks";
}

}  // namespace wr
