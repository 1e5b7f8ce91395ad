"""The fused CPU step: which optimizers it takes, and how their scalars reach the kernel.

`plan(tx, params, grads, state)` recognises an optimizer built by a registered alias that the
kernel implements (from the alias's recorded arguments, `_registry.recipe_of`) and returns a
function `(params, grads, state) -> (params, state)` running it as XLA FFI custom calls, or None.
The chain stays the definition: the scalars (bias corrections, the scheduled learning rate) are
computed here with the chain's own helpers, in the leaf's dtype, and passed to the kernel as a
1-D operand, so a changed learning rate does not recompile; the per-element arithmetic is
`_native/fused_step.cc`, written operation for operation as the chain computes it.

The leaves go to the kernel in calls of at most `CHUNK` leaves of one dtype: XLA's handling of
in-place aliases grows faster than quadratically with the operands of one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _native, _registry, _tree
from gradtx._base import EmptyState, apply_updates
from gradtx._transforms.adam import ScaleByAdamState
from gradtx._transforms.decay import AddDecayedWeightsState
from gradtx._transforms.momentum import TraceState
from gradtx._transforms.scaling import ScaleByScheduleState

CHUNK = 32  # leaves per custom call
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Run = Callable[[Any, Any, Any], tuple[Any, Any]]


class Kernel(NamedTuple):
    """One fused rule: its FFI target, the per-leaf state trees it reads and writes (in the
    kernel's field order), the scalars it needs, and how the new state is put together."""

    target: str
    trees: Callable[[Any], Sequence[Any]]  # state -> the per-leaf trees
    scalars: Callable[[Any, Any], jax.Array]  # (state, dtype) -> hp
    rebuild: Callable[[Any, Sequence[Any]], Any]  # (state, new trees) -> new state
    with_trees: Callable[[Any, Sequence[Any]], Any]  # (state, other trees) -> same step's state


def _learning_rate_factor(learning_rate: Any, lr_state: Any, dtype: Any) -> jax.Array | None:
    """-lr as `scale_by_learning_rate` multiplies by it, or None for an unexpected state."""
    if callable(learning_rate):
        if not isinstance(lr_state, ScaleByScheduleState):
            return None
        return jnp.asarray(-1 * learning_rate(lr_state.count), dtype)
    if not isinstance(lr_state, EmptyState):
        return None
    return jnp.asarray(-1 * learning_rate, dtype)


def _next_lr_state(lr_state: Any) -> Any:
    if isinstance(lr_state, ScaleByScheduleState):
        return ScaleByScheduleState(count=_tree.safe_increment(lr_state.count))
    return lr_state


def _adam_kernel(arguments: dict[str, Any], state: Any, decay: bool) -> Kernel | None:
    if arguments["nesterov"] or arguments["mu_dtype"] is not None:
        return None
    if decay and arguments["mask"] is not None:
        return None
    types_ = (ScaleByAdamState, AddDecayedWeightsState) if decay else (ScaleByAdamState,)
    if not (isinstance(state, tuple) and len(state) == len(types_) + 1):
        return None
    if not all(isinstance(s, t) for s, t in zip(state, types_, strict=False)):
        return None
    learning_rate = arguments["learning_rate"]
    if _learning_rate_factor(learning_rate, state[-1], jnp.float32) is None:
        return None

    def scalars(state, dtype):
        adam = state[0]
        count = _tree.safe_increment(adam.count)
        b1, b2, eps, eps_root = _tree.as_dtype(
            dtype, arguments["b1"], arguments["b2"], arguments["eps"], arguments["eps_root"]
        )
        # XLA multiplies by the reciprocal of a broadcast scalar divisor, and so does the kernel.
        r1 = 1 / _tree.bias_correction(b1, count, dtype)
        r2 = 1 / _tree.bias_correction(b2, count, dtype)
        neg_lr = _learning_rate_factor(learning_rate, state[-1], dtype)
        if decay:
            rate = arguments["weight_decay"]
            wd = jnp.asarray(rate(state[1].count) if callable(rate) else rate, dtype)
        else:
            wd = jnp.zeros([], dtype)
        return jnp.stack([b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps, neg_lr, wd])

    def rebuild(state, trees):
        mu, nu = trees
        adam = ScaleByAdamState(_tree.safe_increment(state[0].count), mu, nu)
        middle = (AddDecayedWeightsState(_tree.safe_increment(state[1].count)),) if decay else ()
        return (adam, *middle, _next_lr_state(state[-1]))

    def with_trees(state, trees):
        return (state[0]._replace(mu=trees[0], nu=trees[1]), *state[1:])

    target = "gradtx_adamw" if decay else "gradtx_adam"
    trees = lambda state: (state[0].mu, state[0].nu)
    return Kernel(target, trees, scalars, rebuild, with_trees)


def _sgd_kernel(arguments: dict[str, Any], state: Any) -> Kernel | None:
    momentum = arguments["momentum"]
    if momentum is None or not (isinstance(state, tuple) and len(state) == 2):
        return None
    if not isinstance(state[0], TraceState):
        return None
    learning_rate = arguments["learning_rate"]
    if _learning_rate_factor(learning_rate, state[-1], jnp.float32) is None:
        return None

    def scalars(state, dtype):
        neg_lr = _learning_rate_factor(learning_rate, state[-1], dtype)
        return jnp.stack([jnp.asarray(momentum, dtype), neg_lr])

    def rebuild(state, trees):
        trace = TraceState(_tree.safe_increment(state[0].count), trees[0])
        return (trace, _next_lr_state(state[-1]))

    def with_trees(state, trees):
        return (state[0]._replace(trace=trees[0]), state[1])

    target = "gradtx_nesterov" if arguments["nesterov"] else "gradtx_momentum"
    return Kernel(target, lambda state: (state[0].trace,), scalars, rebuild, with_trees)


KERNELS: dict[str, Callable[[dict[str, Any], Any], Kernel | None]] = {
    "adam": lambda arguments, state: _adam_kernel(arguments, state, decay=False),
    "adamw": lambda arguments, state: _adam_kernel(arguments, state, decay=True),
    "sgd": _sgd_kernel,
}


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
    """[params leaves, grads leaves, state tree leaves...] when every leaf of every tree has the
    params' structure, shape and a float32/float64 dtype shared along its row; else None."""
    treedef = jax.tree.structure(params)
    columns = []
    for tree in (params, grads, *trees):
        if jax.tree.structure(tree) != treedef:
            return None
        columns.append(jax.tree.leaves(tree))
    for row in zip(*columns, strict=True):
        if not all(_is_plain_leaf(x) for x in row):
            return None
        if len({(x.dtype, x.shape) for x in row}) != 1 or row[0].dtype not in DTYPES:
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


def _run(tx: Any, kernel: Kernel, params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
    trees = kernel.trees(state)
    columns = _leaf_columns(params, grads, trees)
    assert columns is not None  # checked by `plan`
    out: list[list[Any]] = [list(column) for column in (columns[0], *columns[2:])]
    # A one-element leaf goes through the chain itself: XLA simplifies its divisions otherwise
    # (a / c / d becomes a / (c d) where no broadcast is involved), and rounds differently.
    single = [i for i, leaf in enumerate(columns[0]) if leaf.size == 1]
    if single:
        _run_chain(tx, kernel, state, [[col[i] for i in single] for col in columns], single, out)
    by_dtype: dict[Any, list[int]] = {}
    for i, leaf in enumerate(columns[0]):
        if leaf.size != 1:
            by_dtype.setdefault(leaf.dtype, []).append(i)
    for dtype, indices in by_dtype.items():
        hp = kernel.scalars(state, dtype)
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start : start + CHUNK]
            results = _call(kernel.target, hp, [[col[i] for i in chunk] for col in columns])
            _scatter(results, chunk, out)
    treedef = jax.tree.structure(params)
    new_params, *new_trees = (treedef.unflatten(column) for column in out)
    return new_params, kernel.rebuild(state, new_trees)


def _run_chain(
    tx: Any, kernel: Kernel, state: Any, columns: list[list[Any]], where: list[int], out: list
) -> None:
    """The chain's own step on some leaves (lists of them), written into `out` at `where`."""
    params, grads, *trees = columns
    updates, new_state = tx.update(grads, kernel.with_trees(state, trees), params)
    new_params = apply_updates(params, updates)
    _scatter([new_params, *kernel.trees(new_state)], where, out)


def _scatter(results: Sequence[Sequence[Any]], where: list[int], out: list) -> None:
    for column, new in zip(out, results, strict=True):
        for i, x in zip(where, new, strict=True):
            column[i] = x


def plan(tx: Any, params: Any, grads: Any, state: Any, *, placed: bool = False) -> Run | None:
    """A fused run of `tx`'s step, or None when the kernel does not apply here: an alias it does
    not implement, options it does not take, leaves that are not float32/float64 arrays with
    the state in their dtype, tracers of `vmap`/`grad`, a backend other than CPU, or no compiled
    kernel. A traced step is fused only in a process with one device (a traced value does not
    say how it is sharded), unless `placed`: the caller saw the concrete arrays on one device."""
    recipe = _registry.recipe_of(tx)
    if recipe is None or recipe.injection is not None:
        return None
    alias = _registry.alias_of(recipe.factory)
    make = KERNELS.get(alias.name) if alias is not None else None
    if make is None or jax.default_backend() != "cpu" or not _native.load():
        return None
    if not placed and jax.device_count() != 1:
        return None
    kernel = make(recipe.arguments, state)
    if kernel is None:
        return None
    if _leaf_columns(params, grads, kernel.trees(state)) is None:
        return None
    if not all(_is_plain_leaf(x) for x in jax.tree.leaves(state)):
        return None
    return lambda params, grads, state: _run(tx, kernel, params, grads, state)
