"""Tests of gradtx/_schedules: Optax's values in float64, NumPy transcriptions, bad inputs."""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradtx import _schedules as gs

T = np.arange(301)  # the counts every schedule is checked at


@pytest.fixture(autouse=True)
def _float64():
    """Every test runs with float64 as the default float; a test may switch it off inside."""
    with jax.enable_x64(True):
        yield


def _max_rel_diff(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.maximum(np.abs(got), np.abs(want))
    diff = np.abs(got - want)
    return float(np.max(np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)))


def _assert_values(schedule, want) -> None:
    """Eager, jitted and vmapped over int32 counts 0..300, and eager on Python ints."""
    counts = jnp.asarray(T, jnp.int32)
    runs = {"eager": schedule, "jit": jax.jit(schedule), "vmap": jax.vmap(schedule)}
    for mode, run in runs.items():
        got = run(counts)
        assert got.dtype == jnp.float64 and got.shape == T.shape, mode
        assert _max_rel_diff(got, want) <= 1e-12, mode
    for t in (0, 7, 300):
        got = schedule(t)
        assert isinstance(got, jax.Array) and got.shape == () and got.dtype == jnp.float64
        assert _max_rel_diff(got, want[t]) <= 1e-12


def _optax(schedule) -> np.ndarray:
    """An Optax schedule's values at T, in float64.

    Optax gets NumPy's int64 counts: on an int32 array it computes some schedules in float32, and
    on a JAX array XLA turns its staircase floor(t / T) into floor(t * (1 / T)), one step late at
    t = 49 for T = 49; NumPy divides exactly. It mixes Python floats with integer arrays, so it
    runs under standard promotion.
    """
    with jax.numpy_dtype_promotion("standard"):
        return np.broadcast_to(np.asarray(schedule(T)), T.shape)


def _assert_matches_optax(name: str, kwargs: dict) -> None:
    _assert_values(getattr(gs, name)(**kwargs), _optax(getattr(optax, name)(**kwargs)))


@pytest.mark.parametrize("value", [0.1, -2.5, 3])
def test_constant_schedule_matches_optax(value):
    _assert_matches_optax("constant_schedule", dict(value=value))


EXP = dict(init_value=1.0, transition_steps=30, decay_rate=0.7)


@pytest.mark.parametrize(
    "kwargs",
    [
        EXP,
        dict(EXP, transition_steps=25, decay_rate=0.5, transition_begin=40, staircase=True),
        dict(EXP, transition_begin=10, end_value=0.2),
        dict(EXP, init_value=0.1, transition_steps=50, decay_rate=1.5, end_value=0.3),
        dict(EXP, init_value=2.0, transition_steps=17, decay_rate=0.9, staircase=True, end_value=1),
        dict(EXP, transition_steps=49, decay_rate=0.5, staircase=True),
    ],
)
def test_exponential_decay_matches_optax(kwargs):
    _assert_matches_optax("exponential_decay", kwargs)


@pytest.mark.parametrize(
    "boundaries_and_scales",
    [None, {}, {50: 0.1, 100: 0.5, 250: 2.0}, {200: 0.1, 0: 0.5, 100: 0.0}, {300: 0.1, 150: 10}],
)
def test_piecewise_constant_schedule_matches_optax(boundaries_and_scales):
    kwargs = dict(init_value=0.1, boundaries_and_scales=boundaries_and_scales)
    _assert_matches_optax("piecewise_constant_schedule", kwargs)


