"""Tests of gradtx/_transforms/adan.py (scale_by_adan, scale_by_ademamix,
scale_by_simplified_ademamix) and their aliases `adan`, `ademamix` and `simplified_ademamix`:
NumPy transcriptions of the docstring equations, and conformance with Optax 0.2.8 in float64
(max elementwise relative difference <= 1e-10 over 120 replayed random gradients and 150
closed-loop steps on Rosenbrock) for the defaults and other settings.
"""

import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


def _run(tx, grads, params=None):
    state = tx.init(grads[0] if params is None else params)
    out = []
    for g in grads:
        u, state = tx.update(jnp.asarray(g), state, params)
        out.append(np.asarray(u))
    return out, state


def _grads(steps=6, shape=(5,), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 1, size=shape) for _ in range(steps)]


# NumPy transcriptions of the docstrings; t counts from 1.
def _adan_reference(grads, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=0.0):
    m = v = n = np.zeros_like(grads[0])
    previous = None
    for t, g in enumerate(grads, 1):
        delta = np.zeros_like(g) if previous is None else g - previous
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * delta
        n = b3 * n + (1 - b3) * (g + (1 - b2) * delta) ** 2
        m_hat, v_hat, n_hat = m / (1 - b1**t), v / (1 - b2**t), n / (1 - b3**t)
        yield (m_hat + (1 - b2) * v_hat) / (np.sqrt(n_hat + eps_root) + eps)
        previous = g


def _ademamix_reference(grads, b1=0.9, b2=0.999, b3=0.9999, alpha=6.0, eps=1e-8, eps_root=0.0):
    m1 = m2 = nu = np.zeros_like(grads[0])
    for t, g in enumerate(grads, 1):
        b3_t = b3(t - 1) if callable(b3) else b3
        alpha_t = alpha(t - 1) if callable(alpha) else alpha
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b3_t * m2 + (1 - b3_t) * g
        nu = b2 * nu + (1 - b2) * g**2
        m1_hat, nu_hat = m1 / (1 - b1**t), nu / (1 - b2**t)
        yield (m1_hat + alpha_t * m2) / (np.sqrt(nu_hat + eps_root) + eps)


ADAN_OPTIONS = [dict(), dict(b1=0.5, b2=0.7, b3=0.9, eps=1e-4, eps_root=1e-6)]


@pytest.mark.parametrize("kwargs", ADAN_OPTIONS)
def test_scale_by_adan_follows_the_numpy_transcription(kwargs):
    grads = _grads()
    got, _ = _run(gradtx.scale_by_adan(**kwargs), grads)
    for u, want in zip(got, _adan_reference(grads, **kwargs), strict=True):
        np.testing.assert_allclose(u, want, rtol=1e-12)


def test_scale_by_adan_first_difference_is_zero_and_state_keeps_the_gradient():
    g = np.asarray([1.0, -2.0, 3.0])
    (u,), state = _run(gradtx.scale_by_adan(), [g])
    np.testing.assert_allclose(np.asarray(state.v), 0.0)
    np.testing.assert_array_equal(np.asarray(state.prev_grad), g)
    np.testing.assert_allclose(u, g / (np.abs(g) + 1e-8), rtol=1e-12)  # sign(g) at step 1


def _schedules():
    """The paper's warm-ups, shortened: beta_3 from 0.9 and alpha from 0, over 4 steps."""
    return dict(b3=gradtx.linear_schedule(0.9, 0.99, 4), alpha=gradtx.linear_schedule(0.0, 5.0, 4))


def _paper_b3(start, end, steps):
    """The paper's beta_3 warm-up (Pagliardini et al., Appendix): half-life linear in t."""

    def schedule(count):
        t = jnp.minimum(count.astype(jnp.result_type(float)) / steps, 1.0)
        log_start, log_end = jnp.log(start), jnp.log(end)
        b3 = jnp.exp(log_start * log_end / ((1 - t) * log_end + t * log_start))
        return jnp.minimum(b3, end)

    return schedule


ADEMAMIX_OPTIONS = [dict(), dict(b1=0.5, b2=0.9, b3=0.99, alpha=2.0, eps_root=1e-6), _schedules()]


