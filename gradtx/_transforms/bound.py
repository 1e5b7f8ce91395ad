"""The AdaBound dynamic bound (Luo et al. 2019), shared by AdaBound and AMSBound.

An adaptive method's per-element step size is clipped into a band that starts wide and closes
on a final SGD learning rate, so training moves smoothly from Adam-like to SGD-like. Here the band
is one transformation, `bound_lr`, wrapped around any *step-size* transformation: one that maps
g_t to positive per-element step sizes s_t for a unit learning rate. Two are provided:
`rms_step_size` (Adam's denominator, giving AdaBound) and `max_rms_step_size` (AMSGrad's, giving
AMSBound).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, OptState, ScalarOrSchedule, Updates, transformation
from gradtx._transforms.scaling import learning_rate_at


class RmsStepSizeState(NamedTuple):
    """State of `rms_step_size` and `max_rms_step_size`."""

    count: jax.Array  # shape (), int32: the step t
    nu: Updates  # v_t, the running average of squared gradients
    nu_max: Updates  # max_{k<=t} v_k for `max_rms_step_size`, else None


def _rms_step_size(where: str, b2: float, eps: float, running_max: bool) -> GradientTransformation:
    _validate.check_interval(where, b2=b2)
    _validate.check_non_negative(where, eps=eps)

    def init(params):
        nu_max = _tree.zeros_like(params) if running_max else None
        return RmsStepSizeState(_tree.zero_count(), _tree.zeros_like(params), nu_max)

    def accumulate(g, s, h):
        return s._replace(nu=_tree.ema(_tree.abs_sq(g), s.nu, h.b2))

    def maximum(g, s, h):
        return s if s.nu_max is None else s._replace(nu_max=jnp.maximum(s.nu_max, s.nu))

    def step_size(g, s, h):
        nu = s.nu if s.nu_max is None else s.nu_max
        return jnp.sqrt(_tree.bias_correction(h.b2, h.count, g.dtype)) / (jnp.sqrt(nu) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        phases = (accumulate, maximum, step_size)
        steps, state = _tree.lift(where, phases, updates, state, count=count, b2=b2, eps=eps)
        return steps, state._replace(count=count)

    return transformation(init, update, where=where)


def rms_step_size(b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8) -> GradientTransformation:
    r"""Map gradients to Adam's per-element step sizes (for a unit learning rate).

    $$v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
    s_t = \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon)$$

    The output is a tree of positive step sizes, not an update: wrap it in `bound_lr`.

    Args:
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, added to the root of the uncorrected $v_t$ (the reference AdaBound's form).

    Returns:
        A transformation with state `RmsStepSizeState(count, nu)`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 2 (the
        "more efficient" ordering with $\hat\epsilon$).

    Example:
        >>> import gradtx
        >>> adabound = gradtx.bound_lr(gradtx.rms_step_size(), learning_rate=1e-3)
    """
    return _rms_step_size("rms_step_size", b2, eps, running_max=False)


def max_rms_step_size(b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8) -> GradientTransformation:
    r"""Map gradients to AMSGrad's per-element step sizes (for a unit learning rate).

    $$v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
    v^{max}_t = \max(v^{max}_{t-1}, v_t), \qquad
    s_t = \sqrt{1-\beta_2^t} / (\sqrt{v^{max}_t} + \epsilon)$$

    The maximum is taken over the uncorrected $v_t$, as in the reference AMSBound.

    Args:
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, added to the root of the running maximum.

    Returns:
        A transformation with state `RmsStepSizeState(count, nu)`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.

    Example:
        >>> import gradtx
        >>> amsbound = gradtx.bound_lr(gradtx.max_rms_step_size(), learning_rate=1e-3)
    """
    return _rms_step_size("max_rms_step_size", b2, eps, running_max=True)


class BoundLrState(NamedTuple):
    """State of `bound_lr`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the (uncorrected) first moment
    step_size: OptState  # the state of the wrapped step-size transformation


def _band(final_lr, gamma, count, dtype):
    """AdaBound's [lower_t, upper_t] around final_lr."""
    t = count.astype(dtype)
    return final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))


