#include "common/file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
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

// A kill -9 between write and commit leaves path.tmp.<pid>: the next write of that path removes the temps of
// processes that are gone, and leaves a live writer's alone.
TEST(File, AtomicWriteRemovesTempsOfDeadWriters) {
  const auto dir = wr::test::temp_dir();
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const std::string stale = dir + "/x.txt.tmp." + std::to_string(dead), live = dir + "/x.txt.tmp." + std::to_string(getppid());
  for (const auto& p : {stale, live}) std::ofstream(p) << "partial";
  wr::write_file_atomic(dir + "/x.txt", "done");
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_EQ(wr::read_file(dir + "/x.txt"), "done");
}

// Results never replace what is not a regular file; a symlink is written through.
TEST(File, AtomicWriteRefusesDevicesAndWritesThroughSymlinks) {
  const auto dir = wr::test::temp_dir();
  EXPECT_EQ(wr::test::error_of([] { wr::write_file_atomic("/dev/null", "x"); }),
            "/dev/null is a character device; results go to regular files only");
  std::filesystem::create_directories(dir + "/d");
  EXPECT_EQ(wr::test::error_of([&] { wr::write_file_atomic(dir + "/d", "x"); }),
            dir + "/d is a directory; results go to regular files only");
  wr::write_file_atomic(dir + "/target", "old");
  std::filesystem::create_symlink(dir + "/target", dir + "/link");
  wr::write_file_atomic(dir + "/link", "new");
  EXPECT_TRUE(std::filesystem::is_symlink(dir + "/link"));
  EXPECT_EQ(wr::read_file(dir + "/target"), "new");
  EXPECT_TRUE(wr::same_file(dir + "/link", dir + "/target"));
  EXPECT_FALSE(wr::same_file(dir + "/link", dir + "/d"));
}

}  // namespace

namespace {

// One check for every tool that writes: an output that is one of the inputs, or a folder holding one, is refused.
TEST(File, AnOutputThatIsAnInputIsRefused) {
  const auto dir = wr::test::temp_dir();
  wr::write_file_atomic(dir + "/ck.pt", "weights");
  std::filesystem::create_directories(dir + "/hf");
  wr::write_file_atomic(dir + "/hf/model.safetensors", "weights");
  auto refused = [&](const std::string& out, const std::string& in) {
    const auto e = wr::test::error_of([&] { wr::check_not_an_input(out, "OUT", {"", in}); });
    return wr::test::contains(e, "OUT " + out + " is an input of this run (" + in + ")");
  };
  EXPECT_TRUE(refused(dir + "/ck.pt", dir + "/ck.pt"));
  EXPECT_TRUE(refused(dir + "/./ck.pt", dir + "/ck.pt"));
  std::filesystem::create_symlink(dir + "/ck.pt", dir + "/link.pt");
  EXPECT_TRUE(refused(dir + "/link.pt", dir + "/ck.pt"));
  EXPECT_TRUE(refused(dir + "/hf", dir + "/hf"));
  EXPECT_TRUE(refused(dir + "/hf", dir + "/hf/model.safetensors"));
  EXPECT_FALSE(refused(dir + "/other.pt", dir + "/ck.pt"));
  EXPECT_FALSE(refused(dir + "/hf2", dir + "/hf"));
  EXPECT_EQ(wr::read_file(dir + "/ck.pt"), "weights");
}

// The temp file <name>.tmp.<pid> must fit NAME_MAX too, or a run fails after its work.
TEST(File, AnOutputNameWithNoRoomForItsTempFileIsRefusedUpFront) {
  const auto dir = wr::test::temp_dir();
  const std::string fits(240, 'a'), too_long(241, 'a');
  EXPECT_EQ(wr::test::error_of([&] { wr::check_output_path(dir + "/" + fits, "--output"); }), "");
  const auto e = wr::test::error_of([&] { wr::check_output_path(dir + "/" + too_long, "--output"); });
  EXPECT_TRUE(wr::test::contains(e, "its file name has 241 bytes; at most 240")) << e;
  wr::write_file_atomic(dir + "/" + fits, "x");  // and the longest accepted name is written
  EXPECT_EQ(wr::read_file(dir + "/" + fits), "x");
}

}  // namespace
