"""Tests of parameter groups in gradtx/_combine.py: multi_transform, set_to_zero, freeze."""

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


class _SumState(NamedTuple):
    total: Any


def _running_sum():
    """A local stateful transformation, u_t = g_1 + ... + g_t, whose state layout is fixed here."""

    def init(params):
        return _SumState(jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        total = jax.tree.map(jnp.add, state.total, updates)
        return total, _SumState(total)

    return gradtx.GradientTransformation(init, update)


def _params():
    return {
        "embed": jnp.ones((5, 2)),
        "layers": [{"w": jnp.full((2, 2), 0.5), "bias": jnp.zeros(2)} for _ in range(2)],
        "norm": {"scale": jnp.ones(2)},
    }


def _grads(seed, params=None):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params or _params())


def _leaf_paths(tree):
    return sorted(jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree))


# multi_transform: equivalence with separate optimizers


def test_multi_transform_equals_each_optimizer_on_its_own_subtree():
    params = {
        "enc": {"w": jnp.full((3, 2), 0.5), "b": jnp.zeros(2)},
        "dec": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)},
    }
    slow, fast = gradtx.adamw(1e-3, weight_decay=0.1), gradtx.sgd(0.1, momentum=0.9)
    tx = gradtx.multi_transform({"slow": slow, "fast": fast}, {"enc": "slow", "dec": "fast"})
    state = tx.init(params)
    alone = {"enc": slow, "dec": fast}
    alone_states = {k: alone[k].init(params[k]) for k in alone}
    alone_params = dict(params)
    for step in range(3):
        g = _grads(step, params)
        updates, state = tx.update(g, state, params)
        params = gradtx.apply_updates(params, updates)
        for k in alone:
            u, alone_states[k] = alone[k].update(g[k], alone_states[k], alone_params[k])
            alone_params[k] = gradtx.apply_updates(alone_params[k], u)
            chex.assert_trees_all_equal(updates[k], u)  # bitwise
    chex.assert_trees_all_equal(params, alone_params)
    slow_paths, fast_paths = (_leaf_paths(state.inner_states[k]) for k in ("slow", "fast"))
    assert any("['enc']" in p for p in slow_paths) and not any("['dec']" in p for p in slow_paths)
    assert any("['dec']" in p for p in fast_paths) and not any("['enc']" in p for p in fast_paths)
    chex.assert_trees_all_equal(
        jax.tree.leaves(state.inner_states["slow"]), jax.tree.leaves(alone_states["enc"])
    )
    chex.assert_trees_all_equal(
        jax.tree.leaves(state.inner_states["fast"]), jax.tree.leaves(alone_states["dec"])
    )


def test_multi_transform_state_holds_each_label_on_its_own_leaves_only():
    tx = gradtx.multi_transform(
        {"a": _running_sum(), "b": _running_sum()}, {"embed": "a", "layers": "b", "norm": "a"}
    )
    state = tx.init(_params())
    assert isinstance(state, gradtx.MultiTransformState)
    assert sorted(state.inner_states) == ["a", "b"]
    assert _leaf_paths(state.inner_states["a"]) == [".total['embed']", ".total['norm']['scale']"]
    assert len(jax.tree.leaves(state.inner_states["b"])) == 4
    g0, g1 = _grads(0), _grads(1)
    updates, state = tx.update(g0, state, _params())
    updates, new_state = tx.update(g1, state, _params())
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    chex.assert_trees_all_equal(updates, jax.tree.map(jnp.add, g0, g1))
    chex.assert_trees_all_equal(new_state.inner_states["a"].total["embed"], updates["embed"])


def test_multi_transform_label_function_and_full_label_tree():
    def labels_fn(params):
        return jax.tree.map(lambda p: "matrix" if p.ndim == 2 else "vector", params)

    transforms = {"matrix": gradtx.scale(2.0), "vector": gradtx.scale(-3.0)}
    params, g = _params(), _grads(1)
    for labels in (labels_fn, labels_fn(params)):
        tx = gradtx.multi_transform(transforms, labels)
        updates, _ = tx.update(g, tx.init(params), params)
        np.testing.assert_array_equal(updates["embed"], 2.0 * g["embed"])
        np.testing.assert_array_equal(updates["layers"][1]["w"], 2.0 * g["layers"][1]["w"])
        np.testing.assert_array_equal(updates["layers"][0]["bias"], -3.0 * g["layers"][0]["bias"])
        np.testing.assert_array_equal(updates["norm"]["scale"], -3.0 * g["norm"]["scale"])


