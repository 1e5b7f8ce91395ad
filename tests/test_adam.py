"""Tests of gradtx/_transforms/adam.py: scale_by_adam, scale_by_adamax, scale_by_amsgrad,
scale_by_nadam, each option against a NumPy transcription of its equation.

The convention options (`eps_uncorrected`, `raw_max`, `eps_in_max`, Dozat's momentum schedule)
are transcribed in the form of the framework that uses them (Keras' lr_t, torch's denominators),
not from gradtx's docstring, so that the test checks the equivalence the docstring claims.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers

RTOL = 1e-12


def varied(rng, shape):
    """Gradients whose scale changes from step to step (1e-2 to 10), so that a running maximum
    and a bias correction taken in either order differ."""
    return rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 1, size=shape)


# NumPy transcriptions, one array at a time; t counts from 1.
def _adam_reference(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        out.append(m_hat / (np.sqrt(v_hat + eps_root) + eps))
    return out


def _adam_uncorrected_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba, Section 2 (Keras' Adam): alpha_t = sqrt(1 - b2^t) / (1 - b1^t) and
    u_t = alpha_t m_t / (sqrt(v_t) + eps), eps added before the bias correction."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        alpha_t = np.sqrt(1 - b2**t) / (1 - b1**t)
        out.append(alpha_t * m / (np.sqrt(v) + eps))
    return out


def _adamax_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros_like(grads[0])
    u_inf = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        u_inf = np.maximum(b2 * u_inf, np.abs(g) + eps)
        out.append(m / (1 - b1**t) / u_inf)
    return out


def _adamax_keras_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    """Keras' Adamax: u_t = max(b2 u_{t-1}, |g_t|), step lr / (1 - b1^t) * m_t / (u_t + eps)."""
    m = np.zeros_like(grads[0])
    u_inf = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        u_inf = np.maximum(b2 * u_inf, np.abs(g))
        out.append(1 / (1 - b1**t) * m / (u_inf + eps))
    return out


def _amsgrad_reference(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    v_max = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v / (1 - b2**t))
        out.append(m / (1 - b1**t) / (np.sqrt(v_max + eps_root) + eps))
    return out


def _amsgrad_torch_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.Adam(amsgrad=True): the maximum of the raw v_t, bias-corrected afterwards,
    denom = sqrt(max v) / sqrt(1 - b2^t) + eps."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    v_max = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        denom = np.sqrt(v_max) / np.sqrt(1 - b2**t) + eps
        out.append(m / (1 - b1**t) / denom)
    return out


def _amsgrad_keras_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    """Keras' Adam(amsgrad=True): v_hat = max(v_hat, v_t) of the raw v_t, then Section 2's
    alpha_t m_t / (sqrt(v_hat) + eps)."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    v_hat = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_hat = np.maximum(v_hat, v)
        alpha_t = np.sqrt(1 - b2**t) / (1 - b1**t)
        out.append(alpha_t * m / (np.sqrt(v_hat) + eps))
    return out


def _amsgrad_corrected_max_uncorrected_eps_reference(grads, b1=0.9, b2=0.999, eps=1e-8):
    """The maximum of the bias-corrected v_hat_t, eps / sqrt(1 - b2^t) outside the root."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    v_max = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v / (1 - b2**t))
        out.append(m / (1 - b1**t) / (np.sqrt(v_max) + eps / np.sqrt(1 - b2**t)))
    return out


