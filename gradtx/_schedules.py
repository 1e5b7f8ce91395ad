r"""Schedules: a hyperparameter (usually the learning rate) as a function of the step count t.

Each schedule is a frozen dataclass holding only numbers, tuples of numbers or other schedules,
so a config can name it (`SCHEDULES`) and rebuild it from its fields. Calling it on a count, a
Python int or an int32 array, traced or not, returns an array in the default float dtype (float32,
or float64 under `jax_enable_x64`). The factories have Optax's names, argument order and defaults
and give Optax's values (to rounding), with three differences: they raise a ValueError where
Optax falls back or goes on silently (a non-positive length or power, a negative start, a NaN or
infinite value); a staircase steps exactly at t = kT (XLA turns Optax's floor(t / T) on arrays
into floor(t * (1 / T)), one step late at t = 49 for T = 49); and `polynomial_schedule` stays
finite after its transition under `jax.jit` (Optax's gives NaN there for a fractional power).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _validate
from gradtx._validate import check_non_negative, check_positive

Schedule = Callable[[jax.typing.ArrayLike], jax.Array]


def _as_float(count: jax.typing.ArrayLike) -> jax.Array:
    """The count (or a value) as an array of the default float dtype, unless already inexact."""
    x = jnp.asarray(count)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def _check_finite(where: str, **values: Any) -> None:
    """Each Python-number value must be finite: any sign, but not NaN or infinite."""
    for name, value in values.items():
        if _validate._is_number(value) and not math.isfinite(value):
            raise ValueError(f"{where}: {name} must be finite, got {value!r}")


def _check_boundaries(where: str, name: str, boundaries: Sequence[Any]) -> None:
    """Step boundaries must be non-negative integers in non-decreasing order."""
    ok = all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in boundaries)
    if not (ok and all(b >= 0 for b in boundaries) and list(boundaries) == sorted(boundaries)):
        raise ValueError(
            f"{where}: {name} must be non-negative integers in non-decreasing order, "
            f"got {boundaries!r}"
        )


def _polynomial(t: jax.Array, init_value, end_value, power, steps, begin) -> jax.Array:
    """(I - E) (1 - s / T)^P + E with s = clip(t - B, 0, T), as Optax computes it.

    Under `jax.jit` XLA turns 1 - s / T into a fused 1 - s * (1 / T), which at s = T is about
    +-1e-17 instead of 0 (NaN for a fractional P in Optax); the last step is set to 0 exactly.
    """
    s = jnp.clip(t - begin, 0, steps)
    frac = jnp.where(s < steps, 1 - s / steps, 0.0)
    return (init_value - end_value) * frac**power + end_value


def _steps_done(t: jax.Array, steps, staircase: bool) -> jax.Array:
    """t / T, or floor(t / T) computed exactly (XLA's t * (1 / T) gives floor(49 / 49) = 0)."""
    return jnp.floor_divide(t, steps) if staircase else t / steps


def _cosine(t: jax.Array, init_value, steps, alpha, exponent) -> jax.Array:
    """I ((1 - alpha) c^p + alpha), c = (1 + cos(pi min(t, T) / T)) / 2, the form Optax computes."""
    c = 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(t, steps) / steps))
    return init_value * ((1 - alpha) * c**exponent + alpha)


@dataclasses.dataclass(frozen=True)
class ConstantSchedule:
    """The schedule built by `constant_schedule`."""

    value: float

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        return jnp.zeros_like(_as_float(count)) + self.value


def constant_schedule(value: float) -> ConstantSchedule:
    """Hold a value fixed: v(t) = value.

    Args:
        value: the value at every step; any finite number.

    Example:
        >>> import gradtx
        >>> gradtx.constant_schedule(0.1)(1000)
        Array(0.1, dtype=float32)
    """
    _check_finite("constant_schedule", value=value)
    return ConstantSchedule(value)