def test_piecewise_constant_schedule_stores_sorted_pairs():
    schedule = gs.piecewise_constant_schedule(0.1, {200: 0.1, 100: 0.5})
    assert schedule.boundaries_and_scales == ((100, 0.5), (200, 0.1))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=1.0, end_value=0.01, power=2, transition_steps=100),
        dict(init_value=1.0, end_value=0.0, power=0.9, transition_steps=250, transition_begin=30),
        dict(init_value=0.0, end_value=1.0, power=3, transition_steps=301),
        dict(init_value=-1.0, end_value=2.0, power=0.5, transition_steps=60, transition_begin=200),
    ],
)
def test_polynomial_schedule_matches_optax(kwargs):
    _assert_matches_optax("polynomial_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, end_value=0.3, transition_steps=100),
        dict(init_value=1.0, end_value=0.1, transition_steps=250, transition_begin=40),
        dict(init_value=0.1, end_value=0.1, transition_steps=10, transition_begin=500),
    ],
)
def test_linear_schedule_matches_optax(kwargs):
    _assert_matches_optax("linear_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.3, decay_steps=200),
        dict(init_value=1.0, decay_steps=150, alpha=0.1),
        dict(init_value=1.0, decay_steps=300, exponent=2.0),
        dict(init_value=0.5, decay_steps=1000, alpha=0.2, exponent=0.5),
    ],
)
def test_cosine_decay_schedule_matches_optax(kwargs):
    _assert_matches_optax("cosine_decay_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=20, decay_steps=250),
        dict(init_value=0.1, peak_value=1.0, warmup_steps=0, decay_steps=300, end_value=0.05),
        dict(init_value=1e-4, peak_value=3e-3, warmup_steps=50, decay_steps=200, end_value=1e-5,
             exponent=2.0),
        dict(init_value=0.0, peak_value=0.0, warmup_steps=10, decay_steps=100, end_value=0.5),
    ],
)  # fmt: skip
def test_warmup_cosine_decay_schedule_matches_optax(kwargs):
    _assert_matches_optax("warmup_cosine_decay_schedule", kwargs)


@pytest.mark.parametrize("boundaries", [[50, 150], [0, 0], [120, 400]])
def test_join_schedules_matches_optax(boundaries):
    def parts(lib):
        return [
            lib.linear_schedule(0.0, 1.0, transition_steps=50),
            lib.cosine_decay_schedule(1.0, decay_steps=100, alpha=0.1),
            lib.exponential_decay(0.1, transition_steps=10, decay_rate=0.9),
        ]

    want = _optax(optax.join_schedules(parts(optax), boundaries))
    _assert_values(gs.join_schedules(parts(gs), boundaries), want)


def test_join_schedules_accepts_optax_schedules():
    parts = [optax.constant_schedule(2), optax.linear_schedule(1.0, 0.0, transition_steps=100)]
    counts = jnp.asarray(T, jnp.int32)
    with jax.numpy_dtype_promotion("standard"):  # Optax's schedules inside need it
        got = gs.join_schedules(parts, [30])(counts)
        want = optax.join_schedules(parts, [30])(counts)
    assert jnp.issubdtype(got.dtype, jnp.floating)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=1.0, decay_steps=10, decay_rate=0.5),
        dict(init_value=0.1, decay_steps=7, decay_rate=2.0, staircase=True),
        dict(init_value=0.1, decay_steps=49, decay_rate=2.0, staircase=True),
        dict(init_value=-3.0, decay_steps=100, decay_rate=0.01),
        dict(init_value=0.1, decay_steps=1, decay_rate=0.5, power=0.75),
        dict(init_value=0.1, decay_steps=7, decay_rate=2.0, staircase=True, power=2.5),
    ],
)
def test_inverse_time_decay_matches_numpy(kwargs):
    i, steps, r = kwargs["init_value"], kwargs["decay_steps"], kwargs["decay_rate"]
    p = np.floor(T / steps) if kwargs.get("staircase") else T / steps
    _assert_values(gs.inverse_time_decay(**kwargs), i / (1 + r * p) ** kwargs.get("power", 1.0))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=100),
        dict(init_value=1e-3, peak_value=0.1, warmup_steps=301),
        dict(init_value=1.0, peak_value=0.5, warmup_steps=7),
    ],
)
def test_cosine_warmup_schedule_matches_numpy(kwargs):
    i, p, w = kwargs["init_value"], kwargs["peak_value"], kwargs["warmup_steps"]
    want = i + (p - i) * np.sin(np.pi * np.clip(T, 0, w) / (2 * w)) ** 2
    _assert_values(gs.cosine_warmup_schedule(**kwargs), want)


