"""Schedule-Free learning: interpolate and average the iterates instead of decaying the rate."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    takes_extra_args,
)
from gradtx._transforms.scaling import learning_rate_at


class ScheduleFreeState(NamedTuple):
    """State of `schedule_free`. Scalars are in the dtype the weights are computed in."""

    count: jax.Array  # shape (), int32: the step t
    b1: jax.Array  # shape (): beta, the interpolation used by the last step (for eval params)
    weight_sum: jax.Array  # shape (): sum_{i <= t} w_i
    max_lr: jax.Array  # shape (): max_{i <= t} gamma_i
    base_optimizer_state: OptState  # the state of the base optimizer
    z: Updates  # z_t, the base optimizer's own iterate


def _x_from(y, z, b1):
    """x = z + (y - z) / beta, i.e. (y - (1 - beta) z) / beta: the averaged iterate, recovered
    from y and z; exactly y where y = z."""
    return z + (y - z) / b1


def schedule_free_eval_params(state: OptState, params: Params) -> Params:
    r"""The averaged iterate $x_t$, where Schedule-Free's loss should be evaluated.

    $$x_t = \big(y_t - (1-\beta) z_t\big) / \beta = z_t + (y_t - z_t) / \beta$$

    Args:
        state: a state holding one `ScheduleFreeState` (that of `schedule_free`, or of a chain
            or wrapper around it).
        params: $y_t$, the params being trained.

    Returns:
        $x_t$, shaped and typed like `params`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.schedule_free_sgd(0.1)
        >>> params = jnp.ones(2)
        >>> state = tx.init(params)
        >>> updates, state = tx.update(params, state, params)
        >>> gradtx.schedule_free_eval_params(state, gradtx.apply_updates(params, updates))
        Array([0.9, 0.9], dtype=float32)
    """
    where = "schedule_free_eval_params"
    state = _tree.only_state(
        where,
        "the state",
        state,
        ScheduleFreeState,
        "pass the state of `schedule_free`, `schedule_free_sgd` or `schedule_free_adamw`",
    )

    def rule(y, z):
        dtype = _tree.compute_dtype(y, z)
        (b1,) = _tree.as_dtype(dtype, state.b1)
        return _x_from(y.astype(dtype), z.astype(dtype), b1).astype(y.dtype)

    return _tree.map_leaves(rule, params, state.z, where=where, names=("z",))


def schedule_free(
    base_optimizer: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Replace the base optimizer's momentum by interpolation and averaging (Schedule-Free).

    The params being trained are $y_t$; the base optimizer (without momentum) steps a sequence
    $z$, and $x$ averages it, weighted by the largest learning rate seen so far:

    $$z_{t+1} = z_t + \Delta_t, \qquad
    \gamma^{max}_t = \max(\gamma^{max}_{t-1}, \gamma_t), \qquad
    w_t = (\gamma^{max}_t)^r, \qquad c_{t+1} = w_t / \textstyle\sum_{i \le t} w_i,
    \\ x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, \qquad
    y_{t+1} = \beta x_{t+1} + (1-\beta) z_{t+1}, \qquad u_t = y_{t+1} - y_t$$

    where $\Delta_t$ is the base optimizer's update at the gradient $g_t = \nabla f(y_t)$, and
    $c_{t+1} = 0$ while every weight is 0. Only z is stored: with
    $x_t = z_t + (y_t - z_t)/\beta$ the step is, without forming $x$,

    $$u_t = \big(1 - \beta (1 - c_{t+1})\big) \Delta_t - c_{t+1} (y_t - z_t)$$

    Evaluate at $x$: `schedule_free_eval_params`.

    Args:
        base_optimizer: the optimizer that steps z, without momentum (e.g. `sgd(lr)`, or Adam's
            scaling with $\beta_1 = 0$); it may take extra arguments (`value=`).
        learning_rate: $\gamma$, the base optimizer's learning rate (a number or a schedule, with
            warm-up but no decay); only its value at each step matters here.
        b1: $\beta$, in (0, 1]: the interpolation between x and z where gradients are taken.
        weight_lr_power: $r$, the power of $\gamma^{max}_t$ in the averaging weights.
        state_dtype: dtype in which z is stored; the params' dtype by default.

    Returns:
        A `GradientTransformationExtraArgs` with state
        `ScheduleFreeState(count, b1, weight_sum, max_lr, base_optimizer_state, z)`; it needs
        `params`, and passes extra arguments on to the base optimizer when it takes them.

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled", NeurIPS
        2024, Algorithm 1 (and its warm-up weights $c_{t+1}$, Section 5).

    Note:
        A scheduled $\gamma$ is read at the count of earlier steps, $\gamma_t$ = `learning_rate`
        (t - 1), the value the base optimizer's own `scale_by_learning_rate` uses for the same
        step, so that each $z_{t+1}$ is weighted by the rate that made it, as in the paper.
        Optax 0.2.8 reads it one step ahead, `learning_rate(t)`: with a warm-up its weights lag
        its steps by one (with a constant rate the two agree). Optax also forms $x_t$, $x_{t+1}$
        and $y_{t+1}$ and returns $y_{t+1} - y_t$, a difference of nearly equal numbers: a zero
        gradient then moves $y$ by an ulp, differently under `jit`; the form above agrees with
        it to rounding. The scalars are kept in float32 or wider (Optax: the params' lowest
        precision, where bfloat16 would round the sum of weights).

    Example:
        >>> import gradtx
        >>> tx = gradtx.schedule_free(gradtx.sgd(0.1), learning_rate=0.1, b1=0.9)
    """
    where = "schedule_free"
    _validate.check_transformation(where, "base_optimizer", base_optimizer)
    _validate.check_scalar_or_schedule(where, "learning_rate", learning_rate)
    _validate.check_finite(where, b1=b1, weight_lr_power=weight_lr_power)
    _validate.check_dtype(where, "state_dtype", state_dtype)
    if _validate.is_number(b1) and not 0 < b1 <= 1:
        _validate._fail(where, "b1", b1, "in (0, 1]")  # x_t = (y_t - (1 - b1) z_t) / b1
    base_extra = takes_extra_args(base_optimizer)

    def init(params):
        leaves = jax.tree.leaves(params)
        dtype = jnp.finfo(_tree.compute_dtype(*leaves)).dtype if leaves else jnp.float32
        z = jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype or jnp.result_type(p)), params)
        scalar = lambda: jnp.zeros([], dtype)  # noqa: E731  one buffer per field
        return ScheduleFreeState(
            _tree.zero_count(),
            jnp.asarray(b1, dtype),
            scalar(),
            scalar(),
            base_optimizer.init(params),
            z,
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                f"{where}: update needs the params y_t; call update(updates, state, params)"
            )
        _validate.check_state(where, state, ScheduleFreeState)
        dtype = state.weight_sum.dtype
        (lr,) = _tree.as_dtype(dtype, learning_rate_at(learning_rate, state.count))
        (b1_, power) = _tree.as_dtype(dtype, b1, weight_lr_power)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr**power
        weight_sum = state.weight_sum + weight
        c = jnp.where(weight_sum == 0, jnp.zeros([], dtype), weight / weight_sum)
        kwargs = extra_args if base_extra else {}
        steps, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **kwargs
        )

        def rule(g, y, z, delta):
            dt = _tree.compute_dtype(g, y, z, delta)
            y, z_, delta, beta, c_ = (x.astype(dt) for x in (y, z, delta, b1_, c))
            u = (1.0 - beta * (1.0 - c_)) * delta - c_ * (y - z_)
            return u.astype(g.dtype), _tree.cast_like(z_ + delta, z)

        updates, z = _tree.map_leaves(
            rule,
            updates,
            params,
            state.z,
            steps,
            where=where,
            names=("params", "z", "base updates"),
            outputs=2,
        )
        count = _tree.safe_increment(state.count)
        return updates, ScheduleFreeState(count, b1_, weight_sum, max_lr, base_state, z)

    return GradientTransformationExtraArgs(init, update)
