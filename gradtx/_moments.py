"""Adaptive scalers: each divides the update by a running statistic of past gradients.

Adagrad (`scale_by_rss`), Adadelta, RMSprop (`scale_by_rms`), Adam and Nadam (`scale_by_adam`),
AdaMax and AMSGrad. Rules are written per array, computed in at least float32, and cast back to
each leaf's dtype once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates


def _count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`."""

    sum_of_squares: Updates  # G_t, the running sum of squared gradients


def scale_by_rss(initial_accumulator_value: float = 0.1, eps: float = 1e-7) -> GradientTransformation:
    r"""Scale by the root of the sum of squared past gradients (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad u_t = g_t / \sqrt{G_t + \epsilon} \quad (u_t = 0 \text{ where } G_t = 0)

    Args:
        initial_accumulator_value: G_0.
        eps: \epsilon, inside the root.

    Returns:
        A transformation with state `ScaleByRssState(sum_of_squares=G)`.

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011.

    Note:
        \epsilon sits inside the root, as in Optax; torch.optim adds it outside.

    Example:
        >>> import gradtx
        >>> adagrad = gradtx.chain(gradtx.scale_by_rss(), gradtx.scale_by_learning_rate(0.1))
    """
    _validate.check_non_negative(
        "scale_by_rss", initial_accumulator_value=initial_accumulator_value, eps=eps
    )

    def init(params):
        return ScaleByRssState(_tree.full_like(params, initial_accumulator_value))

    def rule(g, s):
        dt = _tree.compute_dtype(g, s)
        (eps_,) = _tree.as_dtype(dt, eps)
        g_ = g.astype(dt)
        s_new = s.astype(dt) + _tree.abs_sq(g_)
        scale = jnp.where(s_new > 0, jax.lax.rsqrt(s_new + eps_), 0)
        return (scale * g_).astype(g.dtype), _tree.cast_like(s_new, s)

    def update(updates, state, params=None):
        del params
        updates, sums = _tree.map_leaves(
            rule, updates, state.sum_of_squares, where="scale_by_rss", names=("sum_of_squares",), outputs=2
        )
        return updates, ScaleByRssState(sums)

    return GradientTransformation(init, update)