def test_cosine_warmup_schedule_is_a_half_cosine_from_init_to_peak():
    schedule = gs.cosine_warmup_schedule(0.2, 1.0, warmup_steps=40)
    half_cosine = 1.0 + (0.2 - 1.0) * (1 + np.cos(np.pi * np.clip(T, 0, 40) / 40)) / 2
    np.testing.assert_allclose(schedule(T), half_cosine, rtol=1e-14)
    assert schedule(0) == 0.2 and np.all(np.asarray(schedule(T[40:])) == 1.0)


def test_cosine_warmup_schedule_keeps_small_values_precise_in_float32():
    with jax.enable_x64(False):
        got = gs.cosine_warmup_schedule(0.0, 1.0, warmup_steps=1000)(jnp.int32(1))
        assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, np.sin(np.pi / 2000) ** 2, rtol=1e-5)


EXAMPLES = {
    "constant_schedule": gs.constant_schedule(0.1),
    "exponential_decay": gs.exponential_decay(1.0, 30, 0.7, 10, True, 0.2),
    "piecewise_constant_schedule": gs.piecewise_constant_schedule(0.1, {50: 0.1, 100: 0.5}),
    "inverse_time_decay": gs.inverse_time_decay(1.0, 10, 0.5),
    "polynomial_schedule": gs.polynomial_schedule(1.0, 0.01, 2, 100, 20),
    "linear_schedule": gs.linear_schedule(0.0, 0.3, 100),
    "cosine_decay_schedule": gs.cosine_decay_schedule(1.0, 150, 0.1, 2.0),
    "cosine_warmup_schedule": gs.cosine_warmup_schedule(0.0, 1.0, 50),
    "warmup_cosine_decay_schedule": gs.warmup_cosine_decay_schedule(0.0, 1.0, 20, 250, 0.01),
    "join_schedules": gs.join_schedules(
        [gs.linear_schedule(0.0, 1.0, 50), gs.cosine_decay_schedule(1.0, 200)], [50]
    ),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_schedules_take_a_traced_count_in_scan(name):
    schedule = EXAMPLES[name]
    _, got = jax.lax.scan(lambda count, _: (count + 1, schedule(count)), jnp.int32(0), length=301)
    assert _max_rel_diff(got, schedule(jnp.asarray(T, jnp.int32))) <= 1e-12


@pytest.mark.parametrize("name", EXAMPLES)
def test_schedules_return_the_default_float_under_strict_promotion(name):
    counts = jnp.asarray(T, jnp.int32)
    with jax.numpy_dtype_promotion("strict"):
        assert EXAMPLES[name](counts).dtype == jnp.float64
        with jax.enable_x64(False):
            assert EXAMPLES[name](counts).dtype == jnp.float32


def _is_plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    plain_schedule = type(value) in gs.SCHEDULES.values()
    return value is None or isinstance(value, numbers.Number) or plain_schedule


@pytest.mark.parametrize("name", EXAMPLES)
def test_schedules_are_frozen_data_rebuilt_from_their_fields(name):
    schedule = EXAMPLES[name]
    cls = gs.SCHEDULES[name]
    assert type(schedule) is cls and dataclasses.is_dataclass(cls)
    fields = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)}
    assert all(_is_plain(v) for v in fields.values()), fields
    assert cls(**fields) == schedule and hash(cls(**fields)) == hash(schedule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(schedule, next(iter(fields)), 0)

    traces = []

    @jax.jit(static_argnums=0)
    def run(s, count):
        traces.append(s)
        return s(count)

    run(schedule, jnp.int32(3))
    run(cls(**fields), jnp.int32(4))  # an equal schedule is a cache hit: no second trace
    assert len(traces) == 1


def test_schedules_registry_names_every_factory():
    from tests.test_schedules_cycles import EXAMPLES as CYCLES  # tested in their own module

    assert sorted(gs.SCHEDULES) == sorted({**EXAMPLES, **CYCLES})
    assert all(callable(getattr(gs, name)) for name in gs.SCHEDULES)


GRADTX_ONLY = {"inverse_time_decay", "cosine_warmup_schedule"}  # not in Optax


@pytest.mark.parametrize("name", EXAMPLES)
def test_schedules_are_their_factories_with_fields_as_arguments(name):
    cls = gs.SCHEDULES[name]
    assert getattr(gs, name) is cls and isinstance(EXAMPLES[name], tuple(gs.SCHEDULES.values()))
    parameters = inspect.signature(cls).parameters
    assert list(parameters) == [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("name", sorted(set(EXAMPLES) - GRADTX_ONLY))
def test_schedules_have_optax_argument_names_order_and_defaults(name):
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(getattr(gs, name)) == arguments(getattr(optax, name))


def test_schedules_check_their_arguments_when_rebuilt():
    with pytest.raises(ValueError, match=re.escape("exponential_decay: transition_steps must be")):
        dataclasses.replace(EXAMPLES["exponential_decay"], transition_steps=0)


def test_factories_accept_traced_values():
    peaks = jnp.array([0.5, 1.0, 2.0])
    got = jax.vmap(lambda p: gs.warmup_cosine_decay_schedule(0.0, p, 10, 100, 0.01)(60))(peaks)
    want = [optax.warmup_cosine_decay_schedule(0.0, float(p), 10, 100, 0.01)(60) for p in peaks]
    assert _max_rel_diff(got, want) <= 1e-12


def _raises(factory, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        factory(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(value=float("nan")), "constant_schedule: value must be finite, got nan"),
        (dict(value=float("-inf")), "constant_schedule: value must be finite, got -inf"),
    ],
)
def test_constant_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.constant_schedule, kwargs, message)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(EXP, transition_steps=0), "transition_steps must be > 0 and finite, got 0"),
        (dict(EXP, transition_steps=-5), "transition_steps must be > 0 and finite, got -5"),
        (dict(EXP, decay_rate=0.0), "decay_rate must be > 0 and finite, got 0.0"),
        (dict(EXP, decay_rate=-0.5), "decay_rate must be > 0 and finite, got -0.5"),
        (dict(EXP, transition_begin=-1), "transition_begin must be >= 0 and finite, got -1"),
        (dict(EXP, init_value=float("nan")), "init_value must be finite, got nan"),
        (dict(EXP, end_value=float("inf")), "end_value must be finite, got inf"),
    ],
)
def test_exponential_decay_rejects_bad_arguments(kwargs, message):
    _raises(gs.exponential_decay, kwargs, "exponential_decay: " + message)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(boundaries_and_scales={100: -0.1}), "boundaries_and_scales[100] must be >= 0 and "
         "finite, got -0.1"),
        (dict(boundaries_and_scales={5: float("nan")}), "boundaries_and_scales[5] must be >= 0"),
        (dict(boundaries_and_scales={-10: 0.1}), "the keys of boundaries_and_scales must be "
         "non-negative integers in non-decreasing order, got [-10]"),
        (dict(boundaries_and_scales={10.5: 0.1}), "the keys of boundaries_and_scales must be "
         "non-negative integers in non-decreasing order, got [10.5]"),
        (dict(init_value=float("inf")), "init_value must be finite, got inf"),
    ],
)  # fmt: skip
def test_piecewise_constant_schedule_rejects_bad_arguments(kwargs, message):
    kwargs = dict(dict(init_value=0.1), **kwargs)
    _raises(gs.piecewise_constant_schedule, kwargs, "piecewise_constant_schedule: " + message)


