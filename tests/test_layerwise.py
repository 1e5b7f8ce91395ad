r"""Tests of gradtx/_transforms/layerwise.py (scale_by_novograd, scale_by_madgrad) and their
aliases `novograd` and `madgrad`: NumPy transcriptions of the docstring equations, and conformance
with Optax 0.2.8 in float64 (max elementwise relative difference <= 1e-10 over 120 replayed random
gradients and 150 closed-loop steps on Rosenbrock) for the defaults and other settings.

Optax's MADGRAD computes its weight $\lambda_k = (\eta + \epsilon)\sqrt{k+1}$ from its int32 step
count, which JAX takes to float32 even when the params are float64: its float64 run carries a
float32 rounding of every $\lambda_k$. It is compared with a float64 step count in its state
(Optax's own update, unchanged), and a test shows the difference.
"""

import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


def _grads(steps=6, shapes=((5,), (2, 3)), seed=0):
    rng = np.random.default_rng(seed)
    return [
        [rng.normal(size=s) * 10.0 ** rng.uniform(-2, 1, size=s) for s in shapes]
        for _ in range(steps)
    ]


def _run(tx, grads, params):
    state = tx.init([jnp.asarray(p) for p in params])
    out = []
    for g in grads:
        u, state = tx.update([jnp.asarray(x) for x in g], state, [jnp.asarray(p) for p in params])
        out.append([np.asarray(x) for x in u])
        params = [p + x for p, x in zip(params, out[-1], strict=True)]
    return out, state


# NumPy transcriptions of the docstrings, one leaf (layer) at a time; t and k count updates.
def _novograd_reference(grads, params, b1=0.9, b2=0.25, eps=1e-8, eps_root=0.0, weight_decay=0.0):
    m, v, theta = None, None, params
    for g in grads:
        norm2 = np.sum(g**2)
        v = norm2 if v is None else b2 * v + (1 - b2) * norm2
        step = g / (np.sqrt(v + eps_root) + eps) + weight_decay * theta
        m = step if m is None else b1 * m + step
        yield m
        theta = theta + m  # the test applies u directly (no learning rate)


def _madgrad_reference(grads, params, learning_rate, momentum=0.9, eps=1e-6):
    x0 = x = params
    s = nu = np.zeros_like(params)
    for k, g in enumerate(grads):
        lam = (learning_rate + eps) * np.sqrt(k + 1)
        s, nu = s + lam * g, nu + lam * g**2
        z = x0 - s / (np.cbrt(nu) + eps)
        x_next = momentum * x + (1 - momentum) * z
        yield x_next - x
        x = x_next


def _check(tx, reference, **kwargs):
    grads = _grads()
    params = [np.linspace(-1, 1, int(np.prod(s))).reshape(s) for s in ((5,), (2, 3))]
    got, _ = _run(tx, grads, params)
    for leaf, p in enumerate(params):
        want = reference([g[leaf] for g in grads], p, **kwargs)
        for u, w in zip(got, want, strict=True):
            np.testing.assert_allclose(u[leaf], w, rtol=1e-12, atol=1e-14)  # u = x_{k+1} - x_k


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(b1=0.5, b2=0.9, eps=1e-4, eps_root=1e-6, weight_decay=0.1)]
)
def test_scale_by_novograd_follows_the_numpy_transcription(kwargs):
    _check(gradtx.scale_by_novograd(**kwargs), _novograd_reference, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [dict(learning_rate=0.1), dict(learning_rate=0.5, momentum=0.0, eps=1e-3)]
)
def test_scale_by_madgrad_follows_the_numpy_transcription(kwargs):
    _check(gradtx.scale_by_madgrad(**kwargs), _madgrad_reference, **kwargs)


def test_scale_by_novograd_keeps_one_real_scalar_per_leaf():
    params = {"w": jnp.zeros((2, 3), jnp.complex64), "b": jnp.zeros(3, jnp.bfloat16)}
    state = gradtx.scale_by_novograd().init(params)
    assert state.nu["w"].shape == () and state.nu["w"].dtype == jnp.float32
    assert state.nu["b"].shape == () and state.nu["b"].dtype == jnp.bfloat16


