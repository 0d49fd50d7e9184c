// wr-data's pieces without LibTorch: shards, corpus readers, tokenizer training, tokenize, synth.
#include <gtest/gtest.h>
#include <omp.h>
#include <zlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/file.h"
#include "common/lock.h"
#include "model/tokenizer/tokenizer.h"
#include "tasks/task.h"
#include "tests/lock_util.h"
#include "tests/test_util.h"
#include "trainer/corpus.h"
#include "trainer/shards.h"
#include "trainer/synth.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/tokenizer_train.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

// Writes a split with ShardWriter and a minimal manifest naming it (vocab_size: the largest the width allows).
void write_split(const std::string& dir, const std::vector<std::vector<int>>& docs, uint32_t token_bytes, int64_t shard_tokens,
                 int64_t vocab_size = 0) {
  wr::ShardWriter w(dir, "train", token_bytes, shard_tokens);
  for (const auto& d : docs) w.add_document(d);
  if (vocab_size == 0) vocab_size = token_bytes == 2 ? 65536 : int64_t{1} << 31;
  nlohmann::json m = {{"format", "wr-shards"}, {"token_bytes", token_bytes}, {"vocab_size", vocab_size},
                      {"splits", {{"train", w.finish()}}}};
  wr::write_file_atomic(dir + "/manifest.json", m.dump());
}

TEST(Shards, RoundTripAcrossShardBoundaries) {
  for (uint32_t tb : {2u, 4u}) {
    const std::string dir = wr::test::temp_dir();
    std::vector<std::vector<int>> docs;
    std::vector<int64_t> all;
    for (int d = 0; d < 9; ++d) {
      std::vector<int> doc;
      for (int i = 0; i <= d; ++i) doc.push_back(tb == 2 ? 65535 - 7 * d - i : 70000 + 1000 * d + i);
      for (int t : doc) all.push_back(t);
      docs.push_back(doc);
    }
    write_split(dir, docs, tb, /*shard_tokens=*/10);
    wr::TokenStream s(dir, "train");
    ASSERT_EQ(s.size(), static_cast<int64_t>(all.size()));
    EXPECT_GE(s.manifest()["splits"]["train"].size(), 4u);  // documents never straddle: 1+2+3+4 | 5 | 6 | 7 | 8 | 9
    std::vector<int64_t> got(all.size());
    s.read(0, s.size(), got.data());
    EXPECT_EQ(got, all);
    std::vector<int64_t> mid(7);
    s.read(8, 7, mid.data());  // crosses the first shard boundary
    EXPECT_EQ(mid, std::vector<int64_t>(all.begin() + 8, all.begin() + 15));
  }
}

TEST(Shards, DamagedFilesAreNamedErrors) {
  const std::string dir = wr::test::temp_dir();
  write_split(dir, {{1, 2, 3, 4, 5}}, 2, 100);
  std::filesystem::resize_file(dir + "/train_000000.bin", 32 + 6);
  std::string e = error_of([&] { wr::TokenStream s(dir, "train"); });
  EXPECT_TRUE(contains(e, "train_000000.bin") && contains(e, "truncated")) << e;
  e = error_of([&] { wr::TokenStream s(dir, "val"); });
  EXPECT_TRUE(contains(e, "split \"val\"")) << e;
  e = error_of([&] { wr::TokenStream s(dir + "/nowhere", "train"); });
  EXPECT_TRUE(contains(e, "manifest.json") && contains(e, "wr-data tokenize")) << e;
}

