#include "trainer/synth.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.h"

namespace wr {
namespace {

struct Attribute {
  const char* name;
  std::vector<std::string> values;
  std::vector<std::string> templates;  // "{p}" person, "{v}" value; the first is the task's question form
};

const std::vector<Attribute>& attributes() {
  static const std::vector<Attribute> a = {
      {"city",
       {"Lisbon", "Oslo", "Cairo", "Lima", "Dublin", "Kyoto", "Quito", "Vienna", "Dakar", "Perth"},
       {"{p} lives in {v}.", "Every morning {p} walks through the streets of {v}.", "The home of {p} is in {v}.",
        "{p} moved to {v} years ago and never left."}},
      {"job",
       {"baker", "nurse", "pilot", "farmer", "painter", "teacher", "sailor", "judge", "tailor", "miner"},
       {"{p} works as a {v}.", "By trade, {p} is a {v}.", "People say {p} is the best {v} in town.",
        "After school {p} trained to become a {v}."}},
      {"pet",
       {"cat", "dog", "parrot", "horse", "rabbit", "goat", "turtle", "hamster"},
       {"{p} has a pet {v}.", "The {v} that {p} keeps is very old.", "{p} takes good care of a {v}.",
        "Each evening {p} feeds the {v}."}},
      {"color",
       {"red", "blue", "green", "yellow", "purple", "orange", "black", "white"},
       {"The favorite color of {p} is {v}.", "{p} always wears {v}.", "{p} painted the door {v}.",
        "Nothing pleases {p} more than the color {v}."}},
  };
  return a;
}

std::string fill_template(std::string t, const std::string& person, const std::string& value) {
  for (auto [key, val] : {std::pair<std::string, std::string>{"{p}", person}, {"{v}", value}}) {
    for (size_t at; (at = t.find(key)) != std::string::npos;) t.replace(at, key.size(), val);
  }
  return t;
}

// Pronounceable invented names, distinct, from seeded syllables.
std::vector<std::string> make_names(int n, std::mt19937_64& rng) {
  static const char* onsets[] = {"B", "D", "F", "G", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z"};
  static const char* vowels[] = {"a", "e", "i", "o", "u"};
  static const char* codas[] = {"", "n", "r", "l", "s", "k"};
  static const char* inner[] = {"b", "d", "l", "m", "n", "r", "s", "t", "v"};
  std::set<std::string> seen;
  std::vector<std::string> names;
  while (static_cast<int>(names.size()) < n) {
    std::string s = std::string(onsets[rng() % 14]) + vowels[rng() % 5] + inner[rng() % 9] + vowels[rng() % 5] + codas[rng() % 6];
    if (seen.insert(s).second) names.push_back(s);
  }
  return names;
}

}  // namespace

std::string write_synth(const std::string& dir, const SynthOptions& opt) {
  std::mt19937_64 rng(opt.seed);
  const auto& attrs = attributes();
  const auto names = make_names(opt.people, rng);
  std::vector<std::vector<int>> facts(names.size(), std::vector<int>(attrs.size()));  // person x attribute -> value
  for (auto& row : facts)
    for (size_t a = 0; a < attrs.size(); ++a) row[a] = static_cast<int>(rng() % attrs[a].values.size());

  std::string corpus;
  for (int d = 0; d < opt.documents; ++d) {
    std::string text;
    const int sentences = 3 + static_cast<int>(rng() % 4);
    for (int s = 0; s < sentences; ++s) {
      const size_t p = rng() % names.size(), a = rng() % attrs.size();
      const auto& attr = attrs[a];
      const std::string& t = attr.templates[rng() % attr.templates.size()];
      text += (s ? " " : "") + fill_template(t, names[p], attr.values[facts[p][a]]);
    }
    corpus += nlohmann::json({{"id", d}, {"text", text}}).dump() + "\n";
  }

  // One question per fact: the first template cut before the value, the value among 3 other values.
  std::string task;
  int64_t questions = 0;
  for (size_t p = 0; p < names.size(); ++p) {
    for (size_t a = 0; a < attrs.size(); ++a) {
      const auto& attr = attrs[a];
      const std::string& t = attr.templates[0];
      const std::string context = fill_template(t.substr(0, t.find(" {v}")), names[p], "");  // the delimiter adds the space
      std::vector<int> options(attr.values.size());
      for (size_t i = 0; i < options.size(); ++i) options[i] = static_cast<int>(i);
      options.erase(options.begin() + facts[p][a]);
      std::shuffle(options.begin(), options.end(), rng);
      options.resize(3);
      const int label = static_cast<int>(rng() % 4);
      options.insert(options.begin() + label, facts[p][a]);
      nlohmann::json choices = nlohmann::json::array();
      for (int o : options) choices.push_back(attr.values[o]);
      task += nlohmann::json({{"id", questions++}, {"attribute", attr.name}, {"context", context},
                              {"choices", choices}, {"label", label}}).dump() + "\n";
    }
  }
  std::filesystem::create_directories(dir + "/synth");
  write_file_atomic(dir + "/corpus.jsonl", corpus);
  write_file_atomic(dir + "/synth/facts.jsonl", task);
  return std::to_string(opt.documents) + " documents (" + std::to_string(corpus.size() >> 10) + " KiB) about " +
         std::to_string(names.size()) + " people; " + std::to_string(questions) + " questions with 4 choices";
}

}  // namespace wr
