"""Annealed Gaussian gradient noise."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, transformation


class AddNoiseState(NamedTuple):
    """State of `add_noise`."""

    count: jax.Array  # shape (), int32: the step t, the number of updates made so far
    rng_key: jax.Array  # the raw uint32 data of the next PRNG key (jax.random.key_data)


def _key_data_and_impl(seed: int | jax.Array) -> tuple[jax.Array, object]:
    """A seed, a typed key or a raw uint32 key (checked by `_validate.check_seed`) as (raw key
    data, key implementation)."""
    if isinstance(seed, (int, np.integer)):
        key = jax.random.key(seed)
        return jax.random.key_data(key), jax.random.key_impl(key)
    if jnp.issubdtype(seed.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(seed), jax.random.key_impl(seed)
    return jnp.asarray(seed), None  # a legacy jax.random.PRNGKey: the default implementation


def add_noise(
    eta: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    key: int | jax.Array | None = None,
    *,
    seed: int | jax.Array | None = None,
) -> GradientTransformation:
    r"""Add annealed Gaussian noise to the updates.

    $$u_t = g_t + N_t, \qquad N_t \sim \mathcal{N}(0, \sigma_t^2 I), \qquad
    \sigma_t^2 = \eta / (1 + t)^\gamma$$

    $t$ counts the updates made before this one: $t = 0$ at the first update, whose variance is
    $\eta$. Every element of every leaf gets independent noise; each update uses a fresh key
    split from the one in the state.

    Args:
        eta: $\eta$, the initial variance, >= 0 (the paper tries 0.01, 0.3 and 1.0).
        gamma: $\gamma$, the decay exponent, >= 0 (the paper uses 0.55).
        key: an int, a key from `jax.random.key`, or a raw uint32 key from `jax.random.PRNGKey`;
            required (given as `key` or as `seed`), so that two noise sources in one program are
            not silently the same.
        seed: the same, under Optax's older name (Optax 0.2.8 takes both; give one).

    Returns:
        A transformation with state `AddNoiseState(count=t, rng_key)`. The key is kept as its
        raw uint32 data (`jax.random.key_data`), so the state is a plain tree of arrays.

    References:
        Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
        Improves Learning for Very Deep Networks", arXiv:1511.06807, 2015.

    Note:
        The paper writes $\sigma_t^2 = \eta / (1 + t)^\gamma$ with $t$ the training step; we
        start $t$ at 0, so the first step has the full variance $\eta$. Optax does the same.
        Noise is added to the gradient, so place `add_noise` before the optimizer's scaling.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.add_noise(0.01, 0.55, key=0), gradtx.sgd(0.1))
    """
    _validate.check_non_negative("add_noise", eta=eta, gamma=gamma)
    if key is not None and seed is not None:
        raise TypeError("add_noise: give the key as `key` or as `seed` (its older name), not both")
    name, key = ("seed", seed) if seed is not None else ("key", key)
    _validate.check_seed("add_noise", name, key)
    key_data, impl = _key_data_and_impl(key)

    def init(params):
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=key_data)

    def rule(t, key, g):
        dt = _tree.compute_dtype(g)
        eta_, gamma_ = _tree.as_dtype(dt, eta, gamma)
        sigma = jnp.sqrt(eta_ / (1 + t.astype(dt)) ** gamma_)
        noise = jax.random.normal(key, g.shape, dt)
        return (g.astype(dt) + sigma * noise).astype(g.dtype)

    def update(updates, state, params=None):
        del params
        key, sample_key = jax.random.split(jax.random.wrap_key_data(state.rng_key, impl=impl))
        leaves, treedef = jax.tree.flatten(updates)
        leaves = [jnp.asarray(g) for g in leaves]
        _tree.check_inexact(leaves, tree=updates, name="updates", where="add_noise")
        keys = jax.random.split(sample_key, len(leaves))
        noisy = [rule(state.count, k, g) for k, g in zip(keys, leaves, strict=True)]
        new_state = AddNoiseState(_tree.safe_increment(state.count), jax.random.key_data(key))
        return treedef.unflatten(noisy), new_state

    return transformation(init, update)
