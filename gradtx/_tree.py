"""Tree math shared by the transformations.

Update rules are written per array, so they read like their papers: `lift` runs a rule written in
phases (moments, then direction) over pytrees with the dtype policy every rule shares, and
`map_leaves` applies any per-array function leaf by leaf. Both check first that every tree has
the structure, leaf dtypes and shapes of the updates, naming the first differing path when one
does not. The reductions (`vdot`, `squared_norm`, `norm`, `all_finite`) live here too.
"""

from __future__ import annotations

import functools
import itertools
import types
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental.shard_alike import shard_alike
from jax.tree_util import keystr, tree_flatten_with_path


def path_name(path: tuple[Any, ...]) -> str:
    """A leaf's key path as every error writes it: `jax.tree_util.keystr`, `<root>` for the root.

    Example:
        >>> import jax
        >>> from gradtx import _tree
        >>> [_tree.path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path({"a": [1.0]})[0]]
        ["['a'][0]"]
        >>> _tree.path_name(())
        '<root>'
    """
    return keystr(path) or "<root>"


def leaf_paths(tree: Any) -> list[str]:
    """The `path_name` of each leaf of `tree`, in flattening order."""
    return [path_name(path) for path, _ in tree_flatten_with_path(tree)[0]]


def _describe(tree: Any) -> list[tuple[str, str]]:
    """Each leaf's path and a short description of the node found there."""
    leaves, _ = tree_flatten_with_path(tree)
    return [(path_name(path), type(leaf).__name__) for path, leaf in leaves]


def structure_mismatch(a: Any, b: Any, *, name_a: str, name_b: str) -> str | None:
    """None when `a` and `b` share a tree structure, else a sentence naming the first difference."""
    struct_a, struct_b = jax.tree.structure(a), jax.tree.structure(b)
    if struct_a == struct_b:
        return None
    paths_a, paths_b = [p for p, _ in _describe(a)], [p for p, _ in _describe(b)]
    set_a, set_b = set(paths_a), set(paths_b)
    only_a = [p for p in paths_a if p not in set_b]
    only_b = [p for p in paths_b if p not in set_a]
    if only_b and not only_a:  # a leaf missing, not one misplaced
        return f"{name_b} has a leaf at {only_b[0]} that {name_a} lacks" + _more(only_b)
    if only_a and not only_b:
        return f"{name_a} has a leaf at {only_a[0]} that {name_b} lacks" + _more(only_a)
    for (path_a, _), (path_b, _) in itertools.zip_longest(
        _describe(a), _describe(b), fillvalue=(None, None)
    ):
        if path_a != path_b:
            if path_a is None:
                return f"{name_b} has a leaf at {path_b} that {name_a} lacks"
            if path_b is None:
                return f"{name_a} has a leaf at {path_a} that {name_b} lacks"
            return f"first differing path: {name_a} has {path_a} where {name_b} has {path_b}"
    return (
        f"same leaf paths but different containers: {name_a} is {struct_a}, {name_b} is {struct_b}"
    )


def _more(paths: list[str]) -> str:
    return f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""


def check_same_structure(a: Any, b: Any, *, name_a: str, name_b: str, where: str) -> None:
    """Raise a ValueError naming the first differing path if `a` and `b` differ in structure."""
    problem = structure_mismatch(a, b, name_a=name_a, name_b=name_b)
    if problem is not None:
        raise ValueError(
            f"{where}: {name_a} and {name_b} have different tree structures ({problem}). "
            f"Was the state made by this optimizer's `init` on params shaped like these updates?"
        )


def _dtype_name(dtype: Any) -> str:
    return "float0" if dtype == jax.dtypes.float0 else str(dtype)


def _leaf_dtype(leaf: Any) -> Any:
    return leaf.dtype if hasattr(leaf, "dtype") else jnp.result_type(leaf)


