"""Tests of gradtx/_transforms/factored.py and sm3.py and of their aliases (_aliases/memory.py).

Conformance with Optax 0.2.8 in float64 (max elementwise relative difference <= 1e-10 over 120
replayed random gradients and 150 closed-loop Rosenbrock steps), NumPy transcriptions of each
equation, and the places where gradtx differs from Optax on purpose, both behaviours shown.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax._src import factorized

import gradtx
from tests import replay

RTOL = 1e-10


pytestmark = pytest.mark.usefixtures("_standard_promotion")  # conftest.py


def _decay_rate_pow64(i, exponent=0.8):
    """Optax's default decay schedule, computed in float64 instead of float32."""
    return 1.0 - jnp.asarray(i + 1, jnp.float64) ** (-exponent)


def _decay_rate_pow32(i, exponent=0.8):
    """Optax 0.2.8's default decay schedule as it ships: t in float32."""
    return 1.0 - jnp.asarray(i + 1, jnp.float32) ** (-exponent)


@pytest.fixture
def optax_in_float64(monkeypatch):
    """Optax's Adafactor with its decay schedule in float64, the only change."""
    patched = functools.partial(factorized.scale_by_factored_rms, decay_rate_fn=_decay_rate_pow64)
    monkeypatch.setattr(factorized, "scale_by_factored_rms", patched)


def memory_params(seed=0, scalar=True):
    """Replay params plus a square matrix and a 3-D leaf, so that factoring meets ties and a
    kept axis."""
    rng = np.random.default_rng(seed)
    params = dict(replay.replay_params(seed))
    params["q"] = jnp.asarray(rng.normal(size=(4, 4)))
    params["t"] = jnp.asarray(rng.normal(size=(3, 5, 4)))
    if not scalar:
        del params["s"]
    return params


SETTINGS = {
    "adafactor": [
        dict(),
        dict(learning_rate=1e-2, min_dim_size_to_factor=3, decay_rate=0.9, clipping_threshold=None),
        dict(
            learning_rate=3e-2,
            min_dim_size_to_factor=2,
            decay_offset=-5,  # a schedule 5 steps on: Optax's updates are NaN for offsets > 0
            multiply_by_parameter_scale=False,
            momentum=0.9,
            dtype_momentum=jnp.float64,
            weight_decay_rate=1e-2,
            eps=1e-20,
        ),
        dict(learning_rate=1e-2, factored=False, weight_decay_rate=0.1),
    ],
    "sm3": [
        dict(learning_rate=0.1),
        dict(learning_rate=1e-2, momentum=0.5),
        dict(learning_rate=3e-2, momentum=0.0),
    ],
}
CASES = [(name, i) for name, settings in SETTINGS.items() for i in range(len(settings))]


def _pair(name, i):
    kwargs = SETTINGS[name][i]
    return getattr(gradtx, name)(**kwargs), getattr(optax, name)(**kwargs)


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_replayed_gradients(name, i, optax_in_float64):
    mine, theirs = _pair(name, i)
    params = memory_params(scalar=name != "sm3")  # Optax's sm3 fails on a scalar leaf
    grads = replay.replay_gradients(params)
    got = replay.run_replay(mine, params, grads)
    want = replay.run_replay(theirs, params, grads, apply=optax.apply_updates)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(want))  # NaN compares as equal
    assert replay.max_relative_difference(got, want) <= RTOL


@pytest.mark.parametrize("name,i", CASES)
def test_alias_matches_optax_on_rosenbrock(name, i, optax_in_float64):
    mine, theirs = _pair(name, i)
    got = replay.run_rosenbrock(mine)
    want = replay.run_rosenbrock(theirs, apply=optax.apply_updates)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(want))
    assert replay.max_relative_difference(got, want) <= RTOL


def test_adafactor_decay_schedule_is_float64_where_optax_rounds_it_to_float32():
    params = memory_params()
    grads = replay.replay_gradients(params)
    kwargs = dict(min_dim_size_to_factor=2)
    shipped = replay.run_replay(
        optax.scale_by_factored_rms(**kwargs), params, grads, apply=optax.apply_updates
    )
    mine = replay.run_replay(gradtx.scale_by_factored_rms(**kwargs), params, grads)
    like_optax = gradtx.scale_by_factored_rms(**kwargs, decay_rate_fn=_decay_rate_pow32)
    assert replay.max_relative_difference(mine, shipped) > 1e-9  # Optax's float32 schedule
    assert (
        replay.max_relative_difference(replay.run_replay(like_optax, params, grads), shipped)
        <= RTOL
    )


