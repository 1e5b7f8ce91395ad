"""Properties every registered optimizer and transformation keeps, over random pytrees.

For random trees (nested dicts, lists and tuples; `None` leaves, Python floats, zero-size arrays;
float16, bfloat16, float32 and float64 leaves), random gradients and random valid hyperparameters
(`tests/strategies.py`; an entry without a strategy there is built by its registry builder), a
few eager steps:

* do not crash;
* give updates with the params' tree structure, shapes and dtypes; `apply_updates` keeps them;
* keep the state's structure, shapes and dtypes those of `init`'s, step after step;
* give finite updates from finite gradients, with gradients bounded per dtype
  (`strategies.GRADIENT_RANGE`). One documented exception: a float16 leaf may overflow where
  the same problem run in float32 gives an update beyond float16's range (65504), e.g. centered
  RMSprop's g / sqrt(variance + eps) when the variance estimate is 0.

On two fixed tree structures (so each entry compiles twice, not once per example), the jitted
update equals the eager one, step by step, to a tolerance per dtype (`JIT_RTOL`).

Budget: the "ci" profile (the default) runs 50 examples per optimizer and per transformation,
and 6 per entry for the jit check (its eager side runs with jit disabled, op by op),
derandomized and without shrinking: about 3 CPU-minutes for the 150 registry entries. The
"nightly" profile runs 2000, randomized, shrinking failures, with Hypothesis' example database
on. Run it by hand with

    GRADTX_HYPOTHESIS_PROFILE=nightly pytest -n auto tests/test_properties.py
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import gradtx
from tests import helpers, strategies
from tests.registry import ALL, OPTIMIZERS, TRANSFORMATIONS
from tests.strategies import Leaf

F16_MAX = float(jnp.finfo(jnp.float16).max)

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure is reported at once
    suppress_health_check=_SLOW_DATA,
    print_blob=True,
)
settings.register_profile(
    "nightly", max_examples=2000, deadline=None, suppress_health_check=_SLOW_DATA, print_blob=True
)
PROFILE = settings.get_profile(os.environ.get("GRADTX_HYPOTHESIS_PROFILE", "ci"))
TRANSFORMATION_PROFILE = PROFILE
JIT_PROFILE = settings(PROFILE, max_examples=max(PROFILE.max_examples // 8, 1))

# Tolerance of jit against eager, per leaf dtype, relative to the leaf's largest magnitude
# (`helpers.assert_jit_matches`, which other tests call with float64's 1e-15). It is loose on
# purpose: random values reach ill-conditioned corners, where two compilations of one formula
# round differently and the difference is amplified (SWATS divides by d.g ~ 0; see also
# ILL_CONDITIONED_FIRST_UPDATE), by up to ~1e-5 in float64. What jit can break, Python control
# flow or state kept outside the pytree, shows as O(1) differences.
JIT_RTOL = {
    jnp.dtype(jnp.float16): 2e-2,
    jnp.dtype(jnp.bfloat16): 5e-2,
    jnp.dtype(jnp.float32): 1e-3,
    jnp.dtype(jnp.float64): 1e-3,
}
# Updates whose first step is ill-conditioned by definition, so that jit and eager may round it
# apart by any amount: centered RMS with bias correction has var_hat = nu_hat - mu_hat^2 = 0
# exactly at t = 1, so its first update is g / sqrt(eps + rounding residue). Its state, and its
# updates from t = 2 on, are still compared.
ILL_CONDITIONED_FIRST_UPDATE = {"scale_by_rms_centered"}
# Transformations that compute new weights theta_t and return u_t = theta_t - theta_(t-1): where a
# weight barely moves, u_t is a difference of nearly equal numbers, and an ulp of theta_t (a fused
# multiply-add under jit) is all of it. Their params after the step, theta_(t-1) + u_t, are
# compared instead of u_t; their state is compared as every other. MADGRAD's step is
# theta_t = x_0 - s_t / cbrt(v_t + eps), returned as theta_t - theta_(t-1), likewise.
ASSIGNS_WEIGHTS = {"ftrl", "ftrl_regularized", "madgrad", "scale_by_madgrad"}
# Updates whose size is ill-conditioned on random values: MoMo's step size
# tau = (rho (f - f_* - gamma_k) + <d_k, x_k>)^+ / |d_k|^2 subtracts whole-tree sums that cancel
# (gamma_k and <d_k, x_k> agree to all their digits at the first step), so two compilations that
# sum in different orders give step sizes that differ by any amount (0.3% on one draw, 0 on another
# machine's). Their state, and the direction of their update (each leaf over the tree's norm), are
# compared; the step size itself is checked in float64 against Optax and a NumPy transcription
# (test_momo).
ILL_CONDITIONED_STEP_SIZE = {
    "momo",
    "momo_decayed",
    "momo_adam",
    "scale_by_momo",
    "scale_by_momo_adam",
}
# State scalars that are ill-conditioned on random values: Prodigy's r_k = beta_3 r_(k-1) +
# (d_k / d_0) eta_k <g_k, x_0 - x_k> sums products whose terms cancel (one draw: -2.6e-23 against
# -2.5e-23, 5% apart, from terms many orders larger), so jit and eager round it apart by any amount.
# It is left out of the state comparison here (d_k, which it feeds, is still compared) and checked
# in float64 against Optax and a NumPy transcription in test_lr_free.py.
ILL_CONDITIONED_STATE = dict.fromkeys(
    ("prodigy", "prodigy_safeguarded", "scale_by_prodigy"), ".numerator"
)
# A KNOWN GAP, likewise: centered RMS keeps nu_t and mu_t in the params' dtype, and in float16
# nu_t - mu_t^2 cancels to 0 or below where the float32 run stays finite (a derandomized draw).
FINITENESS_GAPS = {
    "scale_by_rms_centered": "float16 nu_t - mu_t^2 cancels: an infinite step from finite g",
}


def _with_gaps(names, gaps):
    """`names`, those in `gaps` marked as known failures: they still run, and must still fail
    (strict), so that fixing one turns the test red until its entry is deleted."""
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=gaps[n])) if n in gaps else n
        for n in names
    ]


JIT_TEMPLATES = (
    {
        "w": Leaf((2, 3), jnp.float32),
        "b": [Leaf((3,), jnp.bfloat16), None, float],
        "h": (Leaf((), jnp.float16), Leaf((0,), jnp.float64)),
    },
    [Leaf((3,), jnp.float64), {"a": Leaf((2, 0), jnp.float32), "z": Leaf((1,), jnp.float16)}],
)


def assert_same_direction(jitted, eager, rtol, what):
    """Each leaf of `jitted` over the tree's norm equals that of `eager`, to within r (|entry| +
    the leaf's largest magnitude), r = `rtol[dtype]`; the dtypes are equal."""
    norm = lambda tree: np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in tree))  # noqa: E731
    jit_leaves, eager_leaves = jax.tree.leaves(jitted), jax.tree.leaves(eager)
    jit_norm, eager_norm = norm(jit_leaves) or 1.0, norm(eager_leaves) or 1.0
    assert jax.tree.structure(jitted) == jax.tree.structure(eager), what
    for a, e in zip(jit_leaves, eager_leaves, strict=True):
        assert a.dtype == e.dtype, what
        tol = rtol[jnp.dtype(a.dtype)]
        a64, e64 = np.asarray(a, np.float64) / jit_norm, np.asarray(e, np.float64) / eager_norm
        np.testing.assert_allclose(
            a64, e64, rtol=tol, atol=tol * np.max(np.abs(e64), initial=0.0), err_msg=what
        )


