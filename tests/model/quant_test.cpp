// The quantizers of model/quant.h against known answers (ties, saturation, zero and constant rows, a remainder
// group) and against a float64 reference written here from the definitions; float8 e4m3 against PyTorch's
// float8_e4m3fn cast (tests/model/quant_reference.py through .venv, skipped with a message where absent); the
// model copy and the input rounding of the forward pass.
#include "model/quant.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "common/file.h"
#include "tests/model/model_fixtures.h"
#include "tests/test_util.h"

namespace {

using wr::test::error_of;
using wr::test::tiny_config;
using wr::test::tiny_model;

// Round half to even, written out: the nearest integer, and of two equally near the even one.
double rhe(double x) {
  const double f = std::floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

// Every finite float8 e4m3fn value >= 0 by code (0..126; 127 is NaN): exponent bits e, mantissa bits m.
std::vector<double> e4m3_table() {
  std::vector<double> t;
  for (int code = 0; code < 127; ++code) {
    const int e = code >> 3, m = code & 7;
    t.push_back(e == 0 ? std::ldexp(m, -9) : std::ldexp(1.0 + m / 8.0, e - 7));
  }
  return t;
}

// The nearest of the table's values (ties to the even code), saturated at 448.
double e4m3_reference(double v) {
  static const auto table = e4m3_table();
  const double a = std::fabs(v);
  size_t best = 0;
  for (size_t i = 1; i < table.size(); ++i) {
    const double di = std::fabs(table[i] - a), db = std::fabs(table[best] - a);
    if (di < db || (di == db && i % 2 == 0)) best = i;
  }
  return std::copysign(a >= 448 ? 448.0 : table[best], v);
}

std::vector<float> values(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// Row by row in float64, as the definitions read: s = max|row| / range, w' = round(w / s) * s (a zero row kept).
template <typename Round>
std::vector<float> rows_reference(const std::vector<float>& x, int64_t n, double range, Round round) {
  std::vector<float> out(x.size());
  for (size_t r = 0; r < x.size(); r += n) {
    double amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(double(x[r + i])));
    for (int64_t i = 0; i < n; ++i) out[r + i] = amax == 0 ? x[r + i] : float(round(x[r + i] / (amax / range)) * (amax / range));
  }
  return out;
}

std::vector<float> int8_rows_reference(const std::vector<float>& x, int64_t n) {
  return rows_reference(x, n, 127, [](double v) { return std::clamp(rhe(v), -127.0, 127.0); });
}

std::vector<float> int4_groups_reference(const std::vector<float>& x, int64_t n, int64_t group) {
  std::vector<float> out(x.size());
  for (size_t r = 0; r < x.size(); r += n)
    for (int64_t g = 0; g < n; g += group) {
      const int64_t end = std::min(n, g + group);
      double lo = x[r + g], hi = x[r + g];
      for (int64_t i = g; i < end; ++i) lo = std::min<double>(lo, x[r + i]), hi = std::max<double>(hi, x[r + i]);
      const double s = (hi - lo) / 15, z = rhe(-lo / s);
      for (int64_t i = g; i < end; ++i)
        out[r + i] = hi == lo ? x[r + i] : float((std::clamp(rhe(x[r + i] / s) + z, 0.0, 15.0) - z) * s);
    }
  return out;
}

std::vector<float> fp8_rows_reference(const std::vector<float>& x, int64_t n) {
  return rows_reference(x, n, 448, e4m3_reference);
}

// Heavy-tailed random values (a few large ones per row, as trained weights and activations have), with ties.
torch::Tensor random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> v(rows * cols);
  for (auto& x : v) x = normal(gen) * (gen() % 50 == 0 ? 40.0f : 1.0f);
  return torch::tensor(v).view({rows, cols});
}

TEST(Quant, Int8RowsKnownAnswers) {
  // max 127: s = 1; ties go to the even integer
  auto x = torch::tensor({127.0f, 63.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.0f, 0.49f});
  EXPECT_EQ(values(wr::quantize_int8_rows(x)), (std::vector<float>{127, 64, -0.0f, 2, 2, -2, 0, 0}));
  // the same at s = 2^-3: every product exact
  EXPECT_EQ(values(wr::quantize_int8_rows(x / 8)), (std::vector<float>{127 / 8.0f, 8, 0, 0.25f, 0.25f, -0.25f, 0, 0}));
  // rows are independent; a zero row stays zeros; the largest value keeps its sign and size
  auto m = torch::tensor({{0.0f, 0.0f, 0.0f}, {-3.0f, 1.0f, 0.5f}}).view({2, 3});
  const auto q = values(wr::quantize_int8_rows(m));
  EXPECT_EQ(std::vector<float>(q.begin(), q.begin() + 3), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(q[3], -3.0f);
  EXPECT_FLOAT_EQ(q[4], float(42 * (3.0 / 127)));  // 1 / (3/127) = 42.33
  EXPECT_FLOAT_EQ(q[5], float(21 * (3.0 / 127)));  // 21.17
}

TEST(Quant, Int8StaticSaturatesAndRounds) {
  auto x = torch::tensor({100.0f, -100.0f, 0.25f, 0.75f, 63.5f, 0.0f});
  // s = 0.5: 200 saturates at 127; 0.5 and 1.5 are ties
  EXPECT_EQ(values(wr::quantize_int8_static(x, 0.5)), (std::vector<float>{63.5f, -63.5f, 0, 1, 63.5f, 0}));
  EXPECT_EQ(values(wr::quantize_int8_static(x, 0)), std::vector<float>(6, 0.0f));  // calibration saw only zeros
  EXPECT_NE(error_of([&] { wr::quantize_int8_static(x, -1); }), "");
}

TEST(Quant, Int4GroupsKnownAnswers) {
  // [-1, 14]: s = 1, z = 1; 0.5 -> rhe(0.5) + 1 = 1 -> 0; 2.5 -> 2 + 1 -> 2; 13.5 -> 14 + 1 -> 14
  EXPECT_EQ(values(wr::quantize_int4_groups(torch::tensor({-1.0f, 14.0f, 0.5f, 2.5f, 13.5f}), 128)),
            (std::vector<float>{-1, 14, 0, 2, 14}));
  // a group of one sign: [1, 16], z = -1 (outside 0..15, kept), both ends exact
  EXPECT_EQ(values(wr::quantize_int4_groups(torch::tensor({1.0f, 16.0f, 7.5f}), 128)), (std::vector<float>{1, 16, 8}));
  // saturation: [0.5, 15.5]: s = 1, z = rhe(-0.5) = 0; rhe(15.5) = 16 clamps to 15, rhe(0.5) = 0
  EXPECT_EQ(values(wr::quantize_int4_groups(torch::tensor({0.5f, 15.5f, 3.25f}), 128)), (std::vector<float>{0, 15, 3}));
  // constant groups (zero or not) are kept exactly
  EXPECT_EQ(values(wr::quantize_int4_groups(torch::tensor({0.1f, 0.1f, 0.1f}), 128)), (std::vector<float>{0.1f, 0.1f, 0.1f}));
  EXPECT_EQ(values(wr::quantize_int4_groups(torch::zeros({4}), 128)), std::vector<float>(4, 0.0f));
  // 130 columns: a group of 128 with a wide range (s = 10), then a remainder group of 2 with its own scale
  // (s = 0.01 / 15), within half a step of their values
  std::vector<float> row(130, 0.0f);
  row[0] = -100, row[1] = 50, row[128] = 0.3f, row[129] = 0.31f;
  const auto q = values(wr::quantize_int4_groups(torch::tensor(row), 128));
  EXPECT_NEAR(q[128], 0.3, 0.01 / 30);
  EXPECT_NEAR(q[129], 0.31, 0.01 / 30);
  EXPECT_EQ(q[0], -100.0f);
  EXPECT_EQ(q[2], 0.0f);  // 0 is on the first group's grid: z = rhe(100 / 10) = 10
}

TEST(Quant, E4m3KnownAnswers) {
  EXPECT_EQ(wr::round_e4m3(448), 448);
  EXPECT_EQ(wr::round_e4m3(500), 448);  // saturation, not Inf or NaN
  EXPECT_EQ(wr::round_e4m3(-1e30), -448);
  EXPECT_EQ(wr::round_e4m3(std::numeric_limits<double>::infinity()), 448);
  EXPECT_TRUE(std::isnan(wr::round_e4m3(std::nan(""))));
  EXPECT_EQ(wr::round_e4m3(1.0625), 1.0);   // the tie of 1 and 1.125: the even mantissa
  EXPECT_EQ(wr::round_e4m3(1.1875), 1.25);  // the tie of 1.125 and 1.25
  EXPECT_EQ(wr::round_e4m3(440), 448);
  EXPECT_EQ(wr::round_e4m3(432), 448);      // the tie of 416 and 448 (mantissas 101, 110)
  EXPECT_EQ(wr::round_e4m3(248), 256);      // the tie of 240 and 256 across a binade
  EXPECT_EQ(wr::round_e4m3(std::ldexp(1.0, -10)), 0.0);                   // half the smallest subnormal
  EXPECT_EQ(wr::round_e4m3(3 * std::ldexp(1.0, -10)), std::ldexp(1.0, -8));  // subnormals 1 and 2 (of 2^-9)
  EXPECT_EQ(wr::round_e4m3(15 * std::ldexp(1.0, -10)), std::ldexp(1.0, -6));  // subnormal 7 and the first normal
  EXPECT_TRUE(std::signbit(wr::round_e4m3(-1e-9)));
  // every value of the format maps to itself
  for (double v : e4m3_table()) EXPECT_EQ(wr::round_e4m3(v), v);
}

TEST(Quant, FloatSixtyFourReference) {
  for (uint64_t seed : {1, 2, 3}) {
    const auto w = random_matrix(9, 300, seed);  // 300 = 128 + 128 + a remainder group of 44
    const auto x = values(w);
    EXPECT_EQ(values(wr::quantize_int8_rows(w)), int8_rows_reference(x, 300));
    EXPECT_EQ(values(wr::quantize_int4_groups(w, 128)), int4_groups_reference(x, 300, 128));
    EXPECT_EQ(values(wr::quantize_fp8_rows(w)), fp8_rows_reference(x, 300));
  }
  // e4m3 against the table on values near every boundary: each value, the midpoints, one float64 step either side
  const auto table = e4m3_table();
  for (size_t i = 0; i + 1 < table.size(); ++i) {
    const double mid = (table[i] + table[i + 1]) / 2;
    for (double v : {table[i], mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e9), table[i] * 1.01})
      for (double s : {1.0, -1.0}) EXPECT_EQ(wr::round_e4m3(s * v), e4m3_reference(s * v)) << s * v;
  }
}

TEST(Quant, Fp8RowsKnownAnswers) {
  // amax 7: s = 1/64; 7 -> 448, 1 -> 64, 0.05 -> 3.2 -> subnormal? no: 3.2 in [2, 4) steps 0.25 -> 3.25
  const auto q = values(wr::quantize_fp8_rows(torch::tensor({7.0f, -1.0f, 0.05f, 0.0f})));
  EXPECT_EQ(q[0], 7.0f);
  EXPECT_EQ(q[1], -1.0f);
  EXPECT_EQ(q[2], float(3.25 / 64));
  EXPECT_EQ(q[3], 0.0f);
  EXPECT_EQ(values(wr::quantize_fp8_rows(torch::zeros({2, 3}))), std::vector<float>(6, 0.0f));
}

// Runs tests/model/quant_reference.py with .venv's Python on float32 values; "" and out filled, or why to skip.
std::string torch_e4m3(const std::vector<float>& in, std::vector<float>& out) {
  const std::string dir = wr::test::temp_dir();
  {
    std::ofstream f(dir + "/in.f32", std::ios::binary);
    f.write(reinterpret_cast<const char*>(in.data()), static_cast<std::streamsize>(in.size() * sizeof(float)));
  }
  const auto r = wr::test::run_venv_python("tests/model/quant_reference.py", dir + "/in.f32 " + dir + "/out.f32");
  if (!r.skip.empty()) return r.skip;
  if (r.code != 0) {
    ADD_FAILURE() << "quant_reference.py failed:\n" << r.err;
    return "";
  }
  const std::string bytes = wr::read_file(dir + "/out.f32");
  out.resize(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return "";
}

TEST(Quant, E4m3MatchesPyTorchFloat8Cast) {
  // every value, the midpoints and their float32 neighbours, zeros, and random values over the whole range
  std::vector<float> in = {0.0f, -0.0f};
  const auto table = e4m3_table();
  for (size_t i = 0; i < table.size(); ++i) {
    std::vector<float> near = {float(table[i])};
    if (i + 1 < table.size()) {
      const float mid = float((table[i] + table[i + 1]) / 2);
      near.insert(near.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)});
    }
    for (float v : near) in.insert(in.end(), {v, -v});
  }
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> exponent(-12, std::log2(448.0));
  for (int i = 0; i < 20000; ++i) in.push_back(float((gen() % 2 ? 1 : -1) * std::exp2(exponent(gen))));
  std::vector<float> ref;
  const std::string skip = torch_e4m3(in, ref);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  ASSERT_EQ(ref.size(), in.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const float mine = float(wr::round_e4m3(in[i]));
    if (std::memcmp(&mine, &ref[i], sizeof(float)) != 0 && ++mismatches <= 5)
      ADD_FAILURE() << "e4m3(" << in[i] << "): wr " << mine << ", torch " << ref[i];
  }
  EXPECT_EQ(mismatches, 0) << "of " << in.size();
}

