#include "model/io/model_file.h"
#include "model/io/native.h"

#include <gtest/gtest.h>

#include <cstdint>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/file.h"
#include "model/io/llama2c.h"
#include "model/io/mapped_file.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_table.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_util.h"

namespace {

using wr::test::random_tokens;
using wr::test::tiny_config;
using wr::test::tiny_model;

torch::Tensor logits_of(wr::Llama& m) {
  torch::NoGradGuard ng;
  m->eval();
  return m->forward(random_tokens(2, 11, m->config.vocab_size, 9));
}

using wr::test::contains;
using wr::test::error_of;

TEST(Checkpoint, FormatFromPathOrName) {
  EXPECT_EQ(wr::model_format("run/ckpt.pt"), wr::ModelFormat::native);
  EXPECT_EQ(wr::model_format("stories.bin"), wr::ModelFormat::llama2c);
  EXPECT_EQ(wr::model_format("hf/model.safetensors"), wr::ModelFormat::hf);
  EXPECT_EQ(wr::model_format("out/"), wr::ModelFormat::hf);
  EXPECT_EQ(wr::model_format("x", "hf"), wr::ModelFormat::hf);
  EXPECT_EQ(wr::model_format("exported/llama-hf"), wr::ModelFormat::hf);
  EXPECT_THROW(wr::model_format("model.onnx"), wr::Error);
  EXPECT_THROW(wr::model_format("x", "gguf"), wr::Error);
}

TEST(Checkpoint, NativeRoundTripIsBitwise) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  nlohmann::json meta = {{"step", 1200}, {"run", "lir-tvr"}, {"tvr", {{"target", 0.01}}}};
  wr::save_native(dir + "/ckpt.pt", m, meta, "tokenizer-bytes\x01\x02", {{"optimizer.exp_avg", torch::ones({3})}});
  std::map<std::string, torch::Tensor> extra;
  auto back = wr::load_native(dir + "/ckpt.pt", &extra);
  EXPECT_TRUE(torch::equal(logits_of(back.model), logits_of(m)));
  EXPECT_EQ(back.meta, meta);
  EXPECT_EQ(back.tokenizer_model, std::string("tokenizer-bytes\x01\x02"));
  EXPECT_TRUE(torch::equal(extra.at("optimizer.exp_avg"), torch::ones({3})));
  EXPECT_EQ(wr::config_to_json(back.model->config), wr::config_to_json(m->config));
}

// save_native writes its archive into the file as it is made (write_pickle_archive), not through
// torch::pickle_save's one buffer: the bytes are pickle_save's.
TEST(Checkpoint, PickleArchiveIsWhatPickleSaveWrites) {
  auto dir = wr::test::temp_dir();
  c10::impl::GenericDict inner(c10::StringType::get(), c10::TensorType::get());
  inner.insert("w", torch::randn({300, 70}));
  inner.insert("bytes", torch::arange(200, torch::kUInt8));
  inner.insert("view", torch::arange(10, torch::kFloat32).slice(0, 2, 8).clone());
  c10::impl::GenericDict value(c10::StringType::get(), c10::AnyType::get());
  value.insert("format", std::string("wr"));
  value.insert("version", int64_t{1});
  value.insert("model", inner);
  wr::write_pickle_archive(dir + "/a.pt", value);
  const std::vector<char> want = torch::pickle_save(value);
  const std::string got = wr::read_file(dir + "/a.pt");
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == std::string(want.begin(), want.end()));
  // a write that fails names the file and leaves nothing behind
  const auto err = error_of([&] { wr::write_pickle_archive(dir + "/no-such-dir/b.pt", value); });
  EXPECT_TRUE(contains(err, dir + "/no-such-dir/b.pt")) << err;
}

