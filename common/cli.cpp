#include "common/cli.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "common/error.h"
#include "common/strings.h"

namespace wr {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const char* env_value(const Option& o) { return o.env.empty() ? nullptr : std::getenv(o.env.c_str()); }

// An enumerated option's value must be one of those its hint lists ("on|off"); `from` is where it was set.
void check_choice(const Option& o, const std::string& value, const std::string& from) {
  if (o.value_hint.find('|') == std::string::npos) return;
  const auto accepted = split_list(o.value_hint, '|');
  if (std::find(accepted.begin(), accepted.end(), value) != accepted.end()) return;
  const std::string hint = closest(value, accepted);
  fail(from, " expects ", accepted.size() == 2 ? accepted[0] + " or " + accepted[1] : "one of " + join(accepted, ", "),
       ", got '", value, "'", hint.empty() ? "" : " (did you mean " + hint + "?)");
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(3, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

Args Args::parse(const std::vector<Option>& table, int argc, char** argv, int first) {
  Args args;
  args.table_ = table;
  for (int i = first; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() < 2 || word.rfind("--", 0) != 0) {
      args.positional.push_back(word);
      continue;
    }
    std::string value;
    bool has_value = false;
    if (auto eq = word.find('='); eq != std::string::npos) {
      value = word.substr(eq + 1);
      word = word.substr(0, eq);
      has_value = true;
    }
    auto it = std::find_if(table.begin(), table.end(), [&](const Option& o) { return o.name == word; });
    if (it == table.end()) {
      std::vector<std::string> names;
      for (const auto& o : table) names.push_back(o.name);
      std::string hint = closest(word, names);
      fail("unknown option ", word, hint.empty() ? "" : " (did you mean " + hint + "?)");
    }
    if (it->value_hint.empty()) {
      if (has_value) fail("option ", word, " takes no value");
      value = "1";
    } else if (!has_value) {
      if (i + 1 >= argc) fail("option ", word, " needs a value (", it->value_hint, ")");
      value = argv[++i];
    }
    args.values_[word] = value;
  }
  for (const auto& o : table) {
    if (const auto it = args.values_.find(o.name); it != args.values_.end()) check_choice(o, it->second, o.name);
    else if (const char* e = env_value(o)) check_choice(o, e, o.env + " (" + o.name + ")");
  }
  return args;
}

const Option& Args::option(const std::string& name) const {
  for (const auto& o : table_)
    if (o.name == name) return o;
  fail("internal: option ", name, " is not in this tool's table");
}

bool Args::given(const std::string& name) const {
  return values_.count(name) || env_value(option(name)) != nullptr;
}

std::vector<std::string> Args::named() const {
  std::vector<std::string> out;
  for (const auto& o : table_)
    if (values_.count(o.name)) out.push_back(o.name);
  return out;
}

std::string Args::get(const std::string& name) const {
  const Option& o = option(name);
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (const char* e = env_value(o)) return e;
  return o.default_value;
}

bool Args::flag(const std::string& name) const {
  std::string v = get(name);
  return v == "1" || v == "true" || v == "on" || v == "yes";
}

long Args::get_int(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') fail("option ", name, " expects an integer, got '", v, "'");
  if (errno == ERANGE) fail("option ", name, " ", v, " is out of range (at most ", LONG_MAX, ")");  // strtol clamps
  return x;
}

long Args::get_int(const std::string& name, long min) const {
  const long x = get_int(name);
  if (x < min) fail(name, " must be ", min == 1 ? "positive" : ">= " + std::to_string(min), ", got ", x);
  return x;
}

double Args::get_double(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') fail("option ", name, " expects a number, got '", v, "'");
  return x;
}

std::string usage(const std::string& synopsis, const std::vector<Option>& table) {
  std::ostringstream os;
  os << "usage: " << synopsis << "\n\noptions:\n";
  for (const auto& o : table) {
    std::string left = "  " + o.name + (o.value_hint.empty() ? "" : " " + o.value_hint);
    os << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << o.help;
    if (!o.default_value.empty() && !o.value_hint.empty()) os << " (default: " << o.default_value << ")";
    if (!o.env.empty()) os << " [env " << o.env << "]";
    os << "\n";
  }
  return os.str();
}

}  // namespace wr
