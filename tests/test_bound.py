"""Tests of gradtx/_bound.py: rms_step_size, max_rms_step_size and bound_lr (AdaBound's band)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers

# NumPy transcriptions of the docstring equations, one array at a time; t counts from 1.


def _wide(rng, shape):
    """Both signs, magnitudes 1e-6 to 1e3: the band clips from above and below."""
    return rng.choice([-1.0, 1.0], size=shape) * 10.0 ** rng.uniform(-6, 3, size=shape)


def _step_size_reference(grads, b2=0.999, eps=1e-8, running_max=False):
    """s_t = sqrt(1 - b2^t) / (sqrt(v_t) + eps), v_t or its running maximum."""
    v = np.zeros_like(grads[0])
    v_max = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, 1):
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        out.append(np.sqrt(1 - b2**t) / (np.sqrt(v_max if running_max else v) + eps))
    return out


def _bound_reference(grads, step_sizes, lr, final_lr, gamma, b1=0.9):
    """m_t = b1 m + (1 - b1) g; eta*_t = final_lr lr_t / lr_0 (lr_0 > 0);
    u_t = -clip(lr_t s_t / (1 - b1^t), l_t, h_t) m_t. Also counts where the band clipped."""
    m = np.zeros_like(grads[0])
    out, clipped = [], {"lower": 0, "upper": 0, "inside": 0}
    lr0 = lr(0)
    for t, (g, s) in enumerate(zip(grads, step_sizes, strict=True), 1):
        m = b1 * m + (1 - b1) * g
        final = final_lr * lr(t - 1) / lr0 if lr0 > 0 else final_lr
        lower = final * (1 - 1 / (gamma * t + 1))
        upper = final * (1 + 1 / (gamma * t))
        raw = lr(t - 1) * s / (1 - b1**t)
        clipped["lower"] += int(np.sum(raw < lower))
        clipped["upper"] += int(np.sum(raw > upper))
        clipped["inside"] += int(np.sum((raw >= lower) & (raw <= upper)))
        out.append(-np.clip(raw, lower, upper) * m)
    return out, clipped


def _decaying_lr(count):
    return 1e-2 * 0.8 ** count.astype(jnp.float64)


def _warmup_lr(count):
    n = count.astype(jnp.float64)
    return 1e-2 * n / (n + 1)


STEP_SIZE_CASES = {
    "rms_step_size": (lambda: gradtx.rms_step_size(), {}),
    "rms_step_size_custom": (lambda: gradtx.rms_step_size(0.9, 1e-3), {"b2": 0.9, "eps": 1e-3}),
    "max_rms_step_size": (lambda: gradtx.max_rms_step_size(), {"running_max": True}),
    "max_rms_step_size_custom": (
        lambda: gradtx.max_rms_step_size(0.5, 1e-3),
        {"b2": 0.5, "eps": 1e-3, "running_max": True},
    ),
}


@pytest.mark.parametrize("name", STEP_SIZE_CASES)
def test_rms_step_size_matches_numpy_reference(name):
    make, options = STEP_SIZE_CASES[name]
    grad_steps = helpers.grad_steps(0, _wide)
    got, _ = helpers.run(make(), grad_steps)
    for key in grad_steps[0]:
        expected = _step_size_reference([g[key] for g in grad_steps], **options)
        for t, (s, e) in enumerate(zip(got, expected, strict=True), 1):
            assert s[key].dtype == jnp.float64
            np.testing.assert_allclose(s[key], e, rtol=1e-12, atol=0, err_msg=f"{key}, t={t}")


BOUND_CASES = {
    # name: (transformation, step-size options, lr as a function of t - 1, final_lr, gamma, b1)
    "adabound_constant_lr": (
        lambda: gradtx.bound_lr(gradtx.rms_step_size(), 1e-2, final_lr=0.05, gamma=0.1),
        {},
        lambda n: 1e-2,
        0.05,
        0.1,
        0.9,
    ),
    "amsbound_constant_lr": (
        lambda: gradtx.bound_lr(
            gradtx.max_rms_step_size(0.9), 1e-2, final_lr=0.05, gamma=0.1, b1=0.5
        ),
        {"b2": 0.9, "running_max": True},
        lambda n: 1e-2,
        0.05,
        0.1,
        0.5,
    ),
    "adabound_decaying_lr": (
        lambda: gradtx.bound_lr(gradtx.rms_step_size(), _decaying_lr, final_lr=0.05, gamma=0.1),
        {},
        lambda n: 1e-2 * 0.8**n,
        0.05,
        0.1,
        0.9,
    ),
    "amsbound_warmup_from_zero": (
        lambda: gradtx.bound_lr(gradtx.max_rms_step_size(), _warmup_lr, final_lr=0.05, gamma=0.1),
        {"running_max": True},
        lambda n: 1e-2 * n / (n + 1),
        0.05,
        0.1,
        0.9,
    ),
    "adabound_defaults": (
        lambda: gradtx.bound_lr(gradtx.rms_step_size()),
        {},
        lambda n: 1e-3,
        0.1,
        1e-3,
        0.9,
    ),
}


@pytest.mark.parametrize("name", BOUND_CASES)
def test_bound_lr_matches_numpy_reference(name):
    make, step_options, lr, final_lr, gamma, b1 = BOUND_CASES[name]
    grad_steps = helpers.grad_steps(1, _wide)
    got, _ = helpers.run(make(), grad_steps)
    seen = {"lower": 0, "upper": 0, "inside": 0}
    for key in grad_steps[0]:
        grads = [g[key] for g in grad_steps]
        steps = _step_size_reference(grads, **step_options)
        expected, clipped = _bound_reference(grads, steps, lr, final_lr, gamma, b1)
        seen = {k: seen[k] + clipped[k] for k in seen}
        for t, (u, e) in enumerate(zip(got, expected, strict=True), 1):
            assert u[key].dtype == jnp.float64
            np.testing.assert_allclose(u[key], e, rtol=1e-12, atol=0, err_msg=f"{key}, t={t}")
    assert seen["lower"] > 0 and seen["upper"] > 0  # the band was exercised on both sides


def _constant_step_sizes(value):
    """A step-size transformation with s_t = value everywhere."""

    def init(params):
        del params
        return gradtx.EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: jnp.full(g.shape, value, g.dtype), updates), state

    return gradtx.GradientTransformation(init, update)


@pytest.mark.parametrize("side", ["lower", "upper"])
@pytest.mark.parametrize(
    ("learning_rate", "lr"),
    [
        (0.02, lambda n: 0.02),
        (lambda count: 0.02 * 0.5 ** count.astype(jnp.float64), lambda n: 0.02 * 0.5**n),
    ],
    ids=["constant_lr", "schedule_lr"],
)
def test_bound_lr_clips_into_band_scaled_by_lr_over_lr0(side, learning_rate, lr):
    # s_t = 0 is clipped up to l_t, s_t = 1e30 down to h_t; with g_t = 1, m_t = 1 - b1^t.
    final_lr, gamma, b1 = 0.1, 0.5, 0.9
    tx = gradtx.bound_lr(
        _constant_step_sizes(0.0 if side == "lower" else 1e30),
        learning_rate,
        final_lr=final_lr,
        gamma=gamma,
        b1=b1,
    )
    state = tx.init(jnp.zeros(3))
    for t in range(1, 6):
        updates, state = tx.update(jnp.ones(3), state, jnp.zeros(3))
        final = final_lr * lr(t - 1) / lr(0)
        if side == "lower":
            bound = final * (1 - 1 / (gamma * t + 1))
        else:
            bound = final * (1 + 1 / (gamma * t))
        np.testing.assert_allclose(updates, np.full(3, -bound * (1 - b1**t)), rtol=1e-14, atol=0)


def test_bound_lr_band_is_not_rescaled_when_lr0_is_zero():
    final_lr, gamma, b1 = 0.1, 0.5, 0.9
    tx = gradtx.bound_lr(
        _constant_step_sizes(1e30),
        lambda count: 0.01 * count.astype(jnp.float64),  # 0 at the first step
        final_lr=final_lr,
        gamma=gamma,
        b1=b1,
    )
    state = tx.init(jnp.zeros(2))
    for t in range(1, 4):
        updates, state = tx.update(jnp.ones(2), state, jnp.zeros(2))
        # lr_1 = 0 puts the step 0 * s at the lower bound; later steps sit at the upper bound.
        if t == 1:
            bound = final_lr * (1 - 1 / (gamma * t + 1))
        else:
            bound = final_lr * (1 + 1 / (gamma * t))
        np.testing.assert_allclose(updates, np.full(2, -bound * (1 - b1**t)), rtol=1e-14, atol=0)


ALL_CASES = {name: case[0] for name, case in {**STEP_SIZE_CASES, **BOUND_CASES}.items()}


@pytest.mark.parametrize("name", [n for n in ALL_CASES if not n.endswith("_custom")])
def test_bound_jit_matches_eager(name):
    tx = ALL_CASES[name]()
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    helpers.check_jit_matches_eager(tx, params, helpers.grad_steps(2, _wide)[:5])


def _per_param_trees(state):
    """The state's trees with one entry per parameter."""
    if isinstance(state, gradtx.BoundLrState):
        return [state.mu, *_per_param_trees(state.step_size)]
    return [tree for tree in (state.nu, state.nu_max) if tree is not None]


