"""The literature's counterexamples reproduce their papers' outcomes (`gradtx.problems` and
`gradtx.tour.counterexamples`): Reddi et al.'s Adam drifting to +1 while AMSGrad reaches -1,
Wilson et al.'s generalisation gap, a SWATS switch checked against a NumPy transcription of
Algorithm 1, and AdaBound's band. Everything runs in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import problems
from gradtx.problems import _counterexamples
from gradtx.tour import counterexamples as ce


@pytest.fixture(autouse=True, scope="module")
def _float64():
    with jax.enable_x64(True):
        yield


def test_reddi_online_losses_follow_the_period_and_steps_are_projected():
    problem = problems.get("reddi")
    grads = jax.jit(jax.vmap(problem.value_and_grad, in_axes=(None, 0)))(
        problem.start, jnp.arange(6)
    )[1]
    np.testing.assert_array_equal(grads[:, 0], [3.0, -1.0, -1.0, 3.0, -1.0, -1.0])
    assert problem.online and not problem.stochastic
    np.testing.assert_array_equal(problem.project(jnp.array([1.5])), [1.0])
    np.testing.assert_array_equal(problem.project(jnp.array([-2.0])), [-1.0])
    with pytest.raises(ValueError, match="needs the step number t"):
        problem.value_and_grad(problem.start)
    with pytest.raises(ValueError, match="c must be > 2"):
        problems.reddi(2.0)


def test_reddi_adam_returns_to_the_worst_point_while_amsgrad_reaches_the_optimum():
    """Theorem 1: beta1 = 0, beta2 = 1/(1 + C^2), alpha_t = 0.5 / sqrt(t) < sqrt(1 - beta2)."""
    adam = ce.reddi_iterates(ce.reddi_optimizer("adam", 3.0))[0]
    amsgrad = ce.reddi_iterates(ce.reddi_optimizer("amsgrad", 3.0))[0]
    # records: x_1 = 1, then the iterate after each step; a period ends every third step.
    np.testing.assert_array_equal(adam[3::3], 1.0)
    assert adam[-300:].min() > 0.98  # within 2% of +1 at every step late on
    assert amsgrad[-1] < -0.99 and np.all(amsgrad[-300:] < -0.98)


def test_reddi_stochastic_adam_drifts_to_plus_one_and_amsgrad_to_minus_one():
    adam = ce.reddi_iterates(ce.reddi_optimizer("adam", 10.0), "reddi_stochastic", seeds=2)
    amsgrad = ce.reddi_iterates(ce.reddi_optimizer("amsgrad", 10.0), "reddi_stochastic", seeds=2)
    assert np.all(adam[:, -300:].mean(axis=1) > 0.95)
    assert np.all(amsgrad[:, -300:].mean(axis=1) < -0.95)
    problem = problems.get("reddi_stochastic")
    draws = jax.jit(jax.vmap(lambda k: problem.value_and_grad(problem.start, k)[1][0]))(
        jax.random.split(jax.random.key(0), 4000)
    )
    assert set(np.unique(draws)) == {-1.0, 10.0}
    assert abs(float(draws.mean()) - 1.0) < 0.25  # E g = delta = 1 (std error 0.07)


def test_wilson_construction_makes_the_sign_vector_interpolate():
    x, y = _counterexamples.wilson_data()
    assert x.shape == (40, 203) and y.sum() > 0
    np.testing.assert_array_equal(x[:, 0], y)
    np.testing.assert_array_equal(x[:, 1:3], 1.0)
    own = x[:, 3:].sum(axis=1)
    np.testing.assert_array_equal(own, np.where(y > 0, 1.0, 5.0))
    assert np.all(x[:, 3:].sum(axis=0) <= 1)  # no two samples share an own feature
    np.testing.assert_array_equal(x @ np.sign(x.T @ y), 4 * y)


@pytest.mark.parametrize(
    "name, optimizer",
    [
        ("adam", gradtx.adam(0.01)),
        ("rmsprop", gradtx.rmsprop(0.01)),
        ("adagrad", gradtx.adagrad(0.1, initial_accumulator_value=0.0)),
    ],
)
def test_wilson_adaptive_methods_converge_to_the_sign_solution_and_predict_plus_one(
    name, optimizer
):
    del name
    x, y = _counterexamples.wilson_data()
    w, report = ce.wilson_solution(optimizer, steps=1500)
    sign = np.sign(x.T @ y)
    np.testing.assert_allclose(w, sign / 4, atol=1e-5)
    assert report["train_error"] == 0.0 and report["loss"] < 1e-10
    assert 0.40 < report["test_error"] < 0.50  # every fresh negative is wrong: 1 - p = 0.45
    scores = np.array([1.0, -1.0]) * w[0] + w[1] + w[2]
    assert np.all(scores > 0)  # it predicts +1 whatever the label


def test_wilson_gradient_descent_finds_the_minimum_norm_solution_and_zero_test_error():
    x, y = _counterexamples.wilson_data()
    w_min = problems.minimum_norm_solution(x, y)
    np.testing.assert_allclose(x @ w_min, y, atol=1e-12)
    assert w_min[0] > abs(w_min[1] + w_min[2])  # classifies a fresh point by feature 1
    w, report = ce.wilson_solution(gradtx.sgd(0.5), steps=1500)
    np.testing.assert_allclose(w, w_min, atol=1e-8)
    assert report["test_error"] == 0.0 and report["train_error"] == 0.0


def _swats_numpy(grad, w, steps, alpha, b1=0.9, b2=0.999, eps=1e-9, eps_switch=1e-3):
    """Keskar & Socher's Algorithm 1 in NumPy, with gradtx's switch test: relative,
    |Lambda - gamma| < eps_switch |gamma|, and Lambda > 0 (the paper's: |Lambda - gamma| < eps)."""
    m, a, v, lam, lam_sgd, switch = 0 * w, 0 * w, 0 * w, 0.0, None, 0
    path = [w]
    for k in range(1, steps + 1):
        g = grad(w)
        if switch:
            v = b1 * v + g
            w = w - (1 - b1) * lam_sgd * v
        else:
            m = b1 * m + (1 - b1) * g
            a = b2 * a + (1 - b2) * g * g
            p = -alpha * np.sqrt(1 - b2**k) / (1 - b1**k) * m / (np.sqrt(a) + eps)
            w = w + p
            if p @ g != 0:
                gamma = (p @ p) / (-p @ g)
                lam = b2 * lam + (1 - b2) * gamma
                big = lam / (1 - b2**k)
                if k > 1 and big > 0 and abs(big - gamma) < eps_switch * abs(gamma):
                    switch, lam_sgd = k, big
        path.append(w)
    return switch, lam_sgd, np.array(path)


def _rosenbrock_grad(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def test_swats_switches_at_the_stated_step_with_algorithm_1s_sgd_rate():
    setting = ce.SWATS_SETTING
    run = ce.swats_run(setting)
    start = np.array([-1.2, 1.0])
    assert "eps_switch" not in setting  # gradtx.swats's default, relative 1e-3
    switch, sgd_lr, path = _swats_numpy(
        _rosenbrock_grad, start, setting["steps"], setting["learning_rate"]
    )
    assert run["switch_step"] == switch == 145
    assert run["sgd_lr"] == pytest.approx(sgd_lr, rel=1e-10)
    np.testing.assert_allclose(run["swats_path"], path, rtol=1e-9, atol=1e-12)
    # The trajectory changes at the switch: it leaves Adam's path.
    gap = np.linalg.norm(run["swats_path"] - run["adam_path"], axis=1)
    assert gap[: switch + 1].max() < 1e-9 and gap[-1] > 0.1  # (eps 1e-9 vs Adam's 1e-8)


def test_swats_switches_in_float32_on_the_tours_digits_at_its_defaults():
    # `gradtx.swats()` as it comes (lr 1e-3), the tour's seed-0 start and minibatches, float32:
    # the switch comes after step 74, where |Lambda - gamma| = 5.9e-4 |gamma| (the closest
    # approach before it, 7.5e-3 at step 41, is far outside the tolerance 1e-3, and both far
    # above float32's spacing of 1.2e-7). The paper's absolute 1e-9 would ask gamma ~ 40 alpha
    # to agree to 1e-8 relative, below that spacing. (At the tour's lr 0.01 it switches after
    # step 1,724, `ce.SWATS_DIGITS`; measured, not run here.)
    run = ce.swats_digits_switch(learning_rate=1e-3, steps=80)
    assert run["switch_step"] == 74
    assert run["sgd_lr"] == pytest.approx(0.0395, rel=1e-3)  # Lambda = 39.50 alpha


def test_adabound_keeps_its_effective_step_sizes_inside_the_band_and_adam_does_not():
    steps = 1000
    lower, upper = ce.adabound_band(0.1, 1e-3, steps)
    for optimizer in (gradtx.adabound(0.01), gradtx.amsbound(0.01)):
        eta = ce.effective_step_sizes(optimizer, steps=steps)
        assert np.isfinite(eta).all()
        assert np.all(eta >= lower[:, None] * (1 - 1e-12))
        assert np.all(eta <= upper[:, None] * (1 + 1e-12))
    eta = ce.effective_step_sizes(gradtx.adam(0.01), steps=steps)
    assert np.mean(eta < lower[:, None]) > 0.5  # Adam's rates fall far below the band


@pytest.mark.parametrize("name", list(problems.COUNTEREXAMPLES))
def test_counterexample_metadata_losses_and_gradients(name):
    problem = problems.get(name)
    assert problem.name == name and problem.description and "\n" not in problem.description
    assert bool(problem.reached(problem.optimum)) and not bool(problem.reached(problem.start))
    assert float(problem.loss(problem.optimum)) == pytest.approx(problem.optimum_value, abs=1e-12)
    x = np.random.default_rng(0).uniform(-1, 1, problem.dim)
    if name == "reddi":  # the average of one period's online losses
        period = [float(problem.online_loss(jnp.asarray(x), t)) for t in range(3)]
        assert np.mean(period) == pytest.approx(float(problem.loss(jnp.asarray(x))), rel=1e-12)
    if name == "wilson":  # grad f = X^T (X w - y) / n
        features, labels = _counterexamples.wilson_data()
        grad = jax.grad(problem.loss)(jnp.asarray(x))
        np.testing.assert_allclose(grad, features.T @ (features @ x - labels) / 40, rtol=1e-12)
    assert name in problems.COUNTEREXAMPLES and name not in problems.PROBLEMS
