"""Tests for `gradtx.problems`: gradients, optima, stochastic gradients, datasets, registry.

Every problem here is built and run in float64 (`jax.enable_x64(True)`), so finite differences
are accurate; one test checks that float32 params keep float32. Test-side randomness and
arithmetic use NumPy, and each problem's jitted functions are compiled once and shared, which
keeps the module fast.
"""

import functools
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradtx import problems
from gradtx.problems import _datasets, _stochastic

NAMES = list(problems.PROBLEMS)
STOCHASTIC = ["noisy", "sparse", "digits", "breast_cancer"]
DATASETS = {"digits": (64, 10, 1348, 449), "breast_cancer": (30, 2, 427, 142)}
WITH_OPTIMUM = [name for name in NAMES if name not in DATASETS]


@pytest.fixture(autouse=True, scope="module")
def _float64():
    """Build and run every problem here in float64, whatever the session's default."""
    with jax.enable_x64(True):
        yield


@functools.cache
def _problem(name: str) -> problems.Problem:
    return problems.get(name)


@functools.cache
def _jit(name: str, method: str):
    """A jitted function of the cached problem, compiled once and shared by the tests."""
    problem = _problem(name)
    if method == "grad":
        return jax.jit(jax.grad(problem.loss))
    if method == "sample_grads":  # value_and_grad over a batch of keys
        return jax.jit(jax.vmap(problem.value_and_grad, in_axes=(None, 0)))
    return jax.jit(getattr(problem, method))


def _ravel(tree):
    """(flat float64 NumPy vector, unravel) for a pytree of arrays, without JAX dispatch."""
    leaves, treedef = jax.tree.flatten(tree)
    shapes = [np.shape(leaf) for leaf in leaves]
    flat = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])
    cuts = np.cumsum([math.prod(shape) for shape in shapes])[:-1]

    def unravel(vector):
        parts = np.split(np.asarray(vector), cuts)
        leaves = [part.reshape(shape) for part, shape in zip(parts, shapes, strict=True)]
        return jax.tree.unflatten(treedef, leaves)

    return flat, unravel


def _points(problem, seed, count=2):
    """The start, then `count` random points: uniform in `bounds` for 2-D, else start + noise."""
    rng = np.random.default_rng(seed)
    flat, unravel = _ravel(problem.start)
    if problem.bounds is not None:
        low, high = np.array(problem.bounds).T
        return [flat, *rng.uniform(low, high, (count, 2))]
    return [flat, *(flat + 0.3 * rng.standard_normal((count, flat.size)))]


def _assert_grad_matches_finite_differences(name, flat, seed, eps=1e-6, rtol=1e-6):
    """Compare <grad, v> with (f(p + eps v) - f(p - eps v)) / (2 eps) along a few directions v.

    The directions are the coordinate axes for 2-D params and random unit vectors otherwise.
    """
    _, unravel = _ravel(_problem(name).start)
    f = lambda vector: float(_jit(name, "loss")(unravel(vector)))
    g, _ = _ravel(_jit(name, "grad")(unravel(flat)))
    if flat.size == 2:
        directions = np.eye(2)
    else:
        directions = np.random.default_rng(seed).standard_normal((3, flat.size))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    for v in directions:
        numeric = (f(flat + eps * v) - f(flat - eps * v)) / (2 * eps)
        analytic = g @ v
        assert abs(numeric - analytic) <= rtol * (np.linalg.norm(g) + 1e-3), (numeric, analytic)


@pytest.mark.parametrize("name", NAMES)
def test_loss_gradient_matches_finite_differences(name):
    for seed, flat in enumerate(_points(_problem(name), seed=0)):
        _assert_grad_matches_finite_differences(name, flat, seed)


