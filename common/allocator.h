// glibc's malloc hands every block above its mmap threshold (at most 32 MB by default) back to the kernel
// when it is freed, so each forward pass on the CPU page-faults its activations and attention scores in
// afresh; on stories260K scoring that was over half the time. Raising the threshold and the trim threshold
// keeps freed memory in the process for the next batch (peak RSS grows by about the largest batch). Scoring runs
// batches on several threads, each in its own malloc arena (one arena for all made them wait on its lock: 10%
// slower on stories260K, for 10 MB less on the 41.7M model).
#pragma once
#include <malloc.h>

namespace wr {

inline void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);  // glibc caps this at HEAP_MAX_SIZE / 2 and ignores larger values
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
}

}  // namespace wr