TEST(Quant, NonFiniteWeightIsANamedError) {
  auto w = torch::ones({3, 4});
  w[1][2] = std::nanf("");
  const std::string e = error_of([&] { wr::quantize_weight(w, wr::WeightQuant::kInt8Rows, "model.layers.0.mlp.up_proj.weight"); });
  EXPECT_TRUE(wr::test::contains(e, "model.layers.0.mlp.up_proj.weight: element [1, 2] is nan")) << e;
  w[1][2] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(wr::test::contains(error_of([&] { wr::quantize_weight(w, wr::WeightQuant::kFp8Rows, "lm_head.weight"); }),
                                 "lm_head.weight: element [1, 2] is inf"));
}

TEST(Quant, SchemeList) {
  const auto s = wr::parse_quant_list("w8,w4g128,w8a8,a8t,fp8");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[2].weights, wr::WeightQuant::kInt8Rows);
  EXPECT_EQ(s[2].inputs, wr::InputQuant::kInt8Tokens);
  EXPECT_EQ(s[3].inputs, wr::InputQuant::kInt8Static);
  EXPECT_TRUE(wr::test::contains(error_of([] { wr::parse_quant_list("w8,w4g12"); }), "did you mean w4g128?"));
  EXPECT_TRUE(wr::test::contains(error_of([] { wr::parse_quant_list("w8,w8"); }), "twice"));
  EXPECT_NE(error_of([] { wr::parse_quant_list(""); }), "");
}