class ScaleByAdadeltaState(NamedTuple):
    """State of `scale_by_adadelta`."""

    e_g: Updates  # E[g^2]_t, the running average of squared gradients
    e_x: Updates  # E[dx^2]_t, the running average of squared updates


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    r"""Scale by the ratio of RMS past updates to RMS past gradients (Adadelta).

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        u_t = \frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,
        \qquad E[\Delta x^2]_t = \rho E[\Delta x^2]_{t-1} + (1-\rho) u_t^2

    Args:
        rho: the decay \rho, in [0, 1).
        eps: \epsilon, in both roots.

    Returns:
        A transformation with state `ScaleByAdadeltaState(e_g, e_x)`.

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012, Algorithm 1.

    Note:
        The output has the gradient's sign; Zeiler's step is x_{t+1} = x_t - u_t, so follow it by
        `scale_by_learning_rate(1.0)` (what `adadelta()` does when no learning rate is given).

    Example:
        >>> import gradtx
        >>> zeiler = gradtx.chain(gradtx.scale_by_adadelta(), gradtx.scale_by_learning_rate(1.0))
    """
    _validate.check_interval("scale_by_adadelta", rho=rho)
    _validate.check_non_negative("scale_by_adadelta", eps=eps)

    def init(params):
        return ScaleByAdadeltaState(_tree.zeros_like(params), _tree.zeros_like(params))

    def rule(g, e_g, e_x):
        dt = _tree.compute_dtype(g, e_g, e_x)
        rho_, eps_ = _tree.as_dtype(dt, rho, eps)
        g_ = g.astype(dt)
        e_g_new = _tree.ema(_tree.abs_sq(g_), e_g.astype(dt), rho_)
        u = jnp.sqrt(e_x.astype(dt) + eps_) / jnp.sqrt(e_g_new + eps_) * g_
        e_x_new = _tree.ema(_tree.abs_sq(u), e_x.astype(dt), rho_)
        return u.astype(g.dtype), _tree.cast_like(e_g_new, e_g), _tree.cast_like(e_x_new, e_x)

    def update(updates, state, params=None):
        del params
        updates, e_g, e_x = _tree.map_leaves(
            rule, updates, state.e_g, state.e_x, where="scale_by_adadelta", names=("e_g", "e_x"), outputs=3
        )
        return updates, ScaleByAdadeltaState(e_g, e_x)

    return GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    """State of `scale_by_rms`."""

    count: jax.Array  # shape (), int32: the step t (used by `bias_correction`)
    nu: Updates  # v_t, the running average of squared gradients
    mu: Updates  # m_t, the running average of gradients when `centered`, else None


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
) -> GradientTransformation:
    r"""Scale by the root of a running average of squared gradients (RMSprop).

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        u_t = g_t / \sqrt{v_t + \epsilon} \quad\text{or}\quad u_t = g_t / (\sqrt{v_t} + \epsilon)

    With `centered`, v_t is replaced by the variance estimate v_t - m_t^2, where
    m_t = \rho m_{t-1} + (1-\rho) g_t (Graves 2013). With `bias_correction`, v_t and m_t are
    divided by 1 - \rho^t first.

    Args:
        decay: \rho, in [0, 1).
        eps: \epsilon.
        initial_scale: v_0 (TensorFlow's RMSprop starts at 1).
        eps_in_sqrt: put \epsilon inside the root (Optax) or outside it (torch.optim, Keras).
        bias_correction: divide the averages by 1 - \rho^t.
        centered: divide by the root of the variance rather than of the second moment.

    Returns:
        A transformation with state `ScaleByRmsState(count, nu, mu)`; mu is None unless centered.

    References:
        Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", lecture 6e, 2012.
        Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850, 2013.

    Example:
        >>> import gradtx
        >>> rmsprop = gradtx.chain(gradtx.scale_by_rms(0.9), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_rms", decay=decay)
    _validate.check_non_negative("scale_by_rms", eps=eps, initial_scale=initial_scale)

    def init(params):
        mu = _tree.zeros_like(params) if centered else None
        return ScaleByRmsState(_count(), _tree.full_like(params, initial_scale), mu)

    def rule(count, g, v, m=None):
        dt = _tree.compute_dtype(g, v)
        rho, eps_ = _tree.as_dtype(dt, decay, eps)
        g_ = g.astype(dt)
        v_new = _tree.ema(_tree.abs_sq(g_), v.astype(dt), rho)
        m_new = None if m is None else _tree.ema(g_, m.astype(dt), rho)
        correction = _tree.bias_correction(rho, count, dt) if bias_correction else 1
        second = v_new / correction
        if m_new is not None:  # a variance: rounding must not take it below zero
            second = jnp.maximum(second - _tree.abs_sq(m_new / correction), 0)
        scaling = jax.lax.rsqrt(second + eps_) if eps_in_sqrt else 1 / (jnp.sqrt(second) + eps_)
        u = (scaling * g_).astype(g.dtype)
        if m is None:
            return u, _tree.cast_like(v_new, v)
        return u, _tree.cast_like(v_new, v), _tree.cast_like(m_new, m)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        trees, names = ((state.nu, state.mu), ("nu", "mu")) if centered else ((state.nu,), ("nu",))
        updates, nu, *mu = _tree.map_leaves(
            lambda *leaves: rule(count, *leaves),
            updates,
            *trees,
            where="scale_by_rms",
            names=names,
            outputs=1 + len(trees),
        )
        mu = mu[0] if centered else None
        return updates, ScaleByRmsState(count, nu, mu)

    return GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam` and `scale_by_adamax`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the first moment
    nu: Updates  # v_t, the second moment (Adam) or the infinity norm u_t (AdaMax)


def _nesterov_mean(m, g, b1, count, dt):
    """Nadam's look-ahead mean: b1 m_t / (1 - b1^{t+1}) + (1 - b1) g_t / (1 - b1^t)."""
    ahead = _tree.bias_correction(b1, count.astype(dt) + 1, dt)  # t + 1 without int32 overflow
    return b1 * m / ahead + (1 - b1) * g / _tree.bias_correction(b1, count, dt)


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Scale by bias-corrected estimates of the first and second moments (Adam, Nadam).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
        \\ \hat m_t = m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t), \qquad
        u_t = \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)

    With `nesterov` (Nadam), \hat m_t becomes
    \beta_1 m_t / (1-\beta_1^{t+1}) + (1-\beta_1) g_t / (1-\beta_1^t).

    Args:
        b1: \beta_1, in [0, 1).
        b2: \beta_2, in [0, 1).
        eps: \epsilon, outside the root.
        eps_root: \epsilon_{root}, inside the root (keeps gradients through the update finite).
        mu_dtype: dtype in which m_t is stored; the params' dtype by default.
        nesterov: use Nadam's look-ahead first moment.
        nu_dtype: dtype in which v_t is stored; the params' dtype by default.

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

    Note:
        Nadam as in Optax and Keras' common simplification: Dozat's momentum schedule
        \mu_t is the constant \beta_1, and \hat v_t is not multiplied by \beta_2.

    Example:
        >>> import gradtx
        >>> adam = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_adam", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_adam", eps=eps, eps_root=eps_root)

    def init(params):
        return ScaleByAdamState(
            _count(), _tree.zeros_like(params, mu_dtype), _tree.zeros_like(params, nu_dtype)
        )

    def rule(count, g, m, v):
        dt = _tree.compute_dtype(g, m, v)
        b1_, b2_, eps_, eps_root_ = _tree.as_dtype(dt, b1, b2, eps, eps_root)
        g_ = g.astype(dt)
        m_new = _tree.ema(g_, m.astype(dt), b1_)
        v_new = _tree.ema(_tree.abs_sq(g_), v.astype(dt), b2_)
        if nesterov:
            m_hat = _nesterov_mean(m_new, g_, b1_, count, dt)
        else:
            m_hat = m_new / _tree.bias_correction(b1_, count, dt)
        v_hat = v_new / _tree.bias_correction(b2_, count, dt)
        u = m_hat / (jnp.sqrt(v_hat + eps_root_) + eps_)
        return u.astype(g.dtype), _tree.cast_like(m_new, m), _tree.cast_like(v_new, v)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        updates, mu, nu = _tree.map_leaves(
            lambda g, m, v: rule(count, g, m, v),
            updates,
            state.mu,
            state.nu,
            where="scale_by_adam",
            names=("mu", "nu"),
            outputs=3,
        )
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


