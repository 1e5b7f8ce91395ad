"""Save and restore optimizer state exactly, in a NumPy `.npz` file that needs no pickle.

An optimizer state is a plain pytree of arrays, so a checkpoint is its leaves, each stored under
its tree path (`jax.tree_util.keystr`), plus a small JSON descriptor of the structure: the
format, the tree definition, and each leaf's path, dtype and shape. Restoring needs a template,
the state `init` builds for the same params, and checks the file against it leaf by leaf: a
different optimizer, a renamed parameter, a changed shape or dtype raises an error naming the
first differing path. Nothing is reinitialised or cast silently, and the bytes come back exactly,
so a resumed run continues bit for bit.

The state is a plain pytree, so Orbax works as well: `ocp.StandardCheckpointer().save(path,
state)` and `.restore(path, template)`. Orbax (0.12) refuses zero-size arrays, and on restore
casts an array to the template's dtype without a word.
"""

from __future__ import annotations

import json
import os
from itertools import zip_longest
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import tree_flatten_with_path

from gradtx import _tree
from gradtx._base import OptState

_DESCRIPTOR = "__gradtx_structure__"
_FORMAT = "gradtx.state/1"


def _is_key_array(x: Any) -> bool:
    return jnp.issubdtype(getattr(x, "dtype", np.float64), jax.dtypes.prng_key)


def _spec(leaf: Any) -> tuple[str, tuple[int, ...]]:
    """(dtype name, shape) of an array, a `jax.ShapeDtypeStruct` or a Python scalar."""
    dtype = leaf.dtype if hasattr(leaf, "dtype") else jnp.result_type(leaf)
    return str(dtype), tuple(leaf.shape if hasattr(leaf, "shape") else np.shape(leaf))


def _to_numpy(key: str, leaf: Any) -> np.ndarray:
    """The leaf's bytes as a NumPy array of a built-in dtype (bfloat16 and PRNG keys as uint)."""
    if isinstance(leaf, (bool, int, float, complex)):
        leaf = jnp.asarray(leaf)  # a Python scalar, in the dtype JAX gives it
    if not hasattr(leaf, "dtype"):
        raise TypeError(
            f"save_state: the leaf at {key} is a {type(leaf).__name__}, not an array; an "
            "optimizer state must be a pytree of arrays"
        )
    array = np.asarray(jax.random.key_data(leaf) if _is_key_array(leaf) else leaf)
    if array.dtype.kind in "biufc" and array.dtype.isbuiltin == 1:
        return array
    if array.dtype.isbuiltin == 2 and array.dtype.itemsize in (1, 2, 4, 8):
        return array.view(np.dtype(f"u{array.dtype.itemsize}"))  # bfloat16, float8: raw bits
    raise TypeError(f"save_state: the leaf at {key} has dtype {array.dtype}, which has no raw form")


def save_state(path: str | os.PathLike, state: OptState) -> None:
    """Write an optimizer state to `path` (an `.npz` file, written atomically; no pickle).

    Args:
        path: the file to write; replaced only once the new file is complete.
        state: a pytree of arrays, such as `tx.init(params)` or the state after some steps.

    Example:
        >>> import gradtx, jax.numpy as jnp, os, tempfile
        >>> tx = gradtx.adam(1e-3)
        >>> params = {"w": jnp.ones(3)}
        >>> state = tx.update(params, tx.init(params))[1]
        >>> path = os.path.join(tempfile.mkdtemp(), "opt_state.npz")
        >>> gradtx.save_state(path, state)
        >>> restored = gradtx.load_state(path, like=tx.init(params))
        >>> int(restored[0].count)
        1
    """
    leaves, treedef = tree_flatten_with_path(state)
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for path_, leaf in leaves:
        key = _tree.path_name(path_)
        if key in arrays:  # dict keys 1 and "1"... keystr tells them apart, but be sure
            raise ValueError(f"save_state: two leaves share the path {key}")
        arrays[key] = _to_numpy(key, leaf)
        entries.append([key, *_spec(leaf)])
    descriptor = {"format": _FORMAT, "treedef": str(treedef), "leaves": entries}
    path = os.fspath(path)
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "wb") as f:
        np.savez(f, **arrays, **{_DESCRIPTOR: np.asarray(json.dumps(descriptor))})
    os.replace(partial, path)


