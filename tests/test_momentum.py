"""Tests of gradtx/_momentum.py: trace (heavy ball and Nesterov)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

STEPS = 10
ZERO_STEP = 3  # an all-zero gradient at this step


def _grad_steps(seed):
    """Random float64 gradients {"w": (3, 4), "b": (4,)}, one step all zeros."""
    rng = np.random.default_rng(seed)
    steps = [{"w": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,))} for _ in range(STEPS)]
    steps[ZERO_STEP] = {k: np.zeros_like(v) for k, v in steps[ZERO_STEP].items()}
    return steps


def _run(tx, grad_steps):
    params = {k: jnp.ones_like(v) for k, v in grad_steps[0].items()}
    state = tx.init(params)
    out = []
    for g in grad_steps:
        u, state = tx.update(jax.tree.map(jnp.asarray, g), state, params)
        out.append(u)
    return out, state


def _trace_reference(grads, mu, nesterov):
    """v_t = g_t + mu v_{t-1}; u_t = v_t (heavy ball) or g_t + mu v_t (Nesterov)."""
    v = np.zeros_like(grads[0])
    out = []
    for g in grads:
        v = g + mu * v
        out.append(g + mu * v if nesterov else v)
    return out, v


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9])
def test_trace_matches_numpy_reference(decay, nesterov):
    grad_steps = _grad_steps(0)
    got, state = _run(gradtx.trace(decay, nesterov=nesterov), grad_steps)
    for key in grad_steps[0]:
        expected, velocity = _trace_reference([g[key] for g in grad_steps], decay, nesterov)
        for u, e in zip(got, expected, strict=True):
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0)
        np.testing.assert_allclose(state.trace[key], velocity, rtol=1e-12, atol=0)


def _assert_jit_matches(jitted, eager):
    """Equal to 1e-15 of each array's largest entry: under jit XLA fuses a * b + c into one
    multiply-add, which can differ by an ulp of the operands, more than an ulp of a small result."""
    assert jax.tree.structure(jitted) == jax.tree.structure(eager)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-15 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
def test_trace_jit_matches_eager(nesterov):
    tx = gradtx.trace(0.9, nesterov=nesterov)
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    state = tx.init(params)
    jit_update = jax.jit(tx.update)
    for g in _grad_steps(1):
        g = jax.tree.map(jnp.asarray, g)
        eager_u, eager_state = tx.update(g, state, params)
        jit_u, jit_state = jit_update(g, state, params)
        _assert_jit_matches(jit_u, eager_u)
        _assert_jit_matches(jit_state, eager_state)
        state = eager_state


def _mixed_params():
    return {"a": jnp.ones(3), "b": [jnp.ones((2, 2)), None, 1.5], "c": (jnp.ones(()),)}


def _mixed_grads():
    return {
        "a": jnp.asarray([0.1, -0.2, 0.3]),
        "b": [jnp.asarray([[1.0, -1.0], [0.5, 0.0]]), None, 0.25],
        "c": (jnp.asarray(-0.4),),
    }


def _shapes(tree):
    return [jnp.shape(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
def test_trace_keeps_mixed_tree_structure_and_shapes(nesterov):
    tx = gradtx.trace(0.9, nesterov=nesterov)
    params, grads = _mixed_params(), _mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert _shapes(updates) == _shapes(grads)
    assert jax.tree.structure(state.trace) == jax.tree.structure(params)
    assert _shapes(state.trace) == _shapes(params)


def test_trace_accumulator_dtype_sets_velocity_dtype():
    tx = gradtx.trace(0.9, accumulator_dtype=jnp.float32)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert state.trace["w"].dtype == jnp.float32
    updates, state = tx.update({"w": jnp.ones(3)}, state, params)
    assert updates["w"].dtype == jnp.float64
    assert state.trace["w"].dtype == jnp.float32


def test_trace_state_mismatch_error_names_path():
    tx = gradtx.trace(0.9)
    state = tx.init({"a": jnp.ones(2), "c": jnp.ones(2)})
    with pytest.raises(ValueError, match="different tree structures") as info:
        tx.update({"a": jnp.ones(2), "b": jnp.ones(2)}, state)
    assert "trace" in str(info.value) and "['b']" in str(info.value)


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_trace_rejects_decay_outside_unit_interval(decay):
    with pytest.raises(ValueError, match=r"trace: decay must be in \[0, 1\)"):
        gradtx.trace(decay)
