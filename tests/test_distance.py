"""Tests of gradtx/_transforms/distance.py (scale_by_dog, scale_by_dowg) and `dog`, `dowg`: NumPy
transcriptions of the docstrings, and conformance with Optax 0.2.8 (`optax.contrib`) in float64
(max elementwise relative difference <= 1e-10 over 120 replayed gradients and 150 closed-loop
Rosenbrock steps)."""

import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10


def _problem(steps=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5)
    grads = [rng.normal(size=5) * 10.0 ** rng.uniform(-2, 1, size=5) for _ in range(steps)]
    return x, grads


def _numpy_dog(x, grads, init_step, eps=1e-8):
    tag, value = init_step
    x0 = x.copy()
    r = {"distance": value, "heuristic": value * (1 + np.linalg.norm(x)), "learning_rate": 0.0}
    r_bar, G = r[tag], 0.0
    for t, g in enumerate(grads, 1):
        r_bar = max(r_bar, np.linalg.norm(x - x0))
        G = G + np.sum(g**2)
        step = value if (tag == "learning_rate" and t == 1) else r_bar / np.sqrt(G + eps)
        x = x - step * g
        yield x


def _numpy_dowg(x, grads, init_estim_sq_dist=None, eps=1e-4):
    x0, v = x.copy(), 0.0
    r2 = eps if init_estim_sq_dist is None else init_estim_sq_dist
    for g in grads:
        r2 = max(r2, np.sum((x - x0) ** 2))
        v = v + r2 * np.sum(g**2)
        x = x - r2 / (np.sqrt(v) + eps) * g
        yield x


def _descend(tx, x, grads):
    tx = gradtx.chain(tx, gradtx.scale(-1.0))
    params = jnp.asarray(x)
    state = tx.init(params)
    for g in grads:
        u, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, u)
        yield params


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_step=("heuristic", 1e-2)),
        dict(init_step=("distance", 0.1), eps=1e-3),
        dict(init_step=("learning_rate", 0.05)),
    ],
)
def test_scale_by_dog_follows_the_numpy_transcription(kwargs):
    x, grads = _problem()
    got = _descend(gradtx.scale_by_dog(**kwargs), x, grads)
    for params, want in zip(got, _numpy_dog(x, grads, **kwargs), strict=True):
        np.testing.assert_allclose(params, want, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(), dict(init_estim_sq_dist=0.5, eps=1e-2)])
def test_scale_by_dowg_follows_the_numpy_transcription(kwargs):
    x, grads = _problem()
    got = _descend(gradtx.scale_by_dowg(**kwargs), x, grads)
    for params, want in zip(got, _numpy_dowg(x, grads, **kwargs), strict=True):
        np.testing.assert_allclose(params, want, rtol=1e-12)


def test_scale_by_dog_and_dowg_measure_the_whole_tree():
    """One step size for every leaf: the distance and the gradient norm run over both leaves."""
    params = {"a": jnp.asarray([3.0]), "b": jnp.asarray([4.0])}
    tx = gradtx.scale_by_dog(("distance", 1.0), eps=0.0)
    u, _ = tx.update({"a": jnp.asarray([6.0]), "b": jnp.asarray([8.0])}, tx.init(params), params)
    np.testing.assert_allclose([u["a"][0], u["b"][0]], [0.6, 0.8], rtol=1e-6)  # 1 / |g| = 0.1


DOG_SETTINGS = [
    dict(),
    dict(learning_rate=0.5, init_step=("distance", 1e-3), eps=1e-6, weight_decay=1e-3),
    dict(init_step=("learning_rate", 1e-3), learning_rate=gradtx.linear_schedule(1.0, 0.5, 100)),
]
DOWG_SETTINGS = [
    dict(),
    dict(learning_rate=0.5, init_estim_sq_dist=1e-3, eps=1e-6, weight_decay=1e-3),
    dict(eps=1e-2, learning_rate=gradtx.linear_schedule(1.0, 0.5, 100)),
]
CASES = [("dog", kw) for kw in DOG_SETTINGS] + [("dowg", kw) for kw in DOWG_SETTINGS]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,kwargs", CASES)
def test_alias_matches_optax_on_replayed_gradients_and_rosenbrock(name, kwargs):
    mine, theirs = getattr(gradtx, name), getattr(optax.contrib, name)
    assert replay.replay_difference(mine(**kwargs), theirs(**kwargs)) <= RTOL
    assert replay.rosenbrock_difference(mine(**kwargs), theirs(**kwargs)) <= RTOL


@pytest.mark.parametrize("name", ["dog", "dowg", "scale_by_dog", "scale_by_dowg"])
def test_has_optax_argument_names_order_and_defaults(name):
    # optax.contrib exports dog and dowg; their scalers live (unexported) in optax.contrib._dog.
    mine, theirs = getattr(gradtx, name), getattr(optax.contrib._dog, name)
    assert helpers.signature(mine) == helpers.signature(theirs)