def test_adafactor_decay_offset_starts_the_schedule_where_optax_gives_nan():
    params = {"w": jnp.ones((3, 4))}
    g = {"w": jnp.full((3, 4), 0.1)}
    kwargs = dict(learning_rate=1e-2, decay_offset=5, min_dim_size_to_factor=2)
    theirs = optax.adafactor(**kwargs)
    assert np.all(np.isnan(theirs.update(g, theirs.init(params), params)[0]["w"]))
    mine = gradtx.adafactor(**kwargs)
    fresh = gradtx.adafactor(**{**kwargs, "decay_offset": 0})
    want = fresh.update(g, fresh.init(params), params)[0]
    np.testing.assert_array_equal(mine.update(g, mine.init(params), params)[0]["w"], want["w"])


def test_sm3_has_a_scalar_accumulator_where_optax_fails():
    params = {"s": jnp.asarray(1.5), "b": jnp.asarray([1.0, -2.0])}
    theirs = optax.sm3(0.1)
    with pytest.raises(IndexError):  # Optax 0.2.8 indexes an empty list of accumulators
        theirs.update(params, theirs.init(params))
    tx = gradtx.scale_by_sm3()
    updates, state = tx.update(params, tx.init(params))
    assert [a.shape for a in state.nu["s"]] == [()]
    np.testing.assert_allclose(updates["s"], 0.1 * 1.5 / np.sqrt(1.5**2 + 1e-8), rtol=1e-14)


# NumPy transcriptions of the docstring equations.


def _numpy_factored_rms(grads, decay_rate=0.8, eps=1e-30, min_dim=2):
    """Adafactor's factored second moment, transcribed with sums as the paper writes it."""
    state, out = {}, []
    for t, g in enumerate(grads, start=1):
        beta = 1 - t**-decay_rate
        step = {}
        for name, x in g.items():
            x = np.asarray(x)
            sq = x * x + eps
            if x.ndim >= 2 and sorted(x.shape)[-2] >= min_dim:
                order = np.argsort(x.shape)
                a, b = int(order[-2]), int(order[-1])
                r0, c0 = state.get(name, (0.0, 0.0))
                r = beta * r0 + (1 - beta) * sq.sum(axis=b) / x.shape[b]
                c = beta * c0 + (1 - beta) * sq.sum(axis=a) / x.shape[a]
                state[name] = (r, c)
                rr, cc = np.expand_dims(r, b), np.expand_dims(c, a)
                v_hat = rr * cc / np.mean(rr, axis=a, keepdims=True)
            else:
                v_hat = state[name] = beta * state.get(name, 0.0) + (1 - beta) * sq
            step[name] = x / np.sqrt(v_hat)
        out.append(step)
    return out


def _updates(tx, params, grads):
    state, out = tx.init(params), []
    for g in grads:
        u, state = tx.update(g, state, params)
        out.append(u)
    return out


def test_scale_by_factored_rms_follows_numpy_transcription():
    params = memory_params()
    grads = replay.replay_gradients(params, steps=6)
    got = _updates(gradtx.scale_by_factored_rms(min_dim_size_to_factor=2), params, grads)
    assert replay.max_relative_difference(got, _numpy_factored_rms(grads)) <= 1e-12


def test_scale_by_factored_rms_state_is_factored_for_large_leaves_only():
    tx = gradtx.scale_by_factored_rms(min_dim_size_to_factor=4)
    state = tx.init(memory_params())
    assert state.v_row["w"] is None and state.v["w"].shape == (4, 3)  # 3 < 4: not factored
    assert state.v_row["q"].shape == (4,) and state.v_col["q"].shape == (4,)
    assert state.v_row["t"].shape == (3, 4) and state.v_col["t"].shape == (3, 5)
    assert state.v["t"] is None and state.v_row["s"] is None


def test_adafactor_state_is_smaller_than_adam_on_a_1024_square_matrix():
    params = {"w": jnp.zeros((1024, 1024), jnp.float32)}
    size = lambda tx: sum(x.nbytes for x in jax.tree.leaves(tx.init(params)))
    assert size(gradtx.adam(1e-3)) == 2 * 1024 * 1024 * 4 + 4
    assert size(gradtx.adafactor()) == 2 * 1024 * 4 + 4  # v_row and v_col, and the count