TEST(Quant, CopyRoundsTheLinearLayersAndSharesTheRest) {
  torch::NoGradGuard ng;
  for (bool tied : {false, true})
    for (bool head : {false, true}) {
      auto m = tiny_model(tiny_config(2, tied));
      const auto before = m->layer(1).mlp->down_proj->weight.clone();
      auto q = wr::quantized_copy(m, wr::WeightQuant::kInt8Rows, head);
      EXPECT_TRUE(torch::equal(m->layer(1).mlp->down_proj->weight, before));  // the model is left as it was
      EXPECT_TRUE(torch::equal(q->layer(1).mlp->down_proj->weight, wr::quantize_int8_rows(before)));
      EXPECT_TRUE(torch::equal(q->layer(0).self_attn->k_proj->weight, wr::quantize_int8_rows(m->layer(0).self_attn->k_proj->weight)));
      EXPECT_EQ(q->layer(0).input_layernorm->weight.data_ptr(), m->layer(0).input_layernorm->weight.data_ptr());
      EXPECT_EQ(q->output_weight().data_ptr() == m->output_weight().data_ptr(), !head);
      if (head) {
        EXPECT_TRUE(torch::equal(q->output_weight(), wr::quantize_int8_rows(m->output_weight())));
      }
      // tied: the one matrix is the embedding too
      EXPECT_EQ(q->model->embed_tokens->weight.data_ptr() == m->model->embed_tokens->weight.data_ptr(), !(tied && head));
    }
}

