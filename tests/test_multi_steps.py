"""`MultiSteps`, `skip_not_finite` and `skip_large_updates` against Optax 0.2.8, in float64."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

STEPS = 25
BAD_STEPS = {4: "nan", 9: "inf", 13: "large", 14: "large"}


def gradients(steps=STEPS, bad=None):
    """Replayed gradients; `bad` maps a step to a NaN, an infinity or a 1e4-scaled gradient."""
    grads = replay.replay_gradients(replay.replay_params(), steps=steps)
    for t, kind in (bad or {}).items():
        w = grads[t]["w"]
        grads[t] = {
            **grads[t],
            "w": {"nan": w.at[1, 2].set(jnp.nan), "inf": w.at[0, 0].set(-jnp.inf)}.get(
                kind, w * 1e4
            ),
        }
    return grads


def run(opt, grads, apply):
    """Params, updates and the MultiSteps state after each step, the step jitted."""
    params = replay.replay_params()
    state = opt.init(params)
    update = jax.jit(opt.update)
    trajectory = []
    for g in grads:
        with jax.numpy_dtype_promotion("standard"):  # Optax mixes int32 counters with floats
            updates, state = update(g, state, params)
            params = apply(params, updates)
        trajectory.append((params, updates, state))
    return trajectory


def assert_same_run(mine, theirs):
    for (p, u, s), (po, uo, so) in zip(mine, theirs, strict=True):
        assert replay.max_relative_difference(p, po) <= 1e-10
        assert replay.max_relative_difference(u, uo) <= 1e-10
        assert int(s.mini_step) == int(so.mini_step)
        assert int(s.gradient_step) == int(so.gradient_step)
        assert replay.max_relative_difference(s.acc_grads, so.acc_grads) <= 1e-10
        assert (
            replay.max_relative_difference(
                jax.tree.leaves(s.inner_opt_state), jax.tree.leaves(so.inner_opt_state)
            )
            <= 1e-10
        )
        for a, b in zip(jax.tree.leaves(s.skip_state), jax.tree.leaves(so.skip_state), strict=True):
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12)


SKIPS = {
    "none": (None, None),
    "not_finite": (gradtx.skip_not_finite, optax.skip_not_finite),
    "large": (
        functools.partial(gradtx.skip_large_updates, max_squared_norm=1e7),
        functools.partial(optax.skip_large_updates, max_squared_norm=1e7),
    ),
}


@pytest.mark.parametrize("use_grad_mean", [True, False])
@pytest.mark.parametrize("skip", ["none", "not_finite", "large"])
def test_multi_steps_adam_matches_optax_with_k_3(use_grad_mean, skip):
    mine_skip, their_skip = SKIPS[skip]
    bad = {
        t: k for t, k in BAD_STEPS.items() if skip != "none" and (k == "large") == (skip == "large")
    }
    grads = gradients(bad=bad)
    mine = gradtx.MultiSteps(gradtx.adam(0.1), 3, use_grad_mean, mine_skip)
    theirs = optax.MultiSteps(
        optax.adam(0.1), 3, use_grad_mean, their_skip, accumulator_dtype=jnp.float64
    )
    got = run(mine, grads, gradtx.apply_updates)
    assert_same_run(got, run(theirs, grads, optax.apply_updates))
    skipped = [bool(s.skip_state["should_skip"]) for _, _, s in got] if bad else []
    assert sum(skipped) == len(bad)  # exactly the corrupted steps, which never count
    assert int(got[-1][2].gradient_step) == (STEPS - len(bad)) // 3
    assert not np.allclose(got[-1][0]["w"], replay.replay_params()["w"])


def test_multi_steps_with_a_schedule_and_a_float32_accumulator_matches_optax():
    """k grows with the inner step (1, 2, 3, 3, ...); a float32 accumulator rounds the mean of
    float64 gradients as Optax's default does."""
    schedule = lambda step: jnp.minimum(step + 1, 3)  # noqa: E731
    grads = gradients(30)
    mine = gradtx.MultiSteps(gradtx.adam(0.1), schedule, accumulator_dtype=jnp.float32)
    theirs = optax.MultiSteps(optax.adam(0.1), schedule)
    got = run(mine, grads, gradtx.apply_updates)
    assert_same_run(got, run(theirs, grads, optax.apply_updates))
    assert got[-1][2].acc_grads["w"].dtype == jnp.float32


