// Starting another program the way benchmarks and tests run wr's tools and their peers: argv as given, stdout and
// stderr to one log file.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace wr {

// Starts argv[0] (a path) with argv, stdout and stderr to `log` (created or truncated); its pid. Throws wr::Error
// naming the program when it cannot start.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log);

// How a program started by run_logged ended.
struct Finished {
  int exit_code = -1;        // -1: killed by a signal
  double peak_rss_mb = 0;    // wait4's ru_maxrss, in MiB
  std::string how() const;   // "exit 3" or "killed by a signal"
};

// spawn_logged, then waits for the program to end (retrying on EINTR).
Finished run_logged(const std::vector<std::string>& argv, const std::string& log);

}  // namespace wr
