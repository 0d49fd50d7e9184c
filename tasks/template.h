// A definition's templates applied to one raw document: dotted field paths, "{field|filter}" templates and the
// gold rule of doc_to_target. Errors name the field; the caller adds the file and document.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/task.h"

namespace wr {

// The values at a dotted path; "*" maps over an array ("question.choices.*.text"), a number indexes one
// ("question.choices.0.text"). Numbers and booleans are returned as JSON text.
std::vector<std::string> values_at(const nlohmann::json& doc, const std::string& path);
// values_at that must find exactly one value.
std::string value_at(const nlohmann::json& doc, const std::string& path);
// "{a.b}" and "{a.b|lstrip}" / "{a.b|strip}" / "{a.b|capitalize}" (Python's str methods) replaced by the
// document's values; other text is literal.
std::string render(const std::string& tmpl, const nlohmann::json& doc);
// doc_to_target's JSON ({constant}, {label: minus}, {index_of, in}, {field, minus | values}) as a rule; errors name
// what is missing.
GoldRule gold_rule_from_json(const nlohmann::json& spec);
// The gold index of a document by the rule; label_line is null when the task has no labels file.
int gold_of(const GoldRule& rule, const nlohmann::json& doc, const std::string* label_line);

}  // namespace wr