@pytest.mark.parametrize("kwargs", ADEMAMIX_OPTIONS)
def test_scale_by_ademamix_follows_the_numpy_transcription(kwargs):
    grads = _grads()
    got, _ = _run(gradtx.scale_by_ademamix(**kwargs), grads)
    numpy_kwargs = {
        k: (lambda c, f=v: float(f(jnp.asarray(c, jnp.int32)))) if callable(v) else v
        for k, v in kwargs.items()
    }
    for u, want in zip(got, _ademamix_reference(grads, **numpy_kwargs), strict=True):
        np.testing.assert_allclose(u, want, rtol=1e-12)


def test_scale_by_ademamix_stores_nu_in_the_params_dtype_where_optax_uses_mu_dtype():
    params = jnp.zeros(3, jnp.float32)
    state = gradtx.scale_by_ademamix(mu_dtype=jnp.bfloat16).init(params)
    assert state.m1.dtype == state.m2.dtype == jnp.bfloat16
    assert state.nu.dtype == jnp.float32
    theirs = optax.contrib.scale_by_ademamix(mu_dtype=jnp.bfloat16).init(params)
    assert theirs.nu.dtype == jnp.bfloat16


def test_ademamix_alpha_defaults_follow_optax_five_for_the_alias_six_for_the_scaler():
    import inspect

    assert inspect.signature(gradtx.ademamix).parameters["alpha"].default == 5.0
    assert inspect.signature(gradtx.scale_by_ademamix).parameters["alpha"].default == 6.0


def _simplified_reference(grads, b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0):
    m = n = np.zeros_like(grads[0])
    for t, g in enumerate(grads, 1):
        alpha_t = alpha(t - 1) if callable(alpha) else alpha
        m = b1 * m + g
        n = b2 * n + (1 - b2) * g**2
        yield (m + alpha_t * g) / (np.sqrt(n / (1 - b2**t) + eps_root) + eps)


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(b1=0.5, b2=0.9, alpha=2.0, eps=1e-4, eps_root=1e-6)]
)
def test_scale_by_simplified_ademamix_follows_the_numpy_transcription(kwargs):
    grads = _grads()
    got, state = _run(gradtx.scale_by_simplified_ademamix(**kwargs), grads)
    for u, want in zip(got, _simplified_reference(grads, **kwargs), strict=True):
        np.testing.assert_allclose(u, want, rtol=1e-12)
    assert int(state.count) == len(grads)


# --- Conformance with Optax 0.2.8.

SETTINGS = {
    "adan": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.9, b2=0.8, b3=0.95, eps_root=0.0, weight_decay=0.02),
        dict(learning_rate=5e-3, b1=0.5, b2=0.5, b3=0.9, eps=1e-4, weight_decay=1e-3),
    ],
    "ademamix": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b3=0.999, alpha=8.0, weight_decay=0.01),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps_root=1e-10, **_schedules()),
        dict(
            learning_rate=1e-2,
            b3=_paper_b3(0.9, 0.999, 100),
            alpha=gradtx.linear_schedule(0.0, 8.0, 100),
        ),
    ],
    "simplified_ademamix": [
        dict(learning_rate=1e-4),
        dict(learning_rate=1e-3, b1=0.9, b2=0.99, alpha=3.0, weight_decay=0.01),
        dict(learning_rate=1e-3, alpha=gradtx.linear_schedule(0.0, 5.0, 50), eps_root=1e-12),
    ],
}
OPTAX = {
    "adan": optax.adan,
    "ademamix": optax.contrib.ademamix,
    "simplified_ademamix": optax.contrib.simplified_ademamix,
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    kwargs = SETTINGS[name][i]
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = replay.run_replay(getattr(gradtx, name)(**kwargs), params, grads)
    want = replay.run_replay(OPTAX[name](**kwargs), params, grads, apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    kwargs = SETTINGS[name][i]
    got = replay.run_rosenbrock(getattr(gradtx, name)(**kwargs))
    want = replay.run_rosenbrock(OPTAX[name](**kwargs), apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL
