#include "trainer/train.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "common/error.h"
#include "common/file.h"
#include "common/lock.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/tokenizer/tokenizer.h"
#include "model/backend/torch_compat.h"
#include "trainer/batch.h"
#include "trainer/distributed.h"
#include "trainer/memory_estimate.h"
#include "trainer/optimizer.h"
#include "trainer/periodic_eval.h"
#include "trainer/shards.h"
#include "trainer/step_log.h"
#include "trainer/telemetry.h"
#include "trainer/tvr_schedule.h"

namespace wr {
namespace {

namespace fs = std::filesystem;
std::atomic<bool> g_stop{false};
// grad_clip 0: the norm is still computed (it is logged) with a bound no gradient reaches
constexpr double kNoClipping = 1e30;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// The run directory, writable before any work, held by this run alone (a second wr-train on it is refused, naming
// this one), and either fresh or resumed on purpose; its checkpoints.
struct RunDir {
  std::optional<FileLock> lock;  // rank 0's, for the whole run
  std::vector<std::string> checkpoints;
};

RunDir open_run_dir(const TrainConfig& c, bool resume, const DataParallel& dp) {
  RunDir out;
  if (dp.is_main()) {
    fs::create_directories(c.run_dir);
    out.lock = FileLock::hold_or_fail(c.run_dir, "run.dir");
    write_file_atomic(c.run_dir + "/.write-test", "");
    fs::remove(c.run_dir + "/.write-test");
  }
  out.checkpoints = list_checkpoints(c.run_dir);
  if (!resume && !out.checkpoints.empty())
    fail(c.run_dir, " already holds checkpoints (", out.checkpoints.back(), "); pass --resume to continue, or choose another run.dir");
  if (resume && out.checkpoints.empty()) fail("--resume: no checkpoint in ", c.run_dir);
  return out;
}

// The shards (one folder, or the sources of a mixture) and the tokenizer they were made with; the validation split
// and the tokenizer come from the first source.
struct TrainData {
  Mixture train;
  std::unique_ptr<TokenStream> val;  // only when periodic evaluation wants a validation loss
  std::string tokenizer_path, tokenizer_bytes;