def _numpy_sm3(grads, b1=0.9, b2=1.0, eps=1e-8):
    """SM3-II with momentum, transcribed: per-axis accumulators, min to bound, max to update."""
    acc, mom, out = {}, {}, []
    for g in grads:
        step = {}
        for name, x in g.items():
            x = np.asarray(x)
            shapes = [()] if x.ndim == 0 else [(n,) for n in x.shape]
            mus = acc.get(name, [np.zeros(s) for s in shapes])
            if x.ndim == 0:
                bound = mus[0]
            else:
                bound = np.full(x.shape, np.inf)
                for k, m in enumerate(mus):
                    shape = [1] * x.ndim
                    shape[k] = -1
                    bound = np.minimum(bound, m.reshape(shape))
            nu = (1.0 if b2 == 1 else 1 - b2) * x * x + b2 * bound
            others = [tuple(j for j in range(x.ndim) if j != k) for k in range(x.ndim)]
            acc[name] = [nu] if x.ndim == 0 else [nu.max(axis=axes) for axes in others]
            scaled = np.where(nu > 0, x / np.sqrt(nu + eps), 0.0)
            mom[name] = step[name] = b1 * mom.get(name, 0.0) + (1 - b1) * scaled
        out.append(step)
    return out


@pytest.mark.parametrize("b1,b2", [(0.9, 1.0), (0.5, 0.9), (0.0, 0.0)])
def test_scale_by_sm3_follows_numpy_transcription(b1, b2):
    params = memory_params()
    grads = replay.replay_gradients(params, steps=6)
    got = _updates(gradtx.scale_by_sm3(b1, b2), params, grads)
    assert replay.max_relative_difference(got, _numpy_sm3(grads, b1, b2)) <= 1e-12


def test_clip_by_block_rms_and_scale_by_param_block_rms_follow_their_equations():
    g = {"a": jnp.asarray([3.0, 4.0]), "b": jnp.asarray([[0.1, -0.2]])}
    clipped, _ = gradtx.clip_by_block_rms(2.0).update(g, ())
    rms_a = np.sqrt(12.5)
    np.testing.assert_allclose(clipped["a"], np.asarray([3.0, 4.0]) * 2.0 / rms_a, rtol=1e-14)
    np.testing.assert_array_equal(clipped["b"], g["b"])  # below the threshold: unchanged
    p = {"a": jnp.asarray([1.0, -1.0]), "b": jnp.zeros((1, 2))}
    scaled, _ = gradtx.scale_by_param_block_rms(1e-3).update(g, (), p)
    np.testing.assert_allclose(scaled["a"], g["a"], rtol=1e-14)
    np.testing.assert_allclose(scaled["b"], 1e-3 * np.asarray(g["b"]), rtol=1e-14)
    grad = jax.grad(lambda q: jnp.sum(gradtx.scale_by_param_block_rms().update(g, (), q)[0]["b"]))
    assert np.all(np.isfinite(grad(p)["b"]))  # zero params: a zero gradient, not NaN


@pytest.mark.parametrize("debias", [True, False])
def test_ema_follows_numpy_transcription_and_matches_optax(debias):
    params = replay.replay_params()
    grads = replay.replay_gradients(params)
    got = _updates(gradtx.ema(0.7, debias), params, grads)
    want = _updates(optax.ema(0.7, debias), params, grads)
    assert replay.max_relative_difference(got, want) <= RTOL
    m = jax.tree.map(np.zeros_like, params)
    for t, g in enumerate(grads[:5], start=1):
        m = jax.tree.map(lambda m, g: 0.7 * m + 0.3 * np.asarray(g), m, g)
        correction = 1 - 0.7**t if debias else 1.0
        want = jax.tree.map(lambda m, c=correction: m / c, m)
        assert replay.max_relative_difference(got[t - 1], want) <= 1e-14


# Options and edges.


def test_adafactor_momentum_buffer_is_float32_by_default_and_the_update_reads_it_as_stored():
    params = {"w": jnp.ones((2, 3))}
    tx = gradtx.adafactor(1e-2, momentum=0.9)
    state = tx.init(params)
    assert jax.tree.leaves(state[4])[1].dtype == jnp.float32
    g = {"w": jnp.full((2, 3), 1 / 3)}
    updates, state = tx.update(g, state, params)
    assert updates["w"].dtype == jnp.float64
    buffer = jax.tree.leaves(state[4])[1]
    np.testing.assert_array_equal(updates["w"], -np.asarray(buffer, np.float64))


def test_paper_relative_step_size_as_a_schedule():
    rho = lambda count: jnp.minimum(1e-2, jax.lax.rsqrt(count + 1.0))
    params = {"xy": jnp.asarray([-1.2, 1.0])}
    tx = gradtx.adafactor(learning_rate=rho)
    u, _ = tx.update({"xy": jnp.asarray([1.0, 1.0])}, tx.init(params), params)
    np.testing.assert_allclose(u["xy"], -1e-2 * np.sqrt(1.22) * np.ones(2), rtol=1e-12)


