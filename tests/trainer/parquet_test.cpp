// wr-data tokenize's parquet input (trainer/parquet_reader.h) against files pyarrow writes
// (tests/trainer/parquet_writer.py through .venv's Python): the same documents give the same shards as from jsonl,
// from a file, a folder or a glob; a damaged row group, a missing or non-string column and a null text are named.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/file.h"
#include "tests/test_util.h"
#include "trainer/corpus.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/tokenizer_train.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

// Writes the files of spec with pyarrow; "" on success, else why the test must skip.
std::string write_parquet(const nlohmann::json& spec, const std::string& dir, nlohmann::json& out) {
  wr::write_file_atomic(dir + "/spec.json", spec.dump());
  const auto r = wr::test::run_venv_python("tests/trainer/parquet_writer.py", dir + "/spec.json " + dir + "/out.json");
  if (!r.skip.empty()) return r.skip;
  if (r.code != 0) {
    ADD_FAILURE() << "parquet_writer.py failed:\n" << r.err;
    return "pyarrow failed";
  }
  out = nlohmann::json::parse(wr::read_file(dir + "/out.json"));
  return "";
}

// One file of a writer spec (parquet_writer.py): its columns (a JSON object, so in name order), rows per row group.
nlohmann::json parquet_file(const std::string& path, const nlohmann::json& columns, int row_group_size,
                            const std::string& compression) {
  return {{"path", path}, {"columns", columns}, {"row_group_size", row_group_size}, {"compression", compression}};
}

// Skips (fails under WR_TEST_STRICT) where this build has no parquet input, checking first that it says so.
#ifdef WR_WITH_PARQUET
#define WR_REQUIRE_PARQUET() \
  do {                       \
  } while (0)
#else
#define WR_REQUIRE_PARQUET()                                                                                       \
  do {                                                                                                             \
    const std::string e = error_of([] { wr::read_documents("x.parquet", "text", [](std::string&&) {}); });        \
    EXPECT_TRUE(contains(e, "built without parquet input")) << e;                                                  \
    WR_SKIP_UNLESS_STRICT("this build found no pyarrow in .venv, so it reads no parquet");                         \
  } while (0)
#endif

// Documents that exercise the text path: newlines, quotes, non-ASCII, an empty one, a long one.
std::vector<std::string> documents(int n) {
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string d = "Document " + std::to_string(i) + " says:  the quick brown fox (" + std::to_string(i * 37) + ")";
    if (i % 3 == 0) d += "\njumps over the \"lazy\" dog.";
    if (i % 7 == 0) d += " caf\u00e9 \u4e2d\u6587 \U0001F600";
    if (i % 11 == 0) d = std::string(2000, 'a' + i % 26);
    docs.push_back(i == 5 ? "" : d);
  }
  return docs;
}

// A tokenizer trained here with LLaMA's conventions.
const std::string& trained_tokenizer() {
  static const std::string path = [] {
    const std::string dir = std::string(WR_TEST_TMP) + "/parquet-tokenizer";
    std::filesystem::create_directories(dir);
    std::string jsonl;
    for (const auto& d : documents(400)) jsonl += nlohmann::json({{"text", d}}).dump() + "\n";
    wr::write_file_atomic(dir + "/corpus.jsonl", jsonl);
    wr::TokenizerTrainOptions opt;
    opt.vocab_size = 380;
    wr::write_file_atomic(dir + "/tok.model", wr::train_tokenizer({dir + "/corpus.jsonl"}, opt));
    return dir + "/tok.model";
  }();
  return path;
}

nlohmann::json tokenize(const std::vector<std::string>& inputs, const std::string& out, const std::string& field = "text") {
  wr::TokenizeOptions opt;
  opt.inputs = inputs;
  opt.tokenizer = trained_tokenizer();
  opt.out_dir = out;
  opt.text_field = field;
  opt.val_fraction = 0.05;
  opt.shard_tokens = 20000;
  return wr::tokenize_corpus(opt);
}

std::vector<std::string> read_all(const std::string& path, const std::string& field = "text") {
  std::vector<std::string> docs;
  wr::read_documents(path, field, [&](std::string&& d) { docs.push_back(std::move(d)); });
  return docs;
}

