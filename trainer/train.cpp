#include "trainer/train.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>

#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "model/checkpoint.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/tokenizer.h"
#include "model/torch_compat.h"
#include "tasks/download.h"
#include "trainer/distributed.h"
#include "trainer/memory_estimate.h"
#include "trainer/optimizer.h"
#include "trainer/shards.h"
#include "trainer/telemetry.h"
#include "trainer/train_config.h"
#include "trainer/tvr_schedule.h"

namespace wr {
namespace {

namespace fs = std::filesystem;
std::atomic<bool> g_stop{false};

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "ckpt_%08ld.pt", static_cast<long>(step));
  return run_dir + "/" + name;
}

struct Batch {
  torch::Tensor inputs, targets;  // [B, T] int64
};

// Micro-batch number `index` of the stream: rows of seq_len + 1 tokens, inputs and next-token targets.
Batch make_batch(const TokenStream& stream, DataMode mode, uint64_t seed, int64_t index, int64_t rows,
                 int64_t seq_len, const torch::Device& device) {
  const int64_t window = seq_len + 1;
  auto buf = torch::empty({rows, window}, torch::kInt64);
  for (int64_t r = 0; r < rows; ++r)
    stream.read(window_offset(mode, seed, index, rows, r, window, stream.size()), window, buf[r].data_ptr<int64_t>());
  buf = buf.to(device);
  return {buf.slice(1, 0, seq_len), buf.slice(1, 1, window)};
}

// Mean loss over the first val_batches sequential windows of the validation split: the same tokens every time.
double validation_loss(Llama& model, const TokenStream& val, const TrainConfig& c, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  CudaBf16Autocast autocast(c.dtype == TrainDtype::bf16);
  double sum = 0;
  for (int64_t i = 0; i < c.val_batches; ++i)
    sum += [&] {
      Batch b = make_batch(val, DataMode::sequential, 0, i, c.micro_batch, c.seq_len, device);
      return lm_loss(model, b.inputs, b.targets).item<double>();
    }();
  return sum / static_cast<double>(c.val_batches);
}

std::string serialize_optimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
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

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

}  // namespace

void request_stop() { g_stop = true; }

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

