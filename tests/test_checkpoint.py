"""Tests of gradtx/_checkpoint.py: exact resume, with `save_state` / `load_state` and with Orbax.

Every registered optimizer and transformation (PRNG keys, schedule counts, switch flags and all)
runs 6 steps; the state after step 3 is saved, restored into a fresh optimizer's `init`
template, and the last 3 steps rerun from it: updates, params and state agree bit for bit. Orbax's
`StandardCheckpointer` restores the same tree, avals and bits. The messages of a refused restore
are in `test_errors.py`.
"""

import json
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import gradtx
from tests import helpers
from tests.registry import ALL

STEPS, SAVE_AFTER = 6, 3


def make_params():
    """The shared mixed tree, one leaf of each float dtype, plus a float32 matrix at "w": the
    leaf that `groups_by_regex` routes to its Adam group (every other path goes to SGD)."""
    return {
        **helpers.mixed_params(helpers.MIXED_DTYPES),
        "w": jnp.asarray([[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]], jnp.float32),
    }


def stepper(tx):
    """One training step; the gradient depends on the params and the step number."""

    @jax.jit
    def step(params, state, t):
        sign = (1 - 2 * (t % 2)).astype(jnp.float32)
        grads = jax.tree.map(lambda p: p - (0.3 * sign).astype(jnp.result_type(p)), params)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, updates

    return step


def run(step, params, state, first, last):
    """Steps `first` to `last - 1`, eagerly: one compile per entry would cost more than the run."""
    updates_seen = []
    with jax.disable_jit():
        for t in range(first, last):
            params, state, updates = step(params, state, jnp.asarray(t, jnp.int32))
            updates_seen.append(updates)
    return params, state, updates_seen


def numpy_round_trip(state, template, tmp_path):
    path = tmp_path / "state.npz"
    gradtx.save_state(path, state)
    return gradtx.load_state(path, like=template)


def orbax_round_trip(state, template, tmp_path):
    if not jax.tree.leaves(state):  # nothing to save, and Orbax refuses some empty trees
        return template
    path = (tmp_path / "orbax").absolute()
    with ocp.StandardCheckpointer() as checkpointer:  # closed: no thread outlives the test
        checkpointer.save(path, state)
        checkpointer.wait_until_finished()
        return checkpointer.restore(path, template)


@pytest.mark.parametrize("name", ALL)
def test_resumed_run_equals_uninterrupted_run_bit_for_bit(name, tmp_path):
    """Resumed from `load_state`, the run goes on bit for bit. Orbax's restored state is the
    same: the same tree, avals (dtypes, shapes, weak types) and bits as the saved one, so the
    same (deterministic) steps follow from it."""
    tx, params = ALL[name](), make_params()
    step = stepper(tx)
    mid_params, mid_state, _ = run(step, params, tx.init(params), 0, SAVE_AFTER)
    straight_params, straight_state, straight_updates = run(
        step, mid_params, mid_state, SAVE_AFTER, STEPS
    )
    template = ALL[name]().init(params)  # a fresh optimizer's template, as after a restart
    restored = numpy_round_trip(mid_state, template, tmp_path)
    assert_same_tree_avals_and_bits(restored, mid_state)
    resumed_params, resumed_state, resumed_updates = run(
        step, mid_params, restored, SAVE_AFTER, STEPS
    )
    chex.assert_trees_all_equal(resumed_updates, straight_updates)
    chex.assert_trees_all_equal(resumed_params, straight_params)
    chex.assert_trees_all_equal(resumed_state, straight_state)
    assert_same_tree_avals_and_bits(orbax_round_trip(mid_state, template, tmp_path), mid_state)


def assert_same_tree_avals_and_bits(restored, saved):
    chex.assert_trees_all_equal_structs(restored, saved)
    chex.assert_trees_all_equal(restored, saved)
    avals = [jax.typeof(x) for x in jax.tree.leaves((restored, saved))]
    half = len(avals) // 2
    assert avals[:half] == avals[half:]


def test_a_restored_state_does_not_recompile_the_jitted_step(tmp_path):
    tx, params = gradtx.adam(0.1), make_params()
    step = stepper(tx)
    params, state, _ = step(params, tx.init(params), jnp.asarray(0, jnp.int32))
    step(params, state, jnp.asarray(1, jnp.int32))
    compiled = step._cache_size()
    step(params, numpy_round_trip(state, state, tmp_path), jnp.asarray(1, jnp.int32))
    assert step._cache_size() == compiled


