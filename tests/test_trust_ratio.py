"""Tests of `gradtx/_transforms/trust_ratio.py` (scale_by_trust_ratio) and of the trust-ratio
aliases (lars, lamb, fromage): a NumPy transcription of the docstring equation, the zero-norm
cases, and conformance with Optax 0.2.8 in float64 (maximum elementwise relative difference
<= 1e-10 over 120 replayed random gradients and 150 closed-loop steps on Rosenbrock).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _arrays_only(params):
    return jax.tree.map(lambda p: jnp.ndim(p) > 0, params)


SETTINGS = {
    "lamb": [
        dict(learning_rate=1e-3),
        dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-8, weight_decay=0.1),
        dict(learning_rate=3e-3, b1=0.5, eps_root=1e-10, weight_decay=1e-2, mask=_arrays_only),
    ],
    "lars": [
        dict(learning_rate=1e-3),
        dict(learning_rate=0.1, weight_decay=1e-2, trust_coefficient=0.01, eps=1e-8, nesterov=True),
        dict(
            learning_rate=0.05,
            weight_decay=1e-3,
            weight_decay_mask=_arrays_only,
            trust_ratio_mask=_arrays_only,
            momentum=0.5,
        ),
    ],
    "fromage": [
        dict(learning_rate=1e-2),
        dict(learning_rate=0.1, min_norm=1e-3),
        dict(learning_rate=lambda count: 0.05 / (1.0 + 0.1 * count), min_norm=0.0),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    return getattr(gradtx, name)(**kwargs), getattr(optax, name)(**kwargs)


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i):
    mine, theirs = _pair(name, i)
    assert replay.replay_difference(mine, theirs) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i):
    mine, theirs = _pair(name, i)
    assert replay.rosenbrock_difference(mine, theirs) <= RTOL


def _trust_ratio_numpy(g, p, min_norm, c, eps):
    param_norm = max(np.linalg.norm(p), min_norm)
    update_norm = max(np.linalg.norm(g), min_norm)
    if param_norm == 0 or update_norm == 0:
        return g
    return c * param_norm / (update_norm + eps) * g


@pytest.mark.parametrize("min_norm,c,eps", [(0.0, 1.0, 0.0), (0.5, 0.01, 1e-3), (10.0, 2.0, 0.1)])
def test_scale_by_trust_ratio_matches_numpy(min_norm, c, eps):
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,)), "s": rng.normal()}
    tx = gradtx.scale_by_trust_ratio(min_norm, c, eps)
    state = tx.init(params)
    for _ in range(3):
        g = jax.tree.map(lambda p: rng.normal(size=np.shape(p)), params)
        u, state = tx.update(jax.tree.map(jnp.asarray, g), state, jax.tree.map(jnp.asarray, params))
        want = jax.tree.map(lambda g_, p: _trust_ratio_numpy(g_, p, min_norm, c, eps), g, params)
        for got_leaf, want_leaf in zip(jax.tree.leaves(u), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(got_leaf, want_leaf, rtol=1e-12)


def test_scale_by_trust_ratio_keeps_updates_of_zero_params_or_zero_updates_as_optax_does():
    params = {"zero": jnp.zeros(3), "w": jnp.asarray([3.0, 4.0, 0.0])}
    updates = {"zero": jnp.asarray([1.0, -2.0, 0.5]), "w": jnp.zeros(3)}
    for tx in (gradtx.scale_by_trust_ratio(eps=1e-3), optax.scale_by_trust_ratio(eps=1e-3)):
        u, _ = tx.update(updates, tx.init(params), params)
        np.testing.assert_array_equal(u["zero"], updates["zero"])
        np.testing.assert_array_equal(u["w"], updates["w"])


def test_scale_by_trust_ratio_min_norm_clips_a_zero_norm():
    tx = gradtx.scale_by_trust_ratio(min_norm=0.5)
    params, g = jnp.zeros(2), jnp.asarray([0.0, 2.0])
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(u, 0.5 / 2.0 * g)


def test_scale_by_trust_ratio_computes_half_precision_norms_in_float32():
    """A bfloat16 leaf of 4096 ones: its squared norm, summed in bfloat16, would stall at 256."""
    params = jnp.ones(4096, jnp.bfloat16)
    g = jnp.full(4096, 2.0, jnp.bfloat16)
    tx = gradtx.scale_by_trust_ratio()
    u, _ = tx.update(g, tx.init(params), params)
    assert u.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(u, np.float32), np.ones(4096, np.float32))


def test_scale_by_trust_ratio_has_finite_gradients_at_zero_params():
    def step_norm(p):
        tx = gradtx.scale_by_trust_ratio(min_norm=1e-3)
        u, _ = tx.update(jnp.ones(3), tx.init(p), p)
        return jnp.sum(u)

    grad = jax.grad(step_norm)(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_scale_by_trust_ratio_needs_params():
    tx = gradtx.scale_by_trust_ratio()
    with pytest.raises(ValueError, match="scale_by_trust_ratio: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_fromage_keeps_the_norm_of_a_parameter_whose_gradient_is_orthogonal():
    """theta_t = (theta - eta |theta|/|g| g) / sqrt(1 + eta^2): with g orthogonal to theta the
    norm is unchanged."""
    eta = 0.3
    tx = gradtx.fromage(eta)
    theta, g = jnp.asarray([3.0, 4.0]), jnp.asarray([-4.0, 3.0])
    u, _ = tx.update(g, tx.init(theta), theta)
    new = theta + u
    np.testing.assert_allclose(jnp.linalg.norm(new), 5.0, rtol=1e-12)
    np.testing.assert_allclose(new, (theta - eta * g) / np.sqrt(1 + eta**2), rtol=1e-12)