// A manifest edited by hand or damaged: each fault is one line naming the manifest and the field (the fuzzer's
// first finding here was a missing "file" escaping as a JSON library exception).
TEST(Shards, DamagedManifestFieldsAreNamed) {
  const std::string dir = wr::test::temp_dir();
  write_split(dir, {{1, 2, 3, 4, 5}}, 2, 100);
  const auto good = nlohmann::json::parse(wr::read_file(dir + "/manifest.json"));
  const std::string path = dir + "/manifest.json";
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& m) { m["token_bytes"] = 3; }, ": token_bytes is 3, expected 2 or 4"},
      {[](nlohmann::json& m) { m["token_bytes"] = "2"; }, ": token_bytes is \"2\", expected 2 or 4"},
      {[](nlohmann::json& m) { m["splits"] = nlohmann::json::array(); }, ": splits is not an object"},
      {[](nlohmann::json& m) { m["splits"]["train"] = 7; }, ": splits.train is not a list of shards"},
      {[](nlohmann::json& m) { m["splits"]["train"][0].erase("file"); }, ": splits.train[0] is {"},
      {[](nlohmann::json& m) { m["splits"]["train"][0]["tokens"] = -5; }, ": splits.train[0] is {"},
      {[](nlohmann::json& m) { m["splits"]["train"][0]["file"] = "../train_000000.bin"; },
       ": splits.train[0]: file \"../train_000000.bin\" is not a file name in the shard folder"},
      {[](nlohmann::json& m) { m["splits"]["train"][0]["sha256"] = 1; }, ": splits.train[0]: sha256 is not a string"},
      {[](nlohmann::json& m) { m["version"] = 9; }, ": version 9, expected 1"},
      {[](nlohmann::json& m) { m["tokenizer"] = "../../../../etc/passwd"; },
       ": tokenizer is \"../../../../etc/passwd\", expected a file name in the shard folder"},
      {[](nlohmann::json& m) { m["splits"]["train"].push_back(m["splits"]["train"][0]); },
       ": splits.train[1]: file \"train_000000.bin\" is listed twice"},
  };
  for (const auto& [edit, expected] : cases) {
    auto m = good;
    edit(m);
    wr::write_file_atomic(path, m.dump());
    const std::string e = error_of([&] { wr::TokenStream s(dir, "train"); });
    EXPECT_TRUE(contains(e, path + expected)) << e << "\nexpected: " << path + expected;
  }
}

