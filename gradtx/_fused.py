"""The fused CPU step: which optimizers it takes, and how their leaves reach the kernel.

`plan(tx, params, grads, state)` recognises an optimizer built by a registered alias that the
kernel implements, directly or through `inject_hyperparams` (from the alias's recorded
arguments, `_registry.recipe_of`, and its `Spec` in `_fused_specs`) and returns a function
`(params, grads, state) -> (params, state)` running it as XLA FFI custom calls, or None. The
chain stays the definition: the scalars are computed with the chain's own helpers and passed to
the kernel as a 1-D operand (a changed learning rate does not recompile), the new state's
counters are the chain's own update of an empty tree (with a weight-decay mask, of the whole
tree, whose unused leaves XLA removes), and the per-element arithmetic is
`_native/fused_rules.h`, written operation for operation as XLA computes the chain.

Leaves go to the kernel in calls of at most `CHUNK` leaves sharing their dtypes: XLA's handling
of in-place aliases grows faster than quadratically with the operands of one call. With a
weight-decay mask, the leaves outside it go to calls of their own, to the rule without the
decay. float16 and bfloat16 params or state compute in float32 and round where the chain
rounds; float64 leaves compute in float64 with their state in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _native, _registry
from gradtx._base import apply_updates
from gradtx._combine import _resolve_mask
from gradtx._fused_specs import SPECS, Path, Spec, injected

CHUNK = 32  # leaves per custom call
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
NARROW = (F32, np.dtype(jnp.bfloat16), np.dtype(np.float16))  # computed in float32

Run = Callable[[Any, Any, Any], tuple[Any, Any]]


def _get(tree: Any, path: Path) -> Any:
    for key in path:
        tree = tree[key] if isinstance(key, int) else getattr(tree, key)
    return tree


def _replace(tree: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        items = list(tree)
        items[key] = _replace(items[key], rest, value)
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return tree._replace(**{key: _replace(getattr(tree, key), rest, value)})


def _trees(spec: Spec, state: Any) -> list[Any]:
    return [_get(state, path) for path in spec.paths]


def _with_trees(spec: Spec, state: Any, trees: Sequence[Any]) -> Any:
    for path, tree in zip(spec.paths, trees, strict=True):
        state = _replace(state, path, tree)
    return state


def _compute_dtype(row: Sequence[Any]) -> Any:
    """float32 or float64, the dtype the chain computes a leaf in, for the dtype mixes the
    kernel's tests cover: params, grads and state in one dtype, or float32 params and grads
    with half-precision state (`mu_dtype`); None for any other mix."""
    p, *fields = (np.dtype(x.dtype) for x in row)
    if p == F64:
        return F64 if set(fields) == {F64} else None
    if p == F32:
        return F32 if set(fields) <= set(NARROW) else None
    return F32 if p in NARROW and set(fields) == {p} else None


def _is_plain_leaf(x: Any) -> bool:
    """A concrete array on one CPU device, or a value traced by `jit` alone (not by `vmap`,
    `grad` or `jvp`, whose tracers take the XLA path)."""
    if isinstance(x, jax.core.Tracer):
        return type(x).__name__ == "DynamicJaxprTracer"
    if isinstance(x, jax.Array):
        devices = x.sharding.device_set
        return len(devices) == 1 and next(iter(devices)).platform == "cpu"
    return False


def on_one_cpu_device(*trees: Any) -> bool:
    """Whether every array leaf of `trees` is a concrete array on one and the same CPU device
    (an eager call; a sharded or multi-device tree takes the XLA path)."""
    devices = set()
    for x in (leaf for tree in trees for leaf in jax.tree.leaves(tree)):
        if isinstance(x, jax.Array):
            devices |= x.sharding.device_set
    return len(devices) <= 1 and all(d.platform == "cpu" for d in devices)


def _leaf_columns(params: Any, grads: Any, trees: Sequence[Any]) -> list[list[Any]] | None:
    """[params leaves, grads leaves, state tree leaves...] when every tree has the params'
    structure, each row one shape, params and grads one dtype, and a dtype mix the kernel
    computes (see `_compute_dtype`); else None."""
    treedef = jax.tree.structure(params)
    columns = []
    for tree in (params, grads, *trees):
        if jax.tree.structure(tree) != treedef:
            return None
        columns.append(jax.tree.leaves(tree))
    for row in zip(*columns, strict=True):
        if not all(_is_plain_leaf(x) for x in row) or len({x.shape for x in row}) != 1:
            return None
        if row[0].dtype != row[1].dtype or _compute_dtype(row) is None:
            return None
    return columns


def _call(target: str, hp: jax.Array, columns: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """One custom call over k leaves: columns are p, g, then the state fields; returns the new
    p and state fields, each result aliased to its operand."""
    k = len(columns[0])
    written = [columns[0], *columns[2:]]
    shapes = [jax.ShapeDtypeStruct(x.shape, x.dtype) for column in written for x in column]
    operand_of = [0, *range(2, len(columns))]  # the operand column each result overwrites
    aliases = {1 + operand_of[c] * k + i: c * k + i for c in range(len(written)) for i in range(k)}
    call = jax.ffi.ffi_call(target, shapes, input_output_aliases=aliases, vmap_method="sequential")
    flat = call(hp, *(x for column in columns for x in column))
    return [list(flat[c * k : (c + 1) * k]) for c in range(len(written))]


def _targets(spec: Spec, params: Any) -> list[str]:
    """The kernel target of each leaf: `spec.target`, or `spec.undecayed` outside its mask."""
    if spec.mask is None:
        return [spec.target] * len(jax.tree.leaves(params))
    mask = _resolve_mask("add_decayed_weights", spec.mask, params)
    flags = jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask, params)
    return [spec.target if flag else spec.undecayed for flag in jax.tree.leaves(flags)]


def _run(tx: Any, spec: Spec, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
    columns = _leaf_columns(params, grads, _trees(spec, state))
    assert columns is not None  # checked by `plan`
    out: list[list[Any]] = [list(column) for column in (columns[0], *columns[2:])]
    # A one-element leaf goes through the chain itself: XLA simplifies its divisions otherwise
    # (a / c / d becomes a / (c d) where no broadcast is involved), and rounds differently.
    single = [i for i, leaf in enumerate(columns[0]) if leaf.size == 1]
    if spec.mask is None:
        base = _counters(tx, spec, state)
        if single:
            _run_chain(tx, spec, state, [[col[i] for i in single] for col in columns], single, out)
    else:
        # A mask is resolved against the whole tree: the chain's own step over every leaf gives
        # the counters and the one-element leaves; XLA removes the rest of it, unused.
        new_params, base = _chain_step(tx, params, grads, state)
        new = [jax.tree.leaves(tree) for tree in (new_params, *_trees(spec, base))]
        _scatter([[column[i] for i in single] for column in new], single, out)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (target, *row) in enumerate(zip(_targets(spec, params), *columns, strict=True)):
        if row[0].size != 1:
            groups.setdefault((target, *(np.dtype(x.dtype) for x in row)), []).append(i)
    scalars: dict[Any, jax.Array] = {}
    for (target, *dtypes), indices in groups.items():
        dtype = _compute_dtype([np.zeros((), d) for d in dtypes])
        if dtype not in scalars:
            scalars[dtype] = jnp.stack(spec.scalars(state, dtype)).astype(dtype)
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start : start + CHUNK]
            results = _call(target, scalars[dtype], [[c[i] for i in chunk] for c in columns])
            _scatter(results, chunk, out)
    treedef = jax.tree.structure(params)
    new_params, *new_trees = (treedef.unflatten(column) for column in out)
    return new_params, _with_trees(spec, base, new_trees)


def _chain_step(tx: Any, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
    updates, state = tx.update(grads, state, params)
    return apply_updates(params, updates), state


def _counters(tx: Any, spec: Spec, state: Any) -> Any:
    """The chain's next state for an empty tree: every counter and scalar it steps."""
    empty = _with_trees(spec, state, [{} for _ in spec.paths])
    return tx.update({}, empty, {})[1]


