// Hard kills and full disks, through the binaries as a user runs them. wr-train, wr-eval and wr-data killed with
// SIGKILL at random moments (in a checkpoint write, an evaluation, a telemetry flush: whatever the moment holds)
// leave nothing partial under a final name, and a run continued with --resume ends exactly as an uninterrupted
// one. On a full disk (a small tmpfs) they stop with one line naming the file and the error, and what was there
// before survives.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "common/process.h"
#include "eval/report.h"
#include "model/io/native.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/checkpointer.h"

namespace {

namespace fs = std::filesystem;
using wr::test::contains;
using Clock = std::chrono::steady_clock;

// The exit code, or 128 + the signal that ended the process.
int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_to_end(const std::vector<std::string>& argv, const std::string& log) { return wait_for(wr::spawn_logged(argv, log)); }

struct KillOutcome {
  bool landed;          // the kill found the program running
  Clock::duration ran;  // from its start to its end
};

// Runs argv and sends SIGKILL `delay` after `armed` first holds (from the start by default), unless it ends before
// (polled, so a program that ends early is timed exactly and the wait ends with it).
KillOutcome kill_after(const std::vector<std::string>& argv, const std::string& log, std::chrono::microseconds delay,
                       const std::function<bool()>& armed = [] { return true; }) {
  const auto start = Clock::now();
  const pid_t pid = wr::spawn_logged(argv, log);
  std::optional<Clock::time_point> armed_at;
  for (int status = 0; !armed_at || Clock::now() - *armed_at < delay; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return {false, Clock::now() - start};
    if (!armed_at && armed()) armed_at = Clock::now();
  }
  ::kill(pid, SIGKILL);  // a process that ended since the last poll is a zombie until waited for: the pid is its own
  const bool landed = wait_for(pid) == 128 + SIGKILL;
  return {landed, Clock::now() - start};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A run's telemetry as "step,name,stat" -> value, each row once, without the timing rows (tokens/s and MFU vary
// from run to run); a row logged twice or cut short fails the test.
std::map<std::string, std::string> telemetry_rows(const std::string& path) {
  const std::string text = wr::read_file(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << path << ": last line cut short";
  std::map<std::string, std::string> out;
  for (const auto& line : lines_of(text)) {
    const size_t comma = line.rfind(',');
    const std::string key = line.substr(0, comma);
    if (contains(key, ",train,tokens_per_s") || contains(key, ",train,mfu")) continue;
    EXPECT_TRUE(out.emplace(key, line.substr(comma + 1)).second) << path << ": row " << key << " twice";
  }
  return out;
}

// eval.csv's rows without their date column, found by the header's name (columns may follow it). Training's rows
// hold no quoted commas.
std::vector<std::string> eval_rows(const std::string& path) {
  auto fields = [](const std::string& line) {
    std::vector<std::string> out(1);
    for (char c : line) {
      if (c == ',') {
        out.emplace_back();
      } else {
        out.back().push_back(c);
      }
    }
    return out;
  };
  const auto lines = lines_of(wr::read_file(path));
  if (lines.empty()) return {};
  const auto header = fields(lines[0]);
  const size_t date = static_cast<size_t>(std::find(header.begin(), header.end(), "date") - header.begin());
  std::vector<std::string> out;
  for (const auto& line : lines) {
    auto f = fields(line);
    if (date < f.size()) f.erase(f.begin() + static_cast<std::ptrdiff_t>(date));
    std::string row;
    for (size_t i = 0; i < f.size(); ++i) row += (i ? "," : "") + f[i];
    out.push_back(row);
  }
  return out;
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp.")) out.push_back(e.path().string());
  return out;
}

// Moments to kill at: between the fractions `from` and `to` of the run time expected (LibTorch's start-up takes the
// first part of a run, so kills meant for the work start later). The machine's load changes run times (ctest runs
// other tests beside these), so a program that ends before its kill sets the expectation to the time it took.
class KillTimer {
 public:
  KillTimer(Clock::duration expected, double from, double to, uint32_t seed)
      : expected_(expected), from_(from), to_(to), rng_(seed) {}
  std::chrono::microseconds next() {
    const double us = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(expected_).count());
    return std::chrono::microseconds(static_cast<int64_t>(std::uniform_real_distribution<double>(from_ * us, to_ * us)(rng_)));
  }
  // Whether the kill landed; a program that ended first tells how long a run takes now.
  bool landed(const KillOutcome& outcome) {
    if (!outcome.landed) expected_ = outcome.ran;
    return outcome.landed;
  }

 private:
  Clock::duration expected_;
  double from_, to_;
  std::mt19937 rng_;
};

// The tiny model's run (32 steps; a checkpoint every 2, the validation loss every 8, telemetry every step) as a
// config file, in `dir`.
std::string tiny_run_config(const std::string& dir) {
  const auto resolved = wr::test::tiny_config(dir + "/run", {"run.name=tiny", "schedule.steps=32", "checkpoint.interval=2", "checkpoint.keep=2",
                                                             "eval.interval=8", "eval.val_batches=2", "log.telemetry_interval=1"});
  wr::write_file_atomic(dir + "/config.json", resolved.dump(2));
  return dir + "/config.json";
}

TEST(HardKill, TrainingContinuedAfterKill9EndsAsAnUninterruptedRun) {
  const std::string dir = wr::test::temp_dir(), config = tiny_run_config(dir);
  const auto t0 = Clock::now();
  ASSERT_EQ(run_to_end({WR_TRAIN_BIN, config, "run.dir=" + dir + "/ref"}, dir + "/ref.log"), 0) << wr::read_file(dir + "/ref.log");
  const auto duration = Clock::now() - t0;
  const auto ref_telemetry = telemetry_rows(dir + "/ref/telemetry.csv");
  const auto ref_eval = eval_rows(dir + "/ref/eval.csv");
  ASSERT_EQ(ref_eval.size(), 5u);  // the header and the validation loss at steps 8, 16, 24, 32

  KillTimer timer(duration, 0.4, 1.05, 20261204);
  std::mt19937 after_checkpoint(20261207);
  int trials = 0, killed = 0, left_temps = 0, resumed = 0;
  for (; trials < 16 && killed < 10; ++trials) {
    const int trial = trials;
    const std::string run = dir + "/trial-" + std::to_string(trial), log = run + ".log";
    // Odd trials wait for the first checkpoint under its final name before their random moment, so that resuming
    // from a checkpoint is tested however slow start-up is on a loaded machine; even trials may land anywhere.
    auto has_checkpoint = [&] { return fs::exists(run) && !wr::list_checkpoints(run).empty(); };
    if (trial % 2 == 0) {
      killed += timer.landed(kill_after({WR_TRAIN_BIN, config, "run.dir=" + run}, log, timer.next()));
    } else {
      const auto delay = std::chrono::microseconds(std::uniform_int_distribution<int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(duration).count() / 3)(after_checkpoint));
      killed += kill_after({WR_TRAIN_BIN, config, "run.dir=" + run}, log, delay, has_checkpoint).landed;
    }
    left_temps += !temp_files(run).empty();
    // Every checkpoint under its final name is complete.
    const auto checkpoints = fs::exists(run) ? wr::list_checkpoints(run) : std::vector<std::string>{};
    for (const auto& ckpt : checkpoints) EXPECT_NO_THROW(wr::read_native(ckpt)) << "trial " << trial << ": " << ckpt;
    // Continue from the newest checkpoint, or start again when the kill came before the first.
    resumed += !checkpoints.empty();
    const auto cont = checkpoints.empty() ? std::vector<std::string>{WR_TRAIN_BIN, config, "run.dir=" + run}
                                          : std::vector<std::string>{WR_TRAIN_BIN, "--resume", run};
    ASSERT_EQ(run_to_end(cont, log), 0) << "trial " << trial << "\n" << wr::read_file(log);
    EXPECT_EQ(telemetry_rows(run + "/telemetry.csv"), ref_telemetry) << "trial " << trial;
    EXPECT_EQ(eval_rows(run + "/eval.csv"), ref_eval) << "trial " << trial;
    EXPECT_EQ(temp_files(run), std::vector<std::string>{}) << "trial " << trial;
  }
  std::printf("%d of %d kills landed while wr-train ran, %d left a temp file, %d runs resumed from a checkpoint\n",
              killed, trials, left_temps, resumed);
  EXPECT_GE(killed, 6);
  EXPECT_GE(resumed, 3);
}

// wr-eval's three outputs, each present before the run: after a kill each is its old self or the run's complete
// new version, never a part.
TEST(HardKill, EvalOutputsAreOldOrCompleteAfterKill9) {
  const std::string dir = wr::test::temp_dir(), config = tiny_run_config(dir);
  ASSERT_EQ(run_to_end({WR_TRAIN_BIN, config}, dir + "/train.log"), 0) << wr::read_file(dir + "/train.log");
  const std::string ckpt = wr::list_checkpoints(dir + "/run").back();
  fs::create_directories(dir + "/data/mmlu");
  {
    std::ofstream out(dir + "/data/mmlu/anatomy.jsonl");
    const char* words[] = {"bone", "river", "apple", "teacher", "blue", "map", "water"};
    for (int i = 0; i < 800; ++i)
      out << "{\"question\": \"Which " << words[i % 7] << " is " << words[(i / 7) % 7] << "?\", \"subject\": \"anatomy\", "
          << "\"choices\": [\"" << words[i % 5] << "\", \"" << words[(i + 1) % 7] << "\", \"the " << words[(i + 2) % 7]
          << "\", \"" << i << "\"], \"answer\": " << i % 4 << "}\n";
  }
  const std::string csv = dir + "/r.csv", json = dir + "/r.json", samples = dir + "/s.jsonl";
  auto eval = [&](const std::string& run) {
    return std::vector<std::string>{WR_EVAL_BIN, "--tasks", "mmlu_anatomy", "--offline", "--data-dir", dir + "/data",
                                    "--run", run, "--output", csv, "--json", json, "--log-samples", samples, ckpt};
  };
  const auto t0 = Clock::now();
  ASSERT_EQ(run_to_end(eval("first"), dir + "/eval.log"), 0) << wr::read_file(dir + "/eval.log");
  const auto duration = Clock::now() - t0;
  const std::string old_csv = wr::read_file(csv), old_json = wr::read_file(json), old_samples = wr::read_file(samples);
  ASSERT_EQ(run_to_end(eval("second"), dir + "/eval.log"), 0);
  const std::string new_json = wr::read_file(json), new_samples = wr::read_file(samples);
  const std::string new_csv_tail = wr::read_file(csv).substr(old_csv.size());

  KillTimer timer(duration, 0.2, 1.1, 7);
  int trials = 0, killed = 0;
  for (; trials < 12 && killed < 6; ++trials) {
    const int trial = trials;
    wr::write_file_atomic(csv, old_csv);
    wr::write_file_atomic(json, old_json);
    wr::write_file_atomic(samples, old_samples);
    killed += timer.landed(kill_after(eval("second"), dir + "/kill.log", timer.next()));
    const std::string now_csv = wr::read_file(csv);
    // the second run's rows differ from the first's only in the date column
    if (now_csv != old_csv) {
      ASSERT_EQ(now_csv.size(), old_csv.size() + new_csv_tail.size()) << "trial " << trial << ": a partial CSV\n" << now_csv;
      EXPECT_EQ(now_csv.substr(0, old_csv.size()), old_csv);
    }
    // both runs score the same documents with the same model: a complete JSON or samples file has their results
    const std::string now_json = wr::read_file(json), now_samples = wr::read_file(samples);
    EXPECT_TRUE(now_json == old_json ||
                nlohmann::json::parse(now_json)["results"] == nlohmann::json::parse(new_json)["results"])
        << "trial " << trial;
    EXPECT_TRUE(now_samples == old_samples || now_samples == new_samples) << "trial " << trial;
  }
  std::printf("%d of %d kills landed while wr-eval ran\n", killed, trials);
  EXPECT_GE(killed, 4);
}

// wr-data tokenize into a folder that already holds shards: a kill part way leaves either no manifest or one whose
// every shard and tokenizer are there with the sizes and checksums it names.
TEST(HardKill, TokenizeKilledLeavesNoManifestNamingMissingOrReplacedFiles) {
  const std::string dir = wr::test::temp_dir(), out = dir + "/shards";
  wr::write_file_atomic(dir + "/tok.model", wr::test::fixture_tokenizer().model_bytes());
  wr::write_file_atomic(dir + "/corpus.jsonl", wr::test::word_corpus_jsonl(20000, 30));
  auto tokenize = [&](const std::string& seed) {
    return std::vector<std::string>{WR_DATA_BIN, "tokenize", "--tokenizer", dir + "/tok.model", "--out", out,
                                    "--shard-tokens", "20000", "--val-fraction", "0.05", "--seed", seed, dir + "/corpus.jsonl"};
  };
  const auto t0 = Clock::now();
  ASSERT_EQ(run_to_end(tokenize("1"), dir + "/tok.log"), 0) << wr::read_file(dir + "/tok.log");
  const auto duration = Clock::now() - t0;

  KillTimer timer(duration, 0.2, 1.4, 11);
  int trials = 0, killed = 0, manifests = 0;
  for (; trials < 12 && killed < 5; ++trials) {
    const int trial = trials;
    // another seed moves documents between the splits: the shards it writes differ from those on disk
    killed += timer.landed(kill_after(tokenize(std::to_string(trial + 2)), dir + "/kill.log", timer.next()));
    if (!fs::exists(out + "/manifest.json")) continue;
    ++manifests;
    const auto manifest = nlohmann::json::parse(wr::read_file(out + "/manifest.json"));
    EXPECT_EQ(wr::sha256_file(out + "/" + manifest.at("tokenizer").get<std::string>()), manifest.at("tokenizer_sha256"));
    for (const auto& [split, shards] : manifest.at("splits").items())
      for (const auto& shard : shards)
        EXPECT_EQ(wr::sha256_file(out + "/" + shard.at("file").get<std::string>()), shard.at("sha256"))
            << "trial " << trial << ": " << shard.at("file");
  }
  std::printf("%d of %d kills landed while wr-data ran; %d left a manifest\n", killed, trials, manifests);
  EXPECT_GE(killed, 3);
  ASSERT_EQ(run_to_end(tokenize("1"), dir + "/tok.log"), 0) << "a killed folder is tokenized again";
}

// Runs script under sh in a private mount namespace with a `bytes`-sized tmpfs at mountpoint (gone when the script
// ends); "" when it ran (whatever its exit code), else why it could not (no root and no user namespaces).
std::string on_small_tmpfs(const std::string& mountpoint, int64_t bytes, const std::string& script) {
  fs::create_directories(mountpoint);
  const std::string inner = "mount -t tmpfs -o size=" + std::to_string(bytes) + " tmpfs " + mountpoint + " || exit 97; " + script;
  std::string why;
  for (const char* unshare : {"unshare -m --propagation private", "unshare -rm --propagation private"}) {
    const std::string cmd = std::string(unshare) + " sh -c '" + inner + "' > " + mountpoint + ".log 2>&1";
    const int rc = std::system(cmd.c_str());
    if (WIFEXITED(rc) && WEXITSTATUS(rc) != 97 && WEXITSTATUS(rc) != 1) return "";
    why += std::string(unshare) + ": " + wr::read_file(mountpoint + ".log");
  }
  return why;
}

// Training on a disk that fills up: a later checkpoint cannot be written; the run stops with one line naming the
// file and the error, and the checkpoints before it, config and telemetry are intact.
TEST(FullDisk, TrainingStopsCleanlyAndKeepsWhatItHadWritten) {
  const std::string dir = wr::test::temp_dir(), config = tiny_run_config(dir);
  ASSERT_EQ(run_to_end({WR_TRAIN_BIN, config}, dir + "/size.log"), 0);
  const int64_t ckpt_bytes = static_cast<int64_t>(fs::file_size(wr::list_checkpoints(dir + "/run").back()));
  // room for the config, the telemetry and two checkpoints, not for a third (keep is 2: the third is written
  // before the first is pruned)
  const std::string mnt = dir + "/disk", saved = dir + "/saved";
  const std::string why = on_small_tmpfs(mnt, 2 * ckpt_bytes + 96 * 1024,
      std::string(WR_TRAIN_BIN) + " " + config + " run.dir=" + mnt + "/run > " + dir + "/train.log 2>&1; echo $? > " +
      dir + "/rc; cp -a " + mnt + "/run " + saved + "; exit 0");
  if (!why.empty()) GTEST_SKIP() << "cannot mount a small tmpfs here (needs root or user namespaces): " << why;
  const std::string log = wr::read_file(dir + "/train.log");
  EXPECT_EQ(wr::read_file(dir + "/rc"), "1\n") << log;
  const auto log_lines = lines_of(log);
  ASSERT_FALSE(log_lines.empty());
  const std::string& error = log_lines.back();
  EXPECT_TRUE(contains(error, "wr-train: error: ") && contains(error, mnt + "/run/") &&
              (contains(error, "No space left on device") || contains(error, "disk full")))
      << error;
  const auto checkpoints = wr::list_checkpoints(saved);
  ASSERT_FALSE(checkpoints.empty()) << log;
  for (const auto& ckpt : checkpoints) EXPECT_NO_THROW(wr::read_native(ckpt)) << ckpt;
  EXPECT_EQ(temp_files(saved), std::vector<std::string>{});
  EXPECT_NO_THROW(nlohmann::json::parse(wr::read_file(saved + "/config.json")));
  const std::string telemetry = wr::read_file(saved + "/telemetry.csv");
  EXPECT_EQ(telemetry.back(), '\n');
}

// wr-eval's --output on a full disk: one line naming it and the error; the old file is unchanged, no temp is left.
TEST(FullDisk, EvalLeavesItsOutputUnchanged) {
  const std::string dir = wr::test::temp_dir(), config = tiny_run_config(dir);
  ASSERT_EQ(run_to_end({WR_TRAIN_BIN, config}, dir + "/train.log"), 0);
  const std::string ckpt = wr::list_checkpoints(dir + "/run").back();
  fs::create_directories(dir + "/data/mmlu");
  wr::write_file_atomic(dir + "/data/mmlu/anatomy.jsonl",
                        "{\"question\": \"Which bone?\", \"subject\": \"anatomy\", \"choices\": [\"a\", \"b\", \"c\", \"d\"], \"answer\": 1}\n");
  const std::string old_csv = std::string(wr::kCsvHeader) + "\n";
  wr::write_file_atomic(dir + "/old.csv", old_csv);
  const std::string mnt = dir + "/disk";
  // the old results, then a file that takes the rest of the space
  const std::string why = on_small_tmpfs(mnt, 64 * 1024,
      "cp " + dir + "/old.csv " + mnt + "/r.csv; dd if=/dev/zero of=" + mnt + "/fill bs=4096 2>/dev/null; " +
      WR_EVAL_BIN + " --tasks mmlu_anatomy --offline --data-dir " + dir + "/data --output " + mnt + "/r.csv " + ckpt +
      " > " + dir + "/eval.log 2>&1; echo $? > " + dir + "/rc; cp " + mnt + "/r.csv " + dir + "/after.csv; ls -a " + mnt +
      " > " + dir + "/listing; exit 0");
  if (!why.empty()) GTEST_SKIP() << "cannot mount a small tmpfs here (needs root or user namespaces): " << why;
  const std::string log = wr::read_file(dir + "/eval.log");
  EXPECT_EQ(wr::read_file(dir + "/rc"), "1\n") << log;
  EXPECT_TRUE(contains(lines_of(log).back(), "cannot write " + mnt + "/r.csv: No space left on device")) << log;
  EXPECT_EQ(wr::read_file(dir + "/after.csv"), old_csv);
  // no temp file left; the lock file beside the CSV stays, as lock files do
  EXPECT_EQ(wr::read_file(dir + "/listing"), ".\n..\n.r.csv.lock\nfill\nr.csv\n");
}

}  // namespace