def scale_by_adamax(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    r"""Scale by the first moment over an exponentially weighted infinity norm (AdaMax).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u^{\infty}_t = \max(\beta_2 u^{\infty}_{t-1}, |g_t| + \epsilon), \qquad
        u_t = \frac{m_t / (1-\beta_1^t)}{u^{\infty}_t}

    Args:
        b1: \beta_1, in [0, 1).
        b2: \beta_2, in [0, 1).
        eps: \epsilon, added to |g_t| inside the max so that the division is safe.

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`; nu holds u^\infty.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1,
        Algorithm 2.

    Note:
        The paper has no \epsilon; Optax puts it inside the max (as here), torch.optim too, Keras
        adds it to the denominator instead.

    Example:
        >>> import gradtx
        >>> adamax = gradtx.chain(gradtx.scale_by_adamax(), gradtx.scale_by_learning_rate(2e-3))
    """
    _validate.check_interval("scale_by_adamax", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_adamax", eps=eps)

    def init(params):
        return ScaleByAdamState(_count(), _tree.zeros_like(params), _tree.zeros_like(params))

    def rule(count, g, m, v):
        dt = _tree.compute_dtype(g, m, v)
        b1_, b2_, eps_ = _tree.as_dtype(dt, b1, b2, eps)
        g_ = g.astype(dt)
        m_new = _tree.ema(g_, m.astype(dt), b1_)
        v_new = jnp.maximum(jnp.abs(g_) + eps_, b2_ * v.astype(dt))
        u = m_new / _tree.bias_correction(b1_, count, dt) / v_new
        return u.astype(g.dtype), _tree.cast_like(m_new, m), _tree.cast_like(v_new, v)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        updates, mu, nu = _tree.map_leaves(
            lambda g, m, v: rule(count, g, m, v),
            updates,
            state.mu,
            state.nu,
            where="scale_by_adamax",
            names=("mu", "nu"),
            outputs=3,
        )
        return updates, ScaleByAdamState(count, mu, nu)

    return GradientTransformation(init, update)


class ScaleByAmsgradState(NamedTuple):
    """State of `scale_by_amsgrad`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t
    nu: Updates  # v_t
    nu_max: Updates  # \hat v^{max}_t, the running maximum of \hat v_t


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    r"""Scale like Adam, but by the running maximum of the second moment (AMSGrad).

    .. math::
        \hat v^{max}_t = \max(\hat v^{max}_{t-1}, \hat v_t), \qquad
        u_t = \hat m_t / (\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon)

    with m_t, v_t and their bias corrections as in `scale_by_adam`.

    Args:
        b1: \beta_1, in [0, 1).
        b2: \beta_2, in [0, 1).
        eps: \epsilon, outside the root.
        eps_root: \epsilon_{root}, inside the root.
        mu_dtype: dtype in which m_t is stored.

    Returns:
        A transformation with state `ScaleByAmsgradState(count, mu, nu, nu_max)`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.

    Note:
        The maximum is taken over bias-corrected \hat v_t, as in Optax; the paper uses no bias
        correction, and torch.optim takes the maximum of the uncorrected v_t.

    Example:
        >>> import gradtx
        >>> amsgrad = gradtx.chain(gradtx.scale_by_amsgrad(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_amsgrad", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_amsgrad", eps=eps, eps_root=eps_root)

    def init(params):
        zeros = _tree.zeros_like(params)
        return ScaleByAmsgradState(_count(), _tree.zeros_like(params, mu_dtype), zeros, zeros)

    def rule(count, g, m, v, v_max):
        dt = _tree.compute_dtype(g, m, v)
        b1_, b2_, eps_, eps_root_ = _tree.as_dtype(dt, b1, b2, eps, eps_root)
        g_ = g.astype(dt)
        m_new = _tree.ema(g_, m.astype(dt), b1_)
        v_new = _tree.ema(_tree.abs_sq(g_), v.astype(dt), b2_)
        v_max_new = jnp.maximum(v_max.astype(dt), v_new / _tree.bias_correction(b2_, count, dt))
        m_hat = m_new / _tree.bias_correction(b1_, count, dt)
        u = m_hat / (jnp.sqrt(v_max_new + eps_root_) + eps_)
        return (
            u.astype(g.dtype),
            _tree.cast_like(m_new, m),
            _tree.cast_like(v_new, v),
            _tree.cast_like(v_max_new, v_max),
        )

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        updates, mu, nu, nu_max = _tree.map_leaves(
            lambda *leaves: rule(count, *leaves),
            updates,
            state.mu,
            state.nu,
            state.nu_max,
            where="scale_by_amsgrad",
            names=("mu", "nu", "nu_max"),
            outputs=4,
        )
        return updates, ScaleByAmsgradState(count, mu, nu, nu_max)

    return GradientTransformation(init, update)
