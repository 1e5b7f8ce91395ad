// Element arithmetic that rounds exactly as XLA:CPU's generated code does.
//
// XLA:CPU compiles each fusion through LLVM for the host. To give its bits, the kernel must:
//   * contract `a * b + c` into one fused multiply-add where LLVM does (on hosts with FMA: an
//     fadd whose operand is a single-use fmul; for `x * y + z * w`, the left product) and
//     nowhere else: `MulAdd<kFma>`, with the rest compiled under -ffp-contract=off;
//   * compute maximum/minimum as LLVM's `llvm.maximum`/`llvm.minimum` lower on x86 (NaN in the
//     first operand wins as is; NaN in the second keeps its payload and takes the sign that the
//     signed-zero rule gives; +0 > -0): `Max`, `Min`;
//   * compute rsqrt as XLA's `xla.rsqrt` intrinsic does: the hardware estimate refined by two
//     Newton steps, the estimate itself for zeros, infinities, subnormals and negatives: `Rsqrt`;
//   * round to bfloat16 and float16 as XLA's converts do (to nearest even, NaN kept quiet).

#ifndef GRADTX_FUSED_MATH_H_
#define GRADTX_FUSED_MATH_H_

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace gradtx {

// a * b + c: one rounding (std::fma) where XLA:CPU contracts, two elsewhere.
template <bool kFma, typename T>
inline T MulAdd(T a, T b, T c) {
  if constexpr (kFma) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}

// Whether XLA:CPU (LLVM, targeting this host) contracts multiply-adds: when the host has FMA.
inline bool HostHasFma() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("fma");
#else
  return true;  // aarch64 and other targets always have a fused multiply-add
#endif
}

template <typename T>
struct Bits;
template <>
struct Bits<float> {
  using U = std::uint32_t;
  static constexpr U kSign = 0x80000000u;
};
template <>
struct Bits<double> {
  using U = std::uint64_t;
  static constexpr U kSign = 0x8000000000000000ull;
};

template <typename T>
inline typename Bits<T>::U ToBits(T x) {
  typename Bits<T>::U u;
  std::memcpy(&u, &x, sizeof(T));
  return u;
}

template <typename T>
inline T FromBits(typename Bits<T>::U u) {
  T x;
  std::memcpy(&x, &u, sizeof(T));
  return x;
}

// jnp.maximum(x, y) as XLA:CPU computes it (llvm.maximum on x86).
template <typename T>
inline T Max(T x, T y) {
  if (x != x) return x;
  if (y != y || x == y) return FromBits<T>(ToBits(y) & (ToBits(x) | ~Bits<T>::kSign));
  return x > y ? x : y;
}

// jnp.minimum(x, y) as XLA:CPU computes it (llvm.minimum on x86).
template <typename T>
inline T Min(T x, T y) {
  if (x != x) return x;
  if (y != y || x == y) return FromBits<T>(ToBits(y) | (ToBits(x) & Bits<T>::kSign));
  return x < y ? x : y;
}

// jnp.sign(x): NaN as is, signed zeros as they are, else +-1.
template <typename T>
inline T Sign(T x) {
  if (x != x || x == 0) return x;
  return std::copysign(T(1), x);
}

// Whether `Rsqrt<T>` reproduces XLA:CPU's rsqrt on this build: float32 uses the SSE estimate,
// float64 the AVX-512 one (XLA's choice on such hosts); elsewhere the planner takes the XLA path.
template <typename T>
constexpr bool kExactRsqrt =
#if defined(__SSE__)
    sizeof(T) == 4 ||
#endif
#if defined(__AVX512F__)
    sizeof(T) == 8 ||
#endif
    false;

template <typename T>
inline T RsqrtEstimate(T x) {
#if defined(__SSE__)
  if constexpr (sizeof(T) == 4) return _mm_cvtss_f32(_mm_rsqrt_ss(_mm_set_ss(x)));
#endif
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 8) return _mm_cvtsd_f64(_mm_rsqrt14_sd(_mm_setzero_pd(), _mm_set_sd(x)));
#endif
  return T(1) / std::sqrt(x);  // unused where kExactRsqrt<T> is false
}

// XLA's rsqrt: y = estimate; twice y = (-y/2) (x y y - 1) + y; the estimate alone unless x is
// NaN or a positive normal number.
template <bool kFma, typename T>
inline T Rsqrt(T x) {
  const T y0 = RsqrtEstimate(x);
  const bool refine = x != x || (std::isnormal(x) && x > 0);
  if (!refine) return y0;
  T y = y0;
  for (int i = 0; i < 2; ++i) {
    const T half = y * T(-0.5);
    const T e = MulAdd<kFma>(x * y, y, T(-1));
    y = MulAdd<kFma>(half, e, y);
  }
  return y;
}

