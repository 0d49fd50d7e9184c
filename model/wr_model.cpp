// wr-model: inspect, convert and sample from model files (native ckpt.pt, Hugging Face directory, llama2.c .bin),
// and measure their outliers (model/outliers.h).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "model/io/model_file.h"
#include "model/io/model_tokenizer.h"
#include "model/generate.h"
#include "model/outliers.h"
#include "model/quant.h"
#include "model/tokenizer/tokenizer.h"
#include "model/backend/torch_compat.h"

namespace {

const std::vector<wr::Option> kOptions = {
    {"--format", "F", "input format: native, hf or llama2c (default: from the path)", "", ""},
    {"--to", "F", "convert: output format (default: from the output path)", "", ""},
    {"--dtype", "T", "convert to hf: safetensors dtype f32, bf16 or f16", "f32", ""},
    {"--tokenizer", "PATH", "SentencePiece .model, tokenizer.json or HF directory: generate uses it, convert embeds it (default: the one carried)", "",
     "WR_TOKENIZER"},
    {"--prompt", "TEXT", "generate: prompt text (BOS is prepended)", "", ""},
    {"--max-new-tokens", "N", "generate: tokens to generate", "128", ""},
    {"--no-cache", "", "generate: re-run the whole sequence each step instead of using the KV cache", "", ""},
    {"--probe", "TEXT", "activations: the probe sentence (after BOS where the model takes one)",
     "The capital of France is Paris, and the capital of Germany is Berlin.", ""},
    {"--text", "FILE", "activations: also measure on this text, its first --windows windows of --window-tokens", "", ""},
    {"--windows", "N", "activations: windows of --text", "8", ""},
    {"--window-tokens", "N", "activations: tokens per window of --text (at most the model's max_seq_len)", "512", ""},
    {"--json", "FILE", "activations: also write every number as JSON", "", ""},
    {"--csv", "FILE", "activations: also write every number as CSV (source,layer,tensor,stat,value,window,position,channel)",
     "", ""},
    {"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"},
    {"--help", "", "show this help", "", ""},
};

const char* kSynopsis =
    "wr-model info MODEL | convert IN OUT | generate MODEL [--prompt TEXT] | activations MODEL [--text FILE]\n"
    "  info         config, parameter count and a per-matrix mean/std table\n"
    "  convert      between native ckpt.pt, a Hugging Face directory and llama2.c .bin\n"
    "  generate     greedy decoding from a prompt\n"
    "  activations  outlier statistics: per decoder layer max and median |hidden state|, excess kurtosis and\n"
    "               massive activations (Sun et al. 2024) on a probe sentence and on --text; each linear layer's\n"
    "               largest input channel against the median one; each weight matrix's kurtosis and max|w| / std";

void info(const std::string& path, const wr::Args& args) {
  auto m = wr::load_model(path, args.get("--format"));
  const auto& c = m.model->config;
  std::cout << "file        " << path << " (" << wr::format_name(m.format) << ")\n"
            << "config      " << wr::config_to_json(c).dump() << "\n"
            << "parameters  " << c.n_params() << " (" << std::fixed << std::setprecision(2) << c.n_params() / 1e6
            << " M)\n";
  if (!m.meta.empty()) std::cout << "meta        " << m.meta.dump() << "\n";
  std::cout << "tokenizer   " << (m.tokenizer_model.empty() ? "not carried" : "carried") << "\n\n";
  std::cout << std::left << std::setw(52) << "tensor" << std::setw(16) << "shape" << std::right << std::setw(12)
            << "mean" << std::setw(12) << "std" << "\n";
  for (const auto& [name, w] : wr::state_dict(m.model)) {
    std::ostringstream shape;
    shape << w.sizes();
    auto wf = w.detach().to(torch::kFloat64);
    std::cout << std::left << std::setw(52) << name << std::setw(16) << shape.str() << std::right << std::scientific
              << std::setprecision(3) << std::setw(12) << wf.mean().item<double>() << std::setw(12)
              << wf.std().item<double>() << "\n";
  }
}

void convert(const std::string& in, const std::string& out, const wr::Args& args) {
  wr::check_not_an_input(out, "convert: output", {in, args.get("--tokenizer")});
  auto m = wr::load_model(in, args.get("--format"));
  auto to = wr::model_format(out, args.get("--to"));
  if (!args.get("--tokenizer").empty()) m.tokenizer_model = wr::Tokenizer::from_file(args.get("--tokenizer")).model_bytes();
  wr::save_model(m.model, out, to, m.meta, m.tokenizer_model, args.get("--dtype"));
  // wr's checkpoints and llama2.c models were trained with BOS first; a Hugging Face folder says so in
  // tokenizer_config.json, which wr-eval and transformers read (a tokenizer.json whose post-processor adds no BOS,
  // Llama 3's, would otherwise be scored without one).
  if (to == wr::ModelFormat::hf && m.format != wr::ModelFormat::hf && !m.tokenizer_model.empty()) {
    const auto tok = wr::Tokenizer::from_bytes(m.tokenizer_model, in);
    const nlohmann::json config = {{"add_bos_token", true}, {"bos_token", tok.piece(tok.bos_id())}};
    wr::write_file_atomic(out + "/tokenizer_config.json", config.dump(2) + "\n");
  }
  std::cout << "wrote " << out << " (" << wr::format_name(to) << ")\n";
}

void generate(const std::string& path, const wr::Args& args) {
  auto m = wr::load_model(path, args.get("--format"));
  const auto tok = wr::model_tokenizer(m, path, args.get("--tokenizer"));
  m.model->eval();
  const bool bos = wr::default_bos(m.format, tok).add;  // as wr-eval scores the model
  std::vector<int64_t> prompt;
  if (bos) prompt.push_back(tok.bos_id());
  for (int id : tok.encode(args.get("--prompt"))) prompt.push_back(id);
  if (prompt.empty()) wr::fail("--prompt: the text has no tokens");
  wr::GenerateOptions opt;
  opt.max_new_tokens = args.get_int("--max-new-tokens", 0);
  opt.use_cache = !args.flag("--no-cache");
  opt.stop_token = tok.eos_id();
  opt.vocab = tok.vocab_size();
  auto ids = wr::generate_greedy(m.model, prompt, opt);
  std::vector<int> all(prompt.begin() + (bos ? 1 : 0), prompt.end());
  all.insert(all.end(), ids.begin(), ids.end());
  std::cout << tok.decode(all) << "\n";
}


// v with `digits` decimals, or in exponent form from 1e5 up (kurtosis and ratios span orders of magnitude).
std::string fixed(double v, int digits) {
  char buf[32];
  if (std::fabs(v) >= 1e5) std::snprintf(buf, sizeof buf, "%.3e", v);
  else std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// One window set's statistics as a table for people: per layer the hidden state, then the linear inputs.
void print_activations(const wr::ActivationStats& s, bool windows) {
  std::printf("%5s %10s %10s %10s %8s  %s\n", "layer", "max|h|", "median|h|", "kurtosis", "massive",
              "largest massive (window, token position, channel: h)");
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const auto& h = s.layers[l];
    std::string where;
    for (size_t i = 0; i < std::min<size_t>(3, h.massive.size()); ++i) {
      const auto& m = h.massive[i];
      where += (i ? ", " : "") + (windows ? "w" + std::to_string(m.window) + " " : std::string()) + "t" +
               std::to_string(m.position) + " c" + std::to_string(m.channel) + ": " + fixed(m.value, 1);
    }
    if (h.massive_count > 3) where += ", ...";
    std::printf("%5zu %10s %10s %10s %8ld  %s\n", l + 1, fixed(h.max_abs, 2).c_str(), fixed(h.median_abs, 4).c_str(),
                fixed(h.kurtosis, 2).c_str(), static_cast<long>(h.massive_count), where.c_str());
  }
  std::printf("\nlinear inputs: largest channel's max|x| / median channel's max|x| (the largest's channel)\n%7s",
              "layer");
  for (const char* k : {"qkv", "o", "gate_up", "down"}) std::printf(" %16s", k);
  for (const auto& in : s.inputs) {
    if (in.which == wr::LinearInput::kQKV) std::printf("\n%7ld", static_cast<long>(in.layer));
    if (in.which == wr::LinearInput::kHead) std::printf("\n%7s", "lm_head");
    std::printf(" %16s", (fixed(in.ratio, 1) + " (c" + std::to_string(in.top_channel) + ")").c_str());
  }
  std::printf("\n");
}

// The weights as two tables, layers by the 7 matrices: excess kurtosis, then max|w| / std; embeddings and lm_head
// below each.
void print_weights(const std::vector<wr::WeightStats>& w) {
  for (const bool kurtosis : {true, false}) {
    std::printf("\nweights: %s\n%7s", kurtosis ? "excess kurtosis" : "max|w| / std", "layer");
    for (const char* k : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
      std::printf(" %10s", k);
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string v = fixed(kurtosis ? w[i].kurtosis : w[i].max_over_std, 2);
      if (w[i].layer == 0) std::printf("\n%-26s %10s", w[i].name.c_str(), v.c_str());
      else if (i % wr::kMatricesPerLayer == 0) std::printf("\n%7ld %10s", static_cast<long>(w[i].layer), v.c_str());
      else std::printf(" %10s", v.c_str());
    }
    std::printf("\n");
  }
}

nlohmann::json activations_json(const wr::ActivationStats& s) {
  nlohmann::json layers = nlohmann::json::array(), inputs = nlohmann::json::array();
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const auto& h = s.layers[l];
    nlohmann::json massive = nlohmann::json::array();
    for (const auto& m : h.massive)
      massive.push_back({{"window", m.window}, {"position", m.position}, {"channel", m.channel}, {"value", m.value}});
    layers.push_back({{"layer", l + 1}, {"max_abs", h.max_abs}, {"median_abs", h.median_abs}, {"kurtosis", h.kurtosis},
                      {"massive_count", h.massive_count}, {"massive", massive}});
  }
  for (const auto& in : s.inputs)
    inputs.push_back({{"layer", in.layer}, {"input", wr::linear_input_key(in.which)}, {"ratio", in.ratio},
                      {"top_channel", in.top_channel}, {"top_max", in.top_max}, {"median_max", in.median_max}});
  return {{"tokens", s.tokens}, {"layers", layers}, {"inputs", inputs}};
}

