"""Dtypes: parameters keep theirs, integer and boolean leaves are refused, complex is supported.

(That every registry entry keeps each float leaf's dtype in its updates and its state, step after
step, on trees mixing float16, bfloat16, float32 and float64, is test_properties.py's.)

Complex parameters follow Optax's convention: a method sees g and |g|^2 = conj(g) g, never the
real and imaginary parts separately. The second moment is |g|^2 (real, stored in the param's
complex dtype with a zero imaginary part), the first moment complex, and Adam's update
m_hat / (sqrt(v_hat) + eps) is complex. So a complex parameter is *not* two real parameters: Adam
on z = x + iy divides both parts by sqrt(|g|^2), the real-split run divides x by sqrt(g_x^2) and
y by sqrt(g_y^2). Only methods linear in g (SGD, momentum, weight decay) give the split run. The
convention in two properties, each checked against a NumPy transcription where one is short:

* a global phase passes through: gradients (and params) times e^{i phi} give updates times
  e^{i phi};
* on the real axis (real gradients, real params stored as complex) the run is the real run.
"""

import cmath
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers
from tests.registry import ALL

FLOATS = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64]


@pytest.mark.parametrize("update_dtype", FLOATS)
@pytest.mark.parametrize("param_dtype", [*FLOATS, jnp.complex64, jnp.complex128])
def test_apply_updates_keeps_each_parameter_dtype(param_dtype, update_dtype):
    if jnp.issubdtype(param_dtype, jnp.complexfloating):
        update_dtype = param_dtype
    params = {"w": jnp.asarray([1.0, -2.0], param_dtype), "b": [jnp.asarray(3.0, param_dtype)]}
    updates = jax.tree.map(lambda p: jnp.full(p.shape, 0.25, update_dtype), params)
    new = gradtx.apply_updates(params, updates)
    chex.assert_trees_all_equal_dtypes(new, params)
    np.testing.assert_array_equal(np.asarray(new["w"], np.complex128), [1.25, -1.75])


# Integer and boolean leaves.
def refusal(where, name, path, dtype):
    return re.escape(
        f"{where}: {name} leaf {path} has dtype {dtype}; gradtx transforms floating-point (or "
        "complex) leaves only. Keep integer and boolean buffers out of the params you optimize: "
        "split them off before `jax.grad`, `init` and `apply_updates`."
    )


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
@pytest.mark.parametrize("name", ALL)
def test_integer_or_boolean_leaf_is_refused_or_passed_through_untouched(name, dtype):
    """Refused with its path and dtype, or (a transformation that does not look at the values,
    like `identity`) passed through unchanged: never rounded into silently."""
    tx = ALL[name]()
    params = {"w": jnp.asarray([1.0, -2.0]), "step": jnp.asarray([3, 0], dtype)}
    grads = {"w": jnp.asarray([0.5, 0.25]), "step": jnp.asarray([1, 1], dtype)}
    try:
        state = tx.init(params)
        for _ in range(2):
            updates, state = tx.update(grads, state, params)
    except TypeError as error:
        pattern = r"^[\w.]+: (updates|params|[\w ]+) leaf \['step'\] has dtype "
        assert re.match(pattern + jnp.dtype(dtype).name, str(error)), str(error)
        return
    assert updates["step"].dtype == dtype
    np.testing.assert_array_equal(updates["step"], grads["step"])


def test_integer_leaf_message_names_the_transformation_path_and_dtype():
    tx = gradtx.scale_by_adam()  # a building block: an alias's init refuses the params first
    params = {"w": jnp.ones(2), "step": jnp.asarray(3, jnp.int32)}
    with pytest.raises(
        TypeError, match="^" + refusal("scale_by_adam", "updates", "['step']", "int32")
    ):
        tx.update(params, tx.init(params), params)


def test_float0_gradient_of_an_integer_leaf_is_refused():
    """`jax.grad(..., allow_int=True)` gives an integer param a float0 gradient."""
    params = {"w": jnp.ones(2), "n": jnp.asarray(2, jnp.int32)}
    grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2), allow_int=True)(params)
    tx = gradtx.trace(0.9)  # a building block: an alias's init refuses the params first
    with pytest.raises(TypeError, match="^" + refusal("trace", "updates", "['n']", "float0")):
        tx.update(grads, tx.init(jax.tree.map(jnp.asarray, params)))


