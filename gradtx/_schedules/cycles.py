r"""Schedules that rise and fall: piecewise interpolation, one-cycle, warm-ups, warm restarts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx._schedules.common import as_float, check_boundaries
from gradtx._schedules.decay import exponential_decay
from gradtx._schedules.polynomial import _polynomial
from gradtx._schedules.warmup import warmup_cosine_decay_schedule
from gradtx._validate import check_finite, check_interval, check_non_negative, check_positive

_INTERPOLATE = {
    "linear": lambda start, end, pct: (end - start) * pct + start,
    "cosine": lambda start, end, pct: end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1),
}


def _pairs(where: str, boundaries_and_scales: Any) -> tuple[tuple[int, Any], ...]:
    """`{b_i: s_i}` (or pairs) as pairs sorted by step, steps checked, scales >= 0."""
    pairs = tuple(sorted(dict(boundaries_and_scales or {}).items()))
    check_boundaries(where, "the keys of boundaries_and_scales", [b for b, _ in pairs])
    check_non_negative(where, **{f"boundaries_and_scales[{b}]": s for b, s in pairs})
    return tuple((int(b), s) for b, s in pairs)


@dataclasses.dataclass(frozen=True)
class piecewise_interpolate_schedule:
    r"""Interpolate, linearly or along half a cosine, between values scaled at given steps.

    $$v_0 = I, \quad v_i = v_{i-1} s_i, \qquad
    v(t) = f\Big(v_i, v_{i+1}, \frac{t - b_i}{\max(b_{i+1} - b_i, 1)}\Big)
    \ \text{ for } b_i \le t < b_{i+1}, \qquad v(t) = v_n \ \text{ for } t \ge b_n,$$

    with $b_0 = 0$ and $f(a, b, p) = a + (b - a)p$ (`"linear"`) or
    $b + (a - b)(1 + \cos \pi p)/2$ (`"cosine"`).

    Args:
        interpolate_type: `"linear"` or `"cosine"`, the form of $f$.
        init_value: $I$, the value at $t = 0$.
        boundaries_and_scales: `{b_i: s_i}`, steps $b_i \ge 0$ (integers) and factors
            $s_i \ge 0$; $v(t)$ reaches $v_i = I \prod_{j \le i} s_j$ at $t = b_i$. Stored as
            pairs `(b_i, s_i)` sorted by step, which it also accepts.

    Note: Optax's value is 0 at a negative count; gradtx's is $I$ (counts start at 0).

    Example:
        >>> import gradtx
        >>> sched = gradtx.piecewise_interpolate_schedule("linear", 1.0, {10: 2.0, 20: 0.5})
        >>> print(f"{sched(5):.2f} {sched(10):.2f} {sched(15):.2f} {sched(99):.2f}")
        1.50 2.00 1.50 1.00
    """

    interpolate_type: str
    init_value: ArrayLike
    boundaries_and_scales: Mapping[int, ArrayLike] | Iterable[tuple[int, ArrayLike]] | None = None

    def __post_init__(self) -> None:
        where = "piecewise_interpolate_schedule"
        if self.interpolate_type not in _INTERPOLATE:
            raise ValueError(
                f"{where}: interpolate_type must be 'linear' or 'cosine', "
                f"got {self.interpolate_type!r}"
            )
        check_finite(where, init_value=self.init_value)
        # Sorted pairs: hashable, so equal schedules are one `jax.jit` cache entry.
        object.__setattr__(self, "boundaries_and_scales", _pairs(where, self.boundaries_and_scales))

    def __call__(self, count: ArrayLike) -> jax.Array:
        t = as_float(count)
        interpolate = _INTERPOLATE[self.interpolate_type]
        start, value = 0, jnp.zeros_like(t) + self.init_value
        result = value
        for boundary, scale in self.boundaries_and_scales:
            end = value * scale
            pct = (t - start) / max(boundary - start, 1)
            result = jnp.where(t < start, result, interpolate(value, end, pct))
            start, value = boundary, end
        return jnp.where(t < start, result, value)


def _check_onecycle(where: str, transition_steps: Any, **values: Any) -> None:
    check_positive(where, transition_steps=transition_steps)
    check_finite(where, peak_value=values.pop("peak_value"))
    check_positive(where, **values)


def _increasing(where: str, boundaries: tuple[Any, ...], names: str) -> None:
    """One-cycle boundaries must increase: Optax's dict of them silently drops a repeated one."""
    concrete = all(isinstance(b, int) for b in boundaries)
    if concrete and not all(a < b for a, b in zip(boundaries, boundaries[1:], strict=False)):
        raise ValueError(
            f"{where}: the phase boundaries {names} must increase, got {boundaries}; raise "
            "transition_steps or move pct_start and pct_final apart"
        )


