"""Tests of gradtx/_transforms/cocob.py (scale_by_cocob) and `cocob`: a NumPy transcription of
the docstring, and conformance with Optax 0.2.8 (`optax.contrib`) in float64 (max elementwise
relative difference <= 1e-10 over 120 replayed gradients and 150 closed-loop Rosenbrock steps)."""

import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10


def _numpy_cocob(x, grads, alpha=100.0, eps=1e-8):
    """The docstring, closed loop on the given gradients: yields the params after each step."""
    x0, theta = x.copy(), np.zeros_like(x)
    L, G, R = np.full_like(x, eps), np.zeros_like(x), np.zeros_like(x)
    for g in grads:
        L = np.maximum(L, np.abs(g))
        G = G + np.abs(g)
        R = np.maximum(R - g * (x - x0), 0)
        theta = theta - g
        x = x0 + theta / (L * np.maximum(G + L, alpha * L)) * (L + R)
        yield x


@pytest.mark.parametrize("kwargs", [dict(), dict(alpha=5.0, eps=1e-3)])
def test_scale_by_cocob_follows_the_numpy_transcription(kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5)
    grads = [rng.normal(size=5) * 10.0 ** rng.uniform(-2, 1, size=5) for _ in range(8)]
    tx, params = gradtx.scale_by_cocob(**kwargs), jnp.asarray(x)
    state = tx.init(params)
    for g, want in zip(grads, _numpy_cocob(x, grads, **kwargs), strict=True):
        u, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, u)
        np.testing.assert_allclose(params, want, rtol=1e-12)


def test_scale_by_cocob_keeps_a_copy_of_the_initial_params_and_needs_params():
    params = jnp.ones(3)
    tx = gradtx.scale_by_cocob()
    state = tx.init(params)
    assert state.params0 is not params
    np.testing.assert_array_equal(state.max_grad, 1e-8)
    with pytest.raises(ValueError, match="scale_by_cocob: update needs the params"):
        tx.update(params, state)


SETTINGS = [
    dict(),
    dict(learning_rate=0.5, alpha=10.0, eps=1e-6, weight_decay=1e-3),
    dict(learning_rate=gradtx.linear_schedule(1.0, 0.5, 100), alpha=200.0, eps=1e-4),
]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("kwargs", SETTINGS)
def test_cocob_matches_optax_on_replayed_gradients_and_rosenbrock(kwargs):
    mine, theirs = gradtx.cocob(**kwargs), optax.contrib.cocob(**kwargs)
    assert replay.replay_difference(mine, theirs) <= RTOL
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


def test_cocob_has_optax_argument_names_order_and_defaults():
    assert helpers.signature(gradtx.cocob) == helpers.signature(optax.contrib.cocob)
    assert helpers.signature(gradtx.scale_by_cocob) == helpers.signature(
        optax.contrib.scale_by_cocob
    )