  explicit TrainData(const TrainConfig& c) : train(c.data_sources, "train") {
    if (c.eval_interval > 0 && c.val_batches > 0) val = std::make_unique<TokenStream>(c.data_dir, "val");
    const auto& manifest = train.stream(0).manifest();
    tokenizer_path = c.data_dir + "/" + manifest.value("tokenizer", "tokenizer.model");
    tokenizer_bytes = read_shard_tokenizer(c.data_dir, manifest);
    const int64_t data_vocab = manifest.at("vocab_size").get<int64_t>();
    if (data_vocab > c.model.vocab_size)
      fail("model.vocab_size ", c.model.vocab_size, " is smaller than the shards' tokenizer (", data_vocab, " pieces, ",
           c.data_dir, "/manifest.json); set model.vocab_size=", data_vocab);
  }
};

// One optimizer step at `step`: this process's micro-batches, forward and backward (gradients all-reduced as
// backward produces them under data parallel), the loss summed over all processes, the gradient norm clipped, and
// the update taken only when both are finite.
StepResult train_step(Llama& model, torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& params,
                      GradientReducer& reducer, DataParallel& dp, const Mixture& data, const TrainConfig& c,
                      int64_t step, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  optimizer.zero_grad();
  // Summed on the device and read once per step: an item() per micro-batch would stall a GPU every time.
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(dp.device()));
  for (int64_t micro = dp.rank(); micro < c.accumulation; micro += dp.world()) {
    if (micro + dp.world() >= c.accumulation) reducer.arm();  // this process's last micro-batch of the step
    Batch b = make_batch(data, c.data_mode, c.seed, step * c.accumulation + micro, c.micro_batch, c.seq_len, dp.device());
    torch::Tensor l;
    {
      Bf16Autocast autocast(dp.device().type(), c.dtype == TrainDtype::bf16);
      l = lm_loss(model, b.inputs, b.targets) / static_cast<double>(c.accumulation);
    }
    l.backward();
    loss_sum += l.detach().to(torch::kFloat64);
  }
  reducer.finish();  // summed over the processes, the loss and gradients are the whole step's on every one
  dp.all_reduce_sum({loss_sum});
  StepResult r;
  r.loss = loss_sum.item<double>();
  r.grad_norm = torch::nn::utils::clip_grad_norm_(params, c.grad_clip > 0 ? c.grad_clip : kNoClipping);
  r.finite = std::isfinite(r.loss) && std::isfinite(r.grad_norm);
  if (r.finite) optimizer.step();
  return r;
}

// Counts a step whose update was skipped (non-finite loss or gradient norm) and stops the run, naming the last
// good checkpoint, after max_bad_steps of them in a row; a finite step resets the count.
void count_skipped_step(LoopState& state, const StepResult& r, const TrainConfig& c, Telemetry& telemetry,
                        const std::string& last_checkpoint, const std::function<void(const std::string&)>& log) {
  if (r.finite) {
    state.bad_steps = 0;
    return;
  }
  ++state.bad_steps;
  telemetry.add(state.step, "train", "skipped", 1);
  log(format("step %ld: non-finite loss %g / grad norm %g, update skipped (%ld in a row)", static_cast<long>(state.step),
             r.loss, r.grad_norm, static_cast<long>(state.bad_steps)));
  if (state.bad_steps < c.max_bad_steps) return;
  telemetry.flush();
  fail(state.bad_steps, " non-finite losses in a row at step ", state.step, "; stopped. Last good checkpoint: ",
       last_checkpoint.empty() ? "none" : last_checkpoint);
}

// TVR after the optimizer step when the schedule says so (never at step 0; a skipped step's rescale waits for
// the next finite one): the matrix statistics from before rescaling, or nothing.
std::optional<std::vector<MatrixStat>> rescale_if_due(Llama& model, const TrainConfig& c, TvrSchedule& schedule,
                                                      LoopState& state, bool finite) {
  std::optional<std::vector<MatrixStat>> stats;
  if (c.tvr_enabled && schedule.rescale_after(state.step, finite)) stats = apply_tvr(model, c.tvr);
  state.tvr_pending = schedule.pending();
  return stats;
}

int rescaled_count(const std::vector<MatrixStat>& stats) {
  return static_cast<int>(std::count_if(stats.begin(), stats.end(), [](const MatrixStat& m) { return m.rescaled; }));
}

// Tokens each source of a mixture (data.sources) has given the run, as telemetry rows "source<k>,tokens" every
// log.interval steps; counted from the micro-batch indices alone, so a resumed run counts as an uninterrupted one.
class SourceLog {
 public:
  SourceLog(const Mixture& data, const TrainConfig& c, int64_t start_step, Telemetry& telemetry)
      : data_(data), c_(c), telemetry_(telemetry),
        rows_(data.rows_drawn(c.seed, 0, start_step * c.accumulation, c.micro_batch)) {}
  void after_step(int64_t step) {
    if (data_.size() < 2) return;
    const auto rows = data_.rows_drawn(c_.seed, (step - 1) * c_.accumulation, step * c_.accumulation, c_.micro_batch);
    for (size_t k = 0; k < rows.size(); ++k) rows_[k] += rows[k];
    if (step % c_.log_interval != 0 && step != c_.steps) return;
    for (size_t k = 0; k < rows_.size(); ++k)
      telemetry_.add(step, "source" + std::to_string(k), "tokens", static_cast<double>(rows_[k] * c_.seq_len));
  }