@dataclasses.dataclass(frozen=True)
class linear_onecycle_schedule:
    r"""One cycle in three linear phases: up to the peak, back down, then annealing (Smith).

    With $I = P/d$, boundaries $b_1 = \lfloor p_s T \rfloor$, $b_2 = \lfloor p_f T \rfloor$, $T$:
    `piecewise_interpolate_schedule("linear", I, {b_1: d, b_2: 1/d, T: 1/D})`, i.e.
    $I \nearrow P$ over $[0, b_1]$, $P \searrow I$ over $[b_1, b_2]$, $I \searrow I/D$ over
    $[b_2, T]$, and $I/D$ after.

    Args:
        transition_steps: $T > 0$, the length of the cycle.
        peak_value: $P$, the value at $b_1$.
        pct_start: $p_s$, in [0, 1): the fraction of the cycle spent rising.
        pct_final: $p_f$, in [0, 1), with $b_1 < b_2 < T$: where annealing starts.
        div_factor: $d > 0$; the cycle starts at $P/d$.
        final_div_factor: $D > 0$; it ends at $P/(dD)$.

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2017 (arXiv:1708.07120).

    Note: where $b_1$, $b_2$ and $T$ are not distinct (a short cycle), Optax's dict of
    boundaries keeps the last scale of a repeated step and the cycle loses a phase silently
    (with $T = 5$, the defaults never reach $P$); gradtx raises.

    Example:
        >>> import gradtx
        >>> sched = gradtx.linear_onecycle_schedule(100, 1.0)
        >>> print(f"{sched(0):.2f} {sched(30):.2f} {sched(85):.2f}")
        0.04 1.00 0.04
    """

    transition_steps: ArrayLike
    peak_value: ArrayLike
    pct_start: ArrayLike = 0.3
    pct_final: ArrayLike = 0.85
    div_factor: ArrayLike = 25.0
    final_div_factor: ArrayLike = 1e4

    def __post_init__(self) -> None:
        where = "linear_onecycle_schedule"
        check_interval(where, pct_start=self.pct_start, pct_final=self.pct_final)
        factors = dict(div_factor=self.div_factor, final_div_factor=self.final_div_factor)
        _check_onecycle(where, self.transition_steps, peak_value=self.peak_value, **factors)
        _increasing(where, self._boundaries(), "(int(pct_start * T), int(pct_final * T), T)")

    def _boundaries(self) -> tuple[Any, Any, Any]:
        steps = self.transition_steps
        return int(self.pct_start * steps), int(self.pct_final * steps), steps

    def __call__(self, count: ArrayLike) -> jax.Array:
        d = self.div_factor
        b1, b2, steps = self._boundaries()
        scales = {b1: d, b2: 1.0 / d, steps: 1.0 / self.final_div_factor}
        return piecewise_interpolate_schedule("linear", self.peak_value / d, scales)(count)


