// Fused multi-tensor optimizer steps for XLA:CPU, called through the XLA FFI.
//
// Each handler updates a chunk of leaves in place: it reads p, g and the state once and writes p
// and the state once. The arithmetic is the composable chain's, operation for operation, in the
// leaf's dtype (float32 or float64), so that the result equals the XLA path bit for bit: compile
// without -ffast-math and with -ffp-contract=off, and fuse multiply-adds exactly where XLA:CPU
// does. XLA:CPU lets LLVM contract `a * b + c` into one fused multiply-add (rounded once) on
// hosts with FMA instructions; for `x * y + z * w` LLVM fuses the left product. The kernels
// write those contractions as `MulAdd<kFma>`, chosen at run time from the host's features, and
// nothing else is contracted. Hyperparameters and bias corrections arrive as a 1-D operand `hp` in the leaf dtype,
// computed by the caller (gradtx/_fused.py), so a new learning rate does not recompile.
//
// Operand layout, k leaves: hp, p_1..p_k, g_1..g_k, then each state field's k leaves; results:
// p_1..p_k, then each state field's k leaves (aliased to the operands by the caller).

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr std::size_t kBlock = 1 << 15;  // elements per OpenMP work item

// One contiguous range of one leaf: the unit of parallel work.
struct Block {
  std::size_t leaf, begin, end;
};

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

// Pointers to one leaf's operands and results; `in[f]`/`out[f]` index the fields.
template <typename T, int kIn, int kOut>
struct Leaf {
  const T* in[kIn];
  T* out[kOut];
};

// XLA:CPU runs its programs with the caller's floating-point control word (denormals flushed or
// not); OpenMP workers start with their own, so each worker copies the caller's.
struct ControlWord {
#if defined(__SSE__)
  unsigned int csr = _mm_getcsr();
  void Apply() const { _mm_setcsr(csr); }
#else
  void Apply() const {}
#endif
};

// Threads per call: GRADTX_FUSED_THREADS, default 1. XLA:CPU runs several programs' operations on
// its own threads, and on a loaded machine OpenMP workers that spin at barriers slow a step
// down tenfold (measured on 2 busy cores); set it to the core count on an otherwise idle host.
int Threads() {
  static const int threads = [] {
    const char* value = std::getenv("GRADTX_FUSED_THREADS");
    const int n = value ? std::atoi(value) : 1;
    return n < 1 ? 1 : n;
  }();
  return threads;
}

template <typename Rule, typename LeafT>
void RunBlocks(const std::vector<LeafT>& leaves, const std::vector<std::size_t>& sizes,
               const Rule& rule) {
  std::vector<Block> blocks;
  std::size_t total = 0;
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    for (std::size_t b = 0; b < sizes[l]; b += kBlock) {
      blocks.push_back({l, b, b + kBlock < sizes[l] ? b + kBlock : sizes[l]});
    }
    total += sizes[l];
  }
  const long n_blocks = static_cast<long>(blocks.size());
  const ControlWord caller;
  const int threads = Threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) if (threads > 1 && total > 2 * kBlock)
#endif
  {
#if defined(_OPENMP)
    unsigned int saved = 0;
#if defined(__SSE__)
    saved = _mm_getcsr();
#endif
    caller.Apply();
#pragma omp for schedule(static)
#endif
    for (long i = 0; i < n_blocks; ++i) {
      const Block& b = blocks[i];
      rule(leaves[b.leaf], b.begin, b.end);
    }
#if defined(_OPENMP) && defined(__SSE__)
    _mm_setcsr(saved);
#endif
  }
}