// A shard header whose token count times the token width overflows 64 bits must not pass the size check by
// wrapping around to the file's size.
TEST(Shards, OverflowingTokenCountIsNamed) {
  const std::string dir = wr::test::temp_dir();
  write_split(dir, {{1, 2, 3, 4, 5}}, 4, 100);
  {
    std::fstream f(dir + "/train_000000.bin", std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t tokens = (uint64_t{1} << 62) + 5;  // 4 x this wraps to 20 = the real payload
    f.seekp(16);
    f.write(reinterpret_cast<const char*>(&tokens), 8);
  }
  const std::string e = error_of([&] { wr::TokenStream s(dir, "train"); });
  EXPECT_TRUE(contains(e, "train_000000.bin: header says 4611686018427387909 tokens")) << e;
}

// A shard whose bytes changed after wr-data wrote it, or whose ids exceed the tokenizer's vocabulary, is named
// when the split is opened, before training reads a token.
TEST(Shards, ChangedBytesAndOutOfVocabularyIdsAreNamed) {
  const std::string dir = wr::test::temp_dir();
  write_split(dir, {{1, 2, 3, 4, 5}}, 2, 100, /*vocab_size=*/8);
  EXPECT_EQ(error_of([&] { wr::TokenStream s(dir, "train"); }), "");
  {
    std::fstream f(dir + "/train_000000.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + 2 * 3);
    const char big[2] = {9, 0};  // token 3 becomes id 9, beyond the 8 pieces
    f.write(big, 2);
  }
  std::string e = error_of([&] { wr::TokenStream s(dir, "train"); });
  EXPECT_TRUE(contains(e, "train_000000.bin: sha256 ") && contains(e, "differs from the manifest's")) << e;
  auto m = nlohmann::json::parse(wr::read_file(dir + "/manifest.json"));
  m["splits"]["train"][0]["sha256"] = wr::sha256_file(dir + "/train_000000.bin");  // as if the manifest were rewritten
  wr::write_file_atomic(dir + "/manifest.json", m.dump());
  e = error_of([&] { wr::TokenStream s(dir, "train"); });
  EXPECT_TRUE(contains(e, "train_000000.bin: token 3 is id 9, beyond the vocabulary of 8")) << e;
}

TEST(Shards, WindowOffsets) {
  const int64_t size = 1000, window = 65, rows = 8;
  for (int64_t b = 0; b < 50; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      int64_t o = wr::window_offset(wr::DataMode::random, 7, b, rows, r, window, size);
      EXPECT_GE(o, 0);
      EXPECT_LE(o + window, size);
      EXPECT_EQ(o, wr::window_offset(wr::DataMode::random, 7, b, rows, r, window, size));  // a pure function
    }
  }
  EXPECT_NE(wr::window_offset(wr::DataMode::random, 7, 3, rows, 0, window, size), wr::window_offset(wr::DataMode::random, 8, 3, rows, 0, window, size));
  // Sequential: each window starts where the previous one's inputs ended (one token of overlap), wrapping.
  EXPECT_EQ(wr::window_offset(wr::DataMode::sequential, 0, 0, rows, 0, window, size), 0);
  EXPECT_EQ(wr::window_offset(wr::DataMode::sequential, 0, 0, rows, 1, window, size), 64);
  EXPECT_EQ(wr::window_offset(wr::DataMode::sequential, 0, 1, rows, 0, window, size), 8 * 64);
  EXPECT_EQ(wr::window_offset(wr::DataMode::sequential, 0, 1, rows, 7, window, size), 0);  // 15 whole windows fit in 999 tokens
  EXPECT_EQ(error_of([] { wr::data_mode_from_name("shuffled", "data.mode"); }),
            "data.mode \"shuffled\": expected \"random\" or \"sequential\"");
  EXPECT_TRUE(contains(error_of([] { wr::window_offset(wr::DataMode::random, 0, 0, 1, 0, 20, 10); }), "fewer than one window"));
}

// base.gz and base.zst holding text.
void write_compressed(const std::string& base, const std::string& text) {
  gzFile gz = gzopen((base + ".gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  std::string zst(ZSTD_compressBound(text.size()), '\0');
  zst.resize(ZSTD_compress(zst.data(), zst.size(), text.data(), text.size(), 3));
  wr::write_file_atomic(base + ".zst", zst);
}

TEST(Corpus, JsonlPlainGzipAndZstdReadTheSame) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  std::vector<std::string> texts = {"first doc", "second\nwith a newline", "\"quoted\" \u00e9"};
  for (const auto& t : texts) jsonl += nlohmann::json({{"body", t}}).dump() + "\n";
  wr::write_file_atomic(dir + "/a.jsonl", jsonl);
  write_compressed(dir + "/a.jsonl", jsonl);
  for (const char* name : {"a.jsonl", "a.jsonl.gz", "a.jsonl.zst"}) {
    std::vector<std::string> got;
    wr::read_documents(dir + "/" + name, "body", [&](std::string&& d) { got.push_back(d); });
    EXPECT_EQ(got, texts) << name;
  }
  wr::write_file_atomic(dir + "/b.txt", "a whole file\n\nis one document");
  std::vector<std::string> got;
  wr::read_documents(dir + "/b.txt", "body", [&](std::string&& d) { got.push_back(d); });
  EXPECT_EQ(got, std::vector<std::string>{"a whole file\n\nis one document"});
  EXPECT_EQ(wr::expand_inputs({dir + "/a.jsonl*"}).size(), 3u);
  EXPECT_TRUE(contains(error_of([&] { wr::expand_inputs({dir + "/none*.jsonl"}); }), "none*.jsonl"));
}

// A compressed file cut short (here at a line boundary, where every line still parses) is an error, not half a
// corpus; so is a .gz that is not gzip.
TEST(Corpus, TruncatedOrMislabelledCompressedFilesAreNamed) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  for (int i = 0; i < 20000; ++i) jsonl += nlohmann::json({{"text", "document " + std::to_string(i * 7919)}}).dump() + "\n";
  write_compressed(dir + "/a.jsonl", jsonl);
  for (const char* name : {"/a.jsonl.gz", "/a.jsonl.zst"}) {
    std::filesystem::resize_file(dir + name, std::filesystem::file_size(dir + name) / 2);
    int64_t docs = 0;
    const std::string e = error_of([&] { wr::read_documents(dir + name, "text", [&](std::string&&) { ++docs; }); });
    EXPECT_TRUE(contains(e, dir + name) && contains(e, "truncated file?")) << name << ": " << e << " after " << docs << " documents";
  }
  wr::write_file_atomic(dir + "/plain.jsonl.gz", "{\"text\": \"not compressed\"}\n");
  EXPECT_EQ(error_of([&] { wr::read_documents(dir + "/plain.jsonl.gz", "text", [](std::string&&) {}); }),
            dir + "/plain.jsonl.gz: not a gzip file (no gzip magic bytes)");
}

TEST(Corpus, BadLinesNameFileAndLine) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"cut\n");
  auto e = error_of([&] { wr::read_documents(dir + "/bad.jsonl", "text", [](std::string&&) {}); });
  EXPECT_TRUE(contains(e, "bad.jsonl:2") && contains(e, "not valid JSON")) << e;
  wr::write_file_atomic(dir + "/field.jsonl", "{\"content\": \"x\"}\n");
  e = error_of([&] { wr::read_documents(dir + "/field.jsonl", "text", [](std::string&&) {}); });
  EXPECT_TRUE(contains(e, "field.jsonl:1") && contains(e, "\"text\"")) << e;
  e = error_of([&] { wr::read_documents(dir + "/x.csv", "text", [](std::string&&) {}); });
  EXPECT_TRUE(contains(e, "unknown input type")) << e;
}

