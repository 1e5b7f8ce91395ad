// Fused multi-tensor optimizer steps for XLA:CPU, called through the XLA FFI.
//
// Each handler updates a chunk of leaves in place: it reads p, g and the state once and writes p
// and the state once. The arithmetic (fused_rules.h) is the composable chain's, operation for
// operation, in float32 or float64 (float32 for bfloat16/float16 storage, rounded where the chain
// rounds), so that the result equals the XLA path bit for bit: compile without -ffast-math and
// with -ffp-contract=off; the rules fuse multiply-adds exactly where XLA:CPU does (fused_math.h).
// Hyperparameters and bias corrections arrive as a 1-D operand `hp` in the compute dtype,
// computed by the caller (gradtx/_fused.py), so a new learning rate does not recompile.
//
// Operand layout, k leaves: hp, p_1..p_k, g_1..g_k, then each state field's k leaves; results:
// p_1..p_k, then each state field's k leaves (aliased to the operands by the caller).

#include <cstddef>
#include <cstdlib>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "fused_math.h"
#include "fused_rules.h"
#include "threads.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace gradtx {
namespace {

constexpr std::size_t kBlock = 1 << 15;  // elements per OpenMP work item

// One contiguous range of one leaf: the unit of parallel work.
struct Block {
  std::size_t leaf, begin, end;
};

// Pointers to one leaf's operands (p, g, state fields) and results (p, state fields).
template <int kFields>
struct Leaf {
  const void* in[2 + kFields];
  void* out[1 + kFields];
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

template <typename Run, typename LeafT>
void RunBlocks(const std::vector<LeafT>& leaves, const std::vector<std::size_t>& sizes,
               const Run& run) {
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
      run(leaves[b.leaf], b.begin, b.end);
    }
#if defined(_OPENMP) && defined(__SSE__)
    _mm_setcsr(saved);
#endif
  }
}

// A rule's r.Rsqrt in the two passes of ApplyTiled: the first records each element's operand,
// the second returns its root.
template <typename T, class Base>
struct RsqrtOperand : Base {
  T* operand;
  template <bool kFma>
  T Rsqrt(T x) const {
    *operand = x;
    return x;
  }
};

template <typename T, class Base>
struct RsqrtResult : Base {
  T root;
  template <bool kFma>
  T Rsqrt(T) const {
    return root;
  }
};

// Elements begin..end of a rule with a reciprocal square root, kRun at a time: the rule runs
// on copies to collect the roots' operands, RsqrtTile takes them all at once, and the rule runs
// again with those roots, storing. `load(f, i)` reads field f (0 params, 1 gradients, 2 + j
// state field j) of element i; `store(f, i, x)` writes result f (0 params, 1 + j state field j).
template <class Rule, bool kFma, typename T, class Base, class Load, class Store>
void ApplyTiled(const T* hp, const Base& base, std::size_t begin, std::size_t end,
                const Load& load, const Store& store) {
  constexpr int F = Rule::kFields;
  constexpr int kRun = 32 * kTile;  // elements per pass
  // `count` elements from i0: a compile-time kRun for whole runs, so their loops vectorize
  const auto run = [&](std::size_t i0, auto count) {
    // The scalars as a local copy, which no store can alias: read through `hp`, GCC reloaded
    // them after every store and left the storing loop scalar (RMSprop's fused step was 1.4x
    // slower than Optax's on 16M float32 elements; with the copy 0.8x).
    T h[Rule::kHp];
    for (int k = 0; k < Rule::kHp; ++k) h[k] = hp[k];
    T operands[kRun], roots[kRun];
    for (int j = 0; j < kRun; ++j) operands[j] = T(1);  // lanes past the end, and no root taken
    for (int j = 0; j < count; ++j) {
      T s[F > 0 ? F : 1];
      for (int f = 0; f < F; ++f) s[f] = load(2 + f, i0 + j);
      T p = load(0, i0 + j);
      const RsqrtOperand<T, Base> r{base, &operands[j]};
      Rule::template Element<kFma>(h, r, p, load(1, i0 + j), s);
    }
    for (int j = 0; j < count; j += kTile) RsqrtTile<kFma>(operands + j, roots + j);
    for (int j = 0; j < count; ++j) {
      T s[F > 0 ? F : 1];
      for (int f = 0; f < F; ++f) s[f] = load(2 + f, i0 + j);
      T p = load(0, i0 + j);
      const RsqrtResult<T, Base> r{base, roots[j]};
      Rule::template Element<kFma>(h, r, p, load(1, i0 + j), s);
      for (int f = 0; f < F; ++f) store(1 + f, i0 + j, s[f]);
      store(0, i0 + j, p);
    }
  };
  std::size_t i0 = begin;
  for (; i0 + kRun <= end; i0 += kRun) run(i0, std::integral_constant<int, kRun>());
  if (i0 < end) run(i0, static_cast<int>(end - i0));
}

