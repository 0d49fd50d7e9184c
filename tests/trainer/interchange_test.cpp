// wr-data export / import (trainer/interchange.h) without LibTorch: wr -> Megatron-LM -> wr and wr -> llm.c -> wr
// bit for bit, Megatron-LM's own IndexedDatasetBuilder and IndexedDataset (megatron-core from PyPI, through .venv's
// Python) writing files wr imports and reading files wr exports, llm.c files from the layout its code documents
// (dev/data/data_common.py write_datafile; llm.c is not on PyPI), and every header field of a damaged file named.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/file.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/test_util.h"
#include "trainer/interchange.h"
#include "trainer/shards.h"
#include "trainer/tokenize_corpus.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

const std::string kSeedTokenizer = std::string(WR_SOURCE_DIR) + "/tests/fuzz/seeds/tokenizer_json/metaspace-bpe.json";
constexpr int kBos = 1;  // the seed tokenizer's <s>

// The seed tokenizer (120 pieces, BOS 1) with its vocabulary padded to `vocab` ids: shards of u32 tokens, and the
// width Megatron-LM chooses differently from wr's (65500 to 65536).
std::string tokenizer_with_vocab(const std::string& dir, int vocab) {
  auto j = nlohmann::json::parse(wr::read_file(kSeedTokenizer));
  auto& pieces = j["model"]["vocab"];
  for (int id = static_cast<int>(pieces.size()); id < vocab; ++id) pieces["~pad" + std::to_string(id)] = id;
  const std::string path = dir + "/tok" + std::to_string(vocab) + ".json";
  wr::write_file_atomic(path, j.dump());
  return path;
}

using Docs = std::vector<std::vector<int>>;

// Random documents, each BOS then ids from 3 up (no BOS or EOS inside).
Docs random_docs(uint32_t seed, int n, int vocab) {
  std::mt19937 rng(seed);
  Docs docs;
  for (int d = 0; d < n; ++d) {
    std::vector<int> doc = {kBos};
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) doc.push_back(3 + static_cast<int>(rng() % static_cast<uint32_t>(vocab - 3)));
    docs.push_back(doc);
  }
  return docs;
}

// A shard folder as tokenize writes one (manifest, tokenizer, shards), from documents.
void write_shards(const std::string& dir, const std::string& tokenizer, const Docs& train_docs, const Docs& val_docs,
                  int64_t shard_tokens) {
  std::filesystem::create_directories(dir);
  const auto tok = wr::Tokenizer::from_file(tokenizer);
  const uint32_t tb = wr::token_bytes_for(tok.vocab_size());
  wr::ShardWriter train(dir, "train", tb, shard_tokens), val(dir, "val", tb, shard_tokens);
  for (const auto& d : train_docs) train.add_document(d);
  for (const auto& d : val_docs) val.add_document(d);
  wr::write_file_atomic(dir + "/tokenizer.json", tok.model_bytes());
  const nlohmann::json m = {{"format", "wr-shards"},
                            {"version", 1},
                            {"token_bytes", tb},
                            {"vocab_size", tok.vocab_size()},
                            {"tokenizer", "tokenizer.json"},
                            {"tokenizer_sha256", wr::sha256_hex(tok.model_bytes())},
                            {"splits", {{"train", train.finish()}, {"val", val.finish()}}}};
  wr::write_file_atomic(dir + "/manifest.json", m.dump());
}

std::vector<int64_t> stream_of(const std::string& dir, const std::string& split) {
  wr::TokenStream s(dir, split);
  std::vector<int64_t> out(static_cast<size_t>(s.size()));
  s.read(0, s.size(), out.data());
  return out;
}

// The shards two folders hold are the same files, byte for byte, under the same names.
void expect_same_shards(const std::string& a, const std::string& b) {
  const auto ma = wr::read_manifest(a), mb = wr::read_manifest(b);
  EXPECT_EQ(ma["splits"], mb["splits"]) << a << " vs " << b;  // names, token and document counts, sha256
  EXPECT_EQ(ma["token_bytes"], mb["token_bytes"]);
  EXPECT_EQ(ma["vocab_size"], mb["vocab_size"]);
  for (const auto& [split, entries] : ma["splits"].items())
    for (const auto& e : entries) {
      const std::string f = e["file"];
      EXPECT_EQ(wr::read_file(a + "/" + f), wr::read_file(b + "/" + f)) << f;
    }
}

