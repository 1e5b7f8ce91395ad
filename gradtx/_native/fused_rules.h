// The fused optimizers, one element at a time: each rule is its alias's chain (the per-leaf
// phases of its transformations, then the learning rate, then p + u), operation for operation as
// XLA:CPU computes it (see fused_math.h). `hp` holds the scalars the caller (gradtx/_fused.py)
// computed with the chain's own helpers, in the compute dtype T.
//
// `r` rounds to the stored dtypes: r.S(f, x) is x as state field f stores it (later phases read
// moments as stored), r.P(x) as the params' dtype stores it (each link of the chain hands the next
// an update in the params' dtype). For float32/float64 leaves with their state in the same dtype
// both are the identity, and XLA contracts across them: `Descend` and the rules say where. It
// also takes the rules' reciprocal square roots, r.Rsqrt (the kernel computes them kTile at a
// time: fused_step.cc's ApplyTiled).

#ifndef GRADTX_FUSED_RULES_H_
#define GRADTX_FUSED_RULES_H_

#include <cmath>

#include "fused_math.h"

namespace gradtx {

constexpr int kMaxFields = 3;

template <typename T>
constexpr Kind KindOf() {
  return sizeof(T) == 8 ? Kind::kF64 : Kind::kF32;
}

// Rounding to the stored dtypes; with kStored false every field is stored in T.
template <typename T, bool kStored>
struct Rounding {
  Kind p = KindOf<T>();
  Kind s[kMaxFields] = {KindOf<T>(), KindOf<T>(), KindOf<T>()};
  T P(T x) const {
    if constexpr (kStored) return Round(p, x);
    return x;
  }
  T S(int f, T x) const {
    if constexpr (kStored) return Round(s[f], x);
    return x;
  }
  bool PExact() const { return !kStored || p == KindOf<T>(); }
  template <bool kFma>
  T Rsqrt(T x) const {
    return gradtx::Rsqrt<kFma>(x);
  }
};

// Rounding when params, gradients and every state field share one half-precision storage
// `kKind` (bfloat16 or float16 training): the same roundings as Rounding<float, true>, with
// the kind known at compile time, so that loops over elements vectorize.
template <Kind kKind>
struct UniformRounding {
  float P(float x) const { return Round(kKind, x); }
  float S(int, float x) const { return Round(kKind, x); }
  bool PExact() const { return false; }
  template <bool kFma>
  float Rsqrt(float x) const {
    return gradtx::Rsqrt<kFma>(x);
  }
};

// p + scale * u, `u` in the params' dtype: `scale_by_learning_rate` then `apply_updates`.
// XLA fuses the two into one multiply-add unless the product is rounded to the params' dtype.
template <bool kFma, typename T, class R>
inline T Descend(const R& r, T p, T u, T scale) {
  if (r.PExact()) return MulAdd<kFma>(u, scale, p);
  return r.P(p + r.P(u * scale));
}

// Adam's moments: m = (1 - b1) g + b1 m, v = (1 - b2) g g + b2 v, each rounded as stored.
template <bool kFma, typename T, class R>
inline void AdamMoments(const R& r, T g, T* s, T b1, T omb1, T b2, T omb2) {
  s[0] = r.S(0, MulAdd<kFma>(omb1, g, b1 * s[0]));
  s[1] = r.S(1, MulAdd<kFma>(omb2, g * g, b2 * s[1]));
}

// What every rule declares: kFields state fields per leaf, kHp scalars, and whether it takes a
// reciprocal square root (exact only where fused_math.h can match XLA's).
struct Rule {
  static constexpr bool kRsqrt = false;
};

// sgd without momentum. hp = [-lr].
struct Sgd : Rule {
  static constexpr int kFields = 0, kHp = 1;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T*) {
    p = Descend<kFma>(r, p, g, hp[0]);
  }
};

// sgd with heavy-ball or Nesterov momentum: t = g + mu t; u = t, or g + mu t. hp = [mu, -lr].
template <bool kNesterov>
struct Momentum : Rule {
  static constexpr int kFields = 1, kHp = 2;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    const T mu = hp[0];
    s[0] = r.S(0, MulAdd<kFma>(mu, s[0], g));
    const T u = kNesterov ? MulAdd<kFma>(mu, s[0], g) : s[0];
    p = Descend<kFma>(r, p, r.P(u), hp[1]);
  }
};

