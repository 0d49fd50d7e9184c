// Command lines as a table of options (llama.cpp's common_arg shape): spelling, value hint, help,
// default, optional WR_* environment variable. Unknown options get "did you mean ...?".
#pragma once
#include <map>
#include <string>
#include <vector>

namespace wr {

struct Option {
  std::string name;           // "--threads"
  std::string value_hint;     // "N"; empty for a flag; "on|off": the only values accepted, checked by parse
  std::string help;
  std::string default_value;  // used when neither the command line nor env sets it
  std::string env;            // e.g. "WR_THREADS"; empty for none
};

class Args {
 public:
  // Parses argv[first..] against table; non-option words are positional. Throws wr::Error, also for a value
  // (on the command line or in the option's environment variable) outside the list its value hint gives:
  // "--dtype expects f32 or bf16, got 'bf61' (did you mean bf16?)".
  static Args parse(const std::vector<Option>& table, int argc, char** argv, int first = 1);

  bool flag(const std::string& name) const;        // a flag given on the command line or env set to 1/true
  std::string get(const std::string& name) const;  // command line, then env, then default
  long get_int(const std::string& name) const;
  long get_int(const std::string& name, long min) const;  // fails naming the option below min
  double get_double(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line or through env
  std::vector<std::string> named() const;     // the options set on the command line, in table order

  std::vector<std::string> positional;

 private:
  const Option& option(const std::string& name) const;
  std::vector<Option> table_;
  std::map<std::string, std::string> values_;
};

std::string usage(const std::string& synopsis, const std::vector<Option>& table);

// The candidate closest to word by edit distance, or "" when none is close enough to suggest.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace wr
