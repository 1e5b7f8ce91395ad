"""Distance over gradients: DoG and DoWG take the step size from how far the params have
travelled from where they started, over the gradients seen on the way.

Both are one step size for the whole tree, $\\eta_t = $ (largest distance from $x_0$ so far)
over a root of summed squared gradient norms; the norms are computed outside the per-leaf rule.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation
from gradtx._transforms.lr_free import _scalar_dtype

INIT_STEPS = ("distance", "learning_rate", "heuristic")


def _copy(params: Any) -> Any:
    return jax.tree.map(lambda x: jnp.array(x, jnp.result_type(x), copy=True), params)


def _distance_squared(where: str, params0: Any, params: Any, dtype: Any) -> jax.Array:
    """$\\|x - x_0\\|^2$ over the whole tree, in `dtype`."""
    travelled = _tree.map_leaves(
        lambda x0, x: x.astype(_tree.compute_dtype(x0)) - x0.astype(_tree.compute_dtype(x0)),
        params0,
        params,
        where=where,
        names=("params",),
    )
    return _tree.squared_norm(travelled).astype(dtype)


def _needs_params(where: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{where}: update needs the params (it measures the distance travelled from the "
            "initial params); call update(updates, state, params)"
        )


def _scaled(where: str, updates: Any, step: jax.Array) -> Any:
    """$\\eta g$, leaf by leaf, computed in at least float32 and rounded once."""

    def rule(g):
        dt = _tree.compute_dtype(g, step)
        return (step.astype(dt) * g.astype(dt)).astype(g.dtype)

    return _tree.map_leaves(rule, updates, where=where)


class ScaleByDogState(NamedTuple):
    """State of `scale_by_dog`."""

    count: jax.Array  # shape (), int32: the step t
    params0: Updates  # x_0, the params at init
    max_dist: jax.Array  # shape (): \bar r_t, the largest distance from x_0 so far
    sum_sq_norm_grads: jax.Array  # shape (): G_t, the sum of squared gradient norms


def scale_by_dog(
    init_step: tuple[Literal["distance", "learning_rate", "heuristic"], ArrayLike],
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""Scale the whole update by DoG's step size: the largest distance travelled over the root
    of the summed squared gradient norms.

    $$\bar r_t = \max\big(\bar r_{t-1}, \|x_t - x_0\|\big), \qquad
    G_t = G_{t-1} + \|g_t\|^2, \qquad u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t$$

    with $x_t$ the params, the norms over the whole tree, and $\bar r_0 = r_\epsilon$ set by
    `init_step`. Descending needs a negative learning rate after it: `dog` chains
    `scale_by_learning_rate`.

    Args:
        init_step: a pair `(tag, value)` with `value > 0`: `("distance", r)` sets
            $r_\epsilon = r$; `("heuristic", a)` sets $r_\epsilon = a (1 + \|x_0\|)$ (the
            paper suggests $a = 10^{-6}$, $10^{-4}$ with batch normalisation); and
            `("learning_rate", eta)` sets $r_\epsilon = 0$ and makes the first step size
            $\eta$ instead of $0$.
        eps: $\epsilon \ge 0$, added to $G_t$.

    Returns:
        A transformation with state `ScaleByDogState(count, params0, max_dist,
        sum_sq_norm_grads)`; its update needs the params, and `init` the actual params (not
        zeros) for the heuristic.

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
        Schedule", ICML 2023, Algorithm 1.

    Note:
        As Optax 0.2.8. Its state holds a boolean first-step flag; gradtx's the step count.
        $\bar r$ and $G$ are stored in the params' compute dtype (at least float32), not in
        the lowest params dtype.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_dog(("heuristic", 1e-6)), gradtx.scale(-1.0))
    """
    where = "scale_by_dog"
    allowed = "a pair (tag, value) with tag 'distance', 'learning_rate' or 'heuristic'"
    if not isinstance(init_step, (tuple, list)) or len(init_step) != 2:
        _validate.fail_type(where, "init_step", init_step, allowed)
    tag, value = init_step
    if tag not in INIT_STEPS:
        _validate._fail(where, "init_step", init_step, allowed)
    if _validate.is_number(value) and not (value > 0 and value < float("inf")):
        _validate._fail(where, "init_step", init_step, "a pair (tag, value) with value > 0")
    _validate.check_non_negative(where, eps=eps)

    def init(params):
        dtype = _scalar_dtype(params)
        if tag == "distance":
            r_epsilon = jnp.asarray(value, dtype)
        elif tag == "heuristic":
            r_epsilon = jnp.asarray(value, dtype) * (1 + _tree.norm(params).astype(dtype))
        else:
            r_epsilon = jnp.zeros([], dtype)
        G = jnp.zeros([], dtype)
        return ScaleByDogState(_tree.zero_count(), _copy(params), r_epsilon, G)

    def update(updates, state, params=None):
        _needs_params(where, params)
        dtype = state.max_dist.dtype
        distance = jnp.sqrt(_distance_squared(where, state.params0, params, dtype))
        max_dist = jnp.maximum(state.max_dist, distance)
        G = state.sum_sq_norm_grads + _tree.squared_norm(updates).astype(dtype)
        step = max_dist / jnp.sqrt(G + jnp.asarray(eps, dtype))
        if tag == "learning_rate":
            step = jnp.where(state.count == 0, jnp.asarray(value, dtype), step)
        count = _tree.safe_increment(state.count)
        new_state = state._replace(count=count, max_dist=max_dist, sum_sq_norm_grads=G)
        return _scaled(where, updates, step), new_state

    return transformation(init, update)


