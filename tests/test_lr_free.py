"""Tests of gradtx/_transforms/lr_free.py and gradtx/_aliases/lr_free.py: Prodigy and D-Adapt
AdamW against NumPy transcriptions of their equations and against optax.contrib 0.2.8 (float64,
max elementwise relative difference <= 1e-10)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


SETTINGS = {
    "prodigy": [
        dict(),
        dict(betas=(0.8, 0.99), beta3=0.9, eps=1e-6, estim_lr0=1e-4, weight_decay=1e-2),
        dict(
            learning_rate=optax.linear_schedule(1.0, 0.2, 150),
            estim_lr0=1e-3,
            estim_lr_coef=2.0,
            safeguard_warmup=True,
        ),
    ],
    "dadapt_adamw": [
        dict(),
        dict(betas=(0.8, 0.99), eps=1e-6, estim_lr0=1e-4, weight_decay=1e-2),
        dict(learning_rate=optax.cosine_decay_schedule(1.0, 150), estim_lr0=1e-3),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    return getattr(gradtx, name)(**kwargs), getattr(optax.contrib, name)(**kwargs)


@pytest.mark.parametrize("name,i", CASES)
def test_lr_free_matches_optax_on_replayed_gradients(name, i):
    mine, theirs = _pair(name, i)
    assert replay.replay_difference(mine, theirs) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_lr_free_matches_optax_on_rosenbrock(name, i):
    mine, theirs = _pair(name, i)
    got = replay.run_rosenbrock(mine)
    want = replay.run_rosenbrock(theirs, apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0], atol=1e-2), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


# --- NumPy transcriptions of the docstring equations.


def _numpy_prodigy(x0, grads, lr, b1, b2, b3, eps, d0, coef, wd, safeguard):
    x, m, v, s = x0.copy(), 0 * x0, 0 * x0, 0 * x0
    d, r, path = d0, 0.0, []
    for k, g in enumerate(grads, start=1):
        eta = d * lr * np.sqrt(1 - b2**k) / (1 - b1**k)
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d**2 * g**2
        s = b3 * s + (d if safeguard else eta) * d / d0 * g
        r = b3 * r + d / d0 * eta * np.dot(g, x0 - x)
        d = max(d, coef * r / np.abs(s).sum())
        x = x - (wd * eta * x + eta * m / (np.sqrt(v) + d * eps))
        path.append(x)
    return np.stack(path)


def _numpy_dadapt(x0, grads, lr, b1, b2, eps, d0, wd):
    x, m, v, s = x0.copy(), 0 * x0, 0 * x0, 0 * x0
    b3, d, r, path = np.sqrt(b2), d0, 0.0, []
    for k, g in enumerate(grads, start=1):
        eta = d * lr * np.sqrt(1 - b2**k) / (1 - b1**k)
        r = b3 * r + (1 - b3) * eta * np.dot(g, s / (np.sqrt(v) + eps))
        m = b1 * m + (1 - b1) * eta * g
        v = b2 * v + (1 - b2) * g**2
        s = b3 * s + (1 - b3) * eta * g
        d = max(d, r / ((1 - b3) * np.abs(s).sum()))
        x = x - (wd * eta * x + m / (np.sqrt(v) + eps))
        path.append(x)
    return np.stack(path)


def _gradtx_path(tx, x0, grads):
    params = jnp.asarray(x0)
    state, path = tx.init(params), []
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, updates)
        path.append(np.asarray(params))
    return np.stack(path)


def _draws(steps=6):
    rng = np.random.default_rng(3)
    return rng.normal(size=5), [rng.normal(size=5) for _ in range(steps)]


@pytest.mark.parametrize("safeguard", [False, True])
def test_scale_by_prodigy_matches_numpy_transcription(safeguard):
    x0, grads = _draws()
    h = dict(lr=0.7, b1=0.8, b2=0.95, b3=0.9, eps=1e-3, d0=1e-2, coef=1.5, wd=0.1)
    tx = gradtx.chain(
        gradtx.scale_by_prodigy(
            h["lr"], (h["b1"], h["b2"]), h["b3"], h["eps"], h["d0"], h["coef"], h["wd"],
            safeguard_warmup=safeguard,
        ),
        gradtx.scale(-1.0),
    )  # fmt: skip
    want = _numpy_prodigy(x0, grads, safeguard=safeguard, **h)
    np.testing.assert_allclose(_gradtx_path(tx, x0, grads), want, rtol=1e-12)


def test_scale_by_dadapt_adamw_matches_numpy_transcription():
    x0, grads = _draws()
    h = dict(lr=0.7, b1=0.8, b2=0.95, eps=1e-3, d0=1e-2, wd=0.1)
    tx = gradtx.chain(
        gradtx.scale_by_dadapt_adamw(h["lr"], (h["b1"], h["b2"]), h["eps"], h["d0"], h["wd"]),
        gradtx.scale(-1.0),
    )
    want = _numpy_dadapt(x0, grads, **h)
    np.testing.assert_allclose(_gradtx_path(tx, x0, grads), want, rtol=1e-12)


# --- Where Optax 0.2.8 is wrong: a zero first gradient.


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_zero_first_gradient_keeps_d_where_optax_gives_nan_forever(name):
    """With only zero gradients so far, ||s||_1 = 0 and r = 0: the estimate r / ||s||_1 is 0/0.
    gradtx keeps d_0 and goes on; Optax takes max(d, NaN) = NaN and every later step is NaN."""
    params = {"x": jnp.asarray([1.0, -2.0])}
    grads = [{"x": jnp.zeros(2)}] + [{"x": jnp.asarray([0.5, -1.0])}] * 3
    got = replay.run_replay(getattr(gradtx, name)(), params, grads)
    want = replay.run_replay(getattr(optax.contrib, name)(), params, grads, optax.apply_updates)
    assert all(np.all(np.isfinite(p["x"])) for p in got)
    assert not np.array_equal(got[-1]["x"], params["x"])
    assert np.all(np.isnan(want[-1]["x"]))
    tx = getattr(gradtx, name)()
    _, state = tx.update(grads[0], tx.init(params), params)
    assert float(state[0].d) == 1e-6  # d_0 kept


def test_d_grows_from_its_under_estimate():
    tx = gradtx.prodigy()
    params = jnp.asarray([3.0, -4.0])
    state = tx.init(params)
    for _ in range(40):
        updates, state = tx.update(2 * params, state, params)
        params = gradtx.apply_updates(params, updates)
    assert 1e-2 < float(state[0].d) < 10  # from d_0 = 1e-6 up, towards D = 5


@pytest.mark.parametrize("name", ["scale_by_prodigy", "scale_by_dadapt_adamw"])
def test_update_without_params_says_how_to_call_it(name):
    tx = getattr(gradtx, name)()
    with pytest.raises(ValueError, match=f"^{name}: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_prodigy_bfloat16_params_keep_their_dtypes_and_scalars_stay_float32():
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    tx = gradtx.prodigy()
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.full(3, 0.5, jnp.bfloat16)}, state, params)
    assert updates["w"].dtype == jnp.bfloat16
    inner = state[0]
    assert inner.mu["w"].dtype == inner.params0["w"].dtype == jnp.bfloat16
    assert inner.d.dtype == inner.numerator.dtype == jnp.float32


def test_betas_must_be_a_pair_in_the_unit_interval():
    with pytest.raises(ValueError, match=r"^prodigy: betas must be a pair \(b1, b2\) in \[0, 1\)"):
        gradtx.prodigy(betas=(0.9, 1.0))
    with pytest.raises(TypeError, match=r"^dadapt_adamw: betas must be a pair \(b1, b2\)"):
        gradtx.dadapt_adamw(betas=0.9)
