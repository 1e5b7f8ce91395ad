"""Tests of gradtx/_transforms/muon.py and the `muon` alias: NumPy transcriptions of the
Newton-Schulz step and the shape factor, and conformance with optax.contrib 0.2.8 (float64, max
elementwise relative difference <= 1e-10)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _dims(kind):
    """Dimension numbers for `_params`, in gradtx's or Optax's type."""
    numbers = (
        gradtx.MuonDimensionNumbers if kind == "gradtx" else optax.contrib.MuonDimensionNumbers
    )
    tree = {"w": numbers(0, 1), "v": numbers(1, 0), "c": numbers((0,), (2,)), "b": None, "s": None}
    return lambda params: tree


SETTINGS = [
    dict(learning_rate=1e-2),
    dict(
        learning_rate=2e-2,
        beta=0.9,
        nesterov=False,
        weight_decay=1e-2,
        adam_b1=0.8,
        adam_weight_decay=1e-3,
        consistent_rms=0.2,
        adam_learning_rate=1e-3,
    ),
    dict(learning_rate=1e-2, ns_coeffs="dion", adaptive=True, preconditioning="aol"),
    dict(learning_rate=1e-2, preconditioning="schatten", ns_steps=3, mu_dtype=jnp.float64),
    dict(learning_rate=optax.linear_schedule(1e-2, 1e-3, 100), preconditioning="spectral"),
    dict(learning_rate=1e-2, muon_weight_dimension_numbers="dims"),
]


def _pair(i):
    kwargs = dict(SETTINGS[i])
    mine, theirs = dict(kwargs), dict(kwargs)
    if kwargs.get("muon_weight_dimension_numbers") == "dims":
        mine["muon_weight_dimension_numbers"] = _dims("gradtx")
        theirs["muon_weight_dimension_numbers"] = _dims("optax")
    return gradtx.muon(**mine), optax.contrib.muon(**theirs)


def _params(seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"w": (4, 3), "v": (3, 5), "c": (2, 3, 4), "b": (3,), "s": ()}
    return {k: jnp.asarray(rng.normal(size=s)) for k, s in shapes.items()}


@pytest.mark.parametrize("i", range(len(SETTINGS)))
def test_muon_matches_optax_on_replayed_gradients(i):
    mine, theirs = _pair(i)
    params = _params()
    grads = replay.replay_gradients(params)
    got = replay.run_replay(mine, params, grads)
    want = replay.run_replay(theirs, params, grads, apply=optax.apply_updates)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(want))
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("i", range(len(SETTINGS) - 1))  # the last names `_params`' leaves
def test_muon_matches_optax_on_rosenbrock_and_a_matrix_problem(i):
    """Rosenbrock's (2,) params take the AdamW branch; a matrix regression takes Muon's, for 60
    steps: near its optimum Muon's step has a fixed size whatever the gradient's, so its
    direction is set by rounding noise and two runs part ways. The regression has no bias: a
    bias takes the AdamW branch, whose steps differ from Optax's in the last bits (2e-14 after
    120 replayed steps, `gradtx.adamw` against `optax.adamw`), and the Newton-Schulz iteration
    amplifies that through the shared loss (7e-9 after 60 steps)."""
    mine, theirs = _pair(i)
    got = replay.run_rosenbrock(mine)
    want = replay.run_rosenbrock(theirs, apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0])
    assert replay.max_relative_difference(got, want) <= RTOL
    rng = np.random.default_rng(5)
    x, target = jnp.asarray(rng.normal(size=(8, 4))), jnp.asarray(rng.normal(size=(8, 3)))
    loss = lambda p: jnp.sum((x @ p["w"] - target) ** 2)  # noqa: E731
    start = {"w": jnp.zeros((4, 3))}

    def run(tx, apply):
        steps = helpers.steps(tx, start, jax.grad(loss), count=60, apply=apply, jit=True)
        return [s.params for s in steps]

    got, want = run(mine, gradtx.apply_updates), run(theirs, optax.apply_updates)
    assert float(loss(got[-1])) < 0.8 * float(loss(start))
    assert replay.max_relative_difference(got, want) <= RTOL


# --- NumPy transcriptions.


def _numpy_orthogonalize(m, coeffs, eps):
    x = m.T if m.shape[0] > m.shape[1] else m
    x = x / (np.linalg.norm(x) + eps)
    for a, b, c in coeffs:
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if m.shape[0] > m.shape[1] else x


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3)])
def test_scale_by_muon_matches_numpy_transcription(nesterov, shape):
    rng = np.random.default_rng(7)
    grads = [rng.normal(size=shape) for _ in range(4)]
    beta, eps, coeffs = 0.9, 1e-7, [(3.0, -3.2, 1.2), (2.0, -1.5, 0.5)]
    tx = gradtx.scale_by_muon(coeffs, beta=beta, eps=eps, nesterov=nesterov)
    state, m = tx.init(jnp.zeros(shape)), np.zeros(shape)
    for t, g in enumerate(grads, start=1):
        updates, state = tx.update(jnp.asarray(g), state)
        m = beta * m + (1 - beta) * g
        if nesterov:
            m_hat = beta * m / (1 - beta ** (t + 1)) + (1 - beta) * g / (1 - beta**t)
        else:
            m_hat = m / (1 - beta**t)
        np.testing.assert_allclose(updates, _numpy_orthogonalize(m_hat, coeffs, eps), rtol=1e-12)


def test_scale_by_muon_with_the_default_coefficients_nearly_orthogonalizes():
    g = jnp.asarray(np.random.default_rng(1).normal(size=(6, 4)))
    tx = gradtx.scale_by_muon(nesterov=False)
    u, _ = tx.update(g, tx.init(g))
    singular_values = np.linalg.svd(np.asarray(u), compute_uv=False)
    assert np.all((singular_values > 0.5) & (singular_values < 1.5))


def test_scale_by_shape_matches_numpy_transcription():
    updates = {"tall": jnp.ones((8, 2)), "wide": jnp.ones((2, 8)), "bias": jnp.ones(3)}
    dims = {
        "tall": gradtx.MuonDimensionNumbers(),
        "wide": gradtx.MuonDimensionNumbers(),
        "bias": None,
    }
    width = gradtx.scale_by_shape(dims)
    u, _ = width.update(updates, width.init(updates))
    np.testing.assert_allclose(u["tall"], 1.0)  # sqrt(max(1, 2 / 8))
    np.testing.assert_allclose(u["wide"], 2.0)  # sqrt(max(1, 8 / 2))
    np.testing.assert_array_equal(u["bias"], 1.0)  # not a matrix: unchanged
    rms = gradtx.scale_by_shape(dims, consistent_rms=0.2)
    u, _ = rms.update(updates, rms.init(updates))
    np.testing.assert_allclose(u["tall"], 0.2 * np.sqrt(8))


def test_batched_weight_is_orthogonalized_matrix_by_matrix():
    g = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3, 4)))
    dims = gradtx.MuonDimensionNumbers(reduction_axis=1, output_axis=2)
    tx = gradtx.scale_by_muon(nesterov=False, weight_dimension_numbers=dims)
    u, _ = tx.update(g, tx.init(g))
    for k in range(2):
        one = gradtx.scale_by_muon(nesterov=False)
        want, _ = one.update(g[k], one.init(g[k]))
        np.testing.assert_allclose(u[k], want, rtol=1e-12)


# --- Where Optax 0.2.8 is surprising.


def test_coefficient_table_longer_than_ns_steps_runs_where_optax_raises():
    """Optax documents that ns_steps is ignored for a table of coefficients, yet raises
    "Not enough coeffs" when the table has more rows than ns_steps; gradtx runs every row."""
    params = {"w": jnp.ones((3, 4))}
    grads = {"w": jnp.asarray(np.random.default_rng(4).normal(size=(3, 4)))}
    with pytest.raises(ValueError, match="Not enough coeffs to perform 3 steps"):
        optax.contrib.muon(1e-2, ns_coeffs="dion", ns_steps=3).init(params)
    mine = gradtx.muon(1e-2, ns_coeffs="dion", ns_steps=3)
    same = gradtx.muon(1e-2, ns_coeffs="dion")  # ns_steps ignored, as documented
    theirs = optax.contrib.muon(1e-2, ns_coeffs="dion")
    got = replay.run_replay(mine, params, [grads] * 3)
    assert replay.max_relative_difference(got, replay.run_replay(same, params, [grads] * 3)) == 0
    want = replay.run_replay(theirs, params, [grads] * 3, apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


def test_scale_by_muon_names_a_leaf_that_is_not_a_matrix():
    tx = gradtx.scale_by_muon()
    with pytest.raises(ValueError, match=r"^scale_by_muon: a leaf of shape \(3,\) is not a matrix"):
        tx.update(jnp.ones(3), tx.init(jnp.ones(3)))


def test_muon_sends_matrices_to_muon_and_the_rest_to_adamw():
    params = _params()
    state = gradtx.muon(1e-2).init(params)
    inner = state.inner_states
    assert jax.tree.leaves(inner["muon"][0].mu) and len(jax.tree.leaves(inner["muon"][0].mu)) == 2
    assert len(jax.tree.leaves(inner["adam"][0].mu)) == 3


@pytest.mark.parametrize("preconditioning", ["aol", "schatten"])
def test_first_step_preconditioning_uses_eps_where_optax_fixes_1e_8(preconditioning):
    """Optax 0.2.8 floors the first step's rescaling at 1e-8 whatever `eps` is; gradtx uses `eps`.
    The floor acts on a small momentum: here |g| ~ 1e-3, so |A_0| ~ 1e-6 < eps = 1e-3."""
    g = {"w": jnp.asarray(1e-3 * np.random.default_rng(6).normal(size=(3, 4)))}
    dims = {"w": optax.contrib.MuonDimensionNumbers()}

    def update(tx):
        return tx.update(g, tx.init(g))[0]["w"]

    def optax_muon(eps):
        return optax.contrib.scale_by_muon(
            eps=eps, preconditioning=preconditioning, weight_dimension_numbers=dims
        )

    mine = update(gradtx.scale_by_muon(eps=1e-3, preconditioning=preconditioning))
    assert replay.max_relative_difference(mine, update(optax_muon(1e-3))) > 1e-3
    # Optax ignores eps there: its eps = 1e-3 is gradtx's eps = 1e-8.
    ignored = update(gradtx.scale_by_muon(eps=1e-8, preconditioning=preconditioning))
    assert replay.max_relative_difference(ignored, update(optax_muon(1e-3))) <= RTOL


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("form", ["torch", "keras"])
def test_scale_by_muon_framework_conventions_match_numpy_transcription(nesterov, form):
    """torch: m_t = b m + (1-b) g, no bias correction, look-ahead b m_t + (1-b) g, normalised
    by max(norm, eps); Keras: m_t = b m + g, look-ahead g + b m_t, norm + eps."""
    rng = np.random.default_rng(8)
    grads = [rng.normal(size=(5, 3)) * 1e-4 for _ in range(4)]
    beta, eps, coeffs = 0.9, 1e-3, [(3.0, -3.2, 1.2)] * 3
    torch_like = form == "torch"
    tx = gradtx.scale_by_muon(
        coeffs,
        beta=beta,
        eps=eps,
        nesterov=nesterov,
        debias=False,
        heavy_ball=not torch_like,
        eps_floor=torch_like,
    )
    state, m = tx.init(jnp.zeros((5, 3))), np.zeros((5, 3))
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state)
        m = beta * m + ((1 - beta) * g if torch_like else g)
        ahead = beta * m + (1 - beta) * g if torch_like else g + beta * m
        m_hat = ahead if nesterov else m
        x = m_hat.T
        x = x / (max(np.linalg.norm(x), eps) if torch_like else np.linalg.norm(x) + eps)
        for a, b, c in coeffs:
            gram = x @ x.T
            x = a * x + (b * gram + c * gram @ gram) @ x
        np.testing.assert_allclose(updates, x.T, rtol=1e-12)


def test_scale_by_muon_heavy_ball_needs_debias_off():
    with pytest.raises(ValueError, match=r"^scale_by_muon: debias must be False with heavy_ball"):
        gradtx.scale_by_muon(heavy_ball=True)
