"""Tests of gradtx/_hyperparams.py: inject_hyperparams against the plain aliases, bit for bit."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import _registry
from gradtx._config import ALIASES as REGISTERED
from gradtx._wrappers.hyperparams import InjectHyperparamsState, inject_hyperparams
from tests import helpers

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float64]

# Aliases compared bit for bit, with non-default settings where they have some.
ALIASES = {
    "adam": (gradtx.adam, dict(learning_rate=1e-2, b2=0.99)),
    "sgd_momentum": (gradtx.sgd, dict(learning_rate=0.1, momentum=0.9)),
    "rmsprop": (gradtx.rmsprop, dict(learning_rate=1e-2, centered=True)),
    "adabound": (gradtx.adabound, dict(learning_rate=1e-2, final_lr=0.05)),
    "nadam": (gradtx.nadam, dict(learning_rate=1e-2)),
}


def _params(dtype):
    return {"w": jnp.linspace(-1.0, 1.0, 64).astype(dtype), "b": jnp.asarray([0.3, -2.0], dtype)}


def _grads(params, step):
    """Deterministic gradient-like trees, different at every step, in the params' dtypes."""

    def leaf(p):
        x = p.astype(jnp.float64 if p.dtype == jnp.float64 else jnp.float32)
        return (x + 0.1 * jnp.sin(jnp.asarray(step + 1, x.dtype) * (x + 1))).astype(p.dtype)

    return jax.tree.map(leaf, params)


def _trajectory(tx, params, steps=4, jit=True):
    update = jax.jit(tx.update) if jit else tx.update
    state, path = tx.init(params), []
    for step in range(steps):
        value = jnp.asarray(1.0 + step, jnp.float32)  # a loss, for the aliases that take one
        kwargs = helpers.loss_argument(tx, value)
        updates, state = update(_grads(params, step), state, params, **kwargs)
        params = gradtx.apply_updates(params, updates)
        path.append(params)
    return path


def _bits(tree):
    return [np.asarray(x).view(f"u{x.dtype.itemsize}") for x in jax.tree.leaves(tree)]


def _assert_bitwise_equal(a, b):
    for x, y in zip(_bits(a), _bits(b), strict=True):
        np.testing.assert_array_equal(x, y)


def _cases():
    for name in ALIASES:
        for dtype in DTYPES:
            yield pytest.param(name, dtype, id=f"{name}-{jnp.dtype(dtype).name}")


@pytest.mark.parametrize("name, dtype", list(_cases()))
def test_inject_hyperparams_equals_plain_alias_bit_for_bit_under_jit(name, dtype):
    factory, kwargs = ALIASES[name]
    plain = _trajectory(factory(**kwargs), _params(dtype))
    injected = _trajectory(inject_hyperparams(factory)(**kwargs), _params(dtype))
    _assert_bitwise_equal(plain, injected)


# fromage derives its two scaled rates from the learning rate outside any per-leaf rule, so a
# Python float is combined in float64 (x64 on) where the injected float32 array is combined in
# float32: equal to float32 rounding, not bit for bit (a known gap, issue 13's closing note).
NOT_BITWISE = {"fromage": 1e-6}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
def test_inject_hyperparams_every_alias_equals_plain_alias_eagerly(dtype):
    for name, factory in REGISTERED.items():
        plain = _trajectory(factory(0.05), _params(dtype), steps=2, jit=False)
        injected = _trajectory(inject_hyperparams(factory)(0.05), _params(dtype), 2, jit=False)
        if name in NOT_BITWISE and dtype == jnp.float32:
            chex.assert_trees_all_close(plain, injected, rtol=NOT_BITWISE[name], atol=0)
            continue
        _assert_bitwise_equal(plain, injected)


def test_inject_hyperparams_keeps_float32_hyperparameters_with_bfloat16_params():
    tx = inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b2=0.999)
    state = tx.init(_params(jnp.bfloat16))
    assert {k: v.dtype for k, v in state.hyperparams.items()} == dict.fromkeys(
        ["b1", "b2", "eps", "eps_root", "learning_rate"], jnp.dtype(jnp.float32)
    )
    assert state.hyperparams["b2"] == jnp.float32(0.999)
    assert state.hyperparams["b2"] < 1  # in bfloat16 it would be 1.0, and Adam would divide by 0
    assert jnp.asarray(0.999, jnp.bfloat16) == 1
    _, state = tx.update(_grads(_params(jnp.bfloat16), 0), state)
    assert state.hyperparams["b2"].dtype == jnp.float32


