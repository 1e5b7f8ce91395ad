"""Tests of gradtx/_decay.py: add_decayed_weights (constant, scheduled, masked)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers


def _params(seed):
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,))}


def _schedule(count):
    return 0.2 * 0.7 ** count.astype(jnp.float64)


def _decay_reference(grads, p, weight_decay, decayed=True):
    """u_t = g_t + lambda_t theta (theta fixed here); lambda_t = weight_decay(t - 1)."""
    return [g + weight_decay(t - 1) * p if decayed else g for t, g in enumerate(grads, 1)]


CASES = {
    # name: (transformation, lambda_t as a function of t - 1, which leaves are decayed)
    "constant": (lambda: gradtx.add_decayed_weights(0.1), lambda n: 0.1, ("w", "b")),
    "zero": (lambda: gradtx.add_decayed_weights(), lambda n: 0.0, ("w", "b")),
    "schedule": (
        lambda: gradtx.add_decayed_weights(_schedule),
        lambda n: 0.2 * 0.7**n,
        ("w", "b"),
    ),
    "mask": (
        lambda: gradtx.add_decayed_weights(0.1, mask={"w": True, "b": False}),
        lambda n: 0.1,
        ("w",),
    ),
    "mask_function": (
        lambda: gradtx.add_decayed_weights(
            0.1, mask=lambda params: jax.tree.map(lambda x: jnp.ndim(x) > 1, params)
        ),
        lambda n: 0.1,
        ("w",),
    ),
    "schedule_and_mask": (
        lambda: gradtx.add_decayed_weights(_schedule, mask={"w": False, "b": True}),
        lambda n: 0.2 * 0.7**n,
        ("b",),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_add_decayed_weights_matches_numpy_reference(name):
    make, weight_decay, decayed = CASES[name]
    grad_steps, params = helpers.grad_steps(0), _params(1)
    got, _ = helpers.run(make(), grad_steps, params)
    for key in params:
        expected = _decay_reference(
            [g[key] for g in grad_steps], params[key], weight_decay, key in decayed
        )
        for t, (u, e) in enumerate(zip(got, expected, strict=True), 1):
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0, err_msg=f"{key}, t={t}")


def test_add_decayed_weights_masked_out_leaves_are_the_gradient_itself():
    tx = gradtx.add_decayed_weights(0.5, mask={"w": True, "b": False})
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    grads = {"w": jnp.asarray([0.1, 0.2]), "b": jnp.asarray([0.3, 0.4])}
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates["b"], grads["b"])
    np.testing.assert_array_equal(updates["w"], [0.6, 0.7])


@pytest.mark.parametrize("name", CASES)
def test_add_decayed_weights_jit_matches_eager(name):
    tx = CASES[name][0]()
    params = jax.tree.map(jnp.asarray, _params(2))
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(3)[:5])


@pytest.mark.parametrize(
    "mask",
    [
        None,
        {"a": True, "b": [False, None, True], "c": (False, {"d": True})},
        {"a": False, "b": True, "c": True},  # a prefix of the params tree
        lambda params: jax.tree.map(lambda x: jnp.ndim(x) == 0, params),
    ],
    ids=["no_mask", "full_mask", "prefix_mask", "mask_function"],
)
def test_add_decayed_weights_keeps_mixed_tree_structure_and_shapes(mask):
    tx = gradtx.add_decayed_weights(0.1, mask)
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)
    np.testing.assert_allclose(updates["b"][2], 0.25 + 0.1 * 1.5, rtol=1e-15)


def test_add_decayed_weights_schedule_sees_count_before_this_update():
    seen = []

    def weight_decay(count):
        seen.append(int(count))
        return jnp.asarray(0.0)

    tx = gradtx.add_decayed_weights(weight_decay)
    params = jnp.ones(2)
    state = tx.init(params)
    assert state.count == 0 and state.count.dtype == jnp.int32
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state, params)
    assert seen == [0, 1, 2]
    assert state.count == 3


def test_add_decayed_weights_needs_params():
    tx = gradtx.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="add_decayed_weights: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_add_decayed_weights_params_mismatch_error_names_path():
    tx = gradtx.add_decayed_weights(0.1)
    params = {"a": jnp.ones(2), "c": jnp.ones(2)}
    with pytest.raises(ValueError, match="different tree structures") as info:
        tx.update({"a": jnp.ones(2), "b": jnp.ones(2)}, tx.init(params), params)
    message = str(info.value)
    assert "add_decayed_weights" in message and "['b']" in message and "['c']" in message


def test_add_decayed_weights_rejects_negative_weight_decay():
    with pytest.raises(ValueError, match="add_decayed_weights: weight_decay must be >= 0"):
        gradtx.add_decayed_weights(-1e-4)
