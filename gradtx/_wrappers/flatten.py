"""Run a transformation on one flat vector instead of many small arrays (Optax's `flatten`)."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformationExtraArgs, takes_extra_args


def _concatenate(tree: Any, name: str) -> jax.Array:
    """Every leaf raveled and concatenated, in the leaves' promoted dtype (float32 if none;
    Python floats count as float64, not as weak types that would take a float16 leaf's dtype).
    An integer or boolean leaf is refused: it would be rounded into the vector silently."""
    leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree)]
    _tree.check_inexact(leaves, tree=tree, name=name, where="flatten")
    with jax.numpy_dtype_promotion("standard"):  # leaves of several dtypes share one vector
        dtype = (
            functools.reduce(jnp.promote_types, [x.dtype for x in leaves], leaves[0].dtype)
            if leaves
            else jnp.dtype(jnp.float32)
        )
    return jnp.concatenate([jnp.ravel(x).astype(dtype) for x in leaves] or [jnp.zeros(0, dtype)])


def _split_like(flat: jax.Array, like: Any) -> Any:
    """`flat` cut back into arrays shaped like the leaves of `like`, each in its leaf's dtype
    (a real leaf in a complex vector keeps the real part: its entries stay real under an
    elementwise rule)."""
    leaves, treedef = jax.tree.flatten(like)
    pieces, start = [], 0
    for leaf in leaves:
        size = math.prod(jnp.shape(leaf))
        piece = flat[start : start + size].reshape(jnp.shape(leaf))
        dtype = jnp.result_type(leaf)
        if jnp.iscomplexobj(piece) and not jnp.issubdtype(dtype, jnp.complexfloating):
            piece = jnp.real(piece)
        pieces.append(piece.astype(dtype))
        start += size
    return treedef.unflatten(pieces)


def flatten(inner: Any) -> GradientTransformationExtraArgs:
    r"""Run `inner` on the params and updates concatenated into one vector.

    $$\text{vec}(g) = [\text{ravel}(g_1); \dots; \text{ravel}(g_L)], \qquad
    (v, s_t) = \text{inner}(\text{vec}(g_t), s_{t-1}, \text{vec}(\theta)), \qquad
    u_t = \text{vec}^{-1}(v)$$

    Elementwise transformations give the same updates, with one large array in the state
    instead of one per parameter (less per-array overhead for many small parameters). Norms
    over each leaf become one norm over the whole vector.

    Args:
        inner: the transformation to run on the flat vector.

    Returns:
        A `GradientTransformationExtraArgs` whose state is `inner`'s state on the vector;
        extra arguments reach `inner` when it takes them.

    References:
        Optax 0.2.8, `optax.flatten` (same API and rule).

    Note:
        Optax concatenates the leaves as they are; gradtx casts them to their promoted dtype
        first, under any promotion setting, and casts each update back to its
        leaf's dtype, so mixed-precision trees keep their dtypes; integer leaves are refused.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.flatten(gradtx.adam(0.1))
        >>> params = {"b": jnp.zeros(2), "w": jnp.zeros((2, 2))}
        >>> tx.init(params)[0].mu.shape
        (6,)
    """
    _validate.check_transformation("flatten", "inner", inner)
    inner_takes_extra = takes_extra_args(inner)

    def init(params):
        return inner.init(_concatenate(params, "params"))

    def update(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _concatenate(params, "params")
        flat, state = inner.update(
            _concatenate(updates, "updates"),
            state,
            flat_params,
            **(extra_args if inner_takes_extra else {}),
        )
        return _split_like(flat, updates), state

    return GradientTransformationExtraArgs(init, update)