// `Rsqrt` of kTile values at once, the same estimate and refinement lane by lane: eight lanes
// per instruction where the build has AVX and FMA, so that loops with a root vectorize (the
// load-time check `exact_rsqrt` runs this function against XLA's rsqrt).
constexpr int kTile = 8;

template <bool kFma, typename T>
inline void RsqrtTile(const T* x, T* y) {
#if defined(__AVX__) && defined(__FMA__)
  if constexpr (sizeof(T) == 4) {
    const __m256 v = _mm256_loadu_ps(x);
    const __m256 y0 = _mm256_rsqrt_ps(v);
    const __m256 minus_half = _mm256_set1_ps(-0.5f), minus_one = _mm256_set1_ps(-1.0f);
    __m256 r = y0;
    for (int i = 0; i < 2; ++i) {
      const __m256 half = _mm256_mul_ps(r, minus_half);
      const __m256 xy = _mm256_mul_ps(v, r);
      if constexpr (kFma) {
        r = _mm256_fmadd_ps(half, _mm256_fmadd_ps(xy, r, minus_one), r);
      } else {
        const __m256 e = _mm256_add_ps(_mm256_mul_ps(xy, r), minus_one);
        r = _mm256_add_ps(_mm256_mul_ps(half, e), r);
      }
    }
    // refined where x is NaN or a positive normal number (FLT_MIN <= x < inf)
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    const __m256 normal =
        _mm256_and_ps(_mm256_cmp_ps(v, _mm256_set1_ps(FLT_MIN), _CMP_GE_OQ),
                      _mm256_cmp_ps(v, _mm256_set1_ps(INFINITY), _CMP_LT_OQ));
    _mm256_storeu_ps(y, _mm256_blendv_ps(y0, r, _mm256_or_ps(nan, normal)));
    return;
  }
#endif
  for (int i = 0; i < kTile; ++i) y[i] = Rsqrt<kFma>(x[i]);
}

// Storage dtypes of a leaf's fields. Arithmetic is in float32 (half-precision storage) or in
// the leaf's float32/float64.
enum class Kind : std::uint8_t { kF32, kF64, kBF16, kF16 };

inline float BF16ToFloat(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  return FromBits<float>(u);
}

// float32 -> bfloat16, to nearest even; a NaN stays a quiet NaN with its sign and top payload.
inline std::uint16_t FloatToBF16(float x) {
  const std::uint32_t u = ToBits(x);
  if (x != x) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  const std::uint32_t lsb = (u >> 16) & 1u;
  return static_cast<std::uint16_t>((u + 0x7fffu + lsb) >> 16);
}

inline float F16ToFloat(std::uint16_t h) {
  _Float16 f;
  std::memcpy(&f, &h, 2);
  return static_cast<float>(f);
}

inline std::uint16_t FloatToF16(float x) {
  const _Float16 f = static_cast<_Float16>(x);
  std::uint16_t h;
  std::memcpy(&h, &f, 2);
  return h;
}

template <typename T>
inline T Load(const void* base, Kind kind, std::size_t i) {
  switch (kind) {
    case Kind::kBF16:
      return BF16ToFloat(static_cast<const std::uint16_t*>(base)[i]);
    case Kind::kF16:
      return F16ToFloat(static_cast<const std::uint16_t*>(base)[i]);
    default:
      return static_cast<const T*>(base)[i];
  }
}

template <typename T>
inline void Store(void* base, Kind kind, std::size_t i, T x) {
  switch (kind) {
    case Kind::kBF16:
      static_cast<std::uint16_t*>(base)[i] = FloatToBF16(static_cast<float>(x));
      return;
    case Kind::kF16:
      static_cast<std::uint16_t*>(base)[i] = FloatToF16(static_cast<float>(x));
      return;
    default:
      static_cast<T*>(base)[i] = x;
  }
}

// x rounded to `kind` and read back: the value a stored field holds.
template <typename T>
inline T Round(Kind kind, T x) {
  switch (kind) {
    case Kind::kBF16:
      return BF16ToFloat(FloatToBF16(static_cast<float>(x)));
    case Kind::kF16:
      return F16ToFloat(FloatToF16(static_cast<float>(x)));
    default:
      return x;
  }
}

}  // namespace gradtx

#endif  // GRADTX_FUSED_MATH_H_
