#include "trainer/telemetry.h"

#include <sstream>

#include "common/error.h"
#include "common/file.h"

namespace wr {

Telemetry::Telemetry(const std::string& path, int64_t keep_until_step) : path_(path) {
  if (path.empty()) return;
  if (keep_until_step >= 0 && file_exists(path)) {
    std::istringstream in(read_file(path));
    std::string line, kept;
    while (std::getline(in, line)) {
      const bool header = line.rfind("step,", 0) == 0;
      if (header || (!line.empty() && std::stoll(line.substr(0, line.find(','))) <= keep_until_step)) kept += line + "\n";
    }
    write_file_atomic(path, kept);
  } else {
    write_file_atomic(path, "step,name,stat,value\n");
  }
  out_.open(path, std::ios::app);
  if (!out_) fail("cannot open ", path, " for appending");
  out_.precision(9);
}

void Telemetry::add(int64_t step, const std::string& name, const std::string& stat, double value) {
  if (path_.empty()) return;
  out_ << step << ',' << name << ',' << stat << ',' << value << '\n';
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

void Telemetry::flush() {
  if (path_.empty()) return;
  out_.flush();
  if (!out_) fail("cannot write ", path_, " (disk full?)");
}

std::vector<std::pair<double, double>> activation_stats(Llama& model, const torch::Tensor& probe) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> outputs;
  ForwardArgs args;
  args.layer_outputs = &outputs;
  model->hidden(probe, args);
  std::vector<std::pair<double, double>> out;
  for (const auto& h : outputs) {
    auto a = h.detach().abs().to(torch::kFloat32).flatten();
    out.emplace_back(a.max().item<double>(), a.median().item<double>());
  }
  return out;
}

}  // namespace wr
