"""Tests of gradtx/_transforms/acprop.py (scale_by_acprop) and `acprop`: a NumPy transcription of
the docstring, and conformance with Optax 0.2.8 (`optax.contrib`) in float64 (max elementwise
relative difference <= 1e-10 over 120 replayed gradients and 150 closed-loop Rosenbrock steps)."""

import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10


def _numpy_acprop(grads, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    """The docstring: u_t = g_t / (sqrt(s_{t-1} / (1 - b2^{t-1})) + eps), s_0 hat = 1."""
    m = s = np.zeros_like(grads[0])
    for t, g in enumerate(grads, 1):
        s_hat = np.ones_like(g) if t == 1 else s / (1 - b2 ** (t - 1))
        yield g / (np.sqrt(s_hat) + eps)
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        m = b1 * m + (1 - b1) * g


@pytest.mark.parametrize("kwargs", [dict(), dict(b1=0.5, b2=0.9, eps=1e-4, eps_root=1e-6)])
def test_scale_by_acprop_follows_the_numpy_transcription(kwargs):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=5) * 10.0 ** rng.uniform(-2, 1, size=5) for _ in range(6)]
    tx = gradtx.scale_by_acprop(**kwargs)
    state = tx.init(jnp.zeros(5))
    for g, want in zip(grads, _numpy_acprop(grads, **kwargs), strict=True):
        u, state = tx.update(jnp.asarray(g), state)
        np.testing.assert_allclose(u, want, rtol=1e-12)
    assert int(state.count) == len(grads)


def test_scale_by_acprop_centres_on_the_mean_before_the_gradient():
    """s_1 = (1 - b2) (g_1 - m_0)^2 + eps_root = (1 - b2) g_1^2: m_0 = 0, not m_1."""
    tx = gradtx.scale_by_acprop(b1=0.5, b2=0.9, eps_root=0.0)
    g = jnp.asarray([2.0, -4.0])
    _, state = tx.update(g, tx.init(jnp.zeros(2)))
    np.testing.assert_allclose(state.nu, 0.1 * np.asarray(g) ** 2, rtol=1e-12)


SETTINGS = [
    dict(learning_rate=1e-2),
    dict(learning_rate=3e-3, b1=0.5, b2=0.9, eps=1e-8, eps_root=1e-10, weight_decay=0.01),
    dict(learning_rate=gradtx.linear_schedule(1e-2, 1e-3, 100), b2=0.99, eps=1e-4, eps_root=0.0),
]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("kwargs", SETTINGS)
def test_acprop_matches_optax_on_replayed_gradients_and_rosenbrock(kwargs):
    mine, theirs = gradtx.acprop(**kwargs), optax.contrib.acprop(**kwargs)
    assert replay.replay_difference(mine, theirs) <= RTOL
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


def test_acprop_has_optax_argument_names_order_and_defaults():
    assert helpers.signature(gradtx.acprop) == helpers.signature(optax.contrib.acprop)
    assert helpers.signature(gradtx.scale_by_acprop) == helpers.signature(
        optax.contrib.scale_by_acprop
    )
