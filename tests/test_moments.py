"""Tests of gradtx/_transforms/moments.py: scale_by_rss, scale_by_adadelta, scale_by_rms (the Adam
family is in test_adam.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers

# NumPy transcriptions of the docstring equations, one array at a time; t counts from 1.


def _rss_reference(grads, initial_accumulator_value=0.1, eps=1e-7):
    G = np.full_like(grads[0], initial_accumulator_value)
    out = []
    for g in grads:
        G = G + g**2
        out.append(np.where(G == 0, 0.0, g / np.sqrt(G + eps)))
    return out


def _adadelta_reference(grads, rho=0.9, eps=1e-6):
    e_g = np.zeros_like(grads[0])
    e_x = np.zeros_like(grads[0])
    out = []
    for g in grads:
        e_g = rho * e_g + (1 - rho) * g**2
        u = np.sqrt(e_x + eps) / np.sqrt(e_g + eps) * g
        e_x = rho * e_x + (1 - rho) * u**2
        out.append(u)
    return out


def _rms_reference(
    grads,
    decay=0.9,
    eps=1e-8,
    initial_scale=0.0,
    eps_in_sqrt=True,
    bias_correction=False,
    centered=False,
):
    v = np.full_like(grads[0], initial_scale)
    m = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        v = decay * v + (1 - decay) * g**2
        m = decay * m + (1 - decay) * g
        c = 1 - decay**t if bias_correction else 1.0
        second = v / c - (m / c) ** 2 if centered else v / c
        out.append(g / (np.sqrt(second + eps) if eps_in_sqrt else np.sqrt(second) + eps))
    return out


RMS_OPTIONS = [
    {},
    {"eps_in_sqrt": False},
    {"centered": True},
    {"centered": True, "eps_in_sqrt": False},
    {"bias_correction": True},
    # Bias-corrected, the centered variance is 0 at t = 1 (v_hat = g^2, m_hat = g), so rounding in
    # v_hat - m_hat^2 is amplified by 1 / eps; eps = 10 keeps the problem well conditioned. The
    # degenerate case has its own test below.
    {"bias_correction": True, "centered": True, "eps": 10.0},
    {"initial_scale": 1.0},
    {"initial_scale": 1.0, "bias_correction": True, "eps_in_sqrt": False},
    {"decay": 0.5, "eps": 1e-3},
]


def _rms(decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True, bias_correction=False, **kw):
    return gradtx.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, **kw)


def _cases():
    """name -> (make transformation, per-array NumPy reference)."""
    cases = {
        "scale_by_rss": (lambda: gradtx.scale_by_rss(), _rss_reference),
        "scale_by_rss-zero_start": (
            lambda: gradtx.scale_by_rss(0.0, 1e-3),
            lambda gs: _rss_reference(gs, 0.0, 1e-3),
        ),
        "scale_by_adadelta": (lambda: gradtx.scale_by_adadelta(), _adadelta_reference),
        "scale_by_adadelta-custom": (
            lambda: gradtx.scale_by_adadelta(0.5, 1e-3),
            lambda gs: _adadelta_reference(gs, 0.5, 1e-3),
        ),
    }
    for options in RMS_OPTIONS:
        name = "-".join(["scale_by_rms", *(f"{k}={v}" for k, v in options.items())])
        cases[name] = (
            lambda options=options: _rms(**options),
            lambda gs, options=options: _rms_reference(gs, **options),
        )
    return cases


CASES = _cases()
# Cases that differ from another only in numeric hyperparameters run the same program: the jit and
# tree-shape tests skip them to stay fast.
NUMERIC_ONLY = (
    "scale_by_rss-zero_start",
    "scale_by_adadelta-custom",
    "scale_by_rms-decay=0.5-eps=0.001",
)
CODE_PATHS = [name for name in CASES if name not in NUMERIC_ONLY]


def _check_reference(name):
    make, reference = CASES[name]
    grad_steps = helpers.grad_steps(0)
    got, _ = helpers.run(make(), grad_steps)
    for key in grad_steps[0]:
        expected = reference([g[key] for g in grad_steps])
        for t, (u, e) in enumerate(zip(got, expected, strict=True), 1):
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0, err_msg=f"{key}, t={t}")


def _names(function):
    return [name for name in CASES if name.split("-")[0] == function]


@pytest.mark.parametrize("name", _names("scale_by_rss"))
def test_scale_by_rss_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", _names("scale_by_adadelta"))
def test_scale_by_adadelta_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", _names("scale_by_rms"))
def test_scale_by_rms_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", CODE_PATHS)
def test_moments_jit_matches_eager(name):
    tx = CASES[name][0]()
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(1)[:5])


# The state fields that hold one entry per parameter.
PER_PARAM_FIELDS = {
    gradtx.ScaleByRssState: ("sum_of_squares",),
    gradtx.ScaleByAdadeltaState: ("e_g", "e_x"),
    gradtx.ScaleByRmsState: ("nu", "mu"),
}


@pytest.mark.parametrize("name", CODE_PATHS)
def test_moments_keep_mixed_tree_structure_and_shapes(name):
    tx = CASES[name][0]()
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)
    assert all(jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates))
    for field in PER_PARAM_FIELDS[type(state)]:
        moment = getattr(state, field)
        if moment is None:  # scale_by_rms's mu when not centered
            continue
        assert jax.tree.structure(moment) == jax.tree.structure(params), field
        assert helpers.shapes(moment) == helpers.shapes(params), field


@pytest.mark.parametrize("centered", [False, True])
def test_scale_by_rms_mu_is_none_unless_centered(centered):
    state = gradtx.scale_by_rms(centered=centered).init({"w": jnp.ones(2)})
    assert (state.mu is None) != centered
    np.testing.assert_array_equal(state.nu["w"], 0.0)


def test_scale_by_rms_initial_scale_sets_nu_0():
    state = gradtx.scale_by_rms(initial_scale=1.0).init({"w": jnp.ones(2)})
    np.testing.assert_array_equal(state.nu["w"], [1.0, 1.0])


def test_scale_by_rms_counts_steps():
    tx = gradtx.scale_by_rms()
    state = tx.init(jnp.ones(2))
    assert state.count == 0 and state.count.dtype == jnp.int32
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state)
    assert state.count == 3


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("eps_in_sqrt", [True, False])
def test_scale_by_rms_centered_bias_corrected_is_finite_on_constant_gradients(eps_in_sqrt, dtype):
    # With a constant gradient, v_hat_t - m_hat_t^2 = g^2 - g^2 = 0 exactly; rounding must not turn
    # it negative and the update into sqrt(negative) = NaN (u_t = g_t / sqrt(eps) or g_t / eps).
    tx = gradtx.scale_by_rms(eps_in_sqrt=eps_in_sqrt, bias_correction=True, centered=True)
    g = jnp.asarray(np.random.default_rng(0).normal(size=100), dtype)
    state = tx.init(g)
    for _ in range(3):
        updates, state = tx.update(g, state)
        assert updates.dtype == dtype
        assert bool(jnp.all(jnp.isfinite(updates)))


def test_scale_by_rss_zero_accumulator_gives_zero_update():
    tx = gradtx.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    updates, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(updates, np.zeros(3))


def test_scale_by_rms_state_mismatch_error_names_path():
    tx = gradtx.scale_by_rms()
    state = tx.init({"a": jnp.ones(2), "c": jnp.ones(2)})
    with pytest.raises(ValueError, match="different tree structures") as info:
        tx.update({"a": jnp.ones(2), "b": jnp.ones(2)}, state)
    message = str(info.value)
    assert "scale_by_rms" in message and "['b']" in message and "['c']" in message


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gradtx.scale_by_rms(decay=1.0), "scale_by_rms: decay must be in"),
        (lambda: gradtx.scale_by_rms(initial_scale=-1.0), "scale_by_rms: initial_scale"),
        (lambda: gradtx.scale_by_adadelta(rho=1.5), "scale_by_adadelta: rho must be in"),
        (lambda: gradtx.scale_by_rss(eps=float("nan")), "scale_by_rss: eps must be >= 0"),
    ],
)
def test_moments_reject_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_scale_by_stddev_matches_optax(eps_in_sqrt, bias_correction):
    import optax

    from tests import replay

    args = (0.8, 1e-6, 0.1, eps_in_sqrt, bias_correction)
    mine = gradtx.chain(gradtx.scale_by_stddev(*args), gradtx.scale(-0.01))
    theirs = optax.chain(optax.scale_by_stddev(*args), optax.scale(-0.01))
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes its int32 count in
        assert replay.replay_difference(mine, theirs) <= 1e-10
        if not bias_correction:
            # With bias_correction the variance at t = 1 is exactly 0 plus rounding noise (see
            # test_aliases' rmsprop settings): Rosenbrock's first gradient, 1e2 to 1e3, makes
            # that noise reach the step; the replayed gradients keep it under eps, and match.
            assert replay.rosenbrock_difference(mine, theirs) <= 1e-10
