"""Tests of gradtx/_transforms/optimistic.py and `optimistic_gradient_descent`: Optax 0.2.8 in
float64 (replayed gradients and Rosenbrock), a NumPy transcription, schedules, and a bilinear game
where plain descent spirals out and optimism converges."""

import inspect

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests import helpers, replay

RTOL = 1e-10

SETTINGS = [
    dict(learning_rate=1e-3),
    dict(learning_rate=3e-4, alpha=0.5, beta=2.0),
    dict(learning_rate=2e-4, alpha=1.5, beta=0.0),
]


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_optimistic_gradient_descent_matches_optax_on_replayed_gradients(kwargs):
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = replay.run_replay(gradtx.optimistic_gradient_descent(**kwargs), params, grads)
    theirs = optax.optimistic_gradient_descent(**kwargs)
    want = replay.run_replay(theirs, params, grads, apply=optax.apply_updates)
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("kwargs", SETTINGS)
def test_optimistic_gradient_descent_matches_optax_on_rosenbrock(kwargs):
    got = replay.run_rosenbrock(gradtx.optimistic_gradient_descent(**kwargs))
    theirs = optax.optimistic_gradient_descent(**kwargs)
    want = replay.run_rosenbrock(theirs, apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert replay.max_relative_difference(got, want) <= RTOL


def _numpy_optimistic(grads, alpha, beta):
    """The docstring's equation: u_t = (alpha_t + beta_t) g_t - beta_t g_{t-1}, g_0 = g_1."""
    previous, out = None, []
    for t, g in enumerate(grads):
        a, b = alpha(t), beta(t)
        previous = g if previous is None else previous
        out.append((a + b) * g - b * previous)
        previous = g
    return out


@pytest.mark.parametrize(
    "alpha, beta",
    [(1.0, 1.0), (0.3, 2.5), (lambda t: 1.0 / (1 + t), lambda t: 0.5 * t)],
)
def test_scale_by_optimistic_gradient_matches_numpy(alpha, beta):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)) for _ in range(6)]
    tx = gradtx.scale_by_optimistic_gradient(alpha, beta)
    got, state = helpers.run(tx, [{"w": g} for g in grads])
    as_function = lambda v: v if callable(v) else (lambda t: v)  # noqa: E731
    want = _numpy_optimistic(grads, as_function(alpha), as_function(beta))
    for u, w in zip(got, want, strict=True):
        np.testing.assert_allclose(u["w"], w, rtol=1e-14)
    assert int(state.count) == 6
    np.testing.assert_array_equal(state.previous_gradient["w"], grads[-1])


def test_optax_fails_on_the_schedules_its_alias_is_typed_to_accept():
    schedule = lambda count: 1.0 / (1 + count)  # noqa: E731
    params = jnp.ones(2)
    theirs = optax.optimistic_gradient_descent(0.1, alpha=schedule)
    with pytest.raises(TypeError):
        theirs.update(params, theirs.init(params), params)
    mine = gradtx.optimistic_gradient_descent(0.1, alpha=schedule)
    updates, _ = mine.update(params, mine.init(params), params)
    np.testing.assert_allclose(updates, -0.1 * params)  # alpha(0) = 1: the first step is -eta g


def test_optimism_converges_on_a_bilinear_game_where_descent_spirals_out():
    """min_x max_y x y: simultaneous gradient descent-ascent spirals away from (0, 0)."""

    def field(z):  # (d/dx, -d/dy) of x y: descent on x, ascent on y
        return jnp.stack([z[1], -z[0]])

    def distance(tx, steps=2000):
        z = jnp.asarray([1.0, 1.0])
        state = tx.init(z)
        for _ in range(steps):
            updates, state = tx.update(field(z), state, z)
            z = gradtx.apply_updates(z, updates)
        return float(jnp.linalg.norm(z))

    assert distance(gradtx.optimistic_gradient_descent(0.1)) < 1e-3
    assert distance(gradtx.sgd(0.1)) > 10.0


