"""`apply_every` against a NumPy transcription and Optax 0.2.8."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay


def numpy_apply_every(grads, k):
    total, out = None, []
    for t, g in enumerate(grads):
        total = g if t % k == 0 else total + g
        out.append(total if t % k == k - 1 else np.zeros_like(g))
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_apply_every_matches_numpy_and_optax(k):
    grads = replay.replay_gradients(replay.replay_params(), steps=20)
    expected = numpy_apply_every([np.asarray(g["w"]) for g in grads], k)
    tx, reference = gradtx.apply_every(k), optax.apply_every(k)
    params = replay.replay_params()
    state, their_state = tx.init(params), reference.init(params)
    update = jax.jit(tx.update)
    for g, want in zip(grads, expected, strict=True):
        updates, state = update(g, state, params)
        with jax.numpy_dtype_promotion("standard"):  # Optax multiplies by booleans
            theirs, their_state = reference.update(g, their_state, params)
        np.testing.assert_array_equal(updates["w"], want)
        jax.tree.map(np.testing.assert_array_equal, updates, theirs)
        jax.tree.map(np.testing.assert_array_equal, tuple(state), tuple(their_state))
    assert gradtx.ApplyEveryState._fields == optax.ApplyEvery._fields


def test_apply_every_with_sgd_equals_sgd_on_the_summed_gradients():
    tx = gradtx.chain(gradtx.apply_every(2), gradtx.sgd(0.1))
    state = tx.init(jnp.zeros(2))
    _, state = tx.update(jnp.ones(2), state)
    updates, _ = tx.update(jnp.full(2, 2.0), state)
    np.testing.assert_allclose(updates, [-0.3, -0.3])
