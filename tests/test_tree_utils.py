"""`gradtx.tree_utils` and `gradtx.global_norm` against `optax.tree_utils` 0.2.8, in float64."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import tree_utils
from tests import replay

X = replay.replay_params(0)
Y = replay.replay_params(1)
OPTAX = optax.tree_utils


def optax_quietly(name):
    """Optax's function of that name (its deprecated names warn when looked up)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(OPTAX, name)


def assert_same(a, b, rtol=0.0):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert jnp.result_type(x) == jnp.result_type(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=0)


CALLS = {  # name -> arguments; both libraries are called with them
    "tree_add": (X, Y, X),
    "tree_sub": (X, Y),
    "tree_mul": (X, Y),
    "tree_div": (X, Y),
    "tree_scale": (jnp.asarray(-1.5), X),
    "tree_add_scale": (X, jnp.asarray(0.3), Y),
    "tree_sum": (X,),
    "tree_max": (X,),
    "tree_min": (X,),
    "tree_conj": (X,),
    "tree_real": (X,),
    "tree_zeros_like": (X,),
    "tree_ones_like": (X, jnp.float32),
    "tree_full_like": (X, 2.5),
    "tree_clip": (X, -0.5, 0.25),
    "tree_where": (jnp.asarray(False), X, Y),
    "tree_cast": (X, jnp.float32),
    "tree_cast_like": (X, jax.tree.map(lambda x: x.astype(jnp.float32), Y)),
    "tree_batch_shape": (X, (2, 1)),
}


@pytest.mark.parametrize("name", CALLS)
def test_tree_function_equals_optax_bit_for_bit(name):
    assert_same(getattr(tree_utils, name)(*CALLS[name]), getattr(OPTAX, name)(*CALLS[name]))


def test_reductions_match_optax():
    assert tree_utils.tree_size(X) == OPTAX.tree_size(X) == 16
    assert_same(tree_utils.tree_vdot(X, Y), OPTAX.tree_vdot(X, Y), rtol=1e-14)
    assert_same(tree_utils.tree_sum(X, True), OPTAX.tree_sum(X, True))
    assert bool(tree_utils.tree_allclose(X, X)) and not bool(tree_utils.tree_allclose(X, Y))
    assert (
        float(tree_utils.tree_max({})) == -math.inf and float(tree_utils.tree_min([])) == math.inf
    )


@pytest.mark.parametrize("ord", [None, 1, 2, jnp.inf, "inf", "infinity"])
@pytest.mark.parametrize("squared", [False, True])
def test_tree_norm_matches_optax(ord, squared):
    assert_same(tree_utils.tree_norm(X, ord, squared), OPTAX.tree_norm(X, ord, squared), 1e-15)


def test_global_norm_matches_optax_and_sums_half_precision_in_float32():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = optax.global_norm(X)
    assert_same(gradtx.global_norm(X), expected, 1e-15)
    big = {"a": jnp.full(4, 300.0, jnp.bfloat16)}  # 4 * 300^2 overflows nothing in float32
    assert gradtx.global_norm(big).dtype == jnp.float32 and float(gradtx.global_norm(big)) == 600.0


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("tree_scalar_mul", lambda f: f(2.0, X)),
        ("tree_add_scalar_mul", lambda f: f(X, 2.0, Y)),
        ("tree_l1_norm", lambda f: f(X)),
        ("tree_l2_norm", lambda f: f(X, squared=True)),
        ("tree_linf_norm", lambda f: f(X)),
    ],
)
def test_optax_deprecated_names_still_work_and_warn(name, call):
    with pytest.warns(DeprecationWarning, match=f"^gradtx.tree_utils.{name} is Optax's"):
        mine = getattr(tree_utils, name)
    assert_same(call(mine), call(optax_quietly(name)), rtol=1e-15)


def test_unknown_names_and_orders_raise():
    with pytest.raises(AttributeError, match="has no attribute 'tree_nothing'"):
        tree_utils.tree_nothing  # noqa: B018
    with pytest.raises(ValueError, match=r"^tree_norm: ord must be None, 1, 2, inf, 'inf' or "):
        tree_utils.tree_norm(X, ord=3)