// One range of one leaf, every field in T: typed loads and stores the compiler vectorizes.
template <class Rule, bool kFma, typename T>
void ApplyExact(const T* hp, const Leaf<Rule::kFields>& leaf, std::size_t begin,
                std::size_t end) {
  constexpr int F = Rule::kFields;
  const Rounding<T, false> r;
  const T* p_in = static_cast<const T*>(leaf.in[0]);
  const T* g_in = static_cast<const T*>(leaf.in[1]);
  T* p_out = static_cast<T*>(leaf.out[0]);
  const T* s_in[F > 0 ? F : 1];
  T* s_out[F > 0 ? F : 1];
  for (int f = 0; f < F; ++f) {
    s_in[f] = static_cast<const T*>(leaf.in[2 + f]);
    s_out[f] = static_cast<T*>(leaf.out[1 + f]);
  }
  if constexpr (Rule::kRsqrt) {
    const auto load = [&](int f, std::size_t i) {
      return f == 0 ? p_in[i] : f == 1 ? g_in[i] : s_in[f - 2][i];
    };
    const auto store = [&](int f, std::size_t i, T x) { (f == 0 ? p_out : s_out[f - 1])[i] = x; };
    ApplyTiled<Rule, kFma, T>(hp, r, begin, end, load, store);
    return;
  }
  // Each output element depends on the same element of the inputs only (an output may be its
  // input's buffer): no dependence between iterations.
#pragma GCC ivdep
  for (std::size_t i = begin; i < end; ++i) {
    T s[F > 0 ? F : 1];
    for (int f = 0; f < F; ++f) s[f] = s_in[f][i];
    T p = p_in[i];
    Rule::template Element<kFma>(hp, r, p, g_in[i], s);
    for (int f = 0; f < F; ++f) s_out[f][i] = s[f];
    p_out[i] = p;
  }
}

// One range of one leaf with half-precision fields: loads, stores and roundings by kind.
template <class Rule, bool kFma, typename T>
void ApplyStored(const T* hp, const Rounding<T, true>& r, const Leaf<Rule::kFields>& leaf,
                 std::size_t begin, std::size_t end) {
  constexpr int F = Rule::kFields;
  for (std::size_t i = begin; i < end; ++i) {
    T s[F > 0 ? F : 1];
    for (int f = 0; f < F; ++f) s[f] = Load<T>(leaf.in[2 + f], r.s[f], i);
    T p = Load<T>(leaf.in[0], r.p, i);
    Rule::template Element<kFma>(hp, r, p, Load<T>(leaf.in[1], r.p, i), s);
    for (int f = 0; f < F; ++f) Store<T>(leaf.out[1 + f], r.s[f], i, s[f]);
    Store<T>(leaf.out[0], r.p, i, p);
  }
}

