"""The stochastic Polyak step size: how far the loss is above its minimum, over the gradient's
squared norm."""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    init_empty_state,
    transformation,
)

VARIANTS = ("sps", "sps+")
# Below this squared norm (plus eps) the step is 0: float64's machine epsilon, as in Optax.
_TINY = float(jnp.finfo(jnp.float64).eps)


def scale_by_polyak(
    f_min: ArrayLike = 0.0,
    max_learning_rate: ArrayLike = 1.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""Scale updates by the stochastic Polyak step size (SPS$_{max}$), given the loss `value`.

    $$\gamma_t = \min\Big(\frac{f(\theta_t) - f^*}{\|g_t\|^2 + \epsilon},\ \gamma_{max}\Big),
    \qquad u_t = \gamma_t\, g_t$$

    with $\gamma_t = 0$ where $\|g_t\|^2 + \epsilon \le 2^{-52}$, and, for `variant="sps+"`,
    the gap $f(\theta_t) - f^*$ replaced by its positive part. The squared norm runs over the
    whole tree: one step size for every leaf.

    Args:
        f_min: $f^*$, a lower bound on (a guess of) the loss's minimum.
        max_learning_rate: $\gamma_{max}$, the largest step size.
        eps: $\epsilon$, added to the squared norm.
        variant: `"sps"` (Loizou et al.) or `"sps+"` (Garrigos et al.: the gap's positive part).

    Returns:
        A `GradientTransformationExtraArgs` with state `EmptyState()`, whose update takes the loss
        $f(\theta_t)$ as `update(updates, state, params, value=loss)`.

    References:
        Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
        Adaptive Learning Rate for Fast Convergence", AISTATS 2021, Eq. (5) (SPS$_{max}$ with
        c = 1).
        Garrigos, Gower & Schaipp, "Function Value Learning: Adaptive Learning Rates Based on the
        Polyak Stepsize and Function Splitting in ERM", arXiv:2307.14528, 2023.

    Note:
        Descending needs a negative learning rate after it: `polyak_sgd` chains
        `scale_by_learning_rate`. The paper's $c$ is `1 / scaling` there.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_polyak()
        >>> tx.update(jnp.asarray([3.0, 4.0]), tx.init(jnp.zeros(2)), value=12.5)[0]
        Array([1.5, 2. ], dtype=float32)
    """
    where = "scale_by_polyak"
    _validate.check_finite(where, f_min=f_min)
    _validate.check_non_negative(where, max_learning_rate=max_learning_rate, eps=eps)
    if variant not in VARIANTS:
        _validate._fail(where, "variant", variant, "'sps' or 'sps+'")

    def update(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        _validate.check_loss(where, value)
        squared = _tree.squared_norm(updates)
        dtype = squared.dtype
        gap = jnp.asarray(value).astype(dtype) - jnp.asarray(f_min).astype(dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = squared + jnp.asarray(eps).astype(dtype)
        step = jnp.where(
            denominator <= _TINY,
            jnp.zeros([], dtype),
            jnp.minimum(gap / denominator, jnp.asarray(max_learning_rate).astype(dtype)),
        )

        def rule(g):
            dt = _tree.compute_dtype(g, step)
            return (step.astype(dt) * g.astype(dt)).astype(g.dtype)

        return _tree.map_leaves(rule, updates, where=where), state

    return transformation(init_empty_state, update, extra_args=True)