@pytest.mark.parametrize(
    "params,updates,name,dtype",
    [
        (
            {"w": jnp.ones(2), "n": jnp.asarray(1, jnp.int32)},
            {"w": jnp.ones(2), "n": jnp.asarray(0.7)},
            "params",
            "int32",
        ),
        (
            {"w": jnp.ones(2), "n": jnp.asarray(True)},
            {"w": jnp.ones(2), "n": jnp.asarray(0.0)},
            "params",
            "bool",
        ),
        (
            {"w": jnp.ones(2), "n": jnp.asarray(1.0)},
            {"w": jnp.ones(2), "n": jnp.asarray(1, jnp.int8)},
            "updates",
            "int8",
        ),
    ],
)
def test_apply_updates_refuses_integer_and_boolean_leaves(params, updates, name, dtype):
    with pytest.raises(TypeError, match="^" + refusal("apply_updates", name, "['n']", dtype)):
        gradtx.apply_updates(params, updates)


# Complex parameters.
LR = 0.1
Z = np.asarray([1.0 + 2.0j, -0.5 + 0.1j, 0.0 + 0.0j, 3.0 - 1.0j])
G = [
    np.asarray([0.3 - 1.0j, 2.0 + 0.5j, 0.0 + 0.0j, -1.0 + 0.0j]),
    np.asarray([-0.2 + 0.4j, 1.0 - 1.5j, 0.5j, 0.25 + 0.25j]),
    np.asarray([0.1 + 0.1j, -0.7 + 0.0j, -0.5j, 2.0 - 3.0j]),
]


def run(tx, params, grads):
    """The updates of `tx` over `grads`, applied to the params step by step."""
    return [step.updates for step in helpers.steps(tx, params, grads, apply=True)]


