#include "trainer/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "model/common/error.h"

#ifdef WR_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace wr {
namespace {

// The variable's value; unset or empty: fallback, or an error when there is none.
std::string env(const char* name, const char* fallback = nullptr) {
  const char* v = std::getenv(name);
  if (v && *v) return v;
  if (!fallback) fail("environment variable ", name, " is not set (WORLD_SIZE > 1 needs RANK, MASTER_ADDR, MASTER_PORT)");
  return fallback;
}

int env_int(const char* name, const char* fallback = nullptr) {
  const std::string v = env(name, fallback);
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0 || x > 65535)
    fail("environment variable ", name, "='", v, "': expected a non-negative integer up to 65535");
  return static_cast<int>(x);
}

}  // namespace

#ifdef WR_WITH_GLOO
struct DataParallel::Group {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};
#else
struct DataParallel::Group {};
#endif

int DataParallel::world_size_from_environment() { return std::max(1, env_int("WORLD_SIZE", "1")); }

bool DataParallel::available() {
#ifdef WR_WITH_GLOO
  return true;
#else
  return false;
#endif
}

DataParallel DataParallel::from_environment() {
  DataParallel dp;
  dp.world_ = world_size_from_environment();
  if (dp.world_ <= 1) return dp;
  dp.rank_ = env_int("RANK");
  if (dp.rank_ >= dp.world_) fail("RANK ", dp.rank_, " is not below WORLD_SIZE ", dp.world_);
  dp.local_rank_ = env_int("LOCAL_RANK", std::to_string(dp.rank_).c_str());
  const std::string addr = env("MASTER_ADDR");
  const int port = env_int("MASTER_PORT");
#ifdef WR_WITH_GLOO
  c10d::TCPStoreOptions store_opt;
  store_opt.port = static_cast<uint16_t>(port);
  store_opt.isServer = dp.rank_ == 0;
  store_opt.numWorkers = dp.world_;
  store_opt.waitWorkers = true;
  store_opt.timeout = std::chrono::minutes(5);
  auto gloo = c10d::ProcessGroupGloo::Options::create();
  // The network interface as torch.distributed picks it: GLOO_SOCKET_IFNAME, else the host name's address.
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  gloo->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                            : c10d::ProcessGroupGloo::createDefaultDevice());
  // Rank 0 alone evaluates and writes checkpoints while the others wait in their next all-reduce.
  gloo->timeout = std::chrono::hours(6);
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, store_opt);
    dp.group_ = std::make_shared<Group>();
    dp.group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, dp.rank_, dp.world_, gloo);
  } catch (const c10::Error& e) {
    fail("joining the process group at ", addr, ":", port, " as rank ", dp.rank_, " of ", dp.world_, ": ",
         e.what_without_backtrace());
  }
#else
  fail("WORLD_SIZE=", dp.world_, ": this build has no torch.distributed Gloo backend (configure found no ",
       "c10d/ProcessGroupGloo.hpp or gloo headers)");
#endif
  return dp;
}

void DataParallel::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  if (world_ <= 1 || tensors.empty()) return;
#ifdef WR_WITH_GLOO
  std::vector<torch::Tensor> flat_parts;
  for (const auto& t : tensors) {
    TORCH_CHECK(t.scalar_type() == tensors[0].scalar_type(), "all_reduce_sum: tensors of one dtype");
    flat_parts.push_back(t.detach().reshape({-1}).to(torch::kCPU));
  }
  std::vector<torch::Tensor> buffer = {torch::cat(flat_parts)};
  group_->pg->allreduce(buffer)->wait();
  int64_t at = 0;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    t.copy_(buffer[0].slice(0, at, at + t.numel()).view(t.sizes()));
    at += t.numel();
  }
#endif
}

bool DataParallel::any(bool flag) {
  if (world_ <= 1) return flag;
  auto count = torch::full({1}, flag ? 1.0 : 0.0, torch::kFloat64);
  all_reduce_sum({count});
  return count.item<double>() > 0;
}

}  // namespace wr