TEST(Checkpoint, PythonTorchLoadReadsNativeCheckpoint) {
  // Debian's python3-torch lives under /usr/bin/python3, which may not be the first python3 on PATH.
  std::string python;
  for (const char* p : {"/usr/bin/python3", "python3"})
    if (python.empty() && std::system((std::string(p) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0) python = p;
  if (python.empty()) GTEST_SKIP() << "no python3 with torch (Debian: python3-torch)";
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_native(dir + "/ckpt.pt", m, {{"step", 7}}, "");
  const double want = m->model->embed_tokens->weight.to(torch::kFloat64).sum().item<double>();
  std::ofstream(dir + "/check.py") << "import sys, torch\n"
                                      "d = torch.load(sys.argv[1])\n"
                                      "w = d['model']['model.embed_tokens.weight']\n"
                                      "assert tuple(w.shape) == (97, 32), w.shape\n"
                                      "assert d['config']['dim'] == 32 and d['meta']['step'] == 7\n"
                                      "assert len(d['model']) == 2 + 9 * 2 + 1\n"
                                      "print(repr(w.double().sum().item()))\n";
  const std::string out = dir + "/out.txt";
  ASSERT_EQ(std::system((python + " " + dir + "/check.py " + dir + "/ckpt.pt > " + out + " 2>&1").c_str()), 0)
      << wr::read_file(out);
  EXPECT_NEAR(std::stod(wr::read_file(out)), want, 1e-9 * std::abs(want) + 1e-12);
}

TEST(Checkpoint, SafetensorsRoundTripIsBitwiseInF32) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config(2, /*tied=*/true));
  wr::save_hf(dir + "/hf", m, "f32", "spm");
  auto back = wr::load_model(dir + "/hf");
  EXPECT_EQ(back.format, wr::ModelFormat::hf);
  EXPECT_TRUE(back.model->config.tie_embeddings);
  EXPECT_TRUE(torch::equal(logits_of(back.model), logits_of(m)));
  EXPECT_EQ(back.tokenizer_model, "spm");
}

TEST(Checkpoint, SafetensorsBf16AndF16KeepTheirPrecision) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  for (std::string dtype : {"bf16", "f16"}) {
    wr::save_hf(dir + "/" + dtype, m, dtype, "");
    auto raw = wr::read_safetensors(dir + "/" + dtype + "/model.safetensors");
    auto w = raw.at("model.layers.1.mlp.up_proj.weight");
    EXPECT_EQ(w.scalar_type(), dtype == "bf16" ? torch::kBFloat16 : torch::kFloat16);
    auto want = m->layer(1).mlp->up_proj->weight.to(w.scalar_type());
    EXPECT_TRUE(torch::equal(w, want));
    auto back = wr::load_model(dir + "/" + dtype);
    auto ref = logits_of(m);
    double err = (logits_of(back.model) - ref).abs().max().item<double>();
    EXPECT_LT(err, 0.02 * ref.abs().max().item<double>()) << dtype;
    EXPECT_GT(err, 0.0) << dtype << " weights should have lost precision";
  }
}

// The sha256 a run records is of the bytes it loaded, even when the path names another file by the time the
// run writes its results (a checkpoint replaced by mv while wr-eval scored the old one).
TEST(Checkpoint, Sha256IsOfTheBytesLoaded) {
  const std::string dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_native(dir + "/a.pt", m, {{"step", 1}}, "");
  wr::save_native(dir + "/b.pt", m, {{"step", 2}}, "");
  const std::string a = wr::sha256_file(dir + "/a.pt");
  auto loaded = wr::load_model(dir + "/a.pt");
  std::filesystem::rename(dir + "/b.pt", dir + "/a.pt");
  EXPECT_EQ(loaded.sha256, a);
  EXPECT_NE(wr::sha256_file(dir + "/a.pt"), a);
  wr::save_model(m, dir + "/m.bin", wr::ModelFormat::llama2c);
  EXPECT_EQ(wr::load_model(dir + "/m.bin").sha256, wr::sha256_file(dir + "/m.bin"));
  wr::save_model(m, dir + "/hf", wr::ModelFormat::hf);
  EXPECT_EQ(wr::load_model(dir + "/hf/model.safetensors").sha256, wr::sha256_file(dir + "/hf/model.safetensors"));
  EXPECT_EQ(wr::load_model(dir + "/hf").sha256, "");  // a folder: no one file to name
}

