// ckpt.pt's archive checks (model/io/torch_archive.h), without LibTorch: archives written by CPython's pickler (every
// protocol) and by torch.save pass; archives whose declared sizes outrun their bytes fail naming the file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zip.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "common/file.h"
#include "model/io/torch_archive.h"
#include "tests/test_util.h"

namespace {

using wr::test::contains;
using wr::test::error_of;

// A zip of (name, bytes) records, stored or deflated, as the bytes of the file.
std::string zip_of(const std::vector<std::pair<std::string, std::string>>& records, bool deflate = false) {
  const std::string path = wr::test::temp_dir() + "/a.zip";
  int err = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!zip) throw std::runtime_error("zip_open failed");
  for (const auto& [name, bytes] : records) {
    zip_source_t* src = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
    const zip_int64_t i = zip_file_add(zip, name.c_str(), src, ZIP_FL_OVERWRITE);
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(i), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(zip) != 0) throw std::runtime_error("zip_close failed");
  return wr::read_file(path);
}

// PROTO 2, EMPTY_DICT, BINPUT 0, BINUNICODE "a", BINPUT 1, BININT1 1, SETITEM, STOP: {"a": 1}
const std::string kPickle{'\x80', 2, '}', 'q', 0, 'X', 1, 0, 0, 0, 'a', 'q', 1, 'K', 1, 's', '.'};

std::string archive_with_pickle(const std::string& pickle) {
  return zip_of({{"archive/data.pkl", pickle}, {"archive/data/0", std::string(12, '\0')}});
}

TEST(TorchArchive, PicklesOfEveryProtocolAndTorchSavePass) {
  const std::string dir = wr::test::temp_dir();
  const auto r = wr::test::run_venv_python("tests/model/io/torch_archive_reference.py", dir);
  const bool partial = r.code == 3;  // the plain pickles written, but no torch for torch.save's files
  if (!r.skip.empty() && !partial) WR_SKIP_UNLESS_STRICT(r.skip);  // no .venv at all
  ASSERT_TRUE(r.code == 0 || partial) << r.err;
  int pickles = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".pt") continue;
    const std::string path = e.path().string();
    wr::TorchArchive archive;
    ASSERT_NO_THROW(archive = wr::check_torch_archive(wr::read_file(path), path)) << error_of([&] { wr::check_torch_archive(wr::read_file(path), path); });
    if (contains(path, "pickle-")) {
      ++pickles;
      EXPECT_EQ(archive.storage_record_sizes, std::vector<uint64_t>{12}) << path;
    } else {  // torch.save: w (and its view) and b share two storages: 6 and 4 floats
      auto sizes = archive.storage_record_sizes;
      std::sort(sizes.begin(), sizes.end());
      EXPECT_EQ(sizes, (std::vector<uint64_t>{16, 24})) << path;
    }
  }
  EXPECT_GE(pickles, 5);  // protocols 0 to 4 at least
  if (partial) WR_SKIP_UNLESS_STRICT(r.skip);
}

TEST(TorchArchive, DeclaredSizesBeyondTheBytesAreNamed) {
  EXPECT_NO_THROW(wr::check_torch_archive(archive_with_pickle(kPickle), "ok.pt"));
  auto error = [](const std::string& pickle) {
    return error_of([&] { wr::check_torch_archive(archive_with_pickle(pickle), "bad.pt"); });
  };
  // a string claiming 2 GB (LibTorch's unpickler reserves it before reading)
  std::string huge = kPickle;
  huge.replace(6, 4, std::string("\xff\xff\xff\x7f", 4));
  EXPECT_TRUE(contains(error(huge), "bad.pt archive/data.pkl: pickle opcode 0x58 at byte 5 declares 2147483647 bytes, 7 remain")) << error(huge);
  // memo ids out of order (LibTorch's unpickler reserves a table as large as the id)
  std::string memo = kPickle;
  memo[4] = '\x7f';
  EXPECT_TRUE(contains(error(memo), "stores memo id 127, expected 0")) << error(memo);
  std::string long_memo = kPickle.substr(0, 3) + std::string("r\xff\xff\xff\x7f", 5) + kPickle.substr(5);
  EXPECT_TRUE(contains(error(long_memo), "stores memo id 2147483647, expected 0")) << error(long_memo);
  EXPECT_TRUE(contains(error(kPickle.substr(0, 16)), "without its STOP opcode")) << error(kPickle.substr(0, 16));
  EXPECT_TRUE(contains(error(std::string("\x80\x02\xff.", 4)), "unknown pickle opcode 0xff at byte 2"));
  EXPECT_TRUE(contains(error(std::string("\x80\x02h\x00.", 5)), "reads memo id 0 of 0"));
  // protocol 0's text memo: PUT needs a number
  EXPECT_TRUE(contains(error("(lpx\nI1\na."), "pickle opcode 0x70 at byte 2 has no memo id"));
  EXPECT_NO_THROW(wr::check_torch_archive(archive_with_pickle("(lp0\nI1\nag0\na."), "ok.pt"));
}

TEST(TorchArchive, RecordsAndZipDamageAreNamed) {
  EXPECT_TRUE(contains(error_of([] { wr::check_torch_archive("PK\x03\x04 not really", "x.pt"); }), "x.pt: not a readable zip archive"));
  EXPECT_TRUE(contains(error_of([] { wr::check_torch_archive(zip_of({{"archive/other", "x"}}), "x.pt"); }),
                       "x.pt: no <archive>/data.pkl record"));
  // A deflated record whose declared size (local and central headers agree) is more than deflate can expand to.
  std::string file = zip_of({{"archive/data.pkl", kPickle}, {"archive/data/0", std::string(100000, '\0')}}, true);
  int patched = 0;
  for (size_t at = 0; (at = file.find("archive/data/0", at)) != std::string::npos; at += 14) {
    const bool central = file.compare(at - 46, 4, "PK\x01\x02") == 0;
    const size_t size_field = central ? at - 46 + 24 : at - 30 + 22;
    std::memcpy(&file[size_field], "\x00\x00\x00\x7f", 4);
    ++patched;
  }
  ASSERT_EQ(patched, 2);
  const std::string message = error_of([&] { wr::check_torch_archive(file, "x.pt"); });
  EXPECT_TRUE(contains(message, "x.pt: zip record archive/data/0 declares 2130706432 bytes, more than its")) << message;
}

}  // namespace