def check_inexact(leaves: Sequence[Any], *, tree: Any, name: str, where: str) -> None:
    """Raise a TypeError naming the first leaf that is not floating-point or complex.

    `leaves` are the leaves of `tree` (arrays or Python scalars), in flattening order; the paths
    are computed only when a leaf fails, so the check costs one set of dtypes on the happy path.
    """
    dtypes = [_leaf_dtype(leaf) for leaf in leaves]
    if all(jnp.issubdtype(dtype, jnp.inexact) for dtype in set(dtypes)):
        return
    paths = leaf_paths(tree)
    path, dtype = next(
        (p, d) for p, d in zip(paths, dtypes, strict=True) if not jnp.issubdtype(d, jnp.inexact)
    )
    raise TypeError(
        f"{where}: {name} leaf {path} has dtype {_dtype_name(dtype)}; gradtx transforms "
        "floating-point (or complex) leaves only. Keep integer and boolean buffers out of the "
        "params you optimize: split them off before `jax.grad`, `init` and `apply_updates`."
    )


def check_same_shapes(
    leaves: Sequence[Any],
    others: Sequence[Any],
    *,
    tree: Any,
    name: str,
    other: str,
    where: str,
    hint: str = "",
) -> None:
    """Raise a ValueError naming the first leaf of `tree` whose shape differs in `others`."""
    shapes = [(jnp.shape(a), jnp.shape(b)) for a, b in zip(leaves, others, strict=True)]
    if all(a == b for a, b in shapes):
        return
    paths = leaf_paths(tree)
    path, (a, b) = next((p, s) for p, s in zip(paths, shapes, strict=True) if s[0] != s[1])
    raise ValueError(f"{where}: {name} leaf {path} has shape {a} but {other} has shape {b}{hint}")


def vdot(a: Any, b: Any, dtype: Any) -> jax.Array:
    r"""The real inner product of two trees, summed over every leaf in `dtype`.

    $$\langle a, b \rangle = \mathrm{Re} \sum_\ell \sum_i \bar a_{\ell,i} \, b_{\ell,i}$$

    Each leaf is an elementwise product and a sum in `a`'s leaf dtype, not `jnp.vdot`: `vdot`
    cannot contract a sharded axis.
    """
    total = jnp.zeros([], dtype)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x = jnp.asarray(x)
        product = jnp.real(jnp.conj(x) * jnp.asarray(y).astype(x.dtype))
        total = total + jnp.sum(product).astype(dtype)
    return total


def squared_norm(tree: Any) -> jax.Array:
    r"""$\|g\|^2 = \sum_\ell \sum_i |g_{\ell,i}|^2$ over every leaf and element.

    Each leaf is summed in its `compute_dtype` (at least float32), and the sums are added in
    their promoted dtype; an empty tree gives a float32 zero.
    """
    leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree)]
    sums = [jnp.sum(jnp.real(abs_sq(x.astype(compute_dtype(x))))) for x in leaves]
    if not sums:
        return jnp.zeros([], jnp.float32)
    dtype = compute_dtype(*sums)
    return sum(s.astype(dtype) for s in sums)


def norm(tree: Any) -> jax.Array:
    r"""The global norm $\|g\|$: the square root of `squared_norm`."""
    return jnp.sqrt(squared_norm(tree))


def all_finite(tree: Any) -> jax.Array:
    """A boolean scalar: whether every element of every leaf is finite (no NaN, no Inf)."""
    finite = jnp.asarray(True)
    for leaf in jax.tree.leaves(tree):
        finite = finite & jnp.all(jnp.isfinite(jnp.asarray(leaf)))
    return finite