// Exports `dir` in `format` to out, imports it back into back (train and val as they were), returns the export.json.
nlohmann::json round_trip(wr::TokenFormat format, const std::string& dir, const std::string& out,
                          const std::string& back, int64_t shard_tokens) {
  wr::ExportOptions ex;
  ex.format = format;
  ex.shard_dir = dir;
  ex.out_dir = out;
  const auto exported = wr::export_shards(ex);
  wr::ImportOptions im;
  im.format = format;
  const bool megatron = format == wr::TokenFormat::megatron;
  im.train = {megatron ? out + "/train" : out + "/train_*.bin"};
  im.val = {megatron ? out + "/val.idx" : out + "/val_*.bin"};
  im.tokenizer = out + "/" + exported["tokenizer"].get<std::string>();
  im.out_dir = back;
  im.shard_tokens = shard_tokens;
  wr::import_tokens(im);
  return exported;
}

TEST(Interchange, TokenizedCorpusRoundTripsBitForBit) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  for (int i = 0; i < 300; ++i)
    jsonl +=
        nlohmann::json({{"text", "the cat sat on mat " + std::to_string(i * 7919) + std::string(i % 13, 'a')}}).dump() +
        "\n";
  wr::write_file_atomic(dir + "/c.jsonl", jsonl);
  wr::TokenizeOptions opt;
  opt.inputs = {dir + "/c.jsonl"};
  opt.tokenizer = kSeedTokenizer;
  opt.out_dir = dir + "/shards";
  opt.val_fraction = 0.1;
  opt.eos = true;
  opt.shard_tokens = 700;
  const auto m = wr::tokenize_corpus(opt);
  ASSERT_GE(m["splits"]["train"].size(), 3u);
  for (const auto format : {wr::TokenFormat::megatron, wr::TokenFormat::llmc}) {
    const std::string name = wr::token_format_name(format);
    const auto ex = round_trip(format, opt.out_dir, dir + "/" + name, dir + "/back-" + name, opt.shard_tokens);
    SCOPED_TRACE(name);
    expect_same_shards(opt.out_dir, dir + "/back-" + name);
    EXPECT_EQ(ex["splits"]["train"]["tokens"], m["tokens"]["train"]);
    EXPECT_EQ(ex["splits"]["train"]["documents"], m["documents"]["train"]);
    EXPECT_EQ(ex["splits"]["train"]["wr_documents"], m["documents"]["train"]);
    EXPECT_EQ(ex["splits"]["val"]["documents"], m["documents"]["val"]);
    const auto back = wr::read_manifest(dir + "/back-" + name);
    EXPECT_EQ(back["bos"], true);
    EXPECT_EQ(back["eos"], true);
    EXPECT_EQ(back["imported_from"], name);
    for (const auto& [split, s] : ex["splits"].items())
      for (const auto& f : s["files"])
        EXPECT_EQ(wr::sha256_file(dir + "/" + name + "/" + f["file"].get<std::string>()), f["sha256"]);
  }
  // Megatron: one sequence per document, the smallest width Megatron-LM would choose for 120 ids.
  const std::string idx = wr::read_file(dir + "/megatron/train.idx");
  EXPECT_EQ(static_cast<int>(idx[17]), 8);  // DType.uint16
  // llm.c: one file per shard.
  EXPECT_EQ(std::filesystem::file_size(dir + "/llmc/train_000002.bin"),
            wr::kLlmcHeaderBytes + 2 * m["splits"]["train"][2]["tokens"].get<uint64_t>());
}

// Wide vocabularies: u32 shards (Megatron int32, llm.c's llama-3 header) and 65520 ids (wr u16, Megatron int32
// because DType.optimal_dtype switches at 65500).
TEST(Interchange, WideVocabulariesRoundTrip) {
  const std::string dir = wr::test::temp_dir();
  for (const int vocab : {70000, 65520}) {
    SCOPED_TRACE(vocab);
    const std::string tok = tokenizer_with_vocab(dir, vocab), shards = dir + "/s" + std::to_string(vocab);
    write_shards(shards, tok, random_docs(vocab, 200, vocab), random_docs(vocab + 1, 20, vocab), 1000);
    for (const auto format : {wr::TokenFormat::megatron, wr::TokenFormat::llmc}) {
      const std::string out = shards + "-" + wr::token_format_name(format), back = out + "-back";
      round_trip(format, shards, out, back, 1000);
      expect_same_shards(shards, back);
      EXPECT_EQ(stream_of(shards, "train"), stream_of(back, "train"));
    }
    EXPECT_EQ(static_cast<int>(wr::read_file(shards + "-megatron/train.idx")[17]), 4);  // DType.int32 in both cases
    const std::string llmc = wr::read_file(shards + "-llmc/train_000000.bin");
    int32_t header[3];
    std::memcpy(header, llmc.data(), sizeof(header));
    EXPECT_EQ(header[0], vocab > 65536 ? 20240801 : 20240520);
    EXPECT_EQ(header[1], vocab > 65536 ? 7 : 1);
  }
}

