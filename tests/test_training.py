"""Tests of gradtx/training.py: descend, the one training scan, and fit, which feeds it batches."""

import functools
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.training import descend, fit

N = 10
KEY = jax.random.key(0)
_rng = np.random.default_rng(0)
DATA = {"x": jnp.asarray(_rng.normal(size=(N, 2))), "y": jnp.asarray(_rng.normal(size=N))}
PARAMS = {"w": jnp.zeros(2), "b": jnp.zeros(())}
SGD = gradtx.sgd(0.1)  # one object, so that `fit` compiles once per schedule across tests


def loss_fn(params, batch):
    """Mean squared error of a linear model on a batch."""
    return jnp.mean((batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2)


def _permutation(key, epoch, n=N):
    """The documented shuffle: one permutation an epoch, from `fold_in(key, epoch)`."""
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))


def _hand_loop(optimizer, batches_per_epoch):
    """Plain Python: one gradient step per batch of indices, in order; the losses before each."""

    @jax.jit
    def step(params, state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, state = optimizer.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    params, state = PARAMS, optimizer.init(PARAMS)
    losses = []
    for batches in batches_per_epoch:
        row = []
        for index in batches:
            batch = jax.tree.map(lambda x, index=index: x[np.asarray(index)], DATA)
            params, state, loss = step(params, state, batch)
            row.append(loss)
        losses.append(row)
    return params, state, np.asarray(losses)


def _assert_close(result, expected, rtol=1e-12):
    params, state, losses = expected
    chex.assert_trees_all_close(result.params, params, rtol=rtol, atol=1e-14)
    chex.assert_trees_all_close(result.opt_state, state, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(result.losses, losses, rtol=rtol, atol=1e-14)


def test_fit_full_batch_equals_hand_written_gradient_steps():
    epochs, optimizer = 6, gradtx.adam(0.05)
    result = fit(loss_fn, PARAMS, DATA, optimizer, epochs=epochs)
    assert result.losses.shape == (epochs, 1)
    _assert_close(result, _hand_loop(optimizer, [[np.arange(N)]] * epochs))


def test_fit_minibatch_of_the_whole_dataset_is_batch_gradient_descent():
    optimizer = gradtx.sgd(0.1, momentum=0.9)
    batch = fit(loss_fn, PARAMS, DATA, optimizer, epochs=5)
    minibatch = fit(loss_fn, PARAMS, DATA, optimizer, epochs=5, batch_size=N, key=KEY)
    _assert_close(minibatch, batch)  # the same means, summed in shuffled order


def test_fit_stochastic_equals_a_loop_over_the_permutation():
    epochs, optimizer = 3, gradtx.sgd(0.05)
    result = fit(loss_fn, PARAMS, DATA, optimizer, epochs=epochs, batch_size=1, key=KEY)
    batches = [[[i] for i in _permutation(KEY, e)] for e in range(epochs)]
    assert result.losses.shape == (epochs, N)
    _assert_close(result, _hand_loop(optimizer, batches))


def test_fit_same_key_same_shuffles_other_key_other_shuffles():
    traces = []

    def counted_loss(params, batch):
        traces.append(None)
        return loss_fn(params, batch)

    run = lambda key: fit(counted_loss, PARAMS, DATA, SGD, epochs=2, batch_size=3, key=key)
    first, again, other = run(KEY), run(KEY), run(jax.random.key(1))
    chex.assert_trees_all_equal(first, again)
    assert not np.allclose(first.losses, other.losses)
    assert not np.allclose(first.params["w"], other.params["w"])
    assert len(traces) == 1  # the key is an argument of the compiled loop, not a constant


def test_fit_accepts_an_unhashable_loss():
    class Loss:  # defines __eq__ without __hash__: compiled for the call only
        def __eq__(self, other):
            return isinstance(other, Loss)

        def __call__(self, params, batch):
            return loss_fn(params, batch)

    got = fit(Loss(), PARAMS, DATA, SGD, epochs=2)
    chex.assert_trees_all_close(got, fit(loss_fn, PARAMS, DATA, SGD, epochs=2), rtol=1e-15)


# n = 10 examples in batches of 4: two full batches and r = 2 left over an epoch.
LAST_BATCHES = {
    "drop": lambda p: [p[0:4], p[4:8]],
    "smaller": lambda p: [p[0:4], p[4:8], p[8:10]],
    "wrap": lambda p: [p[0:4], p[4:8], np.concatenate([p[8:10], p[0:2]])],
}


@pytest.mark.parametrize("policy", LAST_BATCHES)
def test_fit_last_batch_policy_equals_its_hand_written_batches(policy):
    traced_shapes = []

    def counted_loss(params, batch):
        traced_shapes.append(batch["x"].shape[0])
        return loss_fn(params, batch)

    epochs, optimizer = 2, gradtx.adam(0.1)
    kwargs = {"epochs": epochs, "batch_size": 4, "key": KEY, "last_batch": policy}
    result = fit(counted_loss, PARAMS, DATA, optimizer, **kwargs)
    batches = [LAST_BATCHES[policy](_permutation(KEY, e)) for e in range(epochs)]
    assert result.losses.shape == (epochs, len(batches[0]))
    _assert_close(result, _hand_loop(optimizer, batches))
    # One compiled program: the loss is traced once per batch shape, not once per step.
    assert traced_shapes == ([4, 2] if policy == "smaller" else [4])


@pytest.mark.parametrize("policy", LAST_BATCHES)
def test_fit_last_batch_weights_by_hand(policy):
    # loss = theta * mean(x over the batch): with sgd(1) each step subtracts its batch's mean, so
    # theta after one epoch is minus the sum of the batch means.
    x = jnp.arange(N, dtype=jnp.float64)
    result = fit(
        lambda theta, batch: theta * jnp.mean(batch),
        jnp.zeros(()),
        x,
        gradtx.sgd(1.0),
        epochs=1,
        batch_size=4,
        key=KEY,
        last_batch=policy,
    )
    p = _permutation(KEY, 0).astype(np.float64)
    head = p[0:4].mean() + p[4:8].mean()
    expected = {
        "drop": head,  # p[8], p[9] unused this epoch
        "smaller": head + p[8:10].mean(),  # their own mean, not diluted to 4
        "wrap": head + np.concatenate([p[8:10], p[0:2]]).mean(),
    }[policy]
    np.testing.assert_allclose(result.params, -expected, rtol=1e-15)


def test_fit_policies_agree_when_the_batch_size_divides_the_data():
    runs = [
        fit(loss_fn, PARAMS, DATA, SGD, epochs=2, batch_size=5, key=KEY, last_batch=p)
        for p in LAST_BATCHES
    ]
    for run in runs[1:]:
        chex.assert_trees_all_equal(run, runs[0])


def test_fit_keeps_float32_params_float32():
    params = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS)
    data = jax.tree.map(lambda d: d.astype(jnp.float32), DATA)
    result = fit(loss_fn, params, data, gradtx.adam(0.1), epochs=2, batch_size=3, key=KEY)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(result.params))
    assert result.losses.dtype == jnp.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "fit: epochs must be an integer >= 1, got 0"),
        ({"epochs": 2.0}, "fit: epochs must be an integer >= 1, got 2.0"),
        ({"batch_size": 0}, "fit: batch_size must be None (the whole dataset) or an integer >= 1"),
        ({"batch_size": 11}, "fit: batch_size=11 is larger than the dataset (10 examples)"),
        ({"batch_size": 4, "key": None}, "need a PRNG key, e.g. key=jax.random.key(0)"),
        (
            {"last_batch": "pad"},
            "fit: last_batch must be one of 'drop', 'smaller', 'wrap', got 'pad'",
        ),
        ({"data": {"x": DATA["x"], "y": DATA["y"][:9]}}, "data['y'] has 9 rows, data['x'] 10"),
        ({"data": {"x": DATA["x"], "n": jnp.asarray(3.0)}}, "data['n'] is a scalar"),
        ({"data": {}}, "fit: data has no arrays"),
        ({"data": DATA["x"][:0]}, "fit: data has no examples"),
    ],
)
def test_fit_rejects_invalid_arguments(kwargs, message):
    arguments = {"data": DATA, "epochs": 1, "batch_size": None, "key": KEY, **kwargs}
    data = arguments.pop("data")
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(loss_fn, PARAMS, data, SGD, **arguments)


