#include <algorithm>
#include <random>

#include "common/error.h"
#include "tasks/task.h"

namespace wr {

void add_fewshot(std::vector<Doc>& docs, const std::vector<Doc>& pool, const TaskDef& task, int k, uint64_t seed) {
  if (k <= 0) return;
  if (static_cast<size_t>(k) >= pool.size())
    fail(task.name, ": --num-fewshot ", k, " needs ", k, " other documents, the split has ", pool.size());
  const std::string& delimiter = task.form.fewshot_delimiter;
  const std::string& target_delimiter = task.form.target_delimiter;
  auto example = [&](const Doc& e) {
    if (task.generative) return e.requests[0].context + target_delimiter + e.choices[0];
    const Request& r = e.requests[static_cast<size_t>(std::max(e.gold, 0))];
    return r.context + r.continuation;
  };
  for (auto& d : docs) {
    std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(d.id));
    std::vector<size_t> order(pool.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::string prefix;
    int taken = 0;
    for (size_t i = 0; taken < k; ++i) {  // a partial Fisher-Yates shuffle: the first k distinct draws
      std::swap(order[i], order[i + rng() % (order.size() - i)]);
      if (pool[order[i]].id == d.id) continue;
      prefix += example(pool[order[i]]) + delimiter;
      ++taken;
    }
    for (auto& r : d.requests) r.context = prefix + r.context;
  }
}

std::vector<Doc> sample_docs(const std::vector<Doc>& all, int64_t n, uint64_t seed) {
  if (n <= 0 || static_cast<size_t>(n) >= all.size()) return all;
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(all.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i)  // a partial Fisher-Yates shuffle: the first n draws
    std::swap(order[i], order[i + rng() % (order.size() - i)]);
  order.resize(static_cast<size_t>(n));
  std::sort(order.begin(), order.end());
  std::vector<Doc> out;
  out.reserve(order.size());
  for (size_t i : order) out.push_back(all[i]);
  return out;
}

}  // namespace wr
