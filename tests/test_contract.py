"""The contract every optimizer and transformation keeps, driven from one registry.

Converges (optimizers); jit equals eager, and a jitted update traces once; a `lax.scan` loop
equals a Python loop, and `vmap` over independent problems equals running them one by one; step
counters are int32 scalars; state buffers are distinct. Structure, shapes and dtypes of updates
and state on mixed pytrees (nested containers, None and Python-float leaves, float16 to
float64), eager and jitted, are test_properties.py's, on random trees of the same kinds.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers
from tests.registry import ALL, COUNT_FREE, OPTIMIZERS

STEPS = 6
TARGET = {"w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.asarray([0.25, -1.0])}


def loss(params):
    pairs = zip(jax.tree.leaves(params), jax.tree.leaves(TARGET), strict=True)
    return sum(jnp.sum((p - t) ** 2) for p, t in pairs)


def start():
    return jax.tree.map(jnp.zeros_like, TARGET)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_converges_on_a_quadratic(name):
    params, _ = helpers.descend(OPTIMIZERS[name](), jax.grad(loss), start(), 300, jit=True)
    assert float(loss(params)) < 1e-2 * float(loss(start()))


@pytest.mark.parametrize("name", ALL)
def test_jit_scan_and_vmap_equal_the_eager_loop(name):
    """On one problem, STEPS steps: the jitted update equals the eager one step by step (and
    traces once); a `lax.scan` loop equals the Python loop; `vmap` over independent problems
    equals solving them one by one. One compiled scan serves the last two (and its batched
    version)."""
    tx = ALL[name]()
    params = start()
    state = tx.init(params)
    jitted = jax.jit(chex.assert_max_traces(lambda g, s, p: tx.update(g, s, p), n=1))
    for _ in range(STEPS):
        g = jax.grad(loss)(params)
        eager_updates, eager_state = tx.update(g, state, params)
        jit_updates, state = jitted(g, state, params)
        helpers.assert_jit_matches(jit_updates, eager_updates)
        helpers.assert_jit_matches(state, eager_state)
        # and elementwise, however small the entry, as this test has always asserted
        chex.assert_trees_all_close(jit_updates, eager_updates, rtol=1e-12, atol=0)
        params = gradtx.apply_updates(params, jit_updates)
    chex.clear_trace_counter()

    def body(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return (gradtx.apply_updates(params, updates), state), loss(params)

    @jax.jit
    def solve(params):
        (params, _), losses = jax.lax.scan(body, (params, tx.init(params)), length=STEPS)
        return params, losses

    scanned, losses = solve(start())
    chex.assert_trees_all_close(scanned, params, rtol=1e-12, atol=1e-300)
    assert losses.shape == (STEPS,)

    starts = [jax.tree.map(lambda t, k=k: t * k, TARGET) for k in (-1.0, 0.5, 2.0)]
    batched, _ = jax.jit(jax.vmap(solve))(jax.tree.map(lambda *xs: jnp.stack(xs), *starts))
    for k, params in enumerate(starts):
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, k=k: x[k], batched), solve(params)[0], rtol=1e-12, atol=1e-300
        )


def counters(state):
    """path -> leaf for every integer scalar of a state: step counts and switch steps (a PRNG
    key's data is an array, not a scalar)."""
    return {
        jax.tree_util.keystr(path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
        if jnp.ndim(leaf) == 0 and jnp.issubdtype(jnp.result_type(leaf), jnp.integer)
    }


@pytest.mark.parametrize("name", ALL)
def test_step_count_is_int32(name):
    """Every counter is an int32 scalar that starts at 0; a field named `count` counts the
    updates; an entry without a counter is declared in `registry.COUNT_FREE`."""
    tx = ALL[name]()
    state = tx.init(start())
    found = counters(state)
    assert bool(found) != (name in COUNT_FREE), f"{name}: counters {sorted(found)}"
    assert all(c.dtype == jnp.int32 for c in found.values()), found
    np.testing.assert_array_equal([int(c) for c in found.values()], [0] * len(found))
    for _ in range(3):
        _, state = tx.update(jax.grad(loss)(start()), state, start())
    after = counters(state)
    assert after.keys() == found.keys() and all(c.dtype == jnp.int32 for c in after.values())
    counts = [int(c) for path, c in after.items() if path.endswith(".count")]
    np.testing.assert_array_equal(counts, [3] * len(counts))


@pytest.mark.parametrize("name", ALL)
def test_state_buffers_are_distinct_so_state_can_be_donated(name):
    state = ALL[name]().init(start())
    buffers = [leaf for leaf in jax.tree.leaves(state) if isinstance(leaf, jax.Array)]
    assert len({id(b) for b in buffers}) == len(buffers)
