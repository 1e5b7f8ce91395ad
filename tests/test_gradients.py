"""`scale_gradient` against Optax 0.2.8, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

X = {"a": jnp.asarray([1.0, -2.0, 0.5]), "b": jnp.asarray(3.0)}


def loss(scale_gradient, scale):
    def f(x):
        y = scale_gradient(x, scale)
        return jnp.sum(jnp.sin(y["a"]) * y["b"]) + y["b"] ** 3

    return f


@pytest.mark.parametrize("scale", [0.5, -2.0, 1.0, 0.0, jnp.asarray(0.25)])
def test_scale_gradient_matches_optax_and_keeps_the_forward_value(scale):
    mine = jax.jit(jax.value_and_grad(loss(gradtx.scale_gradient, scale)))(X)
    theirs = jax.value_and_grad(loss(optax.scale_gradient, scale))(X)
    jax.tree.map(np.testing.assert_array_equal, mine, theirs)
    plain = jax.grad(loss(lambda x, s: x, None))(X)
    expected = jax.tree.map(lambda g: g * float(scale), plain)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-15), mine[1], expected)


def test_scale_gradient_takes_a_traced_scale_and_keeps_dtypes():
    grad = jax.jit(jax.grad(lambda x, s: jnp.sum(gradtx.scale_gradient(x, s) ** 2)))
    g = grad(jnp.ones(2, jnp.bfloat16), jnp.asarray(3.0))
    assert g.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(g, float), [6.0, 6.0])
