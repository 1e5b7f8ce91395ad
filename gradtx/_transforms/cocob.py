"""COCOB: steps that bet a fraction of the reward won so far, with no learning rate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


def _real_only(where: str, updates: Any) -> None:
    """Raise a TypeError naming the first complex leaf: the bet compares magnitudes per real
    coordinate (maxima, a positive part), which a complex number has no order for."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(updates)[0]:
        if jnp.iscomplexobj(leaf):
            raise TypeError(
                f"{where}: updates leaf {_tree.path_name(path)} is complex "
                f"({jnp.result_type(leaf)}); COCOB bets on each real coordinate and takes maxima "
                "that complex numbers do not have. Optimize the real and imaginary parts as two "
                "real params."
            )


class ScaleByCocobState(NamedTuple):
    """State of `scale_by_cocob`."""

    params0: Updates  # x_1, the params at init
    grad_sum: Updates  # theta_t, the sum of negative gradients
    max_grad: Updates  # L_t, the largest |g| so far (eps at init)
    abs_grad_sum: Updates  # G_t, the sum of |g|
    reward: Updates  # R_t, the reward won so far


def scale_by_cocob(alpha: ArrayLike = 100.0, eps: ArrayLike = 1e-8) -> GradientTransformation:
    r"""Replace the update by COCOB-Backprop's coin-betting step, per parameter.

    With $x_t$ the params, $x_1$ the params at init and $L_0 = \epsilon$:

    $$L_t = \max(L_{t-1}, |g_t|), \qquad G_t = G_{t-1} + |g_t|, \qquad
    R_t = \max\big(R_{t-1} - g_t (x_t - x_1), 0\big), \qquad \theta_t = \theta_{t-1} - g_t,
    \\ u_t = x_1 + \frac{\theta_t}{L_t \max(G_t + L_t, \alpha L_t)} (L_t + R_t) - x_t$$

    so that $x_t + u_t$ is the bet $x_1 + \beta_t (L_t + R_t)$. `u_t` is already a descent
    step: chain no negative learning rate after it.

    Args:
        alpha: $\alpha > 0$, bounds the fraction bet early on (the paper uses 100).
        eps: $\epsilon > 0$, the initial $L_0$, so that the first division is defined.

    Returns:
        A transformation with state
        `ScaleByCocobState(params0, grad_sum, max_grad, abs_grad_sum, reward)` and no step
        count; its update needs the params.

    References:
        Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
        Betting", NeurIPS 2017, Algorithm 2 (COCOB-Backprop).

    Note:
        $G_0 = 0$, as in Optax 0.2.8 and the authors' TensorFlow code (Algorithm 2 starts
        $G_0 = L_0$). Optax's state keeps the params it was given at init; gradtx keeps a copy.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx, x = gradtx.scale_by_cocob(), jnp.zeros(2)
        >>> tx.update(jnp.asarray([1.0, -2.0]), tx.init(x), x)[0]
        Array([-0.01,  0.01], dtype=float32)
    """
    where = "scale_by_cocob"
    _validate.check_positive(where, alpha=alpha, eps=eps)

    def init(params):
        params0 = jax.tree.map(lambda x: jnp.array(x, jnp.result_type(x), copy=True), params)
        zeros = lambda: _tree.zeros_like(params)  # one buffer per field, so state can be donated
        max_grad = _tree.full_like(params, eps)
        return ScaleByCocobState(params0, zeros(), max_grad, zeros(), zeros())

    def moments(g, s, h):
        return s._replace(
            grad_sum=s.grad_sum - g,
            max_grad=jnp.maximum(s.max_grad, jnp.abs(g)),
            abs_grad_sum=s.abs_grad_sum + jnp.abs(g),
            reward=jnp.maximum(s.reward - g * (h.params - s.params0), 0),
        )

    def direction(g, s, h):
        L = s.max_grad
        fraction = s.grad_sum / (L * jnp.maximum(s.abs_grad_sum + L, h.alpha * L))
        return -h.params + (s.params0 + fraction * (L + s.reward))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                f"{where}: update needs the params (the bet is made around the initial params); "
                "call update(updates, state, params)"
            )
        _real_only(where, updates)
        inputs = {"params": params}
        phases = (moments, direction)
        return _tree.lift(where, phases, updates, state, inputs, alpha=alpha)

    return transformation(init, update)
