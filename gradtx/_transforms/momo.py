"""MoMo: momentum (or Adam) steps whose size is a Polyak step on a model of the loss built from
the averaged losses, gradients and inner products $\\langle g, x \\rangle$, capped by the
learning rate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    ScalarOrSchedule,
    Updates,
    transformation,
)
from gradtx._transforms.lr_free import _scalar_dtype
from gradtx._transforms.polyak import _TINY
from gradtx._transforms.scaling import learning_rate_at


def _check(where: str, learning_rate: Any, lower_bound: Any, weight_decay: Any) -> None:
    _validate.check_scalar_or_schedule(where, "learning_rate", learning_rate)
    _validate.check_finite(where, lower_bound=lower_bound)
    _validate.check_non_negative(where, weight_decay=weight_decay)


def _wide(tree: Any) -> Any:
    """Each leaf in its compute dtype (float32 or wider), so that inner products of
    half-precision leaves are not summed in half precision."""
    return jax.tree.map(lambda x: jnp.asarray(x).astype(_tree.compute_dtype(x)), tree)


def _needs_params(where: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{where}: update needs the params (the model of the loss is linear in them); "
            "call update(updates, state, params, value=loss)"
        )


def _needs_value(where: str, value: Any) -> None:
    if value is None:
        raise ValueError(
            f"{where}: update needs the loss; call update(updates, state, params, value=loss) "
            "with the loss from jax.value_and_grad"
        )
    _validate.check_loss(where, value)


def _polyak_step(
    *, lb, lower_bound, alpha, weight_decay, barf, gamma, norm, iprod, bc1, adapt
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""The step size $\tau$, the weight-decay factor $\alpha\lambda/\rho$ and the next lower
    bound, from the whole-tree scalars both MoMo rules share (`bc1` is 1 for `scale_by_momo`)."""
    rho = 1 + alpha * weight_decay
    if adapt:
        cap = rho * (barf - gamma) + iprod
        lb = jnp.where(cap < rho * bc1 * lb, jnp.maximum(cap / (2 * bc1 * rho), lower_bound), lb)
    gap = jnp.maximum(rho * (barf - bc1 * lb - gamma) + iprod, 0.0)
    polyak = jnp.where(norm <= _TINY, 0.0, gap / norm)
    tau = jnp.minimum(alpha / bc1, polyak)
    if adapt:
        lb = jnp.maximum(((barf + iprod - gamma) - (1 / 2) * tau * norm) / bc1, lower_bound)
    return tau, alpha * weight_decay / rho, lb


class ScaleByMomoState(NamedTuple):
    """State of `scale_by_momo`."""

    count: jax.Array  # shape (), int32: the step k
    exp_avg: Updates  # d_k, the average of gradients
    barf: jax.Array  # shape (): \bar f_k, the average of losses
    gamma: jax.Array  # shape (): \gamma_k, the average of <g_j, x_j>
    lb: jax.Array  # shape (): f_*, the lower bound on the loss