def test_first_step_is_alpha_times_the_gradient_and_state_keeps_low_precision():
    tx = gradtx.scale_by_optimistic_gradient(0.5, 3.0)
    params = jnp.ones(3, jnp.bfloat16)
    state = tx.init(params)
    updates, state = tx.update(jnp.full(3, 2.0, jnp.bfloat16), state)
    assert updates.dtype == jnp.bfloat16 and state.previous_gradient.dtype == jnp.bfloat16
    np.testing.assert_array_equal(updates.astype(jnp.float32), 1.0)


def test_optimistic_gradient_descent_has_optax_argument_names_order_and_defaults():
    def arguments(factory):
        return [(p.name, p.default) for p in inspect.signature(factory).parameters.values()]

    assert arguments(gradtx.optimistic_gradient_descent) == arguments(
        optax.optimistic_gradient_descent
    )
    assert arguments(gradtx.scale_by_optimistic_gradient) == arguments(
        optax.scale_by_optimistic_gradient
    )


# --- optimistic_adam and optimistic_adam_v2 (Optax 0.2.8).

ADAM_SETTINGS = [
    dict(learning_rate=1e-2),
    dict(learning_rate=1e-2, optimism=0.02, b1=0.5, b2=0.9, eps_root=1e-8, nesterov=False),
    dict(learning_rate=3e-3, optimism=1e-3, eps=1e-6, b2=0.99),
]
ADAM_V2_SETTINGS = [
    dict(learning_rate=1e-2),
    dict(learning_rate=1e-2, alpha=0.5, beta=2.0, b1=0.5, nesterov=False, eps_root=1e-8),
    dict(learning_rate=gradtx.linear_schedule(1e-2, 1e-3, 100), alpha=1.5, beta=0.5, eps=1e-6),
]
ADAM_CASES = [("optimistic_adam", kw) for kw in ADAM_SETTINGS] + [
    ("optimistic_adam_v2", kw) for kw in ADAM_V2_SETTINGS
]


@pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name,kwargs", ADAM_CASES)
def test_optimistic_adam_matches_optax_on_replayed_gradients_and_rosenbrock(name, kwargs):
    mine, theirs = getattr(gradtx, name), getattr(optax, name)
    assert replay.replay_difference(mine(**kwargs), theirs(**kwargs)) <= RTOL
    assert replay.rosenbrock_difference(mine(**kwargs), theirs(**kwargs)) <= RTOL


def _numpy_optimistic_adam(grads, lr, optimism, b1=0.9, b2=0.999, eps=1e-8, nesterov=True):
    """The docstring: r_t Adam's direction (Nadam's mean with nesterov), u_t = -(a r_t +
    o (r_t - r_{t-1})), r_0 = r_1."""
    m = v = np.zeros_like(grads[0])
    previous = None
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        r = m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
        previous = r if previous is None else previous
        yield -(lr * r + optimism * (r - previous))
        previous = r


@pytest.mark.parametrize("nesterov", [True, False])
def test_optimistic_adam_follows_the_numpy_transcription(nesterov):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=4) for _ in range(6)]
    tx = gradtx.optimistic_adam(0.1, 0.3, nesterov=nesterov)
    v2 = gradtx.optimistic_adam_v2(1.0, alpha=0.1, beta=0.3, nesterov=nesterov)
    state, state_v2 = tx.init(jnp.zeros(4)), v2.init(jnp.zeros(4))
    wanted = _numpy_optimistic_adam(grads, 0.1, 0.3, nesterov=nesterov)
    for g, want in zip(grads, wanted, strict=True):
        u, state = tx.update(jnp.asarray(g), state)
        u_v2, state_v2 = v2.update(jnp.asarray(g), state_v2)
        np.testing.assert_allclose(u, want, rtol=1e-12)
        np.testing.assert_allclose(u_v2, want, rtol=1e-12)


def test_optimistic_adam_takes_a_schedule_where_optax_raises_and_warns():
    schedule = gradtx.linear_schedule(1e-2, 1e-3, 10)
    gradtx.optimistic_adam(schedule)  # no warning (warnings are errors here), no error
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="schedules"):
        optax.optimistic_adam(schedule)


@pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")
def test_optimistic_adam_has_optax_argument_names_order_and_defaults():
    assert helpers.signature(gradtx.optimistic_adam) == helpers.signature(optax.optimistic_adam)
    assert helpers.signature(gradtx.optimistic_adam_v2) == helpers.signature(
        optax.optimistic_adam_v2
    )