// One long-format CSV row: source,layer,tensor,stat,value,window,position,channel (the last three for a massive
// activation, empty otherwise).
void csv_row(std::string& csv, const std::string& source, int64_t layer, const std::string& tensor,
             const std::string& stat, double value, const std::string& where = ",,") {
  char v[40];
  std::snprintf(v, sizeof v, "%.9g", value);
  csv += source + "," + std::to_string(layer) + "," + tensor + "," + stat + "," + v + "," + where + "\n";
}

void activations_csv(std::string& csv, const std::string& source, const wr::ActivationStats& s) {
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const auto& h = s.layers[l];
    const int64_t layer = static_cast<int64_t>(l) + 1;
    csv_row(csv, source, layer, "hidden", "max_abs", h.max_abs);
    csv_row(csv, source, layer, "hidden", "median_abs", h.median_abs);
    csv_row(csv, source, layer, "hidden", "kurtosis", h.kurtosis);
    csv_row(csv, source, layer, "hidden", "massive_count", static_cast<double>(h.massive_count));
    for (const auto& m : h.massive)
      csv_row(csv, source, layer, "hidden", "massive", m.value,
              std::to_string(m.window) + "," + std::to_string(m.position) + "," + std::to_string(m.channel));
  }
  for (const auto& in : s.inputs) {
    const std::string tensor = std::string(wr::linear_input_key(in.which)) + "_input";
    csv_row(csv, source, in.layer, tensor, "channel_ratio", in.ratio);
    csv_row(csv, source, in.layer, tensor, "top_channel", static_cast<double>(in.top_channel));
    csv_row(csv, source, in.layer, tensor, "top_channel_max", in.top_max);
    csv_row(csv, source, in.layer, tensor, "median_channel_max", in.median_max);
  }
}

