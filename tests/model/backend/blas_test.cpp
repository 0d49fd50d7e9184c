// The BLAS that LibTorch's CPU matmuls resolve to must stay inside its operands. Debian 12's BLIS (0.9.0) does
// not: its small-matrix kernels read a few hundred bytes past an operand (valgrind; cf. flame/blis#635), which
// crashed stories260K's greedy decoding in CI whenever an activation ended at the end of a mapping. Here every
// operand ends just before a page the process may not read, so a read past it fails this test, not a user's run.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>
#include <vector>

#include "model/backend/torch_compat.h"

namespace {

// A [rows, cols] float tensor whose last byte is the last readable one: a PROT_NONE page follows it.
class GuardedMatrix {
 public:
  GuardedMatrix(int64_t rows, int64_t cols) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = static_cast<size_t>(rows * cols) * sizeof(float);
    span_ = (bytes + page - 1) / page * page + page;
    void* p = mmap(nullptr, span_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<char*>(p);
    if (mprotect(base_ + span_ - page, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    tensor = torch::from_blob(base_ + span_ - page - bytes, {rows, cols}, torch::kFloat32);
  }
  ~GuardedMatrix() { munmap(base_, span_); }
  GuardedMatrix(const GuardedMatrix&) = delete;
  GuardedMatrix& operator=(const GuardedMatrix&) = delete;
  torch::Tensor tensor;

 private:
  char* base_ = nullptr;
  size_t span_ = 0;
};

// The projections x W^T of stories260K (dim 64, FFN 172, 4 KV heads of 8, vocabulary 512) and SmolLM2 (576, 1536,
// 192), at every row count a context up to 300 tokens gives; the results checked against a float64 product.
TEST(Blas, ProjectionsReadOnlyTheirOperands) {
  torch::NoGradGuard ng;
  wr::set_threads(0);
  const std::vector<std::pair<int64_t, int64_t>> in_out = {{64, 172}, {172, 64}, {64, 64},    {64, 32},
                                                           {64, 512}, {576, 1536}, {1536, 576}, {576, 192}};
  torch::manual_seed(0);
  for (const auto& [in, out] : in_out) {
    GuardedMatrix w(out, in);
    w.tensor.copy_(torch::randn({out, in}));
    for (int64_t rows = 1; rows <= 300; ++rows) {
      GuardedMatrix x(rows, in);
      x.tensor.copy_(torch::randn({rows, in}));
      const auto y = torch::nn::functional::linear(x.tensor, w.tensor);
      const auto want = torch::mm(x.tensor.to(torch::kFloat64), w.tensor.to(torch::kFloat64).t());
      ASSERT_TRUE(torch::allclose(y.to(torch::kFloat64), want, 1e-4, 1e-4)) << in << " -> " << out << ", " << rows;
    }
  }
}

}  // namespace
