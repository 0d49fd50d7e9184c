#include "trainer/checkpointer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "model/io/native.h"
#include "model/backend/torch_compat.h"

namespace wr {
namespace {

namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "ckpt_%08ld.pt", static_cast<long>(step));
  return run_dir + "/" + name;
}

torch::Tensor serialize_optimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream os;
  archive.save_to(os);
  const std::string bytes = os.str();
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

void restore_optimizer(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes, const torch::Device& device,
                       const std::string& source) {
  auto t = bytes.contiguous();
  std::istringstream is(std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel())));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(is, device);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    fail(source, ": unreadable optimizer state: ", e.what_without_backtrace());
  }
}

// The first parameter holding NaN or Inf, or "": an update can overflow the weights while the loss and gradient
// norm it was computed from were finite (lr=1e308), and such a checkpoint must never be written or named good.
std::string first_non_finite_parameter(Llama& model) {
  torch::NoGradGuard no_grad;
  for (const auto& p : model->named_parameters())
    if (!torch::isfinite(p.value()).all().item<bool>()) return p.key();
  return "";
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::string> out;
  if (!is_directory(run_dir)) return out;
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() == 16 && starts_with(name, "ckpt_") && name.compare(13, 3, ".pt") == 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded steps sort by name
  return out;
}

Checkpointer::Checkpointer(const TrainConfig& c, const nlohmann::json& resolved, const std::string& tokenizer_bytes)
    : c_(c), resolved_(resolved), tokenizer_bytes_(tokenizer_bytes) {}

LoopState Checkpointer::restore(Llama& model, torch::optim::Optimizer& optimizer, const std::vector<std::string>& existing,
                                const torch::Device& device, const std::function<void(const std::string&)>& log) {
  for (auto it = existing.rbegin(); it != existing.rend(); ++it) {
    NativeCheckpoint ckpt;
    try {
      ckpt = read_native(*it);
    } catch (const Error& e) {
      log(std::string("skipping damaged checkpoint: ") + e.what());
      continue;
    }
    if (config_to_json(ckpt.config) != config_to_json(c_.model))
      fail(*it, ": its model config differs from the run's (", config_to_json(ckpt.config).dump(), ")");
    {
      torch::NoGradGuard no_grad;
      load_state_dict(model, ckpt.weights, *it);  // straight into the live model: no second one in memory
    }
    if (!ckpt.extra.count("optimizer")) fail(*it, ": no optimizer state (not a wr-train checkpoint?)");
    restore_optimizer(optimizer, ckpt.extra.at("optimizer"), device, *it);
    LoopState state;
    state.step = ckpt.meta.at("step").get<int64_t>();
    state.bad_steps = ckpt.meta.value("bad_steps", int64_t{0});
    state.tvr_pending = ckpt.meta.value("tvr_pending", false);
    last_ = *it;
    log("resumed " + *it + " at step " + std::to_string(state.step));
    return state;
  }
  fail("--resume: none of the ", existing.size(), " checkpoints in ", c_.run_dir, " loads (newest: ", existing.back(), ")");
}

void Checkpointer::after_step(const LoopState& state, bool stop, Llama& model, torch::optim::Optimizer& optimizer) {
  const bool due = (c_.ckpt_interval > 0 && state.step % c_.ckpt_interval == 0) || state.step == c_.steps || stop;
  if (!due) return;
  if (const std::string bad = first_non_finite_parameter(model); !bad.empty())
    fail("step ", state.step, ": ", bad, " holds NaN or Inf after the update (optimizer.lr ", c_.lr,
         " too high?); no checkpoint written. Last good checkpoint: ", last_.empty() ? "none" : last_);
  const std::string path = checkpoint_path(c_.run_dir, state.step);
  const nlohmann::json meta = {{"step", state.step}, {"tokens", state.step * c_.tokens_per_step()}, {"run", c_.run_name},
                               {"bad_steps", state.bad_steps}, {"tvr_pending", state.tvr_pending},
                               {"wr_version", WR_VERSION}, {"config", resolved_}};
  save_native(path, model, meta, tokenizer_bytes_, {{"optimizer", serialize_optimizer(optimizer)}});
  auto all = list_checkpoints(c_.run_dir);  // pruned only once the new one is safely on disk
  for (size_t i = 0; i + static_cast<size_t>(c_.ckpt_keep) < all.size(); ++i) fs::remove(all[i]);
  last_ = path;
}

}  // namespace wr