def test_multi_transform_passes_each_group_its_params():
    tx = gradtx.multi_transform(
        {"decay": gradtx.add_decayed_weights(0.5), "plain": gradtx.identity()},
        {"w": "decay", "b": "plain"},
    )
    params = {"w": jnp.full(2, 2.0), "b": jnp.full(2, 4.0)}
    grads = {"w": jnp.ones(2), "b": jnp.ones(2)}
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates["w"], [2.0, 2.0])
    np.testing.assert_array_equal(updates["b"], [1.0, 1.0])


# multi_transform: regular expressions over paths


FACTORS = {"a": 2.0, "b": 3.0, "c": 5.0, "d": 7.0}


def _scales():
    return {label: gradtx.scale(f) for label, f in FACTORS.items()}


def _factors_applied(updates, grads):
    return jax.tree.map(lambda u, g: float(u.ravel()[0] / g.ravel()[0]), updates, grads)


def test_multi_transform_regex_first_match_wins_and_path_format():
    params = {
        "embed": jnp.ones(3),
        "layers": [
            {"w": jnp.ones(2), "bias": jnp.ones(2)},
            {"w": jnp.ones(2), "bias": jnp.ones(2)},
        ],
        "norm": {"scale": jnp.ones(2)},
    }
    patterns = {
        r"embed": "a",
        r".*bias": "b",  # wins over the next pattern for layers/0/bias
        r"layers/0/.*": "c",
        r".*": "d",
    }
    tx = gradtx.multi_transform(_scales(), patterns)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert _factors_applied(updates, grads) == {
        "embed": 2.0,
        "layers": [{"w": 5.0, "bias": 3.0}, {"w": 7.0, "bias": 3.0}],
        "norm": {"scale": 7.0},
    }


def test_multi_transform_regex_paths_of_tuples_and_named_tuples():
    params = ({"k": jnp.ones(1)}, gradtx.EmptyState(), _SumState(total=jnp.ones(2)))
    tx = gradtx.multi_transform(_scales(), {r"0/k": "a", r"2/total": "b"})
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates[0]["k"], [2.0])
    np.testing.assert_array_equal(updates[2].total, [3.0, 3.0])


def test_multi_transform_regex_must_match_the_whole_path():
    tx = gradtx.multi_transform(_scales(), {r"layers": "a", r"embed|norm/scale": "b"})
    with pytest.raises(ValueError) as info:
        tx.init(_params())
    message = str(info.value)
    assert "'layers/0/bias'" in message  # the first unmatched path (dict keys are sorted)
    assert "['layers', 'embed|norm/scale']" in message
    assert "r'.*': 'default'" in message


def test_multi_transform_regex_labels_computed_from_updates_without_params():
    tx = gradtx.multi_transform(_scales(), {r".*bias": "a", r".*": "b"})
    g = _grads(2)
    updates, _ = tx.update(g, tx.init(_params()))
    np.testing.assert_array_equal(updates["layers"][1]["bias"], 2.0 * g["layers"][1]["bias"])
    np.testing.assert_array_equal(updates["embed"], 3.0 * g["embed"])


def test_multi_transform_dict_with_the_params_keys_is_a_label_tree():
    # {"embed": ..., "layers": ..., "norm": ...} is a prefix of the params: whole subtrees.
    tx = gradtx.multi_transform(_scales(), {"embed": "a", "layers": "b", "norm": "c"})
    g = _grads(3)
    updates, _ = tx.update(g, tx.init(_params()), _params())
    np.testing.assert_array_equal(updates["layers"][0]["w"], 3.0 * g["layers"][0]["w"])
    np.testing.assert_array_equal(updates["norm"]["scale"], 5.0 * g["norm"]["scale"])


