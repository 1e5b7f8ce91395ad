"""Tests of gradtx/_wrappers/lookahead.py: Optax 0.2.8's `lookahead` in float64 (fast and slow
weights over replayed gradients and on Rosenbrock), a NumPy transcription of Algorithm 1, the
reset, and the adapter the registry uses."""

import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx._base import GradientTransformation
from tests import replay

RTOL = 1e-10


def _settings(lib):
    return [
        (lib.sgd(1e-3), 5, 0.5),
        (lib.adam(1e-2), 3, 0.8, True),
        (lib.sgd(1e-3, momentum=0.9), 1, 0.3),
        (lib.rmsprop(1e-3), 6, 1.0, True),
    ]


class SlowInState(NamedTuple):
    inner: object
    slow: object


def slow_in_state(tx):
    """`tx` (a lookahead) on plain params: the slow weights kept in the state, the fast weights
    as the params, so that suites that call `update(g, state, params)` can drive it."""

    def init(params):
        copy = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return SlowInState(tx.init(gradtx.LookaheadParams.init_synced(params)), copy)

    def update(updates, state, params=None):
        both = gradtx.LookaheadParams(fast=params, slow=state.slow)
        updates, inner = tx.update(updates, state.inner, both)
        return updates.fast, SlowInState(inner, gradtx.apply_updates(state.slow, updates.slow))

    return GradientTransformation(init, update)


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _run(lib, tx, params, grads):
    """Fast and slow weights after each step; `grads` a list, or a function of the fast ones."""
    update = jax.jit(tx.update)
    params = lib.LookaheadParams.init_synced(params)
    state, out = tx.init(params), []
    for t in range(len(grads) if isinstance(grads, list) else 150):
        g = grads[t] if isinstance(grads, list) else grads(params.fast)
        updates, state = update(g, state, params)
        params = lib.apply_updates(params, updates)
        out.append(tuple(params))
    return out


@pytest.mark.parametrize("i", range(4))
def test_lookahead_matches_optax_on_replayed_gradients(i):
    mine, theirs = gradtx.lookahead(*_settings(gradtx)[i]), optax.lookahead(*_settings(optax)[i])
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got, want = _run(gradtx, mine, params, grads), _run(optax, theirs, params, grads)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("i", range(4))
def test_lookahead_matches_optax_on_rosenbrock(i):
    mine, theirs = gradtx.lookahead(*_settings(gradtx)[i]), optax.lookahead(*_settings(optax)[i])
    params = {"xy": jnp.asarray([-1.2, 1.0])}
    grad = jax.jit(jax.grad(replay.rosenbrock))
    got, want = _run(gradtx, mine, params, grad), _run(optax, theirs, params, grad)
    assert not np.allclose(got[-1][1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


def test_lookahead_matches_numpy_algorithm_1():
    """k fast SGD steps from the slow weights, then theta += alpha (phi - theta), phi = theta."""
    k, alpha, lr = 3, 0.4, 0.1
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=3), [rng.normal(size=3) for _ in range(10)]
    theta, phi, want = start.copy(), start.copy(), []
    for t, g in enumerate(grads):
        phi = phi - lr * g
        if (t + 1) % k == 0:
            theta = theta + alpha * (phi - theta)
            phi = theta.copy()
        want.append((phi, theta))
    tx = gradtx.lookahead(gradtx.sgd(lr), k, alpha)
    params = gradtx.LookaheadParams.init_synced(jnp.asarray(start))
    state = tx.init(params)
    for g, (phi, theta) in zip(grads, want, strict=True):
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = gradtx.apply_updates(params, updates)
        np.testing.assert_allclose(params.fast, phi, rtol=1e-13)
        np.testing.assert_allclose(params.slow, theta, rtol=1e-13)


def test_reset_state_restores_the_fast_state_where_optax_keeps_a_nan():
    """At a synchronization the state is reset to init; Optax's blend (1 - s) x + s x0 keeps a
    non-finite entry of the old state (0 * nan is nan)."""
    params = gradtx.LookaheadParams.init_synced(jnp.zeros(2))
    grad = jnp.asarray([jnp.nan, 1.0])
    for lib, finite in ((gradtx, True), (optax, False)):
        tx = lib.lookahead(lib.sgd(0.1, momentum=0.9), 1, 0.5, True)
        _, state = tx.update(grad, tx.init(params), params)
        trace = jax.tree.leaves(state.fast_state)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in trace) == finite


def test_init_accepts_plain_params_as_the_fast_ones_and_update_explains_what_it_needs():
    tx = gradtx.lookahead(gradtx.adam(0.1), 2, 0.5)
    state = tx.init(jnp.zeros(2))
    synced = tx.init(gradtx.LookaheadParams.init_synced(jnp.zeros(2)))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), state, synced))
    with pytest.raises(ValueError, match=r"lookahead: update needs params=LookaheadParams"):
        tx.update(jnp.ones(2), state, jnp.zeros(2))


def test_bfloat16_weights_keep_their_dtype_and_sync_rounds_once():
    tx = gradtx.lookahead(gradtx.sgd(0.1), 2, 0.5)
    params = gradtx.LookaheadParams.init_synced(jnp.ones(3, jnp.bfloat16))
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(jnp.ones(3, jnp.bfloat16), state, params)
        assert updates.fast.dtype == updates.slow.dtype == jnp.bfloat16
        params = gradtx.apply_updates(params, updates)
    assert params.slow.dtype == jnp.bfloat16
    np.testing.assert_allclose(params.slow.astype(jnp.float32), 0.9, rtol=1e-2)


def test_a_step_without_synchronization_ignores_the_slow_weights_where_optax_blends_in_nan():
    """An infinite slow weight (d = -inf) is multiplied by sigma = 0 in Optax: NaN."""
    for lib, finite in ((gradtx, True), (optax, False)):
        tx = lib.lookahead(lib.sgd(0.1), 2, 0.5)
        params = lib.LookaheadParams(fast=jnp.ones(2), slow=jnp.asarray([1.0, jnp.inf]))
        updates, _ = tx.update(jnp.ones(2), tx.init(params), params)
        assert bool(jnp.all(jnp.isfinite(updates.fast))) == finite


def test_lookahead_has_optax_argument_names_order_and_defaults():
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(gradtx.lookahead) == arguments(optax.lookahead)
