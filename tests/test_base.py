"""Tests of gradtx/_base.py: the contract, identity, apply_updates, and Optax / Flax interop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training import train_state

import gradtx

FLOATS = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64]


def _grads(seed, steps=6):
    rng = np.random.default_rng(seed)
    return [
        {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=(2,)))}
        for _ in range(steps)
    ]


def _optax_promotion():
    """Optax 0.2.8 itself is not strict-promotion clean (`decay ** count` with an int32 count),
    so tests that run Optax code use standard promotion."""
    return jax.numpy_dtype_promotion("standard")


def _run(tx, grads, params):
    state = tx.init(params)
    out = []
    for g in grads:
        u, state = tx.update(g, state, params)
        out.append(u)
    return out


def test_gradient_transformation_has_optax_fields():
    assert gradtx.GradientTransformation._fields == ("init", "update")
    assert optax.GradientTransformation._fields == gradtx.GradientTransformation._fields


def test_identity_leaves_updates_unchanged():
    tx = gradtx.identity()
    params = {"a": jnp.zeros(3), "b": [None, 1.5]}
    state = tx.init(params)
    assert state == gradtx.EmptyState()
    grads = {"a": jnp.arange(3.0), "b": [None, 0.5]}
    updates, new_state = tx.update(grads, state, params)
    assert updates is grads
    assert new_state == state


def test_identity_jit_matches_eager():
    tx = gradtx.identity()
    g = jnp.arange(4.0)
    np.testing.assert_array_equal(jax.jit(tx.update)(g, tx.init(g))[0], g)


def test_apply_updates_adds_updates_and_keeps_none():
    params = {"a": jnp.ones(2), "b": [None, jnp.full((2, 2), 3.0)], "c": 1.5}
    updates = {"a": jnp.full(2, -0.5), "b": [None, jnp.ones((2, 2))], "c": 0.25}
    new = gradtx.apply_updates(params, updates)
    assert jax.tree.structure(new) == jax.tree.structure(params)
    np.testing.assert_array_equal(new["a"], [0.5, 0.5])
    np.testing.assert_array_equal(new["b"][1], np.full((2, 2), 4.0))
    assert new["b"][0] is None
    np.testing.assert_array_equal(new["c"], 1.75)


@pytest.mark.parametrize("param_dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("update_dtype", FLOATS, ids=lambda d: d.__name__)
def test_apply_updates_keeps_each_param_dtype(param_dtype, update_dtype):
    rng = np.random.default_rng(0)
    p = jnp.asarray(rng.normal(size=5), param_dtype)
    u = jnp.asarray(rng.normal(size=5) * 0.01, update_dtype)
    new = gradtx.apply_updates({"p": p}, {"p": u})["p"]
    assert new.dtype == param_dtype
    # The docstring: the sum in the promoted dtype, cast back once.
    with jax.numpy_dtype_promotion("standard"):
        wide = jnp.promote_types(param_dtype, update_dtype)
    expected = (p.astype(wide) + u.astype(wide)).astype(param_dtype)
    np.testing.assert_array_equal(np.asarray(new, np.float64), np.asarray(expected, np.float64))


def test_apply_updates_rounds_once_to_bfloat16():
    # 1 + 2^-8 + 2^-16 rounds up to 1 + 2^-7 in bfloat16; rounding the update to bfloat16 first
    # would give 2^-8, and 1 + 2^-8 is a tie that rounds to even, 1.0.
    p = jnp.ones(1, jnp.bfloat16)
    u = jnp.full(1, 2.0**-8 + 2.0**-16, jnp.float32)
    new = gradtx.apply_updates(p, u)
    assert new.dtype == jnp.bfloat16
    assert float(new[0]) == 1 + 2.0**-7


def test_apply_updates_jit_matches_eager():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3, jnp.float32)}
    updates = {"w": jnp.full((2, 3), 0.1), "b": jnp.full(3, 0.2, jnp.float32)}
    eager = gradtx.apply_updates(params, updates)
    jitted = jax.jit(gradtx.apply_updates)(params, updates)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_apply_updates_mismatched_trees_error_names_path():
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    updates = {"a": jnp.ones(2), "c": jnp.ones(2)}
    with pytest.raises(ValueError) as info:
        gradtx.apply_updates(params, updates)
    message = str(info.value)
    assert "apply_updates" in message
    assert "different tree structures" in message
    assert "['b']" in message and "['c']" in message


def test_gradtx_transformation_inside_optax_chain():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    grads = _grads(1)
    mixed = optax.chain(gradtx.scale_by_adam(b1=0.8, b2=0.95), optax.scale(-1e-2))
    pure_optax = optax.chain(optax.scale_by_adam(b1=0.8, b2=0.95), optax.scale(-1e-2))
    pure_gradtx = gradtx.chain(
        gradtx.scale_by_adam(b1=0.8, b2=0.95), gradtx.scale_by_learning_rate(1e-2)
    )
    with _optax_promotion():
        runs = [_run(tx, grads, params) for tx in (mixed, pure_optax, pure_gradtx)]
    for a, b, c in zip(*runs, strict=True):
        for key in params:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=0)
            np.testing.assert_allclose(a[key], c[key], rtol=1e-12, atol=0)


def test_optax_transformation_inside_gradtx_chain():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    grads = _grads(2)
    mixed = gradtx.chain(
        optax.scale_by_adam(), gradtx.trace(0.5), gradtx.scale_by_learning_rate(0.1)
    )
    pure_gradtx = gradtx.chain(
        gradtx.scale_by_adam(), gradtx.trace(0.5), gradtx.scale_by_learning_rate(0.1)
    )
    pure_optax = optax.chain(optax.scale_by_adam(), optax.trace(0.5), optax.scale(-0.1))
    with _optax_promotion():
        runs = [_run(tx, grads, params) for tx in (mixed, pure_gradtx, pure_optax)]
    for a, b, c in zip(*runs, strict=True):
        for key in params:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=0)
            np.testing.assert_allclose(a[key], c[key], rtol=1e-12, atol=0)


def test_gradtx_optimizer_works_with_optax_apply_updates_under_jit():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    tx = gradtx.adam(1e-2)

    @jax.jit
    def step(params, state, g):
        u, state = tx.update(g, state, params)
        return optax.apply_updates(params, u), state

    state = tx.init(params)
    ref_params, ref_state = params, tx.init(params)
    for g in _grads(3, steps=3):
        params, state = step(params, state, g)
        u, ref_state = tx.update(g, ref_state, ref_params)
        ref_params = gradtx.apply_updates(ref_params, u)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


def _regression():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(16, 3)))
    y = x @ jnp.asarray([1.0, -2.0, 0.5]) + 0.3
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}

    def apply_fn(p, x):
        return x @ p["w"] + p["b"]

    def loss(p):
        return jnp.mean((apply_fn(p, x) - y) ** 2)

    return apply_fn, params, loss


def test_gradtx_optimizer_drives_flax_train_state():
    apply_fn, params, loss = _regression()
    tx = gradtx.adam(1e-2)
    state = train_state.TrainState.create(apply_fn=apply_fn, params=params, tx=tx)
    by_hand_params, by_hand_state = params, tx.init(params)
    losses = [float(loss(state.params))]
    for _ in range(5):
        grads = jax.grad(loss)(state.params)
        state = state.apply_gradients(grads=grads)
        losses.append(float(loss(state.params)))

        g = jax.grad(loss)(by_hand_params)
        u, by_hand_state = tx.update(g, by_hand_state, by_hand_params)
        by_hand_params = gradtx.apply_updates(by_hand_params, u)

    assert all(b < a for a, b in zip(losses[:-1], losses[1:], strict=True))
    assert int(state.step) == 5
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(by_hand_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
    for a, b in zip(jax.tree.leaves(state.opt_state), jax.tree.leaves(by_hand_state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


def test_init_empty_state_ignores_the_params():
    assert gradtx._base.init_empty_state({"w": jnp.ones(2)}) == gradtx.EmptyState()
    assert gradtx._base.init_empty_state(None) == gradtx.EmptyState()


def test_stateless_applies_its_function_to_updates_and_params_and_keeps_the_state():
    tx = gradtx._base.stateless(lambda updates, params: jax.tree.map(jnp.add, updates, params))
    params = {"w": jnp.arange(2.0)}
    state = tx.init(params)
    assert state == gradtx.EmptyState()
    updates, new_state = jax.jit(tx.update)({"w": jnp.ones(2)}, state, params)
    np.testing.assert_array_equal(updates["w"], np.arange(2.0) + 1)
    assert new_state == state


class _CompileCounter:
    """XLA compilations seen while the context is open."""

    def __enter__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._seen)
        return self

    def _seen(self, event, duration, **kwargs):
        self.count += event == "/jax/core/compile/backend_compile_duration"

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._seen)


def test_identical_aliases_share_one_compiled_update():
    params = {f"w{i}": jnp.full(3, float(i)) for i in range(5)}
    grads = jax.tree.map(jnp.ones_like, params)
    first, second = gradtx.adam(3e-3, b2=0.95), gradtx.adam(3e-3, b2=0.95)
    states = first.init(params), second.init(params)
    with _CompileCounter() as compiles:
        want, _ = first.update(grads, states[0], params)
    with _CompileCounter() as again:
        got, _ = second.update(grads, states[1], params)
    assert compiles.count >= 1 and again.count == 0, "an identical optimizer compiled again"
    jax.tree.map(np.testing.assert_array_equal, got, want)
    # Each call still returns its own transformation, with its own config record.
    assert second.update is not first.update
    assert gradtx.to_config(second) == gradtx.to_config(first)


@pytest.mark.parametrize(
    "first,second",
    [
        (dict(b2=0.95), dict(b2=0.96)),
        (dict(weight_decay=0.0), dict(weight_decay=-0.0)),
        (dict(weight_decay=0.0), dict(weight_decay=0)),
    ],
    ids=["value", "sign-of-zero", "type"],
)
def test_aliases_that_differ_in_an_argument_compile_their_own_update(first, second):
    params = jnp.ones(3)
    first, second = gradtx.adamw(1e-3, **first), gradtx.adamw(1e-3, **second)
    states = first.init(params), second.init(params)
    first.update(params, states[0], params)
    with _CompileCounter() as compiles:
        second.update(params, states[1], params)
    assert compiles.count >= 1


def test_compiled_init_refuses_integer_params_with_their_path():
    with pytest.raises(TypeError, match=r"init: params leaf \['n'\] has dtype int32"):
        gradtx.adam(1e-3).init({"w": jnp.zeros(2), "n": jnp.zeros(2, jnp.int32)})


def test_optax_type_aliases_are_exported():
    """Type hints written against Optax (`optax.Params`, ...) have gradtx names."""
    import typing

    for name in ("Params", "Updates", "OptState", "Schedule", "ScalarOrSchedule"):
        assert getattr(gradtx, name) is getattr(gradtx._base, name)
    assert gradtx.Schedule in typing.get_args(gradtx.ScalarOrSchedule)
