// wr-train's TensorBoard event files read back by TensorBoard's own reader (the PyPI package, through .venv's
// Python and tests/trainer/tensorboard_reader.py): every telemetry.csv row is a scalar of the same value (to
// float32, which TensorBoard stores), each (tag, step) once, after a crash and a resume with other settings too;
// a file cut short by a kill reads up to the cut. Skips with a message where .venv has no tensorboard package
// (scripts/setup installs it).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "tests/test_util.h"
#include "trainer/checkpointer.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/synth.h"
#include "trainer/tensorboard.h"
#include "trainer/train.h"

namespace {

namespace fs = std::filesystem;
using wr::test::quiet_options;
using wr::test::tiny_config;
using Scalars = std::map<std::pair<std::string, int64_t>, double>;  // (tag, step) -> value

// Runs tensorboard_reader.py; its stdout lines, or a reason to skip in *skip.
std::vector<std::string> reader(const std::string& args, std::string* skip) {
  const auto r = wr::test::run_venv_python("tests/trainer/tensorboard_reader.py", args);
  *skip = r.skip;
  if (!r.skip.empty()) return {};
  EXPECT_EQ(r.code, 0) << "tensorboard_reader.py " << args << "\n" << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  std::stringstream ss(line);
  for (std::string x; std::getline(ss, x, '\t');) f.push_back(x);
  if (!line.empty() && line.back() == '\t') f.push_back("");
  return f;
}

// What a reader mode ("scalars", "tensors", "live") shows; a (tag, step) shown twice is a failure.
Scalars tensorboard_view(const std::string& mode_and_dirs, std::string* skip) {
  Scalars out;
  for (const auto& line : reader(mode_and_dirs, skip)) {
    const auto f = split_tabs(line);
    if (f.size() != 3) {
      ADD_FAILURE() << "reader line: " << line;
      continue;
    }
    EXPECT_TRUE(out.emplace(std::make_pair(f[0], std::stoll(f[1])), std::strtod(f[2].c_str(), nullptr)).second)
        << mode_and_dirs << ": " << f[0] << " at step " << f[1] << " shown twice";
  }
  return out;
}

// telemetry.csv as (name/stat, step) -> value; a row twice is a failure.
Scalars telemetry(const std::string& run_dir) {
  Scalars out;
  std::istringstream in(wr::read_file(run_dir + "/telemetry.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string step, name, stat, value;
    std::getline(ss, step, ',');
    std::getline(ss, name, ',');
    std::getline(ss, stat, ',');
    std::getline(ss, value, ',');
    EXPECT_TRUE(out.emplace(std::make_pair(name + "/" + stat, std::stoll(step)), std::strtod(value.c_str(), nullptr)).second)
        << line;
  }
  return out;
}

// Every row of `csv` in `tb` and nothing else, each value the CSV's to float32: the CSV holds 9 significant
// digits of the double, which can round to the float next to the one wr-train stored, hence one float32 ulp.
void expect_same(const Scalars& csv, const Scalars& tb, const std::string& what) {
  EXPECT_EQ(csv.size(), tb.size()) << what;
  int shown = 0;
  for (const auto& [key, value] : csv) {
    const auto it = tb.find(key);
    if (it == tb.end()) {
      if (++shown <= 10) ADD_FAILURE() << what << ": " << key.first << " at step " << key.second << " missing";
      continue;
    }
    const float f = static_cast<float>(value);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(it->second)) << what << ": " << key.first << " at step " << key.second;
      continue;
    }
    const double ulp = std::nextafter(std::fabs(f), INFINITY) - std::fabs(f);
    EXPECT_LE(std::fabs(it->second - f), ulp) << what << ": " << key.first << " at step " << key.second << ": csv "
                                              << value << ", TensorBoard " << it->second;
  }
  for (const auto& [key, value] : tb)
    if (!csv.count(key) && ++shown <= 20) ADD_FAILURE() << what << ": " << key.first << " at step " << key.second << " not in telemetry.csv";
}

