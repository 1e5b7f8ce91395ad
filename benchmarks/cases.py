"""What is measured: trees of parameters, and each optimizer in gradtx and in Optax.

Every tree of a run holds the same number of parameters, split into more and smaller leaves from
A to D, so that the bandwidth floor is the same and only the per-leaf overhead differs. A16 is
tree A in bfloat16 (params, gradients and state): it should cost no more than A.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

import gradtx
from gradtx.tour.menu import MENU, OptimizerSpec


@dataclasses.dataclass(frozen=True)
class Tree:
    """A dict of `leaves` vectors of `leaf_size` elements each."""

    name: str
    leaves: int
    leaf_size: int
    isolate: bool = False  # run in a child process with memory and time caps
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return self.leaves * self.leaf_size


FULL_TREES = (
    Tree("A", 1, 16_000_000),
    Tree("B", 100, 160_000),
    Tree("C", 2_000, 8_000),
    Tree("D", 20_000, 800, isolate=True),
    Tree("A16", 1, 16_000_000, dtype="bfloat16"),
)
QUICK_TREES = (
    Tree("A", 1, 64_000),
    Tree("B", 10, 6_400),
    Tree("C", 50, 1_280),
    Tree("D", 200, 320, isolate=True),
    Tree("A16", 1, 64_000, dtype="bfloat16"),
)
TREE_NAMES = tuple(t.name for t in FULL_TREES)


@functools.cache  # drawn once per run: every optimizer gets the same values
def host_tree(tree: Tree, seed: int) -> dict[str, np.ndarray]:
    """Standard-normal leaves drawn with `jax.random`, kept on the host so that each library
    gets its own device copy (params and state are donated, so they cannot be shared). Callers
    must not modify the arrays: they are shared by every optimizer of the run."""
    shape = (tree.leaves, tree.leaf_size)
    values = np.asarray(jax.random.normal(jax.random.key(seed), shape, tree.dtype))
    return {f"w{i:05d}": row for i, row in enumerate(values)}


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """One optimizer in each library; `moments` is how many parameter-sized state buffers the
    algorithm needs, which fixes the bytes one step must move (see `necessary_bytes`)."""

    name: str
    moments: int
    gradtx: Callable[[], gradtx.GradientTransformation]
    optax: Callable[[], optax.GradientTransformation] | None  # None: Optax has no such optimizer


# The optimizers of the tour's menu that are benchmarked, by menu name: the state buffers each
# needs and Optax's factory of the same algorithm (None: Optax has none).
_BENCHMARKED: dict[str, tuple[int, Callable[..., optax.GradientTransformation] | None]] = {
    "momentum": (1, functools.partial(optax.sgd, momentum=0.9)),
    "rmsprop": (1, optax.rmsprop),
    "adagrad": (1, optax.adagrad),
    "adam": (2, optax.adam),
    "adamax": (2, optax.adamax),
    "nadam": (2, optax.nadam),
    "amsgrad": (3, optax.amsgrad),
    "adabound": (2, None),
}
# Benchmark names that differ from the menu's (as results/*.json and tests/test_benchmarks.py
# name them).
_RENAMED = {"momentum": "sgd_momentum"}


def _case(spec: OptimizerSpec) -> Optimizer:
    """The benchmark case of a menu entry, both libraries at the entry's default learning rate."""
    moments, reference = _BENCHMARKED[spec.name]
    rate = spec.learning_rate
    return Optimizer(
        _RENAMED.get(spec.name, spec.name),
        moments,
        functools.partial(spec.build, rate),
        None if reference is None else functools.partial(reference, rate),
    )


OPTIMIZERS = {o.name: o for o in (_case(spec) for spec in MENU if spec.name in _BENCHMARKED)}
QUICK_OPTIMIZERS = ("sgd_momentum", "adam")

GRADTX, GRADTX_FUSED = "gradtx", "gradtx.fused"
OPTAX, OPTAX_FLATTEN = "optax", "optax.flatten"
LIBRARIES = (GRADTX, GRADTX_FUSED, OPTAX, OPTAX_FLATTEN)  # the order of rows in a report


def libraries(opt: Optimizer, compare_flatten: bool) -> dict[str, Callable | None]:
    """The transformations to compare for `opt`, gradtx's first; None marks a missing one.
    `gradtx` and `gradtx.fused` are the same transformation, stepped by its XLA chain and by
    `gradtx.step` (the fused kernel on CPU)."""
    libs = {GRADTX: opt.gradtx, GRADTX_FUSED: opt.gradtx, OPTAX: opt.optax}
    if compare_flatten and opt.name == "adam":
        libs[OPTAX_FLATTEN] = lambda: optax.flatten(opt.optax())
    return libs


Step = Callable[[Any, Any, Any], tuple[Any, Any]]  # (params, state, grads) -> (params, state)


def step_function(library: str, tx, *, eager: bool = False) -> Step:
    """The train step of `library` for `tx`. The XLA libraries: `update` then `apply_updates`
    (op by op when not jitted); gradtx.fused: `gradtx.step`, which outside `jit` (`eager`) runs
    one compiled program and consumes params and state (`donate=True`)."""
    if library == GRADTX_FUSED:

        def fused(params, state, grads):
            return gradtx.step(tx, params, grads, state, donate=eager)

        return fused
    apply_updates = gradtx.apply_updates if library == GRADTX else optax.apply_updates

    def chained(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return apply_updates(params, updates), state

    return chained


def floor_arity(opt: Optimizer) -> tuple[int, int]:
    """(inputs, outputs) of the elementwise kernel with the optimizer's necessary traffic:
    read params, grads and each moment; write params and each moment."""
    return 2 + opt.moments, 1 + opt.moments


def necessary_bytes(opt: Optimizer, tree: Tree) -> int:
    """Bytes one step cannot avoid moving, e.g. Adam: 4 reads + 3 writes = 28 B per parameter."""
    inputs, outputs = floor_arity(opt)
    return (inputs + outputs) * jax.numpy.dtype(tree.dtype).itemsize * tree.size
