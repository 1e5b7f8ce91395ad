"""torch.optim and Keras 3 optimizers reproduced by `gradtx.conventions`, step for step.

Golden trajectories come from the real frameworks in float64 (tests/golden/porting.npz, made by
tests/golden/make_porting_golden.py): 120 replayed gradients (scales 1e-4 to 1e2, zero and
sparse steps, outliers near 1e4) and 150 closed-loop Rosenbrock steps, for each optimizer's
defaults and at least two other settings. Tolerance: 1e-10 relative, every element, every step.
The matrix optimizers (Adafactor, Muon) also run on a 5 x 3 matrix: 120 replayed gradients
("matrix") and 150 closed-loop least-squares steps ("lstsq").
"""

import json
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import conventions
from gradtx.conventions import _common
from tests import helpers, replay

RTOL = 1e-10
GOLDEN = pathlib.Path(__file__).parent / "golden" / "porting.npz"
DATA = np.load(GOLDEN)
CASES = json.loads(str(DATA["cases"]))
# Constructor arguments that only concern the framework's implementation, not the numbers.
NOT_NUMERICAL = {"foreach", "protocols"}
# Optimizers that assign new weights theta_t, where gradtx returns u_t = theta_t - theta_(t-1):
# `apply_updates` rounds theta_(t-1) + u_t once, up to an ulp of theta_(t-1), so their params are
# compared relative to the step's largest weight (test_assigning_convention_... below).
ASSIGNING = {("keras", "Ftrl")}


def _build(framework, name, case):
    kwargs = {k: v for k, v in CASES[framework][name][case].items() if k not in NOT_NUMERICAL}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}  # JSON lists
    return getattr(getattr(conventions, framework), name)(**kwargs)


def _cases(protocol):
    return [
        pytest.param(framework, name, case, id=f"{framework}-{name}-{case}")
        for framework, optimizers in CASES.items()
        for name, cases in optimizers.items()
        for case, spec in cases.items()
        if protocol in spec["protocols"] and (framework, name) not in ASSIGNING
    ]


REPLAYED = ("replay", "matrix")  # each protocol's gradients are given
CLOSED_LOOPS = ("rosenbrock", "lstsq")  # each computes its own


def test_every_reference_optimizer_has_three_settings_per_protocol():
    """At least three settings on replayed gradients (vector or matrix) and three on a closed
    loop (Rosenbrock or least squares)."""
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
            "Adafactor",
            "Muon",
        },
        "keras": {
            "SGD",
            "Adagrad",
            "Adadelta",
            "RMSprop",
            "Adam",
            "Adamax",
            "Nadam",
            "Lion",
            "Lamb",
            "Ftrl",
            "ScheduleFreeAdamW",
            "Adafactor",
            "Muon",
        },
    }
    assert {fw: set(optimizers) for fw, optimizers in CASES.items()} == wanted
    for protocols in (REPLAYED, CLOSED_LOOPS):
        for framework, optimizers in CASES.items():
            for name, cases in optimizers.items():
                settings = [
                    c for c, spec in cases.items() if set(protocols) & set(spec["protocols"])
                ]
                assert len(settings) >= 3, (protocols, framework, name)


@pytest.mark.parametrize("framework,name,case", _cases("replay"))
def test_convention_matches_framework_on_replayed_gradients(framework, name, case):
    assert _replayed_difference("replay", framework, name, case) <= RTOL


def _replayed_difference(protocol, framework, name, case, want="params"):
    tx = _build(framework, name, case)
    params = {"x": jnp.asarray(DATA[f"{protocol}/x0"])}
    grads = [{"x": jnp.asarray(g)} for g in DATA[f"{protocol}/grads"]]
    got = np.stack([p["x"] for p in replay.run_replay(tx, params, grads)])
    return replay.max_relative_difference(got, DATA[f"{protocol}/{framework}/{name}/{case}/{want}"])


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


