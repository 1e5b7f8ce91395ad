"""Mechanic: learn the scale of any optimizer's steps by betting on their running sum."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Updates,
    takes_extra_args,
)
from gradtx._transforms.lr_free import _scalar_dtype


class MechanicState(NamedTuple):
    """State of `mechanize` (Optax's `MechanicState`, in its order)."""

    base_optimizer_state: OptState  # the base optimizer's state
    count: jax.Array  # shape (), int32: the step t
    r: jax.Array  # shape (n,): r_t, the reward of each beta
    m: jax.Array  # shape (n,): m_t, the running maximum of |h|
    v: jax.Array  # shape (n,): v_t, the sum of squared h
    s: jax.Array  # shape (n,): s_t, the scale of each beta
    x0: Updates  # x_ref, the params at the first update


def mechanize(
    base_optimizer: GradientTransformation,
    weight_decay: ArrayLike = 1e-2,
    eps: ArrayLike = 1e-8,
    s_init: ArrayLike = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Run `base_optimizer` and learn the scale $S_t = \sum_i s_{t,i}$ of the sum of its
    steps, so that a base learning rate of 1 (or a schedule peaking at 1) needs no tuning.

    With $x_t$ the params, $u_t$ the base optimizer's update, $\Delta_t = (x_t - x_{ref}) /
    (S_{t-1} + \epsilon)$, $\|\cdot\|$ over the whole tree, and for each
    $\beta_i = 1 - 10^{-i}$, $i = 1..n$:

    $$\tilde g_t = g_t + \lambda S_{t-1} \frac{\|g_t\|}{\|x_t\| + \epsilon} x_t, \qquad
    h_t = -\langle \tilde g_t, \Delta_t \rangle,
    \\ m_{t,i} = \max(\beta_i m_{t-1,i}, |h_t| + \epsilon), \qquad
    v_{t,i} = \beta_i^2 v_{t-1,i} + h_t^2, \qquad
    r_{t,i} = \beta_i r_{t-1,i} + \mathrm{clip}(h_t, \pm m_{t-1,i})\, s_{t-1,i},
    \\ s_{t,i} = \frac{s_{init} m_{t,i} / n + \max(r_{t,i}, 0)}{\sqrt{v_{t,i}} + \epsilon},
    \qquad x_{t+1} = x_{ref} + S_t (\Delta_t + u_t)$$

    and the update is $x_{t+1} - x_t$. $x_{ref}$ is the params at the first update, and
    $s_{0,i} = s_{init}$.

    Args:
        base_optimizer: the optimizer whose steps are scaled (its learning rate ~1).
        weight_decay: $\lambda$, Mechanic's own weight decay, in the bet only.
        eps: $\epsilon > 0$.
        s_init: $s_{init} > 0$, the initial scale of each beta.
        num_betas: $n \ge 1$, the number of betas.

    Returns:
        A `GradientTransformationExtraArgs` (extra arguments such as `value=` go to the base
        optimizer) with state `MechanicState(base_optimizer_state, count, r, m, v, s, x0)`;
        its update needs the params.

    References:
        Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
        Algorithm 1.

    Note:
        As Optax 0.2.8's `optax.contrib.mechanize`, with the reward, maximum, sum and scale
        stored in the params' compute dtype (at least float32), not in the lowest params dtype.

    Example:
        >>> import gradtx
        >>> tx = gradtx.mechanize(gradtx.adam(1.0))
    """
    where = "mechanize"
    _validate.check_transformation(where, "base_optimizer", base_optimizer)
    _validate.check_non_negative(where, weight_decay=weight_decay)
    _validate.check_positive(where, eps=eps, s_init=s_init)
    _validate.check_int(where, 1, num_betas=num_betas)

    def init(params):
        dtype = _scalar_dtype(params)
        zeros = lambda: jnp.zeros([num_betas], dtype)  # noqa: E731
        s = jnp.full([num_betas], s_init, dtype)
        x0 = jax.tree.map(lambda x: jnp.array(x, jnp.result_type(x), copy=True), params)
        return MechanicState(
            base_optimizer.init(params), _tree.zero_count(), zeros(), zeros(), zeros(), s, x0
        )

    def with_decay(g, s, h):
        return g + h.decay * h.params

    def travelled(g, s, h):
        x0 = jnp.where(h.first, h.params, s.x0)
        return (x0 - h.params) / (h.scale + h.eps)

    def direction(g, s, h):
        x0 = jnp.where(h.first, h.params, s.x0)
        delta = (x0 - h.params) / (h.scale + h.eps) - h.base
        new_params = x0 - h.new_scale * delta
        return new_params - h.params, s._replace(x0=x0)

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                f"{where}: update needs the params (the steps are summed from the first "
                "params); call update(updates, state, params)"
            )
        if takes_extra_args(base_optimizer):
            base, base_state = base_optimizer.update(
                updates, state.base_optimizer_state, params, **extra_args
            )
        else:
            base, base_state = base_optimizer.update(updates, state.base_optimizer_state, params)
        dtype = state.s.dtype
        first = state.count == 0
        scale = jnp.sum(state.s)
        eps_, wd = _tree.as_dtype(dtype, eps, weight_decay)
        grad_norm = _tree.norm(updates).astype(dtype)
        decay = wd * scale * grad_norm / (_tree.norm(params).astype(dtype) + eps_)
        inputs = {"params": params}
        decayed, _ = _tree.lift(
            where, (with_decay,), updates, state, inputs, direction_dtype="compute", decay=decay
        )
        delta_prev, _ = _tree.lift(
            where,
            (travelled,),
            updates,
            state,
            inputs,
            direction_dtype="compute",
            first=first,
            scale=scale,
            eps=eps,
        )
        h = _tree.vdot(decayed, delta_prev, dtype)
        betas = jnp.asarray([1.0 - 0.1**i for i in range(1, num_betas + 1)], dtype)
        clipped = jnp.clip(h, -state.m, state.m)
        m = jnp.maximum(betas * state.m, jnp.abs(h) + eps_)
        v = betas**2 * state.v + h**2
        r = betas * state.r + clipped * state.s
        wealth = jnp.asarray(s_init, dtype) / num_betas * m + jnp.maximum(0.0, r)
        s = wealth / (jnp.sqrt(v) + eps_)
        updates, state = _tree.lift(
            where,
            (direction,),
            updates,
            state,
            {"params": params, "base": base},
            first=first,
            scale=scale,
            eps=eps,
            new_scale=jnp.sum(s),
        )
        count = _tree.safe_increment(state.count)
        return updates, MechanicState(base_state, count, r, m, v, s, state.x0)

    return GradientTransformationExtraArgs(init, update)