def without(name, state):
    """`state` with the leaf that `ILL_CONDITIONED_STATE` names for `name` set to 0."""
    if name not in ILL_CONDITIONED_STATE:
        return state
    suffix = ILL_CONDITIONED_STATE[name]
    return jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if jax.tree_util.keystr(path).endswith(suffix) else x,
        state,
    )


def dtype_of(x):
    return jnp.asarray(x).dtype


def assert_like(tree, like, what):
    """`tree` has the structure of `like`, and each leaf its shape and dtype."""
    assert jax.tree.structure(tree) == jax.tree.structure(like), what
    for x, y in zip(jax.tree.leaves(tree), jax.tree.leaves(like), strict=True):
        assert (np.shape(x), dtype_of(x)) == (np.shape(y), dtype_of(y)), what


def non_finite_float16(updates):
    """Whether some float16 leaf of `updates` holds a NaN or an Inf."""
    return any(
        dtype_of(u) == jnp.float16 and not np.all(np.isfinite(np.asarray(u, np.float32)))
        for u in jax.tree.leaves(updates)
    )


def assert_finite(updates, reference, what):
    """Finite updates; a float16 leaf may overflow only where the float32 `reference` run of the
    same problem is itself beyond float16's range (65504)."""
    for u, r in zip(jax.tree.leaves(updates), jax.tree.leaves(reference), strict=True):
        u, r = np.asarray(u), np.asarray(r).astype(np.float64)
        allowed = ~(np.abs(r) <= F16_MAX) if u.dtype == np.float16 else np.zeros(u.shape, bool)
        assert np.all(np.isfinite(u.astype(np.float64)) | allowed), what


