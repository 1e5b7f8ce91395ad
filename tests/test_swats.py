"""Tests of gradtx/_transforms/swats.py: scale_by_swats and the swats alias, against Algorithm 1
of Keskar & Socher (2017) transcribed in NumPy."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import ScaleBySwatsState, scale_by_swats, swats, swats_switch
from tests import helpers

LR = 1e-3
B1, B2 = 0.9, 0.999

# A noise-free linear regression y = X w + b; the parameters are two leaves, {"w": (2,), "b": ()},
# and Algorithm 1's parameter vector is their concatenation [w, b].
_rng = np.random.default_rng(3)
X = _rng.normal(size=(16, 2))
Y = X @ np.array([1.0, -2.0]) + 0.5
DESIGN = np.hstack([X, np.ones((16, 1))])


def _flat_grad(x):
    return DESIGN.T @ (DESIGN @ x - Y) / len(Y)


def _tree_grad(params):
    x = jnp.concatenate([params["w"], params["b"][None]])
    g = jnp.asarray(DESIGN.T) @ (jnp.asarray(DESIGN) @ x - jnp.asarray(Y)) / len(Y)
    return {"w": g[:2], "b": g[2]}


def _flat(tree):
    return np.concatenate([np.ravel(tree["w"]), np.ravel(tree["b"])])


def _flat_rows(tree):
    return jnp.concatenate([jnp.ravel(tree["w"]), jnp.ravel(tree["b"])])


def _params(value=0.0):
    return {"w": jnp.full(2, value), "b": jnp.asarray(value)}


def _algorithm_1(x, steps, lr=LR, b1=B1, b2=B2, eps=1e-9, eps_switch=1e-3):
    """Keskar & Socher 2017, Algorithm 1, on one float64 vector, with gradtx's switch test
    (relative, |Lambda - gamma| < eps_switch |gamma|, and Lambda > 0) where the paper's is
    |Lambda - gamma| < eps in absolute terms; Lambda and gamma are in units of `lr`. Returns the
    steps p_k (the changes to x), the switch step and Lambda (None, None if it never switches)."""
    m, a, lam = np.zeros_like(x), np.zeros_like(x), 0.0
    phase, v, big_lambda, switch_step = "adam", None, None, None
    steps_taken = []
    for k in range(1, steps + 1):
        g = _flat_grad(x)
        if phase == "sgd":
            v = b1 * v + g
            p = -(1 - b1) * lr * big_lambda * v
        else:
            m = b1 * m + (1 - b1) * g
            a = b2 * a + (1 - b2) * g * g
            p = -lr * np.sqrt(1 - b2**k) / (1 - b1**k) * m / (np.sqrt(a) + eps)
            if p @ g != 0:
                gamma = (p @ p) / (-(p @ g)) / lr
                lam = b2 * lam + (1 - b2) * gamma
                big = lam / (1 - b2**k)
                if k > 1 and big > 0 and abs(big - gamma) < eps_switch * abs(gamma):
                    phase, v = "sgd", np.zeros_like(x)
                    big_lambda, switch_step = big, k
        x = x + p
        steps_taken.append(p)
    return np.array(steps_taken), switch_step, big_lambda


def _run(tx, params, steps, grad_fn=_tree_grad):
    """`steps` updates in one jitted `lax.scan`: the flat updates and gradients, the last state."""

    def body(carry, _):
        params, state = carry
        grads = grad_fn(params)
        updates, state = tx.update(grads, state, params)
        rows = (_flat_rows(updates), _flat_rows(grads))
        return (gradtx.apply_updates(params, updates), state), rows

    (_, state), (updates, grads) = jax.jit(
        lambda p: jax.lax.scan(body, (p, tx.init(p)), length=steps)
    )(params)
    return np.asarray(updates), np.asarray(grads), state


def _run_stepwise(tx, params, steps):
    """As `_run`, but a jitted step called from a Python loop (the state goes through the host)."""
    trace = list(helpers.steps(tx, params, _tree_grad, count=steps, apply=True, jit=True))
    updates = np.array([_flat(s.updates) for s in trace])
    return updates, np.array([_flat(s.grads) for s in trace]), trace[-1].state


# At the default tolerance (relative 1e-3) and lr 0.01, SWATS switches after 45 steps.
SWITCH_LR = 1e-2
STEPS = 80


@pytest.fixture(scope="module")
def switching_run():
    return _run_stepwise(swats(SWITCH_LR), _params(), STEPS)


def test_swats_switch_step_and_learning_rate_match_algorithm_1(switching_run):
    expected, switch_step, big_lambda = _algorithm_1(np.zeros(3), STEPS, lr=SWITCH_LR)
    assert switch_step == 45  # the problem exercises both phases
    updates, _, state = switching_run
    inner = state[0]
    assert bool(inner.switched)
    assert int(inner.switch_step) == switch_step
    np.testing.assert_allclose(inner.sgd_lr, big_lambda, rtol=1e-12)
    np.testing.assert_allclose(updates, expected, rtol=1e-10, atol=1e-18)


def test_swats_before_the_switch_is_adam():
    # With eps = 0 the paper's placement of eps and `scale_by_adam`'s agree; eps_switch = 0 never
    # switches.
    steps = 50
    got, _, state = _run(swats(LR, eps=0.0, eps_switch=0.0), _params(), steps)
    adam, _, _ = _run(gradtx.adam(LR, eps=0.0), _params(), steps)
    assert not bool(state[0].switched)
    np.testing.assert_allclose(got, adam, rtol=1e-12)


def test_swats_after_the_switch_is_sgd_with_momentum_at_the_learned_rate(switching_run):
    updates, grads, state = switching_run
    k = int(state[0].switch_step)
    assert k == 45
    lr = (1 - B1) * SWITCH_LR * float(state[0].sgd_lr)
    sgd = gradtx.sgd(lr, momentum=B1)  # v = g + b1 v from zero, u = -lr v
    sgd_update = jax.jit(sgd.update)
    sgd_state = sgd.init(jnp.zeros(3))
    for u, g in zip(updates[k:], grads[k:], strict=True):
        expected, sgd_state = sgd_update(jnp.asarray(g), sgd_state)
        np.testing.assert_allclose(u, expected, rtol=1e-12)


def test_swats_inside_lax_scan_matches_algorithm_1():
    expected, switch_step, big_lambda = _algorithm_1(np.zeros(3), STEPS, lr=SWITCH_LR)
    updates, _, state = _run(swats(SWITCH_LR), _params(), STEPS)
    np.testing.assert_allclose(updates, expected, rtol=1e-10, atol=1e-18)
    assert int(state[0].switch_step) == switch_step
    np.testing.assert_allclose(state[0].sgd_lr, big_lambda, rtol=1e-12)


def test_swats_defaults_switch_at_step_2_where_gamma_is_steady():
    # Far from the minimum the gradient barely changes, gamma_k is steady, and the defaults
    # (alpha = 1e-3, eps = 1e-9, relative tolerance 1e-3) switch at k = 2.
    expected, switch_step, big_lambda = _algorithm_1(np.full(3, 30.0), 10)
    updates, _, state = _run(swats(), _params(30.0), 10)
    assert switch_step == 2
    assert int(state[0].switch_step) == 2
    np.testing.assert_allclose(state[0].sgd_lr, big_lambda, rtol=1e-12)
    np.testing.assert_allclose(updates, expected, rtol=1e-10)


def test_swats_switch_does_not_depend_on_the_scale_of_the_loss():
    # A relative test: scaling the loss by 2^10 leaves Adam's steps, hence the switch step,
    # alone and divides Lambda by 2^10, so the SGD phase takes the same steps. With eps = 0 and
    # a power of two every number scales exactly. The paper's absolute test would compare
    # Lambda - gamma, 1024 times smaller, to the same eps.
    scale = 1024.0
    scaled = lambda p: jax.tree.map(lambda g: scale * g, _tree_grad(p))
    updates, _, state = _run(swats(SWITCH_LR, eps=0.0), _params(), STEPS)
    scaled_updates, _, scaled_state = _run(swats(SWITCH_LR, eps=0.0), _params(), STEPS, scaled)
    assert int(state[0].switch_step) == int(scaled_state[0].switch_step) == 45
    assert float(scaled_state[0].sgd_lr) == float(state[0].sgd_lr) / scale
    np.testing.assert_array_equal(scaled_updates, updates)


def test_scale_by_swats_never_switches_at_the_first_step():
    # At k = 1 the bias-corrected average is gamma_1 itself, so |Lambda_1 - gamma_1| = 0.
    tx = scale_by_swats(eps_switch=1.0)
    update = jax.jit(tx.update)
    params = _params()
    _, state = update(_tree_grad(params), tx.init(params))
    assert not bool(state.switched)
    _, state = update(_tree_grad(params), state)
    assert bool(state.switched) and int(state.switch_step) == 2


def test_scale_by_swats_zero_gradient_leaves_the_estimate_alone():
    # d_k . g_k = 0: gamma_k is undefined (0 / 0); lambda keeps its value and nothing switches.
    tx = scale_by_swats(eps_switch=1e9)
    update = jax.jit(tx.update)
    params = _params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    for _ in range(3):
        updates, state = update(zeros, state)
        assert all(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))
    assert float(state.lambda_) == 0.0 and not bool(state.switched)
    # The first defined estimate, at k = 4, still divides by 1 - b2^4 (the step count, as in
    # Algorithm 1); any tolerance this wide switches there.
    _, state = update(_tree_grad(params), state)
    assert bool(state.switched) and int(state.switch_step) == 4
    np.testing.assert_allclose(state.sgd_lr, state.lambda_ / (1 - B2**4), rtol=1e-15)


def test_scale_by_swats_does_not_switch_to_a_negative_rate():
    # g_1 = 1, g_2 = -0.01: Adam's direction still points along m_2 > 0, so d_2 . g_2 < 0 and
    # gamma_2 = d_2 / g_2 is about -66, which drags Lambda_2 to about -32. |Lambda_2 - gamma_2|
    # is within a tolerance of 1 |gamma_2|, but an SGD phase at a negative rate would climb.
    tx = scale_by_swats(eps_switch=1.0)
    state = tx.init(jnp.zeros(1))
    for g in (1.0, -0.01):
        _, state = tx.update(jnp.full(1, g), state)
    lambda_hat = float(state.lambda_) / (1 - B2**2)
    m, a = 0.9 * 0.1 - 0.1 * 0.01, 0.999 * 1e-3 + 1e-3 * 1e-4
    gamma = np.sqrt(1 - B2**2) / (1 - B1**2) * m / (np.sqrt(a) + 1e-9) / -0.01
    np.testing.assert_allclose(lambda_hat, (0.999e-3 * 1.0 + 1e-3 * gamma) / (1 - B2**2))
    assert lambda_hat < 0 and abs(lambda_hat - gamma) < abs(gamma)
    assert not bool(state.switched)


def test_swats_switch_reads_the_step_and_the_rate_from_any_state(switching_run):
    _, _, state = switching_run
    found = swats_switch(state, SWITCH_LR)
    assert bool(found.switched) and int(found.step) == 45
    assert float(found.sgd_lr) == SWITCH_LR * float(state[0].sgd_lr)
    assert float(swats_switch(state).sgd_lr) == float(state[0].sgd_lr)  # in units of alpha
    injected = gradtx.inject_hyperparams(swats)(learning_rate=SWITCH_LR)
    assert int(swats_switch(injected.init(_params())).step) == 0
    batched = jax.vmap(lambda p: swats(SWITCH_LR).init(p))(jnp.zeros((4, 3)))
    assert swats_switch(batched).step.shape == (4,)
    twice = gradtx.chain(scale_by_swats(), scale_by_swats())
    with pytest.raises(ValueError, match="exactly one ScaleBySwatsState, found 2 in a tuple"):
        swats_switch(twice.init(_params()))


def test_scale_by_swats_state_types():
    params = {"w": jnp.ones(3, jnp.bfloat16), "b": jnp.ones((), jnp.float32)}
    tx = scale_by_swats()
    state = tx.init(params)
    assert isinstance(state, ScaleBySwatsState)
    _, state = jax.jit(tx.update)(params, state)
    assert state.count.dtype == state.switch_step.dtype == jnp.int32
    assert state.switched.dtype == jnp.bool_
    assert state.lambda_.dtype == state.sgd_lr.dtype == jnp.float32
    assert state.mu["w"].dtype == state.velocity["w"].dtype == jnp.bfloat16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"b1": 1.0}, "scale_by_swats: b1 must be in [0, 1), got 1.0"),
        ({"b2": -0.1}, "scale_by_swats: b2 must be in [0, 1), got -0.1"),
        ({"eps": -1e-9}, "scale_by_swats: eps must be >= 0 and finite, got -1e-09"),
        ({"eps_switch": float("nan")}, "scale_by_swats: eps_switch must be >= 0 and finite"),
    ],
)
def test_scale_by_swats_rejects_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        scale_by_swats(**kwargs)
    with pytest.raises(ValueError, match="^" + re.escape(message.replace("scale_by_", ""))):
        swats(**kwargs)  # in the caller's words


def test_swats_rejects_a_negative_learning_rate():
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        swats(-1e-3)
