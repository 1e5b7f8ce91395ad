r"""Polynomials of the step count: constant, piecewise constant, linear, polynomial."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx._schedules.common import as_float, check_boundaries
from gradtx._validate import check_finite, check_non_negative, check_positive


def _polynomial(t: jax.Array, init_value, end_value, power, steps, begin) -> jax.Array:
    r"""$(I - E)(1 - s/T)^P + E$ with $s = \mathrm{clip}(t - B, 0, T)$, as Optax computes it.

    Under `jax.jit` XLA turns $1 - s/T$ into a fused $1 - s \cdot (1/T)$, which at $s = T$ is
    about $\pm 10^{-17}$ instead of 0 (NaN for a fractional $P$ in Optax); the last step is set
    to 0 exactly.
    """
    s = jnp.clip(t - begin, 0, steps)
    frac = jnp.where(s < steps, 1 - s / steps, 0.0)
    return (init_value - end_value) * frac**power + end_value


@dataclasses.dataclass(frozen=True)
class constant_schedule:
    r"""Hold a value fixed: $v(t) = c$.

    Args:
        value: $c$, the value at every step; any finite number.

    Example:
        >>> import gradtx
        >>> gradtx.constant_schedule(0.1)(1000)
        Array(0.1, dtype=float32)
    """

    value: ArrayLike

    def __post_init__(self) -> None:
        check_finite("constant_schedule", value=self.value)

    def __call__(self, count: ArrayLike) -> jax.Array:
        return jnp.zeros_like(as_float(count)) + self.value


@dataclasses.dataclass(frozen=True)
class piecewise_constant_schedule:
    r"""Step decay: multiply the value by a factor at each of some given steps.

    $$v(t) = I \prod_{i:\, t \ge b_i} s_i$$

    Args:
        init_value: $I$, the value before the first boundary.
        boundaries_and_scales: `{b_i: s_i}`, steps $b_i \ge 0$ (integers) and factors
            $s_i \ge 0$. Stored as pairs `(b_i, s_i)` sorted by step, which it also accepts.

    References:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2
        (the learning rate divided by 10 at 32k and 48k iterations).

    Example:
        >>> import gradtx
        >>> sched = gradtx.piecewise_constant_schedule(0.1, {100: 0.1, 200: 0.1})
        >>> print(f"{sched(150):.3f} {sched(250):.4f}")
        0.010 0.0010
    """

    init_value: ArrayLike
    boundaries_and_scales: Mapping[int, ArrayLike] | Iterable[tuple[int, ArrayLike]] | None = None

    def __post_init__(self) -> None:
        where = "piecewise_constant_schedule"
        check_finite(where, init_value=self.init_value)
        pairs = tuple(sorted(dict(self.boundaries_and_scales or {}).items()))
        check_boundaries(where, "the keys of boundaries_and_scales", [b for b, _ in pairs])
        check_non_negative(where, **{f"boundaries_and_scales[{b}]": s for b, s in pairs})
        # Sorted pairs: hashable, so equal schedules are one `jax.jit` cache entry.
        object.__setattr__(self, "boundaries_and_scales", tuple((int(b), s) for b, s in pairs))

    def __call__(self, count: ArrayLike) -> jax.Array:
        count = jnp.asarray(count)
        value = jnp.zeros_like(as_float(count)) + self.init_value
        for boundary, scale in self.boundaries_and_scales:
            value = jnp.where(count < boundary, value, value * scale)
        return value


@dataclasses.dataclass(frozen=True)
class polynomial_schedule:
    r"""Move a value from $I$ to $E$ along a polynomial of degree $P$ over $T$ steps from step $B$.

    $$v(t) = (I - E)\left(1 - \frac{s}{T}\right)^P + E, \qquad s = \mathrm{clip}(t - B, 0, T):$$

    $I$ up to step $B$, $E$ from step $B + T$ on.

    Args:
        init_value: $I$, the value up to step $B$.
        end_value: $E$, the value from step $B + T$ on.
        power: $P > 0$; 1 is linear, 0.9 the "poly" policy of DeepLab.
        transition_steps: $T > 0$.
        transition_begin: $B \ge 0$.

    Note: Optax returns the constant $I$ when $T \le 0$ and clamps $B < 0$ to 0; gradtx raises.
    Optax accepts $P \le 0$, for which the value at $t = B + T$ is $I$ or infinite; gradtx raises.
    Under `jax.jit` Optax's value after the transition is NaN for a fractional $P$; gradtx's is
    $E$.

    References:
        Chen, Papandreou, Kokkinos, Murphy & Yuille, "DeepLab: Semantic Image Segmentation with
        Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2018.

    Example:
        >>> import gradtx
        >>> gradtx.polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)(5)
        Array(0.25, dtype=float32)
    """

    init_value: ArrayLike
    end_value: ArrayLike
    power: ArrayLike
    transition_steps: ArrayLike
    transition_begin: ArrayLike = 0

    def __post_init__(self) -> None:
        where = "polynomial_schedule"
        check_finite(where, init_value=self.init_value, end_value=self.end_value)
        check_positive(where, power=self.power, transition_steps=self.transition_steps)
        check_non_negative(where, transition_begin=self.transition_begin)

    def __call__(self, count: ArrayLike) -> jax.Array:
        return _polynomial(
            as_float(count),
            self.init_value,
            self.end_value,
            self.power,
            self.transition_steps,
            self.transition_begin,
        )


@dataclasses.dataclass(frozen=True)
class linear_schedule:
    r"""Move a value linearly from $I$ to $E$ over $T$ steps from step $B$; a linear warm-up.

    $$v(t) = I + (E - I)\frac{s}{T}, \qquad s = \mathrm{clip}(t - B, 0, T)$$

    (`polynomial_schedule` with $P = 1$).

    Args:
        init_value: $I$, the value up to step $B$.
        end_value: $E$, the value from step $B + T$ on.
        transition_steps: $T > 0$.
        transition_begin: $B \ge 0$.

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017, Sec. 2.2
        (gradual warm-up).

    Example:
        >>> import gradtx
        >>> warmup = gradtx.linear_schedule(0.0, 0.1, transition_steps=100)
        >>> print(f"{warmup(50):.3f} {warmup(500):.3f}")
        0.050 0.100
    """

    init_value: ArrayLike
    end_value: ArrayLike
    transition_steps: ArrayLike
    transition_begin: ArrayLike = 0

    def __post_init__(self) -> None:
        where = "linear_schedule"
        check_finite(where, init_value=self.init_value, end_value=self.end_value)
        check_positive(where, transition_steps=self.transition_steps)
        check_non_negative(where, transition_begin=self.transition_begin)

    def __call__(self, count: ArrayLike) -> jax.Array:
        t, steps = as_float(count), self.transition_steps
        return _polynomial(t, self.init_value, self.end_value, 1, steps, self.transition_begin)