def _run_chain(
    tx: Any, spec: Spec, state: Any, columns: list[list[Any]], where: list[int], out: list
) -> None:
    """The chain's own step on some leaves (lists of them), written into `out` at `where`."""
    params, grads, *trees = columns
    new_params, new_state = _chain_step(tx, params, grads, _with_trees(spec, state, trees))
    _scatter([new_params, *_trees(spec, new_state)], where, out)


def _scatter(results: Sequence[Sequence[Any]], where: list[int], out: list) -> None:
    for column, new in zip(out, results, strict=True):
        for i, x in zip(where, new, strict=True):
            column[i] = x


def _injected_dtypes_fit(state: Any, columns: list[list[Any]]) -> bool:
    """Whether the floating hyperparameters `inject_hyperparams` stored are in the one dtype
    every leaf computes in, as by default. With another `hyperparam_dtype`, XLA fuses their
    conversion into the chain and may contract a multiply-add the other way (RMSprop with
    momentum, float64 params, a float32 learning rate: last-place differences)."""
    stored = {np.dtype(h.dtype) for h in state.hyperparams.values()}
    computed = {_compute_dtype(row) for row in zip(*columns, strict=True)}
    floating = {d for d in stored if jnp.issubdtype(d, jnp.floating)}
    return len(computed) == 1 and floating <= computed


def plan(tx: Any, params: Any, grads: Any, state: Any, *, placed: bool = False) -> Run | None:
    """A fused run of `tx`'s step, or None when the kernel does not apply here: an alias it does
    not implement, options it does not take, leaf dtypes it has no rule for, tracers of
    `vmap`/`grad`, a backend other than CPU, or no compiled kernel. A traced step is fused only
    in a process with one device (a traced value does not say how it is sharded), unless
    `placed`: the caller saw the concrete arrays on one device."""
    recipe = _registry.recipe_of(tx)
    if recipe is None:
        return None
    alias = _registry.alias_of(recipe.factory)
    make = SPECS.get(alias.name) if alias is not None else None
    if make is None or jax.default_backend() != "cpu" or not _native.load():
        return None
    if recipe.injection is not None:
        make = injected(make, recipe)
    if not placed and jax.device_count() != 1:
        return None
    if not isinstance(state, tuple) or not all(_is_plain_leaf(x) for x in jax.tree.leaves(state)):
        return None
    try:
        expected = jax.tree.structure(jax.eval_shape(tx.init, params))
    except Exception:  # noqa: BLE001 - params `init` refuses: the chain will say why
        return None
    if jax.tree.structure(state) != expected:
        return None
    spec = make(recipe.arguments, state)
    if spec is None:
        return None
    columns = _leaf_columns(params, grads, _trees(spec, state))
    if columns is None:
        return None
    try:
        _targets(spec, params)
    except Exception:  # noqa: BLE001 - a mask that does not fit: the chain will say why
        return None
    dtypes = {np.dtype(x.dtype) for column in columns for x in column}
    if not dtypes <= {F32, F64, *spec.half}:
        return None
    if recipe.injection is not None and not _injected_dtypes_fit(state, columns):
        return None
    if spec.rsqrt and not all(
        _native.exact_rsqrt("float64" if d == F64 else "float32") for d in dtypes
    ):
        return None
    return lambda params, grads, state: _run(tx, spec, params, grads, state)
