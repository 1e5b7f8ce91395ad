"""Tests of gradtx/_schedules/cycles.py: Optax 0.2.8's values in float64 at counts 0..2000, where
Optax is right; both behaviours where it is not; signatures; bad inputs."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import _schedules as gs

T = np.arange(2001)  # counts 0..2000: every boundary below lies inside
RTOL = 1e-10
NAMES = (
    "piecewise_interpolate_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
    "warmup_constant_schedule",
    "warmup_exponential_decay_schedule",
    "sgdr_schedule",
)


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _max_rel_diff(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.maximum(np.abs(got), np.abs(want))
    diff = np.abs(got - want)
    return float(np.max(np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)))


def _optax(schedule, counts=T, *, scalar=False) -> np.ndarray:
    """Optax's values on NumPy int64 counts (exact divisions), under standard promotion; one
    count at a time (`vmap`) for a `scalar` schedule (Optax's piecewise interpolation takes a
    scalar count only)."""
    with jax.numpy_dtype_promotion("standard"):
        if scalar:
            return np.asarray(jax.vmap(schedule)(jnp.asarray(counts)))
        return np.broadcast_to(np.asarray(schedule(counts)), counts.shape)


SCALAR_ONLY = {
    "piecewise_interpolate_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
}


def _assert_matches_optax(name: str, kwargs: dict) -> None:
    schedule = getattr(gs, name)(**kwargs)
    want = _optax(getattr(optax, name)(**kwargs), scalar=name in SCALAR_ONLY)
    counts = jnp.asarray(T, jnp.int32)
    for mode, run in {"eager": schedule, "jit": jax.jit(schedule)}.items():
        got = run(counts)
        assert got.dtype == jnp.float64 and got.shape == T.shape, mode
        assert _max_rel_diff(got, want) <= RTOL, (mode, _max_rel_diff(got, want))
    for t in (0, 1, 999, 2000):
        assert _max_rel_diff(schedule(t), want[t]) <= RTOL
    _, scanned = jax.lax.scan(lambda c, _: (c + 1, schedule(c)), jnp.int32(0), length=T.size)
    assert _max_rel_diff(scanned, want) <= RTOL


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(interpolate_type="linear", init_value=1.0, boundaries_and_scales={100: 3.0}),
        dict(interpolate_type="cosine", init_value=0.5, boundaries_and_scales={300: 4.0, 900: 0.1}),
        dict(interpolate_type="linear", init_value=2.0, boundaries_and_scales={1: 0.5, 1500: 0.0}),
        dict(interpolate_type="cosine", init_value=0.3, boundaries_and_scales={0: 2, 7: 1, 50: 3}),
        dict(interpolate_type="linear", init_value=0.7),
    ],
)
def test_piecewise_interpolate_schedule_matches_optax(kwargs):
    _assert_matches_optax("piecewise_interpolate_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=1000, peak_value=1.0),
        dict(transition_steps=1500, peak_value=0.3, pct_start=0.1, pct_final=0.6, div_factor=10.0),
        dict(transition_steps=333, peak_value=2.0, pct_start=0.45, final_div_factor=100.0),
    ],
)
def test_linear_onecycle_schedule_matches_optax(kwargs):
    _assert_matches_optax("linear_onecycle_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(transition_steps=1000, peak_value=1.0),
        dict(transition_steps=1500, peak_value=0.3, pct_start=0.1, div_factor=10.0),
        dict(transition_steps=333, peak_value=2.0, pct_start=0.0, final_div_factor=100.0),
    ],
)
def test_cosine_onecycle_schedule_matches_optax(kwargs):
    _assert_matches_optax("cosine_onecycle_schedule", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_value=0.0, peak_value=1.0, warmup_steps=100),
        dict(init_value=0.5, peak_value=0.1, warmup_steps=1),
        dict(init_value=-1.0, peak_value=3.0, warmup_steps=1999),
    ],
)
def test_warmup_constant_schedule_matches_optax(kwargs):
    _assert_matches_optax("warmup_constant_schedule", kwargs)


def test_warmup_constant_schedule_without_warmup_is_the_peak_where_optax_stays_at_init():
    got = gs.warmup_constant_schedule(0.0, 1.0, 0)(jnp.asarray(T, jnp.int32))
    np.testing.assert_array_equal(got, 1.0)
    np.testing.assert_array_equal(_optax(optax.warmup_constant_schedule(0.0, 1.0, 0)), 0.0)


WED = dict(init_value=0.0, peak_value=1.0, warmup_steps=100, transition_steps=200, decay_rate=0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        WED,
        dict(WED, warmup_steps=0, transition_begin=50, staircase=True),
        dict(WED, init_value=0.2, decay_rate=0.9, transition_steps=49, staircase=True),
        dict(WED, transition_begin=300, end_value=0.3),
        dict(WED, decay_rate=1.5, end_value=2.0, warmup_steps=37),
    ],
)
def test_warmup_exponential_decay_schedule_matches_optax(kwargs):
    _assert_matches_optax("warmup_exponential_decay_schedule", kwargs)


CYCLE = dict(init_value=0.0, peak_value=1.0, warmup_steps=50, decay_steps=500)


@pytest.mark.parametrize(
    "cycles",
    [
        [CYCLE],
        [CYCLE, dict(CYCLE, peak_value=0.5, decay_steps=700, end_value=0.01)],
        [
            dict(CYCLE, warmup_steps=0, decay_steps=300),
            dict(CYCLE, init_value=0.1, warmup_steps=20, decay_steps=400, exponent=2.0),
            dict(CYCLE, peak_value=0.25, warmup_steps=10, decay_steps=100),
        ],
    ],
)
def test_sgdr_schedule_matches_optax(cycles):
    _assert_matches_optax("sgdr_schedule", dict(cosine_kwargs=cycles))


def test_sgdr_schedule_stores_its_cycles_as_schedules_and_accepts_them():
    schedule = gs.sgdr_schedule([CYCLE, CYCLE])
    cycle = gs.warmup_cosine_decay_schedule(**CYCLE)
    assert schedule.cosine_kwargs == (cycle, cycle)
    assert gs.sgdr_schedule((cycle, cycle)) == schedule


def test_piecewise_interpolate_schedule_matches_numpy():
    """The docstring's equation, transcribed."""
    init, pairs = 0.4, [(10, 3.0), (11, 0.5), (40, 0.1)]
    for kind in ("linear", "cosine"):
        values = np.cumprod([init] + [s for _, s in pairs])
        bounds = [0] + [b for b, _ in pairs]

        def f(a, b, p, kind=kind):
            return (
                a + (b - a) * p if kind == "linear" else b + (a - b) * (1 + np.cos(np.pi * p)) / 2
            )

        want = []
        for t in range(60):
            value = values[-1]
            for i in range(len(pairs)):
                if bounds[i] <= t < bounds[i + 1]:
                    value = f(
                        values[i],
                        values[i + 1],
                        (t - bounds[i]) / max(bounds[i + 1] - bounds[i], 1),
                    )
            want.append(value)
        got = gs.piecewise_interpolate_schedule(kind, init, pairs)(jnp.arange(60))
        assert _max_rel_diff(got, want) <= 1e-14


