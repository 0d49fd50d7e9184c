// Data parallelism through torch.distributed's C++ core (c10d), started the way torchrun starts processes:
// RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK for the GPU, GLOO_SOCKET_IFNAME for the network
// interface) in the environment, e.g.
//   torchrun --nproc-per-node 8 --no-python build-torch2/trainer/wr-train CONFIG.json
// The backend follows the device: NCCL for CUDA (where this LibTorch has it), Gloo for the CPU.
// Without those variables the run is one process and nothing here talks to the network.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/ranks.h"

namespace wr {

class DataParallel {
 public:
  // One process (rank 0 of 1) unless WORLD_SIZE > 1, in which case it joins the group and fails naming the
  // variable that is missing or malformed. device: the run's; a CUDA device without an index becomes
  // cuda:LOCAL_RANK. timeout: how long a collective waits for the other processes before failing (a rank that
  // died or hangs), after which this process stops with an error instead of waiting forever; timeout_setting names
  // where the user sets it, in the errors.
  static DataParallel from_environment(torch::Device device, std::chrono::seconds timeout,
                                       const std::string& timeout_setting = "run.dist_timeout_s");
  // WORLD_SIZE (1 when unset), for checks before joining.
  static int world_size_from_environment();
  // Whether this build has the Gloo backend (CPU) / the NCCL backend (CUDA).
  static bool gloo_available();
  static bool nccl_available();

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool is_main() const { return rank_ == 0; }
  const torch::Device& device() const { return device_; }
  // "gloo", "nccl", or "none" alone.
  const std::string& backend() const { return backend_; }

  // Sums the tensors (all of one dtype) over all processes, in place; every process ends with the same values.
  // A no-op alone. Fails with a clear error when another process died or timed out.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  // Whether any process says yes (a stop request that reached one of them); the flag itself alone.
  bool any(bool flag);
  // Fails on every process unless all of them hold the same `text` (a resolved config, a data manifest): ranks
  // started with different settings would train silently apart, or die inside a collective.
  void check_same(const std::string& what, const std::string& text);

  // The tensors (of one dtype) as one flat buffer where the backend sums: on the device for NCCL, in host
  // memory for Gloo.
  torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) const;
  // Starts summing a flatten()ed buffer over all processes, in place; the returned function waits for the sum
  // (and fails as all_reduce_sum does). Every process must start the same sums in the same order.
  std::function<void()> start_sum(torch::Tensor flat);

  // Data-parallel evaluation over these processes (eval/ranks.h): its sums take tensors in host memory, moved to
  // the device and back for NCCL. The DataParallel must outlive it.
  EvalRanks eval_ranks();

 private:
  struct Group;
  std::shared_ptr<Group> group_;
  int rank_ = 0, world_ = 1;
  torch::Device device_ = torch::kCPU;
  std::string backend_ = "none";
  std::chrono::seconds timeout_{0};
  std::string timeout_setting_ = "run.dist_timeout_s";
};

// The gradients' all-reduce of a data-parallel step, in flat buckets of at most bucket_bytes (25 MB, as
// torch.nn.parallel.DistributedDataParallel), the last layers' first. Armed before the backward pass of a step's
// last micro-batch, it starts each bucket's sum as soon as that pass has produced the bucket's gradients, so
// the communication overlaps the rest of the backward pass; finish() waits and writes the sums into .grad.
// Alone (one process) both are no-ops.
class GradientReducer {
 public:
  GradientReducer(DataParallel& dp, std::vector<torch::Tensor> params, int64_t bucket_bytes = int64_t{25} << 20);
  void arm();
  void finish();

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    size_t ready = 0;
    torch::Tensor flat;
    std::function<void()> wait;
  };
  void on_gradient(size_t param, const torch::Tensor& grad);
  void start_ready_buckets();

  DataParallel& dp_;
  std::vector<torch::Tensor> params_, complete_;  // complete_: each parameter's whole gradient of the step
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  size_t next_to_start_ = 0;
};

}  // namespace wr