def test_multi_transform_invalid_regex_is_named():
    tx = gradtx.multi_transform(_scales(), {r"layers/(": "a", r".*": "b"})
    with pytest.raises(ValueError, match=r"'layers/\(' in param_labels is not a regular"):
        tx.init(_params())


# multi_transform: bad labels and states


def test_multi_transform_unknown_label_is_named_eagerly():
    with pytest.raises(ValueError) as info:
        gradtx.multi_transform(_scales(), {r".*bias": "no_decay", r".*": "a"})
    message = str(info.value)
    assert "no transformation for label 'no_decay'" in message
    assert "given for ['.*bias'] in param_labels" in message
    assert "['a', 'b', 'c', 'd']" in message
    with pytest.raises(ValueError, match="label 'x' \\(given for \\['layers'\\] in param_labels"):
        gradtx.multi_transform(_scales(), {"embed": "a", "layers": "x", "norm": "a"})


def test_multi_transform_unknown_label_from_a_function_is_named_at_init():
    tx = gradtx.multi_transform(_scales(), lambda p: jax.tree.map(lambda _: "zzz", p))
    with pytest.raises(
        ValueError,
        match="label 'zzz' \\(given for \\['embed'\\] in the params\\).*\\['a', 'b', 'c', 'd'\\]",
    ):
        tx.init(_params())


def test_multi_transform_wrong_state_error():
    tx = gradtx.multi_transform(_scales(), {r".*": "a"})
    other = gradtx.multi_transform({"a": gradtx.identity()}, {r".*": "a"})
    with pytest.raises(ValueError, match="one inner state per label .*init"):
        tx.update(_grads(4), other.init(_params()), _params())


def test_multi_transform_labels_not_a_prefix_of_params():
    tx = gradtx.multi_transform(_scales(), lambda p: {"embed": "a"})
    with pytest.raises(ValueError, match="labels must have the params' tree structure"):
        tx.init(_params())


@pytest.mark.parametrize("transforms", [{}, [gradtx.identity()], {"a": lambda g: g}])
def test_multi_transform_bad_transforms(transforms):
    with pytest.raises(TypeError, match="multi_transform: "):
        gradtx.multi_transform(transforms, {r".*": "a"})


# multi_transform under jit and scan


def _grouped_optimizer():
    return gradtx.multi_transform(
        {
            "frozen": gradtx.set_to_zero(),
            "no_decay": gradtx.adam(0.05),
            "first": gradtx.adamw(0.01, weight_decay=0.1),
            "default": gradtx.adamw(0.05, weight_decay=0.1),
        },
        {
            r"embed": "frozen",
            r".*bias|norm/.*": "no_decay",
            r"layers/0/.*": "first",
            r".*": "default",
        },
    )


def _loss(params):
    return sum(jnp.sum((p - 2.0) ** 2) for p in jax.tree.leaves(params))


def test_multi_transform_scan_loop_matches_jitted_python_loop():
    tx = _grouped_optimizer()
    params = _params()

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(_loss)(params), state, params)
        return (gradtx.apply_updates(params, updates), state), None

    (scanned, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, length=8))((params, tx.init(params)))
    carry = (params, tx.init(params))
    jitted_step = jax.jit(step)
    for _ in range(8):
        carry, _ = jitted_step(carry, None)
    chex.assert_trees_all_close(scanned, carry[0], rtol=1e-12, atol=1e-14)
    chex.assert_trees_all_equal(scanned["embed"], params["embed"])  # frozen
    assert float(_loss(scanned)) < float(_loss(params))


# set_to_zero and freeze


def test_set_to_zero_keeps_structure_and_dtypes():
    tx = gradtx.set_to_zero()
    g = {"a": jnp.ones(3, jnp.bfloat16), "b": [jnp.ones((2, 2), jnp.float32), None]}
    updates, state = tx.update(g, tx.init(g))
    assert state == gradtx.EmptyState()
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, g)
    assert all(not bool(jnp.any(u)) for u in jax.tree.leaves(updates))


