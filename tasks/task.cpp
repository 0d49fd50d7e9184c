#include "tasks/task.h"

#include <fstream>

#include "common/error.h"
#include "common/file.h"
#include "tasks/formats.h"
#include "tasks/preprocess.h"
#include "tasks/template.h"

namespace wr {

std::vector<Doc> build_docs(const TaskDef& task, const std::string& data_dir, int64_t limit) {
  const Formulation& f = task.form;
  if (!task.subtasks.empty()) fail(task.name, " is a group of ", task.subtasks.size(), " tasks (", task.subtasks[0], ", ...)");
  const std::string docs_path = data_dir + "/" + task.files[0].path;
  if (!file_exists(docs_path))
    fail(task.name, ": missing data file ", docs_path, " (run: wr-eval tasks download ", task.name, ")");
  auto raw = read_docs(docs_path, f.format);
  if (raw.empty()) fail(docs_path, ": no documents (an empty or truncated file?); remove this one file and it is downloaded again");

  std::vector<std::string> labels;
  if (!f.labels_file.empty()) {
    const std::string labels_path = data_dir + "/" + f.labels_file;
    std::ifstream in(labels_path);
    if (!in) fail(task.name, ": missing labels file ", labels_path);
    for (std::string line; std::getline(in, line);)
      if (!python_strip(line).empty()) labels.push_back(line);
    if (labels.size() != raw.size())
      fail(labels_path, ": ", labels.size(), " labels for ", raw.size(), " documents in ", docs_path);
  }

  const Preprocessor* preprocess = f.preprocess.empty() ? nullptr : find_preprocessor(f.preprocess);
  std::vector<Doc> docs;
  const size_t n = limit > 0 ? std::min<size_t>(raw.size(), static_cast<size_t>(limit)) : raw.size();
  for (size_t i = 0; i < n; ++i) {
    const auto& doc = raw[i];
    try {
      Doc d;
      if (preprocess) {
        d = preprocess->build(doc, f.target_delimiter);
      } else if (task.generative) {
        d.choices = values_at(doc, f.doc_to_answers);
        if (d.choices.empty()) fail("no answers at '", f.doc_to_answers, "'");
        d.requests.push_back({render(f.doc_to_text, doc), ""});
      } else {
        const std::string context = render(f.doc_to_text, doc);
        if (!f.choices_path.empty())
          for (const auto& c : values_at(doc, f.choices_path)) d.choices.push_back(f.choice_prefix + c);
        for (const auto& t : f.choice_templates) d.choices.push_back(render(t, doc));
        for (const auto& c : d.choices) d.requests.push_back({context, f.target_delimiter + c});
      }
      if (d.requests.empty()) fail("no choices");
      d.gold = gold_of(f.gold, doc, labels.empty() ? nullptr : &labels[i]);
      if (f.gold.kind != GoldRule::Kind::none && (d.gold < 0 || d.gold >= static_cast<int>(d.requests.size())))
        fail("gold index ", d.gold, " is out of range for ", d.requests.size(), " choices");
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
