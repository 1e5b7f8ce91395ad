"""Conformance of the ready-made optimizers with Optax 0.2.8 and with the AdaBound authors' code.

Float64 throughout; maximum elementwise relative difference <= 1e-10 over 120 replayed random
gradients and 150 closed-loop steps on Rosenbrock, for the defaults and two other settings.
"""

import inspect
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx._config import ALIASES
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


# name -> hyperparameter sets (the first is Optax's defaults; every alias needs a learning rate).
SETTINGS = {
    "sgd": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-3, momentum=0.9),
        dict(learning_rate=5e-4, momentum=0.5, nesterov=True),
    ],
    "adagrad": [
        dict(learning_rate=1e-2),
        dict(learning_rate=0.1, initial_accumulator_value=0.0, eps=1e-10),
        dict(learning_rate=0.05, initial_accumulator_value=1.0, eps=1e-3),
    ],
    "adadelta": [
        dict(learning_rate=1.0),
        dict(learning_rate=0.5, rho=0.95, eps=1e-8),
        dict(learning_rate=2.0, rho=0.5, eps=1e-4, weight_decay=1e-2),
    ],
    "rmsprop": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-3, decay=0.99, eps=1e-6, eps_in_sqrt=False, momentum=0.9),
        dict(learning_rate=5e-4, decay=0.8, centered=True, momentum=0.5, nesterov=True),
        dict(learning_rate=5e-4, decay=0.8, initial_scale=1.0, bias_correction=True),
        # Not compared: centered *and* bias_correction. At t = 1 the bias-corrected variance
        # v_1/(1-rho) - (m_1/(1-rho))^2 is exactly 0, so the step is g / sqrt(rounding noise +
        # eps): one ulp of difference in how XLA fuses the expression (jit vs eager, gradtx or
        # Optax alike) changes it by ~1e-4. Optax's own jitted and eager steps disagree there.
    ],
    "adam": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-12),
        dict(learning_rate=3e-3, b1=0.0, b2=0.5, eps=1e-3, nesterov=True),
    ],
    "adamw": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, weight_decay=0.1),
        dict(learning_rate=3e-3, eps=1e-4, weight_decay=1e-2, nesterov=True),
    ],
    "adamax": [
        dict(learning_rate=1e-3),
        dict(learning_rate=2e-3, b1=0.8, b2=0.99, eps=1e-6),
        dict(learning_rate=1e-2, b1=0.0, b2=0.5, eps=1e-3),
    ],
    "nadam": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-6),
        dict(learning_rate=3e-3, b1=0.95, b2=0.9, eps_root=1e-10),
    ],
    "amsgrad": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-6),
        dict(learning_rate=3e-3, b1=0.5, b2=0.9, eps_root=1e-10),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    return getattr(gradtx, name)(**kwargs), getattr(optax, name)(**kwargs)


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    mine, theirs = _pair(name, i)
    assert replay.replay_difference(mine, theirs) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    mine, theirs = _pair(name, i)
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


def _sum_of_squares_after(tx, steps=50):
    params = jnp.asarray([1.0, 2.0, 3.0])
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(2 * params, state, params)
        params = gradtx.apply_updates(params, updates)
    return float(jnp.sum(params**2))


def test_adadelta_default_descends_where_optax_ascends():
    assert _sum_of_squares_after(gradtx.adadelta()) < 14.0
    assert _sum_of_squares_after(optax.adadelta()) > 14.0  # Optax 0.2.8's documented defect
    got = replay.run_rosenbrock(gradtx.adadelta())
    want = replay.run_rosenbrock(optax.adadelta(learning_rate=1.0), apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_alias_switches_are_keyword_only_unless_optax_takes_them_by_position(name):
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    theirs = inspect.signature(getattr(optax, name)).parameters if hasattr(optax, name) else {}
    for argument, parameter in inspect.signature(ALIASES[name]).parameters.items():
        if isinstance(parameter.default, bool):
            by_position = argument in theirs and theirs[argument].kind is positional
            assert parameter.kind is (positional if by_position else inspect.Parameter.KEYWORD_ONLY)


# --- AdaBound and AMSBound against the authors' reference, through committed golden fixtures.

GOLDEN = pathlib.Path(__file__).parent / "golden" / "adabound.npz"


def _golden():
    data = np.load(GOLDEN)
    return data, json.loads(str(data["cases"]))


def _adabound_from_case(variant, case):
    lr = case["lr"]
    if case.get("step_lr"):
        every, factor = case["step_lr"]["step_size"], case["step_lr"]["gamma"]
        lr = lambda count: case["lr"] * factor ** (count // every)  # noqa: E731
    b1, b2 = case["betas"]
    return getattr(gradtx, variant)(
        learning_rate=lr,
        final_lr=case["final_lr"],
        gamma=case["gamma"],
        b1=b1,
        b2=b2,
        eps=case["eps"],
        weight_decay=case["weight_decay"],
    )


def _golden_cases(protocol):
    _, cases = _golden()
    return [
        (case, variant)
        for case, spec in cases.items()
        if protocol in spec["protocols"]
        for variant in ("adabound", "amsbound")
    ]


@pytest.mark.parametrize("case,variant", _golden_cases("replay"))
def test_adabound_matches_reference_on_replayed_gradients(case, variant):
    data, cases = _golden()
    tx = _adabound_from_case(variant, cases[case])
    params = {"x": jnp.asarray(data["replay/x0"])}
    grads = [{"x": jnp.asarray(g)} for g in data["replay/grads"]]
    got = np.stack([p["x"] for p in replay.run_replay(tx, params, grads)])
    want = data[f"replay/{case}/{variant}/params"]
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("case,variant", _golden_cases("rosenbrock"))
def test_adabound_matches_reference_on_rosenbrock(case, variant):
    data, cases = _golden()
    tx = _adabound_from_case(variant, cases[case])
    want = data[f"rosenbrock/{case}/{variant}/params"]
    assert np.asarray(data["rosenbrock/x0"]).tolist() == [-1.2, 1.0]
    got = np.stack([p["xy"] for p in replay.run_rosenbrock(tx, steps=len(want))])
    assert replay.max_relative_difference(got, want) <= RTOL