// A Hugging Face folder written again holds the tokenizer the model carries and no other: an older
// tokenizer.json left beside a new tokenizer.model would be read first, and score with the wrong tokenizer.
TEST(Checkpoint, ConvertingIntoAFolderReplacesItsTokenizer) {
  const std::string dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  std::filesystem::create_directories(dir + "/hf");
  for (const char* stale : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    wr::write_file_atomic(dir + "/hf/" + stale, "{}");
  const std::string sp = "\x0a\x05bytes of a SentencePiece model";  // stored as given, not parsed
  wr::save_model(m, dir + "/hf", wr::ModelFormat::hf, {}, sp);
  EXPECT_EQ(wr::read_file(dir + "/hf/tokenizer.model"), sp);
  for (const char* stale : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_FALSE(std::filesystem::exists(dir + "/hf/" + stale)) << stale;
  EXPECT_EQ(wr::load_model(dir + "/hf").tokenizer_model, sp);
}

// A folder holding two tokenizers of different vocabularies (one left by an earlier model) is refused when the model
// loads, naming both, rather than scored with whichever is read first (issue 26, F15).
TEST(Checkpoint, AFolderWithTwoDisagreeingTokenizersIsRefused) {
  WR_REQUIRE_SHARED("tokenizers/llama3/tokenizer.json");
  WR_REQUIRE_SHARED("models/stories260K/tok512.model");
  const std::string dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  const std::string own = wr::read_file(wr::test::shared_path("models/stories260K/tok512.model"));
  wr::save_model(m, dir + "/hf", wr::ModelFormat::hf, {}, own);
  EXPECT_EQ(wr::load_model(dir + "/hf").meta["tokenizer"], dir + "/hf/tokenizer.model");
  const std::string other = wr::read_file(wr::test::shared_path("tokenizers/llama3/tokenizer.json"));
  wr::write_file_atomic(dir + "/hf/tokenizer.json", other);
  const std::string e = wr::test::error_of([&] { wr::load_model(dir + "/hf"); });
  EXPECT_EQ(e.rfind(dir + "/hf/tokenizer.json and " + dir + "/hf/tokenizer.model describe different vocabularies "
                    "(128256 pieces against 512): ", 0), 0u) << e;
}

TEST(Checkpoint, ShardedSafetensorsIndex) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  auto sd = wr::state_dict(m);
  wr::StateDict a(sd.begin(), sd.begin() + 10), b(sd.begin() + 10, sd.end());
  wr::write_file_atomic(dir + "/model-00001-of-00002.safetensors", wr::encode_safetensors(a, torch::kFloat32));
  wr::write_file_atomic(dir + "/model-00002-of-00002.safetensors", wr::encode_safetensors(b, torch::kFloat32));
  nlohmann::json index;
  for (auto& [n, t] : a) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (auto& [n, t] : b) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  wr::write_file_atomic(dir + "/model.safetensors.index.json", index.dump());
  wr::write_file_atomic(dir + "/config.json", wr::config_to_hf_json(m->config).dump());
  auto back = wr::load_model(dir);
  EXPECT_TRUE(torch::equal(logits_of(back.model), logits_of(m)));
}

// Every parameter of a equal, bit for bit, to b's after conversion to dtype and back (exact for f32 -> bf16/f16 -> f32:
// a conversion rounds once, and widening is exact).
void expect_parameters_equal(wr::Llama loaded, wr::Llama source, torch::ScalarType dtype, const std::string& what) {
  auto want = wr::state_dict(source);
  auto got = wr::state_dict(loaded);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << what;
    EXPECT_EQ(got[i].second.scalar_type(), torch::kFloat32) << what << " " << got[i].first;
    EXPECT_TRUE(torch::equal(got[i].second, want[i].second.to(dtype).to(torch::kFloat32))) << what << " " << got[i].first;
  }
}

