// libFuzzer target: a model's config.json, in wr's form and in Hugging Face's (LlamaConfig), as a checkpoint or a
// model folder carries it.
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wr::fuzz::scratch_dir() + "/config.json";
  wr::fuzz::write_bytes(path, wr::fuzz::bytes(data, size));
  wr::fuzz::expect_load_or_wr_error([&] { wr::load_config_file(path); });
  nlohmann::json j = nlohmann::json::parse(wr::fuzz::bytes(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  wr::fuzz::expect_load_or_wr_error([&] { wr::config_from_json(j, path); });
  wr::fuzz::expect_load_or_wr_error([&] { wr::config_from_hf_json(j, path); });
  return 0;
}