// Weights already on a scheme's grid: the copy holds the same bits, so the logits are the same.
TEST(Quant, IdentityOnWeightsOnTheGrid) {
  torch::NoGradGuard ng;
  const auto table = e4m3_table();
  std::mt19937_64 gen(3);
  auto on_grid = [&](torch::Tensor w, wr::WeightQuant q) {
    auto a = w.accessor<float, 2>();
    for (int64_t r = 0; r < w.size(0); ++r)
      for (int64_t c = 0; c < w.size(1); ++c) {
        if (q == wr::WeightQuant::kInt8Rows) a[r][c] = std::ldexp(c == 0 ? 127.0 : double(int(gen() % 255) - 127), -9);
        if (q == wr::WeightQuant::kInt4Groups)  // each group spans -8..7 (s = 2^-6, z = 8)
          a[r][c] = std::ldexp(c % 128 == 0 ? -8.0 : c % 128 == 1 ? 7.0 : double(int(gen() % 16) - 8), -6);
        if (q == wr::WeightQuant::kFp8Rows)
          a[r][c] = std::ldexp((gen() % 2 ? 1 : -1) * (c == 0 ? 448.0 : table[gen() % table.size()]), -12);
      }
  };
  for (auto q : {wr::WeightQuant::kInt8Rows, wr::WeightQuant::kInt4Groups, wr::WeightQuant::kFp8Rows}) {
    auto m = tiny_model(tiny_config());
    for (auto& lm : wr::layer_matrices(m)) on_grid(lm.weight, q);
    on_grid(m->output_weight(), q);
    auto copy = wr::quantized_copy(m, q, /*head=*/true);
    for (const auto& p : m->named_parameters())
      EXPECT_TRUE(torch::equal(p.value(), copy->named_parameters()[p.key()])) << p.key();
    const auto tokens = wr::test::random_tokens(2, 9, 97);
    EXPECT_TRUE(torch::equal(m->forward(tokens), copy->forward(tokens)));
  }
}