// Adam, Nadam (kNesterov), and with decoupled weight decay (kDecay):
//   u = (m r1) / (sqrt(v r2 + eps_root) + eps), Nadam's numerator m A + g B;  u = u + wd p.
// XLA multiplies by the reciprocal of a broadcast scalar divisor, and so do the rules.
// hp = [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, -lr, wd, A, B].
template <bool kDecay, bool kNesterov>
struct Adam : Rule {
  static constexpr int kFields = 2, kHp = 12;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    AdamMoments<kFma>(r, g, s, hp[0], hp[1], hp[2], hp[3]);
    const T m_hat = kNesterov ? MulAdd<kFma>(s[0], hp[10], g * hp[11]) : s[0] * hp[4];
    T u = r.P(m_hat / (std::sqrt(MulAdd<kFma>(s[1], hp[5], hp[6])) + hp[7]));
    if constexpr (kDecay) u = r.P(MulAdd<kFma>(hp[9], p, u));
    p = Descend<kFma>(r, p, u, hp[8]);
  }
};

// AdaMax, and with decoupled weight decay (kDecay, as AdamW's):
//   m as Adam's, nu = max(|g| + eps, b2 nu), u = (m r1) / nu;  u = u + wd p.
// hp = [b1, 1 - b1, b2, eps, r1, -lr, wd].
template <bool kDecay>
struct Adamax : Rule {
  static constexpr int kFields = 2, kHp = 6 + kDecay;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    s[0] = r.S(0, MulAdd<kFma>(hp[1], g, hp[0] * s[0]));
    s[1] = r.S(1, Max(std::abs(g) + hp[3], s[1] * hp[2]));
    T u = r.P((s[0] * hp[4]) / s[1]);
    if constexpr (kDecay) u = r.P(MulAdd<kFma>(hp[6], p, u));
    p = Descend<kFma>(r, p, u, hp[5]);
  }
};

// AMSGrad: Adam's moments, nu_max = max(nu_max, v r2), u = (m r1) / (sqrt(nu_max + eps_root) + eps).
// hp = [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, -lr].
struct Amsgrad : Rule {
  static constexpr int kFields = 3, kHp = 9;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    AdamMoments<kFma>(r, g, s, hp[0], hp[1], hp[2], hp[3]);
    s[2] = r.S(2, Max(s[2], s[1] * hp[5]));
    p = Descend<kFma>(r, p, r.P((s[0] * hp[4]) / (std::sqrt(s[2] + hp[6]) + hp[7])), hp[8]);
  }
};

// AdaBelief: m as Adam's, s = (1 - b2) (g - m)^2 + b2 s + eps_root,
// u = (m r1) / (sqrt(s r2) + eps). hp = [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, -lr].
struct Belief : Rule {
  static constexpr int kFields = 2, kHp = 9;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    const T m = MulAdd<kFma>(hp[1], g, hp[0] * s[0]);  // one phase: s reads m before rounding
    const T d = g - m;
    s[0] = r.S(0, m);
    s[1] = r.S(1, MulAdd<kFma>(s[1], hp[2], (d * d) * hp[3]) + hp[6]);
    p = Descend<kFma>(r, p, r.P((s[0] * hp[4]) / (std::sqrt(s[1] * hp[5]) + hp[7])), hp[8]);
  }
};

// RAdam: Adam's moments; u = r_t (m r1) / (sqrt(v r2 + eps_root) + eps) while rho_t is tractable,
// else m r1. hp = [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, -lr, tractable (0 or 1), r_t].
struct Radam : Rule {
  static constexpr int kFields = 2, kHp = 11;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    AdamMoments<kFma>(r, g, s, hp[0], hp[1], hp[2], hp[3]);
    const T m_hat = s[0] * hp[4];
    const T adaptive = (hp[10] * m_hat) / (std::sqrt(MulAdd<kFma>(s[1], hp[5], hp[6])) + hp[7]);
    p = Descend<kFma>(r, p, r.P(hp[9] != 0 ? adaptive : m_hat), hp[8]);
  }
};