// Loads read the files through a mapping, as views copied once into the model (and bf16/f16 converted there, one
// tensor at a time, 16 MB at a time): every format gives the source's parameters bit for bit, where the format
// keeps them, and a tensor that is not aligned in its file (an odd header length) is copied out first.
TEST(Checkpoint, MappedLoadsAreBitwiseTheSource) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  // Large enough that copies go in several 16 MB stretches: a 4608 x 1024 embedding (18.9 MB in f32).
  auto big_config = tiny_config();
  big_config.vocab_size = 4608;
  big_config.dim = 1024;
  big_config.n_heads = 4;
  big_config.n_kv_heads = 2;
  big_config.n_layers = 1;
  auto big = tiny_model(big_config);
  for (auto* model : {&m, &big}) {
    const std::string d = dir + "/" + std::to_string((*model)->config.dim);
    std::filesystem::create_directories(d + "/sharded");
    wr::save_native(d + "/ckpt.pt", *model, {}, "");
    wr::save_llama2c(d + "/m.bin", *model);
    expect_parameters_equal(wr::load_model(d + "/ckpt.pt").model, *model, torch::kFloat32, "ckpt.pt");
    expect_parameters_equal(wr::load_model(d + "/m.bin").model, *model, torch::kFloat32, "llama2.c");
    for (auto [name, dtype] : {std::pair{"f32", torch::kFloat32}, {"bf16", torch::kBFloat16}, {"f16", torch::kFloat16}}) {
      wr::save_hf(d + "/" + name, *model, name, "");
      expect_parameters_equal(wr::load_model(d + "/" + name).model, *model, dtype, name);
    }
    // The same tensors in 3 shards
    auto sd = wr::state_dict(*model);
    nlohmann::json index;
    const size_t per_shard = (sd.size() + 2) / 3;
    for (size_t s = 0; s * per_shard < sd.size(); ++s) {
      const std::string file = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
      wr::StateDict part(sd.begin() + s * per_shard, sd.begin() + std::min(sd.size(), (s + 1) * per_shard));
      for (auto& [n, t] : part) index["weight_map"][n] = file;
      wr::write_file_atomic(d + "/sharded/" + file, wr::encode_safetensors(part, torch::kBFloat16));
    }
    wr::write_file_atomic(d + "/sharded/model.safetensors.index.json", index.dump());
    wr::write_file_atomic(d + "/sharded/config.json", wr::config_to_hf_json((*model)->config).dump());
    expect_parameters_equal(wr::load_model(d + "/sharded").model, *model, torch::kBFloat16, "sharded bf16");
  }
  // A header of odd length puts every f32 tensor at an odd offset: read by copies, the same values.
  auto bytes = wr::encode_safetensors(wr::state_dict(m), torch::kFloat32);
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(bytes[i]);
  std::string json = bytes.substr(8, header);
  json.push_back(' ');  // JSON ignores it
  std::string odd(8, '\0');
  for (int i = 0; i < 8; ++i) odd[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  odd += json + bytes.substr(8 + header);
  std::filesystem::create_directories(dir + "/odd");
  wr::write_file_atomic(dir + "/odd/model.safetensors", odd);
  wr::write_file_atomic(dir + "/odd/config.json", wr::config_to_hf_json(m->config).dump());
  auto back = wr::load_model(dir + "/odd/model.safetensors");
  expect_parameters_equal(back.model, m, torch::kFloat32, "odd header");
  EXPECT_EQ(back.sha256, wr::sha256_file(dir + "/odd/model.safetensors"));
}

// A mapped file's view reads the same bytes after its pages are given back (they are read again from the file),
// and keeps the mapping alive after the MappedFile pointer is gone.
TEST(Checkpoint, MappedViewsOutliveTheirFileAndItsReleasedPages) {
  auto dir = wr::test::temp_dir();
  auto values = torch::arange(3 * 1024 * 1024, torch::kFloat32);  // 12 MB: many pages
  wr::write_file_atomic(dir + "/f", std::string(static_cast<const char*>(values.data_ptr()), values.numel() * 4));
  torch::Tensor view;
  {
    auto file = wr::MappedFile::open(dir + "/f");
    EXPECT_EQ(file->sha256(), wr::sha256_file(dir + "/f"));
    view = file->view(4, {values.numel() - 1}, torch::kFloat32);
  }
  EXPECT_TRUE(torch::equal(view, values.slice(0, 1)));
  wr::release_if_mapped(view);
  EXPECT_TRUE(torch::equal(view, values.slice(0, 1)));
  wr::release_if_mapped(values);  // not a view of a file: nothing happens to it
  EXPECT_EQ(values[5].item<float>(), 5.0f);
  const auto err = error_of([&] { wr::MappedFile::open(dir + "/missing"); });
  EXPECT_TRUE(contains(err, dir + "/missing") && contains(err, "No such file")) << err;
}