// ApplyStored for leaves whose params, gradients and state are all stored as `kKind`: the
// kind is a compile-time constant, so the loads, stores and roundings vectorize.
template <class Rule, bool kFma, Kind kKind>
void ApplyUniform(const float* hp, const Leaf<Rule::kFields>& leaf, std::size_t begin,
                  std::size_t end) {
  constexpr int F = Rule::kFields;
  const UniformRounding<kKind> r;
  const std::uint16_t* p_in = static_cast<const std::uint16_t*>(leaf.in[0]);
  const std::uint16_t* g_in = static_cast<const std::uint16_t*>(leaf.in[1]);
  std::uint16_t* p_out = static_cast<std::uint16_t*>(leaf.out[0]);
  const std::uint16_t* s_in[F > 0 ? F : 1];
  std::uint16_t* s_out[F > 0 ? F : 1];
  for (int f = 0; f < F; ++f) {
    s_in[f] = static_cast<const std::uint16_t*>(leaf.in[2 + f]);
    s_out[f] = static_cast<std::uint16_t*>(leaf.out[1 + f]);
  }
  if constexpr (Rule::kRsqrt) {
    const auto load = [&](int f, std::size_t i) {
      return Load<float>(f == 0 ? p_in : f == 1 ? g_in : s_in[f - 2], kKind, i);
    };
    const auto store = [&](int f, std::size_t i, float x) {
      Store<float>(f == 0 ? p_out : s_out[f - 1], kKind, i, x);
    };
    ApplyTiled<Rule, kFma, float>(hp, r, begin, end, load, store);
    return;
  }
#pragma GCC ivdep
  for (std::size_t i = begin; i < end; ++i) {
    float s[F > 0 ? F : 1];
    for (int f = 0; f < F; ++f) s[f] = Load<float>(s_in[f], kKind, i);
    float p = Load<float>(p_in, kKind, i);
    Rule::template Element<kFma>(hp, r, p, Load<float>(g_in, kKind, i), s);
    for (int f = 0; f < F; ++f) Store<float>(s_out[f], kKind, i, s[f]);
    Store<float>(p_out, kKind, i, p);
  }
}

template <class Rule, bool kFma, Kind kKind, typename LeafT>
void RunUniform(const float* hp, const std::vector<LeafT>& leaves,
                const std::vector<std::size_t>& sizes) {
  RunBlocks(leaves, sizes, [=](const LeafT& leaf, std::size_t b, std::size_t e) {
    ApplyUniform<Rule, kFma, kKind>(hp, leaf, b, e);
  });
}

// The one half-precision kind of every field, or kF32 where they are not all one such kind.
template <typename T>
Kind UniformHalf(const Rounding<T, true>& r, int fields) {
  if (r.p != Kind::kBF16 && r.p != Kind::kF16) return Kind::kF32;
  for (int f = 0; f < fields; ++f) {
    if (r.s[f] != r.p) return Kind::kF32;
  }
  return r.p;
}

bool KindOfDtype(ffi::DataType dtype, Kind* kind) {
  switch (dtype) {
    case ffi::DataType::F32:
      *kind = Kind::kF32;
      return true;
    case ffi::DataType::F64:
      *kind = Kind::kF64;
      return true;
    case ffi::DataType::BF16:
      *kind = Kind::kBF16;
      return true;
    case ffi::DataType::F16:
      *kind = Kind::kF16;
      return true;
    default:
      return false;
  }
}

// Collects the k leaves of one call and the storage kind of each field (the same for every
// leaf of the call), checking dtypes and sizes.
template <typename T, int F>
ffi::Error Gather(ffi::RemainingArgs& args, ffi::RemainingRets& rets, std::size_t k,
                  std::vector<Leaf<F>>& leaves, std::vector<std::size_t>& sizes,
                  Rounding<T, true>& r) {
  leaves.resize(k);
  sizes.resize(k);
  Kind kinds[2 + F];
  for (std::size_t l = 0; l < k; ++l) {
    std::size_t n = 0;
    for (int f = 0; f < 2 + F; ++f) {
      auto buffer = args.get<ffi::AnyBuffer>(f * k + l);
      if (buffer.has_error()) return buffer.error();
      Kind kind;
      if (!KindOfDtype(buffer->element_type(), &kind)) {
        return ffi::Error::InvalidArgument("gradtx fused step: unsupported dtype");
      }
      if (l == 0) kinds[f] = kind;
      if (kind != kinds[f] || (sizeof(T) == 8) != (kind == Kind::kF64)) {
        return ffi::Error::InvalidArgument("gradtx fused step: mixed dtypes in one call");
      }
      if (f == 0) n = buffer->element_count();
      if (buffer->element_count() != n) {
        return ffi::Error::InvalidArgument("gradtx fused step: leaf sizes differ");
      }
      leaves[l].in[f] = buffer->untyped_data();
    }
    for (int f = 0; f < 1 + F; ++f) {
      auto buffer = rets.get<ffi::AnyBuffer>(f * k + l);
      if (buffer.has_error()) return buffer.error();
      if ((*buffer)->element_count() != n) {
        return ffi::Error::InvalidArgument("gradtx fused step: result sizes differ");
      }
      leaves[l].out[f] = (*buffer)->untyped_data();
    }
    sizes[l] = n;
  }
  if (k > 0 && kinds[0] != kinds[1]) {
    return ffi::Error::InvalidArgument("gradtx fused step: params and grads differ in dtype");
  }
  r.p = k > 0 ? kinds[0] : KindOf<T>();
  for (int f = 0; f < F; ++f) r.s[f] = k > 0 ? kinds[2 + f] : KindOf<T>();
  return ffi::Error::Success();
}