@dataclasses.dataclass(frozen=True)
class ExponentialDecay:
    """The schedule built by `exponential_decay`."""

    init_value: float
    transition_steps: float
    decay_rate: float
    transition_begin: float = 0
    staircase: bool = False
    end_value: float | None = None

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        t = _as_float(count) - self.transition_begin
        p = _steps_done(t, self.transition_steps, self.staircase)
        value = jnp.where(t <= 0, self.init_value, self.init_value * jnp.power(self.decay_rate, p))
        if self.end_value is None:
            return value
        floor, ceiling = jnp.maximum(value, self.end_value), jnp.minimum(value, self.end_value)
        return jnp.where(self.decay_rate < 1, floor, ceiling)


def exponential_decay(
    init_value: float,
    transition_steps: float,
    decay_rate: float,
    transition_begin: float = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> ExponentialDecay:
    r"""Decay a value by a constant factor every `transition_steps` steps.

    v(t) = I                          for t <= B,
    v(t) = I r^{(t - B) / T}          for t > B   (exponent floor((t - B) / T) when staircase),

    then bounded below by `end_value` when r < 1, above when r > 1.

    Args:
        init_value: I, the value up to step B.
        transition_steps: T > 0, the steps over which the value is multiplied by r.
        decay_rate: r > 0, the factor per T steps.
        transition_begin: B >= 0, the step at which decay starts.
        staircase: if True, decay in jumps every T steps instead of continuously.
        end_value: if given, the value is never carried past it.

    Note: Optax returns the constant I when T <= 0 or r = 0 and clamps B < 0 to 0; gradtx raises.
    The staircase exponent is an exact floor division (see the module docstring).

    Example:
        >>> import gradtx
        >>> gradtx.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)(20)
        Array(0.25, dtype=float32)
    """
    where = "exponential_decay"
    _check_finite(where, init_value=init_value, end_value=end_value)
    check_positive(where, transition_steps=transition_steps, decay_rate=decay_rate)
    check_non_negative(where, transition_begin=transition_begin)
    return ExponentialDecay(
        init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )


@dataclasses.dataclass(frozen=True)
class PiecewiseConstantSchedule:
    """The schedule built by `piecewise_constant_schedule`; pairs (boundary, scale), sorted."""

    init_value: float
    boundaries_and_scales: tuple[tuple[int, float], ...] = ()

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        count = jnp.asarray(count)
        value = jnp.zeros_like(_as_float(count)) + self.init_value
        for boundary, scale in self.boundaries_and_scales:
            value = jnp.where(count < boundary, value, value * scale)
        return value


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: Mapping[int, float] | None = None
) -> PiecewiseConstantSchedule:
    r"""Step decay: multiply the value by a factor at each of some given steps.

    v(t) = I \prod_{i: t >= b_i} s_i

    Args:
        init_value: I, the value before the first boundary.
        boundaries_and_scales: `{b_i: s_i}`, steps b_i >= 0 (integers) and factors s_i >= 0.
            Stored as pairs sorted by step.

    References:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2
        (the learning rate divided by 10 at 32k and 48k iterations).

    Example:
        >>> import gradtx
        >>> sched = gradtx.piecewise_constant_schedule(0.1, {100: 0.1, 200: 0.1})
        >>> print(f"{sched(150):.3f} {sched(250):.4f}")
        0.010 0.0010
    """
    where = "piecewise_constant_schedule"
    _check_finite(where, init_value=init_value)
    pairs = tuple(sorted(dict(boundaries_and_scales or {}).items()))
    _check_boundaries(where, "the keys of boundaries_and_scales", [b for b, _ in pairs])
    check_non_negative(where, **{f"boundaries_and_scales[{b}]": s for b, s in pairs})
    return PiecewiseConstantSchedule(init_value, tuple((int(b), s) for b, s in pairs))


@dataclasses.dataclass(frozen=True)
class InverseTimeDecay:
    """The schedule built by `inverse_time_decay`."""

    init_value: float
    decay_steps: float
    decay_rate: float
    staircase: bool = False

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        p = _steps_done(_as_float(count), self.decay_steps, self.staircase)
        return self.init_value / (1 + self.decay_rate * p)


