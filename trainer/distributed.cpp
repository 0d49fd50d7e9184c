#include "trainer/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/file.h"

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

int env_int(const char* name, const char* fallback, long lo, long hi) {
  const std::string v = env(name, fallback);
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo || x > hi)
    fail("environment variable ", name, "='", v, "': expected an integer from ", lo, " to ", hi);
  return static_cast<int>(x);
}

// What went wrong, without LibTorch's backtrace; gloo's IoException (rethrown by wait()) is a plain exception.
std::string message_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  return c10_error ? c10_error->what_without_backtrace() : e.what();
}

#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
// Every process checks in at the store under its rank; this waits until all `world` have, or fails at `deadline`
// naming those that have not. (TCPStore's own wait for workers gave up silently at its timeout, then the process
// group waited a second timeout and failed with "Socket Timeout": rank 0 alone stopped after 2.3x
// run.dist_timeout_s, without saying who was missing.)
void wait_for_ranks(c10d::Store& store, int rank, int world, std::chrono::steady_clock::time_point deadline,
                    const std::string& where, std::chrono::seconds timeout, const std::string& timeout_setting) {
  const auto key = [](int r) { return "wr/joined/" + std::to_string(r); };
  store.set(key(rank), std::vector<uint8_t>{1});
  std::vector<std::string> keys;
  for (int r = 0; r < world; ++r) keys.push_back(key(r));
  while (!store.check(keys)) {
    if (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    std::string missing;
    int n_missing = 0;
    for (int r = 0; r < world; ++r)
      if (!store.check({key(r)}) && ++n_missing <= 8) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    if (n_missing > 8) missing += " and " + std::to_string(n_missing - 8) + " more";
    fail("rank ", rank, " of ", world, ": rank", n_missing > 1 ? "s " : " ", missing, " did not join at ", where,
         " within ", timeout_setting, " = ", timeout.count(), " s (start every rank with the same WORLD_SIZE, ",
         "MASTER_ADDR and MASTER_PORT)");
  }
}

// c10d logs each failed connection and timeout itself (through glog in Debian's LibTorch, which first prints
// "WARNING: Logging before InitGoogleLogging()"), before the error wr reports with the same cause. Its lines are
// left out while the process joins, unless the user asks for LibTorch's log (TORCH_CPP_LOG_LEVEL).
class QuietC10d {
 public:
  QuietC10d() : before_(FLAGS_caffe2_log_level) {
    if (!std::getenv("TORCH_CPP_LOG_LEVEL")) FLAGS_caffe2_log_level = std::max<int>(before_, 3);  // 3: fatal only
  }
  ~QuietC10d() { FLAGS_caffe2_log_level = before_; }
  QuietC10d(const QuietC10d&) = delete;
  QuietC10d& operator=(const QuietC10d&) = delete;

 private:
  int before_;
};
#endif

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

int DataParallel::world_size_from_environment() { return env_int("WORLD_SIZE", "1", 1, 65535); }

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

DataParallel DataParallel::from_environment(torch::Device device, std::chrono::seconds timeout,
                                           const std::string& timeout_setting) {
  DataParallel dp;
  dp.world_ = world_size_from_environment();
  dp.timeout_ = timeout;
  dp.timeout_setting_ = timeout_setting;
  if (dp.world_ <= 1) {
    dp.device_ = device;
    return dp;
  }
  dp.rank_ = env_int("RANK", nullptr, 0, 65535);
  if (dp.rank_ >= dp.world_) fail("RANK ", dp.rank_, " is not below WORLD_SIZE ", dp.world_);
  const int local_rank = env_int("LOCAL_RANK", std::to_string(dp.rank_).c_str(), 0, 65535);
  if (device.is_cuda() && !device.has_index()) device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  dp.device_ = device;
  const std::string addr = env("MASTER_ADDR");
  const int port = env_int("MASTER_PORT", nullptr, 1, 65535);
  const bool use_nccl = device.is_cuda() && nccl_available();
  if (!use_nccl && !gloo_available())
    fail("WORLD_SIZE=", dp.world_, ": this build has no torch.distributed backend for ", device.str(),
         " (configure found no c10d/ProcessGroupGloo.hpp or gloo headers", device.is_cuda() ? ", and no NCCL" : "", ")");
#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string where = addr + ":" + std::to_string(port);
  c10d::TCPStoreOptions store_opt;
  store_opt.port = static_cast<uint16_t>(port);
  store_opt.isServer = dp.rank_ == 0;
  store_opt.numWorkers = dp.world_;
  store_opt.waitWorkers = false;  // wait_for_ranks waits, and names who is missing
  store_opt.timeout = timeout;
  dp.group_ = std::make_shared<Group>();
  const QuietC10d quiet;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, store_opt);
    wait_for_ranks(*store, dp.rank_, dp.world_, deadline, where, timeout, timeout_setting);
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
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("joining the process group at ", where, " as rank ", dp.rank_, " of ", dp.world_, " (waited up to ",
         timeout.count(), " s, ", timeout_setting, "): ", message_of(e));
  }
#endif
  return dp;
}

torch::Tensor DataParallel::flatten(const std::vector<torch::Tensor>& tensors) const {
  std::vector<torch::Tensor> parts;
  for (const auto& t : tensors) {
    TORCH_CHECK(t.scalar_type() == tensors[0].scalar_type(), "DataParallel: sums of one dtype");
    parts.push_back(backend_ == "nccl" ? t.detach().reshape({-1}) : t.detach().reshape({-1}).to(torch::kCPU));
  }
  return torch::cat(parts);
}