def map_leaves(
    rule: Callable[..., Any],
    updates: Any,
    *trees: Any,
    where: str,
    names: Sequence[str] = (),
    outputs: int = 1,
) -> Any:
    """Apply a per-array `rule(u, *others)` leaf by leaf.

    Every tree in `trees` must have the structure of `updates`; `names` names them in errors.
    Every leaf of every tree must be floating-point or complex: an integer or boolean leaf raises
    a TypeError naming its path. A rule with several `outputs` returns a tuple per leaf, and
    `map_leaves` a tuple of trees.
    """
    treedef = jax.tree.structure(updates)
    all_names = ["updates"]
    for i, tree in enumerate(trees):
        all_names.append(names[i] if i < len(names) else f"tree {i + 1}")
        check_same_structure(updates, tree, name_a="updates", name_b=all_names[-1], where=where)
    columns = [[jnp.asarray(x) for x in treedef.flatten_up_to(t)] for t in (updates, *trees)]
    for name, column in zip(all_names, columns, strict=True):
        check_inexact(column, tree=updates, name=name, where=where)
    hint = ". Was the state made by this optimizer's `init` on params shaped like these updates?"
    for name, column in zip(all_names[1:], columns[1:], strict=True):
        check_same_shapes(
            columns[0], column, tree=updates, name="updates", other=name, where=where, hint=hint
        )
    if any(isinstance(x, jax.core.Tracer) for column in columns for x in column):
        # Under a trace, trace the rule once per distinct leaf shape and dtype and reuse it:
        # with thousands of leaves, tracing every leaf's ops anew costs more than compiling.
        rule = jax.jit(rule)
    results = [rule(*leaves) for leaves in zip(*columns, strict=True)]
    if outputs == 1:
        return treedef.unflatten(results)
    return tuple(treedef.unflatten(r[i] for r in results) for i in range(outputs))


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros shaped like each leaf, in `dtype` or the leaf's own dtype, with the leaf's sharding.

    State made from sharded params lives where its params live; it is never gathered on one
    device first.
    """
    return full_like(tree, 0, dtype)


def full_like(tree: Any, value: Any, dtype: Any = None) -> Any:
    """`value` broadcast to each leaf's shape and sharding, in `dtype` or the leaf's dtype.

    Under `jax.jit` a traced leaf carries no sharding of its own; `shard_alike` tells XLA to
    place the new array like the leaf, so a jitted `init` never gathers state on one device.
    """

    def fill(x: Any) -> jax.Array:
        filled = jnp.full_like(x, value, dtype or jnp.result_type(x))
        if isinstance(x, jax.core.Tracer):
            _, filled = shard_alike(x, filled)
        return filled

    return jax.tree.map(fill, tree)


def compute_dtype(*arrays: Any) -> Any:
    """The dtype update rules compute in: the promoted dtype, at least float32.

    Half-precision leaves are computed in float32 and cast back once, so a bfloat16 moment is not
    rounded after every elementwise operation.
    """
    with jax.numpy_dtype_promotion("standard"):  # state dtypes may differ on purpose
        return jnp.promote_types(jnp.result_type(*arrays), jnp.float32)


def safe_increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the dtype's maximum instead of wrapping around."""
    top = jnp.iinfo(count.dtype).max
    return jnp.where(count < top, count + 1, count)


def bias_correction(decay: Any, count: jax.Array, dtype: Any) -> jax.Array:
    """1 - decay^t in `dtype`, computed in at least float32 and rounded once.

    `count` may be an integer step or a float (e.g. t + 1 without int32 overflow).
    """
    wide = compute_dtype(jnp.zeros((), dtype))
    t = jnp.asarray(count).astype(wide)
    return (1 - jnp.asarray(decay).astype(wide) ** t).astype(dtype)


def ema(value: Any, average: Any, decay: Any) -> Any:
    """The exponential moving average (1 - decay) * value + decay * average."""
    return (1 - decay) * value + decay * average


def cast_like(x: jax.Array, like: Any) -> jax.Array:
    return x.astype(jnp.result_type(like))


def as_stored(x: jax.Array, like: Any) -> jax.Array:
    """x rounded to the dtype of the state leaf `like`, kept in x's dtype: the value the state
    will hold. Rules compute their updates from moments as stored, so that a step depends on the
    state alone, and XLA reads a low-precision moment back instead of recomputing it."""
    return cast_like(x, like).astype(x.dtype)


def abs_sq(x: jax.Array) -> jax.Array:
    """|x|^2 elementwise, in x's dtype (zero imaginary part for a complex x); for real x the
    same program as x * x."""
    return jnp.real(jnp.conj(x) * x).astype(x.dtype) if jnp.iscomplexobj(x) else x * x


def as_dtype(dtype: Any, *values: Any) -> tuple[jax.Array, ...]:
    """Hyperparameters (numbers or arrays) as arrays of the dtype a rule computes in."""
    return tuple(jnp.asarray(v, dtype) for v in values)


def zero_count() -> jax.Array:
    """The step count of a fresh state: 0, as an int32 scalar."""
    return jnp.zeros([], jnp.int32)