def test_load_state_accepts_an_abstract_template(tmp_path):
    tx, params = gradtx.adam(0.1), make_params()
    _, state, _ = run(stepper(tx), params, tx.init(params), 0, 2)
    gradtx.save_state(tmp_path / "s.npz", state)
    restored = gradtx.load_state(tmp_path / "s.npz", like=jax.eval_shape(tx.init, params))
    chex.assert_trees_all_equal(restored, state)


def test_typed_prng_keys_round_trip(tmp_path):
    state = {"key": jax.random.split(jax.random.key(7), 3), "count": jnp.asarray(4, jnp.int32)}
    gradtx.save_state(tmp_path / "k.npz", state)
    restored = gradtx.load_state(
        tmp_path / "k.npz",
        like={"key": jax.random.split(jax.random.key(0), 3), "count": jnp.zeros([], jnp.int32)},
    )
    assert jax.random.key_impl(restored["key"]) == jax.random.key_impl(state["key"])
    chex.assert_trees_all_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(state["key"])
    )


def test_bits_come_back_exactly_nan_payloads_signed_zeros_and_empty_arrays_included(tmp_path):
    bits = np.asarray([0x7FC00001, 0x80000000, 0x00000001, 0xFF800000], np.uint32)
    state = {
        "f32": jnp.asarray(bits.view(np.float32)),
        "bf16": jnp.asarray(np.asarray([0x7FC1, 0x8000], np.uint16).view(jnp.bfloat16)),
        "c128": jnp.asarray([1 + 2j, -0.0 - 0.0j]),
        "empty": [jnp.zeros((0, 2), jnp.float16), None],
    }
    gradtx.save_state(tmp_path / "b.npz", state)
    restored = gradtx.load_state(tmp_path / "b.npz", like=state)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_file_is_plain_npz_with_tree_paths_as_keys_and_needs_no_pickle(tmp_path):
    state = {"count": jnp.asarray(3, jnp.int32), "mu": [{"w": jnp.ones(2, jnp.bfloat16)}, None]}
    gradtx.save_state(tmp_path / "s.npz", state)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["['count']", "['mu'][0]['w']", "__gradtx_structure__"]
        assert npz["['mu'][0]['w']"].dtype == np.uint16  # bfloat16's bits, in a NumPy dtype
        descriptor = json.loads(str(npz["__gradtx_structure__"]))
    assert descriptor["format"] == "gradtx.state/1"
    assert descriptor["leaves"] == [["['count']", "int32", []], ["['mu'][0]['w']", "bfloat16", [2]]]
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no partial file left behind


def test_save_replaces_an_existing_file(tmp_path):
    tx, params = gradtx.adam(0.1), {"w": jnp.ones(2)}
    gradtx.save_state(tmp_path / "s.npz", tx.init(params))
    _, state = tx.update(params, tx.init(params))
    gradtx.save_state(tmp_path / "s.npz", state)
    assert int(gradtx.load_state(tmp_path / "s.npz", like=tx.init(params))[0].count) == 1


def test_orbax_refuses_structure_and_shape_mismatches(tmp_path):
    tx, params = gradtx.adam(0.1), {"w": jnp.ones(3)}
    path = (tmp_path / "orbax").absolute()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, tx.init(params))
        checkpointer.wait_until_finished()
        with pytest.raises(ValueError, match="tree structures do not match"):
            checkpointer.restore(path, gradtx.sgd(0.1, momentum=0.9).init(params))
        with pytest.raises(
            ValueError,
            match=re.escape("Requested shape: (4,) is not compatible with the stored shape: (3,)"),
        ):
            checkpointer.restore(path, tx.init({"w": jnp.ones(4)}))


def test_orbax_casts_a_dtype_mismatch_silently_so_prefer_load_state_when_dtypes_matter(tmp_path):
    """Documents Orbax 0.12's behaviour: the restored array takes the template's dtype."""
    tx = gradtx.adam(0.1)
    path = (tmp_path / "orbax").absolute()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, tx.init({"w": jnp.ones(3, jnp.bfloat16)}))
        checkpointer.wait_until_finished()
        restored = checkpointer.restore(path, tx.init({"w": jnp.ones(3, jnp.float32)}))
    assert restored[0].mu["w"].dtype == jnp.float32