TEST(Checkpoint, Llama2cV1RoundTripIsBitwise) {
  auto dir = wr::test::temp_dir();
  for (bool tied : {false, true}) {
    auto m = tiny_model(tiny_config(2, tied));
    wr::save_llama2c(dir + "/m.bin", m);
    auto back = wr::load_model(dir + "/m.bin");
    EXPECT_EQ(back.model->config.tie_embeddings, tied);
    EXPECT_TRUE(torch::equal(logits_of(back.model), logits_of(m)));
  }
}

TEST(Checkpoint, RopePermutationIsAPermutationAndItsInverse) {
  auto w = torch::arange(8 * 3, torch::kFloat32).view({8, 3});  // 2 heads of head_dim 4
  auto h = wr::interleaved_to_halves(w, 2);
  // head 0 rows were (pair0.re, pair0.im, pair1.re, pair1.im) = 0,1,2,3 -> halves: 0,2,1,3
  EXPECT_TRUE(torch::equal(h.select(1, 0).div(3).to(torch::kInt64), torch::tensor({0, 2, 1, 3, 4, 6, 5, 7}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(wr::halves_to_interleaved(h, 2), w));
}

// ---- bad files: one clear error naming the file, never a crash or a silently wrong model ----

TEST(BadFiles, TruncatedOrCorruptNativeCheckpoint) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_native(dir + "/ckpt.pt", m, {}, "");
  std::string bytes = wr::read_file(dir + "/ckpt.pt");
  wr::write_file_atomic(dir + "/cut.pt", bytes.substr(0, bytes.size() / 2));
  auto err = error_of([&] { wr::load_model(dir + "/cut.pt"); });
  EXPECT_TRUE(contains(err, dir + "/cut.pt")) << err;
  wr::write_file_atomic(dir + "/junk.pt", "this is not a checkpoint");
  err = error_of([&] { wr::load_model(dir + "/junk.pt"); });
  EXPECT_TRUE(contains(err, "junk.pt")) << err;
  err = error_of([&] { wr::load_model(dir + "/missing.pt"); });
  EXPECT_TRUE(contains(err, "missing.pt") && contains(err, "no such file")) << err;
}

// A ckpt.pt edited inside its zip: one storage record cut to half (shape and strides now claim bytes that are
// not there), or the first storage's type changed to int32. Both are named, never loaded.
TEST(BadFiles, NativeCheckpointStorageShorterThanItsShapeOrRetyped) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_native(dir + "/ckpt.pt", m, {}, "");
  wr::write_file_atomic(dir + "/edit.py", R"(import sys, zipfile
src, dst, mode = sys.argv[1:4]
zin, zout, done = zipfile.ZipFile(src), zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED), False
for info in zin.infolist():
    data = zin.read(info.filename)
    if mode == "short" and not done and "/data/" in info.filename and len(data) > 64:
        data, done = data[:len(data) // 2], True
    if mode == "retype" and info.filename.endswith("data.pkl"):
        data = data.replace(b"FloatStorage", b"IntStorage", 1)
    zout.writestr(info, data)
zout.close()
)");
  for (const char* mode : {"short", "retype"}) {
    const std::string out = dir + "/" + mode + ".pt";
    ASSERT_EQ(std::system(("python3 " + dir + "/edit.py " + dir + "/ckpt.pt " + out + " " + mode).c_str()), 0);
    const auto err = error_of([&] { wr::load_model(out); });
    EXPECT_TRUE(contains(err, out)) << err;
    EXPECT_TRUE(contains(err, std::string(mode) == "short" ? "(12416 bytes declared, 6208 stored); truncated or edited?" : "expected floating point weights"))
        << mode << ": " << err;
  }
  // Copied unchanged by Python's zipfile, the records no longer start at 64-byte boundaries: LibTorch's reader
  // reads them (copies) instead of views of the file, and the model is the same.
  ASSERT_EQ(std::system(("python3 " + dir + "/edit.py " + dir + "/ckpt.pt " + dir + "/same.pt same").c_str()), 0);
  auto same = wr::load_model(dir + "/same.pt");
  expect_parameters_equal(same.model, m, torch::kFloat32, "zipfile's copy");
  EXPECT_EQ(same.sha256, wr::sha256_file(dir + "/same.pt"));
}

std::string safetensors_with_header(const std::string& header_json, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header_json + std::string(data_bytes, '\0');
}