// Collects k leaves of kIn operand fields (after hp) and kOut result fields, checking dtypes and
// sizes; the caller passes kIn * k operands after hp and kOut * k results.
template <typename T, int kIn, int kOut>
ffi::Error Gather(ffi::RemainingArgs& args, ffi::RemainingRets& rets, std::size_t k,
                  std::vector<Leaf<T, kIn, kOut>>& leaves, std::vector<std::size_t>& sizes,
                  ffi::DataType dtype) {
  leaves.resize(k);
  sizes.resize(k);
  for (std::size_t l = 0; l < k; ++l) {
    std::size_t n = 0;
    for (int f = 0; f < kIn; ++f) {
      auto buffer = args.get<ffi::AnyBuffer>(f * k + l);
      if (buffer.has_error()) return buffer.error();
      if (buffer->element_type() != dtype) {
        return ffi::Error::InvalidArgument("gradtx fused step: mixed dtypes in one call");
      }
      if (f == 0) n = buffer->element_count();
      if (buffer->element_count() != n) {
        return ffi::Error::InvalidArgument("gradtx fused step: leaf sizes differ");
      }
      leaves[l].in[f] = static_cast<const T*>(buffer->untyped_data());
    }
    for (int f = 0; f < kOut; ++f) {
      auto buffer = rets.get<ffi::AnyBuffer>(f * k + l);
      if (buffer.has_error()) return buffer.error();
      if ((*buffer)->element_count() != n) {
        return ffi::Error::InvalidArgument("gradtx fused step: result sizes differ");
      }
      leaves[l].out[f] = static_cast<T*>((*buffer)->untyped_data());
    }
    sizes[l] = n;
  }
  return ffi::Error::Success();
}

// Adam, then (kDecay) decoupled weight decay, then the learning rate, then p + u:
//   m = (1 - b1) g + b1 m;  v = (1 - b2) (g g) + b2 v
//   u = (m r1) / (sqrt(v r2 + eps_root) + eps);  u = u + wd p (kDecay);  p = p + (-lr) u
// where r1 = 1 / (1 - b1^t) and r2 = 1 / (1 - b2^t): XLA rewrites a division by a broadcast
// scalar as a multiplication by its reciprocal, and so does the kernel. With kFma, each of the
// five multiply-adds is fused (the left product of m and v); v r2 + 0 rounds as v r2 does.
// hp = [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, -lr, wd].
// Operand fields: p, g, m, v; result fields: p, m, v.
template <typename T, bool kDecay, bool kFma>
ffi::Error AdamTyped(ffi::AnyBuffer hp_buffer, ffi::RemainingArgs& args, ffi::RemainingRets& rets,
                     std::size_t k) {
  using L = Leaf<T, 4, 3>;
  std::vector<L> leaves;
  std::vector<std::size_t> sizes;
  ffi::Error error = Gather<T, 4, 3>(args, rets, k, leaves, sizes, hp_buffer.element_type());
  if (error.failure()) return error;
  const T* hp = static_cast<const T*>(hp_buffer.untyped_data());
  const T b1 = hp[0], one_minus_b1 = hp[1], b2 = hp[2], one_minus_b2 = hp[3];
  const T r1 = hp[4], r2 = hp[5], eps_root = hp[6], eps = hp[7], neg_lr = hp[8], wd = hp[9];
  RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t begin, std::size_t end) {
    const T* p_in = leaf.in[0];
    const T* g_in = leaf.in[1];
    const T* m_in = leaf.in[2];
    const T* v_in = leaf.in[3];
    T* p_out = leaf.out[0];
    T* m_out = leaf.out[1];
    T* v_out = leaf.out[2];
    // Each output element depends on the same element of the inputs only (an output may be
    // its input's buffer): no dependence between iterations.
#pragma GCC ivdep
    for (std::size_t i = begin; i < end; ++i) {
      const T g = g_in[i];
      const T p = p_in[i];
      const T m = MulAdd<kFma>(one_minus_b1, g, b1 * m_in[i]);
      const T v = MulAdd<kFma>(one_minus_b2, g * g, b2 * v_in[i]);
      T u = (m * r1) / (std::sqrt(MulAdd<kFma>(v, r2, eps_root)) + eps);
      if constexpr (kDecay) u = MulAdd<kFma>(wd, p, u);
      m_out[i] = m;
      v_out[i] = v;
      p_out[i] = MulAdd<kFma>(neg_lr, u, p);
    }
  });
  return ffi::Error::Success();
}

