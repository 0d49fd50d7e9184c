#include "model/common/file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/common/error.h"
#include "tests/test_util.h"

namespace {

TEST(File, Sha256KnownAnswers) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(wr::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(wr::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(File, AtomicWriteReplacesAndLeavesNoTempFile) {
  auto dir = wr::test::temp_dir();
  auto path = dir + "/x.txt";
  wr::write_file_atomic(path, "first");
  wr::write_file_atomic(path, "second");
  EXPECT_EQ(wr::read_file(path), "second");
  EXPECT_EQ(wr::sha256_file(path), wr::sha256_hex("second"));
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
}

TEST(File, ErrorsNameThePath) {
  try {
    wr::read_file("/nonexistent/wr-file");
    FAIL();
  } catch (const wr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/wr-file"), std::string::npos);
  }
  EXPECT_THROW(wr::write_file_atomic("/nonexistent-dir/x", "data"), wr::Error);
}

}  // namespace
