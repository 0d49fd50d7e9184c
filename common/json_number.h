// Integers read from JSON as integers: nlohmann's get<int64_t>() truncates 20.5 to 20 and wraps 2^64 - 1 to -1,
// so a config's "steps": 20.5 or "hidden_size": 64.5 would be taken silently.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace wr {

// v as an integer in [lo, hi]; anything else fails naming `what` (file and key) and the value.
inline int64_t json_integer(const nlohmann::json& v, const std::string& what,
                            int64_t lo = std::numeric_limits<int64_t>::min(),
                            int64_t hi = std::numeric_limits<int64_t>::max()) {
  if (!v.is_number_integer()) fail(what, " must be an integer", lo == 0 ? " >= 0" : "", ", got ", v.dump());
  const bool above = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi);
  if (above || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    fail(what, " must be an integer in [", lo, ", ", hi, "], got ", v.dump());
  const int64_t x = v.get<int64_t>();
  return x;
}

}  // namespace wr