def _nadam_reference(grads, b1=0.9, b2=0.999, eps=1e-8, psi=4e-3):
    """torch.optim.NAdam (Dozat's momentum schedule), the two terms of its update as torch adds
    them: mu_t = b1 (1 - 0.96^(t psi) / 2), and the product of the mu_t."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    product = 1.0
    out = []
    for t, g in enumerate(grads, 1):
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        denom = np.sqrt(v / (1 - b2**t)) + eps
        first = (1 - mu) / (1 - product) * g / denom
        second = mu_next / (1 - product * mu_next) * m / denom
        out.append(first + second)
    return out


def _nadam_product(steps, b1=0.9, psi=4e-3):
    return np.prod([b1 * (1.0 - 0.5 * 0.96 ** (t * psi)) for t in range(1, steps + 1)])


# name -> (make the transformation, NumPy reference).
ADAM = {
    "default": (gradtx.scale_by_adam, _adam_reference),
    "custom": (
        lambda: gradtx.scale_by_adam(0.5, 0.8, 1e-3),
        lambda gs: _adam_reference(gs, 0.5, 0.8, 1e-3),
    ),
    "nesterov": (
        lambda: gradtx.scale_by_adam(0.8, 0.9, nesterov=True),
        lambda gs: _adam_reference(gs, 0.8, 0.9, nesterov=True),
    ),
    "eps_root": (
        lambda: gradtx.scale_by_adam(eps_root=1e-2),
        lambda gs: _adam_reference(gs, eps_root=1e-2),
    ),
    "nesterov_eps_root": (
        lambda: gradtx.scale_by_adam(eps_root=1e-2, nesterov=True),
        lambda gs: _adam_reference(gs, eps_root=1e-2, nesterov=True),
    ),
    # A large eps and a fast b2, so that eps / sqrt(1 - b2^t) and eps differ visibly.
    "eps_uncorrected": (
        lambda: gradtx.scale_by_adam(0.8, 0.9, 0.1, eps_uncorrected=True),
        lambda gs: _adam_uncorrected_reference(gs, 0.8, 0.9, 0.1),
    ),
    "eps_uncorrected_default": (
        lambda: gradtx.scale_by_adam(eps_uncorrected=True),
        _adam_uncorrected_reference,
    ),
}
ADAMAX = {
    "default": (gradtx.scale_by_adamax, _adamax_reference),
    "custom": (
        lambda: gradtx.scale_by_adamax(0.5, 0.7, 1e-2),
        lambda gs: _adamax_reference(gs, 0.5, 0.7, 1e-2),
    ),
    "eps_in_max_false": (
        lambda: gradtx.scale_by_adamax(0.5, 0.7, 0.1, eps_in_max=False),
        lambda gs: _adamax_keras_reference(gs, 0.5, 0.7, 0.1),
    ),
}
AMSGRAD = {
    "default": (gradtx.scale_by_amsgrad, _amsgrad_reference),
    "custom": (
        lambda: gradtx.scale_by_amsgrad(0.5, 0.8, 1e-3, eps_root=1e-2),
        lambda gs: _amsgrad_reference(gs, 0.5, 0.8, 1e-3, eps_root=1e-2),
    ),
    "raw_max": (
        lambda: gradtx.scale_by_amsgrad(0.8, 0.9, 1e-3, raw_max=True),
        lambda gs: _amsgrad_torch_reference(gs, 0.8, 0.9, 1e-3),
    ),
    "raw_max_eps_uncorrected": (
        lambda: gradtx.scale_by_amsgrad(0.8, 0.9, 0.1, raw_max=True, eps_uncorrected=True),
        lambda gs: _amsgrad_keras_reference(gs, 0.8, 0.9, 0.1),
    ),
    "eps_uncorrected": (
        lambda: gradtx.scale_by_amsgrad(0.8, 0.9, 0.1, eps_uncorrected=True),
        lambda gs: _amsgrad_corrected_max_uncorrected_eps_reference(gs, 0.8, 0.9, 0.1),
    ),
}
NADAM = {
    "default": (gradtx.scale_by_nadam, _nadam_reference),
    # psi = 0.1 makes the schedule move within ten steps; psi = 0 fixes mu_t at b1 / 2.
    "fast_schedule": (
        lambda: gradtx.scale_by_nadam(0.8, 0.9, 1e-3, momentum_decay=0.1),
        lambda gs: _nadam_reference(gs, 0.8, 0.9, 1e-3, psi=0.1),
    ),
    "no_schedule": (
        lambda: gradtx.scale_by_nadam(momentum_decay=0.0),
        lambda gs: _nadam_reference(gs, psi=0.0),
    ),
}
CASES = {
    f"{function}-{name}": case
    for function, cases in [
        ("scale_by_adam", ADAM),
        ("scale_by_adamax", ADAMAX),
        ("scale_by_amsgrad", AMSGRAD),
        ("scale_by_nadam", NADAM),
    ]
    for name, case in cases.items()
}
# Cases that differ from another only in numeric hyperparameters run the same program: the jit and
# tree-shape tests skip them to stay fast.
CODE_PATHS = [
    name for name in CASES if not name.endswith(("-custom", "_default", "-fast_schedule"))
]


def _check_reference(name):
    """On unit-scale gradients and on `varied` ones."""
    make, reference = CASES[name]
    for draw in (helpers.normal, varied):
        grad_steps = helpers.grad_steps(0, draw)
        got, _ = helpers.run(make(), grad_steps)
        for key in grad_steps[0]:
            expected = reference([g[key] for g in grad_steps])
            for t, (u, e) in enumerate(zip(got, expected, strict=True), 1):
                assert u[key].dtype == jnp.float64
                what = f"{key}, t={t}, {draw.__name__}"
                np.testing.assert_allclose(u[key], e, rtol=RTOL, atol=0, err_msg=what)


def _names(function):
    return [name for name in CASES if name.startswith(function + "-")]


@pytest.mark.parametrize("name", _names("scale_by_adam"))
def test_scale_by_adam_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", _names("scale_by_adamax"))
def test_scale_by_adamax_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", _names("scale_by_amsgrad"))
def test_scale_by_amsgrad_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("name", _names("scale_by_nadam"))
def test_scale_by_nadam_matches_numpy_reference(name):
    _check_reference(name)


@pytest.mark.parametrize("psi", [4e-3, 0.1])
def test_scale_by_nadam_mu_product_is_the_product_of_the_schedule(psi):
    tx = gradtx.scale_by_nadam(momentum_decay=psi)
    _, state = helpers.run(tx, helpers.grad_steps(1))
    np.testing.assert_allclose(state.mu_product, _nadam_product(helpers.STEPS, psi=psi), rtol=RTOL)
    assert int(state.count) == helpers.STEPS


def test_scale_by_nadam_differs_from_optax_nadam():
    """Dozat's schedule is not the constant mu_t = b1 of `scale_by_adam(nesterov=True)`."""
    grad_steps = helpers.grad_steps(2)
    dozat, _ = helpers.run(gradtx.scale_by_nadam(), grad_steps)
    optax, _ = helpers.run(gradtx.scale_by_adam(nesterov=True), grad_steps)
    assert not np.allclose(dozat[-1]["w"], optax[-1]["w"], rtol=1e-3)


