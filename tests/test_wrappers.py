"""Tests of gradtx/_wrappers.py: apply_if_finite and accumulate."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


def _params():
    return {"w": jnp.asarray([1.0, -2.0, 0.5], jnp.float64), "b": jnp.asarray(0.25, jnp.float64)}


def _grads(value):
    return {"w": jnp.full(3, value, jnp.float64), "b": jnp.asarray(value, jnp.float64)}


# apply_if_finite


def test_apply_if_finite_skips_a_nan_step_bit_identically():
    tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=3)
    update = jax.jit(tx.update)
    params = _params()
    state = tx.init(params)
    for value in (0.5, -1.0):  # two finite steps, so the inner state is not trivial
        updates, state = update(_grads(value), state, params)
        params = gradtx.apply_updates(params, updates)
    bad = {"w": jnp.asarray([1.0, jnp.nan, 2.0]), "b": jnp.asarray(0.5)}
    updates, new_state = update(bad, state, params)
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, params))
    chex.assert_trees_all_equal(new_state.inner_state, state.inner_state)
    chex.assert_trees_all_equal(gradtx.apply_updates(params, updates), params)
    assert int(new_state.notfinite_count) == 1
    assert not bool(new_state.last_finite)
    assert int(new_state.total_notfinite) == 1


def test_apply_if_finite_counters_and_giving_up_after_max_consecutive_errors():
    inner = gradtx.sgd(1.0)
    tx = gradtx.apply_if_finite(inner, max_consecutive_errors=2)
    update = jax.jit(tx.update)
    state = tx.init(_params())
    nan, inf = float("nan"), float("inf")
    # (gradient value, applied?, notfinite_count, last_finite, total_notfinite)
    script = [
        (1.0, True, 0, True, 0),
        (nan, False, 1, False, 1),
        (inf, False, 2, False, 2),
        (nan, True, 3, False, 3),  # the third in a row: n_t = 3 > 2, applied anyway
        (-inf, True, 4, False, 4),  # and so is every one after it ...
        (2.0, True, 0, True, 4),  # ... until a finite step resets n_t
        (nan, False, 1, False, 5),
    ]
    for value, applied, count, last, total in script:
        g = _grads(value)
        updates, state = update(g, state, _params())
        if applied:
            chex.assert_trees_all_equal(updates, jax.tree.map(lambda x: -x, g))
        else:
            chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, g))
        assert (
            int(state.notfinite_count),
            bool(state.last_finite),
            int(state.total_notfinite),
        ) == (
            count,
            last,
            total,
        )
        assert state.notfinite_count.dtype == state.total_notfinite.dtype == jnp.int32


@pytest.mark.parametrize("max_errors", [0, 1, 3])
def test_apply_if_finite_matches_optax(max_errors):
    values = [1.0, float("nan"), float("nan"), 0.5, float("inf"), float("nan"), float("nan"), 2.0]
    ours = gradtx.apply_if_finite(gradtx.adam(0.1), max_errors)
    theirs = optax.apply_if_finite(optax.adam(0.1), max_errors)
    our_state, their_state = ours.init(_params()), theirs.init(_params())
    for value in values:
        our_u, our_state = jax.jit(ours.update)(_grads(value), our_state, _params())
        with jax.numpy_dtype_promotion("standard"):  # Optax relies on implicit promotion
            their_u, their_state = jax.jit(theirs.update)(_grads(value), their_state, _params())
        chex.assert_trees_all_close(our_u, their_u, rtol=1e-12)
        for field in ("notfinite_count", "last_finite", "total_notfinite"):
            assert getattr(our_state, field) == getattr(their_state, field), field


def test_apply_if_finite_in_a_scan_with_nan_batches():
    tx = gradtx.apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=5)
    poisoned = jnp.asarray([False, True, False, True, True, False])

    def step(carry, poison):
        params, state = carry
        g = jax.grad(lambda p: jnp.sum((p - 3.0) ** 2))(params)
        g = jnp.where(poison, jnp.nan, g)
        updates, state = tx.update(g, state, params)
        return (gradtx.apply_updates(params, updates), state), state.notfinite_count

    start = jnp.zeros(2)
    (params, state), counts = jax.jit(lambda c: jax.lax.scan(step, c, poisoned))(
        (start, tx.init(start))
    )
    np.testing.assert_array_equal(counts, [0, 1, 0, 1, 2, 0])
    assert int(state.total_notfinite) == 3
    # Three clean SGD steps on (p - 3)^2 with learning rate 0.1: p <- p - 0.2 (p - 3).
    np.testing.assert_allclose(params, np.full(2, 3.0 - 3.0 * 0.8**3), rtol=1e-14)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_apply_if_finite_rejects_bad_max_consecutive_errors(bad):
    with pytest.raises(ValueError) as info:
        gradtx.apply_if_finite(gradtx.sgd(0.1), bad)
    assert (
        str(info.value)
        == f"apply_if_finite: max_consecutive_errors must be an int >= 0, got {bad!r}"
    )


# accumulate


def _regression(dtype, seed=0, n=32, d=3):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, d)), dtype)
    y = jnp.asarray(rng.normal(size=n), dtype)
    params = {"w": jnp.asarray(rng.normal(size=d), dtype), "b": jnp.zeros([], dtype)}
    return x, y, params


def _mse(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


@pytest.mark.parametrize(
    ("dtype", "rtol"), [(jnp.float32, 1e-6), (jnp.float64, 1e-13)], ids=["float32", "float64"]
)
def test_accumulate_four_minibatches_equal_one_step_on_the_full_batch(dtype, rtol):
    x, y, params = _regression(dtype)
    inner = gradtx.sgd(0.1, momentum=0.9)
    tx = gradtx.accumulate(inner, every_k=4)
    update = jax.jit(tx.update)
    state, inner_state = tx.init(params), inner.init(params)
    grad = jax.jit(jax.grad(_mse))
    for cycle in range(2):
        for i in range(4):  # minibatches of 8: their mean gradient is the full-batch gradient
            batch = slice(8 * i, 8 * i + 8)
            updates, new_state = update(grad(params, x[batch], y[batch]), state, params)
            if i < 3:
                chex.assert_trees_all_equal(updates, jax.tree.map(jnp.zeros_like, params))
                chex.assert_trees_all_equal(new_state.inner_state, state.inner_state)
                assert int(new_state.mini_step) == i + 1
            state = new_state
        expected, inner_state = inner.update(grad(params, x, y), inner_state, params)
        chex.assert_trees_all_close(updates, expected, rtol=rtol, atol=0)
        chex.assert_trees_all_close(state.inner_state, inner_state, rtol=rtol, atol=0)
        chex.assert_trees_all_equal_dtypes(updates, params)
        assert int(state.mini_step) == 0 and int(state.gradient_step) == cycle + 1
        chex.assert_trees_all_equal(state.acc_grads, jax.tree.map(jnp.zeros_like, state.acc_grads))
        params = gradtx.apply_updates(params, updates)


def test_accumulate_in_a_scan_equals_the_inner_optimizer_on_full_batches():
    x, y, start = _regression(jnp.float64, seed=1)
    k, cycles = 4, 5
    inner = gradtx.adam(0.05)
    tx = gradtx.accumulate(inner, every_k=k)

    def step(carry, batch):
        params, state = carry
        updates, state = tx.update(jax.grad(_mse)(params, *batch), state, params)
        return (gradtx.apply_updates(params, updates), state), state.mini_step

    batches = (x.reshape(k, 8, 3), y.reshape(k, 8))
    epochs = jax.tree.map(lambda a: jnp.concatenate([a] * cycles), batches)
    (params, state), mini_steps = jax.jit(lambda c: jax.lax.scan(step, c, epochs))(
        (start, tx.init(start))
    )
    np.testing.assert_array_equal(mini_steps, [1, 2, 3, 0] * cycles)
    assert int(state.gradient_step) == cycles

    def full_step(carry, _):
        params, state = carry
        updates, state = inner.update(jax.grad(_mse)(params, x, y), state, params)
        return (gradtx.apply_updates(params, updates), state), None

    (expected, inner_state), _ = jax.jit(lambda c: jax.lax.scan(full_step, c, length=cycles))(
        (start, inner.init(start))
    )
    chex.assert_trees_all_close(params, expected, rtol=1e-12)
    chex.assert_trees_all_close(state.inner_state, inner_state, rtol=1e-12)


def test_accumulate_every_1_is_the_inner_transformation():
    inner = gradtx.adam(0.1)
    tx = gradtx.accumulate(inner, every_k=1)
    params = _params()
    state, inner_state = tx.init(params), inner.init(params)
    update, inner_update = jax.jit(tx.update), jax.jit(inner.update)
    for value in (0.5, -2.0, 1.0):
        updates, state = update(_grads(value), state, params)
        expected, inner_state = inner_update(_grads(value), inner_state, params)
        chex.assert_trees_all_close(updates, expected, rtol=1e-15)
    assert int(state.gradient_step) == 3


def test_accumulate_keeps_a_float32_mean_for_bfloat16_gradients():
    params = {"w": jnp.ones(3, jnp.bfloat16)}
    tx = gradtx.accumulate(gradtx.sgd(1.0), every_k=3)
    state = tx.init(params)
    assert state.acc_grads["w"].dtype == jnp.float32
    update = jax.jit(tx.update)
    for value in (1.0, 1.0 / 256, 1.0 / 256):  # a bfloat16 running sum would round the small ones
        updates, state = update({"w": jnp.full(3, value, jnp.bfloat16)}, state, params)
    assert updates["w"].dtype == jnp.bfloat16
    mean = jnp.asarray((1.0 + 2.0 / 256) / 3, jnp.bfloat16)
    np.testing.assert_array_equal(updates["w"], jnp.full(3, -mean))


@pytest.mark.parametrize("bad", [0, -2, 2.0, True, None])
def test_accumulate_rejects_bad_every_k(bad):
    with pytest.raises(ValueError) as info:
        gradtx.accumulate(gradtx.sgd(0.1), bad)
    assert str(info.value) == f"accumulate: every_k must be an int >= 1, got {bad!r}"


def test_wrapped_updates_trace_once():
    for tx in (
        gradtx.apply_if_finite(gradtx.adam(0.1), 2),
        gradtx.accumulate(gradtx.adam(0.1), 2),
    ):

        @jax.jit
        @chex.assert_max_traces(n=1)
        def step(params, state, g, tx=tx):
            updates, state = tx.update(g, state, params)
            return gradtx.apply_updates(params, updates), state

        params, state = _params(), tx.init(_params())
        for value in (1.0, float("nan"), 2.0):
            params, state = step(params, state, _grads(value))
        chex.clear_trace_counter()


@pytest.mark.parametrize("wrapper", [gradtx.apply_if_finite, gradtx.accumulate])
def test_stepping_wrappers_reject_an_inner_that_is_not_a_transformation(wrapper):
    with pytest.raises(
        TypeError,
        match=rf"^{wrapper.__name__}: inner must be a gradient transformation \(an object with "
        r"`init` and `update`\), got function sgd; call it first, e.g. sgd\(...\)$",
    ):
        wrapper(gradtx.sgd, 2)
