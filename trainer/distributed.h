// Data parallelism through torch.distributed's C++ core (c10d), started the way torchrun starts processes:
// RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK for the GPU, GLOO_SOCKET_IFNAME for the network
// interface) in the environment, e.g.
//   torchrun --nproc-per-node 2 --no-python build/trainer/wr-train CONFIG.json
// Without those variables the run is one process and nothing here talks to the network.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

namespace wr {

class DataParallel {
 public:
  // One process (rank 0 of 1) unless WORLD_SIZE > 1, in which case it joins the group (Gloo backend) and fails
  // naming the variable that is missing or malformed.
  static DataParallel from_environment();
  // WORLD_SIZE (1 when unset), for checks before joining.
  static int world_size_from_environment();
  // Whether this build has the Gloo backend (configure found its headers).
  static bool available();

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }

  // Sums the tensors (all of one dtype) over all processes, in place; every process ends with the same values.
  // A no-op alone. They travel as one flat buffer; CUDA tensors through host memory (no NCCL backend yet).
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  // Whether any process says yes (a stop request that reached one of them); the flag itself alone.
  bool any(bool flag);

 private:
  struct Group;
  std::shared_ptr<Group> group_;
  int rank_ = 0, world_ = 1, local_rank_ = 0;
};

}  // namespace wr
