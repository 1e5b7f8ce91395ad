"""Tests of gradtx/_transforms/schedule_free.py and the Schedule-Free aliases: conformance with
optax.contrib 0.2.8 in float64, the paper's equations transcribed in NumPy, and the one place
where gradtx and Optax differ (a scheduled rate's weights)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import ScheduleFreeState, schedule_free, schedule_free_eval_params
from tests import helpers, replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


# name -> settings compared with optax.contrib (the first: Optax's defaults).
SETTINGS = {
    "schedule_free_sgd": [
        dict(),
        dict(learning_rate=1e-3, b1=0.95, weight_decay=1e-2, weight_lr_power=1.0),
        dict(learning_rate=5e-4, b1=0.5, weight_decay=0.0),
    ],
    "schedule_free_adamw": [
        dict(),
        dict(learning_rate=1e-2, b1=0.95, b2=0.99, eps=1e-6, weight_decay=1e-3),
        dict(learning_rate=1e-3, b1=1.0, b2=0.9, weight_lr_power=0.0),
    ],
}
# The closed loop needs a rate at which Rosenbrock does not blow up.
ROSENBROCK_RATE = {"schedule_free_sgd": 1e-4, "schedule_free_adamw": 2e-3}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, kwargs):
    return getattr(gradtx, name)(**kwargs), getattr(optax.contrib, name)(**kwargs)


def _replay_both(mine, theirs):
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = list(helpers.steps(mine, params, grads, apply=True, jit=True))
    want = list(helpers.steps(theirs, params, grads, apply=optax.apply_updates, jit=True))
    return got, want


def _assert_same(got, want):
    """Params y_t and evaluation params x_t agree with Optax's at every step."""
    assert replay.max_relative_difference([s.params for s in got], [s.params for s in want]) <= RTOL
    x_got = [schedule_free_eval_params(s.state, s.params) for s in got]
    x_want = [optax.contrib.schedule_free_eval_params(s.state, s.params) for s in want]
    assert replay.max_relative_difference(x_got, x_want) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    _assert_same(*_replay_both(*_pair(name, SETTINGS[name][i])))


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    kwargs = {**SETTINGS[name][i], "learning_rate": ROSENBROCK_RATE[name]}
    mine, theirs = _pair(name, kwargs)
    params = {"xy": jnp.asarray([-1.2, 1.0])}
    grads = jax.grad(replay.rosenbrock)
    got = list(helpers.steps(mine, params, grads, count=150, apply=True, jit=True))
    want = list(
        helpers.steps(theirs, params, grads, count=150, apply=optax.apply_updates, jit=True)
    )
    assert not np.allclose(got[-1].params["xy"], [-1.2, 1.0]), "the closed loop must move"
    _assert_same(got, want)


@pytest.mark.parametrize(
    "base",
    [
        lambda: (gradtx.sgd(1e-2), optax.sgd(1e-2)),
        lambda: (gradtx.adam(1e-2, b1=0.0), optax.adam(1e-2, b1=0.0)),
    ],
    ids=["sgd", "adam"],
)
def test_schedule_free_matches_optax_around_a_base_optimizer(base):
    mine, theirs = base()
    got, want = _replay_both(
        schedule_free(mine, 1e-2, b1=0.8, weight_lr_power=3.0),
        optax.contrib.schedule_free(theirs, 1e-2, b1=0.8, weight_lr_power=3.0),
    )
    _assert_same(got, want)


def _paper(y, grads, rates, b1, power):
    """Defazio et al. 2024, Algorithm 1 with SGD steps z_{t+1} = z_t - gamma_t g_t, in NumPy,
    keeping x itself (not recovering it from y and z): the y_t after each step."""
    z, x, weight_sum, max_lr, path = y.copy(), y.copy(), 0.0, 0.0, []
    for g, gamma in zip(grads, rates, strict=True):
        z = z - gamma * g
        max_lr = max(max_lr, gamma)
        weight_sum += max_lr**power
        c = max_lr**power / weight_sum if weight_sum else 0.0
        x = (1 - c) * x + c * z
        y = b1 * x + (1 - b1) * z
        path.append((y, x))
    return path


def test_schedule_free_follows_the_paper_with_a_warmup():
    rates = [0.0, 0.05, 0.1, 0.1, 0.1, 0.1]
    warm = gradtx.join_schedules(
        [gradtx.linear_schedule(0.0, 0.1, transition_steps=2), gradtx.constant_schedule(0.1)], [2]
    )
    assert [float(warm(t)) for t in range(6)] == pytest.approx(rates)
    tx = schedule_free(gradtx.sgd(warm), warm, b1=0.7, weight_lr_power=1.5)
    params = {"w": jnp.asarray([1.0, -2.0, 0.5])}
    rng = np.random.default_rng(0)
    grads = [{"w": jnp.asarray(rng.normal(size=3))} for _ in rates]
    got = list(helpers.steps(tx, params, grads, apply=True))
    want = _paper(np.asarray(params["w"]), [np.asarray(g["w"]) for g in grads], rates, 0.7, 1.5)
    for step, (y, x) in zip(got, want, strict=True):
        np.testing.assert_allclose(step.params["w"], y, rtol=1e-13)
        np.testing.assert_allclose(schedule_free_eval_params(step.state, step.params)["w"], x)