def bound_lr(
    step_size: GradientTransformation,
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: ArrayLike = 0.1,
    gamma: ArrayLike = 1e-3,
    *,
    b1: ArrayLike = 0.9,
) -> GradientTransformation:
    r"""Clip each element's learning rate into AdaBound's closing band, then apply momentum.

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad s_t = \mathrm{step\_size}(g_t),
    \\ \eta^*_t = \eta^*\,\eta_t/\eta_0, \qquad
    l_t = \eta^*_t \left(1 - \frac{1}{\gamma t + 1}\right), \qquad
    h_t = \eta^*_t \left(1 + \frac{1}{\gamma t}\right),
    \\ u_t = -\,\mathrm{clip}\!\left(\frac{\eta_t s_t}{1-\beta_1^t},\ l_t,\ h_t\right) m_t$$

    Args:
        step_size: a transformation mapping $g_t$ to positive per-element step sizes $s_t$, e.g.
            `rms_step_size` (AdaBound) or `max_rms_step_size` (AMSBound).
        learning_rate: $\eta_t$, a non-negative number or a schedule; $\eta_0$ is its value at the
            first step.
        final_lr: $\eta^*$, the SGD learning rate the band closes on; > 0.
        gamma: $\gamma$, the speed at which the band closes; > 0.
        b1: $\beta_1$ of the first moment, in [0, 1).

    Returns:
        A transformation with state `BoundLrState(count, mu, step_size)`. Its output already
        carries the learning rate and the descent sign: chain nothing after it but weight decay or
        clipping of the final step.

    References:
        Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of Learning Rate",
        ICLR 2019, Algorithms 2 and 3; the authors' `adabound` package (PyTorch).

    Note:
        This follows the authors' reference implementation, not the paper: the paper clips
        $\eta/\sqrt{V_t}$ and then divides by $\sqrt{t}$; the reference has no $1/\sqrt{t}$,
        clips the bias-corrected step
        $\eta_t \sqrt{1-\beta_2^t}/((1-\beta_1^t)(\sqrt{v_t}+\epsilon))$, and multiplies
        the clipped step by the uncorrected $m_t$. The reference also scales final_lr by
        $\eta_t/\eta_0$ so that a learning-rate schedule moves the band; so does `bound_lr` (with
        $\eta_0 = 0$, e.g. a warm-up from zero, the band is not rescaled).

    Example:
        >>> import gradtx
        >>> amsbound = gradtx.bound_lr(gradtx.max_rms_step_size(0.999), 1e-3, final_lr=0.1)
    """
    _validate.check_transformation("bound_lr", "step_size", step_size)
    _validate.check_scalar_or_schedule("bound_lr", "learning_rate", learning_rate)
    _validate.check_positive("bound_lr", final_lr=final_lr, gamma=gamma)
    _validate.check_interval("bound_lr", b1=b1)

    def init(params):
        return BoundLrState(_tree.zero_count(), _tree.zeros_like(params), step_size.init(params))

    def accumulate(g, s, h):
        return s._replace(mu=_tree.ema(g, s.mu, h.b1))

    def direction(g, s, h):
        ratio = jnp.where(h.base_lr > 0, h.lr / jnp.where(h.base_lr > 0, h.base_lr, 1), 1)
        lower, upper = _band(h.final_lr * ratio, h.gamma, h.count, g.dtype)
        step = h.step_sizes * (h.lr / _tree.bias_correction(h.b1, h.count, g.dtype))  # scalar first
        eta = jnp.clip(jnp.real(step), jnp.real(lower), jnp.real(upper)).astype(g.dtype)
        return -eta * s.mu

    def update(updates, state, params=None):
        steps, step_state = step_size.update(updates, state.step_size, params)
        hyperparams = dict(
            lr=learning_rate_at(learning_rate, state.count),
            base_lr=learning_rate_at(learning_rate, _tree.zero_count()),
            count=_tree.safe_increment(state.count),
            b1=b1,
            final_lr=final_lr,
            gamma=gamma,
        )
        phases = (accumulate, direction)
        inputs = {"step_sizes": steps}
        updates, state = _tree.lift("bound_lr", phases, updates, state, inputs, **hyperparams)
        return updates, state._replace(count=hyperparams["count"], step_size=step_state)

    return transformation(init, update)
