#include "tasks/task.h"

#include <fstream>

#include "common/error.h"
#include "common/file.h"
#include "tasks/formats.h"
#include "tasks/preprocess.h"
#include "tasks/template.h"

namespace wr {

std::vector<Doc> build_docs(const TaskDef& task, const std::string& data_dir, int64_t limit) {
  const nlohmann::json& j = task.json;
  if (!task.subtasks.empty()) fail(task.name, " is a group of ", task.subtasks.size(), " tasks (", task.subtasks[0], ", ...)");
  const std::string docs_path = data_dir + "/" + task.files[0].path;
  if (!file_exists(docs_path))
    fail(task.name, ": missing data file ", docs_path, " (run: wr-eval tasks download ", task.name, ")");
  auto raw = read_docs(docs_path, j.at("format").get<std::string>());
  if (raw.empty()) fail(docs_path, ": no documents (an empty or truncated file?); delete it to download it again");

  std::vector<std::string> labels;
  std::string labels_path;
  if (j.contains("labels_file")) {
    labels_path = data_dir + "/" + j["labels_file"].get<std::string>();
    std::ifstream in(labels_path);
    if (!in) fail(task.name, ": missing labels file ", labels_path);
    for (std::string line; std::getline(in, line);)
      if (!python_strip(line).empty()) labels.push_back(line);
    if (labels.size() != raw.size())
      fail(labels_path, ": ", labels.size(), " labels for ", raw.size(), " documents in ", docs_path);
  }

  const std::string delimiter = j.value("target_delimiter", " ");
  const Preprocessor* preprocess = j.contains("preprocess") ? find_preprocessor(j["preprocess"].get<std::string>()) : nullptr;
  std::vector<Doc> docs;
  const size_t n = limit > 0 ? std::min<size_t>(raw.size(), static_cast<size_t>(limit)) : raw.size();
  for (size_t i = 0; i < n; ++i) {
    const auto& doc = raw[i];
    try {
      Doc d;
      if (preprocess) d = preprocess->build(doc, delimiter);
      else if (task.generative) {
        d.choices = values_at(doc, j.at("doc_to_answers").get<std::string>());
        if (d.choices.empty()) fail("no answers at '", j.at("doc_to_answers").get<std::string>(), "'");
        d.requests.push_back({render(j.at("doc_to_text").get<std::string>(), doc), ""});
      } else {
        const std::string context = render(j.at("doc_to_text").get<std::string>(), doc);
        const auto& choice_spec = j.at("doc_to_choice");
        if (choice_spec.is_string()) {  // a path to the choices
          d.choices = values_at(doc, choice_spec.get<std::string>());
        } else if (choice_spec.is_object()) {  // {values: a path, prefix: put before each (lighteval's " ")}
          for (const auto& c : values_at(doc, choice_spec.at("values").get<std::string>()))
            d.choices.push_back(choice_spec.value("prefix", "") + c);
        } else {  // a template per choice
          for (const auto& c : choice_spec) d.choices.push_back(render(c.get<std::string>(), doc));
        }
        for (const auto& c : d.choices) d.requests.push_back({context, delimiter + c});
      }
      if (d.requests.empty()) fail("no choices");
      if (j.contains("doc_to_target")) {
        d.gold = gold_of(j["doc_to_target"], doc, labels.empty() ? nullptr : &labels[i]);
        if (d.gold < 0 || d.gold >= static_cast<int>(d.requests.size()))
          fail("gold index ", d.gold, " is out of range for ", d.requests.size(), " choices");
      }
      d.id = static_cast<int64_t>(i);
      docs.push_back(std::move(d));
    } catch (const Error& e) {
      fail(docs_path, ": document ", i + 1, ": ", e.what());
    } catch (const nlohmann::json::exception& e) {
      fail(docs_path, ": document ", i + 1, ": ", e.what());
    }
  }
  return docs;
}

}  // namespace wr
