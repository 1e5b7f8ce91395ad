"""Adaptive scalers before Adam: each divides the update by a running statistic of past gradients.

Adagrad (`scale_by_rss`), Adadelta and RMSprop (`scale_by_rms`); the Adam family is in `_adam.py`.
Rules are written per array, computed in at least float32, and cast back to each leaf's dtype once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


class ScaleByRssState(NamedTuple):
    """State of `scale_by_rss`."""

    sum_of_squares: Updates  # G_t, the running sum of squared gradients


def scale_by_rss(
    initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7, *, eps_in_sqrt: bool = True
) -> GradientTransformation:
    r"""Scale by the root of the sum of squared past gradients (Adagrad).

    $$G_t = G_{t-1} + g_t^2, \qquad
    u_t = g_t / \sqrt{G_t + \epsilon} \quad (u_t = 0 \text{ where } G_t = 0)$$

    or, with `eps_in_sqrt=False`, $u_t = g_t / (\sqrt{G_t} + \epsilon)$.

    Args:
        initial_accumulator_value: $G_0$.
        eps: $\epsilon$.
        eps_in_sqrt: $\epsilon$ inside the root (Optax, Keras) or outside it (torch.optim).

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

    def accumulate(g, s, h):
        return s._replace(sum_of_squares=s.sum_of_squares + _tree.abs_sq(g))

    def direction(g, s, h):
        if eps_in_sqrt:
            return jnp.where(s.sum_of_squares > 0, jax.lax.rsqrt(s.sum_of_squares + h.eps), 0) * g
        return 1 / (jnp.sqrt(s.sum_of_squares) + h.eps) * g

    def update(updates, state, params=None):
        del params
        return _tree.lift("scale_by_rss", (accumulate, direction), updates, state, eps=eps)

    return transformation(init, update)


class ScaleByAdadeltaState(NamedTuple):
    """State of `scale_by_adadelta`."""

    e_g: Updates  # E[g^2]_t, the running average of squared gradients
    e_x: Updates  # E[dx^2]_t, the running average of squared updates


def scale_by_adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> GradientTransformation:
    r"""Scale by the ratio of RMS past updates to RMS past gradients (Adadelta).

    $$E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
    u_t = \frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,
    \qquad E[\Delta x^2]_t = \rho E[\Delta x^2]_{t-1} + (1-\rho) u_t^2$$

    Args:
        rho: the decay $\rho$, in [0, 1).
        eps: $\epsilon$, in both roots.

    Returns:
        A transformation with state `ScaleByAdadeltaState(e_g, e_x)`.

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012, Algorithm 1.

    Note:
        The output has the gradient's sign; Zeiler's step is $x_{t+1} = x_t - u_t$, so follow it by
        `scale_by_learning_rate(1.0)` (what `adadelta()` does when no learning rate is given).

    Example:
        >>> import gradtx
        >>> zeiler = gradtx.chain(gradtx.scale_by_adadelta(), gradtx.scale_by_learning_rate(1.0))
    """
    _validate.check_interval("scale_by_adadelta", rho=rho)
    _validate.check_non_negative("scale_by_adadelta", eps=eps)

    def init(params):
        return ScaleByAdadeltaState(_tree.zeros_like(params), _tree.zeros_like(params))

    def accumulate(g, s, h):
        return s._replace(e_g=_tree.ema(_tree.abs_sq(g), s.e_g, h.rho))

    def direction(g, s, h):
        u = jnp.sqrt(s.e_x + h.eps) / jnp.sqrt(s.e_g + h.eps) * g
        return u, s._replace(e_x=_tree.ema(_tree.abs_sq(u), s.e_x, h.rho))

    def update(updates, state, params=None):
        del params
        phases = (accumulate, direction)
        return _tree.lift("scale_by_adadelta", phases, updates, state, rho=rho, eps=eps)

    return transformation(init, update)


class ScaleByRmsState(NamedTuple):
    """State of `scale_by_rms`."""

    count: jax.Array  # shape (), int32: the step t (used by `bias_correction`)
    nu: Updates  # v_t, the running average of squared gradients
    mu: Updates  # m_t, the running average of gradients when `centered`, else None


def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
) -> GradientTransformation:
    r"""Scale by the root of a running average of squared gradients (RMSprop).

    $$v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
    u_t = g_t / \sqrt{v_t + \epsilon} \quad\text{or}\quad u_t = g_t / (\sqrt{v_t} + \epsilon)$$

    With `centered`, $v_t$ is replaced by the variance estimate $v_t - m_t^2$, where
    $m_t = \rho m_{t-1} + (1-\rho) g_t$ (Graves 2013). With `bias_correction`, $v_t$ and $m_t$
    are divided by $1 - \rho^t$ first.

    Args:
        decay: $\rho$, in [0, 1).
        eps: $\epsilon$.
        initial_scale: $v_0$ (TensorFlow's RMSprop starts at 1).
        eps_in_sqrt: put $\epsilon$ inside the root (Optax) or outside it (torch.optim, Keras).
        bias_correction: divide the averages by $1 - \rho^t$. `eps_in_sqrt` and
            `bias_correction` are positional, in Optax's order; `centered` is keyword-only.
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
        return ScaleByRmsState(_tree.zero_count(), _tree.full_like(params, initial_scale), mu)

    def accumulate(g, s, h):
        nu = _tree.ema(_tree.abs_sq(g), s.nu, h.decay)
        return s._replace(nu=nu, mu=None if s.mu is None else _tree.ema(g, s.mu, h.decay))

    def direction(g, s, h):
        correction = _tree.bias_correction(h.decay, h.count, g.dtype) if bias_correction else 1
        second = s.nu / correction
        if s.mu is not None:  # a variance: rounding must not take it below zero
            second = jnp.maximum(second - _tree.abs_sq(s.mu / correction), 0)
        if eps_in_sqrt:
            return jax.lax.rsqrt(second + h.eps) * g
        return 1 / (jnp.sqrt(second) + h.eps) * g

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        phases = (accumulate, direction)
        hyperparams = dict(count=count, decay=decay, eps=eps)
        updates, state = _tree.lift("scale_by_rms", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


def scale_by_stddev(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""Scale by the root of a running estimate of the gradients' variance (centered RMSprop).

    $$m_t = \rho m_{t-1} + (1-\rho) g_t, \qquad v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
    u_t = g_t / \sqrt{v_t - m_t^2 + \epsilon} \quad\text{or}\quad
    u_t = g_t / (\sqrt{v_t - m_t^2} + \epsilon)$$

    Optax's name for `scale_by_rms(..., centered=True)`, which it is: the same arguments in
    Optax's order, and `scale_by_rms`'s state.

    Args:
        decay: $\rho$, in [0, 1).
        eps: $\epsilon$.
        initial_scale: $v_0$.
        eps_in_sqrt: put $\epsilon$ inside the root (the default) or outside it.
        bias_correction: divide $m_t$ and $v_t$ by $1 - \rho^t$ first.

    Returns:
        A transformation with state `ScaleByRmsState(count, nu, mu)` (Optax's state is
        `ScaleByRStdDevState(mu, nu)`, with a count only under `bias_correction`: gradtx keeps
        one state type whatever the flags).

    References:
        Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850, 2013,
        Eq. 38-45. Optax 0.2.8, `optax.scale_by_stddev` (same rule).

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_stddev(0.9), gradtx.scale_by_learning_rate(1e-3))
    """
    arguments = dict(
        decay=decay,
        eps=eps,
        initial_scale=initial_scale,
        eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction,
    )
    with _validate.calling("scale_by_stddev", arguments):
        return scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)