def test_multi_steps_runs_under_scan_and_vmap_as_in_a_python_loop():
    opt = gradtx.MultiSteps(gradtx.adam(0.1), 3, should_skip_update_fn=gradtx.skip_not_finite)
    grads = gradients(bad={4: "nan"})
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *grads)
    params = replay.replay_params()

    def body(carry, g):
        params, state = carry
        updates, state = opt.update(g, state, params)
        return (gradtx.apply_updates(params, updates), state), opt.has_updated(state)

    (scanned, _), updated = jax.lax.scan(body, (params, opt.init(params)), stacked)
    looped = run(opt, grads, gradtx.apply_updates)
    assert replay.max_relative_difference(scanned, looped[-1][0]) == 0.0
    expected = [bool(opt.has_updated(s)) for _, _, s in looped]
    np.testing.assert_array_equal(updated, expected)
    assert sum(expected) == (STEPS - 1) // 3

    def solve(scale):
        p = jax.tree.map(lambda x: x * scale, params)
        return jax.lax.scan(body, (p, opt.init(p)), stacked)[0][0]

    batched = jax.vmap(solve)(jnp.asarray([1.0, 2.0]))
    alone = solve(jnp.asarray(2.0))
    assert replay.max_relative_difference(jax.tree.map(lambda x: x[1], batched), alone) <= 1e-14


def test_has_updated_and_gradient_transformation():
    opt = gradtx.MultiSteps(gradtx.sgd(1.0), 2, use_grad_mean=False)
    tx = opt.gradient_transformation()
    assert isinstance(tx, gradtx.GradientTransformation) and opt.inner_opt is not None
    state = tx.init(jnp.zeros(2))
    assert not bool(opt.has_updated(state))
    u, state = tx.update(jnp.ones(2), state)
    assert not bool(opt.has_updated(state)) and not np.any(np.asarray(u))
    u, state = tx.update(jnp.full(2, 2.0), state)
    assert bool(opt.has_updated(state))
    np.testing.assert_array_equal(u, [-3.0, -3.0])  # the sum, not the mean
    assert state._fields == optax.MultiStepsState._fields


def test_extra_arguments_reach_an_inner_optimizer_that_takes_them():
    opt = gradtx.MultiSteps(gradtx.polyak_sgd(max_learning_rate=1.0), 2)
    assert isinstance(opt.gradient_transformation(), gradtx.GradientTransformationExtraArgs)
    state = opt.init(jnp.zeros(2))
    _, state = opt.update(jnp.ones(2), state, value=jnp.asarray(1.0))
    u, state = opt.update(jnp.ones(2), state, value=jnp.asarray(1.0))
    np.testing.assert_allclose(u, [-0.5, -0.5])  # Polyak: value / |g|^2 = 1 / 2


def test_skip_functions_match_optax():
    g = {"a": jnp.asarray([1.0, jnp.nan, jnp.inf]), "b": jnp.asarray(-jnp.inf)}
    skip, info = gradtx.skip_not_finite(g, jnp.zeros([], jnp.int32), None)
    skip_o, info_o = optax.skip_not_finite(g, jnp.zeros([], jnp.int32), None)
    assert (
        bool(skip) == bool(skip_o)
        and int(info["num_not_finite"]) == int(info_o["num_not_finite"]) == 3
    )
    assert info["num_not_finite"].dtype == jnp.int32
    for bound in (14.0, 14.5):
        h = {"a": jnp.asarray([1.0, 2.0]), "b": jnp.asarray(3.0)}
        skip, info = gradtx.skip_large_updates(h, 0, None, bound)
        skip_o, info_o = optax.skip_large_updates(h, 0, None, bound)
        assert bool(skip) == bool(skip_o) == (bound == 14.0)
        assert float(info["norm_squared"]) == float(info_o["norm_squared"]) == 14.0
