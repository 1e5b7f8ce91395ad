"""Tests of gradtx/_combine.py: chain and masked."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers


def _grad_steps(seed, steps=helpers.STEPS):
    return [jax.tree.map(jnp.asarray, g) for g in helpers.grad_steps(seed)[:steps]]


def _params():
    return {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}


# chain


def test_chain_applies_links_in_order():
    # u_t = -0.1 * trace_0.5(2 g_t): scale, then momentum, then the learning rate.
    tx = gradtx.chain(gradtx.scale(2.0), gradtx.trace(0.5), gradtx.scale_by_learning_rate(0.1))
    params = _params()
    state = tx.init(params)
    velocity = {k: np.zeros(v.shape) for k, v in params.items()}
    for g in _grad_steps(0):
        updates, state = tx.update(g, state, params)
        for key in params:
            velocity[key] = 2.0 * np.asarray(g[key]) + 0.5 * velocity[key]
            np.testing.assert_allclose(updates[key], -0.1 * velocity[key], rtol=1e-12, atol=0)


def test_chain_order_matters():
    g = jnp.asarray([4.0])
    first = gradtx.chain(gradtx.scale_by_rss(0.0, 0.0), gradtx.scale(3.0))
    second = gradtx.chain(gradtx.scale(3.0), gradtx.scale_by_rss(0.0, 0.0))
    np.testing.assert_allclose(first.update(g, first.init(g))[0], [3.0], rtol=1e-15)
    np.testing.assert_allclose(second.update(g, second.init(g))[0], [1.0], rtol=1e-15)


def test_chain_state_is_a_tuple_with_one_state_per_link():
    tx = gradtx.chain(gradtx.scale(2.0), gradtx.trace(0.9), gradtx.scale_by_adam())
    params = _params()
    state = tx.init(params)
    assert isinstance(state, tuple) and len(state) == 3
    assert isinstance(state[0], gradtx.EmptyState)
    assert isinstance(state[1], gradtx.TraceState)
    assert isinstance(state[2], gradtx.ScaleByAdamState)
    _, new_state = tx.update(_grad_steps(1)[0], state, params)
    assert type(new_state) is tuple
    assert [type(s) for s in new_state] == [type(s) for s in state]
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_chain_of_nothing_is_identity():
    tx = gradtx.chain()
    g = {"w": jnp.ones(2)}
    state = tx.init(g)
    assert state == ()
    updates, new_state = tx.update(g, state)
    assert updates is g and new_state == ()


@pytest.mark.parametrize(
    ("state", "got"),
    [
        ((gradtx.EmptyState(),), "got a tuple of 1. Was it made by this chain's `init`?"),
        ([None, None], "got a list: the arguments are update(updates, state, params)"),
    ],
    ids=["short_tuple", "list"],
)
def test_chain_wrong_state_error_message(state, got):
    tx = gradtx.chain(gradtx.scale(2.0), gradtx.trace(0.9))
    with pytest.raises(ValueError) as info:
        tx.update(jnp.ones(2), state)
    message = str(info.value)
    assert "chain: the state must be a tuple of 2 states, one per link" in message
    assert got in message


def test_chain_jit_matches_eager():
    tx = gradtx.chain(
        gradtx.scale_by_adam(), gradtx.add_decayed_weights(0.01), gradtx.scale_by_learning_rate(0.1)
    )
    params = _params()
    helpers.check_jit_matches_eager(tx, params, _grad_steps(2, steps=5))


def test_chain_keeps_mixed_tree_structure_and_shapes():
    tx = gradtx.chain(gradtx.trace(0.9), gradtx.scale_by_rms(), gradtx.scale_by_learning_rate(0.1))
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)
    assert jax.tree.structure(state[0].trace) == jax.tree.structure(params)
    assert helpers.shapes(state[1].nu) == helpers.shapes(params)


# masked


def test_masked_passes_masked_out_leaves_unchanged():
    tx = gradtx.masked(gradtx.scale_by_adam(), {"w": True, "b": False})
    params = _params()
    state = tx.init(params)
    plain = gradtx.scale_by_adam()
    plain_state = plain.init({"w": params["w"]})
    for g in _grad_steps(3):
        updates, state = tx.update(g, state, params)
        expected, plain_state = plain.update({"w": g["w"]}, plain_state)
        np.testing.assert_array_equal(updates["b"], g["b"])  # the gradient itself, not zero
        np.testing.assert_array_equal(updates["w"], expected["w"])


def test_masked_inner_state_has_no_entries_for_masked_out_leaves():
    tx = gradtx.masked(gradtx.trace(0.9), {"w": True, "b": False})
    state = tx.init(_params())
    assert isinstance(state, gradtx.MaskedState)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert paths == [".inner_state.count", ".inner_state.trace['w']"]
    _, state = tx.update(_grad_steps(4)[0], state, _params())
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert paths == [".inner_state.count", ".inner_state.trace['w']"]


def test_masked_all_false_has_empty_inner_state():
    tx = gradtx.masked(gradtx.scale_by_adam(), {"w": False, "b": False})
    params = _params()
    state = tx.init(params)
    assert [x.shape for x in jax.tree.leaves(state)] == [()]  # only the step count
    g = _grad_steps(5)[0]
    updates, _ = tx.update(g, state, params)
    for key in params:
        np.testing.assert_array_equal(updates[key], g[key])


def test_masked_mask_as_function_of_params():
    def matrices(params):
        return jax.tree.map(lambda x: x.ndim > 1, params)

    tx = gradtx.masked(gradtx.scale(-2.0), matrices)
    params = _params()
    g = _grad_steps(6)[0]
    updates, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_array_equal(updates["w"], -2.0 * g["w"])
    np.testing.assert_array_equal(updates["b"], g["b"])
    # Without params, the mask function is applied to the updates.
    updates, _ = tx.update(g, tx.init(params))
    np.testing.assert_array_equal(updates["w"], -2.0 * g["w"])
    np.testing.assert_array_equal(updates["b"], g["b"])


def test_masked_mask_as_prefix_tree():
    params = {
        "enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)},
        "dec": [jnp.ones((2, 3)), jnp.ones(3)],
    }
    grads = jax.tree.map(lambda p: jnp.full(p.shape, 0.5), params)
    tx = gradtx.masked(gradtx.trace(0.5), {"enc": True, "dec": False})
    state = tx.init(params)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert sorted(paths) == [
        ".inner_state.count",
        ".inner_state.trace['enc']['b']",
        ".inner_state.trace['enc']['w']",
    ]
    for step in range(1, 4):
        updates, state = tx.update(grads, state, params)
        assert jax.tree.structure(updates) == jax.tree.structure(grads)
        expected = 0.5 * sum(0.5**k for k in range(step))  # v_t = g + 0.5 v_{t-1}
        np.testing.assert_allclose(updates["enc"]["w"], np.full((2, 2), expected), rtol=1e-15)
        np.testing.assert_allclose(updates["enc"]["b"], np.full(2, expected), rtol=1e-15)
        np.testing.assert_array_equal(updates["dec"][0], grads["dec"][0])
        np.testing.assert_array_equal(updates["dec"][1], grads["dec"][1])


def test_masked_passes_masked_params_to_inner():
    tx = gradtx.masked(gradtx.add_decayed_weights(0.5), {"w": True, "b": False})
    params = {"w": jnp.full(2, 2.0), "b": jnp.full(2, 4.0)}
    grads = {"w": jnp.ones(2), "b": jnp.ones(2)}
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates["w"], [2.0, 2.0])
    np.testing.assert_array_equal(updates["b"], [1.0, 1.0])


def test_masked_jit_matches_eager():
    tx = gradtx.masked(gradtx.scale_by_adam(), {"w": True, "b": False})
    params = _params()
    helpers.check_jit_matches_eager(tx, params, _grad_steps(7, steps=5))


@pytest.mark.parametrize(
    "mask",
    [
        {"a": True, "b": [False, None, True], "c": (True, {"d": False})},
        {"a": False, "b": True, "c": False},  # a prefix of the params tree
        lambda params: jax.tree.map(lambda x: jnp.ndim(x) > 0, params),
    ],
    ids=["full_mask", "prefix_mask", "mask_function"],
)
def test_masked_keeps_mixed_tree_structure_and_shapes(mask):
    tx = gradtx.masked(gradtx.scale_by_adam(), mask)
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)


def test_chain_passes_extra_arguments_only_to_links_that_take_them():
    seen = {}

    def update(updates, state, params=None, *, value):
        seen["value"] = value
        return jax.tree.map(lambda u: u * value, updates), state

    takes = gradtx.GradientTransformationExtraArgs(lambda params: (), update)
    tx = gradtx.chain(gradtx.scale(2.0), takes, gradtx.scale(-1.0))
    assert isinstance(tx, gradtx.GradientTransformationExtraArgs)
    updates, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), value=3.0)
    np.testing.assert_array_equal(updates, [-6.0, -6.0])
    assert seen["value"] == 3.0
    plain = gradtx.chain(gradtx.scale(2.0))
    assert type(plain) is gradtx.GradientTransformation
    # No link takes them: ignored, as by Optax's chain (a loop that always passes value=loss).
    updates, _ = plain.update(jnp.ones(2), plain.init(jnp.ones(2)), value=3.0)
    np.testing.assert_array_equal(updates, [2.0, 2.0])


def test_aliases_and_multi_steps_ignore_a_loss_they_do_not_use_as_optax_does():
    """`optax.adam(0.1).update(g, s, p, value=loss)` works, and flax.nnx.Optimizer forwards its
    keyword arguments: gradtx raised a TypeError there."""
    import optax

    params = {"w": jnp.ones(3)}
    for tx, theirs in [
        (gradtx.adam(0.1), optax.adam(0.1)),
        (gradtx.MultiSteps(gradtx.adam(0.1), 2), optax.MultiSteps(optax.adam(0.1), 2)),
    ]:
        mine = tx.update(params, tx.init(params), params, value=1.0)[0]
        with jax.numpy_dtype_promotion("standard"):
            want = theirs.update(params, theirs.init(params), params, value=1.0)[0]
        np.testing.assert_allclose(mine["w"], want["w"], rtol=1e-6)


def test_named_chain_matches_optax_and_names_its_states():
    import optax

    from tests import replay

    mine = gradtx.named_chain(("clip", gradtx.clip_by_global_norm(1.0)), ("adam", gradtx.adam(0.1)))
    theirs = optax.named_chain(("clip", optax.clip_by_global_norm(1.0)), ("adam", optax.adam(0.1)))
    with jax.numpy_dtype_promotion("standard"):  # Optax's adam mixes its int32 count in
        assert replay.replay_difference(mine, theirs) <= 1e-10
        # On the closed loop, a clip at 1 and Adam at 0.1 amplify clip_by_global_norm's one-ulp
        # difference from Optax (g * (c / |g|) against g / |g| * c) chaotically, in `chain` as
        # here (1e-12 after 100 steps, 3e-2 after 150); a clip at 10 and Adam at 0.01 do not.
        mine = gradtx.named_chain(
            ("clip", gradtx.clip_by_global_norm(10.0)), ("adam", gradtx.adam(0.01))
        )
        theirs = optax.named_chain(
            ("clip", optax.clip_by_global_norm(10.0)), ("adam", optax.adam(0.01))
        )
        assert replay.rosenbrock_difference(mine, theirs) <= 1e-10
    state = mine.init({"w": jnp.zeros(2)})
    assert set(state) == {"clip", "adam"}
    assert jax.tree.structure(state["adam"]) == jax.tree.structure(
        gradtx.adam(0.1).init({"w": jnp.zeros(2)})
    )
    with pytest.raises(
        ValueError, match=r"^named_chain: the names must be unique, got \['a', 'a'\]$"
    ):
        gradtx.named_chain(("a", gradtx.identity()), ("a", gradtx.identity()))
