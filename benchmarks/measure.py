"""How it is measured: one function per measurement, each returning plain numbers.

A *runner* is a no-argument callable that performs one step and blocks until its results exist,
so `time.perf_counter` around it measures the whole step, dispatch included.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import floor_c

Runner = Callable[[], None]
FUSED_CALL = "custom_call @gradtx_"  # how gradtx's fused kernel appears in lowered StableHLO


@dataclasses.dataclass
class Timing:
    """Median and interquartile range of per-step wall times, in seconds."""

    median_s: float
    iqr_s: float
    samples: int


def timing(samples: list[float]) -> Timing:
    q25, q50, q75 = np.percentile(samples, [25, 50, 75])
    return Timing(float(q50), float(q75 - q25), len(samples))


def time_once(run: Runner) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def time_interleaved(
    runners: dict[str, Runner], *, warmup: int, blocks: int, steps: int
) -> dict[str, Timing]:
    """Warm every runner up, then alternate blocks of `steps` steps, reversing the order each
    block, so that drift in machine load falls on all runners alike."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for block in range(blocks):
        for name in names if block % 2 == 0 else names[::-1]:
            for _ in range(steps):
                samples[name].append(time_once(runners[name]))
    return {name: timing(s) for name, s in samples.items()}


@dataclasses.dataclass
class Compiled:
    """A lowered and compiled step with XLA's analyses, and a runner that steps it in place."""

    lower_s: float
    compile_s: float
    memory: dict[str, int]  # from `compiled.memory_analysis()`
    bytes_accessed: float  # from `compiled.cost_analysis()`
    fused_calls: int  # gradtx's FFI custom calls in the lowered program (its fused kernel)
    run: Runner


def compile_and_analyse(
    fn: Callable, args: list, donate: tuple[int, ...], phase: Callable[[str], None]
) -> Compiled:
    """Time `jax.jit(fn).lower(*args)` and `.compile()` apart, read XLA's memory and cost
    analyses, and return a runner that feeds each call's outputs back as the donated inputs.
    `phase` is told "lower", "compile", then "analyse", before each begins."""
    jitted = jax.jit(fn, donate_argnums=donate)
    phase("lower")
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    lowered_at = time.perf_counter()
    phase("compile")
    compiled = lowered.compile()
    compiled_at = time.perf_counter()
    phase("analyse")
    stats = compiled.memory_analysis()
    memory = {
        "temp_bytes": stats.temp_size_in_bytes,
        "argument_bytes": stats.argument_size_in_bytes,
        "output_bytes": stats.output_size_in_bytes,
        "alias_bytes": stats.alias_size_in_bytes,
    }
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # a list of one dict in older JAX
    args = list(args)

    def run():
        outputs = compiled(*args)
        for i, out in zip(donate, outputs, strict=True):
            args[i] = out
        jax.block_until_ready(outputs)

    return Compiled(
        lower_s=lowered_at - start,
        compile_s=compiled_at - lowered_at,
        memory=memory,
        bytes_accessed=float(cost["bytes accessed"]),
        fused_calls=lowered.as_text().count(FUSED_CALL),
        run=run,
    )


def state_bytes(state) -> int:
    return sum(leaf.nbytes for leaf in jax.tree.leaves(state))


def shared_buffers(state) -> int:
    """How many state leaves are the very same array as an earlier leaf. Donating such a state
    fails ("Attempt to donate the same buffer twice"), so the caller copies it and says so."""
    leaves = jax.tree.leaves(state)
    return len(leaves) - len({id(leaf) for leaf in leaves})


def donatable_init(tx, params) -> tuple[Any, int]:
    """`tx.init(params)` with every leaf its own buffer, so that it can be donated, and how many
    leaves `init` returned aliasing another (copied)."""
    state = tx.init(params)
    shared = shared_buffers(state)
    return (jax.tree.map(jnp.copy, state) if shared else state), shared


def jitted_step(tx, step, params, grads, phase) -> tuple[Compiled, int, list[str]]:
    """The compiled train step `step(params, state, grads) -> (params, state)` with params and
    state donated; also the state's bytes, and notes on anything the harness had to work
    around."""
    notes = []
    state, shared = donatable_init(tx, params)
    if shared:
        notes.append(f"init returns {shared} state leaf(s) aliasing another; copied to donate")
    size = state_bytes(state)
    return compile_and_analyse(step, [params, state, grads], (0, 1), phase), size, notes


def eager_step(tx, step, params, grads) -> Runner:
    """The un-jitted step as met in a notebook, e.g. `update` then `apply_updates`, op by op
    (a state whose leaves share a buffer is copied, in case `step` donates it)."""
    box = [params, donatable_init(tx, params)[0]]

    def run():
        box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box)

    return run


def dispatch_floor(tx, params, grads) -> Compiled:
    """A jitted step that returns its donated params and state untouched: what calling a
    compiled program with these arguments costs (per-argument dispatch, donation, aliasing)
    before any arithmetic."""
    state = donatable_init(tx, params)[0]

    def untouched(params, state, grads):
        return params, state

    return compile_and_analyse(untouched, [params, state, grads], (0, 1), phase=lambda _: None)


def floor_kernel(inputs: int, outputs: int) -> Callable:
    """An elementwise kernel that reads each of `inputs` arrays once and writes `outputs` arrays
    once, the last input (the gradient) read with the first (the parameters), e.g. Adam's
    params, mu, nu, grads -> params, mu, nu. Each output reads only its own arrays: XLA on CPU
    does not fuse sibling outputs, so a kernel whose every output reads every input would move
    `outputs` times the bytes and would be no floor. Half-precision arrays are computed in
    float32 and rounded once: op by op, XLA on CPU would round after every operation, and such
    a kernel is slower than the float32 one despite moving half the bytes."""
    assert inputs == outputs + 1, (inputs, outputs)

    def kernel(*xs):
        dtype = xs[0].dtype
        wide = [x.astype(jnp.promote_types(dtype, jnp.float32)) for x in xs]
        first = 0.5 * wide[0] + 1e-3 * wide[-1]
        return tuple(y.astype(dtype) for y in (first, *(0.5 * x + 1.0 for x in wide[1:outputs])))

    return kernel


@functools.cache
def bandwidth_floor(
    size: int, inputs: int, outputs: int, dtype: str = "float32", c: bool = False
) -> Compiled:
    """The floor kernel compiled over vectors of `size` and `dtype`, the rewritten inputs
    donated; one per size, arity, dtype and kind for the whole run (cached), stepped in place.
    `c`: the C++ kernel (`floor_c`, which must be loaded) instead of XLA's."""
    keys = jax.random.split(jax.random.key(1), inputs)
    args = [jax.random.normal(k, (size,), dtype) for k in keys]
    kernel = floor_c.kernel(inputs, outputs) if c else floor_kernel(inputs, outputs)
    return compile_and_analyse(kernel, args, tuple(range(outputs)), phase=lambda _: None)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None where either is missing or the quotient is not finite."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None