template <class Rule, typename T>
ffi::Error Typed(ffi::AnyBuffer hp_buffer, ffi::RemainingArgs& args, ffi::RemainingRets& rets,
                 std::size_t k) {
  constexpr int F = Rule::kFields;
  if (Rule::kRsqrt && !kExactRsqrt<T>) {
    return ffi::Error::InvalidArgument("gradtx fused step: no exact rsqrt for this dtype");
  }
  if (hp_buffer.element_count() < static_cast<std::size_t>(Rule::kHp)) {
    return ffi::Error::InvalidArgument("gradtx fused step: too few scalars");
  }
  std::vector<Leaf<F>> leaves;
  std::vector<std::size_t> sizes;
  Rounding<T, true> r;
  ffi::Error error = Gather<T, F>(args, rets, k, leaves, sizes, r);
  if (error.failure()) return error;
  const T* hp = static_cast<const T*>(hp_buffer.untyped_data());
  bool stored = r.p != KindOf<T>();
  for (int f = 0; f < F; ++f) stored = stored || r.s[f] != KindOf<T>();
  static const bool fma = HostHasFma();
  using L = Leaf<F>;
  if (!stored) {
    if (fma) {
      RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t b, std::size_t e) {
        ApplyExact<Rule, true, T>(hp, leaf, b, e);
      });
    } else {
      RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t b, std::size_t e) {
        ApplyExact<Rule, false, T>(hp, leaf, b, e);
      });
    }
  } else if constexpr (std::is_same_v<T, float>) {
    const Kind half = UniformHalf(r, F);
    if (half == Kind::kBF16) {
      fma ? RunUniform<Rule, true, Kind::kBF16>(hp, leaves, sizes)
          : RunUniform<Rule, false, Kind::kBF16>(hp, leaves, sizes);
    } else if (half == Kind::kF16) {
      fma ? RunUniform<Rule, true, Kind::kF16>(hp, leaves, sizes)
          : RunUniform<Rule, false, Kind::kF16>(hp, leaves, sizes);
    } else if (fma) {
      RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t b, std::size_t e) {
        ApplyStored<Rule, true, T>(hp, r, leaf, b, e);
      });
    } else {
      RunBlocks(leaves, sizes, [=](const L& leaf, std::size_t b, std::size_t e) {
        ApplyStored<Rule, false, T>(hp, r, leaf, b, e);
      });
    }
  }
  return ffi::Error::Success();
}

template <class Rule>
ffi::Error Handle(ffi::AnyBuffer hp, ffi::RemainingArgs args, ffi::RemainingRets rets) {
  constexpr std::size_t in = 2 + Rule::kFields, out = 1 + Rule::kFields;
  if (args.size() % in != 0 || rets.size() * in != args.size() * out) {
    return ffi::Error::InvalidArgument("gradtx fused step: wrong number of operands");
  }
  const std::size_t k = args.size() / in;
  switch (hp.element_type()) {
    case ffi::DataType::F32:
      return Typed<Rule, float>(hp, args, rets, k);
    case ffi::DataType::F64:
      return Typed<Rule, double>(hp, args, rets, k);
    default:
      return ffi::Error::InvalidArgument("gradtx fused step: float32 or float64 scalars only");
  }
}

}  // namespace