TEST(BadFiles, Safetensors) {
  auto dir = wr::test::temp_dir();
  auto path = dir + "/bad.safetensors";
  auto check = [&](const std::string& content, const std::string& expect) {
    wr::write_file_atomic(path, content);
    auto err = error_of([&] { wr::read_safetensors(path); });
    EXPECT_TRUE(contains(err, path) && contains(err, expect)) << "got: " << err;
  };
  check("abc", "truncated");
  check(std::string("\xff\xff\xff\x00\x00\x00\x00\x00", 8) + "{}", "header length");
  check(safetensors_with_header("{not json", 0), "corrupt safetensors header");
  check(safetensors_with_header(R"({"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", 2), "unsupported dtype 'I8'");
  check(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "past the end");
  check(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}})", 16), "need 16");
  // tensors must tile the buffer: no shared bytes, no holes, nothing left over
  check(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
        "tensor b overlaps the tensor before it");
  check(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
        "4 bytes before tensor b belong to no tensor");
  check(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12), "8 bytes after the last tensor");
  check(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0), "overflows");
}

// A model's safetensors file cut short, or with a tensor whose offsets disagree with its shape: one line naming the
// file and the cause, from the mapped reader as from the table's checks (BadFiles.Safetensors), for a folder's
// file, a file named directly and a shard.
TEST(BadFiles, TruncatedOrMisSizedSafetensorsModel) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_hf(dir + "/hf", m, "f32", "");
  const std::string file = dir + "/hf/model.safetensors", good = wr::read_file(file);
  auto one_line_naming = [&](const std::string& path, const std::string& load, const std::string& cause) {
    const auto err = error_of([&] { wr::load_model(load); });
    EXPECT_TRUE(contains(err, path) && contains(err, cause)) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  };
  wr::write_file_atomic(file, good.substr(0, good.size() - 100));
  one_line_naming(file, dir + "/hf", "data runs past the end of the file (truncated?)");
  one_line_naming(file, file, "data runs past the end of the file (truncated?)");
  wr::write_file_atomic(file, good.substr(0, 5));
  one_line_naming(file, dir + "/hf", "truncated safetensors file (5 bytes, no header)");
  wr::write_file_atomic(file, "");
  one_line_naming(file, dir + "/hf", "truncated safetensors file (0 bytes, no header)");
  // the header's length field promises more than the file holds
  wr::write_file_atomic(file, good.substr(0, 8 + 10));
  one_line_naming(file, dir + "/hf", "exceeds the file size 18");
  // one tensor's offsets span 4 bytes fewer than its shape needs (the data 4 bytes shorter too)
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | static_cast<unsigned char>(good[i]);
  auto json = nlohmann::json::parse(good.substr(8, header));
  const std::string last = "lm_head.weight";  // the last tensor in the file, [97, 32] f32: 12416 bytes
  auto offsets = json[last]["data_offsets"];
  json[last]["data_offsets"] = {offsets[0], offsets[1].get<uint64_t>() - 4};
  std::string edited = json.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((edited.size() >> (8 * i)) & 0xff);
  wr::write_file_atomic(file, out + edited + good.substr(8 + header, good.size() - 8 - header - 4));
  one_line_naming(file, dir + "/hf", "tensor lm_head.weight: data_offsets span 12412 bytes, shape and dtype need 12416");
  // a shard cut short names the shard
  auto sd = wr::state_dict(m);
  wr::StateDict a(sd.begin(), sd.begin() + 10), b(sd.begin() + 10, sd.end());
  nlohmann::json index;
  std::filesystem::create_directories(dir + "/sharded");
  for (auto& [n, t] : a) index["weight_map"][n] = "a.safetensors";
  for (auto& [n, t] : b) index["weight_map"][n] = "b.safetensors";
  wr::write_file_atomic(dir + "/sharded/a.safetensors", wr::encode_safetensors(a, torch::kFloat32));
  const std::string shard_b = wr::encode_safetensors(b, torch::kFloat32);
  wr::write_file_atomic(dir + "/sharded/b.safetensors", shard_b.substr(0, shard_b.size() - 1));
  wr::write_file_atomic(dir + "/sharded/model.safetensors.index.json", index.dump());
  wr::write_file_atomic(dir + "/sharded/config.json", wr::config_to_hf_json(m->config).dump());
  one_line_naming(dir + "/sharded/b.safetensors", dir + "/sharded", "(truncated?)");
}

