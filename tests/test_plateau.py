"""Tests of gradtx/_transforms/plateau.py: Optax 0.2.8's `optax.contrib.reduce_on_plateau` in
float64 (replayed gradients and losses, and Rosenbrock with its loss), a NumPy transcription of
the rule, and where gradtx and Optax differ."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx._base import GradientTransformation
from tests import replay

RTOL = 1e-10

SETTINGS = [
    dict(),
    dict(factor=0.5, patience=3, rtol=0.0, atol=1e-3, cooldown=2, min_scale=0.05),
    dict(factor=0.3, patience=2, rtol=1e-2, accumulation_size=4, cooldown=1),
]


def fed_norm(tx):
    """`tx` called with `value` = the squared norm of the gradient: a stand-in loss (on the
    quadratic of tests/test_contract.py it is 4 times the loss), so that suites that call
    `update(g, state, params)` can drive a transformation that needs the loss."""

    def update(updates, state, params=None):
        return tx.update(updates, state, params, value=gradtx._tree.squared_norm(updates))

    return GradientTransformation(tx.init, update)


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _losses(steps=replay.REPLAY_STEPS, seed=3):
    """Losses that fall, stall on a noisy plateau, fall again, and stall again."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    trend = np.where(
        t < 30, 1 - t / 40, np.where(t < 70, 0.25, np.maximum(0.25 - (t - 70) / 200, 0.1))
    )
    return trend * (1 + 1e-3 * rng.normal(size=steps))


def _run_open(tx, params, grads, losses, apply):
    update = jax.jit(tx.update)
    state, out = tx.init(params), []
    for g, loss in zip(grads, losses, strict=True):
        updates, state = update(g, state, params, value=jnp.asarray(loss))
        params = apply(params, updates)
        out.append(params)
    return out, state


def _run_rosenbrock(tx, apply, steps=150):
    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(replay.rosenbrock)(params)
        updates, state = tx.update(grads, state, params, value=loss)
        return apply(params, updates), state

    params, out = {"xy": jnp.asarray([-1.2, 1.0])}, []
    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
        out.append(params)
    return out, state


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_reduce_on_plateau_matches_optax_on_replayed_gradients_and_losses(kwargs):
    params = replay.replay_params()
    grads, losses = replay.replay_gradients(params), _losses()
    mine = gradtx.chain(gradtx.adam(1e-2), gradtx.reduce_on_plateau(**kwargs))
    theirs = optax.chain(optax.adam(1e-2), optax.contrib.reduce_on_plateau(**kwargs))
    got, state = _run_open(mine, params, grads, losses, gradtx.apply_updates)
    want, their_state = _run_open(theirs, params, grads, losses, optax.apply_updates)
    assert float(state[1].scale) < 1, "the scale must have been reduced"
    assert float(state[1].scale) == float(their_state[1].scale)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_reduce_on_plateau_matches_optax_on_rosenbrock(kwargs):
    mine = gradtx.chain(gradtx.sgd(1e-3, momentum=0.9), gradtx.reduce_on_plateau(**kwargs))
    theirs = optax.chain(optax.sgd(1e-3, momentum=0.9), optax.contrib.reduce_on_plateau(**kwargs))
    got, state = _run_rosenbrock(mine, gradtx.apply_updates, steps=400)
    want, _ = _run_rosenbrock(theirs, optax.apply_updates, steps=400)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


def _numpy_plateau(losses, factor, patience, rtol, atol, cooldown, accumulation_size, min_scale):
    """The docstring's rule, transcribed: the scale after each call."""
    scale, best, plateau, cooling, window, scales = 1.0, np.inf, 0, 0, [], []
    for loss in losses:
        window.append(loss)
        if len(window) == accumulation_size:
            avg, window = np.mean(window), []
            improved = avg < (np.inf if np.isinf(best) else (1 - rtol) * best - atol)
            best = avg if improved else best
            plateau = 0 if improved else plateau + 1
            if cooling > 0:
                plateau, cooling = 0, cooling - 1
            elif plateau == patience:
                scale, plateau, cooling = max(scale * factor, min_scale), 0, cooldown
            else:
                scale, cooling = max(scale, min_scale), 0
        scales.append(scale)
    return scales


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_reduce_on_plateau_matches_numpy(kwargs):
    full = dict(
        factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1, min_scale=0
    )
    full.update(kwargs)
    losses = _losses()
    tx = gradtx.reduce_on_plateau(**kwargs)
    state, scales = tx.init(jnp.zeros(2)), []
    for loss in losses:
        updates, state = tx.update(jnp.ones(2), state, value=loss)
        scales.append(float(updates[0]))
    np.testing.assert_allclose(scales, _numpy_plateau(losses, **full), rtol=1e-15)
    assert min(scales) < 1


def test_rtol_one_improves_first_where_optax_never_improves():
    """(1 - rtol) * inf is NaN in Optax at rtol = 1: no loss improves on it, ever, and the scale
    shrinks every `patience` windows from the start (here twice instead of once)."""
    kwargs = dict(rtol=1.0, atol=0.0, patience=2)
    states = []
    for tx in (gradtx.reduce_on_plateau(**kwargs), optax.contrib.reduce_on_plateau(**kwargs)):
        state = tx.init(jnp.zeros(1))
        for loss in (1.0, 0.5, 0.25, 0.125):
            _, state = tx.update(jnp.ones(1), state, value=loss)
        states.append(state)
    mine, theirs = states
    assert float(mine.best_value) == 1.0 and float(mine.scale) == pytest.approx(0.1)
    assert float(theirs.best_value) == np.inf and float(theirs.scale) == pytest.approx(0.01)


def test_scale_is_float32_for_bfloat16_params_where_optax_rounds_it_to_bfloat16():
    kwargs = dict(patience=1)
    params = jnp.zeros(2, jnp.bfloat16)
    states = []
    for tx in (gradtx.reduce_on_plateau(**kwargs), optax.contrib.reduce_on_plateau(**kwargs)):
        state = tx.init(params)
        for loss in (1.0, 1.0):
            _, state = tx.update(jnp.ones(2, jnp.bfloat16), state, value=loss)
        states.append(state)
    mine, theirs = states
    assert mine.scale.dtype == jnp.float32 and mine.scale == jnp.float32(0.1)
    assert theirs.scale.dtype == jnp.bfloat16 and float(theirs.scale) == 0.10009765625


def test_update_needs_the_loss_and_chains_pass_it():
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.reduce_on_plateau())
    assert isinstance(tx, gradtx.GradientTransformationExtraArgs)
    state = tx.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="value"):
        tx.update(jnp.ones(2), state)
    updates, _ = tx.update(jnp.ones(2), state, value=1.0)
    np.testing.assert_allclose(updates, -0.1)


def test_non_finite_loss_counts_as_no_improvement_and_non_finite_gradients_stay_nan():
    tx = gradtx.reduce_on_plateau(patience=1)
    state = tx.init(jnp.zeros(2))
    _, state = tx.update(jnp.ones(2), state, value=1.0)
    updates, state = tx.update(jnp.asarray([jnp.nan, 1.0]), state, value=jnp.nan)
    assert np.isnan(updates[0]) and float(updates[1]) == pytest.approx(0.1)
    assert float(state.best_value) == 1.0


def test_reduce_on_plateau_has_optax_argument_names_order_and_defaults():
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(gradtx.reduce_on_plateau) == arguments(optax.contrib.reduce_on_plateau)