@pytest.mark.parametrize("name", CODE_PATHS)
def test_scale_by_adam_family_jit_matches_eager(name):
    tx = CASES[name][0]()
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(1, varied)[:5])


# The state fields that hold one entry per parameter.
PER_PARAM_FIELDS = {
    gradtx.ScaleByAdamState: ("mu", "nu"),
    gradtx.ScaleByAmsgradState: ("mu", "nu", "nu_max"),
    gradtx.ScaleByNadamState: ("mu", "nu"),
}


@pytest.mark.parametrize("name", CODE_PATHS)
def test_scale_by_adam_family_keeps_mixed_tree_structure_and_shapes(name):
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
        assert jax.tree.structure(moment) == jax.tree.structure(params), field
        assert helpers.shapes(moment) == helpers.shapes(params), field


@pytest.mark.parametrize(
    "make",
    [gradtx.scale_by_adam, gradtx.scale_by_adamax, gradtx.scale_by_amsgrad, gradtx.scale_by_nadam],
)
def test_scale_by_adam_family_counts_steps(make):
    tx = make()
    state = tx.init(jnp.ones(2))
    assert state.count == 0 and state.count.dtype == jnp.int32
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state)
    assert state.count == 3


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda d: gradtx.scale_by_adam(mu_dtype=d), "mu"),
        (lambda d: gradtx.scale_by_adam(nu_dtype=d), "nu"),
        (lambda d: gradtx.scale_by_amsgrad(mu_dtype=d), "mu"),
    ],
)
def test_scale_by_adam_moment_dtype_sets_state_dtype(make, field):
    tx = make(jnp.float32)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert getattr(state, field)["w"].dtype == jnp.float32
    updates, state = tx.update({"w": jnp.full(3, 0.5)}, state, params)
    assert updates["w"].dtype == jnp.float64
    assert getattr(state, field)["w"].dtype == jnp.float32