class ScaleByDowgState(NamedTuple):
    """State of `scale_by_dowg`."""

    params0: Updates  # x_0, the params at init
    weighted_sq_norm_grads: jax.Array  # shape (): v_t, the sum of \bar r_k^2 |g_k|^2
    estim_sq_dist: jax.Array  # shape (): \bar r_t^2, the largest squared distance so far


def scale_by_dowg(
    init_estim_sq_dist: ArrayLike | None = None, eps: ArrayLike = 1e-4
) -> GradientTransformation:
    r"""Scale the whole update by DoWG's step size: DoG with the gradient norms weighted by the
    distance travelled when they were seen.

    $$\bar r_t^2 = \max\big(\bar r_{t-1}^2, \|x_t - x_0\|^2\big), \qquad
    v_t = v_{t-1} + \bar r_t^2 \|g_t\|^2, \qquad
    u_t = \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\, g_t$$

    with $x_t$ the params and the norms over the whole tree. Descending needs a negative
    learning rate after it: `dowg` chains `scale_by_learning_rate`.

    Args:
        init_estim_sq_dist: $\bar r_0^2 > 0$, the initial guess of the squared distance to a
            solution; $\epsilon$ when None.
        eps: $\epsilon > 0$, in the denominator (and the default $\bar r_0^2$).

    Returns:
        A transformation with state `ScaleByDowgState(params0, weighted_sq_norm_grads,
        estim_sq_dist)` and no step count; its update needs the params.

    References:
        Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
        Gradient Descent Method", NeurIPS 2023, Algorithm 1.

    Note:
        As Optax 0.2.8, with $v_t$ and $\bar r_t^2$ stored in the params' compute dtype (at
        least float32), not in the lowest params dtype.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_dowg(), gradtx.scale(-1.0))
    """
    where = "scale_by_dowg"
    _validate.check_positive(where, eps=eps)
    if init_estim_sq_dist is not None:
        _validate.check_positive(where, init_estim_sq_dist=init_estim_sq_dist)
    r0_squared = eps if init_estim_sq_dist is None else init_estim_sq_dist

    def init(params):
        dtype = _scalar_dtype(params)
        v0, r0 = jnp.zeros([], dtype), jnp.asarray(r0_squared, dtype)
        return ScaleByDowgState(_copy(params), v0, r0)

    def update(updates, state, params=None):
        _needs_params(where, params)
        dtype = state.estim_sq_dist.dtype
        squared = _distance_squared(where, state.params0, params, dtype)
        estim_sq_dist = jnp.maximum(state.estim_sq_dist, squared)
        v = estim_sq_dist * _tree.squared_norm(updates).astype(dtype)
        v = v + state.weighted_sq_norm_grads
        step = estim_sq_dist / (jnp.sqrt(v) + jnp.asarray(eps, dtype))
        new_state = state._replace(weighted_sq_norm_grads=v, estim_sq_dist=estim_sq_dist)
        return _scaled(where, updates, step), new_state

    return transformation(init, update)
