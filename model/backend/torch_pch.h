// Precompiled header for every target that uses LibTorch (see CMakeLists.txt: wr_use_torch).
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