@pytest.mark.parametrize("name", WITH_OPTIMUM)
def test_optimum_is_a_stationary_point_with_the_stated_value(name):
    problem = _problem(name)
    for optimum in problem.optima:
        gradient, _ = _ravel(_jit(name, "grad")(optimum))
        assert np.max(np.abs(gradient)) < 1e-8
        assert float(_jit(name, "loss")(optimum)) == pytest.approx(problem.optimum_value, abs=1e-12)
        assert float(problem.distance_to_optimum(optimum)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", WITH_OPTIMUM)
def test_optimum_value_is_below_nearby_and_random_points(name):
    problem = _problem(name)
    flat, unravel = _ravel(problem.optimum)
    nearby = flat + 1e-3 * np.random.default_rng(0).standard_normal((16, flat.size))
    for point in [*nearby, *_points(problem, seed=1, count=16)]:
        assert float(_jit(name, "loss")(unravel(point))) >= problem.optimum_value


@pytest.mark.parametrize("name", NAMES)
def test_problem_reached_at_optimum_not_at_start(name):
    problem, reached = _problem(name), _jit(name, "reached")
    assert not bool(reached(problem.start))
    if problem.optimum is not None:
        assert bool(reached(problem.optimum))


@pytest.mark.parametrize("name", NAMES)
def test_problem_metadata(name):
    problem = _problem(name)
    assert problem.name == name
    assert problem.description and "\n" not in problem.description
    assert problem.tolerance > 0
    assert problem.stochastic == (name in STOCHASTIC)
    assert problem.dim == _ravel(problem.start)[0].size
    assert (problem.optimum is None) == (problem.optimum_value is None)
    assert (problem.bounds is not None) == (problem.dim == 2)
    if problem.bounds is not None:
        (x0, x1), (y0, y1) = problem.bounds
        for x, y in map(np.asarray, [problem.start, *problem.optima]):
            assert x0 <= x <= x1 and y0 <= y <= y1


@pytest.mark.parametrize("name", NAMES)
def test_value_and_grad_and_evaluate_keep_float32(name):
    problem = _problem(name)
    params = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, jnp.float32), problem.start)
    key = jax.eval_shape(jax.random.key, 0)
    value, grads = jax.eval_shape(jax.jit(problem.value_and_grad), params, key)
    assert value.shape == () and value.dtype == jnp.float32
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    report = jax.eval_shape(jax.jit(problem.evaluate), params)
    assert report["loss"].dtype == jnp.float32


@pytest.mark.parametrize("name", [n for n in NAMES if n not in STOCHASTIC])
def test_deterministic_value_and_grad_ignores_the_key(name):
    problem = _problem(name)
    value, grads = float(_jit(name, "loss")(problem.start)), _jit(name, "grad")(problem.start)
    for key in (None, jax.random.key(0), jax.random.key(1)):
        v, g = _jit(name, "value_and_grad")(problem.start, key)
        assert float(v) == value
        np.testing.assert_array_equal(g, grads)


