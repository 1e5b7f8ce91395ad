"""`zero_nans` against a NumPy transcription and Optax 0.2.8."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx
from tests import replay


def grads_with_nans(steps=10):
    """Replayed gradients with NaNs (and an infinity) in some leaves at some steps."""
    grads = replay.replay_gradients(replay.replay_params(), steps=steps)
    grads[2] = {**grads[2], "w": grads[2]["w"].at[1, 1].set(jnp.nan)}
    grads[5] = {**grads[5], "s": jnp.asarray(jnp.nan), "b": grads[5]["b"].at[0].set(jnp.inf)}
    return grads


def test_zero_nans_matches_numpy_and_optax_bit_for_bit():
    tx, reference = gradtx.zero_nans(), optax.zero_nans()
    params = replay.replay_params()
    state, their_state = tx.init(params), reference.init(params)
    update = jax.jit(tx.update)
    for g in grads_with_nans():
        updates, state = update(g, state, params)
        expected, their_state = reference.update(g, their_state, params)
        for name, leaf in g.items():
            leaf = np.asarray(leaf)
            np.testing.assert_array_equal(updates[name], np.where(np.isnan(leaf), 0.0, leaf))
            assert bool(state.found_nan[name]) == bool(np.isnan(leaf).any())
        jax.tree.map(np.testing.assert_array_equal, updates, expected)
        jax.tree.map(np.testing.assert_array_equal, tuple(state), tuple(their_state))
    assert state._fields == optax.ZeroNansState._fields


def test_zero_nans_keeps_infinities_and_dtypes():
    tx = gradtx.zero_nans()
    g = {"a": jnp.asarray([jnp.nan, jnp.inf], jnp.bfloat16), "b": jnp.asarray(-jnp.inf)}
    updates, state = tx.update(g, tx.init(g))
    np.testing.assert_array_equal(np.asarray(updates["a"], float), [0.0, np.inf])
    assert updates["a"].dtype == jnp.bfloat16 and float(updates["b"]) == -np.inf
    assert state.found_nan == {"a": True, "b": False}


def test_keep_params_nonnegative_matches_optax_and_keeps_params_nonnegative():
    """A closed loop of SGD on a loss whose minimum has negative coordinates."""
    target = {"w": jnp.asarray([[1.0, -2.0], [-0.5, 3.0]]), "b": jnp.asarray([-1.0, 0.25])}
    grad = jax.grad(lambda p: sum(jnp.sum((p[k] - target[k]) ** 2) for k in p))
    mine = gradtx.chain(gradtx.sgd(0.3), gradtx.keep_params_nonnegative())
    theirs = optax.chain(optax.sgd(0.3), optax.keep_params_nonnegative())
    start = jax.tree.map(lambda t: jnp.abs(t) + 0.1, target)
    runs = []
    for tx, apply in ((mine, gradtx.apply_updates), (theirs, optax.apply_updates)):
        params, state, trajectory = start, tx.init(start), []
        for _ in range(20):
            updates, state = tx.update(grad(params), state, params)
            params = apply(params, updates)
            trajectory.append(params)
        runs.append(trajectory)
    assert replay.max_relative_difference(*runs) == 0.0
    final = runs[0][-1]
    np.testing.assert_allclose(final["w"], [[1.0, 0.0], [0.0, 3.0]], atol=1e-6)
    assert all(bool(jnp.all(p >= 0)) for step in runs[0] for p in jax.tree.leaves(step))