// The run's events files that hold something (a resume empties the earlier one), and how many are empty.
std::vector<std::string> event_files(const std::string& run_dir, size_t* empty = nullptr) {
  std::vector<std::string> out;
  if (empty) *empty = 0;
  if (!fs::is_directory(run_dir + "/tb")) return out;
  for (const auto& e : fs::directory_iterator(run_dir + "/tb")) {
    if (fs::file_size(e.path()) > 0) out.push_back(e.path().string());
    else if (empty) ++*empty;
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TensorBoard, Crc32cIsCastagnolis) {
  // RFC 3720 (iSCSI) B.4 and the usual check value.
  EXPECT_EQ(wr::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(wr::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(wr::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(wr::crc32c(""), 0u);
  const std::string r = wr::tfrecord("abc");
  ASSERT_EQ(r.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(r.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(r.substr(12, 3), "abc");
}

// A run with every kind of row: training, matrices (TVR at 4 and 8), norms, activations, validation loss and a
// task's metrics with their standard errors.
TEST(TensorBoard, EveryTelemetryRowIsAScalar) {
  const std::string dir = wr::test::temp_dir();
  wr::SynthOptions so;
  so.documents = 10;
  wr::write_synth(dir + "/synth", so);
  wr::train(tiny_config(dir + "/r", {"schedule.steps=8", "eval.interval=4", "eval.val_batches=2", "eval.tasks=[\"synth_facts\"]",
                                     "eval.sample=8", "eval.data_dir=" + dir + "/synth"}),
            quiet_options());
  const auto files = event_files(dir + "/r");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].find("/tb/events.out.tfevents."), std::string::npos) << files[0];
  std::string skip;
  const Scalars tb = tensorboard_view("scalars " + dir + "/r/tb", &skip);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  const Scalars csv = telemetry(dir + "/r");
  expect_same(csv, tb, "EventAccumulator");
  expect_same(csv, tensorboard_view("tensors " + dir + "/r/tb", &skip), "plugin_event_accumulator");
  for (const char* tag : {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "train/mfu", "val/loss",
                          "eval.synth_facts/acc", "eval.synth_facts/acc_stderr", "eval.synth_facts/acc_norm", "eval.synth_facts/bpb",
                          "model.layers.1.mlp.down_proj.weight/std", "model.layers.1.mlp.down_proj.weight/std_over_target",
                          "model.norm.weight/mean", "layer.2/act_max", "layer.1/act_median"})
    EXPECT_TRUE(tb.count({tag, 8})) << tag;
  // The file as written: the version first, then a session start at step 0, then one scalar per event.
  const auto events = reader("events " + files[0], &skip);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0], "file_version\t0\tbrain.Event:2\t");
  EXPECT_EQ(events[1], "session_log\t0\t1\t");  // SessionLog.START
  EXPECT_EQ(events.size(), 2 + csv.size());

  // log.tensorboard=false writes no folder
  wr::train(tiny_config(dir + "/off", {"schedule.steps=3", "log.tensorboard=false"}), quiet_options());
  EXPECT_FALSE(fs::exists(dir + "/off/tb"));
}

// A run that crashed at step 7 with a checkpoint at 4, its event file cut inside the last record, resumed with
// another learning rate: TensorBoard shows what telemetry.csv holds (steps 5-7 of the crashed run gone), whether
// it starts afresh or was watching the folder through the crash and the resume, through its Python loaders and its
// Rust data server.
TEST(TensorBoard, ResumeDropsEventsPastTheCheckpoint) {
  const std::string dir = wr::test::temp_dir(), run = dir + "/r";
  const std::vector<std::string> settings = {"checkpoint.interval=4", "log.telemetry_interval=1", "eval.interval=3",
                                             "eval.val_batches=2"};
  wr::TrainOptions crash = quiet_options();
  struct Crash {};
  crash.log = [](const std::string& line) {
    if (line.rfind("step      7/", 0) == 0) throw Crash{};
  };
  EXPECT_THROW(wr::train(tiny_config(run, settings), crash), Crash);
  std::string skip;
  const Scalars crashed = tensorboard_view("scalars " + run + "/tb", &skip);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  expect_same(telemetry(run), crashed, "after the crash");
  ASSERT_TRUE(crashed.count({"train/loss", 7}));
  fs::copy(run + "/tb", dir + "/tb-crashed");

  // cut inside the last record, as a kill during a write leaves it
  auto files = event_files(run);
  ASSERT_EQ(files.size(), 1u);
  fs::resize_file(files[0], fs::file_size(files[0]) - 7);
  const Scalars cut = tensorboard_view("scalars " + run + "/tb", &skip);
  EXPECT_EQ(cut.size() + 1, crashed.size()) << "the reader stops at the cut record";

  auto settings2 = settings;
  settings2.push_back("optimizer.lr=3e-3");  // steps 5.. differ from the crashed run's
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  EXPECT_EQ(wr::train(tiny_config(run, settings2), resume).step, 12);
  size_t emptied = 0;
  files = event_files(run, &emptied);
  ASSERT_EQ(files.size(), 1u) << "the rewritten file replaces the earlier one";
  EXPECT_EQ(emptied, 1u);
  const Scalars csv = telemetry(run), tb = tensorboard_view("scalars " + run + "/tb", &skip);
  expect_same(csv, tb, "after the resume");
  expect_same(csv, tensorboard_view("tensors " + run + "/tb", &skip), "after the resume (plugin_event_accumulator)");
  expect_same(csv, tensorboard_view("live " + dir + "/tb-crashed " + run + "/tb", &skip), "watched through the resume");
  EXPECT_EQ(tb.at({"train/loss", 3}), crashed.at({"train/loss", 3}));  // kept, not recomputed
  EXPECT_NE(tb.at({"train/loss", 6}), crashed.at({"train/loss", 6}));  // the crashed run's value is gone
  EXPECT_EQ(tb.count({"val/loss", 6}), 1u);
  EXPECT_EQ(tb.count({"train/loss", 12}), 1u);
  // what `tensorboard --logdir` serves from by default, TensorBoard's Rust data server: afresh and watching
  const Scalars served = tensorboard_view("server " + run + "/tb", &skip);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  expect_same(csv, served, "data server");
  expect_same(csv, tensorboard_view("server " + dir + "/tb-crashed " + run + "/tb", &skip), "data server, watching through the resume");
}

// An events file cut at any byte reads as the records wholly before the cut.
TEST(TensorBoard, CutFileReadsUpToTheCut) {
  const std::string dir = wr::test::temp_dir();
  wr::train(tiny_config(dir + "/r", {"schedule.steps=3"}), quiet_options());
  const auto files = event_files(dir + "/r");
  ASSERT_EQ(files.size(), 1u);
  const std::string bytes = wr::read_file(files[0]);
  std::string skip;
  const auto all = reader("events " + files[0], &skip);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  std::vector<size_t> ends;  // where each record ends
  for (size_t at = 0; at + 8 <= bytes.size();) {
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    at += 16 + n;
    ends.push_back(at);
  }
  ASSERT_EQ(ends.back(), bytes.size());
  ASSERT_EQ(ends.size(), all.size());
  const std::string cut_path = dir + "/events.out.tfevents.cut";
  for (size_t cut : {ends[0] - 1, ends[2], ends[2] + 5, ends[5] + 10, (ends[9] + ends[10]) / 2, bytes.size() - 1}) {
    wr::write_file_atomic(cut_path, bytes.substr(0, cut));
    const auto got = reader("events " + cut_path, &skip);
    const size_t whole = std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin();
    ASSERT_EQ(got.size(), whole) << "cut at byte " << cut;
    for (size_t i = 0; i < whole; ++i) EXPECT_EQ(got[i], all[i]) << "cut at byte " << cut;
  }
}

// wr-train killed with SIGKILL while it trains: what its event file holds reads, agrees with telemetry.csv
// where both have the row, and after --resume the two agree entirely.
TEST(TensorBoard, KilledRunReadsAndResumes) {
  const std::string dir = wr::test::temp_dir(), run = dir + "/r";
  const std::vector<std::string> settings = {"schedule.steps=24", "checkpoint.interval=3", "log.telemetry_interval=1"};
  tiny_config(run, settings);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    const std::string config = run + ".json";  // tiny_config's file, without the overrides: they go on the command line
    std::vector<const char*> argv = {WR_TRAIN_BIN, config.c_str()};
    for (const auto& s : settings) argv.push_back(s.c_str());
    argv.push_back(nullptr);
    execv(WR_TRAIN_BIN, const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  auto losses = [&] { return fs::exists(run + "/telemetry.csv") ? wr::test::telemetry_series(run, "train", "loss").size() : 0; };
  for (int i = 0; i < 1200 && losses() < 8; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  std::string skip;
  const Scalars tb = tensorboard_view("scalars " + run + "/tb", &skip);
  if (!skip.empty()) WR_SKIP_UNLESS_STRICT(skip);
  const Scalars csv = telemetry(run);
  EXPECT_GE(tb.count({"train/loss", 6}), 1u);
  EXPECT_FALSE(wr::list_checkpoints(run).empty());
  for (const auto& [key, value] : tb) {
    ASSERT_TRUE(csv.count(key)) << key.first << " at step " << key.second;
    EXPECT_LE(std::fabs(static_cast<float>(csv.at(key)) - value), 1e-6 * std::fabs(value) + 1e-30) << key.first;
  }
  // the rest of the run in-process, to its end
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  EXPECT_EQ(wr::train(tiny_config(run, settings), resume).step, 24);
  expect_same(telemetry(run), tensorboard_view("scalars " + run + "/tb", &skip), "killed and resumed");
}

}  // namespace