@pytest.mark.parametrize("raw_max", [False, True])
def test_scale_by_amsgrad_nu_max_never_decreases(raw_max):
    tx = gradtx.scale_by_amsgrad(b2=0.5, raw_max=raw_max)
    state = tx.init(jnp.zeros(3))
    previous = state.nu_max
    for g in [jnp.asarray([3.0, 1.0, 0.0]), jnp.zeros(3), jnp.asarray([0.1, 2.0, 0.0])]:
        _, state = tx.update(g, state)
        assert bool(jnp.all(state.nu_max >= previous))
        previous = state.nu_max


def test_scale_by_amsgrad_raw_max_keeps_the_uncorrected_maximum():
    grad_steps = helpers.grad_steps(3, varied)
    _, state = helpers.run(gradtx.scale_by_amsgrad(b2=0.9, raw_max=True), grad_steps)
    v, v_max = 0.0, 0.0
    for g in grad_steps:
        v = 0.9 * v + 0.1 * g["w"] ** 2
        v_max = np.maximum(v_max, v)
    np.testing.assert_allclose(state.nu_max["w"], v_max, rtol=RTOL)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("count", [np.iinfo(np.int32).max - 1, np.iinfo(np.int32).max])
def test_scale_by_adam_at_saturated_count(count, nesterov):
    # `safe_increment` keeps t at int32's maximum; there b1^t = b2^t = 0 in float64, so
    # m_hat = m_t (or b1 m_t + (1 - b1) g_t with Nesterov) and v_hat = v_t.
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, v, g = np.array([0.5, -0.2]), np.array([0.3, 0.1]), np.array([1.0, 2.0])
    tx = gradtx.scale_by_adam(b1, b2, eps, nesterov=nesterov)
    state = gradtx.ScaleByAdamState(jnp.asarray(count, jnp.int32), jnp.asarray(m), jnp.asarray(v))
    updates, state = tx.update(jnp.asarray(g), state)
    assert state.count == np.iinfo(np.int32).max
    m_t, v_t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
    m_hat = b1 * m_t + (1 - b1) * g if nesterov else m_t
    np.testing.assert_allclose(updates, m_hat / (np.sqrt(v_t) + eps), rtol=1e-12, atol=0)


def test_scale_by_adam_state_mismatch_error_names_path():
    tx = gradtx.scale_by_adam()
    state = tx.init({"a": jnp.ones(2), "c": jnp.ones(2)})
    with pytest.raises(ValueError, match="different tree structures") as info:
        tx.update({"a": jnp.ones(2), "b": jnp.ones(2)}, state)
    message = str(info.value)
    assert "scale_by_adam" in message and "['b']" in message and "['c']" in message


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gradtx.scale_by_adam(b1=1.2), r"scale_by_adam: b1 must be in \[0, 1\), got 1.2"),
        (lambda: gradtx.scale_by_adam(b2=-0.1), "scale_by_adam: b2 must be in"),
        (lambda: gradtx.scale_by_adam(eps=-1.0), "scale_by_adam: eps must be >= 0"),
        (lambda: gradtx.scale_by_adamax(b1=1.0), "scale_by_adamax: b1 must be in"),
        (lambda: gradtx.scale_by_amsgrad(eps_root=-1e-8), "scale_by_amsgrad: eps_root"),
        (lambda: gradtx.scale_by_nadam(b2=1.0), "scale_by_nadam: b2 must be in"),
        (lambda: gradtx.scale_by_nadam(momentum_decay=-1.0), "scale_by_nadam: momentum_decay"),
    ],
)
def test_scale_by_adam_family_rejects_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()
