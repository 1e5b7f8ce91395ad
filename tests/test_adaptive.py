"""Tests of gradtx/_transforms/adaptive.py (scale_by_radam, scale_by_belief, scale_by_yogi,
scale_by_adopt) and of the aliases built on them and on Adam's scalers: radam, adabelief, yogi,
adopt (gradtx/_aliases/adaptive_continued.py), nadamw and adamaxw (gradtx/_aliases/adam.py).

Each scaler against a NumPy transcription of its docstring equation; each alias against Optax
0.2.8 in float64 (maximum elementwise relative difference <= 1e-10 over 120 replayed random
gradients and 150 closed-loop steps on Rosenbrock) for its defaults and two other settings; and
the places where gradtx departs from Optax, both behaviours shown.
"""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10
NUMPY_RTOL = 1e-12


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


# --- Conformance with Optax 0.2.8: name -> settings (the first is Optax's defaults).

SETTINGS = {
    "radam": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-12, threshold=6.0),
        dict(learning_rate=3e-3, b1=0.5, b2=0.95, threshold=4.0, nesterov=True),
    ],
    "adabelief": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-12),
        dict(learning_rate=3e-3, b1=0.5, b2=0.9, eps_root=0.0, nesterov=True),
    ],
    "yogi": [  # initial_mu=1e-6: Optax's first moment starts at 1e-6 (gradtx's at 0)
        dict(learning_rate=1e-2, initial_mu=1e-6),
        dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, initial_mu=1e-6),
        dict(learning_rate=3e-2, b1=0.0, b2=0.9, eps=1e-2, initial_mu=1e-6),
    ],
    "adopt": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-8, nesterov=True),
        dict(learning_rate=3e-3, b2=0.9, eps=1e-4, use_clipping=False),
        dict(learning_rate=3e-3, clip_value_fn=lambda t: 0.5 * t**0.5),
    ],
    "nadamw": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1),
        dict(learning_rate=3e-3, eps_root=1e-10, weight_decay=1e-2),
    ],
    "adamaxw": [
        dict(learning_rate=1e-3),
        dict(learning_rate=2e-3, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.1),
        dict(learning_rate=1e-2, b1=0.0, b2=0.5, eps=1e-3, weight_decay=1e-2),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]
OPTAX_ONLY = {"initial_mu"}  # gradtx's options that Optax does not take


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    theirs = getattr(optax, name, None) or getattr(optax.contrib, name)
    return getattr(gradtx, name)(**kwargs), theirs(
        **{k: v for k, v in kwargs.items() if k not in OPTAX_ONLY}
    )


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    mine, theirs = _pair(name, i)
    assert replay.replay_difference(mine, theirs) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    mine, theirs = _pair(name, i)
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


def test_nadamw_is_adamw_with_nesterov():
    params = replay.replay_params()
    grads = replay.replay_gradients(params, steps=20)
    got = replay.run_replay(gradtx.nadamw(1e-2, weight_decay=0.1), params, grads)
    want = replay.run_replay(gradtx.adamw(1e-2, weight_decay=0.1, nesterov=True), params, grads)
    assert replay.max_relative_difference(got, want) == 0.0


# --- NumPy transcriptions of the docstring equations, one array at a time; t counts from 1.


def _grads(seed=0, steps=12, shape=(5,)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 1, size=shape) for _ in range(steps)]


def _run(tx, grads):
    return [np.asarray(s.updates) for s in helpers.steps(tx, jnp.zeros_like(grads[0]), grads)]


def _m_hat(m, g, b1, t, nesterov):
    if nesterov:
        return b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
    return m / (1 - b1**t)


def _radam_reference(
    grads,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    eps_root=0.0,
    threshold=5.0,
    nesterov=False,
    eps_uncorrected=False,
    strict_threshold=False,
):
    m, v, out = np.zeros_like(grads[0]), np.zeros_like(grads[0]), []
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = _m_hat(m, g, b1, t, nesterov), v / (1 - b2**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        eps_t = eps / np.sqrt(1 - b2**t) if eps_uncorrected else eps
        if rho > threshold or (rho == threshold and not strict_threshold):
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            out.append(r * m_hat / (np.sqrt(v_hat + eps_root) + eps_t))
        else:
            out.append(m_hat)
    return out


def _belief_reference(grads, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
    m, s, out = np.zeros_like(grads[0]), np.zeros_like(grads[0]), []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        out.append(_m_hat(m, g, b1, t, nesterov) / (np.sqrt(s / (1 - b2**t)) + eps))
    return out


def _yogi_reference(grads, b1=0.9, b2=0.999, eps=1e-3, v0=1e-6, m0=0.0):
    m, v, out = np.full_like(grads[0], m0), np.full_like(grads[0], v0), []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g**2) * g**2
        out.append(m / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + eps))
    return out