TEST(Quant, InputRoundingIsPerTokenAndSkipsTheHeadUnlessAsked) {
  torch::NoGradGuard ng;
  const auto x = random_matrix(6, 40, 9).view({2, 3, 40});
  for (const auto& scheme : wr::parse_quant_list("w8a8,fp8")) {
    const auto f = wr::input_quantizer(scheme, /*head=*/false);
    ASSERT_TRUE(f);
    const auto all = f(x, 0, wr::LinearInput::kQKV);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < 3; ++t)
        EXPECT_TRUE(torch::equal(all[b][t], f(x[b][t].clone(), 0, wr::LinearInput::kDown)));  // no scale spans tokens
    EXPECT_TRUE(torch::equal(f(x, -1, wr::LinearInput::kHead), x));
    EXPECT_FALSE(torch::equal(wr::input_quantizer(scheme, true)(x, -1, wr::LinearInput::kHead), x));
  }
  EXPECT_FALSE(wr::input_quantizer(wr::parse_quant_list("w4g128")[0], true));  // weights only
  const auto a8t = wr::parse_quant_list("a8t")[0];
  EXPECT_TRUE(wr::test::contains(error_of([&] { wr::input_quantizer(a8t, false); }), "--quant-calibration"));
  wr::InputRanges ranges = {{{0, wr::LinearInput::kQKV}, 127.0 / 2}};
  const auto f = wr::input_quantizer(a8t, false, &ranges);
  EXPECT_TRUE(torch::equal(f(x, 0, wr::LinearInput::kQKV), wr::quantize_int8_static(x, 0.5)));
  EXPECT_TRUE(wr::test::contains(error_of([&] { f(x, 1, wr::LinearInput::kDown); }), "layer 1's down_proj input"));
}