@dataclasses.dataclass(frozen=True)
class cosine_onecycle_schedule:
    r"""One cycle in two half-cosine phases: up to the peak, then down to a small value.

    With $I = P/d$ and $b_1 = \lfloor p_s T \rfloor$:
    `piecewise_interpolate_schedule("cosine", I, {b_1: d, T: 1/(dD)})`, i.e. $I \nearrow P$ over
    $[0, b_1]$, $P \searrow P/(dD)$ over $[b_1, T]$, and $P/(dD)$ after.

    Args:
        transition_steps: $T > 0$, the length of the cycle.
        peak_value: $P$, the value at $b_1$.
        pct_start: $p_s$, in [0, 1): the fraction of the cycle spent rising.
        div_factor: $d > 0$; the cycle starts at $P/d$.
        final_div_factor: $D > 0$; it ends at $P/(dD)$.

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2017 (arXiv:1708.07120).

    Note: Optax accepts $p_s \ge 1$, for which its dict of boundaries drops the rise; gradtx
    raises.

    Example:
        >>> import gradtx
        >>> sched = gradtx.cosine_onecycle_schedule(100, 1.0)
        >>> print(f"{sched(0):.2f} {sched(30):.2f} {sched(100):.6f}")
        0.04 1.00 0.000004
    """

    transition_steps: ArrayLike
    peak_value: ArrayLike
    pct_start: ArrayLike = 0.3
    div_factor: ArrayLike = 25.0
    final_div_factor: ArrayLike = 1e4

    def __post_init__(self) -> None:
        where = "cosine_onecycle_schedule"
        check_interval(where, pct_start=self.pct_start)
        factors = dict(div_factor=self.div_factor, final_div_factor=self.final_div_factor)
        _check_onecycle(where, self.transition_steps, peak_value=self.peak_value, **factors)

    def __call__(self, count: ArrayLike) -> jax.Array:
        d, steps = self.div_factor, self.transition_steps
        scales = {int(self.pct_start * steps): d, steps: 1.0 / (d * self.final_div_factor)}
        return piecewise_interpolate_schedule("cosine", self.peak_value / d, scales)(count)


def _warmup(t: jax.Array, init_value: Any, peak_value: Any, warmup_steps: Any) -> jax.Array:
    """The linear warm-up $I + (P - I) t/W$ for $t < W$, $P$ after; $P$ throughout when $W = 0$."""
    steps = jnp.where(warmup_steps > 0, warmup_steps, 1)
    warm = _polynomial(t, init_value, peak_value, 1, steps, 0)
    return jnp.where(t < warmup_steps, warm, jnp.zeros_like(warm) + peak_value)


@dataclasses.dataclass(frozen=True)
class warmup_constant_schedule:
    r"""Linear warm-up from $I$ to $P$ over $W$ steps, then hold $P$.

    $$v(t) = I + (P - I)\, \min(t, W)/W.$$

    Args:
        init_value: $I$, the value at $t = 0$.
        peak_value: $P$, the value from step $W$ on.
        warmup_steps: $W \ge 0$; 0 means no warm-up.

    Note: Optax's schedule with $W = 0$ is the constant $I$: it never reaches the peak. gradtx's
    is the constant $P$, as "no warm-up" means.

    Example:
        >>> import gradtx
        >>> sched = gradtx.warmup_constant_schedule(0.0, 1.0, warmup_steps=10)
        >>> print(f"{sched(5):.2f} {sched(50):.2f}")
        0.50 1.00
    """

    init_value: ArrayLike
    peak_value: ArrayLike
    warmup_steps: ArrayLike

    def __post_init__(self) -> None:
        where = "warmup_constant_schedule"
        check_finite(where, init_value=self.init_value, peak_value=self.peak_value)
        check_non_negative(where, warmup_steps=self.warmup_steps)

    def __call__(self, count: ArrayLike) -> jax.Array:
        return _warmup(as_float(count), self.init_value, self.peak_value, self.warmup_steps)


