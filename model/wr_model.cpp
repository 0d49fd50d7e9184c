// wr-model: inspect, convert and sample from model files (native ckpt.pt, Hugging Face directory, llama2.c .bin).
#include <cstdio>
#include <iomanip>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "model/io/model_file.h"
#include "model/generate.h"
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
    {"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"},
    {"--help", "", "show this help", "", ""},
};

const char* kSynopsis =
    "wr-model info MODEL | convert IN OUT | generate MODEL [--prompt TEXT]\n"
    "  info      config, parameter count and a per-matrix mean/std table\n"
    "  convert   between native ckpt.pt, a Hugging Face directory and llama2.c .bin\n"
    "  generate  greedy decoding from a prompt";

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
  auto tok = args.get("--tokenizer").empty()
                 ? (m.tokenizer_model.empty() ? throw wr::Error(path + ": carries no tokenizer; pass --tokenizer")
                                              : wr::Tokenizer::from_bytes(m.tokenizer_model, path))
                 : wr::Tokenizer::from_file(args.get("--tokenizer"));
  if (tok.vocab_size() != m.model->config.vocab_size)
    wr::fail("tokenizer has ", tok.vocab_size(), " pieces but the model's vocab_size is ", m.model->config.vocab_size);
  m.model->eval();
  std::vector<int64_t> prompt = {tok.bos_id()};
  for (int id : tok.encode(args.get("--prompt"))) prompt.push_back(id);
  wr::GenerateOptions opt;
  opt.max_new_tokens = args.get_int("--max-new-tokens", 0);
  opt.use_cache = !args.flag("--no-cache");
  opt.stop_token = tok.eos_id();
  auto ids = wr::generate_greedy(m.model, prompt, opt);
  std::vector<int> all(prompt.begin() + 1, prompt.end());
  all.insert(all.end(), ids.begin(), ids.end());
  std::cout << tok.decode(all) << "\n";
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
    else wr::fail("bad command line: ", cmd, " with ", n - 1, " argument(s); see wr-model --help");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "wr-model: error: " << e.what() << "\n";
    return 1;
  }
}
