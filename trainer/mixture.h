// Several shard folders as one source of training windows (wr-train's data.sources): row `row` of micro-batch
// `batch` takes its window from the folder that a hash of (seed, batch, row) picks in proportion to the weights, and
// its place in that folder as one folder's windows are placed (window_offset). A micro-batch is still a pure function
// of (seed, index), so a resumed run draws what an uninterrupted one would. One folder (data.dir) draws exactly the
// windows it drew before mixtures existed. The sources must share one tokenizer (sha256 and vocabulary).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/shards.h"

namespace wr {

struct DataSource {
  std::string dir;
  double weight = 1;  // relative: the draws are in proportion weight / sum of weights
};

class Mixture {
 public:
  // Opens `split` of every source (the checks TokenStream makes), and checks they share the first one's tokenizer.
  Mixture(const std::vector<DataSource>& sources, const std::string& split);
  size_t size() const { return streams_.size(); }
  const TokenStream& stream(size_t i) const { return *streams_[i]; }
  const DataSource& source(size_t i) const { return sources_[i]; }
  double share(size_t i) const;  // weight / sum of weights
  // The source row `row` of micro-batch `batch` draws from.
  size_t source_of(uint64_t seed, int64_t batch, int64_t row) const;
  // Rows of `rows` each that micro-batches [first, last) drew from each source.
  std::vector<int64_t> rows_drawn(uint64_t seed, int64_t first, int64_t last, int64_t rows) const;

 private:
  std::vector<DataSource> sources_;
  std::vector<std::unique_ptr<TokenStream>> streams_;
  std::vector<uint64_t> bounds_;  // source i is drawn when the hash falls below bounds_[i] (and not below i - 1's)
};

}  // namespace wr
