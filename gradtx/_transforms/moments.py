"""Adaptive scalers before Adam: each divides the update by a running statistic of past gradients.

Adagrad (`scale_by_rss`), Adadelta and RMSprop (`scale_by_rms`); the Adam family is in `_adam.py`.
Rules are written per array, computed in at least float32, and cast back to each leaf's dtype once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates


def _count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`."""

    sum_of_squares: Updates  # G_t, the running sum of squared gradients


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7, *, eps_in_sqrt: bool = True
) -> GradientTransformation:
    r"""Scale by the root of the sum of squared past gradients (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        u_t = g_t / \sqrt{G_t + \epsilon} \quad (u_t = 0 \text{ where } G_t = 0)

    or, with `eps_in_sqrt=False`, u_t = g_t / (\sqrt{G_t} + \epsilon).

    Args:
        initial_accumulator_value: G_0.
        eps: \epsilon.
        eps_in_sqrt: \epsilon inside the root (Optax, Keras) or outside it (torch.optim).

    Returns:
        A transformation with state `ScaleByRssState(sum_of_squares=G)`.

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011.

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
        s_new = _tree.as_stored(s.astype(dt) + _tree.abs_sq(g_), s)
        if eps_in_sqrt:
            scale = jnp.where(s_new > 0, jax.lax.rsqrt(s_new + eps_), 0)
        else:
            scale = 1 / (jnp.sqrt(s_new) + eps_)
        return (scale * g_).astype(g.dtype), _tree.cast_like(s_new, s)

    def update(updates, state, params=None):
        del params
        updates, sums = _tree.map_leaves(
            rule,
            updates,
            state.sum_of_squares,
            where="scale_by_rss",
            names=("sum_of_squares",),
            outputs=2,
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
        e_g_new = _tree.as_stored(_tree.ema(_tree.abs_sq(g_), e_g.astype(dt), rho_), e_g)
        u = jnp.sqrt(e_x.astype(dt) + eps_) / jnp.sqrt(e_g_new + eps_) * g_
        e_x_new = _tree.ema(_tree.abs_sq(u), e_x.astype(dt), rho_)
        return u.astype(g.dtype), _tree.cast_like(e_g_new, e_g), _tree.cast_like(e_x_new, e_x)

    def update(updates, state, params=None):
        del params
        updates, e_g, e_x = _tree.map_leaves(
            rule,
            updates,
            state.e_g,
            state.e_x,
            where="scale_by_adadelta",
            names=("e_g", "e_x"),
            outputs=3,
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
        v_new = _tree.as_stored(_tree.ema(_tree.abs_sq(g_), v.astype(dt), rho), v)
        m_new = None if m is None else _tree.as_stored(_tree.ema(g_, m.astype(dt), rho), m)
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