def scale_by_momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: ArrayLike = 0.9,
    lower_bound: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    *,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo's step to subtract: a momentum step of Polyak size, given the loss `value`.

    With $f_k$ the loss, $x_k$ the params, $\alpha_k$ the learning rate, $\rho = 1 + \alpha_k
    \lambda$, and the averages' decay 0 at the first step ($d_1 = g_1$, $\bar f_1 = f_1$),
    $\beta$ after:

    $$d_k = \beta d_{k-1} + (1-\beta) g_k, \qquad
    \bar f_k = \beta \bar f_{k-1} + (1-\beta) f_k, \qquad
    \gamma_k = \beta \gamma_{k-1} + (1-\beta) \langle g_k, x_k \rangle,
    \\ \tau_k = \min\Big(\alpha_k, \frac{\big(\rho(\bar f_k - f_* - \gamma_k)
    + \langle d_k, x_k \rangle\big)_+}{\|d_k\|^2}\Big), \qquad
    u_k = \frac{\alpha_k \lambda}{\rho} x_k + \tau_k d_k$$

    with $\tau_k$'s second term 0 where $\|d_k\|^2 \le 2^{-52}$. With `adapt_lower_bound`,
    $f_*$ is first lowered to $\max(c / (2\rho), f_*^0)$ where
    $c = \rho(\bar f_k - \gamma_k) + \langle d_k, x_k \rangle < \rho f_*$, and after the step
    set to $\max(\bar f_k + \langle d_k, x_k \rangle - \gamma_k - \tau_k \|d_k\|^2 / 2,
    f_*^0)$, $f_*^0$ being `lower_bound`. The norms and inner products run over the whole tree.

    Args:
        learning_rate: $\alpha_k$, the largest step size, a number or a schedule of the count.
        beta: $\beta$, in [0, 1): the momentum.
        lower_bound: $f_*^0$, a lower bound on the loss (0 for most losses).
        weight_decay: $\lambda \ge 0$.
        adapt_lower_bound: estimate $f_*$ on the fly, starting from `lower_bound`.

    Returns:
        A `GradientTransformationExtraArgs` with state `ScaleByMomoState(count, exp_avg, barf,
        gamma, lb)`, whose update takes the params and the loss:
        `update(updates, state, params, value=loss)`. `momo` chains `scale(-1.0)` after it.

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024 (arXiv:2305.07583): MoMo, and its online estimate of the
        lower bound.

    Note:
        As Optax 0.2.8's `momo`, whose state is `MomoState(exp_avg, barf, gamma, lb, count)`;
        the scalars are stored in the params' compute dtype (at least float32), not in the
        lowest params dtype.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx, x = gradtx.scale_by_momo(), jnp.asarray([1.0, 2.0, 3.0])
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> tx.update(grad, tx.init(x), x, value=value)[0]
        Array([0.5, 1. , 1.5], dtype=float32)
    """
    where = "scale_by_momo"
    _check(where, learning_rate, lower_bound, weight_decay)
    _validate.check_interval(where, beta=beta)

    def init(params):
        dtype = _scalar_dtype(params)
        zero = lambda: jnp.zeros([], dtype)  # noqa: E731
        lb = jnp.asarray(lower_bound, dtype)
        return ScaleByMomoState(_tree.zero_count(), _tree.zeros_like(params), zero(), zero(), lb)

    def average(g, s, h):
        return s._replace(exp_avg=_tree.ema(g, s.exp_avg, h.beta))

    def last(g, s, h):
        return s.exp_avg

    def direction(g, s, h):
        return h.decay * h.params + h.tau * s.exp_avg

    def update(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _needs_params(where, params)
        _needs_value(where, value)
        dtype = state.barf.dtype
        beta_k = jnp.where(state.count == 0, 0.0, jnp.asarray(beta, dtype)).astype(dtype)
        barf = beta_k * state.barf + (1 - beta_k) * jnp.asarray(value).astype(dtype)
        exp_avg, state = _tree.lift(
            where, (average, last), updates, state, direction_dtype="compute", beta=beta_k
        )
        inner = _tree.vdot(_wide(updates), params, dtype)
        scalars = dict(
            barf=barf,
            gamma=beta_k * state.gamma + (1 - beta_k) * inner,
            norm=_tree.squared_norm(exp_avg).astype(dtype),
            iprod=_tree.vdot(exp_avg, params, dtype),
            bc1=jnp.ones([], dtype),
        )
        tau, decay, lb = _polyak_step(
            lb=state.lb,
            lower_bound=jnp.asarray(lower_bound, dtype),
            alpha=learning_rate_at(learning_rate, state.count).astype(dtype),
            weight_decay=jnp.asarray(weight_decay, dtype),
            adapt=adapt_lower_bound,
            **scalars,
        )
        updates, state = _tree.lift(
            where, (direction,), updates, state, {"params": params}, decay=decay, tau=tau
        )
        count = _tree.safe_increment(state.count)
        return updates, state._replace(count=count, barf=barf, gamma=scalars["gamma"], lb=lb)

    return transformation(init, update, extra_args=True)


class ScaleByMomoAdamState(NamedTuple):
    """State of `scale_by_momo_adam`."""

    count: jax.Array  # shape (), int32: the step k
    exp_avg: Updates  # m_k, the first moment
    exp_avg_sq: Updates  # v_k, the second moment
    barf: jax.Array  # shape (): \bar f_k, the average of losses
    gamma: jax.Array  # shape (): \gamma_k, the average of <g_j, x_j>
    lb: jax.Array  # shape (): f_*, the lower bound on the loss


def scale_by_momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    lower_bound: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    *,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo-Adam's step to subtract: Adam's direction at a Polyak size, given the loss `value`.

    With $f_k$ the loss, $x_k$ the params, $\alpha_k$ the learning rate, $\rho = 1 + \alpha_k
    \lambda$ and $c_k = 1 - \beta_1^k$:

    $$m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \qquad v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2,
    \qquad D_k = \epsilon + \sqrt{v_k / (1-\beta_2^k)},
    \\ \bar f_k = \beta_1 \bar f_{k-1} + (1-\beta_1) f_k, \qquad
    \gamma_k = \beta_1 \gamma_{k-1} + (1-\beta_1) \langle g_k, x_k \rangle,
    \\ \tau_k = \min\Big(\frac{\alpha_k}{c_k}, \frac{\big(\rho(\bar f_k - c_k f_* - \gamma_k)
    + \langle m_k, x_k \rangle\big)_+}{\langle m_k, m_k / D_k \rangle}\Big), \qquad
    u_k = \frac{\alpha_k \lambda}{\rho} x_k + \tau_k \frac{m_k}{D_k}$$

    with $\tau_k$'s second term 0 where $\langle m_k, m_k / D_k \rangle \le 2^{-52}$. With
    `adapt_lower_bound`, $f_*$ is first lowered to $\max(c / (2 c_k \rho), f_*^0)$ where
    $c = \rho(\bar f_k - \gamma_k) + \langle m_k, x_k \rangle < \rho c_k f_*$, and after the
    step set to $\max\big((\bar f_k + \langle m_k, x_k \rangle - \gamma_k - \tau_k
    \langle m_k, m_k / D_k \rangle / 2) / c_k, f_*^0\big)$, $f_*^0$ being `lower_bound`.

    Args:
        learning_rate: $\alpha_k$, the largest step size, a number or a schedule of the count.
        b1: $\beta_1$, in [0, 1): decay of $m$, $\bar f$ and $\gamma$.
        b2: $\beta_2$, in [0, 1): decay of $v$.
        eps: $\epsilon \ge 0$, added to the root.
        lower_bound: $f_*^0$, a lower bound on the loss (0 for most losses).
        weight_decay: $\lambda \ge 0$, decoupled as in AdamW.
        adapt_lower_bound: estimate $f_*$ on the fly, starting from `lower_bound`.

    Returns:
        A `GradientTransformationExtraArgs` with state `ScaleByMomoAdamState(count, exp_avg,
        exp_avg_sq, barf, gamma, lb)`, whose update takes the params and the loss:
        `update(updates, state, params, value=loss)`. `momo_adam` chains `scale(-1.0)`.

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024 (arXiv:2305.07583): MoMo-Adam.

    Note:
        As Optax 0.2.8's `momo_adam`; the scalars are stored in the params' compute dtype (at
        least float32), not in the lowest params dtype.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_momo_adam(), gradtx.scale(-1.0))
    """
    where = "scale_by_momo_adam"
    _check(where, learning_rate, lower_bound, weight_decay)
    _validate.check_interval(where, b1=b1, b2=b2)
    _validate.check_non_negative(where, eps=eps)

    def init(params):
        dtype = _scalar_dtype(params)
        zero = lambda: jnp.zeros([], dtype)  # noqa: E731
        m, v = _tree.zeros_like(params), _tree.zeros_like(params)
        lb = jnp.asarray(lower_bound, dtype)
        return ScaleByMomoAdamState(_tree.zero_count(), m, v, zero(), zero(), lb)

    def moments(g, s, h):
        return s._replace(
            exp_avg=_tree.ema(g, s.exp_avg, h.b1),
            exp_avg_sq=_tree.ema(_tree.abs_sq(g), s.exp_avg_sq, h.b2),
        )

    def preconditioned(g, s, h):
        return s.exp_avg / (h.eps + jnp.sqrt(s.exp_avg_sq / h.bc2))

    def direction(g, s, h):
        return h.decay * h.params + h.tau * (s.exp_avg / (h.eps + jnp.sqrt(s.exp_avg_sq / h.bc2)))

    def update(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _needs_params(where, params)
        _needs_value(where, value)
        dtype = state.barf.dtype
        count = _tree.safe_increment(state.count)
        b1_, b2_ = _tree.as_dtype(dtype, b1, b2)
        bc1 = _tree.bias_correction(b1_, count, dtype)
        bc2 = _tree.bias_correction(b2_, count, dtype)
        barf = b1_ * state.barf + (1 - b1_) * jnp.asarray(value).astype(dtype)
        weighted, state = _tree.lift(
            where,
            (moments, preconditioned),
            updates,
            state,
            direction_dtype="compute",
            b1=b1,
            b2=b2,
            eps=eps,
            bc2=bc2,
        )
        exp_avg = _wide(state.exp_avg)
        scalars = dict(
            barf=barf,
            gamma=b1_ * state.gamma + (1 - b1_) * _tree.vdot(_wide(updates), params, dtype),
            norm=_tree.vdot(exp_avg, weighted, dtype),
            iprod=_tree.vdot(exp_avg, params, dtype),
            bc1=bc1,
        )
        tau, decay, lb = _polyak_step(
            lb=state.lb,
            lower_bound=jnp.asarray(lower_bound, dtype),
            alpha=learning_rate_at(learning_rate, state.count).astype(dtype),
            weight_decay=jnp.asarray(weight_decay, dtype),
            adapt=adapt_lower_bound,
            **scalars,
        )
        updates, state = _tree.lift(
            where,
            (direction,),
            updates,
            state,
            {"params": params},
            decay=decay,
            tau=tau,
            eps=eps,
            bc2=bc2,
        )
        return updates, state._replace(count=count, barf=barf, gamma=scalars["gamma"], lb=lb)

    return transformation(init, update, extra_args=True)