// A tokenizer trained here with LLaMA's conventions, shared by the tests below.
const std::string& trained_tokenizer() {
  static const std::string path = [] {
    const std::string dir = std::string(WR_TEST_TMP) + "/data-tokenizer";
    std::filesystem::create_directories(dir);
    std::string jsonl;
    for (int i = 0; i < 400; ++i)
      jsonl += nlohmann::json({{"text", "Document " + std::to_string(i) + " says:  the quick brown fox (" +
                                            std::to_string(i * 37) + ")\njumps over the lazy dog."}}).dump() + "\n";
    wr::write_file_atomic(dir + "/corpus.jsonl", jsonl);
    wr::TokenizerTrainOptions opt;
    opt.vocab_size = 380;
    wr::write_file_atomic(dir + "/tok.model", wr::train_tokenizer({dir + "/corpus.jsonl"}, opt));
    return dir + "/tok.model";
  }();
  return path;
}

TEST(TokenizerTraining, LlamaConventions) {
  auto tok = wr::Tokenizer::from_file(trained_tokenizer());
  EXPECT_EQ(tok.vocab_size(), 380);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  // Identity normalisation: whitespace runs, newlines and unseen characters survive the round trip.
  for (std::string text : {"the  quick\n\nfox", " leading space", "tabs\tand \u20ac euro", "digits 12345"})
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  // Digits are split one per piece; an unseen character falls back to bytes (3 for the euro sign).
  auto ids = tok.encode("12345");
  int digit_pieces = 0;
  for (int id : ids) digit_pieces += tok.piece(id).find_first_of("0123456789") != std::string::npos;
  EXPECT_EQ(digit_pieces, 5);
  int byte_pieces = 0;
  for (int id : tok.encode("\u20ac")) byte_pieces += tok.piece(id).rfind("<0x", 0) == 0;
  EXPECT_EQ(byte_pieces, 3);
}

// Ids that do not fit the shard width are refused where they are written (a TemplateProcessing BOS of 999999
// was written into 2-byte shards as 16959).
TEST(Shards, IdsBeyondTheShardWidthAreRefused) {
  const std::string dir = wr::test::temp_dir();
  wr::ShardWriter w(dir, "train", 2, 100);
  const std::string e = error_of([&] { w.add_document({1, 999999}); });
  EXPECT_TRUE(contains(e, "token id 999999 does not fit 2-byte shards (ids below 65536)")) << e;
  EXPECT_TRUE(contains(error_of([&] { w.add_document({-1}); }), "token id -1 does not fit")) ;
}

// The manifest's tokenizer_sha256 is checked: shards made with one tokenizer never train with another.
TEST(Shards, ASwappedTokenizerIsNamed) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/tokenizer.json", "made with this one");
  const nlohmann::json m = {{"tokenizer", "tokenizer.json"}, {"tokenizer_sha256", wr::sha256_hex("made with this one")}};
  EXPECT_EQ(wr::read_shard_tokenizer(dir, m), "made with this one");
  wr::write_file_atomic(dir + "/tokenizer.json", "another");
  const std::string e = error_of([&] { wr::read_shard_tokenizer(dir, m); });
  EXPECT_TRUE(contains(e, dir + "/tokenizer.json: sha256 " + wr::sha256_hex("another") + " differs from the manifest's")) << e;
}

