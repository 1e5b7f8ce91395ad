"""Shared conformance protocols: replayed random gradients and a closed loop on Rosenbrock.

Both drive an optimizer and return the parameters after every step, so that two
implementations can be compared element by element.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx
from tests import helpers

REPLAY_STEPS = 120
ZERO_STEPS = (2, 17, 18, 60, 95)
SPARSE_STEPS = (5, 30, 31, 77, 110)


def replay_params(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(rng.normal(size=(4, 3))),
        "b": jnp.asarray(rng.normal(size=(3,))),
        "s": jnp.asarray(rng.normal()),
    }


def replay_gradients(params: dict, seed: int = 1, steps: int = REPLAY_STEPS) -> list[dict]:
    """Gradients with scales from 1e-4 to 1e2 (per step and leaf), all-zero and sparse steps."""
    rng = np.random.default_rng(seed)
    grads = []
    for t in range(steps):
        g = {}
        for name, p in params.items():
            scale = 10.0 ** rng.uniform(-4, 2, size=np.shape(p))
            value = rng.normal(size=np.shape(p)) * scale
            if t in ZERO_STEPS:
                value = np.zeros_like(value)
            elif t in SPARSE_STEPS:
                value = np.where(rng.uniform(size=np.shape(p)) < 0.2, value, 0.0)
            g[name] = jnp.asarray(value)
        grads.append(g)
    return grads


def run_replay(tx, params, grads, apply=gradtx.apply_updates):
    """Params after each step when `tx` is fed the given gradients (its update jitted)."""
    return [step.params for step in helpers.steps(tx, params, grads, apply=apply, jit=True)]


def rosenbrock(params):
    x, y = params["xy"][0], params["xy"][1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def run_rosenbrock(tx, steps: int = 150, apply=gradtx.apply_updates):
    """Params after each step of a closed loop on Rosenbrock from (-1.2, 1), each step jitted."""
    params = {"xy": jnp.asarray([-1.2, 1.0])}
    grads = jax.grad(rosenbrock)
    return [s.params for s in helpers.steps(tx, params, grads, count=steps, apply=apply, jit=True)]


def replay_difference(mine, theirs, params=None, grads=None) -> float:
    """`max_relative_difference` of `mine` and an Optax transformation over the replayed
    gradients (by default `replay_gradients(replay_params())`)."""
    params = replay_params() if params is None else params
    grads = replay_gradients(params) if grads is None else grads
    got = run_replay(mine, params, grads)
    return max_relative_difference(
        got, run_replay(theirs, params, grads, apply=optax.apply_updates)
    )


def rosenbrock_difference(mine, theirs, steps: int = 150) -> float:
    """`max_relative_difference` of `mine` and an Optax transformation on the closed loop, which
    must move from its start (a loop that stands still would match anything)."""
    got = run_rosenbrock(mine, steps)
    assert not np.allclose(got[-1]["xy"], [-1.2, 1.0]), "the closed loop must move"
    return max_relative_difference(got, run_rosenbrock(theirs, steps, apply=optax.apply_updates))


def max_relative_difference(a, b) -> float:
    """max over elements of |a - b| / max(|a|, |b|), with 0 where both are 0; inf when either
    run holds a NaN or an infinity, so that two diverged runs never pass as equal."""
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            return float("inf")
        scale = np.maximum(np.abs(x), np.abs(y))
        diff = np.abs(x - y)
        rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), 0.0)
        worst = max(worst, float(np.max(rel, initial=0.0)))
    return worst
