#include "tasks/template.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "tasks/preprocess.h"

namespace wr {
namespace {

void collect(const nlohmann::json& node, const std::vector<std::string>& parts, size_t i,
             std::vector<const nlohmann::json*>& out) {
  if (i == parts.size()) {
    out.push_back(&node);
    return;
  }
  if (parts[i] == "*") {
    if (!node.is_array()) fail("'", parts[i - 1], "' is not a list");
    for (const auto& x : node) collect(x, parts, i + 1, out);
    return;
  }
  if (node.is_array() && !parts[i].empty() && parts[i].find_first_not_of("0123456789") == std::string::npos) {
    const size_t k = std::stoul(parts[i]);
    if (k >= node.size()) fail("'", i ? parts[i - 1] : "", "' has ", node.size(), " items, no item ", k);
    collect(node[k], parts, i + 1, out);
    return;
  }
  if (!node.is_object() || !node.contains(parts[i])) fail("missing field '", parts[i], "'");
  collect(node[parts[i]], parts, i + 1, out);
}

int parse_int(const std::string& s, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') fail(what, " '", s, "' is not an integer");
  // checked before narrowing: 4294967297 must not become 1
  if (errno == ERANGE || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    fail(what, " '", s, "' is out of range");
  return static_cast<int>(v);
}

}  // namespace

std::vector<std::string> values_at(const nlohmann::json& doc, const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  std::vector<const nlohmann::json*> nodes;
  collect(doc, parts, 0, nodes);
  std::vector<std::string> out;
  for (const auto* n : nodes) {
    if (n->is_string()) out.push_back(n->get<std::string>());
    else if (n->is_number() || n->is_boolean()) out.push_back(n->dump());
    else fail("field '", path, "' is not a string");
  }
  return out;
}

std::string value_at(const nlohmann::json& doc, const std::string& path) {
  auto v = values_at(doc, path);
  if (v.size() != 1) fail("field '", path, "' is not a single value");
  return v[0];
}

std::string render(const std::string& tmpl, const nlohmann::json& doc) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = tmpl.find('{', pos);
    if (open == std::string::npos) break;
    size_t close = tmpl.find('}', open);
    if (close == std::string::npos) fail("unclosed '{' in template \"", tmpl, "\"");
    out += tmpl.substr(pos, open - pos);
    std::string expr = tmpl.substr(open + 1, close - open - 1), filter;
    if (auto bar = expr.find('|'); bar != std::string::npos) filter = expr.substr(bar + 1), expr = expr.substr(0, bar);
    std::string value = value_at(doc, expr);
    if (filter == "lstrip") value = python_lstrip(value);
    else if (filter == "strip") value = python_strip(value);
    else if (filter == "capitalize") value = python_capitalize(value);
    else if (!filter.empty()) fail("unknown template filter '", filter, "'");
    out += value;
    pos = close + 1;
  }
  return out + tmpl.substr(pos);
}

GoldRule gold_rule_from_json(const nlohmann::json& spec) {
  GoldRule g;
  if (spec.contains("constant")) {
    g.kind = GoldRule::Kind::constant;
    g.constant = spec["constant"].get<int>();
  } else if (spec.contains("label")) {
    g.kind = GoldRule::Kind::label;
    g.minus = spec["label"].get<int>();
  } else if (spec.contains("index_of")) {
    g.kind = GoldRule::Kind::index_of;
    g.path = spec["index_of"].get<std::string>();
    if (!spec.contains("in")) fail("doc_to_target: 'index_of' needs 'in' (the path of the choice labels)");
    g.in = spec["in"].get<std::string>();
  } else if (spec.contains("field")) {
    g.kind = GoldRule::Kind::field;
    g.path = spec["field"].get<std::string>();
    g.minus = spec.value("minus", 0);
    if (spec.contains("values")) g.values = spec["values"].get<std::vector<std::string>>();
  } else {
    fail("doc_to_target has none of constant, label, index_of, field");
  }
  return g;
}

int gold_of(const GoldRule& rule, const nlohmann::json& doc, const std::string* label_line) {
  switch (rule.kind) {
    case GoldRule::Kind::none:
      return -1;
    case GoldRule::Kind::constant:
      return rule.constant;
    case GoldRule::Kind::label:
      if (!label_line) fail("doc_to_target uses 'label' but the task has no labels_file");
      return parse_int(python_strip(*label_line), "label") - rule.minus;
    case GoldRule::Kind::index_of: {
      const std::string key = python_strip(value_at(doc, rule.path));
      const auto labels = values_at(doc, rule.in);
      for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] == key) return static_cast<int>(i);
      fail("answer '", key, "' is not among the choice labels");
    }
    case GoldRule::Kind::field: {
      const std::string v = value_at(doc, rule.path);
      if (rule.values.empty()) return parse_int(v, "field '" + rule.path + "'") - rule.minus;
      for (size_t i = 0; i < rule.values.size(); ++i)
        if (rule.values[i] == v) return static_cast<int>(i);
      fail("field '", rule.path, "' has value '", v, "', expected one of ", nlohmann::json(rule.values).dump());
    }
  }
  return -1;
}

}  // namespace wr