def test_linear_onecycle_schedule_raises_where_optax_drops_a_phase():
    """With T = 5, int(0.3 T) = 1 and int(0.85 T) = 4, fine; with T = 3, 0 and 2; with T = 1
    both are 0 and Optax's dict keeps 1/d for step 0 only: the peak is never reached."""
    values = _optax(optax.linear_onecycle_schedule(1, 1.0), np.arange(3), scalar=True)
    assert values.max() < 1.0 / 25 + 1e-12  # never near the peak of 1
    message = "linear_onecycle_schedule: the phase boundaries"
    with pytest.raises(ValueError, match=re.escape(message)):
        gs.linear_onecycle_schedule(1, 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_schedules_have_optax_argument_names_order_and_defaults(name):
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(getattr(gs, name)) == arguments(getattr(optax, name))
    assert gs.SCHEDULES[name] is getattr(gs, name) is getattr(gradtx, name)


EXAMPLES = {
    "piecewise_interpolate_schedule": gs.piecewise_interpolate_schedule("cosine", 1.0, {9: 2.0}),
    "linear_onecycle_schedule": gs.linear_onecycle_schedule(100, 1.0),
    "cosine_onecycle_schedule": gs.cosine_onecycle_schedule(100, 1.0),
    "warmup_constant_schedule": gs.warmup_constant_schedule(0.0, 1.0, 10),
    "warmup_exponential_decay_schedule": gs.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.5),
    "sgdr_schedule": gs.sgdr_schedule([CYCLE, CYCLE]),
}


