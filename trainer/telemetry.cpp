#include "trainer/telemetry.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/file.h"
#include "model/backend/torch_compat.h"
#include "model/outliers.h"

namespace wr {

namespace {

// Whether a line is a row wr-train writes: an integer step, two names, a number.
bool complete_row(const std::string& line, int64_t* step) {
  const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
  if (a == 0 || a == std::string::npos || b == std::string::npos || c == std::string::npos ||
      line.find(',', c + 1) != std::string::npos || c + 1 == line.size())
    return false;
  char* end = nullptr;
  *step = std::strtoll(line.c_str(), &end, 10);
  if (end != line.c_str() + a) return false;
  std::strtod(line.c_str() + c + 1, &end);
  return *end == '\0';
}

}  // namespace

Telemetry::Telemetry(const std::string& path, int64_t keep_until_step, const std::string& tensorboard_dir)
    : path_(path) {
  if (path.empty()) return;
  if (keep_until_step >= 0 && file_exists(path)) {
    // Rows logged past the checkpoint go, and so does what a hard kill can leave: a last line cut short (no
    // newline), or a cut line that the next run appended to.
    const std::string old = read_file(path);
    std::string kept = "step,name,stat,value\n";
    size_t begin = 0;
    for (size_t end; (end = old.find('\n', begin)) != std::string::npos; begin = end + 1) {
      const std::string line = old.substr(begin, end - begin);
      int64_t step = 0;
      if (complete_row(line, &step) && step <= keep_until_step) kept += line + "\n";
    }
    write_file_atomic(path, kept);
  } else {
    write_file_atomic(path, "step,name,stat,value\n");
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open ", path, " for appending: ", std::strerror(errno));
  pending_.precision(9);
  if (!tensorboard_dir.empty()) events_ = std::make_unique<EventWriter>(tensorboard_dir, keep_until_step);
}

void Telemetry::add(int64_t step, const std::string& name, const std::string& stat, double value) {
  if (path_.empty()) return;
  pending_ << step << ',' << name << ',' << stat << ',' << value << '\n';
  if (events_) events_->scalar(step, name + "/" + stat, value);
}

void Telemetry::add_matrices(int64_t step, const std::vector<MatrixStat>& stats) {
  for (const auto& m : stats) {
    add(step, m.name, "mean", m.mean);
    add(step, m.name, "std", m.std);
    if (m.target > 0) {
      add(step, m.name, "std_over_target", m.std / m.target);
      add(step, m.name, "rescaled", m.rescaled ? 1 : 0);
    }
  }
}

Telemetry::~Telemetry() {
  if (fd_ < 0) return;
  try {  // a run that stops on an error keeps the rows of its last step, as the event file does
    append_pending();
  } catch (const std::exception&) {
  }
  ::close(fd_);
}

void Telemetry::append_pending() {
  const std::string rows = pending_.str();
  pending_.str("");
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  for (size_t done = 0; done < rows.size();) {
    const ssize_t n = ::write(fd_, rows.data() + done, rows.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      const bool cut_back = before >= 0 && ::ftruncate(fd_, before) == 0;
      fail("cannot write ", path_, ": ", std::strerror(err),
           cut_back ? " (this step's rows left out whole)" : " (and it could not be cut back to its last whole row)");
    }
    done += static_cast<size_t>(n);
  }
}

void Telemetry::flush() {
  if (path_.empty()) return;
  append_pending();
  if (events_) events_->flush();
}

ModelTelemetry::ModelTelemetry(const TrainConfig& c, const Tokenizer& tokenizer, const TokenStream& probe_source,
                               const torch::Device& device, Telemetry& telemetry)
    : c_(c), telemetry_(telemetry) {
  if (c.probe_text.empty()) {
    probe_ = torch::zeros({1, c.seq_len}, torch::kInt64);
    probe_source.read(0, std::min(c.seq_len, probe_source.size()), probe_.data_ptr<int64_t>());
  } else {
    std::vector<int64_t> ids = {tokenizer.bos_id()};
    for (int id : tokenizer.encode(c.probe_text)) ids.push_back(id);
    if (static_cast<int64_t>(ids.size()) > c.model.max_seq_len)
      fail("log.probe_text is ", ids.size(), " tokens, more than model.max_seq_len ", c.model.max_seq_len);
    probe_ = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  }
  probe_ = probe_.to(device);
}

void ModelTelemetry::after_step(int64_t step, Llama& model, const std::vector<MatrixStat>* tvr_stats) {
  if (tvr_stats) telemetry_.add_matrices(step, *tvr_stats);
  if (step % c_.telemetry_interval != 0) return;
  if (!tvr_stats) telemetry_.add_matrices(step, matrix_stats(model, c_.tvr));
  const auto acts = [&] {
    Bf16Autocast autocast(probe_.device().type(), c_.dtype == TrainDtype::bf16);  // the run's dtype
    return activation_outliers(model, {probe_[0]});
  }();
  for (size_t l = 0; l < acts.layers.size(); ++l) {
    const std::string name = "layer." + std::to_string(l + 1);
    telemetry_.add(step, name, "act_max", acts.layers[l].max_abs);
    telemetry_.add(step, name, "act_median", acts.layers[l].median_abs);
    telemetry_.add(step, name, "kurtosis", acts.layers[l].kurtosis);
    telemetry_.add(step, name, "massive", static_cast<double>(acts.layers[l].massive_count));
  }
  for (const auto& in : acts.inputs)
    telemetry_.add(step, in.layer > 0 ? "layer." + std::to_string(in.layer) : "lm_head",
                   std::string(linear_input_key(in.which)) + "_input_ratio", in.ratio);
  for (const auto& w : weight_outliers(model)) {
    telemetry_.add(step, w.name, "kurtosis", w.kurtosis);
    telemetry_.add(step, w.name, "max_over_std", w.max_over_std);
  }
}

}  // namespace wr
