"""Tests of gradtx/_tree.py: tree math shared by the transformations."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradtx import _tree

INT32_MAX = np.iinfo(np.int32).max


def test_map_leaves_applies_rule_leaf_by_leaf():
    updates = {"a": jnp.arange(3.0), "b": [jnp.ones((2, 2)), None, 1.5]}
    other = {"a": jnp.full(3, 2.0), "b": [jnp.full((2, 2), 3.0), None, 0.5]}
    out = _tree.map_leaves(lambda u, o: u * o, updates, other, where="test")
    assert jax.tree.structure(out) == jax.tree.structure(updates)
    np.testing.assert_array_equal(out["a"], np.arange(3.0) * 2.0)
    np.testing.assert_array_equal(out["b"][0], np.full((2, 2), 3.0))
    assert out["b"][1] is None
    np.testing.assert_array_equal(out["b"][2], 0.75)


def test_map_leaves_returns_one_tree_per_output():
    updates = {"a": jnp.arange(3.0), "b": jnp.ones(2)}
    plus, minus = _tree.map_leaves(lambda u: (u + 1, u - 1), updates, where="test", outputs=2)
    np.testing.assert_array_equal(plus["a"], np.arange(3.0) + 1)
    np.testing.assert_array_equal(minus["b"], np.zeros(2))


def test_map_leaves_error_names_first_differing_path():
    updates = {"a": jnp.ones(2), "b": jnp.ones(2)}
    state = {"a": jnp.ones(2), "c": jnp.ones(2)}
    with pytest.raises(ValueError) as info:
        _tree.map_leaves(lambda u, m: u, updates, state, where="scale_by_test", names=("mu",))
    message = str(info.value)
    assert "scale_by_test" in message
    assert "different tree structures" in message
    assert "['b']" in message and "['c']" in message
    assert "mu" in message
    assert "init" in message


def test_map_leaves_error_names_the_leaf_one_tree_lacks():
    updates = {"a": jnp.ones(2), "b": jnp.ones(2)}
    state = {"a": jnp.ones(2)}
    with pytest.raises(ValueError, match="different tree structures") as info:
        _tree.map_leaves(lambda u, m: u, updates, state, where="test", names=("nu",))
    assert "['b']" in str(info.value)


def test_map_leaves_error_names_unnamed_trees_by_position():
    with pytest.raises(ValueError, match="tree 1"):
        _tree.map_leaves(lambda u, m: u, {"a": 1.0}, {"z": 1.0}, where="test")


def test_check_same_structure_accepts_equal_structures():
    tree = {"a": jnp.ones(2), "b": [jnp.ones(()), None]}
    _tree.check_same_structure(
        tree, jax.tree.map(jnp.zeros_like, tree), name_a="x", name_b="y", where="test"
    )


def test_check_same_structure_error_names_first_differing_path():
    a = {"a": jnp.ones(2), "b": jnp.ones(2)}
    b = {"a": jnp.ones(2), "c": jnp.ones(2)}
    with pytest.raises(ValueError) as info:
        _tree.check_same_structure(a, b, name_a="params", name_b="updates", where="apply_updates")
    message = str(info.value)
    assert message.startswith("apply_updates: params and updates have different tree structures")
    assert "params has ['b'] where updates has ['c']" in message


def test_check_same_structure_error_names_different_containers():
    with pytest.raises(ValueError, match="different containers"):
        _tree.check_same_structure([1.0, 2.0], (1.0, 2.0), name_a="a", name_b="b", where="test")


def test_structure_mismatch_is_none_for_equal_structures():
    assert _tree.structure_mismatch({"a": 1.0}, {"a": jnp.ones(3)}, name_a="a", name_b="b") is None


def test_structure_mismatch_names_extra_leaf():
    problem = _tree.structure_mismatch({"a": 1.0}, {"a": 1.0, "b": 2.0}, name_a="x", name_b="y")
    assert problem == "y has a leaf at ['b'] that x lacks"


def test_structure_mismatch_names_a_missing_leaf_that_sorts_first():
    """{'w'} against {'b', 'w'}: said "x has ['w'] where y has ['b']", which reads like a swap."""
    problem = _tree.structure_mismatch(
        {"w": 1.0}, {"b": 1.0, "c": 1.0, "w": 1.0}, name_a="updates", name_b="mu"
    )
    assert problem == "mu has a leaf at ['b'] that updates lacks (and 1 more)"
    problem = _tree.structure_mismatch({"a": 1.0}, {"b": 1.0}, name_a="x", name_b="y")
    assert problem == "first differing path: x has ['a'] where y has ['b']"


@pytest.mark.parametrize("dtype", [jnp.int8, jnp.int32])
def test_safe_increment_saturates_at_dtype_max(dtype):
    top = np.iinfo(dtype).max
    count = jnp.asarray(top, dtype)
    assert _tree.safe_increment(count) == top
    assert _tree.safe_increment(count).dtype == dtype
    assert jax.jit(_tree.safe_increment)(count) == top
    assert _tree.safe_increment(jnp.asarray(top - 1, dtype)) == top


def test_safe_increment_counts_up():
    count = jnp.zeros([], jnp.int32)
    for expected in range(1, 4):
        count = _tree.safe_increment(count)
        assert count == expected and count.dtype == jnp.int32


def test_safe_increment_saturates_at_int32_max():
    count = jnp.asarray(INT32_MAX, jnp.int32)
    assert int(_tree.safe_increment(_tree.safe_increment(count))) == INT32_MAX


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("t", [1, 2, 10, 1000])
def test_bias_correction_is_one_minus_decay_to_the_t(decay, t):
    got = _tree.bias_correction(decay, jnp.asarray(t, jnp.int32), jnp.float64)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, 1 - decay**t, rtol=1e-14)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_bias_correction_is_rounded_once_to_low_precision(dtype):
    # The docstring: "computed before any rounding to a low-precision dtype". At t = 1 and
    # decay = 0.999 the exact value is 0.001; rounding decay first gives 0 in bfloat16.
    got = _tree.bias_correction(0.999, jnp.asarray(1, jnp.int32), dtype)
    assert got.dtype == dtype
    assert got == jnp.asarray(1 - 0.999, dtype)


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ((jnp.bfloat16,), jnp.float32),
        ((jnp.float16,), jnp.float32),
        ((jnp.float32,), jnp.float32),
        ((jnp.float64,), jnp.float64),
        ((jnp.bfloat16, jnp.bfloat16), jnp.float32),
        ((jnp.bfloat16, jnp.float32), jnp.float32),
        ((jnp.float32, jnp.float64), jnp.float64),
    ],
)
def test_compute_dtype_is_promoted_dtype_at_least_float32(dtypes, expected):
    arrays = [jnp.ones(2, d) for d in dtypes]
    assert _tree.compute_dtype(*arrays) == expected


def test_zeros_like_keeps_shapes_and_dtypes():
    tree = {"a": jnp.ones(3, jnp.bfloat16), "b": [jnp.ones((2, 2)), None, 1.5]}
    zeros = _tree.zeros_like(tree)
    assert jax.tree.structure(zeros) == jax.tree.structure(tree)
    assert zeros["a"].dtype == jnp.bfloat16 and zeros["a"].shape == (3,)
    assert zeros["b"][0].dtype == jnp.float64 and zeros["b"][0].shape == (2, 2)
    assert zeros["b"][2].shape == ()
    assert all(not np.any(np.asarray(x, np.float64)) for x in jax.tree.leaves(zeros))


def test_zeros_like_casts_to_given_dtype():
    zeros = _tree.zeros_like({"a": jnp.ones(3), "b": jnp.ones(2, jnp.float16)}, jnp.float32)
    assert {x.dtype for x in jax.tree.leaves(zeros)} == {jnp.dtype(jnp.float32)}


def test_full_like_fills_value():
    full = _tree.full_like({"a": jnp.ones(3, jnp.float32), "b": None}, 0.1)
    np.testing.assert_array_equal(full["a"], np.full(3, 0.1, np.float32))
    assert full["a"].dtype == jnp.float32 and full["b"] is None


def test_ema_is_convex_combination():
    value, average = jnp.asarray([1.0, -2.0]), jnp.asarray([3.0, 4.0])
    np.testing.assert_allclose(
        _tree.ema(value, average, 0.25),
        0.75 * np.array([1.0, -2.0]) + 0.25 * np.array([3, 4]),
        rtol=1e-15,
    )


def test_abs_sq_of_real_and_complex():
    np.testing.assert_array_equal(_tree.abs_sq(jnp.asarray([-3.0, 2.0])), [9.0, 4.0])
    z = _tree.abs_sq(jnp.asarray([3.0 + 4.0j]))
    assert z.dtype == jnp.complex128  # the dtype of a complex moment, so no promotion is needed
    np.testing.assert_allclose(z, [25.0 + 0.0j], rtol=1e-15)


def test_as_dtype_and_cast_like():
    a, b = _tree.as_dtype(jnp.float32, 0.5, jnp.asarray(2.0))
    assert a.dtype == b.dtype == jnp.float32
    assert _tree.cast_like(jnp.ones(2), jnp.zeros(2, jnp.bfloat16)).dtype == jnp.bfloat16


def test_path_name_is_keystr_and_root():
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path({"a": [1.0, {"b": 2.0}]})[0]]
    assert [_tree.path_name(p) for p in paths] == ["['a'][0]", "['a'][1]['b']"]
    assert _tree.path_name(()) == "<root>"
    assert _tree.leaf_paths(jnp.ones(2)) == ["<root>"]


def test_vdot_is_the_real_inner_product_over_all_leaves():
    a = {"x": jnp.asarray([1.0, 2.0]), "z": jnp.asarray([1 + 2j], jnp.complex128)}
    b = {"x": jnp.asarray([3.0, -1.0]), "z": jnp.asarray([2 - 1j], jnp.complex128)}
    expected = 1 * 3 + 2 * -1 + np.real(np.conj(1 + 2j) * (2 - 1j))
    assert float(_tree.vdot(a, b, jnp.float64)) == expected
    assert _tree.vdot(a, b, jnp.float32).dtype == jnp.float32


def test_squared_norm_norm_and_all_finite():
    tree = {"x": jnp.asarray([3.0, 0.0]), "y": [jnp.asarray(4.0)], "n": None}
    assert float(_tree.squared_norm(tree)) == 25.0
    assert float(_tree.norm(tree)) == 5.0
    assert bool(_tree.all_finite(tree))
    assert not bool(_tree.all_finite({"x": jnp.asarray([1.0, jnp.inf])}))
    assert not bool(_tree.all_finite([jnp.asarray(1.0), jnp.asarray(jnp.nan)]))


class _LiftState(NamedTuple):
    count: jax.Array  # not a leaf field
    mu: Any  # annotated Any: a leaf field (lift reads `Updates`, an alias of Any)
    nu: Any


def test_leaf_fields_are_the_updates_typed_fields():
    import gradtx

    assert _tree.leaf_fields(gradtx.ScaleByAdamState) == ("mu", "nu")
    assert _tree.leaf_fields(gradtx.ScaleByAmsgradState) == ("mu", "nu", "nu_max")
    assert _tree.leaf_fields(gradtx.BoundLrState) == ("mu",)  # step_size is an inner state


def test_lift_skips_none_fields_and_keeps_other_fields():
    state = _LiftState(count=jnp.asarray(3), mu=None, nu=jnp.zeros(2))

    def accumulate(g, s, h):
        assert s.mu is None and s.count is None  # non-leaf and None fields are not lifted
        return s._replace(nu=s.nu + h.scale * g)

    u, new = _tree.lift("t", (accumulate, lambda g, s, h: s.nu), jnp.ones(2), state, scale=2.0)
    np.testing.assert_array_equal(u, [2.0, 2.0])
    assert new.mu is None and int(new.count) == 3
    np.testing.assert_array_equal(new.nu, [2.0, 2.0])


def test_lift_computes_in_float32_and_rounds_state_between_phases():
    g = jnp.asarray([1.0, 3.0], jnp.bfloat16)
    state = _LiftState(count=None, mu=jnp.zeros(2, jnp.bfloat16), nu=jnp.zeros(2, jnp.float32))
    seen = {}

    def moments(g, s, h):
        seen["dtypes"] = (g.dtype, s.mu.dtype, h.third.dtype)
        return s._replace(mu=g * h.third, nu=g * h.third)

    def direction(g, s, h):
        seen["mu"], seen["nu"] = s.mu, s.nu
        return s.mu

    u, new = _tree.lift("t", (moments, direction), g, state, third=1 / 3)
    assert seen["dtypes"] == (jnp.float32, jnp.float32, jnp.float32)
    # the direction reads mu as stored (rounded to bfloat16), nu in float32
    third = np.float32(1) / np.float32(3)
    assert float(seen["mu"][0]) == float(jnp.asarray(third, jnp.bfloat16))
    assert float(seen["nu"][0]) == float(third)
    assert u.dtype == jnp.bfloat16 and new.mu.dtype == jnp.bfloat16 and new.nu.dtype == jnp.float32


def test_lift_direction_may_update_state_and_stay_in_compute_dtype():
    g = jnp.asarray([2.0], jnp.bfloat16)
    state = _LiftState(count=None, mu=jnp.ones(1, jnp.bfloat16), nu=jnp.zeros(1, jnp.bfloat16))

    def direction(g, s, h):  # Adadelta-style: a field that depends on the update
        u = g / 3
        return u, s._replace(nu=u * u)

    phases = (direction,)
    u, new = _tree.lift("t", phases, g, state, direction_dtype="compute")
    assert u.dtype == jnp.float32 and float(u[0]) == float(np.float32(2) / np.float32(3))
    assert new.nu.dtype == jnp.bfloat16
    assert float(new.mu[0]) == 1.0


def test_lift_error_names_the_state_field_and_path():
    state = _LiftState(count=None, mu={"a": jnp.zeros(2)}, nu={"a": jnp.zeros(3)})
    with pytest.raises(ValueError, match=r"t: updates leaf \['a'\] has shape \(2,\) but nu "):
        _tree.lift("t", (lambda g, s, h: g,), {"a": jnp.ones(2)}, state)