@pytest.mark.parametrize("name", NAMES)
def test_schedules_are_frozen_data_rebuilt_from_their_fields_and_default_to_float32(name):
    schedule = EXAMPLES[name]
    fields = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)}
    assert type(schedule)(**fields) == schedule and hash(type(schedule)(**fields)) == hash(schedule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(schedule, next(iter(fields)), 0)
    with jax.enable_x64(False), jax.numpy_dtype_promotion("strict"):
        assert schedule(jnp.arange(5, dtype=jnp.int32)).dtype == jnp.float32


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (
            "piecewise_interpolate_schedule",
            dict(interpolate_type="step", init_value=1.0),
            "piecewise_interpolate_schedule: interpolate_type must be 'linear' or 'cosine', "
            "got 'step'",
        ),
        (
            "piecewise_interpolate_schedule",
            dict(interpolate_type="linear", init_value=1.0, boundaries_and_scales={5: -1.0}),
            "piecewise_interpolate_schedule: boundaries_and_scales[5] must be >= 0 and finite, "
            "got -1.0",
        ),
        (
            "linear_onecycle_schedule",
            dict(transition_steps=0, peak_value=1.0),
            "linear_onecycle_schedule: transition_steps must be > 0 and finite, got 0",
        ),
        (
            "linear_onecycle_schedule",
            dict(transition_steps=100, peak_value=1.0, pct_start=0.9),
            "linear_onecycle_schedule: the phase boundaries (int(pct_start * T), "
            "int(pct_final * T), T) must increase, got (90, 85, 100)",
        ),
        (
            "cosine_onecycle_schedule",
            dict(transition_steps=100, peak_value=1.0, pct_start=1.0),
            "cosine_onecycle_schedule: pct_start must be in [0, 1), got 1.0",
        ),
        (
            "cosine_onecycle_schedule",
            dict(transition_steps=100, peak_value=1.0, div_factor=0.0),
            "cosine_onecycle_schedule: div_factor must be > 0 and finite, got 0.0",
        ),
        (
            "warmup_constant_schedule",
            dict(init_value=0.0, peak_value=1.0, warmup_steps=-1),
            "warmup_constant_schedule: warmup_steps must be >= 0 and finite, got -1",
        ),
        (
            "warmup_exponential_decay_schedule",
            dict(WED, decay_rate=0.0),
            "exponential_decay: decay_rate must be > 0 and finite, got 0.0",
        ),
        (
            "sgdr_schedule",
            dict(cosine_kwargs=[]),
            "sgdr_schedule: cosine_kwargs must hold at least one cycle, got ()",
        ),
        (
            "sgdr_schedule",
            dict(cosine_kwargs=[dict(CYCLE, decay_steps=10, warmup_steps=20)]),
            "warmup_cosine_decay_schedule: decay_steps must be > warmup_steps = 20",
        ),
    ],
)
def test_schedules_reject_bad_arguments(factory, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(gs, factory)(**kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_schedules_round_trip_through_a_json_config(name):
    config = json.loads(json.dumps(gradtx.to_config(gradtx.sgd(EXAMPLES[name]))))
    assert gradtx.from_config(config).update is not None
    assert gradtx.to_config(gradtx.from_config(config)) == config