 private:
  const Mixture& data_;
  const TrainConfig& c_;
  Telemetry& telemetry_;
  std::vector<int64_t> rows_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void request_stop() { g_stop = true; }

TrainSummary train(const nlohmann::json& resolved, const TrainOptions& opt) {
  const TrainConfig c = train_config_from_json(resolved, "config");
  g_stop = false;
  // Data parallel over WORLD_SIZE processes: each runs the micro-batches whose index is its rank modulo the
  // world, the gradients are summed, and every process takes the same step, so the run computes what one
  // process would. Periodic evaluation is split the same way; rank 0 alone logs and writes the run directory.
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

  dp.check_same("resolved config", resolved.dump());
  const RunDir run_dir = open_run_dir(c, opt.resume, dp);
  const TrainData data(c);
  std::string manifests;
  for (size_t k = 0; k < data.train.size(); ++k) manifests += data.train.stream(k).manifest().dump();
  const char* others = data.train.size() > 1 ? " and the other sources'" : "";
  dp.check_same("data manifest (" + c.data_dir + "/manifest.json" + others + ")", manifests);
  const Tokenizer tokenizer = Tokenizer::from_bytes(data.tokenizer_bytes, data.tokenizer_path);
  Llama model(c.model);
  init_weights(model, c.init, c.seed);
  model->to(device);
  auto optimizer = make_optimizer(model, c);
  Checkpointer checkpointer(c, resolved, data.tokenizer_bytes);
  LoopState state = opt.resume ? checkpointer.restore(model, optimizer, run_dir.checkpoints, device, log) : LoopState{};
  if (dp.is_main()) write_file_atomic(c.run_dir + "/config.json", resolved.dump(2) + "\n");

  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters()) params.push_back(p);
  GradientReducer reducer(dp, params);
  TvrSchedule tvr_schedule(c.tvr_interval, state.tvr_pending);
  Telemetry telemetry(dp.is_main() ? c.run_dir + "/telemetry.csv" : "", opt.resume ? state.step : -1,
                      c.tensorboard ? c.run_dir + "/tb" : "");
  ModelTelemetry model_telemetry(c, tokenizer, data.val ? *data.val : data.train.stream(0), device, telemetry);
  SourceLog source_log(data.train, c, state.step, telemetry);
  PeriodicEval periodic_eval(c, tokenizer, data.val.get(), device, dp.eval_ranks(), telemetry, log,
                             dp.is_main() ? c.run_dir + "/eval.csv" : "", opt.resume ? state.step : -1);
  if (dp.is_main()) periodic_eval.fetch_task_files(opt.download);
  // MFU against the run's own matmul dtype: bf16 matmuls on the CPU run at about twice the f32 rate
  const double peak_tflops =
      c.peak_tflops > 0 ? c.peak_tflops
                        : matmul_tflops(device, c.dtype == TrainDtype::bf16 ? torch::kBFloat16 : torch::kFloat32);
  StepLog step_log(c, train_flops_per_token(c.model, c.seq_len), peak_tflops * 1e12, dp.world(), telemetry, log);
  log(format("wr-train %s: %s%s, %.2fM parameters, %ld tokens/step, %ld steps, LibTorch %s, %d threads, %s, "
             "matmul %.1f TFLOP/s%s",
             c.run_name.c_str(), device.str().c_str(),
             dp.world() > 1 ? format(" x %d processes (%s)", dp.world(), dp.backend().c_str()).c_str() : "",
             c.model.n_params() / 1e6, static_cast<long>(c.tokens_per_step()),
             static_cast<long>(c.steps), torch_version().c_str(), threads, c.dtype == TrainDtype::bf16 ? "bf16" : "f32", peak_tflops,
             c.peak_tflops > 0 ? " (configured peak)" : " (measured)"));
  for (size_t k = 0; data.train.size() > 1 && k < data.train.size(); ++k)
    log(format("data: source%zu %s, weight %g (%.1f%% of the windows), %ld tokens", k,
               data.train.source(k).dir.c_str(), data.train.source(k).weight, 100 * data.train.share(k),
               static_cast<long>(data.train.stream(k).size())));
  if (c.tvr_enabled)
    log(format("TVR: target %g, threshold %g, every %ld steps (%.3g tokens)%s", c.tvr.target, c.tvr.threshold,
               static_cast<long>(c.tvr_interval), static_cast<double>(c.tvr_interval * c.tokens_per_step()),
               c.tvr_interval_tokens > 0 ? format(", from tvr.interval_tokens %ld", static_cast<long>(c.tvr_interval_tokens)).c_str() : ""));

  TrainSummary summary;
  summary.step = state.step;
  summary.checkpoint = checkpointer.last();
  while (state.step < c.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = lr_at(c, state.step);
    const StepResult r = train_step(model, optimizer, params, reducer, dp, data.train, c, state.step, lr);
    ++state.step;
    count_skipped_step(state, r, c, telemetry, checkpointer.last(), log);
    if (r.finite) summary.loss = r.loss;
    const auto tvr_stats = rescale_if_due(model, c, tvr_schedule, state, r.finite);
    if (dp.is_main()) model_telemetry.after_step(state.step, model, tvr_stats ? &*tvr_stats : nullptr);
    step_log.after_step(state.step, r, lr, seconds_since(t0), tvr_stats ? rescaled_count(*tvr_stats) : -1);
    if (dp.is_main()) source_log.after_step(state.step);
    const bool stop = dp.any(g_stop.load());  // all processes stop after the same step
    periodic_eval.after_step(state.step, model);  // every process scores its share; rank 0 writes
    if (dp.is_main()) {
      telemetry.flush();  // this step's rows on disk before a checkpoint says the step is done
      checkpointer.after_step(state, stop, model, optimizer);
    }
    summary.step = state.step;
    summary.checkpoint = checkpointer.last();
    if (stop) {
      log(format("stopped on request at step %ld; checkpoint %s", static_cast<long>(state.step), summary.checkpoint.c_str()));
      summary.interrupted = true;
      break;
    }
  }
  return summary;
}

}  // namespace wr