def upcast_float16(tree):
    return jax.tree.map(lambda x: x.astype(jnp.float32) if dtype_of(x) == jnp.float16 else x, tree)


def draw_problem(data, templates):
    template = data.draw(templates, label="template")
    params = data.draw(strategies.arrays_for(template, "param"), label="params")
    steps = data.draw(st.integers(1, 3), label="steps")
    grads = [
        data.draw(strategies.arrays_for(template), label=f"gradient {t}") for t in range(steps)
    ]
    return params, grads


def check_random_problem(name, data):
    params, grads = draw_problem(data, strategies.TEMPLATES)
    tx = strategies.draw_transformation(data, name, ALL)
    with jax.disable_jit():  # eager, also for the aliases that come jitted: no compile per example
        run_random_problem(tx, params, grads)


def run_random_problem(tx, params, grads):
    state = initial = tx.init(params)
    seen = []
    for g in grads:
        updates, state = tx.update(g, state, params)
        assert_like(updates, params, "updates differ from params in structure, shape or dtype")
        assert_like(state, initial, "the state drifted from init's structure, shapes or dtypes")
        seen.append((params, g, updates))
        new_params = gradtx.apply_updates(params, updates)
        assert_like(new_params, params, "apply_updates changed a structure, shape or dtype")
        params = new_params
    references = [updates for _, _, updates in seen]
    if any(non_finite_float16(updates) for updates in references):  # replay in float32
        reference_state, references = tx.init(upcast_float16(seen[0][0])), []
        for params, g, _ in seen:
            updates, reference_state = tx.update(
                upcast_float16(g), reference_state, upcast_float16(params)
            )
            references.append(updates)
    for (_, _, updates), reference in zip(seen, references, strict=True):
        assert_finite(updates, reference, "finite gradients gave a non-finite update")


@pytest.mark.parametrize("name", OPTIMIZERS)
@PROFILE
@given(data=st.data())
def test_optimizer_on_random_trees_keeps_structure_dtypes_state_and_finiteness(name, data):
    check_random_problem(name, data)


@pytest.mark.parametrize("name", _with_gaps(TRANSFORMATIONS, FINITENESS_GAPS))
@TRANSFORMATION_PROFILE
@given(data=st.data())
def test_transformation_on_random_trees_keeps_structure_dtypes_state_and_finiteness(name, data):
    check_random_problem(name, data)


@functools.cache
def jitted(name):
    """One transformation and one jitted update per registry entry, shared by every example."""
    tx = ALL[name]()
    return tx, jax.jit(tx.update)


@pytest.mark.parametrize("name", ALL)
@JIT_PROFILE
@given(data=st.data())
def test_jitted_update_equals_eager_on_random_values(name, data):
    tx, update = jitted(name)
    params, grads = draw_problem(data, st.sampled_from(JIT_TEMPLATES))
    eager_state = jit_state = tx.init(params)
    for step, g in enumerate(grads):
        with jax.disable_jit():
            eager, eager_state = tx.update(g, eager_state, params)
        jit, jit_state = update(g, jit_state, params)
        if name in ASSIGNS_WEIGHTS:
            jit_params, eager_params = (gradtx.apply_updates(params, u) for u in (jit, eager))
            helpers.assert_jit_matches(jit_params, eager_params, JIT_RTOL, "jitted params differ")
        elif name in ILL_CONDITIONED_STEP_SIZE:
            assert_same_direction(jit, eager, JIT_RTOL, "jitted update's direction differs")
        elif step > 0 or name not in ILL_CONDITIONED_FIRST_UPDATE:
            helpers.assert_jit_matches(jit, eager, JIT_RTOL, "jitted updates differ from eager")
        jit_kept, eager_kept = (without(name, state) for state in (jit_state, eager_state))
        helpers.assert_jit_matches(jit_kept, eager_kept, JIT_RTOL, "jitted state differs")
        params = gradtx.apply_updates(params, eager)
        jit_state = eager_state  # compare one step at a time: no drift from earlier rounding


def test_every_hyperparameter_strategy_names_a_registry_entry_and_a_gradtx_function():
    assert set(strategies.HYPERPARAMETERS) <= set(ALL)
    assert all(callable(getattr(gradtx, name, None)) for name in strategies.HYPERPARAMETERS)