@pytest.mark.parametrize(
    "tx", [gradtx.scale_by_factored_rms(min_dim_size_to_factor=2), gradtx.scale_by_sm3()]
)
def test_state_of_other_params_is_refused_naming_the_leaf(tx):
    state = tx.init({"w": jnp.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"\['w'\].*`init`"):
        tx.update({"w": jnp.zeros((2, 4))}, state)
    with pytest.raises(ValueError, match="does not match"):
        tx.update({"v": jnp.zeros((2, 3)), "w": jnp.zeros((2, 3))}, state)


@pytest.mark.parametrize("tx", [gradtx.adafactor(min_dim_size_to_factor=2), gradtx.sm3(0.1)])
def test_non_finite_gradient_gives_nan_not_a_crash_and_jit_equals_eager(tx):
    params = memory_params()
    grads = replay.replay_gradients(params, steps=3)
    state = tx.init(params)
    eager, s1 = tx.update(grads[0], state, params)
    jitted, s2 = jax.jit(tx.update)(grads[0], state, params)
    assert replay.max_relative_difference(eager, jitted) <= 1e-12
    bad = jax.tree.map(
        lambda g: g.at[...].set(jnp.nan) if g.ndim == 0 else g.at[0].set(jnp.inf), grads[1]
    )
    u, _ = tx.update(bad, s1, params)
    assert all(not np.all(np.isfinite(x)) for x in jax.tree.leaves(u))


def test_sm3_decides_its_coefficient_on_a_traced_b2():
    params = {"w": jnp.ones((2, 3))}
    g = {"w": jnp.full((2, 3), 2.0)}

    def run(b2):
        tx = gradtx.scale_by_sm3(0.0, b2)
        return tx.update(g, tx.init(params))[0]["w"]

    np.testing.assert_allclose(jax.jit(run)(1.0), run(1.0), rtol=1e-15)
    np.testing.assert_allclose(jax.jit(run)(0.9), run(0.9), rtol=1e-15)
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.jit(
            lambda b2: optax.scale_by_sm3(0.0, b2).update(g, optax.scale_by_sm3().init(params))
        )(1.0)


def _numpy_torch_factored_rms(grads, decay_rate, eps):
    """torch's convention (`last_axes`, `eps_floor`): the last two axes factored whatever their
    sizes, statistics of g^2 alone, eps1 as a floor of the normaliser and of V-hat."""
    state, out = {}, []
    for t, g in enumerate(grads, start=1):
        beta = 1 - t**-decay_rate
        step = {}
        for name, x in g.items():
            x = np.asarray(x)
            if x.ndim >= 2:
                r0, c0 = state.get(name, (0.0, 0.0))
                r = beta * r0 + (1 - beta) * np.mean(x * x, axis=-1)
                c = beta * c0 + (1 - beta) * np.mean(x * x, axis=-2)
                state[name] = (r, c)
                norm = np.maximum(np.mean(r, axis=-1, keepdims=True), eps)
                v_hat = (r / norm)[..., :, None] * c[..., None, :]
            else:
                v_hat = state[name] = beta * state.get(name, 0.0) + (1 - beta) * x * x
            step[name] = x / np.sqrt(np.maximum(v_hat, eps * eps))
        out.append(step)
    return out


@pytest.mark.parametrize("eps", [1e-3, None])
def test_scale_by_factored_rms_torch_convention_follows_numpy_transcription(eps):
    params = memory_params()  # (5, 4)-like leaves factor their last two axes, not the largest
    params["t"] = jnp.asarray(np.random.default_rng(3).normal(size=(5, 2, 3)))
    grads = replay.replay_gradients(params, steps=6)
    tx = gradtx.scale_by_factored_rms(
        decay_rate=0.65, min_dim_size_to_factor=0, epsilon=eps, last_axes=True, eps_floor=True
    )
    got = _updates(tx, params, grads)
    want = _numpy_torch_factored_rms(grads, 0.65, np.finfo(np.float64).eps if eps is None else eps)
    assert replay.max_relative_difference(got, want) <= 1e-12
    assert tx.init(params).v_row["t"].shape == (5, 2)  # rows of the last two axes, not (2, 3)


def test_factored_dims_last_axes_ignores_sizes():
    from gradtx._transforms.factored import factored_dims

    assert factored_dims((7, 2, 3), True, 0, last_axes=True) == (1, 2)  # torch, Keras
    assert factored_dims((7, 2, 3), True, 0) == (2, 0)  # Optax: the two largest
