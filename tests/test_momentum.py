"""Tests of gradtx/_transforms/momentum.py: trace (heavy ball and Nesterov, torch's dampening)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers


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
    grad_steps = helpers.grad_steps(0)
    got, state = helpers.run(gradtx.trace(decay, nesterov=nesterov), grad_steps)
    for key in grad_steps[0]:
        expected, velocity = _trace_reference([g[key] for g in grad_steps], decay, nesterov)
        for u, e in zip(got, expected, strict=True):
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0)
        np.testing.assert_allclose(state.trace[key], velocity, rtol=1e-12, atol=0)


def _torch_sgd_reference(grads, mu, dampening, nesterov):
    """torch.optim.SGD's momentum buffer: b_1 = g_1, then b_t = mu b_{t-1} + (1 - d) g_t; the
    step is b_t, or g_t + mu b_t with Nesterov."""
    buf, out = None, []
    for g in grads:
        buf = g.copy() if buf is None else mu * buf + (1 - dampening) * g
        out.append(g + mu * buf if nesterov else buf)
    return out, buf


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
@pytest.mark.parametrize(("decay", "dampening"), [(0.9, 0.5), (0.5, 0.9), (0.9, 0.0)])
def test_trace_dampening_matches_torch_sgd(decay, dampening, nesterov):
    grad_steps = helpers.grad_steps(4)
    tx = gradtx.trace(decay, nesterov=nesterov, dampening=dampening)
    got, state = helpers.run(tx, grad_steps)
    for key in grad_steps[0]:
        grads = [g[key] for g in grad_steps]
        expected, velocity = _torch_sgd_reference(grads, decay, dampening, nesterov)
        for t, (u, e) in enumerate(zip(got, expected, strict=True), 1):
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0, err_msg=f"{key}, t={t}")
        np.testing.assert_allclose(state.trace[key], velocity, rtol=1e-12, atol=0)


def test_trace_first_step_is_not_damped():
    """v_1 = g_1 whatever the dampening; the second step is damped."""
    g1, g2 = jnp.asarray([1.0, -2.0]), jnp.asarray([0.5, 4.0])
    tx = gradtx.trace(0.9, dampening=0.75)
    u1, state = tx.update(g1, tx.init(g1))
    np.testing.assert_array_equal(u1, g1)
    np.testing.assert_array_equal(state.trace, g1)
    u2, _ = tx.update(g2, state)
    np.testing.assert_allclose(u2, 0.9 * g1 + 0.25 * g2, rtol=1e-15)


def test_trace_dampening_under_jit_equals_eager():
    tx = gradtx.trace(0.9, dampening=0.5)
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(1)[:4])


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
def test_trace_jit_matches_eager(nesterov):
    tx = gradtx.trace(0.9, nesterov=nesterov)
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(1))


@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
def test_trace_keeps_mixed_tree_structure_and_shapes(nesterov):
    tx = gradtx.trace(0.9, nesterov=nesterov)
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)
    assert jax.tree.structure(state.trace) == jax.tree.structure(params)
    assert helpers.shapes(state.trace) == helpers.shapes(params)


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
