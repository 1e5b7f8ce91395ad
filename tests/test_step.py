"""`gradtx.step` and the fused CPU kernel behind it.

`step` equals `tx.update` then `apply_updates` (jitted together) for every registered optimizer
and transformation. Where the fused kernel applies it must give the XLA path's result bit for
bit; where it does not (other dtypes, options, vmap, grad, sharded arrays, no kernel) `step`
takes the XLA path. Every test runs with and without a compiled kernel: without one, the fused
runs are XLA runs and the checks that a custom call was emitted expect none.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import _native
from gradtx._native import build
from tests.registry import ALL

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = {"w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.asarray([0.25, -1.0])}


def loss(params):
    pairs = zip(jax.tree.leaves(params), jax.tree.leaves(TARGET), strict=True)
    return sum(jnp.sum((p - t) ** 2) for p, t in pairs)


def bits(x):
    """The bits of an array, so that NaNs and signed zeros compare exactly."""
    x = np.asarray(x)
    if x.dtype.kind != "f" and x.dtype != jnp.bfloat16:
        return x
    return x.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[x.dtype.itemsize])


def assert_same_bits(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(bits(x), bits(y))


def reference_step(tx, params, grads, state):
    updates, state = tx.update(grads, state, params)
    return gradtx.apply_updates(params, updates), state


@pytest.mark.parametrize("name", ALL)
def test_step_equals_update_then_apply(name):
    """Where the kernel does not apply, `step` traces to exactly the program of `tx.update` then
    `apply_updates`; where it does, the two agree bit for bit over three jitted steps, given the
    same gradients. (Gradients computed in the same program may have their last operation
    fused into the update by XLA, and round differently: they are an input here.)"""
    tx = ALL[name]()
    params = jax.tree.map(jnp.zeros_like, TARGET)
    state = tx.init(params)
    grads = jax.grad(loss)(params)
    stepped = jax.make_jaxpr(lambda *a: gradtx.step(tx, *a))(params, grads, state)
    if "gradtx_" not in str(stepped):
        assert str(stepped) == str(
            jax.make_jaxpr(lambda *a: reference_step(tx, *a))(params, grads, state)
        )
        return
    both = jax.jit(lambda *a: (gradtx.step(tx, *a), reference_step(tx, *a)))
    for _ in range(3):
        stepped, reference = both(params, jax.grad(loss)(params), state)
        assert_same_bits(stepped, reference)
        params, state = reference


# The fused kernel's aliases, and settings that exercise each of its options.
FUSED = {
    "sgd": lambda: gradtx.sgd(gradtx.exponential_decay(0.1, 5, 0.5)),
    "momentum": lambda: gradtx.sgd(0.1, 0.9),
    "nesterov": lambda: gradtx.sgd(gradtx.cosine_decay_schedule(0.1, 30), 0.9, nesterov=True),
    "adam": lambda: gradtx.adam(0.1),
    "adam_eps_root": lambda: gradtx.adam(0.05, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
    "adam_schedule": lambda: gradtx.adam(gradtx.exponential_decay(0.1, 5, 0.5)),
    "adamw": lambda: gradtx.adamw(0.05, weight_decay=0.1),
    "adamw_schedules": lambda: gradtx.adamw(
        gradtx.linear_schedule(0.1, 0.01, 20), weight_decay=gradtx.linear_schedule(0.0, 0.2, 20)
    ),
    "nadam": lambda: gradtx.nadam(0.1, eps_root=1e-8),
    "nadamw": lambda: gradtx.nadamw(0.1, weight_decay=0.05),
    "adamax": lambda: gradtx.adamax(0.1),
    "amsgrad": lambda: gradtx.amsgrad(0.1),
    "adabelief": lambda: gradtx.adabelief(0.1),
    "radam": lambda: gradtx.radam(0.1),
    "lion": lambda: gradtx.lion(0.1),
    "adagrad": lambda: gradtx.adagrad(0.1),
    "rmsprop": lambda: gradtx.rmsprop(0.1),
    "rmsprop_centered": lambda: gradtx.rmsprop(0.1, centered=True),
    "rmsprop_momentum": lambda: gradtx.rmsprop(0.1, momentum=0.9),
    "rmsprop_centered_momentum": lambda: gradtx.rmsprop(0.1, centered=True, momentum=0.9),
    "adabound": lambda: gradtx.adabound(0.1, weight_decay=0.01),
    "amsbound": lambda: gradtx.amsbound(gradtx.linear_schedule(0.1, 0.01, 20)),
}


def matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def by_name(params):  # a prefix of the params' tree
    return {key: key in ("w", "layers") for key in params}


# A weight-decay mask: the leaves outside it skip the decay (never `u + 0 p`), in calls of their
# own; a mask function of the leaves, and one returning a prefix of the tree.
MASKED = {
    "adamw_mask": lambda: gradtx.adamw(0.05, weight_decay=0.1, mask=matrices),
    "nadamw_mask": lambda: gradtx.nadamw(0.05, weight_decay=0.1, mask=by_name),
    "adamaxw_mask": lambda: gradtx.adamaxw(0.1, weight_decay=0.1, mask=by_name),
    "lion_mask": lambda: gradtx.lion(0.1, weight_decay=0.1, mask=matrices),
}
# `inject_hyperparams`: the kernel's scalars come from the hyperparameters in the state. One
# optimizer per family of rules (the leaves outside inject_adamw_mask's mask take Adam's;
# AMSGrad and AdaBelief share Adam's scalars).
inject = gradtx.inject_hyperparams
INJECTED = {
    "inject_nesterov": lambda: inject(gradtx.sgd)(learning_rate=0.1, momentum=0.9, nesterov=True),
    "inject_adamw_mask": lambda: inject(gradtx.adamw)(
        learning_rate=gradtx.linear_schedule(0.1, 0.01, 20), weight_decay=0.1, mask=matrices
    ),
    "inject_nadamw": lambda: inject(gradtx.nadamw)(learning_rate=0.1, weight_decay=0.05),
    "inject_adamaxw": lambda: inject(gradtx.adamaxw)(learning_rate=0.1, weight_decay=0.1),
    "inject_radam": lambda: inject(gradtx.radam)(learning_rate=0.1),
    "inject_lion": lambda: inject(gradtx.lion)(learning_rate=0.1, weight_decay=0.1),
    "inject_adagrad": lambda: inject(gradtx.adagrad)(learning_rate=0.1),
    "inject_rmsprop": lambda: inject(gradtx.rmsprop)(
        learning_rate=0.1, centered=True, momentum=0.9
    ),
    "inject_amsbound": lambda: inject(gradtx.amsbound)(
        learning_rate=gradtx.linear_schedule(0.1, 0.01, 20), weight_decay=0.01
    ),
}
FUSED |= MASKED | INJECTED
# Moments stored in half precision beside float32 params (`mu_dtype`).
MU_DTYPE = {
    "adam_mu_bf16": lambda: gradtx.adam(0.1, mu_dtype=jnp.bfloat16),
    "nadam_mu_f16": lambda: gradtx.nadam(0.1, mu_dtype=jnp.float16),
    "amsgrad_mu_bf16": lambda: gradtx.amsgrad(0.1, mu_dtype=jnp.bfloat16),
    "lion_mu_bf16": lambda: gradtx.lion(0.1, mu_dtype=jnp.bfloat16),
    "adamw_mask_mu_bf16": lambda: gradtx.adamw(0.1, mu_dtype=jnp.bfloat16, mask=by_name),
    "inject_adam_mu_bf16": lambda: inject(gradtx.adam)(learning_rate=0.1, mu_dtype=jnp.bfloat16),
}
TREES = {
    "mixed": lambda dtype: {
        "scalar": jnp.zeros((), dtype),
        "one": jnp.zeros((1,), dtype),
        "empty": jnp.zeros((0, 3), dtype),
        "layers": [jnp.zeros((40, 33), dtype), jnp.zeros((7,), dtype), jnp.zeros((2, 3, 4), dtype)],
    },
}
STEPS = 50


def gradient_sequence(params, seed):
    """STEPS gradients: normal draws over 60 decades of scale, with whole steps of zeros,
    huge values, denormals, and NaN/inf elements."""
    rng = np.random.default_rng(seed)

    def draw(x, k):
        shape, dtype = x.shape, x.dtype
        g = rng.normal(size=(STEPS, *shape)) * 10.0 ** rng.integers(
            -30, 30, size=(STEPS, 1)
        ).reshape((STEPS,) + (1,) * len(shape))
        g[10] = 0.0
        g[20] = float(jnp.finfo(dtype).max) / 3
        g[25] = float(jnp.finfo(dtype).smallest_subnormal) * 3
        if g[30].size:
            g[30].flat[0] = np.nan
            g[35].flat[-1] = np.inf
        big = float(jnp.finfo(dtype).max)
        return jnp.asarray(np.where(np.isfinite(g), np.clip(g, -big, big), g), dtype)

    leaves, treedef = jax.tree.flatten(params)
    return treedef.unflatten([draw(x, k) for k, x in enumerate(leaves)])


def run_both(txs, params, grads, steps=STEPS):
    """`steps` steps of the fused path and of the XLA path for each of `txs`: one jitted program
    steps every optimizer both ways (XLA:CPU compiles one program for many optimizers faster
    than one each), called once per step. (Inside a `lax.scan` XLA rounds some half-precision
    chains differently from the jitted step a training loop runs: the reference is the step.)"""

    def one(carries, g):
        return [
            (gradtx.step(tx, *_insert(fused, g)), gradtx.step(tx, *_insert(plain, g), fused=False))
            for tx, (fused, plain) in zip(txs, carries, strict=True)
        ]

    program = jax.jit(one)
    carries = [((params, tx.init(params)),) * 2 for tx in txs]
    for t in range(steps):
        carries = program(carries, jax.tree.map(lambda g, t=t: g[t], grads))
    return carries, program.lower(carries, jax.tree.map(lambda g: g[0], grads)).as_text()


def _insert(carry, g):
    params, state = carry
    return params, g, state


def expect_custom_call(hlo, expected):
    assert ("custom_call @gradtx_" in hlo) == (expected and gradtx.fused_available())


def expect_custom_calls(hlo, count):
    assert hlo.count("custom_call @gradtx_") == (count if gradtx.fused_available() else 0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_fused_equals_xla_path_bit_for_bit(dtype):
    """Every fused alias, 50 steps, on a tree of a (40, 33) matrix, a vector, a rank-3 array,
    a scalar, a one-element and an empty leaf (the last two take the chain inside `step`)."""
    params = TREES["mixed"](dtype)
    txs = [make() for make in FUSED.values()]
    runs, hlo = run_both(txs, params, gradient_sequence(params, 0))
    for name, (fused, plain) in zip(FUSED, runs, strict=True):
        assert_same_bits(fused, plain), name
    expect_custom_calls(hlo, len(FUSED) + len(MASKED) + 1)  # + the masked injected adamw


def test_a_leaf_split_over_threads_equals_the_xla_path():
    """A leaf of more than two 32k-element blocks runs on OpenMP threads (GRADTX_FUSED_THREADS,
    by default every processor): each worker flushes subnormals as the caller does. Adam and
    RMSprop (the tiled root), float32 and bfloat16, 3 steps."""
    txs = [gradtx.adam(0.1), gradtx.rmsprop(0.1, momentum=0.9)]
    for dtype in (jnp.float32, jnp.bfloat16):
        params = {"w": jnp.zeros((3 * 2**15 + 5,), dtype)}
        grads = jax.tree.map(lambda g: g[:3], gradient_sequence(params, 2))
        runs, hlo = run_both(txs, params, grads, steps=3)
        for fused, plain in runs:
            assert_same_bits(fused, plain)
        expect_custom_calls(hlo, len(txs))


# Half precision the kernel leaves to XLA: float16 AdaMax (a few last-place differences), the
# bound aliases and float16 injected Nesterov SGD (a NaN's sign where two NaNs meet), and state
# in another half dtype than params.
HALF_UNFUSED = {
    jnp.bfloat16: {"adabound", "amsbound", "inject_amsbound", "nadam_mu_f16"},
    jnp.float16: {
        "adamax",
        "adamaxw_mask",
        "inject_adamaxw",
        "adabound",
        "amsbound",
        "inject_amsbound",
        "inject_nesterov",
        "adam_mu_bf16",
        "amsgrad_mu_bf16",
        "lion_mu_bf16",
        "adamw_mask_mu_bf16",
        "inject_adam_mu_bf16",
    },
}
# Calls per fused optimizer on the half-precision tree: two where a mask splits {w, b, s}.
TWO_CALLS = {*MASKED, "inject_adamw_mask", "adamw_mask_mu_bf16"}


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_half_precision_fused_equals_xla_path_bit_for_bit(dtype):
    """bfloat16/float16 params, and half-precision moments beside float32 params: computed in
    float32 and rounded where the chain rounds, 50 steps, on a matrix, a vector and a scalar."""
    params = {"w": jnp.zeros((9, 7), dtype), "b": jnp.zeros((5,), dtype), "s": jnp.zeros((), dtype)}
    makes = MU_DTYPE if dtype == jnp.float32 else {**FUSED, **MU_DTYPE}
    runs, hlo = run_both([make() for make in makes.values()], params, gradient_sequence(params, 4))
    for name, (fused, plain) in zip(makes, runs, strict=True):
        assert_same_bits(fused, plain), name
    unfused = HALF_UNFUSED.get(dtype, set())
    fused = [name for name in makes if name not in unfused]
    expect_custom_calls(hlo, len(fused) + len(TWO_CALLS.intersection(fused)))


def test_an_empty_tree_steps_its_counters():
    runs, hlo = run_both([make() for make in FUSED.values()], {}, {})
    for fused, plain in runs:
        assert_same_bits(fused, plain)
    expect_custom_call(hlo, False)


OTHERS = {
    "mu_dtype_f64": lambda: gradtx.adam(0.1, mu_dtype=jnp.float64),
    "rmsprop_eps_outside": lambda: gradtx.rmsprop(0.1, eps_in_sqrt=False),
    "radam_nesterov": lambda: gradtx.radam(0.1, nesterov=True),
    "inject_rmsprop_eps_outside": lambda: inject(gradtx.rmsprop)(
        learning_rate=0.1, eps_in_sqrt=False
    ),
    "chain": lambda: gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(0.1)),
}


def test_other_optimizers_take_the_xla_path():
    params = TREES["mixed"](jnp.float32)
    runs, hlo = run_both([make() for make in OTHERS.values()], params, gradient_sequence(params, 1))
    for fused, plain in runs:
        assert_same_bits(fused, plain)
    expect_custom_call(hlo, False)


def test_injected_hyperparameters_in_another_dtype_take_the_xla_path():
    """float32 hyperparameters over float64 params: XLA fuses their conversion into RMSprop's
    chain and contracts the momentum's multiply-add the other way than the kernel (half the
    elements differ in the last place when fused), so `step` takes the XLA path."""
    params = {"w": jnp.zeros((9, 7), jnp.float64)}
    tx = inject(gradtx.rmsprop, hyperparam_dtype=jnp.float32)(learning_rate=0.1, momentum=0.9)
    runs, hlo = run_both([tx], params, gradient_sequence(params, 2))
    assert_same_bits(*runs[0])
    expect_custom_call(hlo, False)


def test_exact_rsqrt_of_float64_without_x64_is_false_and_not_remembered():
    """Without x64 XLA's rsqrt of a float64 array is a float32 one: the check compared arrays of
    different shapes and raised; and a cached answer would have outlived the setting."""
    _native._exact_rsqrt.cache_clear()
    with jax.enable_x64(False):
        assert _native.exact_rsqrt("float64") is False
    assert _native._exact_rsqrt.cache_info().currsize == 0  # nothing remembered for later
    with jax.enable_x64(True):
        _native.exact_rsqrt("float64")
    assert _native._exact_rsqrt.cache_info().currsize == 1  # checked once x64 is on


def test_rsqrt_aliases_take_the_xla_path_where_the_kernels_rsqrt_differs(monkeypatch):
    """The kernel's rsqrt refines the processor's estimate, as XLA's does, but estimates differ
    between processors: `_native.exact_rsqrt` checks them against each other once per process,
    and where they differ Adagrad and RMSprop take the XLA path (rates unlike other tests', so
    that no cached trace is reused)."""
    monkeypatch.setattr(_native, "exact_rsqrt", lambda dtype: False)
    params = TREES["mixed"](jnp.float32)
    txs = [gradtx.adagrad(0.0123), gradtx.rmsprop(0.0123, centered=True)]
    runs, hlo = run_both(txs, params, gradient_sequence(params, 1))
    for fused, plain in runs:
        assert_same_bits(fused, plain)
    expect_custom_call(hlo, False)


def test_vmap_over_step_equals_the_xla_path():
    tx = gradtx.adam(0.1)
    params = {"w": jnp.zeros((3, 4, 5)), "b": jnp.zeros((3, 5))}  # a batch of 3 problems
    grads = jax.tree.map(
        lambda x: jnp.cos(jnp.arange(x.size, dtype=x.dtype)).reshape(x.shape), params
    )
    state = jax.vmap(tx.init)(params)
    for inner in (lambda f: f, jax.jit):  # vmap of step, and vmap of a jitted step
        stepped = jax.vmap(inner(lambda p, g, s: gradtx.step(tx, p, g, s)))(params, grads, state)
        plain = jax.vmap(lambda p, g, s: gradtx.step(tx, p, g, s, fused=False))(
            params, grads, state
        )
        assert_same_bits(stepped, plain)


def test_vmap_over_a_scan_that_steps_takes_the_xla_path():
    """A `lax.scan` body is traced before `vmap` batches it, so `step` sees `jit`'s tracers and
    plans the kernel: batching it then takes the XLA path, batched (the kernel run once per
    problem rounds otherwise in the last place). Three problems, four steps."""
    tx = gradtx.adam(0.1)
    params = {"w": jnp.zeros((3, 4, 5)), "b": jnp.zeros((3, 5))}
    grads = jax.tree.map(
        lambda x: jnp.cos(jnp.arange(4 * x.size, dtype=x.dtype)).reshape(4, *x.shape), params
    )
    state = jax.vmap(tx.init)(params)

    def train(fused):
        def one(params, grads, state):
            def body(carry, g):
                return gradtx.step(tx, carry[0], g, carry[1], fused=fused), None

            return jax.lax.scan(body, (params, state), grads)[0]

        return jax.jit(jax.vmap(one, in_axes=(0, 1, 0)))

    stepped, plain = train(True), train(False)
    assert_same_bits(stepped(params, grads, state), plain(params, grads, state))
    expect_custom_call(stepped.lower(params, grads, state).as_text(), False)


def test_vmap_over_a_jitted_scan_with_a_batched_learning_rate_takes_the_xla_path():
    """The step closes over the learning rate; `vmap` batches it after the jitted body is
    traced (a sweep over rates): the batched step sees it and takes the XLA path."""
    params = {"w": jnp.zeros((4, 5))}
    grads = jnp.cos(jnp.arange(3 * 20.0)).reshape(3, 4, 5)

    def sweep(fused):
        def run(rate):
            tx = gradtx.adam(rate)

            def body(carry, g):
                return gradtx.step(tx, carry[0], {"w": g}, carry[1], fused=fused), None

            return jax.lax.scan(body, (params, tx.init(params)), grads)[0]

        return jax.vmap(jax.jit(run))

    rates = jnp.array([0.1, 0.01])
    assert_same_bits(sweep(True)(rates), sweep(False)(rates))


def test_grad_through_step_equals_the_xla_path():
    tx = gradtx.adamw(0.1, weight_decay=0.01)
    params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)}
    state = tx.init(params)

    def after(params, fused, wrap):
        grads = jax.grad(loss_of_w)(params)
        new, _ = wrap(lambda p, g: gradtx.step(tx, p, g, state, fused=fused))(params, grads)
        return jnp.sum(new["w"] ** 3)

    for wrap in (lambda f: f, jax.jit):  # grad of step, and grad of a jitted step
        assert_same_bits(jax.grad(after)(params, True, wrap), jax.grad(after)(params, False, wrap))


def loss_of_w(params):
    return jnp.sum(jnp.sin(params["w"]) * params["w"])


def test_a_schedule_changes_the_rate_without_recompiling():
    tx = gradtx.adam(gradtx.exponential_decay(0.1, 1, 0.5))
    traces = []

    @jax.jit
    def train_step(params, grads, state):
        traces.append(1)
        return gradtx.step(tx, params, grads, state)

    params = {"w": jnp.ones((5, 4))}
    state = tx.init(params)
    grads = {"w": jnp.full((5, 4), 0.5)}
    moved = []
    for _ in range(4):
        new, state = train_step(params, grads, state)
        moved.append(float(params["w"][0, 0] - new["w"][0, 0]))
        params = new
    assert len(traces) == 1
    assert moved[0] > moved[1] > moved[2] > moved[3] > 0  # the rate halves every step
    assert train_step._cache_size() == 1


def test_an_injected_rate_changes_without_recompiling():
    """A learning rate written into `state.hyperparams` reaches the kernel as an operand."""
    tx = gradtx.inject_hyperparams(gradtx.adamw)(learning_rate=0.1, mask=matrices)
    traces = []

    @jax.jit
    def train_step(params, grads, state):
        traces.append(1)
        return gradtx.step(tx, params, grads, state)

    params = {"w": jnp.ones((5, 4)), "b": jnp.ones(4)}
    state = tx.init(params)
    grads = jax.tree.map(lambda x: jnp.full_like(x, 0.5), params)
    moved = []
    for rate in (0.1, 0.05, 0.025):
        state.hyperparams["learning_rate"] = jnp.asarray(rate, params["w"].dtype)  # as stored
        new, state = train_step(params, grads, state)
        moved.append(float(params["b"][0] - new["b"][0]))
        params = new
    assert len(traces) == 1 and train_step._cache_size() == 1
    assert moved[0] > moved[1] > moved[2] > 0
    expect_custom_calls(train_step.lower(params, grads, state).as_text(), 2)


def test_eager_step_compiles_once_and_donates():
    tx = gradtx.sgd(0.1, 0.9)
    params = {"w": jnp.arange(6.0).reshape(2, 3)}
    state = tx.init(params)
    grads = {"w": jnp.ones((2, 3))}
    reference = jax.jit(lambda p, g, s: gradtx.step(tx, p, g, s, fused=False))(params, grads, state)
    new_params, new_state = gradtx.step(tx, params, grads, state, donate=True)
    assert_same_bits((new_params, new_state), reference)
    assert params["w"].is_deleted() and state[0].trace["w"].is_deleted()
    assert not grads["w"].is_deleted()
    gradtx.step(tx, new_params, grads, new_state)  # another call reuses the program


# Shapes only (`jax.ShapeDtypeStruct`): the programs are compiled and measured, never run.
MEMORY_TREES = {
    "one_leaf": {"w": jax.ShapeDtypeStruct((512, 512), jnp.float32)},
    "many_leaves": {  # 34 big leaves (two custom calls of at most 32), a vector and a scalar
        "layers": [
            jax.ShapeDtypeStruct([(256, 256), (128, 512), (16, 64, 64)][i % 3], jnp.float32)
            for i in range(34)
        ],
        "b": jax.ShapeDtypeStruct((7,), jnp.float32),
        "s": jax.ShapeDtypeStruct((), jnp.float32),
    },
}


def _nbytes(tree):
    return sum(x.size * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("tree", MEMORY_TREES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "xla"])
def test_a_donated_step_is_in_place_without_full_size_temporaries(tree, fused):
    """XLA's memory analysis of the jitted step with params and state donated: every byte of
    params and state is aliased to an output (updated in place), and the temporaries stay under
    1/8 of the smallest matrix leaf (no leaf-sized buffer, such as the updates, is materialised),
    for Adam and heavy-ball SGD. The XLA path does the same: XLA fuses each leaf's chain into
    one loop that writes the donated buffers."""
    if fused and not gradtx.fused_available():
        pytest.skip("no fused kernel: not built (python -m gradtx._native.build) or GRADTX_FUSED=0")
    params = MEMORY_TREES[tree]
    smallest = min(_nbytes(x) for x in jax.tree.leaves(params) if x.ndim >= 2)
    for tx in (gradtx.adam(1e-3), gradtx.sgd(0.1, momentum=0.9)):
        state = jax.eval_shape(tx.init, params)
        program = jax.jit(
            lambda p, g, s, tx=tx: gradtx.step(tx, p, g, s, fused=fused), donate_argnums=(0, 2)
        )
        lowered = program.lower(params, params, state)
        expect_custom_calls(lowered.as_text(), (2 if tree == "many_leaves" else 1) * fused)
        memory = lowered.compile().memory_analysis()
        assert memory.alias_size_in_bytes == _nbytes(params) + _nbytes(state)
        assert memory.temp_size_in_bytes < smallest / 8


def test_extra_arguments_reach_the_transformation():
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.reduce_on_plateau(patience=1))
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    new, state = gradtx.step(tx, params, {"w": jnp.ones(3)}, state, value=jnp.asarray(1.0))
    updates, _ = tx.update({"w": jnp.ones(3)}, tx.init(params), params, value=jnp.asarray(1.0))
    np.testing.assert_allclose(new["w"], params["w"] + updates["w"])


def test_gradtx_fused_0_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv("GRADTX_FUSED", "0")
    assert not gradtx.fused_available()
    params = TREES["mixed"](jnp.float32)
    runs, hlo = run_both([gradtx.adam(0.1)], params, gradient_sequence(params, 3))
    assert_same_bits(*runs[0])
    assert "custom_call @gradtx_" not in hlo


def test_a_build_without_a_compiler_fails_softly(tmp_path, capsys):
    output = tmp_path / build.library_name()
    assert not build.compile_library(output, cxx=str(tmp_path / "no-such-compiler"))
    assert not output.exists()
    assert "not built" in capsys.readouterr().err


CHILD = """
import json, jax, jax.numpy as jnp, numpy as np, gradtx, gradtx._native as native
from jax.sharding import NamedSharding, PartitionSpec as P

