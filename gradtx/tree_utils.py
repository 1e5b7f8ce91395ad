"""Tree math under the names of `optax.tree_utils`, so that code written against Optax runs.

Each function maps an array operation over the leaves of one or more pytrees of the same
structure (`tree_add`, `tree_scale`, `tree_where`, ...) or reduces a tree to a scalar
(`tree_sum`, `tree_vdot`, `tree_norm`, ...). Arguments, their order and defaults are Optax
0.2.8's; the inner product and the 2-norm are gradtx's own (`gradtx._tree.vdot` and
`gradtx._tree.squared_norm`), computed in at least float32. Optax's deprecated names
(`tree_scalar_mul`, `tree_add_scalar_mul`, `tree_l1_norm`, `tree_l2_norm`, `tree_linf_norm`)
still resolve, with a DeprecationWarning naming the current one.

Example:
    >>> import jax.numpy as jnp
    >>> from gradtx import tree_utils
    >>> x, y = {"a": jnp.ones(2)}, {"a": jnp.full(2, 2.0)}
    >>> tree_utils.tree_add_scale(x, 0.5, y)
    {'a': Array([2., 2.], dtype=float32)}
    >>> tree_utils.tree_norm(y, squared=True)
    Array(8., dtype=float32)
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _tree

_ORDS = "None, 1, 2, inf, 'inf' or 'infinity'"


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    """The leafwise sum $x + y (+ \\dots)$ of two or more trees of one structure."""
    return jax.tree.map(
        lambda *leaves: functools.reduce(operator.add, leaves), tree_x, tree_y, *other_trees
    )


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
    """The leafwise difference $x - y$."""
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
    """The leafwise (elementwise) product $x \\odot y$."""
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
    """The leafwise (elementwise) quotient $x / y$."""
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
    """Every leaf times a scalar: $c \\, x$."""
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
    """$x + c \\, y$, leaf by leaf; a `None` leaf of `tree_x` stays `None`."""
    scalar = jnp.asarray(scalar)
    return jax.tree.map(
        lambda x, y: None if x is None else x + scalar * y,
        tree_x,
        tree_y,
        is_leaf=lambda x: x is None,
    )


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.Array:
    r"""The inner product of two trees: $\langle x, y \rangle = \mathrm{Re} \sum_\ell \sum_i
    \bar x_{\ell,i} \, y_{\ell,i}$, in the leaves' promoted dtype.

    Note:
        Optax returns the complex $\sum \bar x y$ for complex trees; gradtx returns its real
        part, the inner product of $\mathbb{C}^n$ seen as $\mathbb{R}^{2n}$ (the one its
        optimizers use). Real trees agree to rounding (Optax contracts each leaf with
        `tensordot`, gradtx sums elementwise products).
    """
    leaves = jax.tree.leaves(tree_x) + jax.tree.leaves(tree_y)
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(*leaves) if leaves else jnp.float32
    return _tree.vdot(tree_x, tree_y, jnp.real(jnp.zeros([], dtype)).dtype)


def tree_sum(tree: Any, associative_reduction: bool = False) -> jax.Array:
    """The sum of every element of every leaf. `associative_reduction=True` adds the leaf sums
    as a balanced tree (`jax.tree.reduce_associative`): faster to compile for many leaves, with a
    different rounding."""
    sums = jax.tree.map(jnp.sum, tree)
    if associative_reduction:
        return jnp.asarray(jax.tree.reduce_associative(operator.add, sums, identity=0))
    return jnp.asarray(jax.tree.reduce(operator.add, sums, initializer=0))


def _reduce_nonempty(reduce: Any, combine: Any, tree: Any, start: float) -> jax.Array:
    """`reduce` over each non-empty leaf, combined from `start` (empty leaves are skipped)."""
    found = [reduce(x) for x in jax.tree.leaves(tree) if jnp.size(x)]
    return jnp.asarray(functools.reduce(combine, found, start))


def tree_max(tree: Any) -> jax.Array:
    """The largest element over every leaf; -inf for a tree without elements."""
    return _reduce_nonempty(jnp.max, jnp.maximum, tree, -math.inf)


def tree_min(tree: Any) -> jax.Array:
    """The smallest element over every leaf; inf for a tree without elements."""
    return _reduce_nonempty(jnp.min, jnp.minimum, tree, math.inf)


def tree_size(tree: Any) -> int:
    """The number of elements over every leaf."""
    return sum(int(jnp.size(x)) for x in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
    """The complex conjugate of every leaf."""
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
    """The real part of every leaf."""
    return jax.tree.map(jnp.real, tree)


def tree_norm(tree: Any, ord: int | float | str | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
    r"""The norm of a tree seen as one long vector.

    $$\|x\|_2 = \sqrt{\textstyle\sum_\ell \sum_i |x_{\ell,i}|^2}, \quad
    \|x\|_1 = \textstyle\sum_\ell \sum_i |x_{\ell,i}|, \quad
    \|x\|_\infty = \max_{\ell,i} |x_{\ell,i}|$$

    Args:
        tree: a pytree of arrays.
        ord: `None` or 2 (the default 2-norm), 1, or `inf` (`jnp.inf`, "inf" or "infinity").
        squared: return the norm squared ($\|x\|^2$, no square root for the 2-norm).

    Note:
        The 2-norm sums each leaf in its dtype promoted to at least float32 (`squared_norm`,
        as `clip_by_global_norm` does), so a bfloat16 tree's norm is a float32 that neither
        overflows nor loses the small leaves; Optax sums in the leaves' own dtype. Float32 and
        float64 trees agree with Optax to rounding.

    Example:
        >>> import jax.numpy as jnp
        >>> from gradtx.tree_utils import tree_norm
        >>> tree_norm({"a": jnp.asarray([3.0, -4.0])}, ord=1)
        Array(7., dtype=float32)
    """
    if ord is None or (not isinstance(ord, str) and ord == 2):
        squared_norm = _tree.squared_norm(tree)
        return squared_norm if squared else jnp.sqrt(squared_norm)
    if not isinstance(ord, str) and ord == 1:
        result = tree_sum(jax.tree.map(jnp.abs, tree))
    elif ord in ("inf", "infinity") or (not isinstance(ord, str) and ord == math.inf):
        result = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"tree_norm: ord must be {_ORDS}, got {ord!r}")
    return result * result if squared else result


def global_norm(updates: Any) -> jax.Array:
    r"""The global 2-norm of a tree: $\|g\| = \sqrt{\sum_\ell \sum_i |g_{\ell,i}|^2}$.

    The norm `clip_by_global_norm` bounds, summed in at least float32 (`tree_norm` with its
    defaults). Optax 0.2.8 deprecates its `optax.global_norm` for `optax.tree.norm`; gradtx keeps
    the name, without a warning.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> gradtx.global_norm({"w": jnp.asarray([3.0]), "b": jnp.asarray([4.0])})
        Array(5., dtype=float32)
    """
    return tree_norm(updates)


def tree_zeros_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """Zeros shaped (and placed) like each leaf, in `dtype` or the leaf's own dtype."""
    return _tree.full_like(tree, 0, dtype)


