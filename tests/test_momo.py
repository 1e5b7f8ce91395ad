"""Tests of gradtx/_transforms/momo.py (scale_by_momo, scale_by_momo_adam) and `momo`,
`momo_adam`: NumPy transcriptions of the docstrings, and conformance with Optax 0.2.8
(`optax.contrib`) in float64, the loss passed as `value=` (max elementwise relative difference
<= 1e-10 over 120 replayed gradients with replayed losses, and 150 closed-loop Rosenbrock steps).

The step size is a ratio of whole-tree inner products, which Optax contracts with `tensordot` and
gradtx sums elementwise: the two differ in the last bit, and a closed loop whose capped steps
oscillate (Adam at a large rate on Rosenbrock) amplifies that. The settings below are ones where
the trajectories stay within 1e-10; the first steps agree to the last bit or two in all of them.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax.contrib
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


def _numpy_momo(x, grads, values, lr=1.0, beta=0.9, lb=0.0, wd=0.0, adapt=False):
    """The docstring of scale_by_momo, descending: yields the params after each step."""
    d, barf, gamma, f_star = np.zeros_like(x), 0.0, 0.0, lb
    for k, (g, f) in enumerate(zip(grads, values, strict=True)):
        b = 0.0 if k == 0 else beta
        d = b * d + (1 - b) * g
        barf = b * barf + (1 - b) * f
        gamma = b * gamma + (1 - b) * g @ x
        rho = 1 + lr * wd
        norm, iprod = d @ d, d @ x
        if adapt:
            cap = rho * (barf - gamma) + iprod
            f_star = max(cap / (2 * rho), lb) if cap < rho * f_star else f_star
        polyak = 0.0 if norm <= 2.0**-52 else max(rho * (barf - f_star - gamma) + iprod, 0) / norm
        tau = min(lr, polyak)
        if adapt:
            f_star = max(barf + iprod - gamma - tau * norm / 2, lb)
        x = x - lr * wd / rho * x - tau * d
        yield x


def _numpy_momo_adam(x, grads, values, lr=1e-2, b1=0.9, b2=0.999, eps=1e-8, lb=0.0, wd=0.0):
    """The docstring of scale_by_momo_adam with a fixed lower bound, descending."""
    m, v, barf, gamma = np.zeros_like(x), np.zeros_like(x), 0.0, 0.0
    for k, (g, f) in enumerate(zip(grads, values, strict=True), 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        D = eps + np.sqrt(v / (1 - b2**k))
        barf = b1 * barf + (1 - b1) * f
        gamma = b1 * gamma + (1 - b1) * g @ x
        c, rho = 1 - b1**k, 1 + lr * wd
        norm = m @ (m / D)
        polyak = 0.0 if norm <= 2.0**-52 else max(rho * (barf - c * lb - gamma) + m @ x, 0) / norm
        tau = min(lr / c, polyak)
        x = x - lr * wd / rho * x - tau * m / D
        yield x


def _problem(steps=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(steps)]
    return x, grads, rng.uniform(0.5, 3.0, size=steps)


def _descend(tx, x, grads, values):
    params = jnp.asarray(x)
    state = tx.init(params)
    for g, f in zip(grads, values, strict=True):
        u, state = tx.update(jnp.asarray(g), state, params, value=f)
        params = gradtx.apply_updates(params, u)
        yield params


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(lr=0.1, beta=0.5, lb=-1.0, wd=0.01),
        dict(lr=0.5, lb=0.5, adapt=True),
    ],
)
def test_momo_follows_the_numpy_transcription(kwargs):
    x, grads, values = _problem()
    names = dict(lr="learning_rate", lb="lower_bound", wd="weight_decay", adapt="adapt_lower_bound")
    tx = gradtx.momo(**{names.get(k, k): v for k, v in kwargs.items()})
    got = _descend(tx, x, grads, values)
    for params, want in zip(got, _numpy_momo(x, grads, values, **kwargs), strict=True):
        np.testing.assert_allclose(params, want, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(lr=0.1, b1=0.5, b2=0.9, eps=1e-6, lb=-1.0, wd=0.01)]
)
def test_momo_adam_follows_the_numpy_transcription(kwargs):
    x, grads, values = _problem()
    names = dict(lr="learning_rate", lb="lower_bound", wd="weight_decay")
    tx = gradtx.momo_adam(**{names.get(k, k): v for k, v in kwargs.items()})
    got = _descend(tx, x, grads, values)
    for params, want in zip(got, _numpy_momo_adam(x, grads, values, **kwargs), strict=True):
        np.testing.assert_allclose(params, want, rtol=1e-12)


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_update_needs_the_params_and_the_loss(name):
    tx, x = getattr(gradtx, name)(), jnp.ones(2)
    with pytest.raises(ValueError, match="update needs the params"):
        tx.update(x, tx.init(x), value=1.0)
    with pytest.raises(ValueError, match="update needs the loss"):
        tx.update(x, tx.init(x), x)


def _run(tx, params, grads, values, apply):
    state, out = tx.init(params), []
    update = jax.jit(tx.update)
    for g, value in zip(grads, values, strict=True):
        updates, state = update(g, state, params, value=jnp.asarray(value))
        params = apply(params, updates)
        out.append(params)
    return out


def _rosenbrock(tx, apply, steps=150):
    params = {"xy": jnp.asarray([-1.2, 1.0])}
    state, out = tx.init(params), []
    update = jax.jit(tx.update)
    for _ in range(steps):
        value, g = jax.value_and_grad(replay.rosenbrock)(params)
        updates, state = update(g, state, params, value=value)
        params = apply(params, updates)
        out.append(params)
    assert not np.allclose(out[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    return out


SETTINGS = {
    "momo": [
        dict(),
        dict(learning_rate=0.1, beta=0.5, lower_bound=-1.0, weight_decay=0.01),
        dict(learning_rate=0.3, beta=0.8, lower_bound=0.1, adapt_lower_bound=True),
        dict(
            learning_rate=gradtx.linear_schedule(1.0, 0.1, 100),
            weight_decay=1e-3,
            adapt_lower_bound=True,
        ),
    ],
    "momo_adam": [
        dict(),
        dict(learning_rate=0.05, b1=0.8, b2=0.99, lower_bound=-0.5, weight_decay=0.01),
        dict(learning_rate=0.05, lower_bound=0.5, adapt_lower_bound=True),
        dict(
            learning_rate=gradtx.linear_schedule(0.05, 0.01, 100),
            eps=1e-6,
            weight_decay=1e-3,
            adapt_lower_bound=True,
        ),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients_and_rosenbrock(name, i):
    kwargs = SETTINGS[name][i]
    mine, theirs = getattr(gradtx, name)(**kwargs), getattr(optax.contrib, name)(**kwargs)
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    values = np.random.default_rng(2).uniform(0.0, 5.0, size=len(grads))
    got = _run(mine, params, grads, values, gradtx.apply_updates)
    want = _run(theirs, params, grads, values, optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL
    got, want = _rosenbrock(mine, gradtx.apply_updates), _rosenbrock(theirs, optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_has_optax_argument_names_order_and_defaults_with_the_switch_keyword_only(name):
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(getattr(gradtx, name)) == arguments(getattr(optax.contrib, name))
    switch = inspect.signature(getattr(gradtx, name)).parameters["adapt_lower_bound"]
    assert switch.kind is inspect.Parameter.KEYWORD_ONLY
