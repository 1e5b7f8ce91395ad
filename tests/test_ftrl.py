"""Tests of `gradtx/_transforms/ftrl.py` (ftrl, FTRL-Proximal): a NumPy transcription of the
docstring equations, the paper's Algorithm 1, L1 sparsity, schedules, and the contract details
(jit, nested trees). Its agreement with keras.optimizers.Ftrl is tested in test_conventions.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

SETTINGS = [
    dict(),
    dict(learning_rate=0.1, l1=0.05, l2=0.01, initial_accumulator_value=0.5),
    dict(learning_rate=0.05, learning_rate_power=-0.7, l2_shrinkage=0.02, beta=0.5),
    dict(learning_rate=1e-2, learning_rate_power=0.0, initial_accumulator_value=0.0, l2=0.1),
]


def numpy_ftrl(
    theta,
    grads,
    learning_rate=1e-3,
    learning_rate_power=-0.5,
    initial_accumulator_value=0.1,
    l1=0.0,
    l2=0.0,
    l2_shrinkage=0.0,
    beta=0.0,
):
    """The docstring's equations, step by step; the params after each step."""
    p, eta = learning_rate_power, learning_rate
    n, z = np.full_like(theta, initial_accumulator_value), np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads):
        rate = eta(t) if callable(eta) else eta
        n_new = n + g * g
        sigma = (n_new ** (-p) - n ** (-p)) / rate
        z = z + g + 2 * l2_shrinkage * theta - sigma * theta
        n = n_new
        q = n ** (-p) / rate + 2 * (l2 + beta / (2 * rate))
        theta = (np.clip(z, -l1, l1) - z) / q
        out.append(theta)
    return np.stack(out)


def _gradients(steps=30, size=5, seed=0):
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(steps, size)) * 10.0 ** rng.uniform(-3, 1, size=(steps, size))
    grads[3] = 0.0
    return grads


def _run(tx, theta, grads):
    params, state, out = jnp.asarray(theta), tx.init(jnp.asarray(theta)), []
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, updates)
        out.append(params)
    return np.stack(out), state


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_ftrl_matches_numpy_transcription_of_its_equations(kwargs):
    theta = np.random.default_rng(1).normal(size=5)
    grads = _gradients()
    got, _ = _run(gradtx.ftrl(**kwargs), theta, grads)
    want = numpy_ftrl(theta, grads, **kwargs)
    before = np.concatenate([theta[None], want[:-1]])
    # apply_updates rounds theta_(t-1) + u_t: an ulp of the larger of the two weights
    scale = np.maximum(np.abs(want), np.abs(before))
    np.testing.assert_array_less(np.abs(got - want), 1e-13 * scale + 1e-300)


def test_ftrl_is_the_papers_algorithm_1():
    """McMahan et al. 2013, Algorithm 1, per coordinate, n_0 = 0: w = 0 where |z| <= lambda_1,
    else -(z - sgn(z) lambda_1) / ((beta + sqrt(n)) / alpha + lambda_2); its lambda_2 is 2 l2."""
    alpha, beta, lam1, lam2 = 0.1, 1.0, 0.02, 0.3
    theta, grads = np.zeros(5), _gradients(seed=2)
    n, z, want = np.zeros(5), np.zeros(5), []
    w = theta
    for g in grads:
        sigma = (np.sqrt(n + g * g) - np.sqrt(n)) / alpha
        z = z + g - sigma * w
        n = n + g * g
        w = np.where(
            np.abs(z) <= lam1, 0.0, -(z - np.sign(z) * lam1) / ((beta + np.sqrt(n)) / alpha + lam2)
        )
        want.append(w)
    tx = gradtx.ftrl(alpha, -0.5, 0.0, l1=lam1, l2=lam2 / 2, beta=beta)
    got, _ = _run(tx, theta, grads)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-12, atol=1e-15)


def test_ftrl_l1_sets_weights_exactly_to_zero_while_the_linear_term_is_small():
    theta, grads = np.zeros(5), np.tile([0.001, -0.01, 1.0, -2.0, 0.0], (30, 1))
    got, state = _run(gradtx.ftrl(0.1, l1=0.5), theta, grads)
    small = np.abs(np.asarray(state.z)) <= 0.5
    assert small.any() and not small.all()
    assert np.all(got[-1][small] == 0.0) and np.all(got[-1][~small] != 0.0)


def test_ftrl_sets_a_coordinate_with_only_zero_gradients_to_zero_at_once():
    theta = np.array([2.0, -3.0])
    got, _ = _run(gradtx.ftrl(0.1), theta, np.array([[1.0, 0.0], [0.5, 0.0]]))
    assert np.all(got[:, 1] == 0.0) and np.all(got[:, 0] != 0.0)


def test_ftrl_reads_a_scheduled_learning_rate_at_the_count_of_earlier_steps():
    schedule = gradtx.exponential_decay(0.5, 1, 0.8)
    theta, grads = np.random.default_rng(4).normal(size=5), _gradients(10, seed=4)
    got, state = _run(gradtx.ftrl(schedule, l2=0.1, beta=0.5), theta, grads)
    want = numpy_ftrl(theta, grads, lambda t: 0.5 * 0.8**t, l2=0.1, beta=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert int(state.count) == 10


def test_ftrl_jitted_update_equals_eager_and_keeps_nested_tree_structure_and_dtypes():
    params = {"w": jnp.ones((2, 3)), "b": [jnp.zeros(3, jnp.float32), None], "s": jnp.asarray(0.5)}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.3), params)
    tx = gradtx.ftrl(0.1, l1=0.01)
    state = tx.init(params)
    eager, eager_state = tx.update(grads, state, params)
    jitted, jit_state = jax.jit(tx.update)(grads, state, params)
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), eager, jitted)
    assert all(jax.tree.leaves(same))
    assert jax.tree.structure(eager) == jax.tree.structure(params)
    assert jax.tree.map(lambda u: u.dtype, eager) == jax.tree.map(lambda p: p.dtype, params)
    assert jax.tree.structure(jit_state) == jax.tree.structure(eager_state)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(learning_rate=-1.0), "ftrl: learning_rate must be >= 0 and finite, got -1.0"),
        (dict(l1=-0.1), "ftrl: l1 must be >= 0 and finite, got -0.1"),
        (dict(l2=float("inf")), "ftrl: l2 must be >= 0 and finite, got inf"),
        (dict(beta=-1.0), "ftrl: beta must be >= 0 and finite, got -1.0"),
    ],
)
def test_ftrl_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        gradtx.ftrl(**kwargs)