std::function<void()> DataParallel::start_sum(torch::Tensor flat) {
  const auto failed = [this](const std::exception& e) {
    // Of two processes, the other is the one that died; of more, gloo's error names its address at best.
    const std::string other = world_ == 2 ? "rank " + std::to_string(1 - rank_) : std::string("another process");
    fail("rank ", rank_, " of ", world_, ": an all-reduce over ", backend_, " failed (", other, " died, or did ",
         "not answer within ", timeout_setting_, " = ", timeout_.count(), " s): ", message_of(e));
  };
#if defined(WR_WITH_GLOO) || defined(WR_WITH_NCCL)
  try {
    std::vector<torch::Tensor> buffer = {flat};
    c10::intrusive_ptr<c10d::Work> work;
#ifdef WR_WITH_NCCL
    if (group_->nccl) work = group_->nccl->allreduce(buffer);
#endif
#ifdef WR_WITH_GLOO
    if (group_->gloo) work = group_->gloo->allreduce(buffer);
#endif
    return [work, failed] {
      try {
        work->wait();
      } catch (const std::exception& e) {
        failed(e);
      }
    };
  } catch (const std::exception& e) {
    failed(e);
  }
#endif
  fail("start_sum: this build has no process group");  // unreachable: from_environment refused WORLD_SIZE > 1
}

void DataParallel::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  if (world_ <= 1 || tensors.empty()) return;
  torch::Tensor flat = flatten(tensors);
  start_sum(flat)();
  torch::NoGradGuard no_grad;
  int64_t at = 0;
  for (const auto& t : tensors) {
    t.copy_(flat.slice(0, at, at + t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

void DataParallel::check_same(const std::string& what, const std::string& text) {
  if (world_ <= 1) return;
  // Each rank's 64-bit digest in its own slot; after the sum every rank holds all of them.
  const std::string digest = sha256_hex(text);
  auto slots = torch::zeros({world_}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  slots[rank_] = static_cast<int64_t>(std::stoull(digest.substr(0, 15), nullptr, 16));
  all_reduce_sum({slots});
  const auto all = slots.to(torch::kCPU);
  for (int r = 1; r < world_; ++r)
    if (all[r].item<int64_t>() != all[0].item<int64_t>())
      fail("rank ", r, "'s ", what, " differs from rank 0's; every process must be started with the same one");
}

EvalRanks DataParallel::eval_ranks() {
  EvalRanks out;
  out.rank = rank_;
  out.world = world_;
  out.sum = [this](const torch::Tensor& t) {
    if (backend_ != "nccl") return all_reduce_sum({t});
    auto on_device = t.to(device_);
    all_reduce_sum({on_device});
    t.copy_(on_device.to(torch::kCPU));
  };
  return out;
}

bool DataParallel::any(bool flag) {
  if (world_ <= 1) return flag;
  auto count = torch::full({1}, flag ? 1.0 : 0.0, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  all_reduce_sum({count});
  return count.item<double>() > 0;
}

GradientReducer::GradientReducer(DataParallel& dp, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : dp_(dp), params_(std::move(params)), complete_(params_.size()), bucket_of_(params_.size()) {
  if (dp_.world() <= 1) return;
  // The backward pass produces the last layers' gradients first: buckets are filled from the end.
  int64_t used = 0;  // bytes in the last bucket
  for (size_t k = params_.size(); k-- > 0;) {
    const int64_t bytes = params_[k].numel() * static_cast<int64_t>(params_[k].element_size());
    if (buckets_.empty() || used + bytes > bucket_bytes) buckets_.emplace_back(), used = 0;
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    used += bytes;
  }
}

void GradientReducer::arm() {
  if (dp_.world() <= 1 || !hooks_.empty()) return;
  for (size_t k = 0; k < params_.size(); ++k)
    hooks_.push_back(params_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
}

// A hook sees this micro-batch's gradient before it is added to .grad: the step's whole gradient is the sum.
void GradientReducer::on_gradient(size_t param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  const torch::Tensor& earlier = params_[param].grad();
  complete_[param] = earlier.defined() ? earlier + grad : grad.detach();
  ++buckets_[bucket_of_[param]].ready;
  start_ready_buckets();
}

// Buckets start in order, the same on every process, whatever order their gradients arrive in.
void GradientReducer::start_ready_buckets() {
  for (; next_to_start_ < buckets_.size(); ++next_to_start_) {
    Bucket& b = buckets_[next_to_start_];
    if (b.ready < b.params.size()) return;
    std::vector<torch::Tensor> grads;
    for (size_t k : b.params) grads.push_back(complete_[k]);
    b.flat = dp_.flatten(grads);
    b.wait = dp_.start_sum(b.flat);
  }
}

void GradientReducer::finish() {
  if (dp_.world() <= 1) return;
  if (hooks_.empty()) {  // not armed: nothing started during a backward pass, so everything starts now
    for (size_t k = 0; k < params_.size(); ++k) {
      if (!params_[k].grad().defined()) fail("rank ", dp_.rank(), ": parameter ", k, " has no gradient to all-reduce");
      complete_[k] = params_[k].grad();
      ++buckets_[bucket_of_[k]].ready;
    }
    start_ready_buckets();
  }
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].remove_hook(hooks_[k]);
  hooks_.clear();
  if (next_to_start_ < buckets_.size())
    fail("rank ", dp_.rank(), ": the backward pass left some gradients unset (a parameter the loss does not use?)");
  torch::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    b.wait();
    int64_t at = 0;
    for (size_t k : b.params) {
      params_[k].mutable_grad().copy_(b.flat.slice(0, at, at + params_[k].numel()).view(params_[k].sizes()));
      at += params_[k].numel();
    }
    b = Bucket{std::move(b.params), 0, {}, {}};
  }
  next_to_start_ = 0;
  std::fill(complete_.begin(), complete_.end(), torch::Tensor());
}

}  // namespace wr