def _assigning_cases():
    return [
        pytest.param(framework, name, case, protocol, id=f"{framework}-{name}-{case}-{protocol}")
        for framework, name in sorted(ASSIGNING)
        for case, spec in CASES[framework][name].items()
        for protocol in spec["protocols"]
    ]


def _step_relative_difference(got, want, x0):
    """max over steps and elements of |got_t - want_t| / max(|got_t|, |want_t|, |want_(t-1)|),
    want_(-1) = x0: the difference relative to the weights of the step that produced it."""
    before = np.concatenate([x0[None], want[:-1]])
    scale = np.maximum(np.maximum(np.abs(got), np.abs(want)), np.abs(before))
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(want))
    return float(np.max(np.abs(got - want) / np.where(scale > 0, scale, 1)))


@pytest.mark.parametrize("framework,name,case,protocol", _assigning_cases())
def test_assigning_convention_matches_framework_relative_to_the_step(
    framework, name, case, protocol
):
    """Keras' Ftrl sets theta_t = (clip(z_t) - z_t) / q_t; gradtx's `ftrl` returns theta_t -
    theta_(t-1). A weight that falls from O(1) to 1e-7 (Keras' first step drops x0, z_0 being 0)
    then differs by an ulp of the old weight: 3.6e-10 of the new one in `fixed_power`."""
    tx = _build(framework, name, case)
    want = DATA[f"{protocol}/{framework}/{name}/{case}/params"]
    x0 = DATA[f"{protocol}/x0"]
    if protocol == "replay":
        grads = [{"x": jnp.asarray(g)} for g in DATA["replay/grads"]]
        got = np.stack([p["x"] for p in replay.run_replay(tx, {"x": jnp.asarray(x0)}, grads)])
    else:
        got = np.stack([p["xy"] for p in replay.run_rosenbrock(tx, steps=len(want))])
    assert not np.allclose(got[-1], x0), "the run must move"
    assert _step_relative_difference(got, want, x0) <= RTOL


def _schedule_free_cases():
    return [
        pytest.param(name, case, protocol, id=f"keras-{name}-{case}-{protocol}")
        for name in ("ScheduleFreeAdamW",)
        for case, spec in CASES["keras"][name].items()
        for protocol in spec["protocols"]
    ]


