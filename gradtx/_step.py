"""One training step: `gradtx.step(tx, params, grads, state) -> (params, state)`."""

from __future__ import annotations

import functools
from typing import Any

import jax

from gradtx import _fused, _native
from gradtx._base import GradientTransformation, OptState, Params, Updates, apply_updates


def fused_available() -> bool:
    """Whether the fused CPU kernel is built and enabled in this process.

    It is compiled when gradtx is installed (`pip install -e .` with a C++ compiler), or by
    `python -m gradtx._native.build`; `GRADTX_FUSED=0` in the environment turns it off. Without
    it, `step` takes the XLA path everywhere, with the same results.

    Example:
        >>> import gradtx
        >>> isinstance(gradtx.fused_available(), bool)
        True
    """
    return _native.load()


def _xla_step(tx, params, grads, state, extra):
    updates, state = tx.update(grads, state, params, **extra)
    return apply_updates(params, updates), state


def _traced_step(tx, params, grads, state, extra, fused):
    """`fused`: False, True (decide from the traced values), or "placed" (an eager call whose
    arrays were all on one CPU device)."""
    placed = fused == "placed"
    run = _fused.plan(tx, params, grads, state, placed=placed) if fused and not extra else None
    if run is None:
        return _xla_step(tx, params, grads, state, extra)

    def xla_step(params, grads, state):
        return _xla_step(tx, params, grads, state, {})

    # Both paths with the values they close over (a traced learning rate, say) as explicit
    # operands: `vmap` may batch those too, after tracing, and the batched step must see them.
    fused_run, fused_consts = jax.closure_convert(run, params, grads, state)
    xla_run, xla_consts = jax.closure_convert(xla_step, params, grads, state)

    @jax.custom_batching.custom_vmap
    def kernel(params, grads, state, fused_consts, xla_consts):
        del xla_consts
        return fused_run(params, grads, state, *fused_consts)

    @kernel.def_vmap
    def kernel_vmap(axis_size, in_batched, params, grads, state, fused_consts, xla_consts):
        # Batched after tracing (`vmap` of a `lax.scan` or `jit` whose body steps): the XLA path,
        # batched, as under a direct `vmap` (its tracers never reach `plan`).
        del axis_size, fused_consts
        batched = (*in_batched[:3], *in_batched[4])
        axes = tuple(jax.tree.map(lambda b: 0 if b else None, batched))
        out = jax.vmap(xla_run, in_axes=axes)(params, grads, state, *xla_consts)
        return out, jax.tree.map(lambda _: True, out)

    @jax.custom_jvp
    def fused_step(params, grads, state):
        return kernel(params, grads, state, fused_consts, xla_consts)

    @fused_step.defjvp
    def fused_step_jvp(primals, tangents):  # differentiate the definition, never the kernel
        return jax.jvp(xla_step, primals, tangents)

    return fused_step(params, grads, state)


@functools.cache
def _program(donate: bool):
    donated = ("params", "state") if donate else ()
    return jax.jit(_traced_step, static_argnames=("tx", "fused"), donate_argnames=donated)


def _is_traced(*trees: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for tree in trees for x in jax.tree.leaves(tree))


def step(
    tx: GradientTransformation,
    params: Params,
    grads: Updates,
    state: OptState,
    *,
    donate: bool = False,
    fused: bool = True,
    **extra_args: Any,
) -> tuple[Params, OptState]:
    r"""One optimizer step: the new params and state.

    $$u_t, s_t = \mathrm{update}(g_t, s_{t-1}, \theta_{t-1}), \qquad \theta_t = \theta_{t-1} + u_t$$

    The same as `updates, state = tx.update(grads, state, params, **extra_args)` followed by
    `params = gradtx.apply_updates(params, updates)`, bit for bit, for every transformation. On
    CPU, for `sgd` (plain, heavy ball, Nesterov), `adagrad`, `rmsprop` (eps in the root; centered,
    heavy-ball momentum), `adam`, `adamw`, `nadam`, `nadamw`, `adamax`, `adamaxw`, `amsgrad`,
    `adabelief`, `radam`, `lion`, `adabound` and `amsbound` (with or without a weight-decay
    `mask`; each also built by `inject_hyperparams`, its hyperparameters stored in the leaves'
    compute dtype, as by default), on float32 or float64 leaves with their
    state in the same dtype, bfloat16/float16 leaves (computed in float32, rounded where the
    chain rounds) or half-precision `mu_dtype` moments beside float32 params, the step runs as a
    fused C++ kernel (XLA FFI custom calls, in place) when it is built (`fused_available()`);
    everywhere else (another optimizer or option, GPU/TPU, sharded arrays, under `vmap` or
    differentiation, including a `vmap` of a `lax.scan` or `jit` whose body steps) it takes the
    XLA path, chosen when the step is traced or batched. Learning-rate and weight-decay
    schedules, and hyperparameters injected into the state, are evaluated in JAX and enter the
    kernel as operands: changing them does not recompile.

    Called outside `jax.jit`, the step runs as one compiled program (compiled once per `tx`
    and tree structure).

    Args:
        tx: the optimizer.
        params: the parameters $\theta_{t-1}$.
        grads: the gradients $g_t$, shaped like `params`.
        state: the optimizer state $s_{t-1}$, from `tx.init` or the previous step.
        donate: outside `jit` only: consume `params` and `state` (their buffers are reused for
            the results, so they must not be used again), which saves a copy of every array.
        fused: False forces the XLA path (as `GRADTX_FUSED=0` in the environment does).
        **extra_args: passed to `tx.update` (e.g. `value=` for `reduce_on_plateau`); a step
            with extra arguments takes the XLA path.

    Returns:
        `(params, state)` after the step.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> tx = gradtx.adam(0.1)
        >>> params = {"w": jnp.ones(3)}
        >>> state = tx.init(params)
        >>> grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
        >>> params, state = gradtx.step(tx, params, grads, state)
        >>> params["w"]
        Array([0.9, 0.9, 0.9], dtype=float32)
    """
    if _is_traced(params, grads, state, extra_args):
        return _traced_step(tx, params, grads, state, extra_args, fused)
    if fused:
        fused = "placed" if _fused.on_one_cpu_device(params, grads, state) else False
    return _program(donate)(tx, params, grads, state, extra_args, fused)
