"""Debugging aids: find where a NaN or an Inf first appears.

By design a non-finite gradient is not an error to a transformation: NaN in, NaN out, and the
state takes it in (Adam's moments become NaN for good). To skip such steps in training, wrap the
optimizer in `apply_if_finite`; to find where they come from, wrap it in `check_finite`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from jax.tree_util import tree_flatten_with_path

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation


def _check_leaves(tree, message: str) -> None:
    """One `checkify.check` per floating leaf, in tree order, reporting the first bad value."""
    for path, leaf in tree_flatten_with_path(tree)[0]:
        leaf = jnp.asarray(leaf)
        if leaf.size == 0 or not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        finite = jnp.isfinite(leaf.ravel())
        first_bad = leaf.ravel()[jnp.argmin(finite)]
        checkify.check(jnp.all(finite), message.format(path=_tree.path_name(path)), value=first_bad)


def check_finite(inner: GradientTransformation) -> GradientTransformation:
    """Check every gradient entering `inner`, and every update leaving it, for NaN and Inf.

    The first non-finite gradient raises (eagerly) or is reported (under `checkify`) as
    `check_finite: non-finite gradient at ['layers'][0]['w'] (nan)`: its tree path and its first
    bad value. If the gradients are finite but an update is not, the update is reported instead:
    `check_finite: non-finite update at ['w'] (inf) from finite gradients` (an overflow inside
    `inner`, such as a float16 step past 65504). Otherwise `inner` is unchanged: same state,
    same updates.

    The checks are `jax.experimental.checkify` checks. Called eagerly, the update raises a
    `checkify.JaxRuntimeError` at once. Under `jit`, functionalize the step with `checkify`:
    `checkify.checkify(jax.jit(step))` or `jax.jit(checkify.checkify(step))` returns
    `(error, outputs)`, and `error.throw()` raises (`error.get()` returns the message, or None).
    Without `checkify`, `jit` refuses to trace the step ("Cannot abstractly evaluate a
    checkify.check which was not functionalized"). A debugging aid: each leaf costs a
    reduction, and the error value is carried through the program.

    Args:
        inner: the transformation to watch, usually the whole optimizer.

    Returns:
        A transformation with `inner`'s state.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> from jax.experimental import checkify
        >>> tx = gradtx.check_finite(gradtx.adam(1e-3))
        >>> params = {"layers": [{"w": jnp.ones(2)}]}
        >>> grads = {"layers": [{"w": jnp.asarray([1.0, jnp.nan])}]}
        >>> step = checkify.checkify(jax.jit(tx.update))
        >>> error, (updates, state) = step(grads, tx.init(params))
        >>> print(error.get().splitlines()[0])
        check_finite: non-finite gradient at ['layers'][0]['w'] (nan) (`check` failed)
    """
    _validate.check_transformation("check_finite", "inner", inner)

    def update(updates, state, params=None):
        _check_leaves(updates, "check_finite: non-finite gradient at {path} ({{value}})")
        new_updates, new_state = inner.update(updates, state, params)
        all_finite = _tree.all_finite(updates)
        # Report a non-finite update only when the gradients were finite: a NaN gradient has
        # already been reported, and its NaN update follows from it.
        guarded = jax.tree.map(lambda u: jnp.where(all_finite, u, 0), new_updates)
        _check_leaves(
            guarded, "check_finite: non-finite update at {path} ({{value}}) from finite gradients"
        )
        return new_updates, new_state

    return GradientTransformation(inner.init, update)
