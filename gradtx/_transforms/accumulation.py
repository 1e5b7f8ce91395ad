"""Summing the updates of k calls and emitting them on the k-th (a link of a chain, unlike the
`accumulate` and `MultiSteps` wrappers, which hold the optimizer back)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


class ApplyEveryState(NamedTuple):
    """State of `apply_every` (Optax's `ApplyEvery`, same fields)."""

    count: jax.Array  # shape (), int32: calls since the last emission, c = t mod k
    grad_acc: Updates  # the sum S of the updates since the last emission


def apply_every(k: int | jax.Array = 1) -> GradientTransformation:
    r"""Sum the updates of k successive calls; emit the sum on the k-th call, zeros otherwise.

    $$S_t = g_t + [c_t \ne 0] \, S_{t-1}, \qquad u_t = [c_t = k - 1] \, S_t, \qquad
    c_{t+1} = (c_t + 1) \bmod k$$

    Unlike `MultiSteps` (or `accumulate`), the links before `apply_every` in a chain still
    update their state on every call: with a momentum before it, k half batches are not one full
    batch. Place it last, or use `MultiSteps` for that equivalence.

    Args:
        k: $k$, an int >= 1 or an integer array; $k = 1$ emits every update unchanged.

    Returns:
        A transformation with state `ApplyEveryState(count=c, grad_acc=S)`; `S` is kept in the
        params' dtype.

    References:
        Optax 0.2.8, `optax.apply_every` (same rule; its state class is named `ApplyEvery`).

    Note:
        Optax multiplies by the boolean conditions, so a NaN held in $S$ becomes a NaN update on
        a call that should emit zeros; gradtx selects with `jnp.where`, so those calls return
        exact zeros. Emitted values are the same.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.apply_every(2)
        >>> state = tx.init(jnp.zeros(1))
        >>> u1, state = tx.update(jnp.ones(1), state)
        >>> u2, state = tx.update(jnp.ones(1), state)
        >>> u1, u2
        (Array([0.], dtype=float32), Array([2.], dtype=float32))
    """
    _validate.check_int("apply_every", 1, k=k)

    def init(params):
        return ApplyEveryState(count=jnp.zeros([], jnp.int32), grad_acc=_tree.zeros_like(params))

    def update(updates, state, params=None):
        del params
        c = state.count % jnp.asarray(k).astype(jnp.int32)
        emit = c == k - 1

        def rule(g, acc):
            dt = _tree.compute_dtype(g, acc)
            total = g.astype(dt) + jnp.where(c != 0, acc.astype(dt), 0)
            return jnp.where(emit, total, 0).astype(g.dtype), _tree.cast_like(total, acc)

        updates, grad_acc = _tree.map_leaves(
            rule, updates, state.grad_acc, where="apply_every", names=("grad_acc",), outputs=2
        )
        count = _tree.safe_increment(state.count) % jnp.asarray(k).astype(jnp.int32)
        return updates, ApplyEveryState(count=count, grad_acc=grad_acc)

    return transformation(init, update)