def test_freeze_zeros_frozen_leaves_and_has_no_state():
    tx = gradtx.freeze({"embed": True, "layers": False, "norm": True})
    params, g = _params(), _grads(5)
    state = tx.init(params)
    assert jax.tree.leaves(state) == []
    updates, new_state = jax.jit(tx.update)(g, state, params)
    assert jax.tree.leaves(new_state) == []
    np.testing.assert_array_equal(updates["embed"], np.zeros((5, 2)))
    np.testing.assert_array_equal(updates["norm"]["scale"], np.zeros(2))
    chex.assert_trees_all_equal(updates["layers"], g["layers"])


def test_frozen_group_in_multi_transform_gets_zero_updates_and_no_state():
    tx = _grouped_optimizer()
    params = _params()
    state = tx.init(params)
    assert jax.tree.leaves(state.inner_states["frozen"]) == []
    for name, inner in state.inner_states.items():
        paths = " ".join(_leaf_paths(inner))
        assert "embed" not in paths, name
    updates, _ = tx.update(_grads(6), state, params)
    np.testing.assert_array_equal(updates["embed"], np.zeros((5, 2)))


def test_multi_transform_path_matching_no_pattern_is_named_in_both_forms():
    tx = gradtx.multi_transform(_scales(), {r"embed": "a", r"norm/.*": "b"})
    with pytest.raises(
        ValueError,
        match=r"^multi_transform: the parameter at \['layers'\]\[0\]\['bias'\] \(matched as "
        r"'layers/0/bias'\) matches none of the patterns \['embed', 'norm/\.\*'\]",
    ):
        tx.init(_params())


def test_multi_transform_pattern_matching_no_path_is_refused():
    """`{"enc": "frozen", ".*": "train"}`: "enc" matches no whole path ("enc/w"), so the frozen
    group was empty and every leaf trained, silently."""
    params = {"enc": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
    tx = gradtx.multi_transform(
        {"frozen": gradtx.set_to_zero(), "train": gradtx.sgd(1.0)}, {"enc": "frozen", ".*": "train"}
    )
    with pytest.raises(
        ValueError,
        match=r"^multi_transform: the pattern 'enc' \(label 'frozen'\) in param_labels matches "
        r"a subtree but no leaf, .* the paths are 'enc/w', 'head/w'\. For the subtree's leaves, "
        r"write 'enc/\.\*'\.$",
    ):
        tx.init(params)
    fixed = gradtx.multi_transform(
        {"frozen": gradtx.set_to_zero(), "train": gradtx.sgd(1.0)},
        {"enc/.*": "frozen", ".*": "train"},
    )
    updates, _ = fixed.update(params, fixed.init(params), params)
    np.testing.assert_array_equal(updates["enc"]["w"], [0.0, 0.0])
    np.testing.assert_array_equal(updates["head"]["w"], [-1.0, -1.0])
    # A pattern for leaves this model lacks (no biases here) is no mistake.
    generic = gradtx.multi_transform(
        {"no_decay": gradtx.sgd(1.0), "decay": gradtx.adamw(1.0)},
        {".*bias": "no_decay", ".*": "decay"},
    )
    generic.init(params)


def test_multi_transform_names_the_label_whose_transformation_is_not_one():
    with pytest.raises(
        TypeError,
        match=r"^multi_transform: transforms_by_label\['b'\] must be a gradient transformation "
        r"\(an object with `init` and `update`\), got function adam; call it first",
    ):
        gradtx.multi_transform({"a": gradtx.sgd(0.1), "b": gradtx.adam}, {r".*": "a"})


def test_masks_of_concrete_boolean_arrays_are_accepted_as_optaxs_are():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    for mask in ({"w": jnp.array(True), "b": jnp.array(False)}, {"w": np.array(True), "b": False}):
        tx = gradtx.masked(gradtx.sgd(1.0), mask)
        updates, _ = jax.jit(tx.update)(params, tx.init(params), params)
        np.testing.assert_array_equal(updates["w"], [-1.0, -1.0])
        np.testing.assert_array_equal(updates["b"], [1.0, 1.0])


def test_a_mask_computed_from_traced_values_is_refused_with_the_reason():
    params = {"w": jnp.ones(2)}
    tx = gradtx.masked(gradtx.sgd(1.0), lambda p: jax.tree.map(lambda x: x.sum() > 0, p))
    with pytest.raises(TypeError, match=r"got a traced value: a mask decides which leaves"):
        jax.jit(tx.init)(params)