def inverse_time_decay(
    init_value: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> InverseTimeDecay:
    r"""Decay a value as the inverse of time: v(t) = I / (1 + r t / T).

    With `staircase`, t / T is replaced by floor(t / T). Optax has no such schedule; the semantics
    are those of Keras's `InverseTimeDecay`.

    Args:
        init_value: I, the value at t = 0.
        decay_steps: T > 0, the unit of time.
        decay_rate: r > 0; the value has halved when r t / T = 1.
        staircase: if True, decay in jumps every T steps instead of continuously.

    References:
        Bottou, "Stochastic Gradient Descent Tricks", Neural Networks: Tricks of the Trade, 2012
        (gamma_t = gamma_0 / (1 + gamma_0 lambda t)).

    Example:
        >>> import gradtx
        >>> gradtx.inverse_time_decay(1.0, decay_steps=10, decay_rate=1.0)(30)
        Array(0.25, dtype=float32)
    """
    where = "inverse_time_decay"
    _check_finite(where, init_value=init_value)
    check_positive(where, decay_steps=decay_steps, decay_rate=decay_rate)
    return InverseTimeDecay(init_value, decay_steps, decay_rate, staircase)


@dataclasses.dataclass(frozen=True)
class PolynomialSchedule:
    """The schedule built by `polynomial_schedule`."""

    init_value: float
    end_value: float
    power: float
    transition_steps: float
    transition_begin: float = 0

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        return _polynomial(
            _as_float(count),
            self.init_value,
            self.end_value,
            self.power,
            self.transition_steps,
            self.transition_begin,
        )


def polynomial_schedule(
    init_value: float,
    end_value: float,
    power: float,
    transition_steps: float,
    transition_begin: float = 0,
) -> PolynomialSchedule:
    r"""Move a value from I to E along a polynomial of degree P over T steps, starting at B.

    v(t) = (I - E) (1 - s / T)^P + E,   s = clip(t - B, 0, T):
    I up to step B, E from step B + T on.

    Args:
        init_value: I, the value up to step B.
        end_value: E, the value from step B + T on.
        power: P > 0; 1 is linear, 0.9 the "poly" policy of DeepLab.
        transition_steps: T > 0.
        transition_begin: B >= 0.

    Note: Optax returns the constant I when T <= 0 and clamps B < 0 to 0; gradtx raises. Optax
    accepts P <= 0, for which the value at t = B + T is I or infinite; gradtx raises.

    References:
        Chen, Papandreou, Kokkinos, Murphy & Yuille, "DeepLab: Semantic Image Segmentation with
        Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2018.

    Example:
        >>> import gradtx
        >>> gradtx.polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)(5)
        Array(0.25, dtype=float32)
    """
    where = "polynomial_schedule"
    _check_finite(where, init_value=init_value, end_value=end_value)
    check_positive(where, power=power, transition_steps=transition_steps)
    check_non_negative(where, transition_begin=transition_begin)
    return PolynomialSchedule(init_value, end_value, power, transition_steps, transition_begin)


@dataclasses.dataclass(frozen=True)
class LinearSchedule:
    """The schedule built by `linear_schedule`."""

    init_value: float
    end_value: float
    transition_steps: float
    transition_begin: float = 0

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        t, steps = _as_float(count), self.transition_steps
        return _polynomial(t, self.init_value, self.end_value, 1, steps, self.transition_begin)


def linear_schedule(
    init_value: float, end_value: float, transition_steps: float, transition_begin: float = 0
) -> LinearSchedule:
    r"""Move a value linearly from I to E over T steps, starting at step B; a linear warm-up.

    v(t) = I + (E - I) s / T,   s = clip(t - B, 0, T)   (`polynomial_schedule` with P = 1).

    Args:
        init_value: I, the value up to step B.
        end_value: E, the value from step B + T on.
        transition_steps: T > 0.
        transition_begin: B >= 0.

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017, Sec. 2.2
        (gradual warm-up).

    Example:
        >>> import gradtx
        >>> warmup = gradtx.linear_schedule(0.0, 0.1, transition_steps=100)
        >>> print(f"{warmup(50):.3f} {warmup(500):.3f}")
        0.050 0.100
    """
    where = "linear_schedule"
    _check_finite(where, init_value=init_value, end_value=end_value)
    check_positive(where, transition_steps=transition_steps)
    check_non_negative(where, transition_begin=transition_begin)
    return LinearSchedule(init_value, end_value, transition_steps, transition_begin)


@dataclasses.dataclass(frozen=True)
class CosineDecaySchedule:
    """The schedule built by `cosine_decay_schedule`."""

    init_value: float
    decay_steps: float
    alpha: float = 0.0
    exponent: float = 1.0

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        t = _as_float(count)
        return _cosine(t, self.init_value, self.decay_steps, self.alpha, self.exponent)


def cosine_decay_schedule(
    init_value: float, decay_steps: float, alpha: float = 0.0, exponent: float = 1.0
) -> CosineDecaySchedule:
    r"""Decay a value along half a cosine over T steps, to the fraction alpha of it.

    v(t) = I ((1 - alpha) c_t^p + alpha),   c_t = (1 + cos(pi min(t, T) / T)) / 2.

    Args:
        init_value: I, the value at t = 0.
        decay_steps: T > 0; the value is alpha I from step T on.
        alpha: the final value as a fraction of I; any finite number.
        exponent: p > 0, sharpens (p > 1) or flattens (p < 1) the curve.

    Note: Optax accepts p <= 0, for which the value at t = T is I or infinite; gradtx raises.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017
        (one cycle, without restarts).

    Example:
        >>> import gradtx
        >>> sched = gradtx.cosine_decay_schedule(1.0, decay_steps=100)
        >>> print(f"{sched(50):.3f} {sched(100):.3f}")
        0.500 0.000
    """
    where = "cosine_decay_schedule"
    _check_finite(where, init_value=init_value, alpha=alpha)
    check_positive(where, decay_steps=decay_steps, exponent=exponent)
    return CosineDecaySchedule(init_value, decay_steps, alpha, exponent)


@dataclasses.dataclass(frozen=True)
class CosineWarmupSchedule:
    """The schedule built by `cosine_warmup_schedule`."""

    init_value: float
    peak_value: float
    warmup_steps: float

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        s = jnp.clip(_as_float(count), 0, self.warmup_steps)
        rise = jnp.sin(jnp.pi * s / (2 * self.warmup_steps)) ** 2
        return self.init_value + (self.peak_value - self.init_value) * rise


def cosine_warmup_schedule(
    init_value: float, peak_value: float, warmup_steps: float
) -> CosineWarmupSchedule:
    r"""Raise a value from I to P along half a cosine over W steps, then hold it at P.

    v(t) = I + (P - I) (1 - cos(pi s / W)) / 2 = I + (P - I) sin^2(pi s / (2 W)),
    s = clip(t, 0, W).

    A gradtx schedule (Optax has none): a warm-up with zero slope at both ends, where
    `linear_schedule` jumps in slope at t = W. The sin^2 form is computed, so small values near
    t = 0 keep their relative precision in float32.

    Args:
        init_value: I, the value at t = 0.
        peak_value: P, the value from step W on.
        warmup_steps: W > 0.

    Example:
        >>> import gradtx
        >>> sched = gradtx.cosine_warmup_schedule(0.0, 1.0, warmup_steps=10)
        >>> print(f"{sched(5):.3f} {sched(10):.3f} {sched(99):.3f}")
        0.500 1.000 1.000
    """
    where = "cosine_warmup_schedule"
    _check_finite(where, init_value=init_value, peak_value=peak_value)
    check_positive(where, warmup_steps=warmup_steps)
    return CosineWarmupSchedule(init_value, peak_value, warmup_steps)


@dataclasses.dataclass(frozen=True)
class WarmupCosineDecaySchedule:
    """The schedule built by `warmup_cosine_decay_schedule`."""

    init_value: float
    peak_value: float
    warmup_steps: float
    decay_steps: float
    end_value: float = 0.0
    exponent: float = 1.0

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        t, w, peak = _as_float(count), self.warmup_steps, self.peak_value
        warmup = _polynomial(t, self.init_value, peak, 1, jnp.where(w > 0, w, 1), 0)
        safe_peak = jnp.where(peak == 0, 1, peak)
        alpha = jnp.where(peak == 0, 0.0, self.end_value / safe_peak)  # E / P, 0 if P = 0 (Optax)
        decay = _cosine(t - w, peak, self.decay_steps - w, alpha, self.exponent)
        return jnp.where(t < w, warmup, decay)


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: float,
    decay_steps: float,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> WarmupCosineDecaySchedule:
    r"""Linear warm-up from I to P over W steps, then cosine decay to E by step T.

    v(t) = I + (P - I) t / W                                   for t < W,
    v(t) = P ((1 - alpha) c_t^p + alpha),  alpha = E / P       for t >= W,
    c_t = (1 + cos(pi min(t - W, T - W) / (T - W))) / 2.

    As in Optax, alpha = 0 when P = 0, so that case decays to 0 whatever E.

    Args:
        init_value: I, the value at t = 0.
        peak_value: P, the value at t = W.
        warmup_steps: W >= 0; 0 means no warm-up.
        decay_steps: T > W, the length of the whole schedule, warm-up included.
        end_value: E, the value from step T on.
        exponent: p > 0, as in `cosine_decay_schedule`.

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017;
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Example:
        >>> import gradtx
        >>> sched = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
        >>> print(f"{sched(5):.3f} {sched(60):.3f} {sched(110):.3f}")
        0.500 0.500 0.000
    """
    where = "warmup_cosine_decay_schedule"
    _check_finite(where, init_value=init_value, peak_value=peak_value, end_value=end_value)
    check_non_negative(where, warmup_steps=warmup_steps)
    check_positive(where, decay_steps=decay_steps, exponent=exponent)
    numbers_given = _validate._is_number(warmup_steps) and _validate._is_number(decay_steps)
    if numbers_given and not decay_steps > warmup_steps:
        raise ValueError(
            f"{where}: decay_steps must be > warmup_steps = {warmup_steps!r} (it counts the "
            f"warm-up too), got {decay_steps!r}"
        )
    return WarmupCosineDecaySchedule(
        init_value, peak_value, warmup_steps, decay_steps, end_value, exponent
    )


@dataclasses.dataclass(frozen=True)
class JoinSchedules:
    """The schedule built by `join_schedules`."""

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        count = jnp.asarray(count)
        value = self.schedules[0](count)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            value = jnp.where(count < boundary, value, schedule(count - boundary))
        return _as_float(value)


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> JoinSchedules:
    r"""Run schedules one after another, each restarting its count at its boundary.

    v(t) = f_0(t) for t < b_1,   v(t) = f_i(t - b_i) for b_i <= t < b_{i+1}.

    Args:
        schedules: f_0, ..., f_n; any callables of the step count (gradtx or Optax schedules).
        boundaries: b_1 <= ... <= b_n, n non-negative integers, one fewer than the schedules.

    Example:
        >>> import gradtx
        >>> warmup = gradtx.linear_schedule(0.0, 1.0, transition_steps=10)
        >>> decay = gradtx.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> sched = gradtx.join_schedules([warmup, decay], [10])
        >>> print(f"{sched(5):.3f} {sched(20):.3f}")
        0.500 0.500
    """
    where = "join_schedules"
    schedules, boundaries = tuple(schedules), tuple(boundaries)
    if not schedules:
        raise ValueError(f"{where}: schedules must hold at least one schedule, got {schedules!r}")
    for i, schedule in enumerate(schedules):
        if not callable(schedule):
            raise ValueError(
                f"{where}: schedules[{i}] must be callable (a function of the step count), "
                f"got {schedule!r}"
            )
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"{where}: boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
            f"got {len(boundaries)}: {boundaries!r}"
        )
    _check_boundaries(where, "boundaries", boundaries)
    return JoinSchedules(schedules, tuple(int(b) for b in boundaries))


SCHEDULES: dict[str, type] = {
    "constant_schedule": ConstantSchedule,
    "exponential_decay": ExponentialDecay,
    "piecewise_constant_schedule": PiecewiseConstantSchedule,
    "inverse_time_decay": InverseTimeDecay,
    "polynomial_schedule": PolynomialSchedule,
    "linear_schedule": LinearSchedule,
    "cosine_decay_schedule": CosineDecaySchedule,
    "cosine_warmup_schedule": CosineWarmupSchedule,
    "warmup_cosine_decay_schedule": WarmupCosineDecaySchedule,
    "join_schedules": JoinSchedules,
}