def numpy_adam(grads, b1=0.9, b2=0.999, eps=1e-8):
    m = v = 0
    for t, g in enumerate(grads, 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * np.abs(g) ** 2
        yield -LR * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def numpy_rmsprop(grads, decay=0.9, eps=1e-8):
    v = 0
    for g in grads:
        v = decay * v + (1 - decay) * np.abs(g) ** 2
        yield -LR * g / np.sqrt(v + eps)


def numpy_adagrad(grads, initial=0.1, eps=1e-7):
    s = initial
    for g in grads:
        s = s + np.abs(g) ** 2
        yield -LR * g / np.sqrt(s + eps)


def numpy_adamax(grads, b1=0.9, b2=0.999, eps=1e-8):
    m = u = 0
    for t, g in enumerate(grads, 1):
        m, u = b1 * m + (1 - b1) * g, np.maximum(b2 * u, np.abs(g) + eps)
        yield -LR * m / (1 - b1**t) / u


def numpy_momentum(grads, decay=0.9, nesterov=False):
    v = 0
    for g in grads:
        v = g + decay * v
        yield -LR * (g + decay * v if nesterov else v)


TRANSCRIBED = {
    "adam": (lambda: gradtx.adam(LR), numpy_adam),
    "rmsprop": (lambda: gradtx.rmsprop(LR), numpy_rmsprop),
    "adagrad": (lambda: gradtx.adagrad(LR), numpy_adagrad),
    "adamax": (lambda: gradtx.adamax(LR), numpy_adamax),
    "momentum": (lambda: gradtx.sgd(LR, momentum=0.9), numpy_momentum),
    "nesterov": (
        lambda: gradtx.sgd(LR, momentum=0.9, nesterov=True),
        lambda g: numpy_momentum(g, nesterov=True),
    ),
}


@pytest.mark.parametrize("method", TRANSCRIBED)
def test_complex_parameter_follows_the_numpy_transcription_of_optax_convention(method):
    build, transcription = TRANSCRIBED[method]
    got = run(build(), jnp.asarray(Z), [jnp.asarray(g) for g in G])
    for u, expected in zip(got, transcription(G), strict=True):
        assert u.dtype == jnp.complex128
        np.testing.assert_allclose(np.asarray(u), expected, rtol=1e-12, atol=1e-15)


def test_complex_adam_is_not_the_real_split_run():
    """What the convention means: |g|^2 couples the real and imaginary parts."""
    complex_run = np.asarray(run(gradtx.adam(LR), jnp.asarray(Z), [jnp.asarray(G[0])])[0])
    split = run(
        gradtx.adam(LR), jnp.asarray([Z.real, Z.imag]), [jnp.asarray([G[0].real, G[0].imag])]
    )
    assert not np.allclose(complex_run, np.asarray(split[0][0]) + 1j * np.asarray(split[0][1]))


LINEAR = {
    "sgd": lambda: gradtx.sgd(LR),
    "momentum": lambda: gradtx.sgd(LR, momentum=0.9),
    "nesterov": lambda: gradtx.sgd(LR, momentum=0.9, nesterov=True),
    "add_decayed_weights": lambda: gradtx.add_decayed_weights(0.01),
    "scale_by_schedule": lambda: gradtx.scale_by_schedule(gradtx.exponential_decay(1.0, 1, 0.5)),
}


@pytest.mark.parametrize("method", LINEAR)
def test_complex_run_of_a_method_linear_in_g_equals_the_real_split_run(method):
    tx = LINEAR[method]()
    complex_run = run(tx, {"z": jnp.asarray(Z)}, [{"z": jnp.asarray(g)} for g in G])
    split_run = run(
        tx,
        {"re": jnp.asarray(Z.real), "im": jnp.asarray(Z.imag)},
        [{"re": jnp.asarray(g.real), "im": jnp.asarray(g.imag)} for g in G],
    )
    for c, s in zip(complex_run, split_run, strict=True):
        np.testing.assert_allclose(np.asarray(c["z"]).real, s["re"], rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.asarray(c["z"]).imag, s["im"], rtol=1e-15, atol=0)


ADAPTIVE = {
    "adam": lambda: gradtx.adam(LR),
    "nadam": lambda: gradtx.nadam(LR),
    "amsgrad": lambda: gradtx.amsgrad(LR),
    "adamax": lambda: gradtx.adamax(LR),
    "adagrad": lambda: gradtx.adagrad(LR),
    "adadelta": lambda: gradtx.adadelta(),
    "rmsprop": lambda: gradtx.rmsprop(LR),
    "rmsprop_centered": lambda: gradtx.rmsprop(LR, centered=True),
    "adabound": lambda: gradtx.adabound(LR),
    "amsbound": lambda: gradtx.amsbound(LR),
    "swats": lambda: gradtx.swats(LR),
    "clip_by_global_norm": lambda: gradtx.clip_by_global_norm(1.0),
}


@pytest.mark.parametrize("method", ADAPTIVE)
def test_complex_updates_rotate_with_a_global_phase(method):
    phase = cmath.exp(0.7j)
    tx = ADAPTIVE[method]()
    plain = run(tx, jnp.asarray(Z), [jnp.asarray(g) for g in G])
    rotated = run(tx, jnp.asarray(Z * phase), [jnp.asarray(g * phase) for g in G])
    for u, r in zip(plain, rotated, strict=True):
        assert r.dtype == jnp.complex128
        np.testing.assert_allclose(np.asarray(r), np.asarray(u) * phase, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", ADAPTIVE)
def test_complex_run_on_the_real_axis_is_the_real_run(method):
    tx = ADAPTIVE[method]()
    real = run(tx, jnp.asarray(Z.real), [jnp.asarray(g.real) for g in G])
    as_complex = run(tx, jnp.asarray(Z.real + 0j), [jnp.asarray(g.real + 0j) for g in G])
    for r, c in zip(real, as_complex, strict=True):
        np.testing.assert_allclose(np.asarray(c), np.asarray(r), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_every_entry_takes_complex_params_or_refuses_them_clearly(name):
    tx = ALL[name]()
    params = {"z": jnp.asarray(Z, jnp.complex64), "x": jnp.asarray(Z.real, jnp.float32)}
    try:
        state = initial = tx.init(params)
        for g in G:
            grads = {"z": jnp.asarray(g, jnp.complex64), "x": jnp.asarray(g.real, jnp.float32)}
            updates, state = tx.update(grads, state, params)
            chex.assert_trees_all_equal_dtypes(updates, params)
            chex.assert_trees_all_equal_shapes_and_dtypes(state, initial)
            assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
            params = gradtx.apply_updates(params, updates)
    except (TypeError, ValueError) as error:  # e.g. jnp.clip: "Complex values have no ordering"
        assert not isinstance(error, jax.dtypes.TypePromotionError), str(error)  # a bug, not a no
        assert "omplex" in str(error), f"{type(error).__name__}: {error}"