def test_inject_hyperparams_dtype_follows_the_compute_dtype_or_the_override():
    tx = inject_hyperparams(gradtx.adam)(learning_rate=1e-3)
    assert tx.init(_params(jnp.float64)).hyperparams["b2"].dtype == jnp.float64
    mixed = {"a": jnp.zeros(2, jnp.bfloat16), "b": jnp.zeros(2, jnp.float64)}
    assert tx.init(mixed).hyperparams["b2"].dtype == jnp.float64
    override = inject_hyperparams(gradtx.adam, hyperparam_dtype=jnp.float32)(learning_rate=1e-3)
    assert override.init(_params(jnp.float64)).hyperparams["b2"].dtype == jnp.float32


def test_inject_hyperparams_learning_rate_change_takes_effect_without_recompiling():
    params = _params(jnp.float32)
    tx = inject_hyperparams(gradtx.adam)(learning_rate=1e-2)
    traces = []

    @jax.jit
    def step(params, state, count):
        traces.append(None)
        updates, state = tx.update(_grads(params, count), state, params)
        return gradtx.apply_updates(params, updates), state

    state = tx.init(params)
    for count in range(3):
        params, state = step(params, state, count)
    before, inner_before = params, state.inner_state
    state.hyperparams["learning_rate"] = jnp.asarray(1e-3, jnp.float32)
    params, state = step(params, state, 3)
    assert len(traces) == 1
    assert state.hyperparams["learning_rate"] == jnp.float32(1e-3)

    plain = gradtx.adam(1e-3)  # the same update from the plain alias, from the same inner state

    @jax.jit
    def plain_step(params, inner_state, count):
        updates, _ = plain.update(_grads(params, count), inner_state, params)
        return gradtx.apply_updates(params, updates)

    _assert_bitwise_equal(params, plain_step(before, inner_before, 3))


def test_inject_hyperparams_vmapped_sweep_equals_separate_runs():
    learning_rates = jnp.logspace(-3, -0.5, 8, dtype=jnp.float64)
    params = _params(jnp.float64)

    def run(tx, lr=None):
        state = tx.init(params)
        if lr is not None:
            state.hyperparams["learning_rate"] = lr
        p = params
        for count in range(3):
            updates, state = tx.update(_grads(p, count), state, p)
            p = gradtx.apply_updates(p, updates)
        return p

    tx = inject_hyperparams(gradtx.adam)(learning_rate=0.0)
    swept = jax.jit(jax.vmap(lambda lr: run(tx, lr)))(learning_rates)
    for i, lr in enumerate(learning_rates):
        alone = run(gradtx.adam(float(lr)))
        for a, b in zip(jax.tree.leaves(swept), jax.tree.leaves(alone), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=0)


def test_inject_hyperparams_vmaps_init_over_traced_hyperparameters():
    params = _params(jnp.float32)
    rates = jnp.asarray([1e-3, 1e-2], jnp.float32)
    states = jax.vmap(lambda lr: inject_hyperparams(gradtx.sgd)(lr, 0.9).init(params))(rates)
    np.testing.assert_array_equal(states.hyperparams["learning_rate"], rates)
    assert states.hyperparams["momentum"].shape == (2,)


def test_inject_hyperparams_schedule_is_evaluated_each_step_and_readable():
    schedule = gradtx.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    tx = inject_hyperparams(gradtx.sgd)(learning_rate=schedule)
    params = _params(jnp.float32)
    state = tx.init(params)
    assert state.hyperparams["learning_rate"] == jnp.float32(0.1)  # the value for the first step
    plain = gradtx.sgd(schedule)
    plain_state = plain.init(params)
    update = jax.jit(tx.update)
    for count in range(4):
        grads = _grads(params, count)
        updates, state = update(grads, state)
        expected, plain_state = plain.update(grads, plain_state)
        assert state.hyperparams["learning_rate"] == jnp.asarray(schedule(count), jnp.float32)
        assert int(state.count) == count + 1
        _assert_bitwise_equal(updates, expected)


