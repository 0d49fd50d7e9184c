// What wr's CPU kernels (span_attention.cpp, fused_cpu.cpp) need from the compiler to vectorise.
#pragma once

// WR_SIMD marks the kernels' plain loops for GCC; Clang (the fuzzing build) vectorises or unrolls them itself and
// warns where a pragma asked for vectors it did not make, so it gets none. WR_SIMD_SUM(s): the same for a loop
// that sums into s.
#if defined(__GNUC__) && !defined(__clang__)
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

// Eight floats as one value of GCC's (and Clang's) vector extension: what a kernel keeps in registers is written
// as such, so that the compiler neither spills it through memory nor copies it with a string instruction. Eight:
// one AVX2 register, and half an AVX-512 one, whose lanes Zen 4 runs at the same rate (it splits 512-bit
// operations in two); GCC 12 turns the comparisons and selects of wider vectors into one lane at a time on AVX2.
// (The kernel files that include this pass these vectors only to inlined helpers and between functions of one
// clone, so GCC's note that passing them by value has an ABI of its own on AVX does not apply to them.)
#pragma GCC diagnostic ignored "-Wpsabi"
namespace wr::simd {

constexpr int kLanes = 8;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int Ints __attribute__((vector_size(kLanes * sizeof(int))));
typedef unsigned Bits __attribute__((vector_size(kLanes * sizeof(unsigned))));
#define WR_VEC_INLINE static inline __attribute__((always_inline))

constexpr Ints kLaneIndex = {0, 1, 2, 3, 4, 5, 6, 7};

WR_VEC_INLINE Floats load(const float* p) {
  Floats v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
WR_VEC_INLINE void store(float* p, Floats v) { __builtin_memcpy(p, &v, sizeof v); }
// p[0, n) with n < kLanes, the other lanes fill: the tail of a row, read without touching memory past it.
WR_VEC_INLINE Floats load_tail(const float* p, long n, float fill) {
  float padded[kLanes];
  for (int i = 0; i < kLanes; ++i) padded[i] = i < n ? p[i] : fill;
  return load(padded);
}
WR_VEC_INLINE Floats splat(float x) { return Floats{} + x; }
// Lanes [0, n) set (none for n <= 0).
WR_VEC_INLINE Ints first_lanes(long n) { return kLaneIndex < static_cast<int>(n < 0 ? 0 : n < kLanes ? n : kLanes); }

// The largest lane (expects no NaN lanes) and the sum of the lanes, halving the vector.
WR_VEC_INLINE float hmax(Floats m) {
  Floats s = __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3);
  m = m > s ? m : s;
  s = __builtin_shufflevector(m, m, 2, 3, 0, 1, 6, 7, 4, 5);
  m = m > s ? m : s;
  return m[0] > m[1] ? m[0] : m[1];
}
WR_VEC_INLINE float hsum(Floats m) {
  m += __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3);
  m += __builtin_shufflevector(m, m, 2, 3, 0, 1, 6, 7, 4, 5);
  return m[0] + m[1];
}

// 2^x for x <= 0, within 2e-7 relative (Cephes' exp2f polynomial on [-1/2, 1/2]); x below -125 counts as -125
// (2^-125 = 2.4e-38 keeps the scale below a normal float, built from its exponent bits, and is lost next to a
// weight of 1 anyway). NaN stays NaN (through the polynomial and the product).
WR_VEC_INLINE Floats exp2_nonpositive(Floats x) {
  const Floats clamped = x < -125.0f ? splat(-125.0f) : x;
  // adding 1.5 * 2^23 rounds to an integer n, which the low mantissa bits then hold in two's complement
  const Floats shifter = splat(12582912.0f);
  const Floats shifted = clamped + shifter;
  const Floats f = clamped - (shifted - shifter);
  Floats p = splat(1.535336188319500e-4f);
  p = p * f + 1.339887440266574e-3f;
  p = p * f + 9.618437357674640e-3f;
  p = p * f + 5.550332471162809e-2f;
  p = p * f + 2.402264791363012e-1f;
  p = p * f + 6.931472028550421e-1f;
  p = p * f + 1.0f;
  // 2^n: n + 127 in the exponent field (the shifter's bits subtracted, unsigned arithmetic wrapping)
  const Bits two_n = ((Bits)shifted + (127u - 0x4B400000u)) << 23;
  return p * (Floats)two_n;
}

}  // namespace wr::simd