def _adopt_reference(grads, b1=0.9, b2=0.9999, eps=1e-6, clipping=True, nesterov=False):
    """Step 0 sets v_0 = g_0^2 and returns 0; then the paper's loop, c_t = t^(1/4)."""
    m, v, out = np.zeros_like(grads[0]), grads[0] ** 2, [np.zeros_like(grads[0])]
    for t, g in enumerate(grads[1:], 1):
        x = g / np.maximum(np.sqrt(v), eps)
        x = np.clip(x, -(t**0.25), t**0.25) if clipping else x
        m = b1 * m + (1 - b1) * x
        out.append(b1 * m + (1 - b1) * x if nesterov else m)
        v = b2 * v + (1 - b2) * g**2
    return out


TRANSCRIPTIONS = [
    (gradtx.scale_by_radam, _radam_reference, {}),
    (gradtx.scale_by_radam, _radam_reference, dict(b1=0.5, b2=0.8, threshold=4.0)),
    (gradtx.scale_by_radam, _radam_reference, dict(b2=0.7, nesterov=True, eps_root=1e-6)),
    (gradtx.scale_by_radam, _radam_reference, dict(b2=0.9, eps=0.1, eps_uncorrected=True)),
    (gradtx.scale_by_radam, _radam_reference, dict(b2=0.9, threshold=6.0, strict_threshold=True)),
    (gradtx.scale_by_belief, _belief_reference, {}),
    (gradtx.scale_by_belief, _belief_reference, dict(b1=0.5, eps=1e-6, nesterov=True)),
    (gradtx.scale_by_yogi, _yogi_reference, {}),
    (gradtx.scale_by_yogi, _yogi_reference, dict(b2=0.9, eps=1e-6)),
    (gradtx.scale_by_adopt, _adopt_reference, {}),
    (gradtx.scale_by_adopt, _adopt_reference, dict(b2=0.9, nesterov=True)),
]
RENAMED = {"use_clipping": "clipping", "initial_accumulator_value": "v0", "initial_mu": "m0"}


@pytest.mark.parametrize("factory,reference,kwargs", TRANSCRIPTIONS)
def test_scaler_matches_its_numpy_transcription(factory, reference, kwargs):
    grads = _grads()
    got = _run(factory(**kwargs), grads)
    want = reference(grads, **{RENAMED.get(k, k): v for k, v in kwargs.items()})
    np.testing.assert_allclose(got, want, rtol=NUMPY_RTOL, atol=0)


def test_scale_by_yogi_options_match_the_transcription():
    grads = _grads(seed=3)
    kwargs = dict(initial_accumulator_value=0.5, initial_mu=0.25)
    got = _run(gradtx.scale_by_yogi(**kwargs), grads)
    np.testing.assert_allclose(got, _yogi_reference(grads, v0=0.5, m0=0.25), rtol=NUMPY_RTOL)


def test_scale_by_adopt_without_clipping_matches_the_transcription():
    grads = _grads(seed=4)
    got = _run(gradtx.scale_by_adopt(b2=0.5, use_clipping=False), grads)
    np.testing.assert_allclose(got, _adopt_reference(grads, b2=0.5, clipping=False), rtol=1e-12)


def test_scale_by_radam_is_momentum_sgd_until_rho_reaches_the_threshold():
    """rho_1 = 1 whatever b2: the first steps are m_hat; with b2 = 0.999, rho_t >= 5 from t = 6."""
    grads = _grads(steps=8)
    got = _run(gradtx.scale_by_radam(), grads)
    m = np.zeros_like(grads[0])
    for t, (g, u) in enumerate(zip(grads, got, strict=True), 1):
        m = 0.9 * m + 0.1 * g
        if t <= 5:
            np.testing.assert_allclose(u, m / (1 - 0.9**t), rtol=1e-12)
    assert not np.allclose(got[5], m / (1 - 0.9**6))


# A b2 for which rho_6 is exactly 5.0 in float64 (as tests/golden/make_porting_golden.py finds it).
RHO_6_IS_5_B2 = 0.8397685748659791