// One name per handler: the FFI macros take no commas.
using SgdRule = Sgd;
using MomentumRule = Momentum<false>;
using NesterovRule = Momentum<true>;
using AdamRule = Adam<false, false>;
using AdamWRule = Adam<true, false>;
using NadamRule = Adam<false, true>;
using NadamWRule = Adam<true, true>;
using AdamaxRule = Adamax<false>;
using AdamaxWRule = Adamax<true>;
using AmsgradRule = Amsgrad;
using BeliefRule = Belief;
using RadamRule = Radam;
using LionRule = Lion<true>;
using LionUndecayedRule = Lion<false>;
using AdagradRule = Adagrad;
using RmspropRule = Rmsprop<false, false>;
using RmspropCenteredRule = Rmsprop<true, false>;
using RmspropMomentumRule = Rmsprop<false, true>;
using RmspropCenteredMomentumRule = Rmsprop<true, true>;
using AdaBoundRule = Bound<false>;
using AmsBoundRule = Bound<true>;

}  // namespace gradtx

// Whether float64 rsqrt (Adagrad, RMSprop) can match XLA:CPU's in this build.
extern "C" int GradtxExactRsqrt64() { return gradtx::kExactRsqrt<double> ? 1 : 0; }

// The kernel's rsqrt of n values (RsqrtTile, as its rules take them), for the load-time check against XLA's (`exact_rsqrt`): the
// hardware estimate differs between processors and instruction sets, so the fused Adagrad and
// RMSprop are used only on a host where the two agree bit for bit. It runs with subnormals
// flushed to zero (MXCSR's FTZ and DAZ), as XLA:CPU runs its computations and so the kernel.
template <typename T>
static void RsqrtProbe(const T* x, T* out, std::int64_t n) {
  const bool fma = gradtx::HostHasFma();
#if defined(__SSE__)
  const unsigned int csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u);
#endif
  constexpr int kTile = gradtx::kTile;
  for (std::int64_t i = 0; i < n; i += kTile) {
    T in[kTile], roots[kTile];
    for (int j = 0; j < kTile; ++j) in[j] = i + j < n ? x[i + j] : T(1);
    fma ? gradtx::RsqrtTile<true>(in, roots) : gradtx::RsqrtTile<false>(in, roots);
    for (int j = 0; j < kTile && i + j < n; ++j) out[i + j] = roots[j];
  }
#if defined(__SSE__)
  _mm_setcsr(csr);
#endif
}
extern "C" void GradtxRsqrt32(const float* x, float* out, std::int64_t n) { RsqrtProbe(x, out, n); }
extern "C" void GradtxRsqrt64(const double* x, double* out, std::int64_t n) { RsqrtProbe(x, out, n); }

#define GRADTX_HANDLER(symbol, rule)                                                   \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(symbol, gradtx::Handle<gradtx::rule>,                  \
                                ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().RemainingArgs() \
                                    .RemainingRets())

GRADTX_HANDLER(GradtxSgd, SgdRule);
GRADTX_HANDLER(GradtxMomentum, MomentumRule);
GRADTX_HANDLER(GradtxNesterov, NesterovRule);
GRADTX_HANDLER(GradtxAdam, AdamRule);
GRADTX_HANDLER(GradtxAdamW, AdamWRule);
GRADTX_HANDLER(GradtxNadam, NadamRule);
GRADTX_HANDLER(GradtxNadamW, NadamWRule);
GRADTX_HANDLER(GradtxAdamax, AdamaxRule);
GRADTX_HANDLER(GradtxAdamaxW, AdamaxWRule);
GRADTX_HANDLER(GradtxAmsgrad, AmsgradRule);
GRADTX_HANDLER(GradtxBelief, BeliefRule);
GRADTX_HANDLER(GradtxRadam, RadamRule);
GRADTX_HANDLER(GradtxLion, LionRule);
GRADTX_HANDLER(GradtxLionUndecayed, LionUndecayedRule);
GRADTX_HANDLER(GradtxAdagrad, AdagradRule);
GRADTX_HANDLER(GradtxRmsprop, RmspropRule);
GRADTX_HANDLER(GradtxRmspropCentered, RmspropCenteredRule);
GRADTX_HANDLER(GradtxRmspropMomentum, RmspropMomentumRule);
GRADTX_HANDLER(GradtxRmspropCenteredMomentum, RmspropCenteredMomentumRule);
GRADTX_HANDLER(GradtxAdaBound, AdaBoundRule);
GRADTX_HANDLER(GradtxAmsBound, AmsBoundRule);