def _noisy_value_and_grad(params, key):
    """The full-data loss, its gradient plus Gaussian noise drawn with the step's key."""
    value, grads = jax.value_and_grad(loss_fn)(params, DATA)
    noise = jax.random.normal(key, (3,), jnp.float64)
    return value, {"w": grads["w"] + noise[:2], "b": grads["b"] + noise[2]}


def _step_keys(key, steps):
    return jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(steps))


def _full_loss(params):
    return loss_fn(params, DATA)


def test_descend_equals_a_python_loop_with_a_key_a_step_and_records_every_k():
    steps, every, optimizer = 12, 4, gradtx.adam(0.1)

    @jax.jit
    def step(params, state, t):
        value, grads = _noisy_value_and_grad(params, jax.random.fold_in(KEY, t))
        updates, state = optimizer.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, value

    params, state = PARAMS, optimizer.init(PARAMS)
    values, records = [], [_full_loss(params)]
    for t in range(steps):
        params, state, value = step(params, state, t)
        values.append(value)
        if (t + 1) % every == 0:
            records.append(_full_loss(params))

    result = descend(
        _noisy_value_and_grad,
        PARAMS,
        optimizer.init(PARAMS),
        _step_keys(KEY, steps),
        optimizer,
        record=_full_loss,
        log_every=every,
    )
    chex.assert_trees_all_close(result.params, params, rtol=1e-12, atol=1e-14)
    chex.assert_trees_all_close(result.opt_state, state, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.values, np.asarray(values), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.records, np.asarray(records), rtol=1e-12, atol=1e-14)
    assert result.records.shape == (steps // every + 1,)


def test_descend_without_record_records_nothing_and_steps_as_with_it():
    inputs, optimizer = _step_keys(KEY, 6), gradtx.sgd(0.1, momentum=0.9)
    state = optimizer.init(PARAMS)
    plain = descend(_noisy_value_and_grad, PARAMS, state, inputs, optimizer)
    logged = descend(
        _noisy_value_and_grad, PARAMS, state, inputs, optimizer, record=_full_loss, log_every=3
    )
    assert plain.records is None
    chex.assert_trees_all_equal(plain[:3], logged[:3])


def test_descend_projects_every_step_onto_the_feasible_set():
    """theta_{t+1} = Pi(theta_t + u_t): a box projection, against a hand-written loop."""
    project = lambda p: jax.tree.map(lambda x: jnp.clip(x, -0.05, 0.05), p)
    inputs, optimizer = _step_keys(KEY, 6), gradtx.sgd(0.5)
    result = descend(
        _noisy_value_and_grad, PARAMS, optimizer.init(PARAMS), inputs, optimizer, project=project
    )
    params = PARAMS
    for t in range(6):
        _, grads = _noisy_value_and_grad(params, inputs[t])
        params = project(jax.tree.map(lambda p, g: p - 0.5 * g, params, grads))
    chex.assert_trees_all_close(result.params, params, rtol=1e-6)
    assert all(float(jnp.max(jnp.abs(x))) <= 0.05 for x in jax.tree.leaves(result.params))


def test_descend_jit_vmaps_a_traced_learning_rate_with_one_trace():
    traces = []

    def value_and_grad(params, key):
        traces.append(None)
        return _noisy_value_and_grad(params, key)

    def run(learning_rate):
        optimizer = gradtx.adam(learning_rate)
        inputs = _step_keys(KEY, 5)
        return descend(value_and_grad, PARAMS, optimizer.init(PARAMS), inputs, optimizer)

    rates = jnp.array([0.01, 0.1])
    swept = jax.jit(jax.vmap(run))(rates)
    assert len(traces) == 1
    for i, rate in enumerate(rates):
        one = jax.tree.map(lambda x, i=i: x[i], swept)
        chex.assert_trees_all_close(one, run(rate), rtol=1e-12)


@pytest.mark.parametrize(
    ("inputs", "log_every", "message"),
    [
        ({}, 1, "descend: inputs has no arrays"),
        ({"key": jnp.zeros(3), "t": jnp.zeros(())}, 1, "descend: inputs['t'] is a scalar"),
        (
            {"a": jnp.zeros(3), "b": jnp.zeros((4, 2))},
            1,
            "inputs['b'] has 4 rows, inputs['a'] 3. Are the leaves indexed by step along axis 0?",
        ),
        (jnp.arange(10), 0, "descend: log_every must be an integer >= 1, got 0"),
        (jnp.arange(10), 3, "descend: the number of steps (10, the length of inputs) must be a"),
    ],
)
def test_descend_rejects_invalid_arguments(inputs, log_every, message):
    def value_and_grad(params, x):
        return jax.value_and_grad(loss_fn)(params, DATA)

    state = SGD.init(PARAMS)
    with pytest.raises(ValueError, match=re.escape(message)):
        descend(value_and_grad, PARAMS, state, inputs, SGD, record=_full_loss, log_every=log_every)