INV = dict(init_value=1.0, decay_steps=10, decay_rate=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(INV, decay_steps=0), "decay_steps must be > 0 and finite, got 0"),
        (dict(INV, decay_rate=0), "decay_rate must be > 0 and finite, got 0"),
        (dict(INV, decay_rate=-1.0), "decay_rate must be > 0 and finite, got -1.0"),
        (dict(INV, init_value=float("nan")), "init_value must be finite, got nan"),
        (dict(INV, power=0.0), "power must be > 0 and finite, got 0.0"),
    ],
)
def test_inverse_time_decay_rejects_bad_arguments(kwargs, message):
    _raises(gs.inverse_time_decay, kwargs, "inverse_time_decay: " + message)


POLY = dict(init_value=1.0, end_value=0.0, power=2, transition_steps=10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(POLY, transition_steps=0), "transition_steps must be > 0 and finite, got 0"),
        (dict(POLY, power=0), "power must be > 0 and finite, got 0"),
        (dict(POLY, power=-1.0), "power must be > 0 and finite, got -1.0"),
        (dict(POLY, transition_begin=-3), "transition_begin must be >= 0 and finite, got -3"),
        (dict(POLY, end_value=float("nan")), "end_value must be finite, got nan"),
    ],
)
def test_polynomial_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.polynomial_schedule, kwargs, "polynomial_schedule: " + message)


