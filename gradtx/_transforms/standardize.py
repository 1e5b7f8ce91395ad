"""Rescaling the update by its own statistics: subtract its mean (gradient centralization), or
divide it by its global norm."""

from __future__ import annotations

import jax

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, stateless


def centralize() -> GradientTransformation:
    r"""Subtract from each row of every matrix (or tensor) leaf its mean (gradient centralization).

    $$u_{t,i,\cdot} = g_{t,i,\cdot} - \operatorname{mean}(g_{t,i,\cdot})$$

    For a leaf of rank >= 2 the mean runs over every axis but the first; leaves of rank 0 and 1
    (biases, scales) pass unchanged. The mean is taken in at least float32.

    Returns:
        A stateless transformation (`EmptyState`).

    References:
        Yong, Huang, Hua & Zhang, "Gradient Centralization: A New Optimization Technique for
        Deep Neural Networks", ECCV 2020, Eq. 2. Optax 0.2.8, `optax.centralize` (same rule).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.centralize()
        >>> tx.update(jnp.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]]), tx.init(None))[0]
        Array([[-1.,  0.,  1.],
               [-2., -1.,  3.]], dtype=float32)
    """

    def rule(g):
        if g.ndim <= 1:
            return g
        dt = _tree.compute_dtype(g)
        g_ = g.astype(dt)
        return (g_ - g_.mean(tuple(range(1, g.ndim)), keepdims=True)).astype(g.dtype)

    return stateless(lambda updates, params: _tree.map_leaves(rule, updates, where="centralize"))


def normalize_by_update_norm(
    scale_factor: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 1e-6
) -> GradientTransformation:
    r"""Divide the updates by their global norm plus eps, times a scale factor.

    $$u_t = s \, g_t / (\|g_t\| + \epsilon)$$

    Args:
        scale_factor: $s$, finite and non-zero (e.g. $-\eta$ for a normalized descent step).
        eps: $\epsilon$, >= 0 and finite; it keeps a zero gradient zero.

    Returns:
        A stateless transformation (`EmptyState`).

    References:
        Optax 0.2.8, `optax.normalize_by_update_norm` (computes $g / ((\|g\| + \epsilon) / s)$,
        equal to rounding); normalized gradient descent, e.g. Hazan, Levy & Shalev-Shwartz,
        "Beyond Convexity: Stochastic Quasi-Convex Optimization", NeurIPS 2015.

    Note:
        Unlike `normalize` (no eps, $u = 0$ at $g = 0$), the eps here is Optax's: the step length
        is $|s| \|g\| / (\|g\| + \epsilon)$, slightly below $|s|$.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.normalize_by_update_norm(scale_factor=-1.0, eps=0.0)
        >>> tx.update(jnp.asarray([3.0, 4.0]), tx.init(None))[0]
        Array([-0.6, -0.8], dtype=float32)
    """
    _validate.check_finite("normalize_by_update_norm", scale_factor=scale_factor)
    if _validate.is_number(scale_factor) and scale_factor == 0:
        raise ValueError(
            "normalize_by_update_norm: scale_factor must be non-zero (it divides the norm), "
            f"got {scale_factor!r}; use set_to_zero() for zero updates"
        )
    _validate.check_non_negative("normalize_by_update_norm", eps=eps)

    def update(updates, params):
        del params
        norm = _tree.norm(updates)
        eps_, s = _tree.as_dtype(norm.dtype, eps, scale_factor)
        divisor = (norm + eps_) / s

        def rule(g):
            dt = _tree.compute_dtype(g, divisor)
            return (g.astype(dt) / divisor.astype(dt)).astype(g.dtype)

        return _tree.map_leaves(rule, updates, where="normalize_by_update_norm")

    return stateless(update)
