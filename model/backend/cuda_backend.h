// LibTorch's CUDA half, loaded when a run asks for a GPU (see cuda_backend.cpp for why it is not linked).
#pragma once

namespace wr {

// Loads libtorch_cuda.so from the directory of the libtorch_cpu.so in this process, once. False where that LibTorch
// has none (a CPU build such as Debian's); a library that is present but fails to load is an error naming it.
// Call before anything asks LibTorch about CUDA: ATen looks up its CUDA hooks once and keeps the answer.
bool load_cuda_backend();

}  // namespace wr
