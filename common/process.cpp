#include "common/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

extern char** environ;

namespace wr {

pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("cannot start ", argv[0], ": ", std::strerror(rc));
  return pid;
}

std::string Finished::how() const {
  return exit_code >= 0 ? "exit " + std::to_string(exit_code) : "killed by a signal";
}

Finished run_logged(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = spawn_logged(argv, log);
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  Finished out;
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  out.peak_rss_mb = usage.ru_maxrss / 1024.0;
  return out;
}

}  // namespace wr