@functools.cache
def _gradient_samples(name: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and flat gradients at the start for keys (7, 7, 8, then `count - 3` others)."""
    seeds = np.r_[7, 7, 8, 100 + np.arange(count - 3)]
    keys = jax.vmap(jax.random.key)(seeds)
    values, grads = _jit(name, "sample_grads")(_problem(name).start, keys)
    leaves = [np.reshape(g, (count, -1)) for g in jax.tree.leaves(grads)]
    return np.asarray(values), np.concatenate(leaves, axis=1)


@pytest.mark.parametrize("name", ["noisy", "sparse"])  # datasets: see the descent test
def test_stochastic_gradient_is_a_function_of_the_key_and_unbiased(name):
    problem = _problem(name)
    _, samples = _gradient_samples(name, 2**16 if name == "noisy" else 4096)
    np.testing.assert_array_equal(samples[0], samples[1])
    assert not np.array_equal(samples[0], samples[2])
    true_grad, _ = _ravel(_jit(name, "grad")(problem.start))
    error = np.linalg.norm(samples[3:].mean(axis=0) - true_grad)
    assert error < 0.05 * np.linalg.norm(true_grad)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        problem.value_and_grad(problem.start)


def test_noisy_gradient_is_heavy_tailed_and_value_is_noise_free():
    problem = _problem("noisy")
    values, samples = _gradient_samples("noisy", 2**16)
    np.testing.assert_array_equal(values, float(_jit("noisy", "loss")(problem.start)))
    noise = samples - _ravel(_jit("noisy", "grad")(problem.start))[0]
    assert np.median(np.abs(noise)) < 1.0
    assert np.abs(noise).max() > 1000  # a Gaussian with this median would stay below 10


def test_himmelblau_distance_is_to_the_nearest_of_four_minima():
    problem = _problem("himmelblau")
    assert len(problem.optima) == 4
    near_second = problem.optima[1] + np.array([0.3, -0.4])
    assert float(problem.distance_to_optimum(near_second)) == pytest.approx(0.5, rel=1e-9)


def test_cliff_start_has_an_exploding_gradient():
    problem = _problem("cliff")
    assert np.linalg.norm(_jit("cliff", "grad")(problem.start)) > 900


def test_sparse_features_are_zipf_like():
    problem = _problem("sparse")
    x, y = _stochastic._sparse_data()
    counts = x.sum(axis=0)
    assert x.shape == (2000, 200) and set(np.unique(x)) == set(np.unique(y)) == {0.0, 1.0}
    assert counts[0] > 800 and np.sum(counts < 10) > 60
    assert problem.dim == 201 and problem.start["b"].shape == ()


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_split_shapes_and_standardisation(name):
    features, classes, n_train, n_test = DATASETS[name]
    x_train, y_train, x_test, y_test = _datasets.load_split(name)
    assert x_train.shape == (n_train, features) and x_test.shape == (n_test, features)
    assert y_train.shape == (n_train,) and y_test.shape == (n_test,)
    assert set(np.unique(y_train)) == set(range(classes))
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-10)
    assert np.all(np.isclose(x_train.std(axis=0), 1.0) | np.isclose(x_train.std(axis=0), 0.0))
    problem = _problem(name)
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in problem.start["layers"]]
    assert shapes == [((features, 32), (32,)), ((32, classes), (classes,))]


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_sample_start_uses_the_key(name):
    problem = _problem(name)
    a, b = (_ravel(problem.init_params(jax.random.key(i)))[0] for i in (1, 2))
    assert a.shape == _ravel(problem.start)[0].shape and not np.array_equal(a, b)
    assert problem.init_params() is problem.start


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_plain_gradient_descent_lowers_the_train_loss(name):
    """300 minibatch SGD steps; the same keys replay the same run, other keys another one."""
    problem = _problem(name)

    @jax.jit
    def descend(seed):
        def step(params, key):
            _, grads = problem.value_and_grad(params, key)
            return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), None

        keys = jax.random.split(jax.random.key(seed), 300)
        return jax.lax.scan(step, problem.start, keys)[0]

    params, replay, other = (_ravel(descend(seed))[0] for seed in (0, 0, 1))
    np.testing.assert_array_equal(params, replay)
    assert not np.array_equal(params, other)
    params = _ravel(problem.start)[1](params)
    before, after = (_jit(name, "evaluate")(p) for p in (problem.start, params))
    assert set(after) == {"loss", "train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    for report in (before, after):
        assert 0.0 <= float(report["train_accuracy"]) <= 1.0
        assert 0.0 <= float(report["test_accuracy"]) <= 1.0
    assert float(after["train_loss"]) < 0.5 * float(before["train_loss"])
    assert float(after["test_accuracy"]) > 0.9


def test_dataset_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install 'gradtx\[tour\]'"):
        _datasets._load_sklearn("digits")


def test_import_does_not_need_sklearn():
    code = "import sys, gradtx.problems; assert 'sklearn' not in sys.modules"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown problem 'banana'") as info:
        problems.get("banana")
    for name in NAMES:
        assert name in str(info.value)


def test_distance_to_optimum_without_optimum_raises():
    problem = _problem("digits")
    with pytest.raises(ValueError, match="no known optimum"):
        problem.distance_to_optimum(problem.start)