# As after an install without a compiler: no library.
found = native.library_path
native.library_path = lambda: None
native._register.cache_clear()
tx = gradtx.adam(0.1)
p = {"w": jnp.ones(3)}
w = gradtx.step(tx, p, {"w": jnp.ones(3)}, tx.init(p))[0]["w"].tolist()
report = {"no_library": [gradtx.fused_available(), w]}
native.library_path = found
native._register.cache_clear()

# Sharded params on 8 devices, with the library (if built).
sharding = NamedSharding(jax.make_mesh((8,), ("x",)), P("x"))
rng = np.random.default_rng(0)
params = {"w": jax.device_put(jnp.asarray(rng.normal(size=(64, 3)), jnp.float32), sharding),
          "b": jnp.ones(3)}
state = tx.init(params)
grads = jax.tree.map(lambda x: x * 0.5 + 0.1, params)
plain = jax.jit(lambda p, g, s: gradtx.step(tx, p, g, s, fused=False))(params, grads, state)
jitted = jax.jit(lambda p, g, s: gradtx.step(tx, p, g, s))
eager = gradtx.step(tx, params, grads, state)
same = lambda a, b: all(np.array_equal(np.asarray(x), np.asarray(y))
                        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
report["sharded"] = {
    "jit": same(jitted(params, grads, state), plain), "eager": same(eager, plain),
    "sharding_kept": eager[0]["w"].sharding.is_equivalent_to(params["w"].sharding, 2),
    "custom_call": "custom_call" in jitted.lower(params, grads, state).as_text(),
}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def child():
    """One child process with 8 simulated CPU devices (JAX fixes the count on import)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GRADTX_FUSED")}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_a_library_the_package_takes_the_xla_path(child):
    """As after an install on a machine without a compiler: `fused_available()` is False and
    `step` still works."""
    available, w = child["no_library"]
    assert available is False
    np.testing.assert_allclose(w, [0.9, 0.9, 0.9], rtol=1e-6)


def test_sharded_params_on_8_devices_take_the_xla_path(child):
    expected = {"jit": True, "eager": True, "sharding_kept": True, "custom_call": False}
    assert child["sharded"] == expected


def test_the_kernel_is_registered_when_built():
    assert gradtx.fused_available() == (
        _native.library_path() is not None and not _native.disabled_by_environment()
    )