def test_scale_by_radam_strict_threshold_decides_a_step_where_rho_equals_the_threshold():
    """rho_6 = 5 exactly: `strict_threshold` (torch's rho_t > 5) keeps step 6 momentum SGD, the
    default (rho_t >= 5) rectifies it; every other step is the same."""
    grads = _grads(steps=8)
    strict = _run(gradtx.scale_by_radam(b2=RHO_6_IS_5_B2, strict_threshold=True), grads)
    inclusive = _run(gradtx.scale_by_radam(b2=RHO_6_IS_5_B2), grads)
    m = np.zeros_like(grads[0])
    for g in grads[:6]:
        m = 0.9 * m + 0.1 * g
    np.testing.assert_allclose(strict[5], m / (1 - 0.9**6), rtol=1e-12)
    assert not np.allclose(inclusive[5], strict[5])
    for t in (0, 1, 2, 3, 4, 6, 7):
        np.testing.assert_array_equal(strict[t], inclusive[t])
    want = _radam_reference(grads, b2=RHO_6_IS_5_B2, strict_threshold=True)
    np.testing.assert_allclose(strict, want, rtol=NUMPY_RTOL, atol=0)


def test_scale_by_adopt_first_step_only_measures_and_clip_value_fn_sets_c_t():
    grads = [jnp.asarray([3.0, -4.0]), jnp.asarray([30.0, 0.5])]
    tx = gradtx.scale_by_adopt(b1=0.0, clip_value_fn=lambda t: 0.5 * t)
    first, second = _run(tx, grads)
    np.testing.assert_array_equal(first, [0.0, 0.0])
    np.testing.assert_allclose(second, [0.5, 0.125], rtol=1e-12)  # clip(10, 0.5), 0.5 / 4


def test_scale_by_adopt_rejects_a_clip_value_fn_that_is_not_a_function():
    with pytest.raises(TypeError, match="^scale_by_adopt: clip_value_fn must be None or a"):
        gradtx.scale_by_adopt(clip_value_fn=1.0)


# --- Where gradtx departs from Optax 0.2.8: both behaviours.


def test_yogi_does_not_move_params_whose_gradients_are_zero_where_optax_does():
    params = jnp.zeros(3)
    zeros = [jnp.zeros(3)] * 5
    mine = replay.run_replay(gradtx.yogi(1e-2), params, zeros)
    theirs = replay.run_replay(optax.yogi(1e-2), params, zeros, apply=optax.apply_updates)
    np.testing.assert_array_equal(mine[-1], np.zeros(3))
    assert np.all(np.asarray(theirs[-1]) < -1e-6)  # m_0 = 1e-6 drifts every coordinate


def test_radam_rejects_a_threshold_below_4_where_optax_steps_nan():
    with pytest.raises(ValueError, match=r"^radam: threshold must be in \[4, inf\), got 3.0$"):
        gradtx.radam(1e-3, threshold=3.0)
    params = jnp.ones(2)
    grads = [jnp.ones(2)] * 5
    theirs = replay.run_replay(optax.radam(1e-3, threshold=3.0), params, grads)
    # rho_4 is just below 4 for b2 = 0.999: sqrt((rho - 4)(rho - 2) ...) is NaN.
    assert np.all(np.isfinite(theirs[2])) and np.all(np.isnan(theirs[3]))
    mine = replay.run_replay(gradtx.radam(1e-3, threshold=4.0), params, grads)
    assert np.all(np.isfinite(mine[-1]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_low_precision_params_keep_their_dtype_and_stay_near_float32(dtype):
    """The lift computes in float32 and rounds the state once per step: after six steps the
    updates are within a few roundings of the float32 run (relative to the largest update)."""
    grads = [np.asarray(jnp.asarray(g, dtype), np.float32) for g in _grads(seed=5, steps=6)]
    for factory in (
        gradtx.scale_by_radam,
        gradtx.scale_by_belief,
        gradtx.scale_by_yogi,
        gradtx.scale_by_adopt,
    ):
        wide = _run(factory(), [jnp.asarray(g) for g in grads])
        narrow = _run(factory(), [jnp.asarray(g, dtype) for g in grads])
        assert narrow[-1].dtype == dtype
        scale = np.max(np.abs(wide[-1]))
        np.testing.assert_allclose(narrow[-1].astype(np.float32), wide[-1], atol=2e-2 * scale)