// Calibration records each linear layer's input range; the forward pass with a rounding hook rounds each input.
TEST(Quant, CalibrationRangesAndTheForwardPassHook) {
  torch::NoGradGuard ng;
  auto m = tiny_model(tiny_config());
  const std::vector<std::vector<int64_t>> windows = {{1, 5, 9, 2}, {3, 3, 7}};
  const auto ranges = wr::calibrate_input_ranges(m, windows);
  EXPECT_EQ(ranges.size(), 2u * 4 + 1);
  double qkv0 = 0;
  for (const auto& w : windows) {
    const auto x = m->layer(0).input_layernorm(m->model->embed_tokens(torch::tensor(w).unsqueeze(0)));
    qkv0 = std::max(qkv0, x.abs().max().item<double>());
  }
  EXPECT_EQ(ranges.at({0, wr::LinearInput::kQKV}), qkv0);
  // the hook sees every input: with w8a8 the logits move, by little
  const auto tokens = wr::test::random_tokens(1, 7, 97);
  const auto f = wr::input_quantizer(wr::parse_quant_list("w8a8")[0], true);
  wr::ForwardArgs args;
  args.linear_input = &f;
  const auto ref = m->forward(tokens), rounded = m->forward(tokens, args);
  EXPECT_FALSE(torch::equal(ref, rounded));
  EXPECT_LT((ref - rounded).abs().max().item<double>(), 0.05 * ref.abs().max().item<double>());
  int calls = 0;
  const wr::LinearInputFn count = [&calls](const torch::Tensor& x, int64_t, wr::LinearInput) { return ++calls, x; };
  args.linear_input = &count;
  m->forward(tokens, args);
  EXPECT_EQ(calls, 2 * 4 + 1);
}

TEST(Quant, CalibrationWindows) {
  WR_REQUIRE_SHARED("models/stories260K/tok512.model");
  const auto tok = wr::Tokenizer::from_file(wr::test::shared_path("models/stories260K/tok512.model"));
  std::string text;
  for (int i = 0; i < 400; ++i) text += "Once upon a time there was a little girl named Lily.\n";
  const auto w = wr::calibration_windows(tok, text, /*bos=*/true, /*max_seq_len=*/256, 4, 512);
  ASSERT_EQ(w.size(), 4u);
  for (const auto& window : w) {
    EXPECT_EQ(window.size(), 256u);  // max_seq_len caps the length
    EXPECT_EQ(window[0], tok.bos_id());
  }
  const auto ids = tok.encode(text);
  EXPECT_EQ(w[1][1], ids[255]);  // consecutive pieces: 255 text tokens per window after BOS
  const auto few = wr::calibration_windows(tok, "Lily ran.", false, 256, 64, 512);
  ASSERT_EQ(few.size(), 1u);
  const auto lily = tok.encode("Lily ran.");
  EXPECT_EQ(few[0], std::vector<int64_t>(lily.begin(), lily.end()));
  EXPECT_NE(error_of([&] { wr::calibration_windows(tok, "", false, 256); }), "");
}

}  // namespace
