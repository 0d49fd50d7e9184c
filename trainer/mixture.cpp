#include "trainer/mixture.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace wr {

Mixture::Mixture(const std::vector<DataSource>& sources, const std::string& split) : sources_(sources) {
  if (sources.empty()) fail("no data source (data.dir or data.sources)");
  double total = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!(sources[i].weight > 0) || !std::isfinite(sources[i].weight))
      fail("data.sources[", i, "] (", sources[i].dir, "): weight ", sources[i].weight, ", expected a positive number");
    total += sources[i].weight;
  }
  double cumulative = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    streams_.push_back(std::make_unique<TokenStream>(sources[i].dir, split));
    const auto &m = streams_[i]->manifest(), &first = streams_[0]->manifest();
    for (const char* key : {"tokenizer_sha256", "vocab_size"})
      if (m.value(key, nlohmann::json()) != first.value(key, nlohmann::json()))
        fail("data.sources[", i, "] (", sources[i].dir, "/manifest.json): ", key, " ",
             m.value(key, nlohmann::json()).dump(), " differs from data.sources[0]'s ",
             first.value(key, nlohmann::json()).dump(), " (", sources[0].dir,
             "): a mixture's sources must be tokenized with one tokenizer");
    cumulative += sources[i].weight;
    // The last bound is the whole range, so every hash picks a source whatever the rounding.
    bounds_.push_back(i + 1 == sources.size() ? UINT64_MAX
                                              : static_cast<uint64_t>(cumulative / total * 18446744073709551615.0));
  }
}

double Mixture::share(size_t i) const {
  double total = 0;
  for (const auto& s : sources_) total += s.weight;
  return sources_[i].weight / total;
}

size_t Mixture::source_of(uint64_t seed, int64_t batch, int64_t row) const {
  if (streams_.size() == 1) return 0;
  // Salted apart from window_offset's hash of the same (seed, batch, row), so the source and the place are independent.
  const uint64_t h = mix64(mix64(seed ^ 0x6d69787475726573ULL) ^
                           mix64(static_cast<uint64_t>(batch) * 0x100000001b3ULL + static_cast<uint64_t>(row)));
  size_t i = 0;
  while (i + 1 < bounds_.size() && h >= bounds_[i]) ++i;
  return i;
}

std::vector<int64_t> Mixture::rows_drawn(uint64_t seed, int64_t first, int64_t last, int64_t rows) const {
  std::vector<int64_t> out(streams_.size(), 0);
  if (streams_.size() == 1) {
    out[0] = std::max<int64_t>(last - first, 0) * rows;
    return out;
  }
  for (int64_t b = first; b < last; ++b)
    for (int64_t r = 0; r < rows; ++r) ++out[source_of(seed, b, r)];
  return out;
}

}  // namespace wr
