"""ACProp: AdaBelief's centred second moment, used asynchronously (one step late)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


class ScaleByAcpropState(NamedTuple):
    """State of `scale_by_acprop`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the average of gradients
    nu: Updates  # s_t, the average of squared prediction errors


def scale_by_acprop(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
) -> GradientTransformation:
    r"""Scale the gradient by the root of the centred second moment of the steps before (ACProp).

    $$u_t = \frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon}, \qquad
    \hat s_{t-1} = \frac{s_{t-1}}{1-\beta_2^{t-1}} \ (\hat s_0 = 1),
    \\ m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    s_t = \beta_2 s_{t-1} + (1-\beta_2) (g_t - m_{t-1})^2 + \epsilon_{root}$$

    The numerator is the gradient itself and the denominator holds only earlier gradients, so the
    two are independent ("asynchronous"); $m$ only centres the second moment. The first step is
    $g_1 / (1 + \epsilon)$.

    Args:
        b1: $\beta_1$, in [0, 1): decay of the gradient average $m_t$.
        b2: $\beta_2$, in [0, 1): decay of the second moment $s_t$.
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, added to $s_t$ at every step.

    Returns:
        A transformation with state `ScaleByAcpropState(count, mu, nu)` (nu is $s_t$).

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021 (arXiv:2110.05454).

    Note:
        As Optax 0.2.8's code does: the prediction error is $g_t - m_{t-1}$, against the mean
        before this gradient (Optax's `acprop` docstring writes $g_t - m_t$, as AdaBelief has
        it), and the first step divides by 1. Optax stores this state as a `ScaleByBeliefState`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_acprop()
        >>> tx.update(jnp.asarray([2.0, -3.0]), tx.init(jnp.zeros(2)))[0]
        Array([ 2., -3.], dtype=float32)
    """
    where = "scale_by_acprop"
    _validate.check_interval(where, b1=b1, b2=b2)
    _validate.check_non_negative(where, eps=eps, eps_root=eps_root)

    def init(params):
        mu, nu = _tree.zeros_like(params), _tree.zeros_like(params)
        return ScaleByAcpropState(_tree.zero_count(), mu, nu)

    def direction(g, s, h):
        s_hat = jnp.where(h.first, 1, s.nu / _tree.bias_correction(h.b2, h.earlier, g.dtype))
        error = g - s.mu
        nu = _tree.ema(_tree.abs_sq(error), s.nu, h.b2) + h.eps_root
        return g / (jnp.sqrt(s_hat) + h.eps), s._replace(mu=_tree.ema(g, s.mu, h.b1), nu=nu)

    def update(updates, state, params=None):
        del params
        hyperparams = dict(
            first=state.count == 0,
            earlier=jnp.maximum(state.count, 1),  # t - 1, kept >= 1 so that 1 - b2^0 never divides
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
        )
        updates, state = _tree.lift(where, (direction,), updates, state, **hyperparams)
        return updates, state._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)
