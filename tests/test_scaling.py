"""Tests of gradtx/_scaling.py: scale, scale_by_schedule, scale_by_learning_rate."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers


def _decaying(count):
    return 0.3 * 0.8 ** count.astype(jnp.float64)


# NumPy transcriptions of the docstring equations; t counts from 1.


def _scale_reference(grad_steps, alpha):
    return [{k: alpha * g[k] for k in g} for g in grad_steps]  # u_t = alpha g_t


def _schedule_reference(grad_steps, alpha):
    return [{k: alpha(t - 1) * g[k] for k in g} for t, g in enumerate(grad_steps, 1)]


CASES = {
    # name: (transformation, reference)
    "scale": (lambda: gradtx.scale(0.7), lambda gs: _scale_reference(gs, 0.7)),
    "scale_negative": (lambda: gradtx.scale(-2.5), lambda gs: _scale_reference(gs, -2.5)),
    "scale_by_schedule": (
        lambda: gradtx.scale_by_schedule(_decaying),
        lambda gs: _schedule_reference(gs, lambda n: 0.3 * 0.8**n),
    ),
    "scale_by_learning_rate": (
        lambda: gradtx.scale_by_learning_rate(0.05),
        lambda gs: _scale_reference(gs, -0.05),
    ),
    "scale_by_learning_rate_no_flip": (
        lambda: gradtx.scale_by_learning_rate(0.05, flip_sign=False),
        lambda gs: _scale_reference(gs, 0.05),
    ),
    "scale_by_learning_rate_schedule": (
        lambda: gradtx.scale_by_learning_rate(_decaying),
        lambda gs: _schedule_reference(gs, lambda n: -0.3 * 0.8**n),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_scale_matches_numpy_reference(name):
    make, reference = CASES[name]
    grad_steps = helpers.grad_steps(0)
    got, _ = helpers.run(make(), grad_steps)
    for u, expected in zip(got, reference(grad_steps), strict=True):
        for key in expected:
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], expected[key], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", CASES)
def test_scale_jit_matches_eager(name):
    tx = CASES[name][0]()
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(1))


@pytest.mark.parametrize("name", CASES)
def test_scale_keeps_mixed_tree_structure_and_shapes(name):
    tx = CASES[name][0]()
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert [jnp.shape(u) for u in jax.tree.leaves(updates)] == [
        jnp.shape(g) for g in jax.tree.leaves(grads)
    ]


def test_scale_by_schedule_sees_count_before_this_update():
    seen = []

    def schedule(count):
        seen.append(count)
        return jnp.asarray(1.0)

    tx = gradtx.scale_by_schedule(schedule)
    state = tx.init(jnp.ones(2))
    assert state.count == 0 and state.count.dtype == jnp.int32
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state)
    assert [int(c) for c in seen] == [0, 1, 2]
    assert state.count == 3


def test_scale_by_schedule_rejects_a_number():
    with pytest.raises(TypeError, match="scale_by_schedule: step_size_fn must be a callable"):
        gradtx.scale_by_schedule(0.1)


def test_scale_by_learning_rate_rejects_negative_number():
    with pytest.raises(ValueError, match="scale_by_learning_rate: learning_rate must be >= 0"):
        gradtx.scale_by_learning_rate(-0.1)


def test_scale_by_learning_rate_rejects_a_string():
    with pytest.raises(TypeError, match="learning_rate must be a number, an array or a schedule"):
        gradtx.scale_by_learning_rate("0.1")


def test_scale_state_is_empty():
    assert gradtx.scale(0.1).init({"w": jnp.ones(2)}) == gradtx.EmptyState()


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
@pytest.mark.parametrize(
    ("make", "factor"),
    [(lambda: gradtx.scale(0.5), 0.5), (lambda: gradtx.scale_by_learning_rate(0.5), -0.5)],
    ids=["scale", "scale_by_learning_rate"],
)
def test_scale_keeps_low_precision_dtype(make, factor, dtype):
    tx = make()
    g = jnp.asarray([1.0, -2.0], dtype)
    updates, _ = tx.update(g, tx.init(g))
    assert updates.dtype == dtype
    np.testing.assert_array_equal(np.asarray(updates, np.float64), factor * np.array([1.0, -2.0]))


@pytest.mark.parametrize(
    "bad,error,message",
    [
        (float("inf"), ValueError, "scale: step_size must be finite, got inf"),
        (float("nan"), ValueError, "scale: step_size must be finite, got nan"),
        (True, TypeError, "scale: step_size must be a number or an array, got bool True"),
    ],
)
def test_scale_rejects_a_step_size_that_is_not_a_finite_number(bad, error, message):
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        gradtx.scale(bad)
    gradtx.scale(-2.0)  # any sign


def test_scaling_differentiates_and_batches_in_its_factor_and_updates():
    # The factor passes an optimization barrier (scaling.py): gradients (both modes) and vmap must
    # go through it, as they do through a plain product (jax < 0.5.3 had no rules for it).
    g = jnp.array([1.0, -2.0, 3.0])

    def scaled(rate, g):
        tx = gradtx.scale_by_learning_rate(rate)
        return tx.update(g, tx.init(g))[0]

    np.testing.assert_array_equal(jax.jacrev(scaled)(0.5, g), -g)
    np.testing.assert_array_equal(jax.jacfwd(scaled, argnums=1)(0.5, g), -0.5 * jnp.eye(3))
    rates = jnp.array([0.5, 2.0])
    np.testing.assert_array_equal(jax.vmap(scaled, (0, None))(rates, g), -jnp.outer(rates, g))
    np.testing.assert_array_equal(
        jax.vmap(jax.grad(lambda r: jnp.sum(scaled(r, g))))(rates), jnp.full(2, -jnp.sum(g))
    )
