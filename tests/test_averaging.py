"""Tests of gradtx/_transforms/averaging.py (average_params, averaged_params): the docstring's
running mean transcribed in NumPy, the mean of the iterates from `start` on, the updates passed
through unchanged, and the errors. Its agreement with torch.optim.ASGD's `ax` is in
tests/test_conventions.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests import helpers

SGD_RATE = 0.1


def _iterates_and_averages(start, steps=12, dtype=jnp.float64):
    """SGD's params theta_1..theta_T and `averaged_params` after each step."""
    tx = gradtx.chain(gradtx.sgd(SGD_RATE), gradtx.average_params(start))
    params = {"w": jnp.linspace(-1.0, 2.0, 5, dtype=dtype), "b": jnp.asarray(0.5, dtype)}
    rng = np.random.default_rng(0)
    grads = [
        jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), dtype), params)
        for _ in range(steps)
    ]
    run = list(helpers.steps(tx, params, grads, apply=True))
    return [s.params for s in run], [gradtx.averaged_params(s.state) for s in run]


def _reference(thetas, start):
    """The docstring: mu_t = 1 / max(1, t - s + 1); bar theta_t = theta_t where mu_t = 1, else
    bar theta_{t-1} + mu_t (theta_t - bar theta_{t-1})."""
    out, bar = [], None
    for t, theta in enumerate(thetas, 1):
        mu = 1 / max(1, t - start + 1)
        bar = theta if mu == 1 else bar + (theta - bar) * mu
        out.append(bar)
    return out


@pytest.mark.parametrize("start", [1, 4, 7.5, 100])
def test_average_params_matches_its_numpy_transcription(start):
    thetas, averages = _iterates_and_averages(start)
    for key in ("w", "b"):
        want = _reference([np.asarray(p[key]) for p in thetas], start)
        got = [np.asarray(a[key]) for a in averages]
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("start", [1, 5])
def test_average_params_is_the_mean_of_the_iterates_from_start_on(start):
    thetas, averages = _iterates_and_averages(start)
    for t, average in enumerate(averages, 1):
        first = min(start, t)
        want = np.mean([np.asarray(p["w"]) for p in thetas[first - 1 : t]], axis=0)
        np.testing.assert_allclose(average["w"], want, rtol=1e-13)


def test_average_params_passes_updates_through_and_starts_at_the_params():
    tx = gradtx.average_params(3)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert np.array_equal(gradtx.averaged_params(state)["w"], params["w"])
    updates = {"w": jnp.asarray([0.5, -1.0, 2.0])}
    out, state = tx.update(updates, state, params)
    np.testing.assert_array_equal(out["w"], updates["w"])
    np.testing.assert_array_equal(gradtx.averaged_params(state)["w"], [1.5, 0.0, 3.0])
    assert int(state.count) == 1


def test_average_params_follows_low_precision_params_as_apply_updates_rounds_them():
    thetas, averages = _iterates_and_averages(1, steps=3, dtype=jnp.bfloat16)
    assert averages[0]["w"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(averages[0]["w"], thetas[0]["w"])  # bar theta_1 = theta_1


def test_averaged_params_finds_the_state_inside_a_chain_and_refuses_others():
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.average_params())
    state = tx.init(jnp.zeros(2))
    assert gradtx.averaged_params(state).shape == (2,)
    with pytest.raises(ValueError, match=r"^averaged_params: the state must hold exactly one "):
        gradtx.averaged_params(gradtx.sgd(0.1).init(jnp.zeros(2)))
    twice = gradtx.chain(gradtx.average_params(), gradtx.average_params()).init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"found 2 in a tuple; pass the state of a chain"):
        gradtx.averaged_params(twice)


def test_average_params_needs_the_params():
    tx = gradtx.average_params()
    with pytest.raises(ValueError, match=r"^average_params: update needs the params"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))


@pytest.mark.parametrize("start", [0.5, 0, -1.0, float("nan"), float("inf")])
def test_average_params_rejects_a_start_below_1(start):
    with pytest.raises(ValueError, match=r"^average_params: start must be in \[1, inf\), got "):
        gradtx.average_params(start)