def test_warmup_weights_the_rate_that_made_the_step_where_optax_reads_the_next_one():
    """With a warm-up, Optax weights z_{t+1} by gamma_{t+1}: its trajectory is gradtx's with the
    weights' schedule shifted by one step. gradtx weights it by gamma_t, as the paper does."""
    kwargs = dict(learning_rate=0.1, warmup_steps=5, b1=0.9)
    got, want = _replay_both(*_pair("schedule_free_sgd", kwargs))
    paths = [[s.params for s in run] for run in (got, want)]
    assert replay.max_relative_difference(*paths) > 1e-3
    # At the first step the rate is 0: gradtx gives it weight 0, Optax weight (0.1 / 5)^2.
    assert float(got[0].state.weight_sum) == 0.0
    assert float(want[0].state.weight_sum) == pytest.approx(0.02**2)
    # Optax's warm-up (float32 even under x64, its init_value 0 being an int) as the schedule,
    # so that only the shift is compared.
    warm = optax.warmup_constant_schedule(0, 0.1, 5)
    ahead = lambda count: warm(count + 1)  # noqa: E731
    shifted = schedule_free(gradtx.sgd(warm), ahead, b1=0.9)
    again = list(
        helpers.steps(shifted, replay.replay_params(), [s.grads for s in got], apply=True, jit=True)
    )
    assert replay.max_relative_difference([s.params for s in again], paths[1]) <= RTOL


def test_eval_params_finds_the_state_inside_a_chain_and_names_a_missing_one():
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.schedule_free_sgd(0.1))
    params = {"w": jnp.asarray([1.0, 2.0])}
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.asarray([0.5, -0.5])}, state, params)
    y = gradtx.apply_updates(params, updates)
    z = state[1].z["w"]
    np.testing.assert_allclose(
        schedule_free_eval_params(state, y)["w"], (y["w"] - 0.1 * z) / 0.9, rtol=1e-15
    )
    with pytest.raises(ValueError, match="must hold exactly one ScheduleFreeState, found 0"):
        schedule_free_eval_params(gradtx.sgd(0.1).init(params), params)


def test_state_dtype_stores_z_and_the_scalars_stay_wide():
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    state = gradtx.schedule_free_adamw(state_dtype=jnp.float32).init(params)
    assert isinstance(state, ScheduleFreeState)
    assert state.z["w"].dtype == jnp.float32
    assert state.weight_sum.dtype == jnp.float32 and state.max_lr.dtype == jnp.float32
    f64 = gradtx.schedule_free_sgd().init({"w": jnp.ones(3)})
    assert f64.z["w"].dtype == jnp.float64 and f64.b1.dtype == jnp.float64


def test_update_needs_params_and_b1_must_be_positive():
    tx = gradtx.schedule_free_sgd(0.1)
    with pytest.raises(ValueError, match="schedule_free: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    with pytest.raises(ValueError, match=r"schedule_free_sgd: b1 must be in \(0, 1\], got 0"):
        gradtx.schedule_free_sgd(b1=0)


def test_jitted_update_equals_eager():
    helpers.check_jit_matches_eager(
        gradtx.schedule_free_adamw(1e-2, warmup_steps=3, weight_decay=1e-2),
        {"w": np.ones((3, 4)), "b": np.ones(4)},
        helpers.grad_steps(0),
    )


def test_non_finite_gradient_gives_nan():
    tx = gradtx.schedule_free_sgd(0.1)
    params = jnp.ones(2)
    updates, _ = tx.update(jnp.asarray([jnp.nan, 1.0]), tx.init(params), params)
    assert bool(jnp.isnan(updates[0]))


def test_eval_params_read_through_inject_hyperparams_and_follow_an_injected_b1():
    tx = gradtx.inject_hyperparams(gradtx.schedule_free_sgd)(learning_rate=0.1, b1=0.9)
    params = {"w": jnp.asarray([1.0, 2.0])}
    state = tx.init(params)
    state.hyperparams["b1"] = jnp.asarray(0.5)
    updates, state = tx.update({"w": jnp.asarray([0.5, -0.5])}, state, params)
    y = gradtx.apply_updates(params, updates)
    z = state.inner_state.z["w"]
    np.testing.assert_allclose(
        schedule_free_eval_params(state, y)["w"], (y["w"] - 0.5 * z) / 0.5, rtol=1e-15
    )