def test_scale_by_novograd_needs_params_only_for_weight_decay_where_optax_always_does():
    g = jnp.ones(3)
    u, _ = gradtx.scale_by_novograd().update(g, gradtx.scale_by_novograd().init(g))
    np.testing.assert_allclose(np.asarray(u), 1 / (np.sqrt(3) + 1e-8), rtol=1e-12)
    with pytest.raises(ValueError, match="scale_by_novograd: update needs the params"):
        tx = gradtx.scale_by_novograd(weight_decay=0.1)
        tx.update(g, tx.init(g))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'params'"):
        theirs = optax.scale_by_novograd()
        theirs.update(g, theirs.init(g))


def test_novograd_takes_a_weight_decay_schedule_where_optax_fails_on_one():
    schedule = gradtx.exponential_decay(0.1, 1, 0.5)
    params = jnp.asarray([1.0, -2.0])
    tx = gradtx.novograd(0.1, weight_decay=schedule)
    _, state = tx.update(params, tx.init(params), params)
    updates, _ = tx.update(params, state, params)
    assert bool(jnp.all(jnp.isfinite(updates)))
    with pytest.raises(TypeError):
        theirs = optax.novograd(0.1, weight_decay=schedule)
        theirs.update(params, theirs.init(params), params)


def test_madgrad_needs_params():
    tx = gradtx.scale_by_madgrad(0.1)
    with pytest.raises(ValueError, match="scale_by_madgrad: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))


def test_madgrad_moves_even_at_a_zero_learning_rate_as_in_the_authors_code():
    tx = gradtx.madgrad(0.0)
    params = jnp.zeros(2)
    updates, _ = tx.update(jnp.ones(2), tx.init(params), params)
    assert bool(jnp.all(updates < 0))


# --- Conformance with Optax 0.2.8.

SETTINGS = {
    "novograd": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.5, b2=0.9, eps=1e-8, eps_root=1e-10, weight_decay=1e-2),
        dict(learning_rate=5e-3, b1=0.0, b2=0.5, eps=1e-3),
    ],
    "madgrad": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, momentum=0.5, weight_decay=1e-3, eps=1e-8),
        dict(learning_rate=gradtx.exponential_decay(1e-2, 10, 0.9), momentum=0.0),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _float64_count(tx):
    """Optax's madgrad chain, its MADGRAD step count a float64 scalar instead of int32."""

    def init(params):
        decay, madgrad = tx.init(params)
        return decay, madgrad._replace(count=jnp.zeros([], jnp.float64))

    return optax.GradientTransformation(init, tx.update)


def _optax(name, kwargs):
    if name == "madgrad":
        return _float64_count(optax.contrib.madgrad(**kwargs))
    return optax.novograd(**kwargs)


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    kwargs = SETTINGS[name][i]
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = replay.run_replay(getattr(gradtx, name)(**kwargs), params, grads)
    want = replay.run_replay(_optax(name, kwargs), params, grads, apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    kwargs = SETTINGS[name][i]
    got = replay.run_rosenbrock(getattr(gradtx, name)(**kwargs))
    want = replay.run_rosenbrock(_optax(name, kwargs), apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.usefixtures("_standard_promotion")
def test_optax_madgrad_rounds_its_step_weight_to_float32_in_a_float64_run():
    params = replay.replay_params()
    grads = replay.replay_gradients(params, steps=20)
    got = replay.run_replay(gradtx.madgrad(1e-2), params, grads)
    as_shipped = replay.run_replay(optax.contrib.madgrad(1e-2), params, grads)
    float64_count = replay.run_replay(_float64_count(optax.contrib.madgrad(1e-2)), params, grads)
    assert replay.max_relative_difference(got, float64_count) <= RTOL
    assert replay.max_relative_difference(got, as_shipped) > 1e-9
    assert jnp.sqrt(jnp.zeros([], jnp.int32) + 1).dtype == jnp.float32  # the cause
