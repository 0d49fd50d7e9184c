// OpenMP's wait policy for wr's programs: passive (a thread with nothing to do sleeps) unless the user chose one.
//
// Why: libgomp, left to its default, has each thread that finishes its share of a parallel region spin about
// 300000 times (milliseconds) before it sleeps. With every core of the process in use, that is cheap; with another
// process busy on one of them (a build, a second run), the spinning threads hold cores the preempted team member
// needs, and every small parallel region waits for a scheduler time slice: `wr-model generate` ran 20-40x slower
// than on one thread (docs/PERFORMANCE.md, "Beside a busy process"). A passive policy costs a futex wake-up per
// region where nothing competes.
//
// How: libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in its constructor, before main(), so setenv() in
// main comes too late. This runs from the executable's .preinit_array, which the dynamic loader calls before any
// library's constructor; but there libc has not set `environ` yet, and its own start-up then resets it to the
// environment the program was started with, so a setenv() here is lost as well. What works is to start the program
// again: execve(/proc/self/exe) with the same arguments and OMP_WAIT_POLICY=PASSIVE added, before any library has
// run code (the dynamic loader's work is done twice: about 0.2 s of CPU with LibTorch, docs/PERFORMANCE.md). A
// user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left as given and nothing is restarted; where the restart cannot
// be made (no /proc, a program started through the dynamic loader by name), it goes on with libgomp's default.
//
// Linked into every executable that loads LibTorch (wr_use_torch in CMakeLists.txt) and into wr-data.
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace {

constexpr const char kPolicy[] = "OMP_WAIT_POLICY=PASSIVE";

bool names(const char* entry, const char* name) {
  const size_t n = std::strlen(name);
  return std::strncmp(entry, name, n) == 0 && entry[n] == '=';
}

// Called by the dynamic loader with the program's arguments and environment; nothing else is set up yet (no
// environ, no library constructors), so this uses only the arguments and system calls.
void passive_omp_wait(int, char** argv, char** envp) {
  constexpr size_t kMost = 4096;  // environment entries; a larger environment keeps libgomp's default
  static char* env[kMost + 2];
  size_t n = 0;
  for (; envp && envp[n]; ++n) {
    if (names(envp[n], "OMP_WAIT_POLICY") || names(envp[n], "GOMP_SPINCOUNT") || n == kMost) return;
    env[n] = envp[n];
  }
  env[n] = const_cast<char*>(kPolicy);
  env[n + 1] = nullptr;
  // Started through the dynamic loader by name (`ld.so PROGRAM ARGS`), /proc/self/exe is the loader, which would
  // take the first argument for the program: the restart needs the program's own file to be the one running.
  const auto* started = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
  struct stat running{}, named{};
  if (!started || ::stat("/proc/self/exe", &running) != 0 || ::stat(started, &named) != 0 ||
      running.st_dev != named.st_dev || running.st_ino != named.st_ino)
    return;
  ::execve("/proc/self/exe", argv, env);  // returns only when it failed: go on as started
}

}  // namespace

// .preinit_array: run by the dynamic loader before every shared library's constructor (ELF gABI; glibc's _dl_init).
__attribute__((section(".preinit_array"), used)) void (*const wr_passive_omp_wait)(int, char**, char**) =
    passive_omp_wait;