def only_state(where: str, name: str, state: Any, state_type: type, hint: str) -> Any:
    """The one `state_type` inside `state` (a chain's tuple, a wrapper's inner state), or a
    ValueError naming `name`, the count found and `hint` (what to pass instead)."""
    found = [
        s
        for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, state_type))
        if isinstance(s, state_type)
    ]
    if len(found) != 1:
        raise ValueError(
            f"{where}: {name} must hold exactly one {state_type.__name__}, found {len(found)} "
            f"in a {type(state).__name__}; {hint}"
        )
    return found[0]


@functools.cache
def leaf_fields(state_type: type) -> tuple[str, ...]:
    """The fields of a state NamedTuple that hold one leaf per parameter: those annotated
    `Updates`. The others (step counts, scalars, inner states) are not lifted."""

    def is_leaf_field(hint: Any) -> bool:  # a ForwardRef under `from __future__ import annotations`
        return getattr(hint, "__forward_arg__", hint) in ("Updates", Any)

    hints = state_type.__annotations__
    return tuple(name for name in state_type._fields if is_leaf_field(hints.get(name)))


def _in_dtype(value: Any, dtype: Any) -> Any:
    """A hyperparameter as the rules see it: floating values in `dtype`; integer and boolean
    arrays (step counts, flags) as they are."""
    if hasattr(value, "dtype") and not jnp.issubdtype(value.dtype, jnp.inexact):
        return value
    return jnp.asarray(value, dtype)


def lift(
    where: str,
    phases: Sequence[Callable[..., Any]],
    updates: Any,
    state: Any,
    inputs: dict[str, Any] | None = None,
    *,
    direction_dtype: str = "updates",
    **hyperparams: Any,
) -> tuple[Any, Any]:
    """Lift a per-array rule, written as its paper writes it, to pytrees.

    The rule comes in phases, each called per leaf as `phase(g, s, h)`: `g` is the update leaf,
    `s` a leaf state (an instance of `type(state)` whose leaf fields, those annotated `Updates`,
    hold this leaf's arrays; its other fields, and fields that are None, are None) and `h` the
    hyperparameters, with per-leaf `inputs` (e.g. step sizes) beside them as attributes. Every
    phase but the last returns the new leaf state (`s._replace(mu=...)`); the last returns the
    direction `u`, or `(u, s)` when a field depends on `u` (Adadelta's average of squared steps).

    The lift does what every rule would otherwise repeat: it checks that the state's trees match
    the updates (naming the field and the first differing path), computes in `compute_dtype`
    (float32 or wider) with hyperparameters converted to it, rounds each changed field to its
    stored dtype between phases (later phases read moments as stored), and casts the direction
    back to the update's dtype (or leaves it in the compute dtype, `direction_dtype="compute"`,
    for a rule that reduces it across leaves first) and each field to its stored dtype.

    Returns:
        The direction tree and `state` with its leaf fields replaced.
    """
    inputs = inputs or {}
    fields = [name for name in leaf_fields(type(state)) if getattr(state, name) is not None]
    blank = type(state)(*(None for _ in state))

    def rule(g, *leaves):
        stored, extra = leaves[: len(fields)], leaves[len(fields) :]
        dtype = compute_dtype(g, *stored)
        h = types.SimpleNamespace(
            **{k: _in_dtype(v, dtype) for k, v in hyperparams.items()},
            **{k: x.astype(dtype) for k, x in zip(inputs, extra, strict=True)},
        )
        g_ = g.astype(dtype)
        s = blank._replace(**{k: x.astype(dtype) for k, x in zip(fields, stored, strict=True)})
        for phase in phases[:-1]:
            new = phase(g_, s, h)
            s = new._replace(
                **{
                    k: as_stored(getattr(new, k).astype(dtype), x)
                    for k, x in zip(fields, stored, strict=True)
                    if getattr(new, k) is not getattr(s, k)
                }
            )
        u = phases[-1](g_, s, h)
        if isinstance(u, tuple):
            u, s = u
        u = u if direction_dtype == "compute" else u.astype(g.dtype)
        return (u, *(cast_like(getattr(s, k), x) for k, x in zip(fields, stored, strict=True)))

    trees = [getattr(state, name) for name in fields]
    u, *new = map_leaves(
        rule,
        updates,
        *trees,
        *inputs.values(),
        where=where,
        names=(*fields, *inputs),
        outputs=1 + len(fields),
    )
    return u, state._replace(**dict(zip(fields, new, strict=True)))
