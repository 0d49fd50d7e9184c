// The quickstart's offline data, made by seeded code: a small invented world (people and their city, job,
// pet, colour), a corpus of short documents stating its facts in varied sentences, and a multiple-choice task
// asking for each fact (tasks/defs/synth_facts.json). A model that learned the corpus answers well above the
// 25% chance of four choices; one that did not, cannot.
#pragma once
#include <cstdint>
#include <string>

namespace wr {

struct SynthOptions {
  uint64_t seed = 1;
  int people = 48;
  int documents = 12000;
};

// Writes <dir>/corpus.jsonl and <dir>/synth/facts.jsonl (the task's file under a data directory <dir>).
// Returns a one-line summary.
std::string write_synth(const std::string& dir, const SynthOptions& opt);

}  // namespace wr