@dataclasses.dataclass(frozen=True)
class warmup_exponential_decay_schedule:
    r"""Linear warm-up from $I$ to $P$ over $W$ steps, then `exponential_decay` from $P$.

    $$v(t) = \begin{cases} I + (P - I)\, t/W & t < W, \\
    \mathrm{exponential\_decay}(P, T, r, B, \text{staircase}, E)(t - W) & t \ge W. \end{cases}$$

    Args:
        init_value: $I$, the value at $t = 0$.
        peak_value: $P$, the value at $t = W$.
        warmup_steps: $W \ge 0$; 0 means no warm-up.
        transition_steps: $T > 0$, as in `exponential_decay`.
        decay_rate: $r > 0$, the factor per $T$ steps.
        transition_begin: $B \ge 0$, steps after the warm-up before the decay starts.
        staircase: if True, decay in jumps every $T$ steps.
        end_value: if given, the value is never carried past it.

    Note: as `exponential_decay`, gradtx raises where Optax falls back to a constant
    ($T \le 0$, $r = 0$) and steps exactly at $t - W - B = kT$.

    Example:
        >>> import gradtx
        >>> sched = gradtx.warmup_exponential_decay_schedule(0.0, 1.0, 10, 10, 0.5)
        >>> print(f"{sched(5):.2f} {sched(30):.2f}")
        0.50 0.25
    """

    init_value: ArrayLike
    peak_value: ArrayLike
    warmup_steps: ArrayLike
    transition_steps: ArrayLike
    decay_rate: ArrayLike
    transition_begin: ArrayLike = 0
    staircase: bool = False
    end_value: ArrayLike | None = None

    def __post_init__(self) -> None:
        where = "warmup_exponential_decay_schedule"
        check_finite(where, init_value=self.init_value, peak_value=self.peak_value)
        check_non_negative(where, warmup_steps=self.warmup_steps)
        self._decay()  # checks the decay's arguments

    def _decay(self) -> exponential_decay:
        return exponential_decay(
            self.peak_value,
            self.transition_steps,
            self.decay_rate,
            self.transition_begin,
            self.staircase,
            self.end_value,
        )

    def __call__(self, count: ArrayLike) -> jax.Array:
        t, w = as_float(count), self.warmup_steps
        warm = _warmup(t, self.init_value, self.peak_value, w)
        return jnp.where(t < w, warm, self._decay()(t - w))


def _as_cycle(where: str, i: int, cycle: Any) -> warmup_cosine_decay_schedule:
    if isinstance(cycle, warmup_cosine_decay_schedule):
        return cycle
    if not isinstance(cycle, Mapping):
        raise ValueError(
            f"{where}: cosine_kwargs[{i}] must be a dict of warmup_cosine_decay_schedule's "
            f"arguments, got {cycle!r}"
        )
    return warmup_cosine_decay_schedule(**cycle)


@dataclasses.dataclass(frozen=True)
class sgdr_schedule:
    r"""Stochastic gradient descent with warm restarts: warm-up-and-cosine cycles, end to end.

    $$v(t) = f_i(t - c_i) \quad \text{for } c_i \le t < c_{i+1}, \qquad
    c_0 = 0, \ c_{i+1} = c_i + T_i,$$

    where $f_i$ is `warmup_cosine_decay_schedule(**cosine_kwargs[i])` and $T_i$ its
    `decay_steps`; the last cycle holds its end value after $c_n$.

    Args:
        cosine_kwargs: one dict of `warmup_cosine_decay_schedule` arguments per cycle (or the
            schedules themselves). Stored as a tuple of those schedules.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Example:
        >>> import gradtx
        >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=100)
        >>> sched = gradtx.sgdr_schedule([cycle, cycle])
        >>> print(f"{sched(10):.2f} {sched(99):.4f} {sched(110):.2f}")
        1.00 0.0003 1.00
    """

    cosine_kwargs: Iterable[Mapping[str, ArrayLike] | warmup_cosine_decay_schedule]

    def __post_init__(self) -> None:
        where = "sgdr_schedule"
        cycles = tuple(_as_cycle(where, i, c) for i, c in enumerate(self.cosine_kwargs))
        if not cycles:
            raise ValueError(f"{where}: cosine_kwargs must hold at least one cycle, got ()")
        object.__setattr__(self, "cosine_kwargs", cycles)

    def __call__(self, count: ArrayLike) -> jax.Array:
        t = as_float(count)
        start, value = 0, self.cosine_kwargs[0](t)
        for previous, cycle in zip(self.cosine_kwargs, self.cosine_kwargs[1:], strict=False):
            start = start + previous.decay_steps
            value = jnp.where(t < start, value, cycle(t - start))
        return value