def _first_difference(saved: list, expected: list) -> str | None:
    """The first leaf at which the file's (path, dtype, shape) list differs from the template's."""
    saved_paths, expected_paths = {s[0] for s in saved}, {e[0] for e in expected}
    for got, want in zip_longest(saved, expected):
        if got == want:
            continue
        file_extra = got is not None and got[0] not in expected_paths
        template_extra = want is not None and want[0] not in saved_paths
        if got is None or (template_extra and not file_extra):
            return f"the template has a leaf at {want[0]} that the file lacks"
        if want is None or (file_extra and not template_extra):
            return f"the file has a leaf at {got[0]} that the template lacks"
        if got[0] != want[0]:
            return f"first differing path: the file has {got[0]} where the template has {want[0]}"
        if got[1] != want[1]:
            return f"{got[0]} is {got[1]} in the file but {want[1]} in the template"
        return f"{got[0]} has shape {got[2]} in the file but {want[2]} in the template"
    return None


def _restore_leaf(array: np.ndarray, like: Any) -> jax.Array:
    if _is_key_array(like):
        return jax.random.wrap_key_data(jnp.asarray(array), impl=jax.random.key_impl(like))
    dtype = jnp.dtype(like.dtype if hasattr(like, "dtype") else jnp.result_type(like))
    array = array.view(dtype)
    sharding = getattr(like, "sharding", None)
    if sharding is None or _is_default_device(sharding):
        # uncommitted, as `init`'s arrays are: a committed array would make the next call of
        # a jitted step compile again, and every eager operation on it
        return jnp.asarray(array)
    return jax.device_put(array, sharding)


def _is_default_device(sharding: Any) -> bool:
    return isinstance(sharding, jax.sharding.SingleDeviceSharding) and sharding.device_set == {
        jax.devices()[0]
    }


def load_state(path: str | os.PathLike, like: OptState) -> OptState:
    """Read a state written by `save_state`, checked against the template `like`.

    Args:
        path: a file written by `save_state`.
        like: a template with the expected structure, shapes and dtypes: `tx.init(params)`, or
            `jax.eval_shape(tx.init, params)` to allocate nothing. Arrays come back on the
            template's devices (its `sharding`), else on the default device.

    Returns:
        The saved state, bit for bit, in the template's tree structure.

    Raises:
        ValueError: the file is not a gradtx state, or its structure, a shape or a dtype differs
            from the template's; the message names the first differing path.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp, os, tempfile
        >>> tx, params = gradtx.sgd(0.1, momentum=0.9), {"w": jnp.ones(3)}
        >>> path = os.path.join(tempfile.mkdtemp(), "opt_state.npz")
        >>> gradtx.save_state(path, tx.init(params))
        >>> state = gradtx.load_state(path, like=jax.eval_shape(tx.init, params))
    """
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as npz:
        if _DESCRIPTOR not in npz.files:
            raise ValueError(
                f"load_state: {path} is not a gradtx state file (it has no {_DESCRIPTOR!r} "
                "entry); write it with gradtx.save_state"
            )
        descriptor = json.loads(str(npz[_DESCRIPTOR]))
        if descriptor.get("format") != _FORMAT:
            raise ValueError(
                f"load_state: {path} has format {descriptor.get('format')!r}; this gradtx "
                f"reads {_FORMAT!r}"
            )
        leaves, treedef = tree_flatten_with_path(like)
        saved = [(key, dtype, tuple(shape)) for key, dtype, shape in descriptor["leaves"]]
        expected = [(_tree.path_name(p), *_spec(leaf)) for p, leaf in leaves]
        problem = _first_difference(saved, expected)
        if problem is None and descriptor["treedef"] != str(treedef):
            problem = (
                f"same leaves but different containers: the file has {descriptor['treedef']}, "
                f"the template {treedef}"
            )
        if problem is not None:
            raise ValueError(
                f"load_state: the state in {path} does not fit the template ({problem}). Was "
                "the template made by `init` of the optimizer that saved the state, on params "
                "of the same structure, shapes and dtypes?"
            )
        restored = [
            _restore_leaf(npz[key], leaf)
            for (key, _, _), (_, leaf) in zip(saved, leaves, strict=True)
        ]
    return treedef.unflatten(restored)
