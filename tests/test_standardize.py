"""`centralize` and `normalize_by_update_norm` against NumPy and Optax 0.2.8, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay


def grads(steps=10):
    params = {**replay.replay_params(), "k": jnp.ones((2, 3, 4))}
    return replay.replay_gradients(params, steps=steps)


def assert_same_updates(mine, theirs, rtol):
    params = grads(1)[0]
    state, their_state = mine.init(params), theirs.init(params)
    for g in grads():
        updates, state = jax.jit(mine.update)(g, state, params)
        expected, their_state = theirs.update(g, their_state, params)
        assert replay.max_relative_difference(updates, expected) <= rtol
    return updates


def test_centralize_matches_numpy_and_optax_bit_for_bit():
    updates = assert_same_updates(gradtx.centralize(), optax.centralize(), 0.0)
    g = np.asarray(grads()[-1]["k"])
    np.testing.assert_array_equal(updates["k"], g - g.mean(axis=(1, 2), keepdims=True))
    np.testing.assert_array_equal(updates["b"], grads()[-1]["b"])  # vectors pass unchanged


@pytest.mark.parametrize(("scale_factor", "eps"), [(1.0, 1e-6), (-0.1, 1e-12), (3.0, 1e-2)])
def test_normalize_by_update_norm_matches_optax(scale_factor, eps):
    mine = gradtx.normalize_by_update_norm(scale_factor, eps)
    theirs = optax.normalize_by_update_norm(scale_factor, eps)
    updates = assert_same_updates(mine, theirs, 1e-15)
    g = grads()[-1]
    norm = np.sqrt(sum(np.sum(np.asarray(x) ** 2) for x in g.values()))
    np.testing.assert_allclose(updates["w"], scale_factor * np.asarray(g["w"]) / (norm + eps))


def test_normalize_by_update_norm_keeps_a_zero_gradient_zero():
    tx = gradtx.normalize_by_update_norm()
    updates, _ = tx.update({"w": jnp.zeros(3)}, tx.init(None))
    np.testing.assert_array_equal(updates["w"], np.zeros(3))
