#include "trainer/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "model/common/error.h"

#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#endif
#ifdef WR_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef WR_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
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

// One of the two backends is set once the process has joined.
struct DataParallel::Group {
#ifdef WR_WITH_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef WR_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};

int DataParallel::world_size_from_environment() { return std::max(1, env_int("WORLD_SIZE", "1")); }

bool DataParallel::gloo_available() {
#ifdef WR_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool DataParallel::nccl_available() {
#ifdef WR_WITH_NCCL
  return true;
#else
  return false;
#endif
}

DataParallel DataParallel::from_environment(torch::Device device, std::chrono::seconds timeout) {
  DataParallel dp;
  dp.world_ = world_size_from_environment();
  dp.timeout_ = timeout;
  if (dp.world_ <= 1) {
    dp.device_ = device;
    return dp;
  }
  dp.rank_ = env_int("RANK");
  if (dp.rank_ >= dp.world_) fail("RANK ", dp.rank_, " is not below WORLD_SIZE ", dp.world_);
  const int local_rank = env_int("LOCAL_RANK", std::to_string(dp.rank_).c_str());
  if (device.is_cuda() && !device.has_index()) device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  dp.device_ = device;
  const std::string addr = env("MASTER_ADDR");
  const int port = env_int("MASTER_PORT");
  const bool use_nccl = device.is_cuda() && nccl_available();
  if (!use_nccl && !gloo_available())
    fail("WORLD_SIZE=", dp.world_, ": this build has no torch.distributed backend for ", device.str(),
         " (configure found no c10d/ProcessGroupGloo.hpp or gloo headers", device.is_cuda() ? ", and no NCCL" : "", ")");
#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
  c10d::TCPStoreOptions store_opt;
  store_opt.port = static_cast<uint16_t>(port);
  store_opt.isServer = dp.rank_ == 0;
  store_opt.numWorkers = dp.world_;
  store_opt.waitWorkers = true;
  store_opt.timeout = timeout;
  dp.group_ = std::make_shared<Group>();
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, store_opt);
#ifdef WR_WITH_NCCL
    if (use_nccl) {
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;  // the watchdog tears the process down when a collective outlives it
      dp.group_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, dp.rank_, dp.world_, nccl);
      dp.backend_ = "nccl";
    }
#endif
#ifdef WR_WITH_GLOO
    if (!use_nccl) {
      auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
      // The network interface as torch.distributed picks it: GLOO_SOCKET_IFNAME, else the host name's address.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      gloo->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                                : c10d::ProcessGroupGloo::createDefaultDevice());
      dp.group_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, dp.rank_, dp.world_, gloo);
      dp.backend_ = "gloo";
    }
#endif
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    fail("joining the process group at ", addr, ":", port, " as rank ", dp.rank_, " of ", dp.world_, " (waited up to ",
         timeout.count(), " s, run.dist_timeout_s): ", c10_error ? c10_error->what_without_backtrace() : e.what());
  }
#endif
  return dp;
}

void DataParallel::all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  if (world_ <= 1 || tensors.empty()) return;
#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
  // Buckets of consecutive tensors, each flattened into one buffer where the backend reads it: NCCL on the
  // device, Gloo in host memory.
  const bool on_host = backend_ == "gloo";
  struct Bucket {
    size_t first = 0, last = 0;  // tensors [first, last)
    std::vector<torch::Tensor> buffer;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Bucket> buckets;
  const int64_t element_bytes = static_cast<int64_t>(tensors[0].element_size());
  for (size_t i = 0; i < tensors.size();) {
    Bucket b;
    b.first = i;
    int64_t bytes = 0;
    std::vector<torch::Tensor> parts;
    do {
      TORCH_CHECK(tensors[i].scalar_type() == tensors[0].scalar_type(), "all_reduce_sum: tensors of one dtype");
      parts.push_back(on_host ? tensors[i].detach().reshape({-1}).to(torch::kCPU) : tensors[i].detach().reshape({-1}));
      bytes += tensors[i].numel() * element_bytes;
      ++i;
    } while (i < tensors.size() && bytes + tensors[i].numel() * element_bytes <= bucket_bytes);
    b.last = i;
    b.buffer = {torch::cat(parts)};
    buckets.push_back(std::move(b));
  }
  try {
    for (auto& b : buckets) {
#ifdef WR_WITH_NCCL
      if (group_->nccl) b.work = group_->nccl->allreduce(b.buffer);
#endif
#ifdef WR_WITH_GLOO
      if (group_->gloo) b.work = group_->gloo->allreduce(b.buffer);
#endif
    }
    for (auto& b : buckets) b.work->wait();
  } catch (const std::exception& e) {  // c10::Error, or gloo's IoException rethrown by wait()
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    fail("rank ", rank_, " of ", world_, ": an all-reduce over ", backend_, " failed (another process died, or did ",
         "not answer within run.dist_timeout_s = ", timeout_.count(), " s): ",
         c10_error ? c10_error->what_without_backtrace() : e.what());
  }
  torch::NoGradGuard no_grad;
  for (auto& b : buckets) {
    int64_t at = 0;
    for (size_t i = b.first; i < b.last; ++i) {
      const auto& t = tensors[i];
      t.copy_(b.buffer[0].slice(0, at, at + t.numel()).view(t.sizes()));
      at += t.numel();
    }
  }
#endif
}

bool DataParallel::any(bool flag) {
  if (world_ <= 1) return flag;
  auto count = torch::full({1}, flag ? 1.0 : 0.0, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  all_reduce_sum({count});
  return count.item<double>() > 0;
}

}  // namespace wr
