r"""Decays: exponential, inverse-time and cosine."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx._schedules.common import as_float
from gradtx._validate import check_finite, check_non_negative, check_positive


def _steps_done(t: jax.Array, steps, staircase: bool) -> jax.Array:
    r"""$t/T$, or $\lfloor t/T \rfloor$ computed exactly.

    XLA computes `floor(t / T)` on arrays as `floor(t * (1 / T))`, one step late at $t = 49$ for
    $T = 49$ (as Optax's staircase is); `floor_divide` is exact.
    """
    return jnp.floor_divide(t, steps) if staircase else t / steps


def _cosine(t: jax.Array, init_value, steps, alpha, exponent) -> jax.Array:
    r"""$I((1 - \alpha) c^p + \alpha)$, $c = (1 + \cos(\pi \min(t, T)/T))/2$, Optax's form."""
    c = 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(t, steps) / steps))
    return init_value * ((1 - alpha) * c**exponent + alpha)


@dataclasses.dataclass(frozen=True)
class exponential_decay:
    r"""Decay a value by a constant factor every `transition_steps` steps.

    $$v(t) = \begin{cases} I & t \le B, \\ I\, r^{(t - B)/T} & t > B, \end{cases}$$

    with the exponent $\lfloor (t - B)/T \rfloor$ when `staircase`; then bounded below by
    `end_value` when $r < 1$, above when $r > 1$.

    Args:
        init_value: $I$, the value up to step $B$.
        transition_steps: $T > 0$, the steps over which the value is multiplied by $r$.
        decay_rate: $r > 0$, the factor per $T$ steps.
        transition_begin: $B \ge 0$, the step at which decay starts.
        staircase: if True, decay in jumps every $T$ steps instead of continuously.
        end_value: if given, the value is never carried past it.

    Note: Optax returns the constant $I$ when $T \le 0$ or $r = 0$ and clamps $B < 0$ to 0;
    gradtx raises. gradtx's staircase steps exactly at $t - B = kT$; Optax's, on arrays, can step
    one count late (at $t = 49$ for $T = 49$).

    Example:
        >>> import gradtx
        >>> gradtx.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)(20)
        Array(0.25, dtype=float32)
    """

    init_value: ArrayLike
    transition_steps: ArrayLike
    decay_rate: ArrayLike
    transition_begin: ArrayLike = 0
    staircase: bool = False
    end_value: ArrayLike | None = None

    def __post_init__(self) -> None:
        where = "exponential_decay"
        check_finite(where, init_value=self.init_value, end_value=self.end_value)
        check_positive(where, transition_steps=self.transition_steps, decay_rate=self.decay_rate)
        check_non_negative(where, transition_begin=self.transition_begin)

    def __call__(self, count: ArrayLike) -> jax.Array:
        t = as_float(count) - self.transition_begin
        p = _steps_done(t, self.transition_steps, self.staircase)
        value = jnp.where(t <= 0, self.init_value, self.init_value * jnp.power(self.decay_rate, p))
        if self.end_value is None:
            return value
        floor, ceiling = jnp.maximum(value, self.end_value), jnp.minimum(value, self.end_value)
        return jnp.where(self.decay_rate < 1, floor, ceiling)


@dataclasses.dataclass(frozen=True)
class inverse_time_decay:
    r"""Decay a value as the inverse of time, or of a power of it.

    $$v(t) = \frac{I}{(1 + r\, t/T)^p},$$

    with $t/T$ replaced by $\lfloor t/T \rfloor$ when `staircase`. Optax has no such schedule; with
    $p = 1$ the semantics are those of Keras's `InverseTimeDecay`.

    Args:
        init_value: $I$, the value at $t = 0$.
        decay_steps: $T > 0$, the unit of time.
        decay_rate: $r > 0$; the value has halved when $r t/T = 1$ (for $p = 1$).
        staircase: if True, decay in jumps every $T$ steps instead of continuously.
        power: $p > 0$; averaged SGD uses $p = 3/4$ (torch.optim.ASGD's `alpha`).

    References:
        Bottou, "Stochastic Gradient Descent Tricks", Neural Networks: Tricks of the Trade, 2012
        ($\gamma_t = \gamma_0 / (1 + \gamma_0 \lambda t)$, and $\gamma_0 / (1 + \gamma_0 \lambda
        t)^{3/4}$ for averaged SGD).

    Example:
        >>> import gradtx
        >>> gradtx.inverse_time_decay(1.0, decay_steps=10, decay_rate=1.0)(30)
        Array(0.25, dtype=float32)
    """

    init_value: ArrayLike
    decay_steps: ArrayLike
    decay_rate: ArrayLike
    staircase: bool = False
    power: ArrayLike = 1.0

    def __post_init__(self) -> None:
        where = "inverse_time_decay"
        check_finite(where, init_value=self.init_value)
        check_positive(
            where, decay_steps=self.decay_steps, decay_rate=self.decay_rate, power=self.power
        )

    def __call__(self, count: ArrayLike) -> jax.Array:
        p = _steps_done(as_float(count), self.decay_steps, self.staircase)
        return self.init_value / (1 + self.decay_rate * p) ** self.power


@dataclasses.dataclass(frozen=True)
class cosine_decay_schedule:
    r"""Decay a value along half a cosine over $T$ steps, to the fraction $\alpha$ of it.

    $$v(t) = I\left((1 - \alpha)\, c_t^p + \alpha\right), \qquad
    c_t = \frac{1 + \cos(\pi \min(t, T)/T)}{2}.$$

    Args:
        init_value: $I$, the value at $t = 0$.
        decay_steps: $T > 0$; the value is $\alpha I$ from step $T$ on.
        alpha: $\alpha$, the final value as a fraction of $I$; any finite number.
        exponent: $p > 0$, sharpens ($p > 1$) or flattens ($p < 1$) the curve.

    Note: Optax accepts $p \le 0$, for which the value at $t = T$ is $I$ or infinite; gradtx
    raises.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017
        (one cycle, without restarts).

    Example:
        >>> import gradtx
        >>> sched = gradtx.cosine_decay_schedule(1.0, decay_steps=100)
        >>> print(f"{sched(50):.3f} {sched(100):.3f}")
        0.500 0.000
    """

    init_value: ArrayLike
    decay_steps: ArrayLike
    alpha: ArrayLike = 0.0
    exponent: ArrayLike = 1.0

    def __post_init__(self) -> None:
        where = "cosine_decay_schedule"
        check_finite(where, init_value=self.init_value, alpha=self.alpha)
        check_positive(where, decay_steps=self.decay_steps, exponent=self.exponent)

    def __call__(self, count: ArrayLike) -> jax.Array:
        t = as_float(count)
        return _cosine(t, self.init_value, self.decay_steps, self.alpha, self.exponent)