template <bool kDecay>
ffi::Error Adam(ffi::AnyBuffer hp, ffi::RemainingArgs args, ffi::RemainingRets rets) {
  if (args.size() % 4 != 0 || rets.size() * 4 != args.size() * 3) {
    return ffi::Error::InvalidArgument("gradtx fused adam: expected 4k operands, 3k results");
  }
  const std::size_t k = args.size() / 4;
  static const bool fma = HostHasFma();
  switch (hp.element_type()) {
    case ffi::DataType::F32:
      return fma ? AdamTyped<float, kDecay, true>(hp, args, rets, k)
                 : AdamTyped<float, kDecay, false>(hp, args, rets, k);
    case ffi::DataType::F64:
      return fma ? AdamTyped<double, kDecay, true>(hp, args, rets, k)
                 : AdamTyped<double, kDecay, false>(hp, args, rets, k);
    default:
      return ffi::Error::InvalidArgument("gradtx fused adam: float32 or float64 only");
  }
}

// Heavy-ball or Nesterov momentum (trace, dampening 0), then the learning rate, then p + u:
//   t = g + mu t;  u = t, or g + mu t (kNesterov);  p = p + (-lr) u.   hp = [mu, -lr].
// With kFma, each multiply-add is fused.
// Operand fields: p, g, t; result fields: p, t.
template <typename T, bool kNesterov, bool kFma>
ffi::Error MomentumTyped(ffi::AnyBuffer hp_buffer, ffi::RemainingArgs& args,
                         ffi::RemainingRets& rets, std::size_t k) {
  using L = Leaf<T, 3, 2>;
  std::vector<L> leaves;
  std::vector<std::size_t> sizes;
  ffi::Error error = Gather<T, 3, 2>(args, rets, k, leaves, sizes, hp_buffer.element_type());
  if (error.failure()) return error;
  const T* hp = static_cast<const T*>(hp_buffer.untyped_data());
  const T mu = hp[0], neg_lr = hp[1];
  RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t begin, std::size_t end) {
    const T* p_in = leaf.in[0];
    const T* g_in = leaf.in[1];
    const T* t_in = leaf.in[2];
    T* p_out = leaf.out[0];
    T* t_out = leaf.out[1];
#pragma GCC ivdep
    for (std::size_t i = begin; i < end; ++i) {
      const T g = g_in[i];
      const T t = MulAdd<kFma>(mu, t_in[i], g);
      T u = t;
      if constexpr (kNesterov) u = MulAdd<kFma>(mu, t, g);
      t_out[i] = t;
      p_out[i] = MulAdd<kFma>(neg_lr, u, p_in[i]);
    }
  });
  return ffi::Error::Success();
}

template <bool kNesterov>
ffi::Error Momentum(ffi::AnyBuffer hp, ffi::RemainingArgs args, ffi::RemainingRets rets) {
  if (args.size() % 3 != 0 || rets.size() * 3 != args.size() * 2) {
    return ffi::Error::InvalidArgument("gradtx fused momentum: expected 3k operands, 2k results");
  }
  const std::size_t k = args.size() / 3;
  static const bool fma = HostHasFma();
  switch (hp.element_type()) {
    case ffi::DataType::F32:
      return fma ? MomentumTyped<float, kNesterov, true>(hp, args, rets, k)
                 : MomentumTyped<float, kNesterov, false>(hp, args, rets, k);
    case ffi::DataType::F64:
      return fma ? MomentumTyped<double, kNesterov, true>(hp, args, rets, k)
                 : MomentumTyped<double, kNesterov, false>(hp, args, rets, k);
    default:
      return ffi::Error::InvalidArgument("gradtx fused momentum: float32 or float64 only");
  }
}

}  // namespace

#define GRADTX_BINDING \
  ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().RemainingArgs().RemainingRets()

XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxAdam, Adam<false>, GRADTX_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxAdamW, Adam<true>, GRADTX_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxMomentum, Momentum<false>, GRADTX_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(GradtxNesterov, Momentum<true>, GRADTX_BINDING);