// Lion: u = sign((1 - b1) g + b1 m), then m = (1 - b2) g + b2 m; with weight decay (kDecay)
// u = u + wd p (a leaf outside the decay mask skips the addition). hp = [b1, 1 - b1, b2, 1 - b2,
// wd, -lr].
template <bool kDecay>
struct Lion : Rule {
  static constexpr int kFields = 1, kHp = 6;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    const T c = MulAdd<kFma>(hp[1], g, hp[0] * s[0]);
    s[0] = r.S(0, MulAdd<kFma>(hp[3], g, hp[2] * s[0]));
    T u = r.P(Sign(c));
    if constexpr (kDecay) u = r.P(MulAdd<kFma>(hp[4], p, u));
    p = Descend<kFma>(r, p, u, hp[5]);
  }
};

// Adagrad: G = G + g g, u = rsqrt(G + eps) g where G > 0, else 0. hp = [eps, -lr].
struct Adagrad : Rule {
  static constexpr int kFields = 1, kHp = 2;
  static constexpr bool kRsqrt = true;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    s[0] = r.S(0, MulAdd<kFma>(g, g, s[0]));
    const T root = r.template Rsqrt<kFma>(s[0] + hp[0]);  // taken everywhere: no branch
    const T scale = s[0] > 0 ? root : T(0);
    p = Descend<kFma>(r, p, r.P(scale * g), hp[1]);
  }
};

// RMSprop (eps inside the root, no bias correction), centered (kCentered: the variance
// max(v - m^2, 0)), with heavy-ball momentum on the scaled step (kMomentum):
//   v = (1 - d) g g + d v;  u = rsqrt(v + eps) g;  t = -lr u + mu t;  p = p + t.
// Fields: v, [m], [t]. hp = [d, 1 - d, eps, -lr, mu].
template <bool kCentered, bool kMomentum>
struct Rmsprop : Rule {
  static constexpr int kFields = 1 + kCentered + kMomentum, kHp = 5;
  static constexpr bool kRsqrt = true;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    const T d = hp[0], omd = hp[1];
    s[0] = r.S(0, MulAdd<kFma>(omd, g * g, d * s[0]));
    T second = s[0];
    if constexpr (kCentered) {
      s[1] = r.S(1, MulAdd<kFma>(omd, g, d * s[1]));
      second = Max(MulAdd<kFma>(-s[1], s[1], s[0]), T(0));
    }
    const T u = r.P(r.template Rsqrt<kFma>(second + hp[2]) * g);
    if constexpr (kMomentum) {
      constexpr int t = kFields - 1;
      if (r.PExact()) {
        s[t] = r.S(t, MulAdd<kFma>(s[t], hp[4], u * hp[3]));
      } else {
        s[t] = r.S(t, MulAdd<kFma>(hp[4], s[t], r.P(u * hp[3])));
      }
      p = r.P(p + r.P(s[t]));
    } else {
      p = Descend<kFma>(r, p, u, hp[3]);
    }
  }
};

// AdaBound and AMSBound (kMax): L2 weight decay g = g + wd p; v = (1 - b2) g g + b2 v;
// [v_max = max(v_max, v)]; step = sqrt(1 - b2^t) / (sqrt(v or v_max) + eps);
// m = (1 - b1) g + b1 m; eta = clip(step lr / (1 - b1^t), lower, upper); p = p - eta m.
// Fields: m, v, [v_max]. hp = [wd, b1, 1 - b1, b2, 1 - b2, sqrt(1 - b2^t), eps, lr / (1 - b1^t),
// lower, upper].
template <bool kMax>
struct Bound : Rule {
  static constexpr int kFields = 2 + kMax, kHp = 10;
  template <bool kFma, typename T, class R>
  static void Element(const T* hp, const R& r, T& p, T g, T* s) {
    g = r.P(MulAdd<kFma>(hp[0], p, g));
    s[1] = r.S(1, MulAdd<kFma>(s[1], hp[3], (g * g) * hp[4]));
    T nu = s[1];
    if constexpr (kMax) nu = s[2] = r.S(2, Max(s[2], s[1]));
    const T step = r.P(hp[5] / (std::sqrt(nu) + hp[6]));
    s[0] = r.S(0, MulAdd<kFma>(hp[2], g, hp[1] * s[0]));
    const T eta = r.P(Min(hp[9], Max(hp[8], step * hp[7])));
    p = Descend<kFma>(r, p, s[0], -eta);
  }
};

}  // namespace gradtx

#endif  // GRADTX_FUSED_RULES_H_
