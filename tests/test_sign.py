"""Tests of `gradtx/_transforms/sign.py` (scale_by_sign, scale_by_lion, scale_by_rprop) and of the
sign aliases (sign_sgd, signum, lion, rprop): NumPy transcriptions of the docstring equations, and
conformance with Optax 0.2.8 in float64 (maximum elementwise relative difference <= 1e-10 over 120
replayed random gradients and 150 closed-loop steps on Rosenbrock).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _vectors():
    return lambda params: jax.tree.map(lambda p: jnp.ndim(p) > 0, params)


SETTINGS = {
    "sign_sgd": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2),
        dict(learning_rate=lambda count: 1e-2 / (1.0 + count)),
    ],
    "signum": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, beta=0.5),
        dict(learning_rate=3e-3, beta=0.0),
    ],
    "lion": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.95, weight_decay=0.1),
        dict(learning_rate=3e-3, b1=0.0, b2=0.5, weight_decay=1e-2, mask=_vectors()),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    return getattr(gradtx, name)(**kwargs), getattr(optax, name)(**kwargs)


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    mine, theirs = _pair(name, i)
    assert replay.replay_difference(mine, theirs) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    mine, theirs = _pair(name, i)
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


# --- Rprop: Optax 0.2.8 returns the previous call's step. Its state is right, so the reference
# is Optax's own rule with the step it stores (its new `prev_updates`) returned at once.

RPROP_SETTINGS = [
    dict(learning_rate=1e-3),
    dict(learning_rate=1e-2, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-4, max_step_size=0.1),
    dict(learning_rate=0.1, eta_minus=0.0, eta_plus=1.1, min_step_size=0.0, max_step_size=1.0),
]


def _optax_rprop_without_lag(**kwargs):
    inner = optax.scale_by_rprop(**kwargs)

    def update(updates, state, params=None):
        _, state = inner.update(updates, state, params)
        return jax.tree.map(lambda u: -u, state.prev_updates), state

    return optax.GradientTransformation(inner.init, update)


@pytest.mark.parametrize("i", range(len(RPROP_SETTINGS)))
def test_rprop_matches_optax_rule_without_its_lag_on_replayed_gradients(i):
    kwargs = RPROP_SETTINGS[i]
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = replay.run_replay(gradtx.rprop(**kwargs), params, grads)
    theirs = _optax_rprop_without_lag(**kwargs)
    want = replay.run_replay(theirs, params, grads, apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("i", range(len(RPROP_SETTINGS)))
def test_rprop_matches_optax_rule_without_its_lag_on_rosenbrock(i):
    kwargs = RPROP_SETTINGS[i]
    got = replay.run_rosenbrock(gradtx.rprop(**kwargs))
    want = replay.run_rosenbrock(_optax_rprop_without_lag(**kwargs), apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


def test_rprop_steps_at_once_where_optax_steps_one_call_late():
    """Optax's first update is zero and its step t + 1 is gradtx's step t (zero where the sign
    has just changed); the step sizes agree throughout."""
    params = replay.replay_params()
    grads = replay.replay_gradients(params, steps=30)
    mine, theirs = gradtx.rprop(0.1), optax.rprop(0.1)
    s_mine, s_theirs = mine.init(params), theirs.init(params)
    previous = None
    for t, g in enumerate(grads):
        u_mine, s_mine = mine.update(g, s_mine, params)
        u_theirs, s_theirs = theirs.update(g, s_theirs, params)
        if t == 0:
            assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(u_theirs))
            assert all(np.all(np.asarray(u) != 0) for u in jax.tree.leaves(u_mine))
        else:
            for late, now in zip(jax.tree.leaves(u_theirs), jax.tree.leaves(previous), strict=True):
                late, now = np.asarray(late), np.asarray(now)
                np.testing.assert_array_equal(late[late != 0], now[late != 0])
        np.testing.assert_allclose(
            np.concatenate([np.ravel(x) for x in jax.tree.leaves(s_mine[0].step_sizes)]),
            np.concatenate([np.ravel(x) for x in jax.tree.leaves(s_theirs[0].step_sizes)]),
            rtol=RTOL,
        )
        previous = u_mine


# --- NumPy transcriptions of the docstring equations.


def _gradients(steps, shape=(5,), seed=3):
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(steps, *shape))
    grads[3] = 0.0  # a zero gradient
    return grads


def test_scale_by_sign_matches_numpy():
    g = np.array([-2.0, 0.0, 1e-30, np.nan, -np.inf])
    tx = gradtx.scale_by_sign()
    u, state = tx.update(jnp.asarray(g), tx.init(jnp.zeros(5)))
    np.testing.assert_array_equal(u, np.sign(g))
    assert state == gradtx.EmptyState()


@pytest.mark.parametrize("mode", ["hard", "smooth", "refined"])
def test_scale_by_lion_matches_numpy(mode):
    b1, b2, beta_s = 0.8, 0.95, 2.0
    tx = gradtx.scale_by_lion(b1, b2, mode=mode, smooth_beta=beta_s)
    state = tx.init(jnp.zeros(5))
    m = np.zeros(5)
    for g in _gradients(8) * 3:
        c = b1 * m + (1 - b1) * g
        want = {"hard": np.sign(c), "smooth": np.tanh(beta_s * c)}.get(
            mode, np.where(np.abs(c) < 1, c, np.sign(c))
        )
        m = b2 * m + (1 - b2) * g
        u, state = tx.update(jnp.asarray(g), state)
        np.testing.assert_allclose(u, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state.mu, m, rtol=1e-12, atol=1e-15)
    assert int(state.count) == 8


def test_scale_by_rprop_matches_numpy():
    eta, eta_minus, eta_plus, low, high = 0.1, 0.5, 1.2, 0.02, 0.3
    tx = gradtx.scale_by_rprop(eta, eta_minus, eta_plus, low, high)
    state = tx.init(jnp.zeros(5))
    delta, previous = np.full(5, eta), np.zeros(5)
    for g in _gradients(12):
        s = np.sign(g) * np.sign(previous)
        adapted = np.clip(delta * np.where(s > 0, eta_plus, eta_minus), low, high)
        delta = np.where(s == 0, delta, adapted)
        previous = np.where(s < 0, 0.0, delta * np.sign(g))
        u, state = tx.update(jnp.asarray(g), state)
        np.testing.assert_allclose(u, previous, rtol=1e-12)
        np.testing.assert_allclose(state.step_sizes, delta, rtol=1e-12)


def test_scale_by_rprop_takes_no_step_after_a_sign_change_and_does_not_adapt_the_next():
    tx = gradtx.scale_by_rprop(1.0)
    state = tx.init(jnp.zeros(1))
    steps = []
    for g in [1.0, 1.0, -1.0, -1.0, -1.0]:
        u, state = tx.update(jnp.asarray([g]), state)
        steps.append(float(u[0]))
    np.testing.assert_allclose(steps, [1.0, 1.2, 0.0, -0.6, -0.72])


def test_scale_by_rprop_sign_test_does_not_underflow():
    """Optax multiplies g_t by the last step: 1e-200 * 1e-200 is 0 in float64, no sign change."""
    tx = gradtx.scale_by_rprop(1e-200, min_step_size=0.0)
    state = tx.init(jnp.zeros(1))
    _, state = tx.update(jnp.asarray([1e-200]), state)
    u, state = tx.update(jnp.asarray([-1e-200]), state)
    assert float(u[0]) == 0.0 and float(state.step_sizes[0]) == 0.5e-200


def test_scale_by_lion_keeps_mu_dtype_and_rejects_an_unknown_mode():
    tx = gradtx.scale_by_lion(mu_dtype=jnp.bfloat16)
    state = tx.init(jnp.zeros(3, jnp.float32))
    u, state = tx.update(jnp.ones(3, jnp.float32), state)
    assert state.mu.dtype == jnp.bfloat16 and u.dtype == jnp.float32
    with pytest.raises(ValueError, match="scale_by_lion: mode must be one of"):
        gradtx.scale_by_lion(mode="soft")


def test_signum_is_lion_with_equal_betas():
    grads = [jnp.asarray(g) for g in _gradients(6)]
    a, b = gradtx.signum(0.1, beta=0.7), gradtx.lion(0.1, b1=0.7, b2=0.7, weight_decay=0.0)
    params = jnp.ones(5)
    sa, sb = a.init(params), b.init(params)
    for g in grads:
        ua, sa = a.update(g, sa, params)
        ub, sb = b.update(g, sb, params)
        np.testing.assert_array_equal(ua, ub)