// llm.c's layout as dev/data/data_common.py write_datafile writes it (lines 39-60): 256 int32 (magic, version,
// count, zeros), then the tokens. Files are one stream whose documents start with the delimiter and may run on into
// the next file (dev/data/fineweb.py 116-132).
std::string llmc_file(const std::vector<uint32_t>& tokens, bool u32) {
  std::vector<int32_t> header(256, 0);
  header[0] = u32 ? 20240801 : 20240520;
  header[1] = u32 ? 7 : 1;
  header[2] = static_cast<int32_t>(tokens.size());
  std::string out(reinterpret_cast<const char*>(header.data()), 1024);
  for (uint32_t t : tokens) {
    if (u32)
      out.append(reinterpret_cast<const char*>(&t), 4);
    else {
      const uint16_t v = static_cast<uint16_t>(t);
      out.append(reinterpret_cast<const char*>(&v), 2);
    }
  }
  return out;
}

TEST(Interchange, LlmcFilesFromTheDocumentedLayout) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/data_train_000001.bin", llmc_file({5, 6, kBos, 7, 8}, false));
  wr::write_file_atomic(dir + "/data_train_000002.bin", llmc_file({9, kBos, 10, 11, kBos}, false));
  wr::ImportOptions im;
  im.format = wr::TokenFormat::llmc;
  im.train = {dir + "/data_train_*.bin"};
  im.tokenizer = kSeedTokenizer;
  im.out_dir = dir + "/back";
  const auto m = wr::import_tokens(im);
  // [5 6] (a shard that starts inside a document), [BOS 7 8 9] across the files, [BOS 10 11], [BOS]
  EXPECT_EQ(m["documents"]["train"], 4);
  EXPECT_EQ(m["documents"]["val"], 0);
  EXPECT_EQ(m["bos"], false);
  EXPECT_EQ(stream_of(dir + "/back", "train"), (std::vector<int64_t>{5, 6, kBos, 7, 8, 9, kBos, 10, 11, kBos}));
  // And wr's export writes the same layout: header fields, 253 zeros, the tokens.
  const std::string shards = dir + "/s";
  write_shards(shards, kSeedTokenizer, {{kBos, 3, 4}, {kBos, 5}}, {}, 100);
  wr::ExportOptions ex;
  ex.format = wr::TokenFormat::llmc;
  ex.shard_dir = shards;
  ex.out_dir = dir + "/out";
  ex.splits = {"train"};
  wr::export_shards(ex);
  EXPECT_EQ(wr::read_file(dir + "/out/train_000000.bin"), llmc_file({kBos, 3, 4, kBos, 5}, false));
}

// Runs tests/trainer/megatron_reference.py with the project's .venv; "" on success, else why the test must skip.
std::string run_megatron_reference(const nlohmann::json& spec, const std::string& dir, nlohmann::json& out) {
  wr::write_file_atomic(dir + "/spec.json", spec.dump());
  const auto r = wr::test::run_venv_python("tests/trainer/megatron_reference.py", dir + "/spec.json " + dir + "/out.json");
  if (!r.skip.empty()) return r.skip;
  if (r.code != 0) {
    ADD_FAILURE() << "megatron_reference.py failed:\n" << r.err;
    return "failed";
  }
  out = nlohmann::json::parse(wr::read_file(dir + "/out.json"));
  return "";
}

// Megatron-LM's own code both ways: IndexedDatasetBuilder writes datasets (documents of several sequences, an empty
// document, uint16 and int32) that wr imports; IndexedDataset reads what wr exports, document for document.
TEST(Interchange, MegatronLMsOwnWriterAndReader) {
  const std::string dir = wr::test::temp_dir();
  const std::string shards = dir + "/s", wide = dir + "/wide";
  const Docs train_docs = random_docs(7, 50, 120), val_docs = random_docs(8, 5, 120);
  write_shards(shards, kSeedTokenizer, train_docs, val_docs, 300);
  write_shards(wide, tokenizer_with_vocab(dir, 65520), random_docs(9, 30, 65520), {}, 300);
  for (const auto& [from, to] : {std::pair{shards, dir + "/m"}, std::pair{wide, dir + "/mw"}}) {
    wr::ExportOptions ex;
    ex.shard_dir = from;
    ex.out_dir = to;
    wr::export_shards(ex);
  }
  using Sequences = std::vector<std::vector<std::vector<int>>>;  // documents of sequences
  const Sequences ref16 = {{{kBos, 5, 6}, {7, 8}}, {{kBos, 9}}, {}, {{kBos, 10, 11, 12}}};
  const Sequences ref32 = {{{kBos, 100, 119}}, {{kBos}, {3}, {4}}};
  nlohmann::json write = nlohmann::json::array(), read_spec = nlohmann::json::array();
  write.push_back({{"prefix", dir + "/ref16"}, {"dtype", "uint16"}, {"documents", ref16}});
  write.push_back({{"prefix", dir + "/ref32"}, {"dtype", "int32"}, {"documents", ref32}});
  read_spec.push_back({{"prefix", dir + "/m/train"}, {"vocab_size", 120}});
  read_spec.push_back({{"prefix", dir + "/m/val"}, {"vocab_size", 120}});
  read_spec.push_back({{"prefix", dir + "/mw/train"}, {"vocab_size", 65520}});
  nlohmann::json spec = nlohmann::json::object();
  spec["write"] = write;
  spec["read"] = read_spec;
  nlohmann::json out;
  const std::string skip = run_megatron_reference(spec, dir, out);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  // What Megatron-LM reads from wr's export: wr's documents, in Megatron's own width for the vocabulary.
  const auto& read = out["read"];
  EXPECT_EQ(read[0]["documents"].get<Docs>(), train_docs);
  EXPECT_EQ(read[1]["documents"].get<Docs>(), val_docs);
  EXPECT_EQ(read[2]["documents"].get<Docs>(), random_docs(9, 30, 65520));
  for (const auto& r : read) {
    EXPECT_EQ(r["dtype"], r["optimal_dtype"]);
    EXPECT_EQ(r["sequences"], r["documents"].size());
  }
  EXPECT_EQ(read[2]["dtype"], "int32");
  // What wr reads from Megatron-LM's files: a document's sequences joined, the empty document dropped.
  wr::ImportOptions im;
  im.format = wr::TokenFormat::megatron;
  im.train = {dir + "/ref16.bin", dir + "/ref32"};
  im.tokenizer = kSeedTokenizer;
  im.out_dir = dir + "/back";
  const auto m = wr::import_tokens(im);
  EXPECT_EQ(m["documents"]["train"], 5);
  EXPECT_EQ(m["bos"], true);
  EXPECT_EQ(stream_of(dir + "/back", "train"),
            (std::vector<int64_t>{kBos, 5, 6, 7, 8, kBos, 9, kBos, 10, 11, 12, kBos, 100, 119, kBos, 3, 4}));
  std::vector<int> got;
  wr::read_megatron(dir + "/ref32.idx", 120,
                    [&](const std::vector<int>& d) { got.push_back(static_cast<int>(d.size())); });
  EXPECT_EQ(got, (std::vector<int>{3, 3}));
}

void write_at(std::string& bytes, size_t offset, const void* v, size_t n) { std::memcpy(bytes.data() + offset, v, n); }
template <class T>
void put(std::string& bytes, size_t offset, T v) {
  write_at(bytes, offset, &v, sizeof(T));
}

// Each field of a damaged .idx/.bin pair is named with its file.
TEST(Interchange, DamagedMegatronFilesNameTheFileAndField) {
  const std::string dir = wr::test::temp_dir();
  write_shards(dir + "/s", kSeedTokenizer, {{kBos, 3, 4}, {kBos, 5, 6, 7}, {kBos, 8}}, {}, 100);
  wr::ExportOptions ex;
  ex.shard_dir = dir + "/s";
  ex.out_dir = dir + "/m";
  wr::export_shards(ex);
  const std::string idx = wr::read_file(dir + "/m/train.idx"), bin = wr::read_file(dir + "/m/train.bin");
  const size_t S = 3, lengths = 34, pointers = 34 + 4 * S, docs = 34 + 12 * S;
  ASSERT_EQ(idx.size(), 34 + 12 * S + 8 * (S + 1));
  struct Case {
    std::function<void(std::string&, std::string&)> damage;
    std::string file, expected;
  };
  const std::vector<Case> cases = {
      {[](std::string& i, std::string&) { i.resize(20); }, "idx",
       ": 20 bytes, shorter than Megatron-LM's 34-byte index header"},
      {[](std::string& i, std::string&) { i[0] = 'X'; }, "idx", ": magic is not \"MMIDIDX\\0\\0\""},
      {[](std::string& i, std::string&) { put<uint64_t>(i, 9, 2); }, "idx", ": version 2, expected 1"},
      {[](std::string& i, std::string&) { i[17] = 7; }, "idx", ": dtype code 7 (float32): token ids are integers"},
      {[](std::string& i, std::string&) { i[17] = 9; }, "idx",
       ": dtype code 9, not one of Megatron-LM's DType codes 1-8"},
      {[](std::string& i, std::string&) { put<uint64_t>(i, 18, S + 1); }, "idx",
       ": 102 bytes, but its header's sequence count 4"},
      {[](std::string& i, std::string&) { put<uint64_t>(i, 18, uint64_t{1} << 62); }, "idx",
       ": 102 bytes, but its header's sequence count 4611686018427387904"},
      {[](std::string& i, std::string&) { i += std::string(S, '\0'); }, "idx", ": a mode byte per sequence follows"},
      {[](std::string& i, std::string&) { i.resize(i.size() - 8); }, "idx", ": 94 bytes, but its header's"},
      {[&](std::string& i, std::string&) {
         put<uint64_t>(i, 26, 0);
         i.resize(34 + 12 * S);
       },
       "idx", ": document count 0"},
      {[&](std::string& i, std::string&) { put<int64_t>(i, docs, 1); }, "idx",
       ": document_indices[0] is 1, expected 0"},
      {[&](std::string& i, std::string&) { put<int64_t>(i, docs + 16, 0); }, "idx",
       ": document_indices[2] is 0, expected from 1"},
      {[&](std::string& i, std::string&) { put<int64_t>(i, docs + 24, 7); }, "idx",
       ": document_indices[3] is 7, expected from 2 to the sequence count 3"},
      {[&](std::string& i, std::string&) { put<int64_t>(i, docs + 24, 2); }, "idx",
       ": document_indices ends at 2, expected the sequence count 3"},
      {[&](std::string& i, std::string&) { put<int32_t>(i, lengths + 4, -1); }, "idx",
       ": sequence_lengths[1] is -1, negative"},
      {[&](std::string& i, std::string&) { put<int64_t>(i, pointers + 8, 8); }, "idx",
       ": sequence_pointers[1] is 8, expected 6"},
      {[&](std::string& i, std::string&) { put<int32_t>(i, lengths, 4); }, "idx",
       ": sequence_pointers[1] is 6, expected 8"},
      {[&](std::string& i, std::string&) { put<int32_t>(i, lengths + 8, 3); }, "bin",
       ": 18 bytes, but the index's sequences 0 to 2 need 20"},
      {[&](std::string& i, std::string&) { put<int32_t>(i, lengths + 8, 1000); }, "bin",
       ": 18 bytes, but the index's sequences 0 to 2 need 2014"},
      {[](std::string&, std::string& b) { b.resize(16); }, "bin",
       ": 16 bytes, but the index's sequences 0 to 2 need 18"},
      {[](std::string&, std::string& b) { b += "xx"; }, "bin",
       ": 20 bytes, but the index's 3 sequences of uint16 ids need 18"},
      {[](std::string&, std::string& b) { put<uint16_t>(b, 6, 500); }, "bin",
       ": token 3 is id 500, beyond the tokenizer's vocabulary of 120"},
      {[](std::string& i, std::string& b) {
         i[17] = 3;
         put<int16_t>(b, 4, -3);
       },
       "bin", ": token 2 is id -3, negative"},
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    std::string i = idx, b = bin;
    cases[k].damage(i, b);
    const std::string prefix = dir + "/case" + std::to_string(k);
    wr::write_file_atomic(prefix + ".idx", i);
    wr::write_file_atomic(prefix + ".bin", b);
    const std::string e = error_of([&] { wr::read_megatron(prefix, 120, [](const std::vector<int>&) {}); });
    EXPECT_TRUE(contains(e, prefix + "." + cases[k].file + cases[k].expected)) << "case " << k << ": " << e;
  }
  const std::string e = error_of([&] { wr::read_megatron(dir + "/absent", 120, [](const std::vector<int>&) {}); });
  EXPECT_TRUE(contains(e, "cannot open " + dir + "/absent.idx")) << e;
}

