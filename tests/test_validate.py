"""Bad input: invalid hyperparameters fail when the optimizer is built, with the function and
argument the user called (not the inner link that checked it), its value and the allowed range in
the message; mismatched trees name the first differing path."""

# ruff: noqa: E501  (the table keeps each expected message whole, on one line)

import re

import jax
import jax.numpy as jnp
import pytest

import gradtx
from gradtx import _validate

BAD_HYPERPARAMETERS = [
    (
        lambda: gradtx.sgd(-0.1),
        "sgd: learning_rate must be >= 0 and finite, got -0.1",
    ),
    (lambda: gradtx.sgd(0.1, momentum=1.0), "sgd: momentum must be in [0, 1), got 1.0"),
    (lambda: gradtx.sgd(0.1, momentum=-0.5), "sgd: momentum must be in [0, 1), got -0.5"),
    (lambda: gradtx.adam(1e-3, b1=1.2), "adam: b1 must be in [0, 1), got 1.2"),
    (lambda: gradtx.adam(1e-3, b2=1.0), "adam: b2 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.adam(1e-3, eps=-1e-8),
        "adam: eps must be >= 0 and finite, got -1e-08",
    ),
    (
        lambda: gradtx.adam(float("nan")),
        "adam: learning_rate must be >= 0 and finite, got nan",
    ),
    (
        lambda: gradtx.adamw(1e-3, weight_decay=-1.0),
        "adamw: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.adamax(1e-3, b1=-0.1), "adamax: b1 must be in [0, 1), got -0.1"),
    (lambda: gradtx.amsgrad(1e-3, b2=2.0), "amsgrad: b2 must be in [0, 1), got 2.0"),
    (
        lambda: gradtx.nadam(1e-3, eps_root=-1.0),
        "nadam: eps_root must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.adagrad(0.1, eps=-1.0), "adagrad: eps must be >= 0 and finite, got -1.0"),
    (
        lambda: gradtx.adagrad(0.1, initial_accumulator_value=-1.0),
        "adagrad: initial_accumulator_value must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.adadelta(rho=1.5), "adadelta: rho must be in [0, 1), got 1.5"),
    (
        lambda: gradtx.adadelta(eps=-1e-6),
        "adadelta: eps must be >= 0 and finite, got -1e-06",
    ),
    (lambda: gradtx.rmsprop(1e-3, decay=1.0), "rmsprop: decay must be in [0, 1), got 1.0"),
    (lambda: gradtx.rmsprop(1e-3, momentum=1.0), "rmsprop: momentum must be in [0, 1), got 1.0"),
    (lambda: gradtx.adabound(final_lr=0.0), "adabound: final_lr must be > 0 and finite, got 0.0"),
    (lambda: gradtx.adabound(final_lr=-0.1), "adabound: final_lr must be > 0 and finite, got -0.1"),
    (lambda: gradtx.amsbound(gamma=0.0), "amsbound: gamma must be > 0 and finite, got 0.0"),
    (lambda: gradtx.amsbound(b1=1.0), "amsbound: b1 must be in [0, 1), got 1.0"),
    (lambda: gradtx.adabound(b2=-0.5), "adabound: b2 must be in [0, 1), got -0.5"),
    (
        lambda: gradtx.adabound(learning_rate=-1e-3),
        "adabound: learning_rate must be >= 0 and finite, got -0.001",
    ),
]


@pytest.mark.parametrize("build,message", BAD_HYPERPARAMETERS)
def test_bad_hyperparameter_raises_naming_argument_value_and_range(build, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        build()


def test_wrong_learning_rate_type_raises_type_error():
    with pytest.raises(TypeError, match=r"learning_rate must be a number, an array or a schedule"):
        gradtx.adam([1e-3])


def test_array_and_traced_hyperparameters_are_accepted_unchecked():
    params = jnp.ones(3)

    def final(b1, lr):
        tx = gradtx.adam(lr, b1=b1)
        updates, _ = tx.update(params, tx.init(params))
        return updates

    jax.jit(final)(0.9, 1e-3)
    jax.vmap(final)(jnp.asarray([0.5, 0.9]), jnp.asarray([1e-3, 1e-2]))
    gradtx.adam(jnp.asarray(1e-3), b1=jnp.asarray(0.9))


def test_updates_with_a_different_tree_name_the_first_differing_path():
    tx = gradtx.adam(1e-3)
    state = tx.init({"w": jnp.ones(2), "b": jnp.ones(1)})
    with pytest.raises(
        ValueError, match=r"scale_by_adam: updates and mu have different tree structures"
    ) as info:
        tx.update({"w": jnp.ones(2), "bias": jnp.ones(1)}, state)
    assert "['b']" in str(info.value) and "['bias']" in str(info.value)
    assert "Was the state made by this optimizer's `init`" in str(info.value)


def test_updates_with_a_missing_leaf_name_it():
    tx = gradtx.sgd(0.1, momentum=0.9)
    state = tx.init({"w": jnp.ones(2), "b": jnp.ones(1)})
    with pytest.raises(
        ValueError,
        match=r"trace: updates and trace have different tree structures \(trace has a leaf at \['w'\] that updates lacks\)",
    ):
        tx.update({"b": jnp.ones(1)}, state)


def test_params_with_a_different_tree_name_the_first_differing_path():
    tx = gradtx.adamw(1e-3)
    params = {"w": jnp.ones(2)}
    with pytest.raises(
        ValueError,
        match=r"add_decayed_weights: updates and params have different tree structures.*\['v'\]",
    ):
        tx.update(params, tx.init(params), {"v": jnp.ones(2)})


def test_apply_updates_with_a_different_tree_names_the_path():
    with pytest.raises(
        ValueError,
        match=r"apply_updates: params and updates have different tree structures.*\['a'\]",
    ):
        gradtx.apply_updates({"a": jnp.ones(1)}, {"b": jnp.ones(1)})


def test_chain_with_a_foreign_state_says_so():
    tx = gradtx.adam(1e-3)
    with pytest.raises(
        ValueError, match=r"chain: the state must be a tuple of 2 states, one per link"
    ):
        tx.update(jnp.ones(2), (None,))


def _my_sgd(learning_rate, momentum=0.0, *, nesterov=False):
    """A small factory of our own, wired as the aliases are: inner links checked in `calling`."""
    with _validate.calling(
        "my_sgd", {"learning_rate": learning_rate, "momentum": momentum, "nesterov": nesterov}
    ):
        return gradtx.chain(
            gradtx.trace(momentum, nesterov=nesterov), gradtx.scale_by_learning_rate(learning_rate)
        )


@pytest.mark.parametrize(
    "build,error,message",
    [
        (
            lambda: _my_sgd(0.1, momentum=1.0),
            ValueError,
            "my_sgd: momentum must be in [0, 1), got 1.0",
        ),
        (
            lambda: _my_sgd(-0.1),
            ValueError,
            "my_sgd: learning_rate must be >= 0 and finite, got -0.1",
        ),
        (
            lambda: _my_sgd(0.1, momentum=True),
            TypeError,
            "my_sgd: momentum must be a number or an array, got bool True",
        ),
        (
            lambda: _my_sgd("0.1"),
            TypeError,
            "my_sgd: learning_rate must be a number, an array or a schedule (a callable of the step count), got str '0.1'",
        ),
    ],
)
def test_calling_reports_the_outer_function_and_the_argument_the_user_passed(build, error, message):
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        build()


def test_calling_prefers_the_argument_of_the_same_name():
    value = -1.0
    with pytest.raises(ValueError, match=r"^outer: eps must be >= 0 and finite, got -1.0$"):
        with _validate.calling("outer", {"weight_decay": value, "eps": value}):
            _validate.check_non_negative("inner", eps=value)


def test_calling_names_outer_and_inner_for_a_value_the_user_did_not_pass():
    with pytest.raises(ValueError, match=r"^outer: inner: decay must be in \[0, 1\), got 2.0$"):
        with _validate.calling("outer", {"decay": 0.5}):
            _validate.check_interval("inner", decay=2.0)


def test_calling_keeps_the_outermost_call_and_ends_with_its_block():
    momentum = 1.0
    with pytest.raises(ValueError, match=r"^outer: momentum must be in \[0, 1\), got 1.0$"):
        with _validate.calling("outer", {"momentum": momentum}):
            with _validate.calling("inner_alias", {"decay": momentum}):
                _validate.check_interval("trace", decay=momentum)
    with pytest.raises(ValueError, match=r"^trace: decay must be in \[0, 1\), got 1.0$"):
        _validate.check_interval("trace", decay=momentum)


def test_calling_is_reset_when_its_block_raises():
    with pytest.raises(RuntimeError):
        with _validate.calling("outer", {}):
            raise RuntimeError
    with pytest.raises(ValueError, match=r"^clip: max_delta must be >= 0 and finite, got -1.0$"):
        gradtx.clip(-1.0)