@pytest.mark.parametrize("name", ["rms_step_size", "max_rms_step_size", *BOUND_CASES])
def test_bound_keeps_mixed_tree_structure_and_shapes(name):
    tx = ALL_CASES[name]()
    params, grads = helpers.mixed_params(), helpers.mixed_grads()
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    assert helpers.shapes(updates) == helpers.shapes(grads)
    trees = _per_param_trees(state)
    assert trees
    for tree in trees:
        assert jax.tree.structure(tree) == jax.tree.structure(params)
        assert helpers.shapes(tree) == helpers.shapes(params)


@pytest.mark.parametrize("running_max", [False, True])
def test_rms_step_size_state(running_max):
    make = gradtx.max_rms_step_size if running_max else gradtx.rms_step_size
    tx = make()
    state = tx.init({"w": jnp.ones(2)})
    assert isinstance(state, gradtx.RmsStepSizeState)
    assert state.count == 0 and state.count.dtype == jnp.int32
    assert (state.nu_max is not None) == running_max
    _, state = tx.update({"w": jnp.ones(2)}, state)
    assert state.count == 1


def test_bound_lr_state_mismatch_error_names_path():
    tx = gradtx.bound_lr(gradtx.rms_step_size())
    state = tx.init({"a": jnp.ones(2), "c": jnp.ones(2)})
    with pytest.raises(ValueError, match="different tree structures") as info:
        tx.update({"a": jnp.ones(2), "b": jnp.ones(2)}, state)
    assert "['b']" in str(info.value) and "['c']" in str(info.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gradtx.bound_lr(gradtx.rms_step_size(), final_lr=0.0), "final_lr must be > 0"),
        (lambda: gradtx.bound_lr(gradtx.rms_step_size(), gamma=-1.0), "gamma must be > 0"),
        (lambda: gradtx.bound_lr(gradtx.rms_step_size(), b1=1.0), r"b1 must be in \[0, 1\)"),
        (lambda: gradtx.bound_lr(gradtx.rms_step_size(), -1e-3), "learning_rate must be >= 0"),
        (lambda: gradtx.rms_step_size(b2=1.0), r"rms_step_size: b2 must be in \[0, 1\)"),
        (lambda: gradtx.max_rms_step_size(eps=-1.0), "max_rms_step_size: eps must be >= 0"),
    ],
)
def test_bound_rejects_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()
