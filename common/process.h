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

}  // namespace wr