// SentencePiece's trainer aborts (an internal assertion) below its meta pieces: named before it runs.
TEST(TokenizerTraining, AVocabularyTooSmallForTheBytePiecesIsNamed) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/c.jsonl", nlohmann::json({{"text", "the cat sat"}}).dump() + "\n");
  wr::TokenizerTrainOptions opt;
  opt.vocab_size = 1;
  const std::string e = error_of([&] { wr::train_tokenizer({dir + "/c.jsonl"}, opt); });
  EXPECT_EQ(e, "--vocab-size 1: expected more than 259 (the 3 special pieces and 256 byte pieces come first)");
}

TEST(Tokenize, ShardsAreDeterministicAndIndependentOfThreads) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  for (int i = 0; i < 3000; ++i) jsonl += nlohmann::json({{"text", "the fox " + std::to_string(i)}}).dump() + "\n";
  wr::write_file_atomic(dir + "/c.jsonl", jsonl);
  auto run = [&](int threads, const std::string& out, bool eos) {
    omp_set_num_threads(threads);
    wr::TokenizeOptions opt;
    opt.inputs = {dir + "/c.jsonl"};
    opt.tokenizer = trained_tokenizer();
    opt.out_dir = dir + "/" + out;
    opt.val_fraction = 0.1;
    opt.eos = eos;
    opt.shard_tokens = 5000;
    return wr::tokenize_corpus(opt);
  };
  auto one = run(1, "one", false), two = run(2, "two", false);
  EXPECT_EQ(one["splits"], two["splits"]);  // file names, counts and sha256 of every shard
  const int64_t val_docs = one["documents"]["val"], train_docs = one["documents"]["train"];
  EXPECT_EQ(val_docs + train_docs, 3000);
  EXPECT_NEAR(val_docs, 300, 60);
  // Every document starts with BOS: the stream holds exactly one BOS per document, and it comes first.
  auto tok = wr::Tokenizer::from_file(trained_tokenizer());
  wr::TokenStream s(dir + "/one", "train");
  std::vector<int64_t> all(s.size());
  s.read(0, s.size(), all.data());
  EXPECT_EQ(all[0], tok.bos_id());
  EXPECT_EQ(std::count(all.begin(), all.end(), tok.bos_id()), train_docs);
  EXPECT_EQ(std::count(all.begin(), all.end(), tok.eos_id()), 0);
  auto with_eos = run(2, "eos", true);
  EXPECT_EQ(with_eos["tokens"]["train"].get<int64_t>(), one["tokens"]["train"].get<int64_t>() + train_docs);
  EXPECT_EQ(wr::sha256_file(dir + "/one/tokenizer.model"), wr::sha256_file(trained_tokenizer()));
}

// Tokenizing again into the same folder with smaller shards leaves exactly the shards the new manifest names.
TEST(Tokenize, RerunIntoTheSameFolderLeavesNoStaleShards) {
  const std::string dir = wr::test::temp_dir();
  std::string jsonl;
  for (int i = 0; i < 300; ++i) jsonl += nlohmann::json({{"text", "the cat sat on mat number " + std::to_string(i)}}).dump() + "\n";
  wr::write_file_atomic(dir + "/c.jsonl", jsonl);
  wr::TokenizeOptions opt;
  opt.inputs = {dir + "/c.jsonl"};
  opt.tokenizer = trained_tokenizer();
  opt.out_dir = dir + "/shards";
  opt.val_fraction = 0.1;
  opt.shard_tokens = 500;
  const auto first = wr::tokenize_corpus(opt);
  opt.shard_tokens = 100000;
  const auto second = wr::tokenize_corpus(opt);
  ASSERT_GT(first["splits"]["train"].size(), second["splits"]["train"].size());
  size_t bins = 0;
  for (const auto& e : std::filesystem::directory_iterator(opt.out_dir)) bins += e.path().extension() == ".bin";
  EXPECT_EQ(bins, second["splits"]["train"].size() + second["splits"]["val"].size());
  wr::TokenStream train(opt.out_dir, "train");  // opens: every listed shard is there and intact
  EXPECT_EQ(train.size(), second["tokens"]["train"].get<int64_t>());
}

