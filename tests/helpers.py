"""Helpers shared by the per-module unit tests: gradient sequences, a run loop, a mixed pytree,
and the jit-against-eager check."""

import jax
import jax.numpy as jnp
import numpy as np

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


def run(tx, grad_steps, params=None):
    """The updates of `tx` over `grad_steps` (params all ones unless given), and its last state."""
    if params is None:
        params = {k: np.ones_like(v) for k, v in grad_steps[0].items()}
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    out = []
    for g in grad_steps:
        u, state = tx.update(jax.tree.map(jnp.asarray, g), state, params)
        out.append(u)
    return out, state


def assert_jit_matches(jitted, eager):
    """Equal to 1e-15 of each array's largest entry: under jit XLA fuses a * b + c into one
    multiply-add, which can differ by an ulp of the operands, more than an ulp of a small result."""
    assert jax.tree.structure(jitted) == jax.tree.structure(eager)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-15 * float(jnp.max(jnp.abs(b))))


def check_jit_matches_eager(tx, params, grad_steps):
    """The jitted update equals the eager one, step by step, updates and state."""
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    jit_update = jax.jit(tx.update)
    for g in grad_steps:
        g = jax.tree.map(jnp.asarray, g)
        eager_u, eager_state = tx.update(g, state, params)
        jit_u, jit_state = jit_update(g, state, params)
        assert_jit_matches(jit_u, eager_u)
        assert_jit_matches(jit_state, eager_state)
        state = eager_state


def mixed_params():
    return {"a": jnp.ones(3), "b": [jnp.ones((2, 2)), None, 1.5], "c": (jnp.ones(()),)}


def mixed_grads():
    return {
        "a": jnp.asarray([0.1, -0.2, 0.3]),
        "b": [jnp.asarray([[1.0, -1.0], [0.5, 0.0]]), None, 0.25],
        "c": (jnp.asarray(-0.4),),
    }


def shapes(tree):
    return [jnp.shape(x) for x in jax.tree.leaves(tree)]