LIN = dict(init_value=0.0, end_value=1.0, transition_steps=10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(LIN, transition_steps=0), "transition_steps must be > 0 and finite, got 0"),
        (dict(LIN, transition_steps=-2), "transition_steps must be > 0 and finite, got -2"),
        (dict(LIN, transition_begin=-1), "transition_begin must be >= 0 and finite, got -1"),
        (dict(LIN, init_value=float("inf")), "init_value must be finite, got inf"),
    ],
)
def test_linear_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.linear_schedule, kwargs, "linear_schedule: " + message)


COS = dict(init_value=1.0, decay_steps=100)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(COS, decay_steps=0), "decay_steps must be > 0 and finite, got 0"),
        (dict(COS, exponent=0.0), "exponent must be > 0 and finite, got 0.0"),
        (dict(COS, alpha=float("nan")), "alpha must be finite, got nan"),
        (dict(COS, init_value=float("nan")), "init_value must be finite, got nan"),
    ],
)
def test_cosine_decay_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.cosine_decay_schedule, kwargs, "cosine_decay_schedule: " + message)


WARM = dict(init_value=0.0, peak_value=1.0, warmup_steps=10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(WARM, warmup_steps=0), "warmup_steps must be > 0 and finite, got 0"),
        (dict(WARM, peak_value=float("inf")), "peak_value must be finite, got inf"),
    ],
)
def test_cosine_warmup_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.cosine_warmup_schedule, kwargs, "cosine_warmup_schedule: " + message)


WCD = dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=100)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(WCD, decay_steps=10), "decay_steps must be > warmup_steps = 10 (it counts the "
         "warm-up too), got 10"),
        (dict(WCD, warmup_steps=0, decay_steps=0), "decay_steps must be > 0 and finite, got 0"),
        (dict(WCD, warmup_steps=-1), "warmup_steps must be >= 0 and finite, got -1"),
        (dict(WCD, exponent=0), "exponent must be > 0 and finite, got 0"),
        (dict(WCD, end_value=float("nan")), "end_value must be finite, got nan"),
    ],
)  # fmt: skip
def test_warmup_cosine_decay_schedule_rejects_bad_arguments(kwargs, message):
    _raises(gs.warmup_cosine_decay_schedule, kwargs, "warmup_cosine_decay_schedule: " + message)


ONE, TWO = gs.constant_schedule(1.0), gs.constant_schedule(2.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(schedules=[], boundaries=[]), "schedules must hold at least one schedule, got ()"),
        (dict(schedules=[ONE, 0.5], boundaries=[3]), "schedules[1] must be callable (a function "
         "of the step count), got 0.5"),
        (dict(schedules=[ONE, TWO], boundaries=[]), "boundaries must have len(schedules) - 1 = 1 "
         "entries, got 0: ()"),
        (dict(schedules=[ONE, TWO, ONE], boundaries=[20, 10]), "boundaries must be non-negative "
         "integers in non-decreasing order, got (20, 10)"),
        (dict(schedules=[ONE, TWO], boundaries=[-1]), "boundaries must be non-negative "
         "integers in non-decreasing order, got (-1,)"),
        (dict(schedules=[ONE, TWO], boundaries=[2.5]), "boundaries must be non-negative "
         "integers in non-decreasing order, got (2.5,)"),
        (dict(schedules=[ONE, TWO], boundaries=[True]), "boundaries must be non-negative "
         "integers in non-decreasing order, got (True,)"),
    ],
)  # fmt: skip
def test_join_schedules_rejects_bad_arguments(kwargs, message):
    _raises(gs.join_schedules, kwargs, "join_schedules: " + message)