// Only shards an earlier manifest listed are removed: a file of the user's named like a shard stays.
TEST(Tokenize, FilesItDidNotWriteAreKept) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/c.jsonl", nlohmann::json({{"text", "the cat sat"}}).dump() + "\n");
  std::filesystem::create_directories(dir + "/shards");
  wr::write_file_atomic(dir + "/shards/train_999999.bin", "mine");
  wr::TokenizeOptions opt;
  opt.inputs = {dir + "/c.jsonl"};
  opt.tokenizer = trained_tokenizer();
  opt.out_dir = dir + "/shards";
  opt.val_fraction = 0;
  wr::tokenize_corpus(opt);
  EXPECT_EQ(wr::read_file(dir + "/shards/train_999999.bin"), "mine");
}

// Two tokenizations into one folder: the second is refused, naming the first (whose manifest would otherwise
// name shards the second deleted).
TEST(Tokenize, ASecondWriterOfTheFolderIsRefused) {
  const std::string dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/c.jsonl", nlohmann::json({{"text", "the cat sat"}}).dump() + "\n");
  std::filesystem::create_directories(dir + "/shards");
  const pid_t holder = wr::test::hold_lock_in_child(dir + "/shards", 2000);
  wr::TokenizeOptions opt;
  opt.inputs = {dir + "/c.jsonl"};
  opt.tokenizer = trained_tokenizer();
  opt.out_dir = dir + "/shards";
  opt.val_fraction = 0;
  const std::string e = error_of([&] { wr::tokenize_corpus(opt); });
  EXPECT_TRUE(contains(e, "--out " + dir + "/shards is in use by pid " + std::to_string(holder))) << e;
  waitpid(holder, nullptr, 0);
  EXPECT_EQ(error_of([&] { wr::tokenize_corpus(opt); }), "");
}

TEST(Synth, DeterministicAndParsedByItsTask) {
  const std::string a = wr::test::temp_dir() + "/a", b = wr::test::temp_dir() + "/b";
  wr::SynthOptions opt;
  opt.documents = 200;
  wr::write_synth(a, opt);
  wr::write_synth(b, opt);
  EXPECT_EQ(wr::read_file(a + "/corpus.jsonl"), wr::read_file(b + "/corpus.jsonl"));
  EXPECT_EQ(wr::read_file(a + "/synth/facts.jsonl"), wr::read_file(b + "/synth/facts.jsonl"));
  auto docs = wr::build_docs(wr::load_task("synth_facts"), a);
  ASSERT_EQ(docs.size(), 48u * 4u);
  const auto first = nlohmann::json::parse(wr::read_file(a + "/synth/facts.jsonl").substr(0, wr::read_file(a + "/synth/facts.jsonl").find('\n')));
  EXPECT_EQ(docs[0].requests[0].context, first["context"].get<std::string>());
  EXPECT_EQ(docs[0].requests[1].continuation, " " + first["choices"][1].get<std::string>());
  EXPECT_EQ(docs[0].gold, first["label"].get<int>());
  for (const auto& d : docs) ASSERT_EQ(d.choices.size(), 4u);
  // At the quickstart's size the corpus states every fact a question asks for, in the question's own words, and
  // never a wrong answer in those words: the task is learnable from the corpus and only from it.
  const std::string c = wr::test::temp_dir() + "/c";
  wr::write_synth(c, wr::SynthOptions{});
  const std::string corpus = wr::read_file(c + "/corpus.jsonl");
  size_t stated = 0, contradicted = 0;
  for (const auto& d : wr::build_docs(wr::load_task("synth_facts"), c)) {
    for (size_t i = 0; i < d.choices.size(); ++i) {
      const bool found = contains(corpus, d.requests[0].context + " " + d.choices[i] + ".");
      (static_cast<int>(i) == d.gold ? stated : contradicted) += found;
    }
  }
  EXPECT_EQ(stated, 192u);
  EXPECT_EQ(contradicted, 0u);
}

}  // namespace
