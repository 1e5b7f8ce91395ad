"""Tests of gradtx/_wrappers/mechanic.py (`mechanize`): a NumPy transcription of the docstring,
and conformance with Optax 0.2.8 (`optax.contrib.mechanize`) in float64 (max elementwise
relative difference <= 1e-10 over 120 replayed gradients and 150 closed-loop Rosenbrock steps)."""

import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10


def _numpy_mechanic(x, grads, lr=0.1, weight_decay=1e-2, eps=1e-8, s_init=1e-6, n=6):
    """The docstring around plain SGD (u_t = -lr g_t): yields the params after each step."""
    betas = 1 - 0.1 ** np.arange(1, n + 1)
    r, m, v, s = np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, s_init)
    x_ref = x.copy()
    for g in grads:
        scale = s.sum()
        g_tilde = g + weight_decay * scale * np.linalg.norm(g) / (np.linalg.norm(x) + eps) * x
        delta = (x - x_ref) / (scale + eps)
        h = -g_tilde @ delta
        clipped = np.clip(h, -m, m)
        m = np.maximum(betas * m, abs(h) + eps)
        v = betas**2 * v + h**2
        r = betas * r + clipped * s
        s = (s_init * m / n + np.maximum(r, 0)) / (np.sqrt(v) + eps)
        x = x_ref + s.sum() * (delta - lr * g)
        yield x


@pytest.mark.parametrize("kwargs", [dict(), dict(weight_decay=0.0, eps=1e-4, s_init=1e-2, n=3)])
def test_mechanize_follows_the_numpy_transcription(kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(8)]
    names = dict(n="num_betas")
    tx = gradtx.mechanize(gradtx.sgd(0.1), **{names.get(k, k): v for k, v in kwargs.items()})
    params = jnp.asarray(x)
    state = tx.init(params)
    for g, want in zip(grads, _numpy_mechanic(x, grads, **kwargs), strict=True):
        u, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, u)
        np.testing.assert_allclose(params, want, rtol=1e-12)


def test_mechanize_forwards_extra_arguments_to_the_base_optimizer():
    tx = gradtx.mechanize(gradtx.polyak_sgd())
    x = jnp.asarray([1.0, 2.0])
    updates, state = tx.update(2 * x, tx.init(x), x, value=jnp.sum(x**2))
    assert int(state.count) == 1 and jnp.all(jnp.isfinite(updates))
    plain = gradtx.mechanize(gradtx.sgd(0.1))  # a base without extra arguments: value= is dropped
    plain.update(2 * x, plain.init(x), x, value=1.0)


BASES = {
    "adam": (lambda m: m.adam(1.0)),
    "momentum": (lambda m: m.sgd(1.0, momentum=0.9)),
    "lion": (lambda m: m.lion(gradtx.linear_schedule(1.0, 0.1, 100))),
}
SETTINGS = [
    ("adam", dict()),
    ("momentum", dict(weight_decay=0.0, eps=1e-6, s_init=1e-4, num_betas=3)),
    ("lion", dict(weight_decay=0.1, num_betas=8)),
]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("base,kwargs", SETTINGS)
def test_mechanize_matches_optax_on_replayed_gradients_and_rosenbrock(base, kwargs):
    mine = lambda: gradtx.mechanize(BASES[base](gradtx), **kwargs)  # noqa: E731
    theirs = lambda: optax.contrib.mechanize(BASES[base](optax), **kwargs)  # noqa: E731
    assert replay.replay_difference(mine(), theirs()) <= RTOL
    assert replay.rosenbrock_difference(mine(), theirs()) <= RTOL


def test_mechanize_has_optax_argument_names_order_and_defaults():
    assert helpers.signature(gradtx.mechanize) == helpers.signature(optax.contrib.mechanize)