TEST(Parquet, SameShardsAsTheSameDocumentsInJsonl) {
  WR_REQUIRE_PARQUET();
  const std::string dir = wr::test::temp_dir();
  const std::vector<std::string> docs = documents(3000);
  std::string jsonl;
  for (const auto& d : docs) jsonl += nlohmann::json({{"text", d}}).dump() + "\n";
  wr::write_file_atomic(dir + "/c.jsonl", jsonl);
  // The same documents in two files of several row groups each, as the Hub splits a corpus: snappy and string, then
  // zstd and large_string; a second column the reader must skip.
  std::filesystem::create_directories(dir + "/pq");
  const std::vector<std::string> first(docs.begin(), docs.begin() + 1200), rest(docs.begin() + 1200, docs.end());
  nlohmann::json columns0 = {{"id", std::vector<int>(first.size(), 7)}, {"text", first}};
  nlohmann::json file1 = parquet_file(dir + "/pq/train-1.parquet", {{"text", rest}}, 700, "zstd");
  file1["large_string"] = true;
  const nlohmann::json spec = {{"files", {parquet_file(dir + "/pq/train-0.parquet", columns0, 500, "snappy"), file1}}};
  nlohmann::json out;
  if (const std::string why = write_parquet(spec, dir, out); !why.empty()) WR_SKIP_UNLESS_STRICT(why);
  ASSERT_EQ(out["files"][0]["row_groups"].size(), 3u);
  ASSERT_EQ(out["files"][1]["row_groups"].size(), 3u);
  EXPECT_EQ(read_all(dir + "/pq/train-0.parquet"), first);

  const auto from_jsonl = tokenize({dir + "/c.jsonl"}, dir + "/j");
  const auto from_folder = tokenize({dir + "/pq"}, dir + "/f");
  const auto from_glob = tokenize({dir + "/pq/train-*.parquet"}, dir + "/g");
  for (const auto* m : {&from_folder, &from_glob}) {
    EXPECT_EQ((*m)["splits"], from_jsonl["splits"]);  // file names, token and document counts, sha256 of every shard
    EXPECT_EQ((*m)["documents"], from_jsonl["documents"]);
    EXPECT_EQ((*m)["tokens"], from_jsonl["tokens"]);
    EXPECT_EQ((*m)["inputs"], nlohmann::json({dir + "/pq/train-0.parquet", dir + "/pq/train-1.parquet"}));
  }
  EXPECT_EQ(from_jsonl["documents"]["train"].get<int64_t>() + from_jsonl["documents"]["val"].get<int64_t>(), 3000);
  EXPECT_GT(from_jsonl["documents"]["val"].get<int64_t>(), 0);
  EXPECT_GT(from_jsonl["splits"]["train"].size(), 1u);  // several shards, so their boundaries are compared too
  EXPECT_EQ(from_folder["input_bytes"].get<int64_t>(),
            static_cast<int64_t>(std::filesystem::file_size(dir + "/pq/train-0.parquet") +
                                 std::filesystem::file_size(dir + "/pq/train-1.parquet")));
}

// A row group whose page fails its checksum is one line naming the file and the row group; the tokenize that read
// it writes no manifest. A file cut short, or not parquet at all, is named as unreadable.
TEST(Parquet, DamagedFilesNameTheFileAndRowGroup) {
  WR_REQUIRE_PARQUET();
  const std::string dir = wr::test::temp_dir();
  nlohmann::json file = parquet_file(dir + "/d.parquet", {{"text", documents(1500)}}, 500, "none");
  file["checksum"] = true;
  const nlohmann::json spec = {{"files", {file}}};
  nlohmann::json out;
  if (const std::string why = write_parquet(spec, dir, out); !why.empty()) WR_SKIP_UNLESS_STRICT(why);
  ASSERT_EQ(read_all(dir + "/d.parquet").size(), 1500u);
  std::string bytes = wr::read_file(dir + "/d.parquet");
  const auto& group = out["files"][0]["row_groups"][1];
  const size_t middle = group["offset"].get<size_t>() + group["bytes"].get<size_t>() / 2;
  for (size_t i = middle; i < middle + 8; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0xff);
  wr::write_file_atomic(dir + "/d.parquet", bytes);
  std::string e = error_of([&] { read_all(dir + "/d.parquet"); });
  EXPECT_TRUE(contains(e, dir + "/d.parquet: row group 1 (of 3, counted from 0): ") && contains(e, "CRC")) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  e = error_of([&] { tokenize({dir + "/d.parquet"}, dir + "/out"); });
  EXPECT_TRUE(contains(e, "row group 1")) << e;
  EXPECT_FALSE(wr::file_exists(dir + "/out/manifest.json"));

  wr::write_file_atomic(dir + "/cut.parquet", bytes.substr(0, bytes.size() / 2));
  wr::write_file_atomic(dir + "/text.parquet", "{\"text\": \"a jsonl line named .parquet\"}\n");
  for (const char* name : {"/cut.parquet", "/text.parquet"}) {
    e = error_of([&] { read_all(dir + name); });
    EXPECT_TRUE(contains(e, dir + name + ": not a readable parquet file (")) << e;
  }
}

// --text-field naming no column, or a column that does not hold strings, or a null text, is named with the file.
TEST(Parquet, AWrongTextFieldIsNamed) {
  WR_REQUIRE_PARQUET();
  const std::string dir = wr::test::temp_dir();
  const nlohmann::json columns = {{"text", {"a", "b", "c"}}, {"n", {1, 2, 3}}, {"maybe", {"x", "y", nullptr}}};
  const nlohmann::json spec = {{"files", {parquet_file(dir + "/t.parquet", columns, 2, "snappy")}}};
  nlohmann::json out;
  if (const std::string why = write_parquet(spec, dir, out); !why.empty()) WR_SKIP_UNLESS_STRICT(why);
  const std::string path = dir + "/t.parquet";
  EXPECT_EQ(read_all(path), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(error_of([&] { read_all(path, "body"); }),
            path + ": no column \"body\" (its columns: maybe, n, text; --text-field names one)");
  EXPECT_EQ(error_of([&] { read_all(path, "n"); }), path + ": column \"n\" holds int64, expected strings");
  EXPECT_EQ(error_of([&] { read_all(path, "maybe"); }),
            path + ": row group 1 (of 2, counted from 0): row 0: \"maybe\" is null, expected a string");
  const std::string e = error_of([&] { tokenize({path}, dir + "/out", "body"); });
  EXPECT_TRUE(contains(e, "no column \"body\"")) << e;
  EXPECT_FALSE(wr::file_exists(dir + "/out/manifest.json"));
}

}  // namespace
