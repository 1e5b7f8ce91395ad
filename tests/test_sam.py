"""Tests of gradtx/_wrappers/sam.py: Optax 0.2.8's `optax.contrib.sam` and `normalize` in float64
(transparent mode over replayed gradients and on Rosenbrock, opaque mode on Rosenbrock), a NumPy
transcription of the paper's step, and where gradtx and Optax differ."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import replay

RTOL = 1e-10


def _settings(lib, normalize):
    return [
        ((lib.sgd(1e-3), lib.chain(normalize(), lib.sgd(0.05))), {}),
        ((lib.adam(1e-2), lib.chain(normalize(), lib.sgd(0.1))), dict(sync_period=3)),
        (
            (lib.sgd(1e-3, momentum=0.9), lib.chain(normalize(), lib.adam(0.01))),
            dict(sync_period=4, reset_state=False),
        ),
    ]


def _pair(i, **extra):
    (opt, adv), kwargs = _settings(gradtx, gradtx.normalize)[i]
    (their_opt, their_adv), _ = _settings(optax, optax.contrib.normalize)[i]
    kwargs = kwargs | extra
    return gradtx.sam(opt, adv, **kwargs), optax.contrib.sam(their_opt, their_adv, **kwargs)


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _nonzero_gradients(params):
    """The replayed gradients without the all-zero steps: Optax normalizes those to NaN."""
    grads = replay.replay_gradients(params)
    return [g for t, g in enumerate(grads) if t not in replay.ZERO_STEPS]


@pytest.mark.parametrize("i", range(3))
def test_sam_matches_optax_on_replayed_gradients(i):
    mine, theirs = _pair(i)
    params = replay.replay_params()
    grads = _nonzero_gradients(params)
    got = replay.run_replay(mine, params, grads)
    want = replay.run_replay(theirs, params, grads, apply=optax.apply_updates)
    assert len(grads) >= 100
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("i", range(3))
def test_sam_matches_optax_on_rosenbrock(i):
    mine, theirs = _pair(i)
    got = replay.run_rosenbrock(mine, steps=300)
    want = replay.run_rosenbrock(theirs, steps=300, apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


def _run_opaque(tx, apply, steps=150):
    grad = jax.grad(replay.rosenbrock)

    @jax.jit
    def step(params, state):
        updates, state = tx.update(grad(params), state, params, grad_fn=lambda p, i: grad(p))
        return apply(params, updates), state

    params, out = {"xy": jnp.asarray([-1.2, 1.0])}, []
    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
        out.append(params)
    return out


@pytest.mark.parametrize("i", range(3))
def test_sam_opaque_mode_matches_optax_on_rosenbrock(i):
    mine, theirs = _pair(i, opaque_mode=True)
    got, want = _run_opaque(mine, gradtx.apply_updates), _run_opaque(theirs, optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


def test_sam_matches_numpy_paper_step():
    """Algorithm 1: eps = rho g(w)/|g(w)|, w <- w - lr g(w + eps); on f(w) = sum(w^4) / 4."""
    rho, lr = 0.05, 0.1
    grad = lambda w: w**3  # noqa: E731
    w = np.asarray([1.0, -0.5, 0.25])
    tx = gradtx.sam(gradtx.sgd(lr), gradtx.chain(gradtx.normalize(), gradtx.sgd(rho)))
    params = jnp.asarray(w)
    state = tx.init(params)
    for _ in range(5):
        g = grad(w)
        w = w - lr * grad(w + rho * g / np.linalg.norm(g))
        for _ in range(2):  # one adversarial call, one outer call
            updates, state = tx.update(grad(params), state, params)
            params = gradtx.apply_updates(params, updates)
        np.testing.assert_allclose(params, w, rtol=1e-13)


def test_normalize_matches_optax_and_keeps_a_zero_gradient_zero():
    g = {"a": jnp.asarray([3.0, 0.0]), "b": jnp.asarray(4.0)}
    got, _ = gradtx.normalize().update(g, ())
    want, _ = optax.contrib.normalize().update(g, ())
    assert replay.max_relative_difference(got, want) <= 1e-15
    zero = jnp.zeros(3)
    np.testing.assert_array_equal(gradtx.normalize().update(zero, ())[0], zero)
    assert np.all(np.isnan(optax.contrib.normalize().update(zero, ())[0]))


def test_a_zero_gradient_leaves_sam_finite_where_optax_turns_every_parameter_nan():
    params = jnp.ones(3)
    for lib, finite in ((gradtx, True), (optax, False)):
        normalize = gradtx.normalize if lib is gradtx else optax.contrib.normalize
        sam = gradtx.sam if lib is gradtx else optax.contrib.sam
        tx = sam(lib.sgd(0.1), lib.chain(normalize(), lib.sgd(0.05)))
        state, p = tx.init(params), params
        for g in (jnp.zeros(3), jnp.ones(3)):  # the zero gradient on the adversarial call
            updates, state = tx.update(g, state, p)
            p = lib.apply_updates(p, updates)
        assert bool(jnp.all(jnp.isfinite(p))) == finite


def test_opaque_mode_needs_grad_fn():
    tx = gradtx.sam(gradtx.sgd(0.1), gradtx.sgd(0.1), opaque_mode=True)
    with pytest.raises(ValueError, match="sam: with opaque_mode=True, update needs grad_fn="):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2))


def test_sam_has_optax_argument_names_order_and_defaults():
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(gradtx.sam) == arguments(optax.contrib.sam)
