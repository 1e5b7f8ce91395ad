"""Changing a gradient on its way back: `scale_gradient` is the identity forward and scales the
cotangent backward (Optax's `optax.scale_gradient`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _validate


@jax.custom_vjp
def _scaled(inputs: Any, scale: jax.Array) -> Any:
    return inputs


def _scaled_forward(inputs: Any, scale: jax.Array) -> tuple[Any, jax.Array]:
    return inputs, scale


def _scaled_backward(scale: jax.Array, cotangents: Any) -> tuple[Any, jax.Array]:
    scaled = jax.tree.map(lambda c: c * scale.astype(jnp.result_type(c)), cotangents)
    return scaled, jnp.zeros_like(scale)


_scaled.defvjp(_scaled_forward, _scaled_backward)


def scale_gradient(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
    r"""Return `inputs` unchanged, but multiply the gradient that flows back through them by
    `scale`: $y = x$, $\partial L / \partial x = s \, \partial L / \partial y$.

    Args:
        inputs: a pytree of arrays.
        scale: $s$, a finite number or a scalar array (traced values too). $s = 1$ returns
            `inputs` itself and $s = 0$ stops the gradient (`jax.lax.stop_gradient`), as Optax.

    Returns:
        `inputs`, with the scaled backward pass.

    References:
        Optax 0.2.8, `optax.scale_gradient` (same API and rule). Used e.g. to slow the
        learning of one part of a model (a value head, a target network) without a second
        optimizer.

    Example:
        >>> import gradtx, jax
        >>> jax.grad(lambda x: gradtx.scale_gradient(x, 0.5) ** 2)(3.0)
        Array(3., dtype=float32)
    """
    _validate.check_finite("scale_gradient", scale=scale)
    if _validate.is_number(scale) and scale == 1:
        return inputs
    if _validate.is_number(scale) and scale == 0:
        return jax.lax.stop_gradient(inputs)
    return _scaled(inputs, jnp.asarray(scale))
