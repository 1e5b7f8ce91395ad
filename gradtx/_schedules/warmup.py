r"""Warm-ups, and schedules joined one after another."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx._base import Schedule
from gradtx._schedules.common import as_float, check_boundaries
from gradtx._schedules.decay import _cosine
from gradtx._schedules.polynomial import _polynomial
from gradtx._validate import check_finite, check_non_negative, check_positive


@dataclasses.dataclass(frozen=True)
class cosine_warmup_schedule:
    r"""Raise a value from $I$ to $P$ along half a cosine over $W$ steps, then hold it at $P$.

    $$v(t) = I + (P - I)\frac{1 - \cos(\pi s/W)}{2} = I + (P - I)\sin^2\frac{\pi s}{2W},
    \qquad s = \mathrm{clip}(t, 0, W).$$

    A gradtx schedule (Optax has none): a warm-up with zero slope at both ends, where
    `linear_schedule` jumps in slope at $t = W$. The $\sin^2$ form is computed, so small values
    near $t = 0$ keep their relative precision in float32.

    Args:
        init_value: $I$, the value at $t = 0$.
        peak_value: $P$, the value from step $W$ on.
        warmup_steps: $W > 0$.

    Example:
        >>> import gradtx
        >>> sched = gradtx.cosine_warmup_schedule(0.0, 1.0, warmup_steps=10)
        >>> print(f"{sched(5):.3f} {sched(10):.3f} {sched(99):.3f}")
        0.500 1.000 1.000
    """

    init_value: ArrayLike
    peak_value: ArrayLike
    warmup_steps: ArrayLike

    def __post_init__(self) -> None:
        where = "cosine_warmup_schedule"
        check_finite(where, init_value=self.init_value, peak_value=self.peak_value)
        check_positive(where, warmup_steps=self.warmup_steps)

    def __call__(self, count: ArrayLike) -> jax.Array:
        s = jnp.clip(as_float(count), 0, self.warmup_steps)
        rise = jnp.sin(jnp.pi * s / (2 * self.warmup_steps)) ** 2
        return self.init_value + (self.peak_value - self.init_value) * rise


@dataclasses.dataclass(frozen=True)
class warmup_cosine_decay_schedule:
    r"""Linear warm-up from $I$ to $P$ over $W$ steps, then cosine decay to $E$ by step $T$.

    $$v(t) = \begin{cases} I + (P - I)\, t/W & t < W, \\
    P\left((1 - \alpha)\, c_t^p + \alpha\right), \ \alpha = E/P & t \ge W, \end{cases}
    \qquad c_t = \frac{1 + \cos(\pi \min(t - W, T - W)/(T - W))}{2}.$$

    As in Optax, $\alpha = 0$ when $P = 0$, so that case decays to 0 whatever $E$.

    Args:
        init_value: $I$, the value at $t = 0$.
        peak_value: $P$, the value at $t = W$.
        warmup_steps: $W \ge 0$; 0 means no warm-up.
        decay_steps: $T > W$, the length of the whole schedule, warm-up included.
        end_value: $E$, the value from step $T$ on.
        exponent: $p > 0$, as in `cosine_decay_schedule`.

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017;
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Example:
        >>> import gradtx
        >>> sched = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
        >>> print(f"{sched(5):.3f} {sched(60):.3f} {sched(110):.3f}")
        0.500 0.500 0.000
    """

    init_value: ArrayLike
    peak_value: ArrayLike
    warmup_steps: ArrayLike
    decay_steps: ArrayLike
    end_value: ArrayLike = 0.0
    exponent: ArrayLike = 1.0

    def __post_init__(self) -> None:
        where = "warmup_cosine_decay_schedule"
        values = dict(init_value=self.init_value, peak_value=self.peak_value)
        check_finite(where, **values, end_value=self.end_value)
        check_non_negative(where, warmup_steps=self.warmup_steps)
        check_positive(where, decay_steps=self.decay_steps, exponent=self.exponent)
        w, steps = self.warmup_steps, self.decay_steps  # numbers or arrays, not bools (checked)
        if isinstance(w, (int, float)) and isinstance(steps, (int, float)) and not steps > w:
            raise ValueError(
                f"{where}: decay_steps must be > warmup_steps = {w!r} (it counts the warm-up "
                f"too), got {steps!r}"
            )

    def __call__(self, count: ArrayLike) -> jax.Array:
        t, w, peak = as_float(count), self.warmup_steps, self.peak_value
        warmup = _polynomial(t, self.init_value, peak, 1, jnp.where(w > 0, w, 1), 0)
        safe_peak = jnp.where(peak == 0, 1, peak)
        alpha = jnp.where(peak == 0, 0.0, self.end_value / safe_peak)
        decay = _cosine(t - w, peak, self.decay_steps - w, alpha, self.exponent)
        return jnp.where(t < w, warmup, decay)


@dataclasses.dataclass(frozen=True)
class join_schedules:
    r"""Run schedules one after another, each restarting its count at its boundary.

    $$v(t) = f_i(t - b_i) \quad \text{for } b_i \le t < b_{i+1},
    \qquad b_0 = 0,\ b_{n+1} = \infty.$$

    Args:
        schedules: $f_0, \dots, f_n$; any callables of the step count (gradtx or Optax
            schedules). Stored as a tuple.
        boundaries: $b_1 \le \dots \le b_n$, $n$ non-negative integers, one fewer than the
            schedules. Stored as a tuple.

    Example:
        >>> import gradtx
        >>> warmup = gradtx.linear_schedule(0.0, 1.0, transition_steps=10)
        >>> decay = gradtx.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> sched = gradtx.join_schedules([warmup, decay], [10])
        >>> print(f"{sched(5):.3f} {sched(20):.3f}")
        0.500 0.500
    """

    schedules: Sequence[Schedule]
    boundaries: Sequence[int]

    def __post_init__(self) -> None:
        where = "join_schedules"
        schedules, boundaries = tuple(self.schedules), tuple(self.boundaries)
        if not schedules:
            raise ValueError(f"{where}: schedules must hold at least one schedule, got ()")
        for i, schedule in enumerate(schedules):
            if not callable(schedule):
                raise ValueError(
                    f"{where}: schedules[{i}] must be callable (a function of the step count), "
                    f"got {schedule!r}"
                )
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                f"{where}: boundaries must have len(schedules) - 1 = {len(schedules) - 1} "
                f"entries, got {len(boundaries)}: {boundaries!r}"
            )
        check_boundaries(where, "boundaries", boundaries)
        # Tuples: hashable, so equal schedules are one `jax.jit` cache entry.
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "boundaries", tuple(int(b) for b in boundaries))

    def __call__(self, count: ArrayLike) -> jax.Array:
        count = jnp.asarray(count)
        value = self.schedules[0](count)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            value = jnp.where(count < boundary, value, schedule(count - boundary))
        return as_float(value)
