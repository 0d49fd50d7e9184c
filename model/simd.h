// What wr's CPU kernels (span_attention.cpp, fused_cpu.cpp) need from the compiler to vectorise.
#pragma once

// glibc's vector expf (libmvec), declared SIMD so that GCC's vectorised loops call _ZGVeN16v_expf / _ZGVdN8v_expf
// (16 or 8 values per call) instead of expf once per value; glibc's header declares it so only under
// -ffast-math. WR_SIMD marks the kernels' loops for GCC; Clang (the fuzzing build) vectorises or unrolls them
// itself and warns where a pragma asked for vectors it did not make, so it gets neither (and plain expf).
// WR_SIMD_SUM(s): the same for a loop that sums into s.
#if defined(__GNUC__) && !defined(__clang__)
extern "C" {
#pragma omp declare simd notinbranch
float expf(float) noexcept;
}
#define WR_PRAGMA(text) _Pragma(#text)
#define WR_SIMD _Pragma("omp simd")
#define WR_SIMD_SUM(var) WR_PRAGMA(omp simd reduction(+ : var))
#else
#define WR_SIMD
#define WR_SIMD_SUM(var)
#endif

// One copy of a kernel per vector width, chosen when the program loads: AVX-512, AVX2 + FMA, or baseline x86-64.
// (Clang, the fuzzing build, refuses it on templates: baseline there.)
#if defined(__x86_64__) && !defined(__clang__)
#define WR_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WR_KERNEL_CLONES
#endif
