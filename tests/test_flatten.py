"""`flatten` against Optax 0.2.8 and against the unflattened transformation, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx
from tests import replay


def test_flatten_adam_matches_optax_and_the_unflattened_adam():
    mine, theirs = gradtx.flatten(gradtx.adam(0.1)), optax.flatten(optax.adam(0.1))
    with jax.numpy_dtype_promotion("standard"):  # Optax's adam mixes its int32 count in
        assert replay.replay_difference(mine, theirs) <= 1e-10
        assert replay.rosenbrock_difference(mine, theirs) <= 1e-10
    params, grads = replay.replay_params(), replay.replay_gradients(replay.replay_params())
    flat = replay.run_replay(mine, params, grads)
    unflattened = replay.run_replay(gradtx.adam(0.1), params, grads)
    # The same elementwise rule; XLA fuses the long vector differently: rounding only.
    assert replay.max_relative_difference(flat, unflattened) <= 1e-12
    assert mine.init(params)[0].mu.shape == (16,)


def test_flatten_keeps_each_leaf_dtype_and_shape():
    tx = gradtx.flatten(gradtx.sgd(0.5))
    params = {"a": jnp.ones((2, 2), jnp.bfloat16), "b": jnp.ones(3, jnp.float32)}
    updates, _ = jax.jit(tx.update)(params, tx.init(params), params)
    assert updates["a"].dtype == jnp.bfloat16 and updates["a"].shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(updates["b"]), -0.5 * np.ones(3))
