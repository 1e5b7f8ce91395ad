"""The race engine (`gradtx._race`) and its report helpers (`gradtx._report`)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import _race, _report, problems


def _python_loop(problem, optimizer, steps, key):
    """The reference: a Python loop of jitted steps, logging the full loss before each step."""
    params, state = problem.start, optimizer.init(problem.start)

    @jax.jit
    def step(params, state, t):
        _, grads = problem.value_and_grad(params, jax.random.fold_in(key, t))
        updates, state = optimizer.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    losses, path = [problem.loss(params)], [params]
    for t in range(steps):
        params, state = step(params, state, t)
        losses.append(problem.loss(params))
        path.append(params)
    return params, np.asarray(losses), np.asarray(path)


@pytest.mark.parametrize("name", ["ravine", "noisy"])
def test_run_scan_equals_python_loop_of_jitted_steps(name):
    problem = problems.get(name)
    entrant = _race.Entrant("adam", 0.1)
    key = jax.random.fold_in(jax.random.key(3), 1)
    params, losses, path = _python_loop(problem, gradtx.adam(0.1), 40, key)

    result = _race.run(problem, entrant, 40, seed=3)

    np.testing.assert_allclose(result.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(result.path, path, rtol=1e-12)
    assert result.final["loss"] == pytest.approx(float(problem.loss(params)), rel=1e-12)


def test_run_logs_every_k_steps_the_same_losses():
    problem = problems.get("rosenbrock")
    every = _race.run(problem, _race.Entrant("momentum", 1e-3), 60)
    sparse = _race.run(problem, _race.Entrant("momentum", 1e-3), 60, log_every=20)

    np.testing.assert_allclose(sparse.losses, every.losses[::20], rtol=1e-12)
    np.testing.assert_allclose(sparse.path, every.path, rtol=1e-12)
    assert sparse.path.shape == (61, 2)


def test_run_reached_at_is_the_first_step_within_tolerance():
    problem = problems.get("ravine")
    result = _race.run(problem, _race.Entrant("momentum", 0.01), 150)
    within = [bool(problem.reached(jnp.asarray(p))) for p in result.path]

    assert result.reached_at == within.index(True)
    assert not any(within[: result.reached_at])


def test_first_reached_counts_logged_steps_and_ignores_nan():
    problem = problems.get("saddle")  # target: -0.25 + 1e-3
    losses = np.array([0.0, np.nan, -0.2, -0.2495, -0.1, -0.25])

    assert _race.first_reached(losses, problem) == 3
    assert _race.first_reached(losses, problem, log_every=10) == 30
    assert _race.first_reached(np.full(4, np.nan), problem) is None


def test_make_run_rejects_steps_not_a_multiple_of_log_every():
    with pytest.raises(ValueError, match="multiple of log_every"):
        _race.make_run(problems.get("ravine"), _race.Entrant("sgd", 0.1), 10, log_every=3)


def test_run_batch_vmaps_seeds_and_rates_like_single_runs():
    problem = problems.get("noisy")
    entrant = _race.Entrant("sgd", 0.05)
    losses, final = _race.run_batch(
        problem, entrant, 30, seeds=[0, 1], learning_rates=[0.05, 0.1], log_every=10
    )

    assert losses.shape == (2, 2, 4)
    assert final["loss"].shape == (2, 2)
    single = _race.run(problem, _race.Entrant("sgd", 0.1), 30, seed=1, log_every=10)
    np.testing.assert_allclose(losses[1, 1], single.losses, rtol=1e-10)
    assert not np.allclose(losses[0, 0], losses[1, 0])  # seeds draw different noise


def test_entrant_with_its_own_build_races_any_chain():
    chain = lambda lr: gradtx.chain(gradtx.trace(0.5), gradtx.scale_by_learning_rate(lr))
    custom = _race.run(problems.get("ravine"), _race.Entrant("half-momentum", 0.01, chain), 20)
    same = _race.run(problems.get("ravine"), _race.Entrant("sgd", 0.01, None), 20)

    assert custom.entrant.optimizer == "half-momentum"
    assert not np.allclose(custom.losses, same.losses)


def test_every_available_optimizer_accepts_a_traced_learning_rate():
    problem = problems.get("ravine")
    for name, spec in _race.OPTIMIZERS.items():
        if not spec.available:
            continue
        result = _race.run(problem, _race.Entrant(name, spec.learning_rate), 5)
        assert np.all(np.isfinite(result.losses)), name


def _fake(problem, name, reached_at, loss, **final):
    entrant = _race.Entrant(name, 0.1)
    final = {"loss": loss, "distance_to_optimum": 1.0, **final}
    return _race.RunResult(entrant, np.array([1.0, loss]), None, final, reached_at, 0.5, 0.01)


def test_sentence_names_the_first_to_reach_and_those_that_did_not():
    problem = problems.get("ravine")
    results = [
        _fake(problem, "sgd", None, 3.0),
        _fake(problem, "adam", 143, 1e-4),
        _fake(problem, "momentum", 97, 1e-5),
    ]

    text = _report.sentence(problem, results, 500)

    assert text == (
        "Here momentum reached the tolerance first (step 97), then adam at step 143; "
        "sgd did not within 500 steps."
    )


def test_sentence_without_a_winner_names_the_lowest_loss_and_best_accuracy():
    problem = problems.get("ravine")
    results = [
        _fake(problem, "sgd", None, math.nan, test_accuracy=0.5),
        _fake(problem, "adam", None, 2.0, test_accuracy=0.91),
    ]

    text = _report.sentence(problem, results, 50)

    assert "lowest final loss was adam's (2)" in text
    assert "best test accuracy was adam's (91.0%)" in text


def test_table_has_a_row_per_optimizer_and_marks_divergence():
    problem = problems.get("ravine")
    results = [_fake(problem, "sgd", None, math.nan), _fake(problem, "adam", 12, 1e-4)]

    lines = _report.table(problem, results, 50).splitlines()

    assert len(lines) == 4
    assert lines[2].startswith("sgd") and "diverged" in lines[2] and "not in 50" in lines[2]
    assert lines[3].startswith("adam") and "step 12" in lines[3]
