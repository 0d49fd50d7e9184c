// bench-busy: a program's wall time while other processes keep the CPU busy (issue 26, F14). Beside one busy
// process, `wr-model generate` on two cores ran 20-40x slower than on one thread: libgomp's threads spin while they
// wait, on the cores the preempted member of their team needs. wr's programs now start with a passive wait policy
// (common/omp_wait.cpp); this bench measures both policies, each
//   - quiet, and beside --busy K competitors: child processes that spin on the CPU as `yes > /dev/null` does;
//   - as wr starts it (OMP_WAIT_POLICY and GOMP_SPINCOUNT unset: the program restarts itself passive) and as
//     every program ran before (GOMP_SPINCOUNT=300000, libgomp's own default, which the program keeps);
// --runs times each, the four settings interleaved, printing min, median and max seconds. Everything after `--` is
// the command; it must succeed (its output goes to --log DIR/<setting>.log).
// Usage: bench-busy [--runs N] [--busy K] [--log DIR] -- PROGRAM [ARGS...]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/error.h"
#include "common/process.h"

namespace {

// Child processes spinning on the CPU until the object goes.
class Competitors {
 public:
  explicit Competitors(long n) {
    for (long k = 0; k < n; ++k) {
      const pid_t pid = ::fork();
      if (pid < 0) wr::fail("fork: ", std::strerror(errno));
      if (pid == 0)
        for (volatile unsigned long spin = 0;; spin = spin + 1) {
        }
      pids_.push_back(pid);
    }
  }
  ~Competitors() {
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
  }
  Competitors(const Competitors&) = delete;
  Competitors& operator=(const Competitors&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// The command's wall time under one wait policy; fails naming the log when the command fails.
double seconds_of(const std::vector<std::string>& command, bool spin, const std::string& log) {
  ::unsetenv("OMP_WAIT_POLICY");
  if (spin)
    ::setenv("GOMP_SPINCOUNT", "300000", 1);
  else
    ::unsetenv("GOMP_SPINCOUNT");
  const auto t0 = std::chrono::steady_clock::now();
  const wr::Finished done = wr::run_logged(command, log);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (done.exit_code != 0) wr::fail(command[0], " ended with ", done.how(), ": see ", log);
  return s;
}

std::string spread(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  char line[96];
  std::snprintf(line, sizeof line, "%7.2f %7.2f %7.2f", s.front(), s[s.size() / 2], s.back());
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {
      {"--runs", "N", "runs of each setting", "5", ""},
      {"--busy", "K", "competing processes that spin on the CPU", "1", ""},
      {"--log", "DIR", "where each run's output goes", "bench-busy-logs", ""},
  };
  try {
    int split = 1;
    while (split < argc && std::strcmp(argv[split], "--") != 0) ++split;
    const auto args = wr::Args::parse(options, split, argv);
    if (split + 1 >= argc || !args.positional.empty()) {
      std::cout << wr::usage("bench-busy [options] -- PROGRAM [ARGS...]", options);
      return split + 1 >= argc ? 1 : 0;
    }
    const std::vector<std::string> command(argv + split + 1, argv + argc);
    const long runs = args.get_int("--runs", 1), busy = args.get_int("--busy", 1);
    const std::string dir = args.get("--log");
    std::filesystem::create_directories(dir);

    struct Setting {
      std::string name;
      bool spin;
      long busy;
      std::vector<double> seconds;
    };
    std::vector<Setting> settings = {{"quiet, passive (wr's default)", false, 0, {}},
                                     {"quiet, spinning (GOMP_SPINCOUNT=300000)", true, 0, {}},
                                     {"busy, passive (wr's default)", false, busy, {}},
                                     {"busy, spinning (GOMP_SPINCOUNT=300000)", true, busy, {}}};
    for (long r = 0; r < runs; ++r)
      for (auto& s : settings) {
        Competitors competitors(s.busy);
        s.seconds.push_back(seconds_of(command, s.spin, dir + "/" + std::to_string(&s - settings.data()) + ".log"));
      }
    std::printf("%ld runs each; busy: %ld spinning processes beside it; seconds min / median / max\n", runs, busy);
    for (const auto& s : settings) std::printf("%-42s %s\n", s.name.c_str(), spread(s.seconds).c_str());
    std::printf("command:");
    for (const auto& a : command) std::printf(" %s", a.c_str());
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-busy: error: " << e.what() << "\n";
    return 1;
  }
}
