"""torch.optim and Keras 3 optimizers reproduced by `gradtx.conventions`, step for step.

Golden trajectories come from the real frameworks in float64 (tests/golden/porting.npz, made by
tests/golden/make_porting_golden.py): 120 replayed gradients (scales 1e-4 to 1e2, zero and
sparse steps, outliers near 1e4) and 150 closed-loop Rosenbrock steps, for each optimizer's
defaults and at least two other settings. Tolerance: 1e-10 relative, every element, every step.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import conventions
from tests import helpers, replay

RTOL = 1e-10
GOLDEN = pathlib.Path(__file__).parent / "golden" / "porting.npz"
DATA = np.load(GOLDEN)
CASES = json.loads(str(DATA["cases"]))
# Constructor arguments that only concern the framework's implementation, not the numbers.
NOT_NUMERICAL = {"foreach", "protocols"}


def _build(framework, name, case):
    kwargs = {k: v for k, v in CASES[framework][name][case].items() if k not in NOT_NUMERICAL}
    for pair in ("betas", "etas", "step_sizes"):  # tuples in torch, lists in JSON
        if pair in kwargs:
            kwargs[pair] = tuple(kwargs[pair])
    return getattr(getattr(conventions, framework), name)(**kwargs)


def _cases(protocol):
    return [
        pytest.param(framework, name, case, id=f"{framework}-{name}-{case}")
        for framework, optimizers in CASES.items()
        for name, cases in optimizers.items()
        for case, spec in cases.items()
        if protocol in spec["protocols"]
    ]


def test_every_reference_optimizer_has_three_settings_per_protocol():
    wanted = {
        "torch": {
            "SGD",
            "Adagrad",
            "Adadelta",
            "RMSprop",
            "Adam",
            "AdamW",
            "Adamax",
            "NAdam",
            "RAdam",
            "Rprop",
            "ASGD",
        },
        "keras": {"SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "Adamax", "Nadam"},
    }
    assert {fw: set(optimizers) for fw, optimizers in CASES.items()} == wanted
    for protocol in ("replay", "rosenbrock"):
        for framework, optimizers in CASES.items():
            for name, cases in optimizers.items():
                settings = [c for c, spec in cases.items() if protocol in spec["protocols"]]
                assert len(settings) >= 3, (protocol, framework, name)


@pytest.mark.parametrize("framework,name,case", _cases("replay"))
def test_convention_matches_framework_on_replayed_gradients(framework, name, case):
    tx = _build(framework, name, case)
    params = {"x": jnp.asarray(DATA["replay/x0"])}
    grads = [{"x": jnp.asarray(g)} for g in DATA["replay/grads"]]
    got = np.stack([p["x"] for p in replay.run_replay(tx, params, grads)])
    want = DATA[f"replay/{framework}/{name}/{case}/params"]
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("framework,name,case", _cases("rosenbrock"))
def test_convention_matches_framework_on_rosenbrock(framework, name, case):
    tx = _build(framework, name, case)
    want = DATA[f"rosenbrock/{framework}/{name}/{case}/params"]
    got = np.stack([p["xy"] for p in replay.run_rosenbrock(tx, steps=len(want))])
    assert replay.max_relative_difference(got, want) <= RTOL


def test_torch_sgd_rejects_nesterov_without_momentum_like_torch():
    with pytest.raises(ValueError, match=r"nesterov needs momentum > 0 and dampening 0"):
        conventions.torch.SGD(0.1, nesterov=True)


def _asgd_cases(protocol):
    return [c for c, spec in CASES["torch"]["ASGD"].items() if protocol in spec["protocols"]]


@pytest.mark.parametrize("case", _asgd_cases("replay"))
def test_torch_asgd_averaged_params_equal_torchs_ax_on_replayed_gradients(case):
    tx = _build("torch", "ASGD", case)
    params = {"x": jnp.asarray(DATA["replay/x0"])}
    grads = [{"x": jnp.asarray(g)} for g in DATA["replay/grads"]]
    steps = helpers.steps(tx, params, grads, apply=True, jit=True)
    got = np.stack([gradtx.averaged_params(s.state)["x"] for s in steps])
    want = DATA[f"replay/torch/ASGD/{case}/ax"]
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("case", _asgd_cases("rosenbrock"))
def test_torch_asgd_averaged_params_equal_torchs_ax_on_rosenbrock(case):
    tx = _build("torch", "ASGD", case)
    want = DATA[f"rosenbrock/torch/ASGD/{case}/ax"]
    params = {"xy": jnp.asarray(DATA["rosenbrock/x0"])}
    grad = jax.grad(replay.rosenbrock)
    steps = helpers.steps(tx, params, grad, count=len(want), apply=True, jit=True)
    got = np.stack([gradtx.averaged_params(s.state)["xy"] for s in steps])
    assert replay.max_relative_difference(got, want) <= RTOL


def test_torch_asgd_fixtures_average_within_the_run_except_at_default_t0():
    """t0 = 1e6 never averages (ax = params); the other cases' t0 starts averaging in the run."""
    for protocol in ("replay", "rosenbrock"):
        for case in _asgd_cases(protocol):
            prefix = f"{protocol}/torch/ASGD/{case}"
            averaging = not np.array_equal(DATA[prefix + "/ax"], DATA[prefix + "/params"])
            assert averaging == (not case.startswith("default")), prefix


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: conventions.torch.RAdam(betas=(0.9, 1.0)),
            "torch.RAdam: betas[1] must be in [0, 1), got 1.0",
        ),
        (
            lambda: conventions.torch.RAdam(eps=-1.0),
            "torch.RAdam: eps must be >= 0 and finite, got -1.0",
        ),
        (
            lambda: conventions.torch.Rprop(etas=(1.2, 0.5)),
            "torch.Rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got (1.2, 0.5)",
        ),
        (
            lambda: conventions.torch.Rprop(step_sizes=(-1.0, 50.0)),
            "torch.Rprop: step_sizes[0] must be >= 0 and finite, got -1.0",
        ),
        (
            lambda: conventions.torch.ASGD(lambd=-1.0),
            "torch.ASGD: lambd must be >= 0 and finite, got -1.0",
        ),
        (
            lambda: conventions.torch.ASGD(t0=float("inf")),
            "torch.ASGD: t0 must be >= 0 and finite, got inf",
        ),
    ],
)
def test_torch_radam_rprop_asgd_reject_bad_arguments_naming_them(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_torch_rprop_clamps_its_initial_step_size_to_step_sizes_as_torch_does():
    tx = conventions.torch.Rprop(lr=0.5, step_sizes=(1e-3, 0.1))
    updates, _ = tx.update(jnp.asarray([2.0, -3.0]), tx.init(jnp.zeros(2)), jnp.zeros(2))
    np.testing.assert_array_equal(updates, [-0.1, 0.1])