TEST(BadFiles, ShapeAndVocabMismatches) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_hf(dir, m, "f32", "");
  // config.json claims a larger vocabulary than the tensors hold
  auto cfg = wr::config_to_hf_json(m->config);
  cfg["vocab_size"] = 128;
  wr::write_file_atomic(dir + "/config.json", cfg.dump());
  auto err = error_of([&] { wr::load_model(dir); });
  EXPECT_TRUE(contains(err, "model.embed_tokens.weight") && contains(err, "[97, 32]") && contains(err, "[128, 32]"))
      << err;
  // a missing tensor and an unexpected one
  auto sd = wr::state_dict(m);
  wr::StateDict fewer(sd.begin(), sd.end() - 1);
  wr::write_file_atomic(dir + "/model.safetensors", wr::encode_safetensors(fewer, torch::kFloat32));
  wr::write_file_atomic(dir + "/config.json", wr::config_to_hf_json(m->config).dump());
  err = error_of([&] { wr::load_model(dir); });
  EXPECT_TRUE(contains(err, "missing tensor lm_head.weight")) << err;
  sd.emplace_back("model.layers.9.mlp.up_proj.weight", torch::zeros({2}));
  wr::write_file_atomic(dir + "/model.safetensors", wr::encode_safetensors(sd, torch::kFloat32));
  err = error_of([&] { wr::load_model(dir); });
  EXPECT_TRUE(contains(err, "unexpected tensor model.layers.9")) << err;
}

TEST(BadFiles, Llama2cHeaderAndSize) {
  auto dir = wr::test::temp_dir();
  auto m = tiny_model(tiny_config());
  wr::save_llama2c(dir + "/m.bin", m);
  std::string bytes = wr::read_file(dir + "/m.bin");
  wr::write_file_atomic(dir + "/cut.bin", bytes.substr(0, bytes.size() - 100));
  auto err = error_of([&] { wr::load_model(dir + "/cut.bin"); });
  EXPECT_TRUE(contains(err, "cut.bin") && contains(err, "truncated")) << err;
  wr::write_file_atomic(dir + "/long.bin", bytes + "extra");
  err = error_of([&] { wr::load_model(dir + "/long.bin"); });
  EXPECT_TRUE(contains(err, "5 bytes left")) << err;
  std::string bad_heads = bytes;
  int32_t three = 3;  // n_heads 3 does not divide dim 32
  std::memcpy(&bad_heads[8 + 12], &three, 4);
  wr::write_file_atomic(dir + "/heads.bin", bad_heads);
  err = error_of([&] { wr::load_model(dir + "/heads.bin"); });
  EXPECT_TRUE(contains(err, "heads.bin") && contains(err, "n_heads")) << err;
  // The legacy v0 header: a negative vocab_size marks an unshared classifier; the most negative int32 has no
  // positive counterpart (std::abs of it was undefined behaviour) and is refused as a vocabulary size.
  std::string v0(28, '\0');
  const int32_t header[7] = {32, 64, 2, 4, 2, INT32_MIN, 64};
  std::memcpy(v0.data(), header, sizeof header);
  wr::write_file_atomic(dir + "/v0.bin", v0);
  err = error_of([&] { wr::load_model(dir + "/v0.bin"); });
  EXPECT_TRUE(contains(err, "v0.bin") && contains(err, "vocab_size")) << err;
}

}  // namespace

// A float where the header wants whole numbers (the fuzzer's 5.2e41 in a shape was a cast out of range).
TEST(Safetensors, NonIntegerShapeOrOffsetsAreNamed) {
  auto file = [](const std::string& json) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
    return bytes + json + std::string(4, '\0');
  };
  auto message = [&](const std::string& json) {
    try {
      wr::read_safetensors_table(file(json), "m.safetensors");
    } catch (const wr::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(R"({"a": {"dtype": "F32", "shape": [5.2e41], "data_offsets": [0, 4]}})"),
            "m.safetensors tensor a: shape holds 5.2e+41 (expected whole numbers)");
  EXPECT_EQ(message(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-1, 4]}})"),
            "m.safetensors tensor a: data_offsets holds -1 (expected non-negative whole numbers)");
  EXPECT_EQ(message(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})"), "no error");
}