def tree_ones_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """Ones shaped (and placed) like each leaf, in `dtype` or the leaf's own dtype."""
    return _tree.full_like(tree, 1, dtype)


def tree_full_like(
    tree: Any, fill_value: jax.typing.ArrayLike, dtype: jax.typing.DTypeLike | None = None
) -> Any:
    """`fill_value` shaped (and placed) like each leaf, in `dtype` or the leaf's own dtype."""
    return _tree.full_like(tree, fill_value, dtype)


def tree_clip(
    tree: Any,
    min_value: jax.typing.ArrayLike | None = None,
    max_value: jax.typing.ArrayLike | None = None,
) -> Any:
    """Every element clipped to `[min_value, max_value]`; a bound that is None is not applied."""
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_where(condition: jax.typing.ArrayLike, tree_x: Any, tree_y: Any) -> Any:
    """`jnp.where(condition, x, y)` leaf by leaf: `tree_x` where the condition holds."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_cast(tree: Any, dtype: jax.typing.DTypeLike | None) -> Any:
    """Every leaf cast to `dtype`; the tree itself when `dtype` is None."""
    return tree if dtype is None else jax.tree.map(lambda x: x.astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
    """Each leaf cast to the dtype of the matching leaf of `other_tree` (kept where that leaf
    has no dtype)."""
    return jax.tree.map(
        lambda x, o: x.astype(o.dtype) if hasattr(o, "dtype") else x, tree, other_tree
    )


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Each leaf broadcast to leading batch dimensions `shape`: `(*shape, *leaf.shape)`."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_allclose(
    a: Any,
    b: Any,
    rtol: jax.typing.ArrayLike = 1e-05,
    atol: jax.typing.ArrayLike = 1e-08,
    equal_nan: bool = False,
) -> Any:
    """Whether every leaf of `a` is `jnp.allclose` to its leaf of `b`."""
    close = jax.tree.map(
        lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b
    )
    return functools.reduce(operator.and_, jax.tree.leaves(close), True)


# Optax 0.2.8's deprecated names -> (the current name, the function it now is).
_DEPRECATED = {
    "tree_scalar_mul": ("tree_scale", tree_scale),
    "tree_add_scalar_mul": ("tree_add_scale", tree_add_scale),
    "tree_l1_norm": ("tree_norm(tree, ord=1)", functools.partial(tree_norm, ord=1)),
    "tree_l2_norm": ("tree_norm(tree, squared=...)", functools.partial(tree_norm, ord=2)),
    "tree_linf_norm": ("tree_norm(tree, ord='inf')", functools.partial(tree_norm, ord="inf")),
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        current, function = _DEPRECATED[name]
        warnings.warn(
            f"gradtx.tree_utils.{name} is Optax's deprecated name: use gradtx.tree_utils.{current}",
            DeprecationWarning,
            stacklevel=2,
        )
        return function
    raise AttributeError(f"module 'gradtx.tree_utils' has no attribute {name!r}")
