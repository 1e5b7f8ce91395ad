"""The test suite's one house: gradient sequences, one run loop, one mixed pytree, and one policy
for comparing a jitted update with the eager one. Every test file uses these; the registry of
optimizers is `tests/registry.py`."""

import inspect
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

STEPS = 10
ZERO_STEP = 3  # an all-zero gradient at this step


def normal(rng, shape):
    return rng.normal(size=shape)


def grad_steps(seed, draw=normal):
    """Float64 gradients {"w": (3, 4), "b": (4,)} drawn by `draw(rng, shape)`, one step all
    zeros."""
    rng = np.random.default_rng(seed)
    steps = [{"w": draw(rng, (3, 4)), "b": draw(rng, (4,))} for _ in range(STEPS)]
    steps[ZERO_STEP] = {k: np.zeros_like(v) for k, v in steps[ZERO_STEP].items()}
    return steps


# The run loop.
class Step(NamedTuple):
    """One step of `steps`: the gradient fed in, the updates out, the params after them (the
    same params unless `apply`), and the state."""

    grads: Any
    updates: Any
    params: Any
    state: Any


def steps(
    tx,
    params,
    grads,
    *,
    count: int | None = None,
    apply: bool | Callable = False,
    jit: bool = False,
) -> Iterator[Step]:
    """The one run loop: feed `tx` gradients from `tx.init(params)` on, yielding each `Step`.

    `grads` is a sequence of gradient trees (an open loop), or a function of the params that
    gives the gradient (a closed loop), called `count` times. With `apply` the updates are added
    to the params (`True` for `gradtx.apply_updates`, or another apply function); without, the
    params stay fixed, as a transformation's unit test wants. `jit` jits `tx.update` (open
    loop) or the whole step, gradient, update and apply together (closed loop).
    """
    apply_fn = gradtx.apply_updates if apply is True else apply

    def closed_step(params, state):
        g = grads(params)
        updates, state = tx.update(g, state, params)
        return g, updates, (apply_fn(params, updates) if apply_fn else params), state

    state = tx.init(params)
    if callable(grads):
        step = jax.jit(closed_step) if jit else closed_step
        for _ in range(count):
            g, updates, params, state = step(params, state)
            yield Step(g, updates, params, state)
        return
    update = jax.jit(tx.update) if jit else tx.update
    for g in grads:
        updates, state = update(g, state, params)
        if apply_fn:
            params = apply_fn(params, updates)
        yield Step(g, updates, params, state)


def signature(factory):
    """Each argument's name, default and kind: what "Optax's argument names, order and defaults"
    compares."""
    return [(p.name, p.default, p.kind) for p in inspect.signature(factory).parameters.values()]


def loss_argument(tx, value):
    """`{"value": value}` for a transformation whose update takes the loss (`polyak_sgd`), else
    nothing: the keyword arguments a generic test passes to `tx.update`."""
    return {"value": value} if gradtx._base.takes_extra_args(tx) else {}


def run(tx, grad_steps, params=None):
    """The updates of `tx` over `grad_steps` at fixed params (all ones unless given), and its
    last state: a transformation's unit test."""
    if params is None:
        params = {k: np.ones_like(v) for k, v in grad_steps[0].items()}
    trace = list(steps(tx, jax.tree.map(jnp.asarray, params), _as_arrays(grad_steps)))
    return [s.updates for s in trace], trace[-1].state


def descend(tx, grad_fn, params, count, *, jit=False):
    """Params and state after `count` closed-loop steps of `tx` on the gradient `grad_fn`."""
    *_, last = steps(tx, params, grad_fn, count=count, apply=True, jit=jit)
    return last.params, last.state


def _as_arrays(grad_steps):
    return [jax.tree.map(jnp.asarray, g) for g in grad_steps]


# The mixed pytree: nested dict, list and tuple; a None subtree; a Python float leaf; leaves of
# rank 0, 1 and 2. `dtypes` gives the four array leaves' dtypes (all float64 by default).
MIXED_DTYPES = (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)


def mixed_params(dtypes=(jnp.float64,) * 4):
    a, b, c, d = dtypes
    return {
        "a": jnp.asarray([1.0, -2.0, 0.5], a),
        "b": [jnp.asarray([[0.25, -1.0], [3.0, 1.0]], b), None, 1.5],
        "c": (jnp.asarray(-0.75, c), {"d": jnp.asarray([[2.0, -0.125, 1.0]], d)}),
    }


def mixed_grads(dtypes=(jnp.float64,) * 4):
    """Gradients shaped like `mixed_params(dtypes)`, one entry exactly zero."""
    a, b, c, d = dtypes
    return {
        "a": jnp.asarray([0.1, -0.2, 0.3], a),
        "b": [jnp.asarray([[1.0, -1.0], [0.5, 0.0]], b), None, 0.25],
        "c": (jnp.asarray(-0.4, c), {"d": jnp.asarray([[0.5, 2.0, -0.25]], d)}),
    }


def shapes(tree):
    return [jnp.shape(x) for x in jax.tree.leaves(tree)]


# Jit against eager.
# Tolerance per dtype, relative to each array's largest magnitude: under jit XLA fuses a * b + c
# into one multiply-add, which can differ by an ulp of the operands, more than an ulp of a small
# result. For well-conditioned data (every test but the random-value property test, which passes
# its own looser table).
JIT_RTOL = {jnp.dtype(jnp.float64): 1e-15}


def assert_jit_matches(jitted, eager, rtol=JIT_RTOL, what=""):
    """`jitted` equals `eager`: the same tree structure and dtypes; non-float leaves (counts,
    flags, PRNG key data) exactly; a float leaf to within r (|entry| + the array's largest finite
    magnitude), r = `rtol[dtype]`."""
    assert jax.tree.structure(jitted) == jax.tree.structure(eager), what
    for a, e in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype, what
        if not np.issubdtype(a.dtype, np.inexact) and a.dtype != jnp.bfloat16:
            np.testing.assert_array_equal(a, e, err_msg=what)
            continue
        tol = rtol[jnp.dtype(a.dtype)]
        wide = np.complex128 if np.iscomplexobj(a) else np.float64
        a64, e64 = a.astype(wide), e.astype(wide)
        scale = np.max(np.abs(e64[np.isfinite(e64)]), initial=0.0)
        np.testing.assert_allclose(a64, e64, rtol=tol, atol=tol * scale, err_msg=what)


def check_jit_matches_eager(tx, params, grad_steps):
    """The jitted update equals the eager one, step by step, updates and state."""
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    jit_update = jax.jit(tx.update)
    for g in _as_arrays(grad_steps):
        eager_u, eager_state = tx.update(g, state, params)
        jit_u, jit_state = jit_update(g, state, params)
        assert_jit_matches(jit_u, eager_u)
        assert_jit_matches(jit_state, eager_state)
        state = eager_state