TEST(Interchange, DamagedLlmcFilesNameTheFileAndField) {
  const std::string dir = wr::test::temp_dir();
  const std::string good = llmc_file({kBos, 5, 6, 7}, false);
  struct Case {
    std::function<void(std::string&)> damage;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](std::string& f) { f.resize(100); }, ": 100 bytes, shorter than llm.c's 1024-byte header"},
      {[](std::string& f) { put<int32_t>(f, 0, 123); }, ": magic 123, expected 20240520 (uint16 tokens) or 20240801"},
      {[](std::string& f) { put<int32_t>(f, 4, 7); }, ": version 7, expected 1 with magic 20240520"},
      {[](std::string& f) { put<int32_t>(f, 8, -1); }, ": token count -1, negative"},
      {[](std::string& f) { put<int32_t>(f, 8, 5); },
       ": header says 5 tokens of 2 bytes, but the file has 1032 bytes, not 1034"},
      {[](std::string& f) {
         put<int32_t>(f, 0, 20240801);
         put<int32_t>(f, 4, 7);
       },
       ": header says 4 tokens of 4 bytes"},
      {[](std::string& f) { put<uint16_t>(f, 1024 + 6, 120); },
       ": token 3 is id 120, beyond the tokenizer's vocabulary of 120"},
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    std::string f = good;
    cases[k].damage(f);
    const std::string path = dir + "/case" + std::to_string(k) + ".bin";
    wr::write_file_atomic(path, f);
    const std::string e = error_of([&] { wr::read_llmc({path}, 120, kBos, [](const std::vector<int>&) {}); });
    EXPECT_TRUE(contains(e, path + cases[k].expected)) << "case " << k << ": " << e;
  }
  wr::write_file_atomic(dir + "/a.bin", good);
  wr::write_file_atomic(dir + "/b.bin", llmc_file({kBos, 5}, true));
  const std::string e = error_of([&] {
    wr::read_llmc({dir + "/a.bin", dir + "/b.bin"}, 120, kBos, [](const std::vector<int>&) {});
  });
  EXPECT_TRUE(contains(e, dir + "/b.bin: 32-bit tokens (magic 20240801), but " + dir + "/a.bin has 16-bit ones")) << e;
}

