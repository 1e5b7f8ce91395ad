"""Layer-wise trust ratios (LARS, LAMB, Fromage): scale each leaf's update to its parameter's norm.

Each parameter array (a layer's weights, say) gets one factor, the ratio of its norm to its
update's norm, so that a step changes every layer by the same relative amount.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, stateless


def _clipped_norm(x: jax.Array, min_norm: jax.Array) -> jax.Array:
    """max(||x||, min_norm), with a finite gradient at ||x|| = 0 (no sqrt of 0 differentiated)."""
    norm = jnp.sqrt(jnp.sum(jnp.real(_tree.abs_sq(x))))
    small = norm <= min_norm
    safe = jnp.sqrt(jnp.sum(jnp.real(_tree.abs_sq(jnp.where(small, jnp.ones_like(x), x)))))
    return jnp.where(small, min_norm, safe)


def scale_by_trust_ratio(
    min_norm: ArrayLike = 0.0, trust_coefficient: ArrayLike = 1.0, eps: ArrayLike = 0.0
) -> GradientTransformation:
    r"""Scale each leaf's update by the ratio of its parameter's norm to the update's norm.

    Per leaf (each parameter array $\theta$ with update $g$), with Frobenius norms:

    $$\|\theta\|_{+} = \max(\|\theta\|, n_{min}), \qquad \|g\|_{+} = \max(\|g\|, n_{min}),
    \qquad r = \begin{cases} 1 & \|\theta\|_{+} = 0 \text{ or } \|g\|_{+} = 0 \\
    \dfrac{c \, \|\theta\|_{+}}{\|g\|_{+} + \epsilon} & \text{otherwise} \end{cases}, \qquad
    u = r \, g$$

    The norms and the ratio are computed in float32 or wider, whatever the leaf's dtype. A zero
    parameter (a bias at its initial value, say) or a zero update keeps its update as it is
    ($r = 1$) instead of never moving; a positive $n_{min}$ clips the norms instead.

    Args:
        min_norm: $n_{min}$, >= 0: the least norm of a parameter or an update.
        trust_coefficient: $c$, >= 0: LARS' trust coefficient $\eta$.
        eps: $\epsilon$, >= 0, added to the update's norm.

    Returns:
        A stateless transformation (state `EmptyState()`); `update` needs the params.

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", arXiv:1708.03888,
        2017, Algorithm 1. You et al., "Large Batch Optimization for Deep Learning: Training BERT
        in 76 minutes", ICLR 2020, Algorithm 2.

    Note:
        As in Optax, the ratio is 1 where either norm is zero even when $\epsilon > 0$ would
        define it; LAMB's paper has $\phi(\|\theta\|)$ with a scaling function $\phi$ that this
        leaves as the identity.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_trust_ratio()
        >>> params = jnp.array([3.0, 4.0])  # norm 5
        >>> tx.update(jnp.array([0.0, 0.5]), tx.init(params), params)[0]  # update norm 0.5
        Array([0., 5.], dtype=float32)
    """
    _validate.check_non_negative(
        "scale_by_trust_ratio", min_norm=min_norm, trust_coefficient=trust_coefficient, eps=eps
    )

    def rule(g, p):
        dtype = _tree.compute_dtype(g, p)
        n_min, c, eps_ = _tree.as_dtype(jnp.finfo(dtype).dtype, min_norm, trust_coefficient, eps)
        g_ = g.astype(dtype)
        param_norm = _clipped_norm(p.astype(dtype), n_min)
        update_norm = _clipped_norm(g_, n_min)
        ratio = c * param_norm / (update_norm + eps_)
        ratio = jnp.where((param_norm == 0) | (update_norm == 0), 1, ratio)
        return (g_ * ratio.astype(dtype)).astype(g.dtype)

    def update(updates, params):
        if params is None:
            raise ValueError(
                "scale_by_trust_ratio: update needs the params whose norms it takes; call "
                "update(updates, state, params)"
            )
        return _tree.map_leaves(
            rule, updates, params, where="scale_by_trust_ratio", names=("params",)
        )

    return stateless(update)
