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


def _unitwise_norm(x: jax.Array, axis: int | tuple[int, ...] | None) -> jax.Array:
    """The 2-norm of each unit of `x`, broadcast to x's shape: over `axis`, else over the whole
    of a scalar or vector, axis 0 of a rank-2 or rank-3 leaf (inputs of each output unit), axes
    (0, 1, 2) of rank 4 (HWIO convolutions), (0, 1, 2, 3) of rank 5 (DHWIO)."""
    if axis is None:
        defaults = {2: 0, 3: 0, 4: (0, 1, 2), 5: (0, 1, 2, 3)}
        if jnp.squeeze(x).ndim <= 1:
            axis = tuple(range(x.ndim))
        elif x.ndim in defaults:
            axis = defaults[x.ndim]
        else:
            raise ValueError(
                f"adaptive_grad_clip: a leaf of shape {x.shape} has no default unit; pass axis= "
                "(the axes each unit's norm runs over)"
            )
    squared = jnp.sum(_tree.abs_sq(x), axis=axis, keepdims=True)
    return jnp.broadcast_to(jnp.sqrt(squared), x.shape)


def adaptive_grad_clip(
    clipping: jax.typing.ArrayLike,
    eps: jax.typing.ArrayLike = 1e-3,
    axis: int | tuple[int, ...] | None = None,
) -> GradientTransformation:
    r"""Clip each unit's update to at most $\lambda$ times its parameters' norm (AGC).

    $$u = g \text{ if } \|g\|_\text{unit} < \lambda \max(\|\theta\|_\text{unit}, \epsilon),
    \text{ else } g \cdot \lambda \max(\|\theta\|_\text{unit}, \epsilon) /
    \max(\|g\|_\text{unit}, 10^{-6})$$

    A unit is a slice of a leaf (see `axis`): the norms are unit-wise, so one output unit with
    large gradients does not shrink the others.

    Args:
        clipping: $\lambda$, > 0 and finite (the paper uses 0.01 to 0.16).
        eps: $\epsilon$, >= 0 and finite: zero-initialized params still allow steps.
        axis: the axes each unit's norm runs over; None: a scalar or vector leaf is one unit,
            rank 2 and 3 reduce axis 0, rank 4 axes (0, 1, 2), rank 5 axes (0, 1, 2, 3).

    Returns:
        A stateless transformation (`EmptyState`); its update needs the params.

    References:
        Brock, De, Smith & Simonyan, "High-Performance Large-Scale Image Recognition Without
        Normalization", ICML 2021, Section 4.1. Optax 0.2.8, `optax.adaptive_grad_clip` (same
        rule and defaults).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.adaptive_grad_clip(0.1)
        >>> params = jnp.asarray([3.0, 4.0])
        >>> tx.update(jnp.asarray([6.0, 8.0]), tx.init(params), params)[0]
        Array([0.3, 0.4], dtype=float32)
    """
    _validate.check_positive("adaptive_grad_clip", clipping=clipping)
    _validate.check_non_negative("adaptive_grad_clip", eps=eps)

    def rule(g, p):
        dt = _tree.compute_dtype(g, p)
        g_, p_ = g.astype(dt), p.astype(dt)
        clipping_, eps_ = _tree.as_dtype(dt, clipping, eps)
        g_norm, p_norm = _unitwise_norm(g_, axis), _unitwise_norm(p_, axis)
        max_norm = clipping_ * jnp.maximum(p_norm, eps_)
        clipped = g_ * (max_norm / jnp.maximum(g_norm, jnp.asarray(1e-6, dt)))
        return jnp.where(g_norm < max_norm, g_, clipped).astype(g.dtype)

    def update(updates, params):
        if params is None:
            raise ValueError(
                "adaptive_grad_clip: update needs the params (it clips relative to their norm); "
                "call update(updates, state, params)"
            )
        return _tree.map_leaves(
            rule, updates, params, where="adaptive_grad_clip", names=("params",)
        )

    return stateless(update)
