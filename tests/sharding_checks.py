"""Sharded training on 8 simulated CPU devices, checked against one device.

JAX fixes its device count when it is first imported, so these checks run in a child process of
`tests/test_sharding.py`, started with 8 host devices:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.sharding_checks

It prints one JSON line: `{"checks": {name: null if it passed, else why not}, "seconds": ...,
"worst_error": ...}`. A check is named `layout/optimizer/kind`, for each layout of `LAYOUTS` and
optimizer of `OPTIMIZERS`, or `layout/clip_by_global_norm`:

* `init_eager`: every param-shaped state leaf of `tx.init(params)` has its param's sharding;
* `init_jit`: the same for `jax.jit(tx.init)(params)`;
* `init_jit_no_mesh`: the same with no mesh set (Auto axes only; Explicit ones need the mesh);
* `steps`: five jitted steps (a small MLP's loss, grads, update, apply) on sharded params and a
  sharded batch equal five single-device steps to 1e-6 of each leaf's largest magnitude; params
  and state keep their shardings, and the step compiles once;
* `clip_by_global_norm`: the jitted clip of sharded gradients equals one device's clip, and keeps
  their shardings.

Everything but `init_jit_no_mesh` runs under `jax.set_mesh(mesh)`, as a user would.

Importing this module only defines the checks; the parent test takes their names from `NAMES`.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import keystr, tree_flatten_with_path

import gradtx

DEVICES = 8
STEPS = 5
RTOL = 1e-6
SIZES = {"w1": (8, 16), "b1": (16,), "w2": (16, 8), "b2": (8,)}  # divisible by every mesh axis
BATCH = 16

FSDP = {"w1": P("fsdp", None), "b1": P(), "w2": P("fsdp", None), "b2": P()}
# name: (mesh shape, axis names, axis type, param specs, batch spec)
LAYOUTS = {
    # params replicated, the batch split: XLA all-reduces the gradients.
    "data_parallel": ((8,), ("data",), AxisType.Auto, dict.fromkeys(SIZES, P()), P("data")),
    # FSDP: each weight matrix split along its first axis, biases replicated, the batch split.
    "fsdp": ((8,), ("fsdp",), AxisType.Auto, FSDP, P("fsdp")),
    # 4-way data parallel times 2-way model parallel, the weights split over both axes.
    "data_model": (
        (4, 2),
        ("data", "model"),
        AxisType.Auto,
        {"w1": P("data", "model"), "b1": P("model"), "w2": P("model", "data"), "b2": P()},
        P("data"),
    ),
    # FSDP with shardings in the types (`jax.make_mesh`'s default), under `jax.set_mesh`.
    "fsdp_explicit": ((8,), ("fsdp",), AxisType.Explicit, FSDP, P("fsdp")),
}

OPTIMIZERS = {
    "adam": lambda: gradtx.adam(1e-2),
    "sgd_momentum": lambda: gradtx.sgd(1e-2, momentum=0.9),
    "adabound": lambda: gradtx.adabound(1e-2),
    "clip_adam": lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-2)),
    "swats": lambda: gradtx.swats(1e-2),
    "adafactor": lambda: gradtx.adafactor(1e-2, min_dim_size_to_factor=8, momentum=0.9),
    "sm3": lambda: gradtx.sm3(1e-2),
    "muon": lambda: gradtx.muon(1e-2),  # Newton-Schulz on w1 and w2, AdamW on the biases
    "multi_transform": lambda: gradtx.multi_transform(
        {"weights": gradtx.adam(1e-2), "biases": gradtx.sgd(1e-2, momentum=0.9)},
        {r"w.": "weights", r"b.": "biases"},
    ),
}
KINDS = ("init_eager", "init_jit", "init_jit_no_mesh", "steps")

NAMES = [
    f"{layout}/{opt}/{kind}"
    for layout, (*_, axis_type, _, _) in LAYOUTS.items()
    for opt in OPTIMIZERS
    for kind in KINDS
    if not (kind == "init_jit_no_mesh" and axis_type == AxisType.Explicit)
]
NAMES += [f"{layout}/clip_by_global_norm" for layout in LAYOUTS]


# The problem: a one-hidden-layer MLP on a fixed batch, in float32.


def _data() -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s).astype(np.float32) / np.sqrt(s[0]) for k, s in SIZES.items()}
    x = rng.normal(size=(BATCH, SIZES["w1"][0])).astype(np.float32)
    y = 4 * rng.normal(size=(BATCH, SIZES["w2"][1])).astype(np.float32)  # ||grad|| > 1: clips
    return params, x, y


def loss(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def make_step(tx):
    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    return step


@functools.cache
def reference(opt: str):
    """Params and state after STEPS steps on one device, with no mesh set."""
    params, x, y = jax.tree.map(jnp.asarray, _data())
    tx = OPTIMIZERS[opt]()
    step, state = make_step(tx), tx.init(params)
    for _ in range(STEPS):
        params, state = step(params, state, x, y)
    assert all(len(leaf.devices()) == 1 for leaf in jax.tree.leaves((params, state)))
    return params, state


def placed(layout: str):
    """The mesh, and params and batch put on it as the layout says."""
    shape, names, axis_type, specs, batch_spec = LAYOUTS[layout]
    mesh = jax.make_mesh(shape, names, axis_types=(axis_type,) * len(names))
    params, x, y = _data()
    params = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in params.items()}
    x, y = (jax.device_put(a, NamedSharding(mesh, batch_spec)) for a in (x, y))
    return mesh, params, x, y


# What is checked.


def _kept_axes(leaf_shape, param_shape):
    """The axes of a param that a factored statistic keeps (Adafactor's row and column means,
    SM3's per-axis accumulators): the first subsequence of its axes with the statistic's shape."""
    kept, start = [], 0
    for n in leaf_shape:
        axis = next((a for a in range(start, len(param_shape)) if param_shape[a] == n), None)
        assert axis is not None, f"shape {leaf_shape} is not a statistic of {param_shape}"
        kept.append(axis)
        start = axis + 1
    return tuple(kept)


def _param_shaped(state, params):
    """(path, state leaf, param, kept axes) for each state leaf whose key path ends in a param's
    path, or in a param's path and an index (a tuple of per-axis statistics). A leaf shaped like
    its param keeps every axis; a factored statistic keeps some (`_kept_axes`).

    Every state leaf that is not a scalar must be one of them, and every param must have one.
    """
    param_paths = [(tuple(p), leaf) for p, leaf in tree_flatten_with_path(params)[0]]
    found, seen = [], set()
    for path, leaf in tree_flatten_with_path(state)[0]:
        stem = path[:-1] if path and isinstance(path[-1], jax.tree_util.SequenceKey) else path
        match = [
            (p, param)
            for p, param in param_paths
            if tuple(path[-len(p) :]) == p or tuple(stem[-len(p) :]) == p
        ]
        if not match:
            assert jnp.ndim(leaf) == 0, f"state leaf {keystr(path)} matches no param"
            continue
        (p, param), *_ = match
        found.append((keystr(path), leaf, param, _kept_axes(leaf.shape, param.shape)))
        seen.add(p)
    missing = [keystr(p) for p, _ in param_paths if p not in seen]
    assert not missing, f"no state leaf follows params {missing}"
    return found


def assert_follows(state, params, where: str) -> None:
    """Each param-shaped leaf of `state` has its param's sharding: the same devices hold the
    same slices, so nothing sits on one device or is replicated where the param is split."""
    for path, leaf, param, kept in _param_shaped(state, params):
        got, want = leaf.sharding, param.sharding
        if kept != tuple(range(param.ndim)):  # a factored statistic: the kept axes' sharding
            spec = tuple(want.spec) + (None,) * (param.ndim - len(want.spec))
            want = NamedSharding(want.mesh, P(*(spec[axis] for axis in kept)))
        assert got.is_equivalent_to(want, leaf.ndim), (
            f"{where}: state {path} has {got}, its param has {want}"
        )


worst_error = 0.0  # the largest relative difference from one device seen, for the report


def assert_close(got, want, where: str) -> None:
    global worst_error
    for (path, g), w in zip(tree_flatten_with_path(got)[0], jax.tree.leaves(want), strict=True):
        g, w = np.asarray(g), np.asarray(w)
        if not np.issubdtype(w.dtype, np.inexact):
            assert np.array_equal(g, w), f"{where} {keystr(path)}: {g} != {w}"
            continue
        error = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), np.finfo(w.dtype).tiny)
        worst_error = max(worst_error, float(error))
        assert error <= RTOL, (
            f"{where} {keystr(path)} differs from one device by {error:.1e} of its largest "
            f"magnitude (tolerance {RTOL})"
        )


compiles = 0  # XLA compilations so far


def _count_compiles(event: str, duration: float, **kwargs) -> None:
    global compiles
    compiles += event == "/jax/core/compile/backend_compile_duration"


def check(layout: str, opt: str, kind: str) -> None:
    tx = OPTIMIZERS[opt]()
    want = reference(opt) if kind == "steps" else None  # before any mesh is set
    mesh, params, x, y = placed(layout)
    if kind == "init_jit_no_mesh":
        assert_follows(jax.jit(tx.init)(params), params, "jitted init with no mesh set")
        return
    with jax.set_mesh(mesh):
        if kind == "init_eager":
            assert_follows(tx.init(params), params, "eager init")
        elif kind == "init_jit":
            assert_follows(jax.jit(tx.init)(params), params, "jitted init")
        else:
            step, state = make_step(tx), tx.init(params)
            new_params, state = jax.block_until_ready(step(params, state, x, y))
            compiled = compiles
            for _ in range(STEPS - 1):
                # One step at a time: with several in flight, simulated CPU devices can
                # deadlock in a collective (jaxlib 0.10.2; see docs/distributed.md).
                new_params, state = jax.block_until_ready(step(new_params, state, x, y))
            assert compiles == compiled, "the step compiled again after its first call"
    if kind == "steps":
        assert_follows(new_params, params, "updated params")
        assert_follows(state, params, "updated state")
        assert_close((new_params, state), want, f"after {STEPS} steps,")


@functools.cache
def clipped_on_one_device():
    """The gradients at the initial params, and clip_by_global_norm(||g|| / 2) of them."""
    grads = jax.jit(jax.grad(loss))(*jax.tree.map(jnp.asarray, _data()))
    norm = float(np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grads.values())))
    assert norm > 1, f"||grad|| = {norm}: clip_adam's clip_by_global_norm(1.0) would not clip"
    tx = gradtx.clip_by_global_norm(norm / 2)  # halves every gradient
    clipped, _ = jax.jit(tx.update)(grads, tx.init(grads))
    assert_close(jax.tree.map(lambda g: 2 * g, clipped), grads, "halved gradients")
    return tx, grads, clipped


def check_clip(layout: str) -> None:
    """clip_by_global_norm of sharded gradients, jitted, equals one device's."""
    tx, grads, want = clipped_on_one_device()
    mesh, sharded, _, _ = placed(layout)
    sharded = jax.tree.map(lambda g, p: jax.device_put(g, p.sharding), grads, sharded)
    with jax.set_mesh(mesh):
        got, _ = jax.jit(tx.update)(sharded, tx.init(sharded))
    assert_follows(got, sharded, "clip_by_global_norm")
    assert_close(got, want, "clip_by_global_norm,")


def run(name: str) -> None:
    parts = name.split("/")
    if parts[-1] == "clip_by_global_norm":
        check_clip(parts[0])
    else:
        check(*parts)


def main() -> None:
    if jax.device_count() != DEVICES:
        sys.exit(
            f"these checks need {DEVICES} devices, found {jax.device_count()}: run "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={DEVICES} "
            "python -m tests.sharding_checks"
        )
    jax.monitoring.register_event_duration_secs_listener(_count_compiles)
    start, results = time.perf_counter(), {}
    for name in NAMES:
        try:
            run(name)
            results[name] = None
        except Exception as error:  # reported per check, not raised
            frames = traceback.extract_tb(error.__traceback__)
            ours = [f for f in frames if "/gradtx/" in f.filename or f.filename == __file__]
            last = (ours or frames)[-1]  # the innermost line of gradtx or of these checks
            where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
            results[name] = f"{type(error).__name__} at {where}: {error}"[:1500]
    seconds = round(time.perf_counter() - start, 1)
    print(json.dumps({"checks": results, "seconds": seconds, "worst_error": worst_error}))


if __name__ == "__main__":
    main()