TrainSummary train(const nlohmann::json& resolved, const TrainOptions& opt) {
  const TrainConfig c = train_config_from_json(resolved, "config");
  g_stop = false;
  // Data parallel over WORLD_SIZE processes: each runs the micro-batches whose index is its rank modulo the
  // world, the gradients are summed, and every process takes the same step, so the run computes what one
  // process would. Rank 0 alone logs, evaluates and writes the run directory.
  if (const int world = DataParallel::world_size_from_environment(); c.accumulation % world != 0)
    fail("batch.accumulation ", c.accumulation, " must be a multiple of WORLD_SIZE ", world,
         " (each process runs accumulation / WORLD_SIZE micro-batches a step)");
  const int threads = set_threads(c.threads);
  DataParallel dp = DataParallel::from_environment(parse_device(c.device, "run.device"), std::chrono::seconds(c.dist_timeout_s));
  const torch::Device device = dp.device();
  if (device.is_cpu()) check_training_fits_in_memory(c);
  auto log = !dp.is_main() ? [](const std::string&) {}
             : opt.log     ? opt.log
                           : [](const std::string& line) { std::printf("%s\n", line.c_str()), std::fflush(stdout); };

  // The run directory: writable before any work, and either fresh or resumed on purpose.
  if (dp.is_main()) {
    fs::create_directories(c.run_dir);
    write_file_atomic(c.run_dir + "/.write-test", "");
    fs::remove(c.run_dir + "/.write-test");
  }
  const auto existing = list_checkpoints(c.run_dir);
  if (!opt.resume && !existing.empty())
    fail(c.run_dir, " already holds checkpoints (", existing.back(), "); pass --resume to continue, or choose another run.dir");
  if (opt.resume && existing.empty()) fail("--resume: no checkpoint in ", c.run_dir);

  // Data and the tokenizer the shards were made with.
  TokenStream train_data(c.data_dir, "train");
  std::unique_ptr<TokenStream> val_data;
  if (c.eval_interval > 0 && c.val_batches > 0) val_data = std::make_unique<TokenStream>(c.data_dir, "val");
  const auto& manifest = train_data.manifest();
  const std::string tokenizer_path = c.data_dir + "/" + manifest.value("tokenizer", "tokenizer.model");
  const std::string tokenizer_bytes = read_file(tokenizer_path);
  const int64_t data_vocab = manifest.at("vocab_size").get<int64_t>();
  if (data_vocab > c.model.vocab_size)
    fail("model.vocab_size ", c.model.vocab_size, " is smaller than the shards' tokenizer (", data_vocab, " pieces, ",
         c.data_dir, "/manifest.json); set model.vocab_size=", data_vocab);

  // The evaluation tasks' files, fetched now (or named, when offline) rather than after hours of training.
  const std::string eval_data_dir = c.eval_data_dir.empty() ? default_data_dir() : c.eval_data_dir;
  const RuleSet eval_rules = load_rules(c.eval_rules);
  if (c.eval_interval > 0 && dp.is_main()) {
    DownloadOptions dl = opt.download;
    dl.data_dir = eval_data_dir;
    for (const auto& t : c.eval_tasks)
      for (const auto& path : download_task(load_task(eval_rules.definition_of(t)), dl)) log("fetched " + path);
  }

  // Model and optimizer, then the checkpoint over them when resuming.
  Llama model(c.model);
  init_weights(model, c.init, c.seed);
  model->to(device);
  auto optimizer = make_optimizer(model, c);
  int64_t step = 0, bad_steps = 0;
  bool tvr_pending = false;
  TrainSummary summary;
  if (opt.resume) {
    // The newest checkpoint that loads: a damaged newer one (cut short by a full disk, a bad copy) is named and
    // passed over rather than ending the run.
    std::string path;
    std::map<std::string, torch::Tensor> extra;
    std::optional<LoadedModel> candidate;
    for (auto it = existing.rbegin(); it != existing.rend() && !candidate; ++it) {
      try {
        extra.clear();
        candidate.emplace(load_native(*it, &extra));
        path = *it;
      } catch (const Error& e) {
        log(format("skipping damaged checkpoint: %s", e.what()));
      }
    }
    if (!candidate) fail("--resume: none of the ", existing.size(), " checkpoints in ", c.run_dir, " loads (newest: ", existing.back(), ")");
    LoadedModel& loaded = *candidate;
    if (config_to_json(loaded.model->config) != config_to_json(c.model))
      fail(path, ": its model config differs from the run's (", config_to_json(loaded.model->config).dump(), ")");
    std::map<std::string, torch::Tensor> weights;
    for (auto& [name, t] : state_dict(loaded.model)) weights[name] = t;
    {
      torch::NoGradGuard no_grad;
      load_state_dict(model, weights, path);
    }
    if (!extra.count("optimizer")) fail(path, ": no optimizer state (not a wr-train checkpoint?)");
    restore_optimizer(optimizer, extra.at("optimizer"), device, path);
    step = loaded.meta.at("step").get<int64_t>();
    bad_steps = loaded.meta.value("bad_steps", int64_t{0});
    tvr_pending = loaded.meta.value("tvr_pending", false);
    log(format("resumed %s at step %ld", path.c_str(), static_cast<long>(step)));
    summary.checkpoint = path;
  }
  if (dp.is_main()) write_file_atomic(c.run_dir + "/config.json", resolved.dump(2) + "\n");

  TvrSchedule tvr_schedule(c.tvr_interval, tvr_pending);
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) params.push_back(p);
  GradientReducer reducer(dp, params);
  Telemetry telemetry(dp.is_main() ? c.run_dir + "/telemetry.csv" : "", opt.resume ? step : -1);
  const Tokenizer tokenizer = Tokenizer::from_bytes(tokenizer_bytes, tokenizer_path);
  // The probe for activation telemetry: the first seq_len tokens of the validation split (else train), or the
  // configured sentence after BOS.
  torch::Tensor probe;
  if (c.probe_text.empty()) {
    const TokenStream& probe_source = val_data ? *val_data : train_data;
    probe = torch::zeros({1, c.seq_len}, torch::kInt64);
    probe_source.read(0, std::min(c.seq_len, probe_source.size()), probe.data_ptr<int64_t>());
  } else {
    std::vector<int64_t> ids = {tokenizer.bos_id()};
    for (int id : tokenizer.encode(c.probe_text)) ids.push_back(id);
    if (static_cast<int64_t>(ids.size()) > c.model.max_seq_len)
      fail("log.probe_text is ", ids.size(), " tokens, more than model.max_seq_len ", c.model.max_seq_len);
    probe = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  }
  probe = probe.to(device);
  const double flops_per_token = train_flops_per_token(c.model, c.seq_len);
  const double peak_tflops = c.peak_tflops > 0 ? c.peak_tflops : matmul_tflops(device);
  log(format("wr-train %s: %s%s, %.2fM parameters, %ld tokens/step, %ld steps, LibTorch %s, %d threads, %s, "
             "matmul %.1f TFLOP/s%s",
             c.run_name.c_str(), device.str().c_str(),
             dp.world() > 1 ? format(" x %d processes (%s)", dp.world(), dp.backend().c_str()).c_str() : "",
             c.model.n_params() / 1e6, static_cast<long>(c.tokens_per_step()),
             static_cast<long>(c.steps), torch_version().c_str(), threads, c.dtype == TrainDtype::bf16 ? "bf16" : "f32", peak_tflops,
             c.peak_tflops > 0 ? " (configured peak)" : " (measured)"));
  if (c.tvr_enabled)
    log(format("TVR: target %g, threshold %g, every %ld steps (%.3g tokens)%s", c.tvr.target, c.tvr.threshold,
               static_cast<long>(c.tvr_interval), static_cast<double>(c.tvr_interval * c.tokens_per_step()),
               c.tvr_interval_tokens > 0 ? format(", from tvr.interval_tokens %ld", static_cast<long>(c.tvr_interval_tokens)).c_str() : ""));

  summary.step = step;
  auto save = [&](int64_t at_step) {
    const std::string path = checkpoint_path(c.run_dir, at_step);
    auto opt_bytes = serialize_optimizer(optimizer);
    auto bytes = torch::empty({static_cast<int64_t>(opt_bytes.size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), opt_bytes.data(), opt_bytes.size());
    nlohmann::json meta = {{"step", at_step}, {"tokens", at_step * c.tokens_per_step()}, {"run", c.run_name},
                           {"bad_steps", bad_steps}, {"tvr_pending", tvr_schedule.pending()}, {"wr_version", WR_VERSION}, {"config", resolved}};
    save_native(path, model, meta, tokenizer_bytes, {{"optimizer", bytes}});
    auto all = list_checkpoints(c.run_dir);  // pruned only once the new one is safely on disk
    for (size_t i = 0; i + static_cast<size_t>(c.ckpt_keep) < all.size(); ++i) fs::remove(all[i]);
    summary.checkpoint = path;
  };
  auto evaluate_now = [&](int64_t at_step) {
    std::vector<TaskResult> results;
    std::string line = format("eval step %ld:", static_cast<long>(at_step));
    if (val_data) {
      TaskResult val;
      val.task.name = "val";
      val.n_docs = c.val_batches * c.micro_batch;
      val.metrics.push_back({"loss", validation_loss(model, *val_data, c, device), -1});
      telemetry.add(at_step, "val", "loss", val.metrics[0].value);
      line += format(" val loss %.4f", val.metrics[0].value);
      results.push_back(val);
    }
    if (!c.eval_tasks.empty()) {
      EvalOptions eo;
      eo.tasks = c.eval_tasks;
      eo.data_dir = eval_data_dir;
      eo.limit = c.eval_limit;
      eo.sample = c.eval_sample;
      eo.sample_seed = c.eval_seed;
      eo.bos = c.eval_bos;
      eo.rules = eval_rules;
      for (auto& r : evaluate(model, tokenizer, eo)) {
        for (const auto& m : r.metrics) line += format(" %s %s %.4f", r.task.name.c_str(), m.name.c_str(), m.value);
        results.push_back(std::move(r));
      }
    }
    RunInfo info;
    info.run = c.run_name;
    info.step = at_step;
    info.rules = eval_rules.id();
    info.bos = c.eval_bos;
    info.date = utc_now_iso8601();
    append_csv(c.run_dir + "/eval.csv", info, results);
    log(line);
  };

  double interval_seconds = 0;
  int64_t interval_tokens = 0;
  while (step < c.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = lr_at(c, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer.zero_grad();
    // Summed on the device and read once per step: an item() per micro-batch would stall a GPU every time.
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    for (int64_t micro = dp.rank(); micro < c.accumulation; micro += dp.world()) {
      if (micro + dp.world() >= c.accumulation) reducer.arm();  // this process's last micro-batch of the step
      Batch b = make_batch(train_data, c.data_mode, c.seed, step * c.accumulation + micro, c.micro_batch, c.seq_len, device);
      torch::Tensor l;
      {
        CudaBf16Autocast autocast(c.dtype == TrainDtype::bf16);
        l = lm_loss(model, b.inputs, b.targets) / static_cast<double>(c.accumulation);
      }
      l.backward();
      loss_sum += l.detach().to(torch::kFloat64);
    }
    // Summed over the processes, the loss and gradients are the whole step's on every one of them.
    reducer.finish();
    dp.all_reduce_sum({loss_sum});
    const double loss = loss_sum.item<double>();
    // grad_clip 0: the norm is still computed (it is logged) with a bound no gradient reaches
    constexpr double kNoClipping = 1e30;
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, c.grad_clip > 0 ? c.grad_clip : kNoClipping);
    const bool finite = std::isfinite(loss) && std::isfinite(grad_norm);
    if (finite) {
      optimizer.step();
      bad_steps = 0;
      summary.loss = loss;
    } else {
      ++bad_steps;
      telemetry.add(step + 1, "train", "skipped", 1);
      log(format("step %ld: non-finite loss %g / grad norm %g, update skipped (%ld in a row)", static_cast<long>(step + 1),
                 loss, grad_norm, static_cast<long>(bad_steps)));
      if (bad_steps >= c.max_bad_steps) {
        telemetry.flush();
        fail(bad_steps, " non-finite losses in a row at step ", step + 1, "; stopped. Last good checkpoint: ",
             summary.checkpoint.empty() ? (existing.empty() ? "none" : existing.back()) : summary.checkpoint);
      }
    }
    ++step;
    summary.step = step;

    // TVR after the optimizer step, never at step 0; the statistics logged are those from before rescaling.
    int rescaled = -1;
    if (c.tvr_enabled && tvr_schedule.rescale_after(step, finite)) {
      auto stats = apply_tvr(model, c.tvr);
      rescaled = static_cast<int>(std::count_if(stats.begin(), stats.end(), [](const MatrixStat& m) { return m.rescaled; }));
      telemetry.add_matrices(step, stats);
    } else if (dp.is_main() && step % c.telemetry_interval == 0) {
      telemetry.add_matrices(step, matrix_stats(model, c.tvr));
    }
    if (dp.is_main() && step % c.telemetry_interval == 0) {
      auto acts = [&] {
        CudaBf16Autocast autocast(c.dtype == TrainDtype::bf16);  // the run's dtype
        return activation_stats(model, probe);
      }();
      for (size_t l = 0; l < acts.size(); ++l) {
        telemetry.add(step, "layer." + std::to_string(l + 1), "act_max", acts[l].first);
        telemetry.add(step, "layer." + std::to_string(l + 1), "act_median", acts[l].second);
      }
    }
    interval_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    interval_tokens += c.tokens_per_step();
    if (step % c.log_interval == 0 || step == c.steps) {
      const double tokens_per_s = interval_tokens / std::max(interval_seconds, 1e-9);
      const double mfu = flops_per_token * tokens_per_s / (peak_tflops * 1e12 * dp.world());  // of all devices
      telemetry.add(step, "train", "loss", loss);
      telemetry.add(step, "train", "lr", lr);
      telemetry.add(step, "train", "grad_norm", grad_norm);
      telemetry.add(step, "train", "tokens_per_s", tokens_per_s);
      telemetry.add(step, "train", "mfu", mfu);
      log(format("step %6ld/%ld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | MFU %.1f%%%s", static_cast<long>(step),
                 static_cast<long>(c.steps), loss, lr, grad_norm, tokens_per_s, 100 * mfu,
                 rescaled >= 0 ? format(" | TVR rescaled %d/%ld", rescaled, static_cast<long>(kMatricesPerLayer * c.model.n_layers)).c_str() : ""));
      interval_seconds = 0;
      interval_tokens = 0;
    }
    telemetry.flush();
    const bool stop = dp.any(g_stop.load());  // all processes stop after the same step
    if (dp.is_main()) {
      if (c.eval_interval > 0 && (step % c.eval_interval == 0 || step == c.steps)) evaluate_now(step);
      if ((c.ckpt_interval > 0 && step % c.ckpt_interval == 0) || step == c.steps || stop) save(step);
    }
    if (stop) {
      log(format("stopped on request at step %ld; checkpoint %s", static_cast<long>(step), summary.checkpoint.c_str()));
      summary.interrupted = true;
      break;
    }
  }
  return summary;
}

}  // namespace wr