def test_inject_hyperparams_state_is_typed():
    state = inject_hyperparams(gradtx.adam)(1e-3).init(_params(jnp.float32))
    assert isinstance(state, InjectHyperparamsState)
    assert state.count.dtype == jnp.int32 and state.count.shape == ()
    assert isinstance(state.inner_state, tuple)  # adam's chain state, as the plain alias has


def test_inject_hyperparams_keeps_non_numeric_arguments_static():
    mask_fn = lambda p: jax.tree.map(lambda x: x.ndim > 0, p)  # noqa: E731
    tx = inject_hyperparams(gradtx.adamw)(1e-3, mu_dtype=jnp.bfloat16, mask=mask_fn, nesterov=True)
    params = _params(jnp.float32)
    state = tx.init(params)
    assert set(state.hyperparams) == {
        "learning_rate",
        "b1",
        "b2",
        "eps",
        "eps_root",
        "weight_decay",
    }
    assert state.inner_state[0].mu["w"].dtype == jnp.bfloat16
    plain = _trajectory(
        gradtx.adamw(1e-3, mu_dtype=jnp.bfloat16, mask=mask_fn, nesterov=True), params
    )
    _assert_bitwise_equal(plain, _trajectory(tx, params))


def test_inject_hyperparams_static_args_keep_a_number_static():
    tx = inject_hyperparams(gradtx.adam, static_args="b1")(learning_rate=1e-3, b1=0.5)
    assert "b1" not in tx.init(_params(jnp.float32)).hyperparams


def test_inject_hyperparams_schedules_any_numeric_hyperparameter():
    b1 = lambda count: jnp.where(count < 2, 0.5, 0.9).astype(jnp.float32)
    tx = inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b1=b1)
    state = tx.init(jnp.zeros(2, jnp.float32))
    assert state.hyperparams["b1"] == jnp.float32(0.5)
    for _ in range(3):
        _, state = tx.update(jnp.ones(2, jnp.float32), state)
    assert state.hyperparams["b1"] == jnp.float32(0.9)


def test_inject_hyperparams_without_type_hints_treats_callables_as_schedules():
    def plain_sgd(learning_rate, momentum=None):
        return gradtx.sgd(learning_rate, momentum)

    tx = inject_hyperparams(plain_sgd)(lambda count: 0.5 / (count.astype(jnp.float32) + 1.0))
    state = tx.init(jnp.zeros(2, jnp.float32))
    _, state = tx.update(jnp.ones(2, jnp.float32), state)
    _, state = tx.update(jnp.ones(2, jnp.float32), state)
    assert state.hyperparams["learning_rate"] == jnp.float32(0.25)


def test_inject_hyperparams_checks_python_numbers_when_built():
    with pytest.raises(ValueError, match=r"^adam: b1 must be in \[0, 1\), got 1.2$"):
        inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b1=1.2)


def test_inject_hyperparams_rejects_unknown_static_args():
    with pytest.raises(ValueError, match=r"static_args \['lr'\] are not arguments of adam"):
        inject_hyperparams(gradtx.adam, static_args=("lr",))


def test_inject_hyperparams_keeps_the_factory_signature_and_docstring():
    injected = inject_hyperparams(gradtx.adam)
    assert injected.__name__ == "adam"
    assert inspect.signature(injected) == inspect.signature(gradtx.adam)
    assert injected.__doc__ == gradtx.adam.__doc__


def test_inject_hyperparams_builds_the_factory_once_when_called():
    calls = []

    def counted_adam(learning_rate, b1=0.9):
        calls.append(None)
        return gradtx.adam(learning_rate, b1)

    tx = inject_hyperparams(counted_adam)(1e-3)
    assert len(calls) == 1
    tx.init(_params(jnp.float32))
    assert len(calls) == 1  # init uses the transformation built with the given values


def test_inject_hyperparams_reads_static_arguments_from_the_registration():
    assert {"mu_dtype", "mask", "nesterov"} <= _registry.alias_of(gradtx.adamw).static
    b1 = gradtx.constant_schedule(0.5)
    everywhere = lambda params: jax.tree.map(lambda _: True, params)  # noqa: E731
    tx = inject_hyperparams(gradtx.adamw)(1e-3, b1=b1, mask=everywhere)
    assert set(tx.init(_params(jnp.float32)).hyperparams) == {
        "learning_rate",
        "b1",
        "b2",
        "eps",
        "eps_root",
        "weight_decay",
    }
