// The bandwidth floor in C++, for reference beside gradtx's fused step: an XLA FFI custom call
// that reads k + 2 arrays and writes k + 1 of them in place, each element once, in one pass
// (Adam, k = 2: params, mu, nu, grads -> params, mu, nu; 28 bytes per float32 parameter).
//
// The arithmetic is the XLA floor kernel's (benchmarks/measure.py `floor_kernel`), cheap enough
// that memory bandwidth bounds the loop: p <- 0.5 p + 1e-3 g, and each moment m <- 0.5 m + 1.
// bfloat16 arrays are computed in float32 and rounded once, to nearest even, as gradtx's kernel
// rounds. Threads: gradtx's kernel's (gradtx/_native/threads.h), so that the two are compared
// under the same threading.
//
// Built at benchmark time by benchmarks/floor_c.py with gradtx/_native/build.py's flags.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "threads.h"  // gradtx/_native/threads.h
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kMaxMoments = 4;
constexpr std::int64_t kBlock = 1 << 15;  // elements per OpenMP work item, as gradtx's kernel

inline float Widen(std::uint16_t h) {
  std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

inline std::uint16_t Narrow(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return static_cast<std::uint16_t>(x != x ? (u >> 16) | 0x0040u : rounded);
}

// Storage type S, computed in C: float and double as they are, bfloat16 (uint16) in float.
template <typename S>
struct Compute {
  using C = S;
  static C Load(S x) { return x; }
  static S Store(C x) { return x; }
};
template <>
struct Compute<std::uint16_t> {
  using C = float;
  static C Load(std::uint16_t x) { return Widen(x); }
  static std::uint16_t Store(C x) { return Narrow(x); }
};

// in: p, m_1..m_K, g; out: p, m_1..m_K (each may be its input's buffer).
template <typename S, int K>
void Floor(const void* const* in, void* const* out, std::int64_t n) {
  using X = Compute<S>;
  using C = typename X::C;
  const S* p_in = static_cast<const S*>(in[0]);
  const S* g_in = static_cast<const S*>(in[K + 1]);
  S* p_out = static_cast<S*>(out[0]);
  const S* m_in[K > 0 ? K : 1];
  S* m_out[K > 0 ? K : 1];
  for (int k = 0; k < K; ++k) {
    m_in[k] = static_cast<const S*>(in[1 + k]);
    m_out[k] = static_cast<S*>(out[1 + k]);
  }
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  const int threads = gradtx::Threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && blocks > 2)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t end = (b + 1) * kBlock < n ? (b + 1) * kBlock : n;
    // Each output element depends on the same element of the inputs only: no dependence
    // between iterations, though an output may be its input's buffer.
#pragma GCC ivdep
    for (std::int64_t i = b * kBlock; i < end; ++i) {
      p_out[i] = X::Store(C(0.5) * X::Load(p_in[i]) + C(1e-3) * X::Load(g_in[i]));
      for (int k = 0; k < K; ++k) m_out[k][i] = X::Store(C(0.5) * X::Load(m_in[k][i]) + C(1));
    }
  }
}

template <typename S>
ffi::Error Typed(const void* const* in, void* const* out, int moments, std::int64_t n) {
  switch (moments) {
    case 0:
      Floor<S, 0>(in, out, n);
      break;
    case 1:
      Floor<S, 1>(in, out, n);
      break;
    case 2:
      Floor<S, 2>(in, out, n);
      break;
    case 3:
      Floor<S, 3>(in, out, n);
      break;
    default:
      Floor<S, 4>(in, out, n);
  }
  return ffi::Error::Success();
}

ffi::Error Handle(ffi::RemainingArgs args, ffi::RemainingRets rets) {
  const std::size_t outputs = rets.size();
  if (outputs < 1 || outputs > 1 + kMaxMoments || args.size() != outputs + 1) {
    return ffi::Error::InvalidArgument("floor kernel: k + 2 arrays in, k + 1 out, k <= 4");
  }
  const void* in[2 + kMaxMoments];
  void* out[1 + kMaxMoments];
  ffi::DataType dtype = ffi::DataType::INVALID;
  std::size_t n = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto buffer = args.get<ffi::AnyBuffer>(i);
    if (buffer.has_error()) return buffer.error();
    if (i == 0) dtype = buffer->element_type(), n = buffer->element_count();
    if (buffer->element_type() != dtype || buffer->element_count() != n) {
      return ffi::Error::InvalidArgument("floor kernel: arrays differ in dtype or size");
    }
    in[i] = buffer->untyped_data();
  }
  for (std::size_t i = 0; i < outputs; ++i) {
    auto buffer = rets.get<ffi::AnyBuffer>(i);
    if (buffer.has_error()) return buffer.error();
    if ((*buffer)->element_count() != n) {
      return ffi::Error::InvalidArgument("floor kernel: a result differs in size");
    }
    out[i] = (*buffer)->untyped_data();
  }
  const int moments = static_cast<int>(outputs) - 1;
  const auto count = static_cast<std::int64_t>(n);
  switch (dtype) {
    case ffi::DataType::F32:
      return Typed<float>(in, out, moments, count);
    case ffi::DataType::F64:
      return Typed<double>(in, out, moments, count);
    case ffi::DataType::BF16:
      return Typed<std::uint16_t>(in, out, moments, count);
    default:
      return ffi::Error::InvalidArgument("floor kernel: float32, float64 or bfloat16 only");
  }
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxBenchFloor, Handle,
                              ffi::Ffi::Bind().RemainingArgs().RemainingRets());
