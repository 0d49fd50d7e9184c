// Data parallelism through torch.distributed's C++ core (c10d), started the way torchrun starts processes:
// RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK for the GPU, GLOO_SOCKET_IFNAME for the network
// interface) in the environment, e.g.
//   torchrun --nproc-per-node 8 --no-python build-torch2/trainer/wr-train CONFIG.json
// The backend follows the device: NCCL for CUDA (where this LibTorch has it), Gloo for the CPU.
// Without those variables the run is one process and nothing here talks to the network.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace wr {

class DataParallel {
 public:
  // One process (rank 0 of 1) unless WORLD_SIZE > 1, in which case it joins the group and fails naming the
  // variable that is missing or malformed. device: the run's; a CUDA device without an index becomes
  // cuda:LOCAL_RANK. timeout: how long a collective waits for the other processes before failing (a rank that
  // died or hangs), after which this process stops with an error instead of waiting forever.
  static DataParallel from_environment(torch::Device device, std::chrono::seconds timeout);
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
  // A no-op alone. They travel in flat buckets of at most bucket_bytes, all in flight at once; with NCCL on the
  // device, with Gloo through host memory when they live on a GPU. Fails with a clear error when another
  // process died or timed out.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = int64_t{25} << 20);
  // Whether any process says yes (a stop request that reached one of them); the flag itself alone.
  bool any(bool flag);

 private:
  struct Group;
  std::shared_ptr<Group> group_;
  int rank_ = 0, world_ = 1;
  torch::Device device_ = torch::kCPU;
  std::string backend_ = "none";
  std::chrono::seconds timeout_{0};
};

}  // namespace wr
