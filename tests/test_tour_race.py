"""The race engine, `gradtx.tour.race`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import problems
from gradtx.tour import race
from gradtx.tour.menu import MENU


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
    entrant = race.Entrant("adam", 0.1)
    key = jax.random.fold_in(jax.random.key(3), 1)
    params, losses, path = _python_loop(problem, gradtx.adam(0.1), 40, key)

    result = race.run(problem, entrant, 40, seed=3)

    np.testing.assert_allclose(result.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(result.path, path, rtol=1e-12)
    assert result.final["loss"] == pytest.approx(float(problem.loss(params)), rel=1e-12)


def test_run_logs_every_k_steps_the_same_losses():
    problem = problems.get("rosenbrock")
    every = race.run(problem, race.Entrant("momentum", 1e-3), 60)
    sparse = race.run(problem, race.Entrant("momentum", 1e-3), 60, log_every=20)

    np.testing.assert_allclose(sparse.losses, every.losses[::20], rtol=1e-12)
    np.testing.assert_allclose(sparse.path, every.path, rtol=1e-12)
    assert sparse.path.shape == (61, 2)


def test_run_reached_at_is_the_first_step_within_tolerance():
    problem = problems.get("ravine")
    result = race.run(problem, race.Entrant("momentum", 0.01), 150)
    within = [bool(problem.reached(jnp.asarray(p))) for p in result.path]

    assert result.reached_at == within.index(True)
    assert not any(within[: result.reached_at])


def test_first_reached_counts_logged_steps_and_ignores_nan():
    problem = problems.get("saddle")  # target: -0.25 + 1e-3
    losses = np.array([0.0, np.nan, -0.2, -0.2495, -0.1, -0.25])

    assert race.first_reached(losses, problem) == 3
    assert race.first_reached(losses, problem, log_every=10) == 30
    assert race.first_reached(np.full(4, np.nan), problem) is None


def test_make_run_rejects_steps_not_a_multiple_of_log_every():
    with pytest.raises(ValueError, match="multiple of log_every"):
        race.make_run(problems.get("ravine"), race.Entrant("sgd", 0.1), 10, log_every=3)


def test_run_batch_vmaps_seeds_and_rates_like_single_runs():
    problem = problems.get("noisy")
    entrant = race.Entrant("sgd", 0.05)
    losses, final = race.run_batch(
        problem, entrant, 30, seeds=[0, 1], learning_rates=[0.05, 0.1], log_every=10
    )

    assert losses.shape == (2, 2, 4)
    assert final["loss"].shape == (2, 2)
    single = race.run(problem, race.Entrant("sgd", 0.1), 30, seed=1, log_every=10)
    np.testing.assert_allclose(losses[1, 1], single.losses, rtol=1e-10)
    assert not np.allclose(losses[0, 0], losses[1, 0])  # seeds draw different noise


def test_entrant_with_its_own_build_races_any_chain():
    chain = lambda lr: gradtx.chain(gradtx.trace(0.5), gradtx.scale_by_learning_rate(lr))
    custom = race.run(problems.get("ravine"), race.Entrant("half-momentum", 0.01, chain), 20)
    same = race.run(problems.get("ravine"), race.Entrant("sgd", 0.01, None), 20)

    assert custom.entrant.optimizer == "half-momentum"
    assert not np.allclose(custom.losses, same.losses)


@pytest.mark.parametrize("spec", MENU, ids=lambda spec: spec.name)
def test_every_optimizer_of_the_menu_accepts_a_traced_learning_rate(spec):
    result = race.run(problems.get("ravine"), race.Entrant(spec.name, spec.learning_rate), 5)

    assert np.all(np.isfinite(result.losses)), spec.name


def test_run_without_a_path_logs_the_loss_every_k_steps_only():
    problem = problems.get("sparse")  # no bounds: no path, the full loss once every k steps
    every = race.run(problem, race.Entrant("adagrad", 0.5), 20)
    sparse = race.run(problem, race.Entrant("adagrad", 0.5), 20, log_every=10)

    assert every.path is None and sparse.path is None
    assert sparse.losses.shape == (3,)
    np.testing.assert_allclose(sparse.losses, every.losses[::10], rtol=1e-12)


def test_an_online_projected_problem_races_as_the_counterexample_loop_runs_it():
    """Reddi's problem: the step number as input and projected steps, as `reddi_iterates`."""
    from gradtx.tour import counterexamples as ce

    optimizer = ce.reddi_optimizer("adam", 3.0)
    expected = ce.reddi_iterates(optimizer, steps=90)[0]
    entrant = race.Entrant("adam", ce.REDDI_ALPHA, lambda lr: ce.reddi_optimizer("adam", 3.0, lr))

    result = race.run(problems.get("reddi"), entrant, 90, log_every=3)

    np.testing.assert_allclose(result.path[:, 0], expected, rtol=1e-12)
    assert result.path.shape == (91, 1) and result.losses.shape == (31,)
    assert np.all(np.abs(result.path) <= 1.0)


def test_neighbours_are_the_same_run_at_other_rates_without_compiling_again():
    problem = problems.get("ravine")
    result = race.run(problem, race.Entrant("sgd", 0.01), 30, neighbours=(0.5, 4.0))
    half = race.run(problem, race.Entrant("sgd", 0.005), 30)

    assert [n.learning_rate for n in result.neighbours] == [0.005, 0.04]
    assert result.neighbours[0].final == half.final
    assert result.neighbours[0].reached_at == half.reached_at
    assert result.neighbours[1].diverged_at is not None  # 0.04 > 2/100, the stability limit
    assert result.neighbours[1].reached_at is None
