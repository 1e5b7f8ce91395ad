"""Tests of gradtx/_noise.py: add_noise."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

N = 100_000  # elements in the statistical checks; 2% is 4.5 standard errors of a sample variance


def _noise_at(tx, state, g):
    updates, state = tx.update(g, state)
    return jax.tree.map(lambda u, x: u - x, updates, g), state


def test_add_noise_same_seed_same_noise_other_seed_other_noise():
    g = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}
    runs = []
    for seed in (7, 7, 8):
        tx = gradtx.add_noise(0.3, 0.55, seed)
        state, noises = tx.init(g), []
        for _ in range(2):
            noise, state = _noise_at(tx, state, g)
            noises.append(noise)
        runs.append(noises)
    chex.assert_trees_all_equal(runs[0], runs[1])
    assert not np.allclose(runs[0][0]["w"], runs[2][0]["w"])


def test_add_noise_seed_forms_agree():
    # An int, a typed key and a legacy raw key with the same seed draw the same noise.
    g = jnp.zeros(6)
    noises = [
        gradtx.add_noise(1.0, 0.5, seed).update(g, gradtx.add_noise(1.0, 0.5, seed).init(g))[0]
        for seed in (3, jax.random.key(3), jax.random.PRNGKey(3))
    ]
    chex.assert_trees_all_equal(noises[0], noises[1], noises[2])


def test_add_noise_variance_decays_as_eta_over_one_plus_t_to_the_gamma():
    eta, gamma = 0.5, 0.55
    tx = gradtx.add_noise(eta, gamma, 0)
    g = jnp.zeros(N)
    update = jax.jit(tx.update)
    state = tx.init(g)
    for t in range(3):  # t = 0 at the first update
        assert int(state.count) == t
        noise, state = update(g, state)
        var = eta / (1 + t) ** gamma
        assert abs(float(jnp.mean(noise))) < 6 * np.sqrt(var / N)
        np.testing.assert_allclose(float(jnp.var(noise)), var, rtol=0.02)
    # Late steps: jump the count.
    for t in (99, 9999):
        noise, _ = update(g, state._replace(count=jnp.asarray(t, jnp.int32)))
        np.testing.assert_allclose(float(jnp.var(noise)), eta / (1 + t) ** gamma, rtol=0.02)


def test_add_noise_state_key_advances_and_draws_are_independent():
    tx = gradtx.add_noise(1.0, 0.0, 11)
    g = {"a": jnp.zeros(N // 2), "b": jnp.zeros(N // 2)}
    state = tx.init(g)
    assert state.rng_key.dtype == jnp.uint32 and state.count.dtype == jnp.int32
    keys, noises = [np.asarray(state.rng_key)], []
    for step in range(3):
        noise, state = _noise_at(tx, state, g)
        assert int(state.count) == step + 1
        keys.append(np.asarray(state.rng_key))
        noises.append(noise)
    assert len({k.tobytes() for k in keys}) == 4
    # Successive steps and the two leaves are uncorrelated: |corr| < 6 / sqrt(n) for n = N / 2.
    pairs = [
        (noises[0]["a"], noises[1]["a"]),
        (noises[1]["a"], noises[2]["a"]),
        (noises[0]["a"], noises[0]["b"]),
    ]
    for x, y in pairs:
        assert abs(float(jnp.corrcoef(x, y)[0, 1])) < 6 / np.sqrt(N // 2)


def test_add_noise_state_is_a_plain_array_tree():
    state = gradtx.add_noise(0.1, 0.55, jax.random.key(0)).init(None)
    assert isinstance(state, gradtx.AddNoiseState)
    for leaf in jax.tree.leaves(state):
        assert not jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
    assert state.rng_key.shape == (2,)


def test_add_noise_zero_eta_is_identity():
    g = {"w": jnp.asarray([1.0, -2.0]), "b": jnp.asarray(3.0)}
    updates, _ = gradtx.add_noise(0.0, 0.55, 0).update(g, gradtx.add_noise(0.0, 0.55, 0).init(g))
    chex.assert_trees_all_equal(updates, g)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_add_noise_keeps_dtypes_and_structure(dtype):
    g = {"a": jnp.ones(3, dtype), "b": [jnp.ones((2, 2), dtype), None]}
    tx = gradtx.add_noise(0.1, 0.55, 0)
    state = tx.init(g)
    updates, new_state = jax.jit(tx.update)(g, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, g)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


def test_add_noise_scan_equals_jitted_python_loop():
    tx = gradtx.chain(gradtx.add_noise(0.01, 0.55, 5), gradtx.sgd(0.1))

    def loss(p):
        return jnp.sum((p - 1.0) ** 2)

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return (gradtx.apply_updates(params, updates), state), None

    start = jnp.zeros(4)
    (scanned, scanned_state), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=6))(
        (start, tx.init(start))
    )
    carry, jitted = (start, tx.init(start)), jax.jit(step)
    for _ in range(6):
        carry, _ = jitted(carry, None)
    chex.assert_trees_all_close(scanned, carry[0], rtol=1e-12)
    chex.assert_trees_all_equal(scanned_state[0].rng_key, carry[1][0].rng_key)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"eta": -0.1, "gamma": 0.55, "seed": 0},
            "add_noise: eta must be >= 0 and finite, got -0.1",
        ),
        (
            {"eta": 0.1, "gamma": -1.0, "seed": 0},
            "add_noise: gamma must be >= 0 and finite, got -1.0",
        ),
    ],
)
def test_add_noise_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError) as info:
        gradtx.add_noise(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("seed", [1.5, "0", None, True, jnp.zeros(2, jnp.float32)])
def test_add_noise_rejects_bad_seed(seed):
    with pytest.raises(TypeError, match="add_noise: key must be an int, a key from jax.random.key"):
        gradtx.add_noise(0.1, 0.55, seed)


# --- noisy_sgd: add_noise then the learning rate, as Optax 0.2.8.

NOISY_SGD_SETTINGS = [
    dict(learning_rate=1e-3, key=0),
    dict(learning_rate=3e-3, eta=0.3, gamma=1.0, key=7),
    dict(learning_rate=gradtx.linear_schedule(1e-3, 1e-4, 100), eta=1.0, gamma=0.2, key=3),
]


@pytest.mark.parametrize("kwargs", NOISY_SGD_SETTINGS)
def test_noisy_sgd_matches_optax_on_replayed_gradients_and_rosenbrock(kwargs):
    import optax

    from tests import replay

    with jax.numpy_dtype_promotion("standard"):  # Optax mixes Python floats and int32 counts
        for key in (kwargs["key"], jax.random.key(kwargs["key"])):
            mine, theirs = gradtx.noisy_sgd(**{**kwargs, "key": key}), optax.noisy_sgd(**kwargs)
            assert replay.replay_difference(mine, theirs) <= 1e-10
            assert replay.rosenbrock_difference(mine, theirs) <= 1e-10


def test_noisy_sgd_is_add_noise_then_the_learning_rate():
    g = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    tx = gradtx.noisy_sgd(0.1, eta=0.5, gamma=0.3, key=4)
    reference = gradtx.chain(gradtx.add_noise(0.5, 0.3, 4), gradtx.scale(-0.1))
    state, ref_state = tx.init(g), reference.init(g)
    for _ in range(3):
        u, state = tx.update(g, state)
        want, ref_state = reference.update(g, ref_state)
        chex.assert_trees_all_close(u, want, rtol=1e-6)


def test_noisy_sgd_without_a_key_uses_the_key_0_as_optax_does_without_its_warning():
    import inspect

    import optax

    g, mine = jnp.arange(3.0), gradtx.noisy_sgd(0.1)
    with pytest.warns(UserWarning, match="key"):
        theirs = optax.noisy_sgd(0.1)
    with jax.numpy_dtype_promotion("standard"):
        chex.assert_trees_all_close(
            mine.update(g, mine.init(g))[0], theirs.update(g, theirs.init(g))[0], rtol=1e-6
        )
    mine = [(p.name, p.default) for p in inspect.signature(gradtx.noisy_sgd).parameters.values()]
    theirs = [(p.name, p.default) for p in inspect.signature(optax.noisy_sgd).parameters.values()]
    assert mine == theirs[:-1] and theirs[-1][0] == "seed"  # Optax's deprecated seed= is not taken


def test_add_noise_takes_the_key_under_optaxs_name_and_its_older_one():
    """Optax 0.2.8: `add_noise(eta, gamma, key=None, *, seed=None)`; `key=` raised here."""
    g = {"w": jnp.zeros(4)}
    by_key, by_seed = gradtx.add_noise(0.1, 0.55, key=3), gradtx.add_noise(0.1, 0.55, seed=3)
    np.testing.assert_array_equal(
        by_key.update(g, by_key.init(g))[0]["w"], by_seed.update(g, by_seed.init(g))[0]["w"]
    )
    with pytest.raises(TypeError, match=r"^add_noise: give the key as `key` or as `seed`"):
        gradtx.add_noise(0.1, 0.55, key=3, seed=3)
    with pytest.raises(TypeError, match=r"^add_noise: seed must be an int"):
        gradtx.add_noise(0.1, 0.55, seed="3")
