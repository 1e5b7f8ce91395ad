"""What the fused CPU kernel needs to know about each alias it implements.

For an alias's recorded arguments and its state, a `Spec` names the kernel's FFI target, the
paths to the per-leaf state trees it reads and writes (in the kernel's field order, see
`_native/fused_rules.h`), and how to compute its scalars: with the chain's own helpers, in the
compute dtype, in the order the kernel reads them. Options the kernel does not implement give
None, and the step takes the XLA path.

A weight-decay `mask` splits the leaves between two targets with the same scalars: the masked-in
leaves go to the decaying rule, the others to the rule without the decay term (`masked` passes
their update through, so their chain never computes `u + 0 p`, which differs where p is not
finite or u is -0). An optimizer built by `inject_hyperparams(alias)` is the alias's spec on
`state.inner_state`, its scalars computed from the hyperparameters in the state as the injected
update rebuilds the alias from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _registry, _tree
from gradtx._base import Mask
from gradtx._combine import MaskedState
from gradtx._transforms.bound import _band
from gradtx._transforms.scaling import learning_rate_at
from gradtx._wrappers.hyperparams import InjectHyperparamsState, inner_arguments

Path = tuple[int | str, ...]
HALF = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


class Spec(NamedTuple):
    """One alias on the kernel: its target, its per-leaf state trees, its scalars."""

    target: str
    paths: tuple[Path, ...]  # state -> each per-leaf tree, in the kernel's field order
    scalars: Callable[[Any, Any], list[jax.Array]]  # (state, compute dtype) -> hp
    rsqrt: bool = False  # the kernel takes a reciprocal square root (see fused_math.h)
    half: tuple[Any, ...] = HALF  # the half-precision dtypes its tests cover bit for bit
    mask: Mask | None = None  # weight decay only where True; the other leaves go to `undecayed`
    undecayed: str = ""  # the target without the weight-decay term, same scalars


def _neg_lr(learning_rate: Any, state: Any, dtype: Any) -> jax.Array:
    """-lr as `scale_by_learning_rate` multiplies by it (its state is the chain's last)."""
    factor = -1 * learning_rate(state.count) if callable(learning_rate) else -1 * learning_rate
    return jnp.asarray(factor, dtype)


def _rate(rate: Any, state: Any, dtype: Any) -> jax.Array:
    """A scheduled or constant rate (weight decay) as `add_decayed_weights` reads it, from its
    state (inside `masked`'s when it has a mask)."""
    state = state.inner_state if isinstance(state, MaskedState) else state
    return jnp.asarray(learning_rate_at(rate, state.count), dtype)


def _decay_mask(spec: Spec, a: dict[str, Any], undecayed: str) -> Spec:
    """`spec` with the alias's weight-decay mask, if it has one."""
    return spec if a["mask"] is None else spec._replace(mask=a["mask"], undecayed=undecayed)


def _adam_like(a: dict[str, Any], state: Any, dtype: Any) -> list[jax.Array]:
    """[b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps] as `scale_by_adam` computes them."""
    count = _tree.safe_increment(state.count)
    b1, b2, eps, eps_root = _tree.as_dtype(dtype, a["b1"], a["b2"], a["eps"], a["eps_root"])
    # XLA multiplies by the reciprocal of a broadcast scalar divisor, and so does the kernel.
    r1 = 1 / _tree.bias_correction(b1, count, dtype)
    r2 = 1 / _tree.bias_correction(b2, count, dtype)
    return [b1, 1 - b1, b2, 1 - b2, r1, r2, eps_root, eps]


def _nesterov_factors(a: dict[str, Any], state: Any, dtype: Any) -> list[jax.Array]:
    """Nadam's b1 / (1 - b1^{t+1}) and (1 - b1) / (1 - b1^t), as `_nesterov_mean` has them."""
    count = _tree.safe_increment(state.count)
    (b1,) = _tree.as_dtype(dtype, a["b1"])
    ahead = _tree.bias_correction(b1, count.astype(dtype) + 1, dtype)
    return [b1 / ahead, (1 - b1) / _tree.bias_correction(b1, count, dtype)]


def adam(a: dict[str, Any], state: Any, *, decay: bool, nesterov: bool = False) -> Spec | None:
    """adam, adamw, nadam, nadamw: (ScaleByAdamState, [AddDecayedWeightsState], lr state)."""
    nesterov = nesterov or a.get("nesterov", False)
    if len(state) != 2 + decay:
        return None

    def scalars(state, dtype):
        hp = _adam_like(a, state[0], dtype) + [_neg_lr(a["learning_rate"], state[-1], dtype)]
        hp.append(_rate(a["weight_decay"], state[1], dtype) if decay else jnp.zeros([], dtype))
        hp += _nesterov_factors(a, state[0], dtype) if nesterov else [jnp.zeros([], dtype)] * 2
        return hp

    plain = "gradtx_" + ("nadam" if nesterov else "adam")
    spec = Spec(plain + ("w" if decay else ""), ((0, "mu"), (0, "nu")), scalars)
    return _decay_mask(spec, a, plain) if decay else spec


def _one_scaler(
    target: str, paths: tuple[Path, ...], head: Callable, *, rsqrt: bool = False, half=HALF
):
    """An alias that is one scaler then `scale_by_learning_rate`: hp = head + [-lr] (+ tail)."""

    def make(a: dict[str, Any], state: Any) -> Spec | None:
        if len(state) != 2:
            return None

        def scalars(state, dtype):
            hp = head(a, state[0], dtype)
            return hp[0] + [_neg_lr(a["learning_rate"], state[1], dtype)] + hp[1]

        return Spec(target, paths, scalars, rsqrt, half)

    return make


def _amsgrad_head(a, state, dtype):
    return _adam_like(a, state, dtype), []


def _adamax_head(a, state, dtype):
    count = _tree.safe_increment(state.count)
    b1, b2, eps = _tree.as_dtype(dtype, a["b1"], a["b2"], a["eps"])
    return [b1, 1 - b1, b2, eps, 1 / _tree.bias_correction(b1, count, dtype)], []


def adamaxw(a: dict[str, Any], state: Any) -> Spec | None:
    """adamaxw: (ScaleByAdamaxState, AddDecayedWeightsState, lr state)."""
    if len(state) != 3:
        return None

    def scalars(state, dtype):
        hp = _adamax_head(a, state[0], dtype)[0] + [_neg_lr(a["learning_rate"], state[2], dtype)]
        return hp + [_rate(a["weight_decay"], state[1], dtype)]

    spec = Spec("gradtx_adamaxw", ((0, "mu"), (0, "nu")), scalars, half=ADAMAX_HALF)
    return _decay_mask(spec, a, "gradtx_adamax")


def _radam_head(a, state, dtype):
    """`scale_by_radam`'s rectification, as its `direction` computes it."""
    count = _tree.safe_increment(state.count)
    (b2, threshold) = _tree.as_dtype(dtype, a["b2"], a["threshold"])
    t = count.astype(dtype)
    rho_inf = 2 / (1 - b2) - 1
    b2_t = b2**t
    rho = rho_inf - 2 * t * b2_t / (1 - b2_t)
    tractable = rho >= threshold
    safe_rho = jnp.where(tractable, rho, rho_inf)
    r = jnp.sqrt(
        (safe_rho - 4) * (safe_rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe_rho)
    )
    return _adam_like(a, state, dtype), [tractable.astype(dtype), r]


def _adagrad_head(a, state, dtype):
    return [jnp.asarray(a["eps"], dtype)], []


def radam(a: dict[str, Any], state: Any) -> Spec | None:
    if a["nesterov"]:
        return None
    return _one_scaler("gradtx_radam", ((0, "mu"), (0, "nu")), _radam_head)(a, state)


def adabelief(a: dict[str, Any], state: Any) -> Spec | None:
    if a["nesterov"]:
        return None
    return _one_scaler("gradtx_belief", ((0, "mu"), (0, "nu")), _amsgrad_head)(a, state)


def sgd(a: dict[str, Any], state: Any) -> Spec | None:
    """sgd: (TraceState, lr state) with momentum, (EmptyState, lr state) without."""
    if a["momentum"] is None:

        def plain(state, dtype):
            return [_neg_lr(a["learning_rate"], state[1], dtype)]

        return Spec("gradtx_sgd", (), plain)

    def scalars(state, dtype):
        return [jnp.asarray(a["momentum"], dtype), _neg_lr(a["learning_rate"], state[1], dtype)]

    target = "gradtx_nesterov" if a["nesterov"] else "gradtx_momentum"
    return Spec(target, ((0, "trace"),), scalars)


def rmsprop(a: dict[str, Any], state: Any) -> Spec | None:
    """rmsprop with eps inside the root and no bias correction: (ScaleByRmsState, lr state,
    TraceState or EmptyState)."""
    if not a["eps_in_sqrt"] or a["bias_correction"] or a["nesterov"] or len(state) != 3:
        return None
    centered, momentum = a["centered"], a["momentum"] is not None
    paths = (
        ((0, "nu"),) + (((0, "mu"),) if centered else ()) + (((2, "trace"),) if momentum else ())
    )

    def scalars(state, dtype):
        decay, eps = _tree.as_dtype(dtype, a["decay"], a["eps"])
        mu = jnp.asarray(a["momentum"] if momentum else 0, dtype)
        return [decay, 1 - decay, eps, _neg_lr(a["learning_rate"], state[1], dtype), mu]

    target = "gradtx_rmsprop" + ("_centered" if centered else "") + ("_momentum" * momentum)
    return Spec(target, paths, scalars, rsqrt=True)


def lion(a: dict[str, Any], state: Any) -> Spec | None:
    """lion: (ScaleByLionState, AddDecayedWeightsState, lr state)."""
    if len(state) != 3:
        return None

    def scalars(state, dtype):
        b1, b2 = _tree.as_dtype(dtype, a["b1"], a["b2"])
        wd = _rate(a["weight_decay"], state[1], dtype)
        return [b1, 1 - b1, b2, 1 - b2, wd, _neg_lr(a["learning_rate"], state[2], dtype)]

    return _decay_mask(Spec("gradtx_lion", ((0, "mu"),), scalars), a, "gradtx_lion_undecayed")


def bound(a: dict[str, Any], state: Any, *, running_max: bool) -> Spec | None:
    """adabound, amsbound: (AddDecayedWeightsState, BoundLrState(count, mu, step_size))."""
    if len(state) != 2:
        return None

    def scalars(state, dtype):
        decay, outer = state
        inner = outer.step_size
        count = _tree.safe_increment(outer.count)
        b1, b2, eps, final_lr, gamma = _tree.as_dtype(
            dtype, a["b1"], a["b2"], a["eps"], a["final_lr"], a["gamma"]
        )
        lr = jnp.asarray(learning_rate_at(a["learning_rate"], outer.count), dtype)
        base_lr = jnp.asarray(learning_rate_at(a["learning_rate"], _tree.zero_count()), dtype)
        ratio = jnp.where(base_lr > 0, lr / jnp.where(base_lr > 0, base_lr, 1), 1)
        lower, upper = _band(final_lr * ratio, gamma, count, dtype)
        root = jnp.sqrt(_tree.bias_correction(b2, _tree.safe_increment(inner.count), dtype))
        lr_hat = lr / _tree.bias_correction(b1, count, dtype)
        wd = _rate(a["weight_decay"], decay, dtype)
        return [wd, b1, 1 - b1, b2, 1 - b2, root, eps, lr_hat, lower, upper]

    paths = ((1, "mu"), (1, "step_size", "nu")) + (((1, "step_size", "nu_max"),) * running_max)
    # In half precision, a NaN's sign differs from XLA's where two NaNs meet: not fused.
    target = "gradtx_amsbound" if running_max else "gradtx_adabound"
    return Spec(target, paths, scalars, half=())


def injected(
    make: Callable, recipe: _registry.Recipe
) -> Callable[[dict[str, Any], Any], Spec | None]:
    """The spec of `inject_hyperparams(alias)` from the alias's `make`: its trees and scalars
    read from `state.inner_state`, its arguments from the hyperparameters in the state (scalars
    only: a hyperparameter of another shape takes the XLA path)."""

    def make_injected(a: dict[str, Any], state: Any) -> Spec | None:
        del a  # the recorded arguments: the state holds the values the update uses
        if not isinstance(state, InjectHyperparamsState):
            return None
        if any(jnp.shape(h) != () for h in state.hyperparams.values()):
            return None
        spec = make(inner_arguments(recipe, state), state.inner_state)
        if spec is None:
            return None

        def scalars(state, dtype):
            inner = make(inner_arguments(recipe, state), state.inner_state)
            return inner.scalars(state.inner_state, dtype)

        paths = tuple(("inner_state", *path) for path in spec.paths)
        half = tuple(d for d in spec.half if d in INJECTED_HALF.get(spec.target, spec.half))
        return spec._replace(paths=paths, scalars=scalars, half=half)

    return make_injected


# Injected float16 Nesterov SGD: where two NaNs meet in p + u, XLA keeps the other one's sign (its
# fusion of the injected learning rate orders the operands otherwise): not fused.
INJECTED_HALF = {"gradtx_nesterov": (jnp.dtype(jnp.bfloat16),)}
# float16 AdaMax differs from XLA in the last place on a few elements: not fused.
ADAMAX_HALF = (jnp.dtype(jnp.bfloat16),)
SPECS: dict[str, Callable[[dict[str, Any], Any], Spec | None]] = {
    "sgd": sgd,
    "adam": lambda a, s: adam(a, s, decay=False),
    "adamw": lambda a, s: adam(a, s, decay=True),
    "nadam": lambda a, s: adam(a, s, decay=False, nesterov=True),
    "nadamw": lambda a, s: adam(a, s, decay=True, nesterov=True),
    "adamax": _one_scaler("gradtx_adamax", ((0, "mu"), (0, "nu")), _adamax_head, half=ADAMAX_HALF),
    "adamaxw": adamaxw,
    "amsgrad": _one_scaler("gradtx_amsgrad", ((0, "mu"), (0, "nu"), (0, "nu_max")), _amsgrad_head),
    "adabelief": adabelief,
    "radam": radam,
    "lion": lion,
    "adagrad": _one_scaler("gradtx_adagrad", ((0, "sum_of_squares"),), _adagrad_head, rsqrt=True),
    "rmsprop": rmsprop,
    "adabound": lambda a, s: bound(a, s, running_max=False),
    "amsbound": lambda a, s: bound(a, s, running_max=True),
}