@pytest.mark.parametrize("name,case,protocol", _schedule_free_cases())
def test_schedule_free_keeps_keras_z_and_evaluates_at_its_x(name, case, protocol):
    """Keras' variable is y (checked above); it stores z as "momentum" and recovers
    x = (y - (1 - beta_1) z) / beta_1 in each step: gradtx's state z and
    `schedule_free_eval_params` must give the same sequences."""
    tx = _build("keras", name, case)
    key = f"{protocol}/keras/{name}/{case}"
    if protocol == "replay":
        params = {"p": jnp.asarray(DATA["replay/x0"])}
        grads = [{"p": jnp.asarray(g)} for g in DATA["replay/grads"]]
        steps = list(helpers.steps(tx, params, grads, apply=True, jit=True))
    else:
        grads = jax.grad(lambda p: replay.rosenbrock({"xy": p["p"]}))
        params = {"p": jnp.asarray(DATA["rosenbrock/x0"])}
        steps = list(helpers.steps(tx, params, grads, count=150, apply=True, jit=True))
    z = np.stack([step.state.z["p"] for step in steps])
    x = np.stack([gradtx.schedule_free_eval_params(s.state, s.params)["p"] for s in steps])
    assert isinstance(steps[0].state, gradtx.ScheduleFreeState)
    assert replay.max_relative_difference(z, DATA[f"{key}/z"]) <= RTOL
    assert replay.max_relative_difference(x, DATA[f"{key}/x"]) <= RTOL


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: conventions.keras.Lion(beta_1=0.0),
            "keras.Lion: beta_1 must be in (0, 1) (0 makes Lion SignSGD), got 0.0",
        ),
        (
            lambda: conventions.keras.Lion(beta_2=1.5),
            "keras.Lion: beta_2 must be in [0, 1), got 1.5",
        ),
        (
            lambda: conventions.keras.Lamb(epsilon=-1.0),
            "keras.Lamb: epsilon must be >= 0 and finite, got -1.0",
        ),
        (
            lambda: conventions.keras.Ftrl(learning_rate_power=0.5),
            "keras.Ftrl: learning_rate_power must be <= 0, got 0.5",
        ),
        (
            lambda: conventions.keras.Ftrl(l1_regularization_strength=-0.1),
            "keras.Ftrl: l1_regularization_strength must be >= 0 and finite, got -0.1",
        ),
        (
            lambda: conventions.keras.ScheduleFreeAdamW(warmup_steps=-1),
            "keras.ScheduleFreeAdamW: warmup_steps must be an int >= 0, got -1",
        ),
        (
            lambda: conventions.keras.ScheduleFreeAdamW(beta_1=0.0),
            "keras.ScheduleFreeAdamW: beta_1 must be in (0, 1], got 0.0",
        ),
    ],
)
def test_keras_adapters_reject_bad_arguments_in_keras_words(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        make()


@pytest.mark.parametrize("framework,name,case", _cases("matrix"))
def test_convention_matches_framework_on_replayed_matrix_gradients(framework, name, case):
    assert _replayed_difference("matrix", framework, name, case) <= RTOL


def _lstsq(params):
    residual = jnp.asarray(DATA["lstsq/a"]) @ params["x"] - jnp.asarray(DATA["lstsq/b"])
    return 0.5 * jnp.sum(residual * residual)


@pytest.mark.parametrize("framework,name,case", _cases("lstsq"))
def test_convention_matches_framework_on_matrix_least_squares(framework, name, case):
    tx = _build(framework, name, case)
    want = DATA[f"lstsq/{framework}/{name}/{case}/params"]
    params = {"x": jnp.asarray(DATA["lstsq/x0"])}
    steps = helpers.steps(tx, params, jax.grad(_lstsq), count=len(want), apply=True, jit=True)
    got = np.stack([s.params["x"] for s in steps])
    assert not np.allclose(got[-1], DATA["lstsq/x0"]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("case", CASES["torch"]["Muon"])
def test_torch_muon_differs_from_torchs_bfloat16_run_by_its_rounding_only(case):
    """torch's own Muon runs Newton-Schulz in bfloat16 (the fixtures compare against its run
    with that cast made a float64 copy). Against the real run, each step differs by bfloat16's
    rounding inside the iteration: at most 5% of the largest step (4.0% measured), while the
    params stay within 1e-3 relative (7e-4 measured)."""
    tx = _build("torch", "Muon", case)
    params = {"x": jnp.asarray(DATA["matrix/x0"])}
    grads = [{"x": jnp.asarray(g)} for g in DATA["matrix/grads"]]
    got = np.stack([params["x"]] + [p["x"] for p in replay.run_replay(tx, params, grads)])
    real = DATA[f"matrix/torch/Muon/{case}/params_bf16"]
    real = np.concatenate([DATA["matrix/x0"][None], real])
    steps, real_steps = np.diff(got, axis=0), np.diff(real, axis=0)
    assert np.max(np.abs(steps - real_steps)) <= 0.05 * np.max(np.abs(real_steps))
    assert 0 < replay.max_relative_difference(got, real) <= 1e-3


def _float32_cases():
    return [
        pytest.param(protocol, name, case, id=f"{protocol}-{name}-{case}")
        for protocol in REPLAYED
        for name in ("Adafactor", "Muon")
        for case in CASES["keras"][name]
    ]


@pytest.mark.parametrize("protocol,name,case", _float32_cases())
def test_keras_matrix_optimizers_differ_from_real_keras_by_float32_reductions_only(
    protocol, name, case
):
    """Keras 3.15 (JAX backend) computes ops.mean and ops.norm of float64 tensors in float32
    (its dtype promotion maps float64 to float32), so the real Adafactor's means and RMS and
    Muon's Frobenius norm are rounded to float32; the fixtures compare against Keras with that
    mapping turned off. Against the real runs the difference stays below 1e-4 relative (9.4e-6
    measured; 0 for Muon's Adam branch, which uses neither)."""
    assert _replayed_difference(protocol, "keras", name, case, want="params_f32") <= 1e-4


def test_torch_muon_refuses_a_vector_like_torch():
    tx = conventions.torch.Muon()
    with pytest.raises(ValueError, match=r"is not a matrix"):
        tx.init({"b": jnp.ones(3)}) and tx.update({"b": jnp.ones(3)}, tx.init({"b": jnp.ones(3)}))


@pytest.mark.parametrize(
    "build,message",
    [
        (
            lambda: conventions.torch.Adafactor(beta2_decay=0.5),
            r"torch.Adafactor: beta2_decay must be <= 0, got 0.5",
        ),
        (
            lambda: conventions.torch.Adafactor(d=0.5),
            r"torch.Adafactor: d must be >= 1 \(the clipping threshold\), got 0.5",
        ),
        (
            lambda: conventions.torch.Adafactor(eps=1e-3),
            r"torch.Adafactor: eps must be a pair \(eps1 or None, eps2\), got 0.001",
        ),
        (
            lambda: conventions.torch.Adafactor(lr=-1.0),
            r"torch.Adafactor: lr must be >= 0 and finite, got -1.0",
        ),
        (
            lambda: conventions.torch.Muon(adjust_lr_fn="rms"),
            r"torch.Muon: adjust_lr_fn must be one of \(None, 'original', "
            r"'match_rms_adamw'\), got 'rms'",
        ),
        (
            lambda: conventions.torch.Muon(momentum=1.0),
            r"torch.Muon: momentum must be in \[0, 1\), got 1.0",
        ),
        (
            lambda: conventions.torch.Muon(ns_steps=100),
            r"torch.Muon: ns_steps must be < 100 \(torch's limit\), got 100",
        ),
        (
            lambda: conventions.keras.Adafactor(clip_threshold=0.0),
            r"keras.Adafactor: clip_threshold must be > 0 and finite, got 0.0",
        ),
        (
            lambda: conventions.keras.Adafactor(relative_step=1),
            r"keras.Adafactor: relative_step must be a bool, got int 1",
        ),
        (
            lambda: conventions.keras.Muon(momentum=1.5),
            r"keras.Muon: momentum must be in \[0, 1\), got 1.5",
        ),
        (
            lambda: conventions.keras.Muon(exclude_layers=[1]),
            r"keras.Muon: exclude_layers must be a list of strings, got list \[1\]",
        ),
    ],
)
def test_matrix_adapters_name_the_bad_argument(build, message):
    with pytest.raises((ValueError, TypeError), match=f"^{message}"):
        build()


def test_keras_muon_sends_vectors_embeddings_and_excluded_layers_to_adam():
    params = {
        "dense": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)},
        "token_embedding": {"embeddings": jnp.ones((6, 4))},
        "head": {"kernel": jnp.ones((4, 2))},
    }
    labels = conventions.keras.keras_muon_labels(["head"], True)(params)
    assert labels == {
        "dense": {"kernel": "muon", "bias": "adam"},
        "token_embedding": {"embeddings": "adam"},
        "head": {"kernel": "adam"},
    }
    kept = conventions.keras.keras_muon_labels([], False)(params)
    assert kept["token_embedding"]["embeddings"] == "muon" and kept["head"]["kernel"] == "muon"


def test_relative_step_size_is_min_of_rate_and_inverse_root_step():
    schedule = _common.relative_step_size(0.3)
    got = [float(schedule(jnp.asarray(k))) for k in range(6)]
    assert got == [min(0.3, 1 / np.sqrt(t)) for t in range(1, 7)]
