"""Clipping: bound each update element, or the norm of the whole update."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, stateless


def clip(max_delta: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Clip each update element to $[-\delta, \delta]$: $u_t = \min(\max(g_t, -\delta), \delta)$.

    Args:
        max_delta: $\delta$, >= 0 and finite. $\delta = 0$ zeros every update (allowed, if
            rarely useful); an array or traced value is not checked.

    Returns:
        A stateless transformation (`EmptyState`).

    References:
        Mikolov, "Statistical Language Models Based on Neural Networks", PhD thesis, Brno
        University of Technology, 2012 (elementwise clipping, as discussed by Pascanu, Mikolov &
        Bengio, ICML 2013).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.clip(1.0)
        >>> tx.update(jnp.asarray([-3.0, 0.5, 2.0]), tx.init(None))[0]
        Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    _validate.check_non_negative("clip", max_delta=max_delta)

    def rule(g):
        dt = _tree.compute_dtype(g)
        (delta,) = _tree.as_dtype(dt, max_delta)
        return jnp.clip(g.astype(dt), -delta, delta).astype(g.dtype)

    return stateless(lambda updates, params: _tree.map_leaves(rule, updates, where="clip"))


def clip_by_global_norm(max_norm: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Rescale the whole update so its global norm is at most $c$ (exploding gradients).

    $$\|g_t\| = \sqrt{\textstyle\sum_{\text{leaves } \ell} \sum_i |g_{t,\ell,i}|^2}, \qquad
    u_t = g_t \cdot \min(1, c / \|g_t\|)$$

    One norm over all leaves, so the direction of the update is kept. A zero gradient passes
    through unchanged (the factor is 1: no division by zero, and a finite derivative). The norm
    is computed in the leaves' promoted dtype, at least float32.

    Args:
        max_norm: $c$, > 0 and finite.

    Returns:
        A stateless transformation (`EmptyState`).

    References:
        Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
        ICML 2013, Algorithm 1.

    Note:
        A non-finite gradient is not repaired: a NaN norm leaves the updates unchanged and an
        infinite one turns them into 0 or NaN. Wrap the optimizer in `apply_if_finite` for that.
        Optax keeps $g$ where $\|g\| < c$ and computes $g / \|g\| \cdot c$ otherwise; the
        results agree to rounding.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-3))
    """
    _validate.check_positive("clip_by_global_norm", max_norm=max_norm)

    def update(updates, params):
        del params
        norm_sq = _tree.squared_norm(updates)
        c = jnp.asarray(max_norm, norm_sq.dtype)
        too_long = norm_sq > c * c
        # The inner where keeps 0 out of sqrt and 1/x, so the derivative at g = 0 is finite too.
        factor = jnp.where(too_long, c / jnp.sqrt(jnp.where(too_long, norm_sq, 1)), 1)

        def rule(g):
            dt = _tree.compute_dtype(g)
            return (g.astype(dt) * factor.astype(dt)).astype(g.dtype)

        return _tree.map_leaves(rule, updates, where="clip_by_global_norm")

    return stateless(update)