// Import's options and guarantees: the validation split by the same hash as tokenize, --val with --val-fraction
// refused, an earlier import's extra shards removed, outputs that are inputs refused; export's re-run into a folder
// leaves only the files its export.json lists.
TEST(Interchange, SplitsReRunsAndRefusals) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  for (int i = 0; i < 400; ++i) jsonl += nlohmann::json({{"text", "mat number " + std::to_string(i)}}).dump() + "\n";
  wr::write_file_atomic(dir + "/c.jsonl", jsonl);
  wr::TokenizeOptions t;
  t.inputs = {dir + "/c.jsonl"};
  t.tokenizer = kSeedTokenizer;
  t.shard_tokens = 600;
  t.val_fraction = 0;
  t.out_dir = dir + "/all";
  wr::tokenize_corpus(t);
  t.val_fraction = 0.2;
  t.seed = 5;
  t.out_dir = dir + "/split";
  wr::tokenize_corpus(t);
  wr::ExportOptions ex;
  ex.format = wr::TokenFormat::llmc;
  ex.shard_dir = dir + "/all";
  ex.out_dir = dir + "/l";
  wr::export_shards(ex);
  wr::ImportOptions im;
  im.format = wr::TokenFormat::llmc;
  im.train = {dir + "/l/train_*.bin"};
  im.tokenizer = kSeedTokenizer;
  im.out_dir = dir + "/back";
  im.val_fraction = 0.2;
  im.seed = 5;
  im.shard_tokens = 600;
  wr::import_tokens(im);
  expect_same_shards(dir + "/split", dir + "/back");  // the same documents held out as tokenize holds out
  im.val = {dir + "/l/train_000000.bin"};
  EXPECT_EQ(error_of([&] { wr::import_tokens(im); }),
            "--val and --val-fraction both choose the validation documents; give one");
  im.val.clear();
  im.val_fraction = 0;
  im.shard_tokens = 100000;
  const auto one = wr::import_tokens(im);
  size_t bins = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/back")) bins += e.path().extension() == ".bin";
  EXPECT_EQ(bins, 1u);
  EXPECT_EQ(one["splits"]["train"].size(), 1u);
  EXPECT_EQ(one["splits"]["val"].size(), 0u);
  im.out_dir = dir + "/l";
  EXPECT_TRUE(contains(error_of([&] { wr::import_tokens(im); }), "--out " + dir + "/l is an input of this run"));
  ex.out_dir = dir + "/all";
  EXPECT_TRUE(contains(error_of([&] { wr::export_shards(ex); }), "--out " + dir + "/all is an input of this run"));
  ex.out_dir = dir + "/back";
  EXPECT_EQ(error_of([&] { wr::export_shards(ex); }),
            "--out " + dir + "/back holds a wr shard folder (manifest.json); export into another folder");
  im.train = {dir + "/all/train_000000.bin"};
  EXPECT_EQ(error_of([&] { wr::import_tokens(im); }), "--out " + dir +
                                                          "/l holds an export (export.json) whose files "
                                                          "shards would replace; import into another folder");
  ex.out_dir = dir + "/l";
  ex.shard_dir = dir + "/split";
  ex.splits = {"val"};
  wr::export_shards(ex);
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/l")) names.insert(e.path().filename().string());
  std::set<std::string> expected = {".lock", "export.json", "tokenizer.json"};
  for (size_t i = 0; i < wr::read_manifest(dir + "/split")["splits"]["val"].size(); ++i)
    expected.insert("val_00000" + std::to_string(i) + ".bin");
  EXPECT_EQ(names, expected);
  ex.splits = {"test"};
  EXPECT_EQ(error_of([&] { wr::export_shards(ex); }), dir + "/split/manifest.json: split \"test\" has no shards");
}

// Through the binary: export and import as a user runs them, and the note when a text held the BOS token's own
// string (a tokenizer.json's added tokens are found in text), so documents by BOS outnumber the shards' count.
TEST(Interchange, CommandLine) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/c.jsonl", nlohmann::json({{"text", "one"}}).dump() + "\n" +
                                              nlohmann::json({{"text", "two <s> three"}}).dump() + "\n");
  const std::string bin = WR_DATA_BIN;
  auto run = [&](const std::string& args) {
    const int rc = std::system((bin + " " + args + " > " + dir + "/log 2>&1").c_str());
    return std::make_pair(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, wr::read_file(dir + "/log"));
  };
  auto [rc, log] =
      run("tokenize --tokenizer " + kSeedTokenizer + " --val-fraction 0 --out " + dir + "/s " + dir + "/c.jsonl");
  ASSERT_EQ(rc, 0) << log;
  std::tie(rc, log) = run("export --format megatron --out " + dir + "/m " + dir + "/s");
  ASSERT_EQ(rc, 0) << log;
  EXPECT_TRUE(contains(log, "wr-data: note: train: 3 documents by BOS (id 1), the shards' headers count 2")) << log;
  std::tie(rc, log) = run("import --format megatron --tokenizer " + dir + "/m/tokenizer.json --out " + dir + "/back " +
                          dir + "/m/train.bin");
  ASSERT_EQ(rc, 0) << log;
  EXPECT_EQ(stream_of(dir + "/s", "train"), stream_of(dir + "/back", "train"));
  std::tie(rc, log) = run("export --format megatrom --out " + dir + "/m " + dir + "/s");
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(contains(log, "megatron")) << log;
  std::tie(rc, log) =
      run("import --format llmc --tokenizer " + kSeedTokenizer + " --out " + dir + "/x " + dir + "/m/train.bin");
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(contains(log, "wr-data: error: " + dir + "/m/train.bin: 32 bytes, shorter than llm.c's 1024-byte header"))
      << log;
}

}  // namespace
