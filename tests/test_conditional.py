"""`conditionally_transform` and `conditionally_mask` against Optax 0.2.8, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

WRAPPERS = {
    "transform": (gradtx.conditionally_transform, optax.conditionally_transform),
    "mask": (gradtx.conditionally_mask, optax.conditionally_mask),
}


def every_third(step):
    return step % 3 == 1


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_conditional_wrapper_around_adam_matches_optax(wrapper):
    mine_wrap, their_wrap = WRAPPERS[wrapper]
    # Passed-through gradients must not throw the closed loop off: a small final scale.
    mine = gradtx.chain(mine_wrap(gradtx.scale_by_adam(), every_third), gradtx.scale(-1e-3))
    theirs = optax.chain(their_wrap(optax.scale_by_adam(), every_third), optax.scale(-1e-3))
    with jax.numpy_dtype_promotion("standard"):  # Optax's adam mixes its int32 count in
        assert replay.replay_difference(mine, theirs) <= 1e-10
        assert replay.rosenbrock_difference(mine, theirs, steps=60) <= 1e-10


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_conditional_wrapper_skips_the_inner_state_and_counts_every_call(wrapper):
    tx = WRAPPERS[wrapper][0](gradtx.scale_by_adam(), every_third)
    g = {"w": jnp.asarray([1.0, -2.0])}
    state = tx.init(g)
    outputs = []
    for _ in range(4):
        updates, state = jax.jit(tx.update)(g, state)
        outputs.append(updates["w"])
    assert int(state.step) == 4 and int(state.inner_state.count) == 1  # steps 1 only (of 0..3)
    other = g["w"] if wrapper == "transform" else np.zeros(2)
    for t, u in enumerate(outputs):
        if t != 1:
            np.testing.assert_array_equal(u, other)
    assert tuple(state._fields) == WRAPPERS[wrapper][1](optax.sgd(1.0), every_third).init(g)._fields


def test_extra_arguments_reach_the_condition_and_an_inner_that_takes_them():
    inner = gradtx.polyak_sgd(max_learning_rate=1.0)
    tx = gradtx.conditionally_mask(inner, lambda step, value: value > 0.5, forward_extra_args=True)
    state = tx.init(jnp.zeros(2))
    u, state = tx.update(jnp.ones(2), state, value=jnp.asarray(1.0))
    np.testing.assert_allclose(u, [-0.5, -0.5])
    u, state = tx.update(jnp.ones(2), state, value=jnp.asarray(0.25))
    np.testing.assert_array_equal(u, [0.0, 0.0])
    plain = gradtx.conditionally_transform(gradtx.scale(2.0), lambda step: True)
    u, _ = plain.update(jnp.ones(2), plain.init(jnp.zeros(2)), value=1.0)  # dropped, as Optax
    np.testing.assert_array_equal(u, [2.0, 2.0])
