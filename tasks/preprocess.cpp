#include "tasks/preprocess.h"

#include <regex>

#include "common/error.h"

namespace wr {
namespace {

const char* kSpace = " \t\n\r\f\v";

std::string field(const nlohmann::json& doc, const char* name) {
  if (!doc.contains(name) || !doc[name].is_string()) fail("missing string field '", name, "'");
  return doc[name].get<std::string>();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}

}  // namespace

std::string python_strip(const std::string& s) {
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

std::string python_lstrip(const std::string& s) {
  size_t b = s.find_first_not_of(kSpace);
  return b == std::string::npos ? "" : s.substr(b);
}

std::string python_capitalize(const std::string& s) {
  std::string out = s;
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 0x80) continue;  // non-ASCII bytes are left as they are
    out[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return out;
}

std::string hellaswag_tags(const std::string& text) {
  std::string t = text;
  replace_all(t, " [title]", ". ");
  static const std::regex tag("\\[[^\\]\n]*\\]");  // Python re "\[.*?\]" (. excludes newline)
  t = std::regex_replace(t, tag, "");
  // Python's str.replace("  ", " "): one left-to-right pass over non-overlapping pairs.
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    out += t[i];
    if (t[i] == ' ' && i + 1 < t.size() && t[i + 1] == ' ') ++i;
  }
  return out;
}

std::string hellaswag_clean(const std::string& text) { return hellaswag_tags(python_strip(text)); }

Doc preprocess_hellaswag(const nlohmann::json& doc, const std::string& delimiter) {
  if (!doc.contains("endings") || !doc["endings"].is_array() || doc["endings"].empty())
    fail("missing or empty 'endings'");
  const std::string ctx = field(doc, "ctx_a") + " " + python_capitalize(field(doc, "ctx_b"));
  const std::string query = hellaswag_clean(field(doc, "activity_label") + ": " + ctx);
  Doc d;
  for (const auto& e : doc["endings"]) {
    if (!e.is_string()) fail("'endings' holds a non-string");
    d.choices.push_back(hellaswag_clean(e.get<std::string>()));
    d.requests.push_back({query, delimiter + d.choices.back()});
  }
  return d;
}

Doc preprocess_hellaswag_lighteval(const nlohmann::json& doc, const std::string& delimiter) {
  if (!doc.contains("endings") || !doc["endings"].is_array() || doc["endings"].empty())
    fail("missing or empty 'endings'");
  const std::string ctx = field(doc, "ctx_a") + " " + python_capitalize(field(doc, "ctx_b")) + " ";
  const std::string query = hellaswag_tags(field(doc, "activity_label") + ": " + ctx);
  Doc d;
  for (const auto& e : doc["endings"]) {
    if (!e.is_string()) fail("'endings' holds a non-string");
    d.choices.push_back(" " + hellaswag_tags(e.get<std::string>()));
    d.requests.push_back({query, delimiter + d.choices.back()});
  }
  return d;
}

Doc preprocess_winogrande(const nlohmann::json& doc, const std::string& delimiter) {
  const std::string sentence = field(doc, "sentence");
  const size_t i = sentence.find('_');
  if (i == std::string::npos) fail("'sentence' has no '_' blank");
  const std::string continuation = delimiter + python_strip(sentence.substr(i + 1));
  Doc d;
  for (const char* option : {"option1", "option2"}) {
    d.choices.push_back(field(doc, option));
    d.requests.push_back({sentence.substr(0, i) + d.choices.back(), continuation});
  }
  return d;
}

Doc preprocess_winogrande_lighteval(const nlohmann::json& doc, const std::string& delimiter) {
  const std::string sentence = field(doc, "sentence");
  const size_t i = sentence.find('_');
  if (i == std::string::npos || sentence.find('_', i + 1) != std::string::npos)
    fail("'sentence' needs exactly one '_' blank");  // lighteval's split("_") into two parts
  const std::string rest = python_strip(sentence.substr(i + 1));
  Doc d;
  for (const char* option : {"option1", "option2"}) {
    d.choices.push_back(field(doc, option) + " " + rest);
    d.requests.push_back({sentence.substr(0, i), delimiter + d.choices.back()});
  }
  return d;
}

Doc preprocess_lambada(const nlohmann::json& doc) {
  const std::string text = field(doc, "text");
  const size_t space = text.rfind(' ');
  if (space == std::string::npos) fail("'text' has no space to split the last word off");
  Doc d;
  d.choices.push_back(text.substr(space + 1));
  d.requests.push_back({text.substr(0, space), " " + d.choices.back()});
  return d;
}

Doc preprocess_copa(const nlohmann::json& doc, const std::string& delimiter) {
  const std::string question = field(doc, "question");
  if (question != "cause" && question != "effect") fail("'question' is '", question, "', expected \"cause\" or \"effect\"");
  const std::string premise = python_strip(field(doc, "premise"));
  if (premise.empty()) fail("'premise' is empty");
  // Python's [:-1] drops one code point; premises end in an ASCII period.
  const std::string context = premise.substr(0, premise.size() - 1) + (question == "cause" ? " because" : " therefore");
  Doc d;
  for (const char* key : {"choice1", "choice2"}) {
    d.choices.push_back(field(doc, key));
    d.requests.push_back({context, delimiter + d.choices.back()});
  }
  return d;
}

const std::vector<Preprocessor>& preprocessors() {
  static const std::vector<Preprocessor> table = {
      {"hellaswag", preprocess_hellaswag},
      {"winogrande", preprocess_winogrande},
      {"hellaswag_lighteval", preprocess_hellaswag_lighteval},
      {"winogrande_lighteval", preprocess_winogrande_lighteval},
      {"lambada", [](const nlohmann::json& doc, const std::string&) { return preprocess_lambada(doc); }},
      {"copa", preprocess_copa},
  };
  return table;
}

const Preprocessor* find_preprocessor(const std::string& name) {
  for (const auto& p : preprocessors())
    if (name == p.name) return &p;
  return nullptr;
}

}  // namespace wr
