"""Tests of gradtx/_transforms/clip.py: clip, clip_by_global_norm and adaptive_grad_clip."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import replay


def _nested_grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return {
        "a": jnp.asarray(scale * rng.normal(size=(3, 4))),
        "b": [jnp.asarray(scale * rng.normal(size=5)), None, (jnp.asarray(scale * 0.7),)],
        "c": {"d": jnp.asarray(scale * rng.normal(size=(2, 1, 2)))},
    }


def _numpy_global_norm(tree):
    return np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(tree)))


# clip


def test_clip_matches_numpy():
    g = _nested_grads(1, scale=3.0)
    tx = gradtx.clip(1.5)
    updates, state = tx.update(g, tx.init(g))
    assert state == gradtx.EmptyState()
    assert jax.tree.structure(updates) == jax.tree.structure(g)
    for u, x in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True):
        np.testing.assert_array_equal(u, np.clip(x, -1.5, 1.5))
    assert max(float(jnp.max(jnp.abs(u))) for u in jax.tree.leaves(updates)) == 1.5


def test_clip_boundaries_and_zero_delta():
    g = jnp.asarray([-2.0, -1.0, -0.0, 0.0, 0.25, 1.0, 2.0])
    np.testing.assert_array_equal(gradtx.clip(1.0).update(g, None)[0], [-1, -1, 0, 0, 0.25, 1, 1])
    np.testing.assert_array_equal(gradtx.clip(0.0).update(g, None)[0], np.zeros(7))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_clip_keeps_dtype(dtype):
    g = jnp.asarray([-3.0, 0.5, 3.0], dtype)
    updates, _ = jax.jit(gradtx.clip(1.0).update)(g, None)
    assert updates.dtype == dtype
    np.testing.assert_array_equal(updates.astype(jnp.float32), [-1.0, 0.5, 1.0])


def test_clip_accepts_a_traced_max_delta():
    g = jnp.asarray([-3.0, 0.5, 3.0])
    clipped = jax.jit(lambda d: gradtx.clip(d).update(g, None)[0])(jnp.asarray(0.4))
    np.testing.assert_allclose(clipped, [-0.4, 0.4, 0.4], rtol=1e-15)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_clip_rejects_bad_max_delta(bad):
    with pytest.raises(ValueError, match=rf"clip: max_delta must be >= 0 and finite, got {bad!r}"):
        gradtx.clip(bad)


# clip_by_global_norm


def test_clip_by_global_norm_matches_numpy_across_leaves_of_a_nested_tree():
    g = _nested_grads(2, scale=2.0)
    norm = _numpy_global_norm(g)
    assert norm > 3.0
    tx = gradtx.clip_by_global_norm(3.0)
    updates, state = tx.update(g, tx.init(g))
    assert state == gradtx.EmptyState()
    assert jax.tree.structure(updates) == jax.tree.structure(g)
    for u, x in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True):
        np.testing.assert_allclose(u, np.asarray(x) * (3.0 / norm), rtol=1e-14)
    np.testing.assert_allclose(_numpy_global_norm(updates), 3.0, rtol=1e-14)
    # One factor for the whole tree: a per-leaf clip would not reach norm 3 with these leaves.
    ratios = [
        float(u.ravel()[0] / x.ravel()[0])
        for u, x in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True)
    ]
    np.testing.assert_allclose(ratios, 3.0 / norm, rtol=1e-14)


def test_clip_by_global_norm_leaves_short_updates_unchanged():
    g = _nested_grads(3, scale=0.1)
    assert _numpy_global_norm(g) < 1.0
    updates, _ = gradtx.clip_by_global_norm(1.0).update(g, None)
    chex.assert_trees_all_equal(updates, g)  # bitwise


def test_clip_by_global_norm_of_a_zero_gradient_is_zero_with_finite_derivative():
    g = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    tx = gradtx.clip_by_global_norm(1.0)
    updates, _ = jax.jit(tx.update)(g, None)
    chex.assert_trees_all_equal(updates, g)

    def clipped_sum(w):
        return jnp.sum(tx.update({"w": w}, None)[0]["w"])

    derivative = jax.grad(clipped_sum)(jnp.zeros(3))
    np.testing.assert_array_equal(derivative, np.ones(3))  # no NaN from 0 / 0


def test_clip_by_global_norm_mixed_dtypes():
    g = {
        "f32": jnp.full(4, 3.0, jnp.float32),
        "f64": jnp.full(3, -4.0),
        "bf16": jnp.ones(2, jnp.bfloat16),
    }
    updates, _ = jax.jit(gradtx.clip_by_global_norm(1.0).update)(g, None)
    chex.assert_trees_all_equal_dtypes(updates, g)
    norm = np.sqrt(4 * 9 + 3 * 16 + 2)
    np.testing.assert_allclose(updates["f64"], np.full(3, -4.0 / norm), rtol=1e-15)
    np.testing.assert_allclose(updates["f32"], np.full(4, 3.0 / norm), rtol=1e-6)
    np.testing.assert_allclose(updates["bf16"].astype(jnp.float32), np.full(2, 1 / norm), rtol=1e-2)


def test_clip_by_global_norm_jit_equals_eager_in_a_scan():
    tx = gradtx.chain(gradtx.clip_by_global_norm(0.5), gradtx.sgd(0.1))
    target = {"w": jnp.asarray([3.0, -4.0]), "b": jnp.asarray(12.0)}

    def loss(p):
        return sum(
            jnp.sum((x - t) ** 2)
            for x, t in zip(jax.tree.leaves(p), jax.tree.leaves(target), strict=True)
        )

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return (gradtx.apply_updates(params, updates), state), _numpy_free_norm(updates)

    def _numpy_free_norm(tree):
        return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))

    start = jax.tree.map(jnp.zeros_like, target)
    (params, _), norms = jax.jit(lambda c: jax.lax.scan(step, c, length=10))(
        (start, tx.init(start))
    )
    # Far from the target every step has length 0.1 * 0.5: a fixed-length walk towards it.
    np.testing.assert_allclose(norms, np.full(10, 0.05), rtol=1e-12)
    carry = (start, tx.init(start))
    for _ in range(10):
        carry, _ = step(carry, None)
    chex.assert_trees_all_close(params, carry[0], rtol=1e-13)


@pytest.mark.usefixtures("_standard_promotion")
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 10.0])
def test_clip_by_global_norm_then_adam_matches_optax(max_norm):
    """gradtx multiplies by c / ||g|| where Optax divides by ||g|| and multiplies by c: the
    same numbers to rounding, here within the conformance tolerance over a replay (which clips
    some steps and not others) and a closed loop on Rosenbrock."""
    import optax

    mine = gradtx.chain(gradtx.clip_by_global_norm(max_norm), gradtx.adam(1e-2))
    theirs = optax.chain(optax.clip_by_global_norm(max_norm), optax.adam(1e-2))
    assert replay.replay_difference(mine, theirs) <= 1e-10
    assert replay.rosenbrock_difference(mine, theirs) <= 1e-10


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("inf"), float("nan")])
def test_clip_by_global_norm_rejects_bad_max_norm(bad):
    with pytest.raises(ValueError) as info:
        gradtx.clip_by_global_norm(bad)
    assert str(info.value) == f"clip_by_global_norm: max_norm must be > 0 and finite, got {bad!r}"


@pytest.mark.parametrize(
    ("clipping", "eps", "axis"), [(0.1, 1e-3, None), (0.02, 0.5, None), (0.05, 1e-3, 1)]
)
def test_adaptive_grad_clip_matches_optax(clipping, eps, axis):
    """Unit-wise clipping relative to the params' norms, leaves of rank 0 to 2 (and 4 below)."""
    import optax

    from tests import replay

    params = {**replay.replay_params(), "k": jnp.linspace(-1.0, 1.0, 24).reshape(2, 3, 2, 2)}
    if axis is not None:
        params = {"w": params["w"], "k": params["k"]}
    grads = replay.replay_gradients(params, steps=12)
    mine, theirs = (
        gradtx.adaptive_grad_clip(clipping, eps, axis),
        optax.adaptive_grad_clip(clipping, eps, axis),
    )
    clipped = 0
    for g in grads:
        updates, _ = jax.jit(mine.update)(g, mine.init(params), params)
        expected, _ = theirs.update(g, theirs.init(params), params)
        for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
        clipped += sum(
            not np.array_equal(u, x)
            for u, x in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True)
        )
    assert clipped > 0  # the bound was reached


def test_adaptive_grad_clip_needs_a_unit_for_rank_6():
    tx = gradtx.adaptive_grad_clip(0.1)
    x = jnp.ones((1, 2, 1, 2, 1, 2))
    with pytest.raises(
        ValueError, match=r"^adaptive_grad_clip: a leaf of shape \(1, 2, 1, 2, 1, 2\)"
    ):
        tx.update(x, tx.init(x), x)
    np.testing.assert_array_equal(
        gradtx.adaptive_grad_clip(0.1, axis=(0, 5)).update(x, (), x)[0].shape, x.shape
    )
