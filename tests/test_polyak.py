"""Tests of gradtx/_transforms/polyak.py and polyak_sgd: conformance with Optax 0.2.8 in float64
(the loss passed as `value=`), the step size transcribed in NumPy, and `scaling`, where Optax's
code departs from its own formula."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import polyak_sgd, scale_by_polyak
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


SETTINGS = [
    dict(),
    dict(max_learning_rate=0.01, f_min=-0.5, eps=1e-3),
    dict(max_learning_rate=0.5, f_min=2.0, variant="sps+"),
    dict(max_learning_rate=2e-3, eps=1e-2, variant="sps"),
]


def _values(steps, seed=2):
    """Loss values to replay beside the gradients: positive, with some below every f_min."""
    return list(np.random.default_rng(seed).normal(1.0, 2.0, size=steps))


def _run(tx, params, grads, values, apply):
    update = jax.jit(tx.update)
    state, path = tx.init(params), []
    for g, value in zip(grads, values, strict=True):
        updates, state = update(g, state, params, value=jnp.asarray(value))
        params = apply(params, updates)
        path.append(params)
    return path


def _rosenbrock(tx, apply, steps=150):
    @jax.jit
    def step(params, state):
        value, g = jax.value_and_grad(replay.rosenbrock)(params)
        updates, state = tx.update(g, state, params, value=value)
        return apply(params, updates), state

    params = {"xy": jnp.asarray([-1.2, 1.0])}
    state, path = tx.init(params), []
    for _ in range(steps):
        params, state = step(params, state)
        path.append(params)
    return path


@pytest.mark.parametrize("i", range(len(SETTINGS)))
def test_polyak_sgd_matches_optax_on_replayed_gradients(i):
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    values = _values(len(grads))
    got = _run(polyak_sgd(**SETTINGS[i]), params, grads, values, gradtx.apply_updates)
    want = _run(optax.polyak_sgd(**SETTINGS[i]), params, grads, values, optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("i", range(len(SETTINGS)))
def test_polyak_sgd_matches_optax_on_rosenbrock(i):
    got = _rosenbrock(polyak_sgd(**SETTINGS[i]), gradtx.apply_updates)
    want = _rosenbrock(optax.polyak_sgd(**SETTINGS[i]), optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert np.all(np.isfinite(got[-1]["xy"]))
    assert replay.max_relative_difference(got, want) <= RTOL


def _step_size(g, value, f_min=0.0, max_learning_rate=1.0, eps=0.0, variant="sps"):
    """Loizou et al. 2021, Eq. (5), in NumPy: min(gap / (|g|^2 + eps), gamma_max)."""
    squared = sum(float(np.sum(np.square(x))) for x in g.values())
    gap = value - f_min
    gap = max(gap, 0.0) if variant == "sps+" else gap
    if squared + eps <= np.finfo(np.float64).eps:
        return 0.0
    return min(gap / (squared + eps), max_learning_rate)


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(f_min=1.0, eps=0.5), dict(f_min=3.0, variant="sps+"), dict(f_min=3.0)],
)
def test_scale_by_polyak_follows_the_paper(kwargs):
    tx = scale_by_polyak(**kwargs)
    rng = np.random.default_rng(0)
    state = tx.init({"w": jnp.zeros(3), "b": jnp.zeros(())})
    for value in (2.5, 0.1, 40.0):
        g = {"w": rng.normal(size=3), "b": np.asarray(rng.normal())}
        updates, state = tx.update(jax.tree.map(jnp.asarray, g), state, value=value)
        step = _step_size(g, value, **kwargs)
        for name in g:
            np.testing.assert_allclose(updates[name], step * g[name], rtol=1e-14)


def test_tiny_gradient_takes_no_step_and_nan_value_gives_nan():
    tx = scale_by_polyak()
    updates, _ = tx.update(jnp.full(2, 1e-9), tx.init(jnp.zeros(2)), value=1.0)
    np.testing.assert_array_equal(updates, [0.0, 0.0])
    updates, _ = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), value=jnp.nan)
    assert bool(jnp.all(jnp.isnan(updates)))


def test_scaling_multiplies_the_step_where_optax_divides_it():
    """Optax scales the gradient before measuring it: its step is s min(gap / (s^2 |g|^2 + eps),
    gamma_max). So Optax with (scaling=s, max_learning_rate=m) is gradtx with (1/s, s^2 m); gradtx
    itself takes s min(gap / (|g|^2 + eps), gamma_max), the documented formula."""
    s, m = 0.25, 0.5
    params = replay.replay_params()
    grads = replay.replay_gradients(params, steps=20)
    values = _values(20)
    theirs = _run(optax.polyak_sgd(m, s), params, grads, values, optax.apply_updates)
    mine = _run(polyak_sgd(m, s), params, grads, values, gradtx.apply_updates)
    same = _run(polyak_sgd(s * s * m, 1 / s), params, grads, values, gradtx.apply_updates)
    assert replay.max_relative_difference(same, theirs) <= RTOL
    assert replay.max_relative_difference(mine, theirs) > 0.1
    g, value = {"w": np.asarray([3.0, 4.0])}, 10.0  # |g|^2 = 25, below the cap: step s * 0.4
    tx, w = polyak_sgd(m, s), {"w": jnp.asarray(g["w"])}
    updates, _ = tx.update(w, tx.init(w), value=value)
    np.testing.assert_allclose(
        updates["w"], -s * _step_size(g, value, max_learning_rate=m) * g["w"]
    )


def test_value_reaches_the_link_through_chain_and_is_required():
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), polyak_sgd())
    assert isinstance(tx, gradtx.GradientTransformationExtraArgs)
    params = jnp.asarray([1.0, 2.0])
    updates, _ = tx.update(params, tx.init(params), params, value=0.5)
    np.testing.assert_allclose(updates, -0.5 * params / np.linalg.norm(params))
    with pytest.raises(TypeError, match="value"):
        tx.update(params, tx.init(params), params)


def test_variant_is_checked_when_built():
    with pytest.raises(ValueError, match="polyak_sgd: variant must be 'sps' or 'sps\\+', got 'x'"):
        polyak_sgd(variant="x")
