// When TVR runs: after every `interval`-th optimizer step, never at step 0. A step whose loss or gradient was not
// finite took no update, so its rescale waits for the next finite step instead of being lost until the next
// interval (which, at the paper's 1 GT, is over a hundred steps away). The pending flag travels in checkpoints.
#pragma once
#include <cstdint>

namespace wr {

class TvrSchedule {
 public:
  explicit TvrSchedule(int64_t interval, bool pending = false) : interval_(interval), pending_(pending) {}
  // After optimizer step `step` (1-based) whose update was finite or skipped: whether to rescale now.
  bool rescale_after(int64_t step, bool finite) {
    if (step % interval_ == 0) pending_ = true;
    if (!finite || !pending_) return false;
    pending_ = false;
    return true;
  }
  bool pending() const { return pending_; }

 private:
  int64_t interval_;
  bool pending_;
};

}  // namespace wr