// wr-model activations: the outlier statistics of model/outliers.h on the probe sentence, on --text, and of the
// weights; a table, and with --json / --csv every number in a file.
void activations(const std::string& path, const wr::Args& args) {
  const std::string json_path = args.get("--json"), csv_path = args.get("--csv"), text_path = args.get("--text");
  for (const auto& [out, what] : {std::pair{json_path, "--json"}, std::pair{csv_path, "--csv"}})
    if (!out.empty()) {
      wr::check_not_an_input(out, what, {path, text_path, args.get("--tokenizer")});
      wr::check_output_path(out, what);
    }
  const std::string text = text_path.empty() ? "" : wr::read_file(text_path);
  auto m = wr::load_model(path, args.get("--format"));
  m.model->eval();
  const auto tok = wr::model_tokenizer(m, path, args.get("--tokenizer"));
  const bool bos = wr::default_bos(m.format, tok).add;  // as wr-eval scores the model
  const int64_t max_len = m.model->config.max_seq_len;
  std::vector<int64_t> probe;
  if (bos) probe.push_back(tok.bos_id());
  for (int id : tok.encode(args.get("--probe"))) probe.push_back(id);
  if (probe.empty()) wr::fail("--probe: the text has no tokens");
  if (static_cast<int64_t>(probe.size()) > max_len)
    wr::fail("--probe is ", probe.size(), " tokens, more than the model's max_seq_len ", max_len);

  nlohmann::json j = {{"model", path}, {"bos", bos}};
  std::string csv = "source,layer,tensor,stat,value,window,position,channel\n";
  std::printf("%s: %ld layers, dim %ld; %s\n", path.c_str(), static_cast<long>(m.model->config.n_layers),
              static_cast<long>(m.model->config.dim), bos ? "BOS first" : "no BOS (as its tokenizer encodes)");
  const auto on_probe = wr::activation_outliers(m.model, {torch::tensor(probe, torch::kInt64)});
  std::printf("\nprobe \"%s\" (%zu tokens): hidden state at each decoder layer's output; massive: |h| > 100 and "
              "> 1000 x the median\n", args.get("--probe").c_str(), probe.size());
  print_activations(on_probe, false);
  j["probe"] = activations_json(on_probe);
  j["probe"]["text"] = args.get("--probe");
  activations_csv(csv, "probe", on_probe);
  if (!text_path.empty()) {
    std::vector<torch::Tensor> windows;
    for (const auto& w : wr::calibration_windows(tok, text, bos, max_len, args.get_int("--windows", 1),
                                                 args.get_int("--window-tokens", 2)))
      windows.push_back(torch::tensor(w, torch::kInt64));
    const auto on_text = wr::activation_outliers(m.model, windows);
    std::printf("\n%s: the first %zu windows of up to %ld tokens (%ld tokens)\n", text_path.c_str(), windows.size(),
                static_cast<long>(windows[0].numel()), static_cast<long>(on_text.tokens));
    print_activations(on_text, true);
    j["text"] = activations_json(on_text);
    j["text"]["file"] = text_path;
    j["text"]["windows"] = windows.size();
    activations_csv(csv, "text", on_text);
  }
  const auto weights = wr::weight_outliers(m.model);
  print_weights(weights);
  j["weights"] = nlohmann::json::array();
  for (const auto& w : weights) {
    j["weights"].push_back({{"name", w.name}, {"layer", w.layer}, {"kurtosis", w.kurtosis}, {"max_over_std", w.max_over_std}});
    csv_row(csv, "weights", w.layer, w.name, "kurtosis", w.kurtosis);
    csv_row(csv, "weights", w.layer, w.name, "max_over_std", w.max_over_std);
  }
  if (!json_path.empty()) wr::write_file_atomic(json_path, j.dump(1) + "\n");
  if (!csv_path.empty()) wr::write_file_atomic(csv_path, csv);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = wr::Args::parse(kOptions, argc, argv);
    if (args.flag("--help") || args.positional.empty()) {
      std::cout << wr::usage(kSynopsis, kOptions);
      return args.flag("--help") ? 0 : 2;
    }
    wr::set_threads(args.get_int("--threads"));
    const auto& cmd = args.positional[0];
    const size_t n = args.positional.size();
    if (cmd == "info" && n == 2) info(args.positional[1], args);
    else if (cmd == "convert" && n == 3) convert(args.positional[1], args.positional[2], args);
    else if (cmd == "generate" && n == 2) generate(args.positional[1], args);
    else if (cmd == "activations" && n == 2) activations(args.positional[1], args);
    else wr::fail("bad command line: ", cmd, " with ", n - 1, " argument(s); see wr-model --help");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "wr-model: error: " << e.what() << "\n";
    return 1;
  }
}
