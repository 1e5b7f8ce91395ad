r"""FTRL-Proximal: follow the regularized leader, each weight solved in closed form from two sums.

Each step accumulates the squared gradients $n$ and a linear term $z$; the new weight is the
minimiser of $z\theta + \lambda_1|\theta| + \tfrac12 q \theta^2$, which is exactly 0 while
$|z| \le \lambda_1$: L1 regularization that makes weights sparse.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, ScalarOrSchedule, Updates, compiled, transformation
from gradtx._transforms.scaling import learning_rate_at


class FtrlState(NamedTuple):
    """State of `ftrl`."""

    count: jax.Array  # shape (), int32: the step t
    n: Updates  # n_t, the sum of squared gradients (from n_0)
    z: Updates  # z_t, the linear term


def ftrl(
    learning_rate: ScalarOrSchedule = 1e-3,
    learning_rate_power: ArrayLike = -0.5,
    initial_accumulator_value: ArrayLike = 0.1,
    l1: ArrayLike = 0.0,
    l2: ArrayLike = 0.0,
    l2_shrinkage: ArrayLike = 0.0,
    beta: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""FTRL-Proximal: the weights that minimise the regularized linearised losses so far.

    With $p$ = `learning_rate_power` ($-\tfrac12$ in the paper), per element:

    $$n_t = n_{t-1} + g_t^2, \qquad
    \sigma_t = \big(n_t^{-p} - n_{t-1}^{-p}\big) / \eta_t, \qquad
    z_t = z_{t-1} + g_t + 2\lambda_s \theta_{t-1} - \sigma_t \theta_{t-1},$$

    $$q_t = n_t^{-p} / \eta_t + 2\big(\lambda_2 + \beta / (2\eta_t)\big), \qquad
    \theta_t = \big(\operatorname{clip}(z_t, -\lambda_1, \lambda_1) - z_t\big) / q_t, \qquad
    u_t = \theta_t - \theta_{t-1}$$

    so $\theta_t = 0$ while $|z_t| \le \lambda_1$ and $-(z_t - \operatorname{sign}(z_t)\lambda_1)
    / q_t$ otherwise. The update is the step to the new weights: feed raw gradients, and put
    nothing after it that rescales (it holds the learning rate).

    Args:
        learning_rate: $\eta$, a number > 0 or a schedule of the step count.
        learning_rate_power: $p \le 0$: the per-coordinate rate is $\eta / n_t^{-p}$; 0 keeps it
            fixed.
        initial_accumulator_value: $n_0 \ge 0$.
        l1: $\lambda_1 \ge 0$, the L1 strength (the penalty $\lambda_1 |\theta|$).
        l2: $\lambda_2 \ge 0$, the L2 strength of the proximal term (the penalty
            $\lambda_2 \theta^2$).
        l2_shrinkage: $\lambda_s \ge 0$, an L2 penalty $\lambda_s \theta^2$ on the loss, added to
            the gradient in $z$ but not in $n$.
        beta: $\beta \ge 0$, the paper's $\beta$ in the per-coordinate rate
            $\eta / (\beta + \sqrt{n_t})$.

    Returns:
        A transformation with state `FtrlState(count, n, z)`; `update` needs the params.

    References:
        McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013, Algorithm 1
        (there $p = -\tfrac12$, $n_0 = 0$, the L2 term $\tfrac12\lambda_2\theta^2$).

    Note:
        This is Keras' (and TensorFlow's) form: the L2 strengths are those of $\lambda\theta^2$
        (the paper's $\lambda_2$ is $2\lambda_2$ here), and the weights are functions of the
        state alone. $z_0 = 0$ even when $n_0 > 0$, so the first steps pull the weights towards
        0: a coordinate whose gradients are all 0 is set to 0 at once. With $n_0 = \beta =
        \lambda_2 = 0$ and $p < 0$ such a coordinate has $q_t = 0$ and becomes NaN, as in Keras.
        $z_t \approx -q_t \theta_t$, of order $|\theta| n_t^{-p} / \eta$, is stored in the
        params' dtype: with float16 params and a small $\eta$ it can overflow.
        `gradtx.conventions.keras.Ftrl` reproduces `keras.optimizers.Ftrl`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.ftrl(0.1, l1=0.05)
        >>> params = jnp.array([1.0, -2.0])
        >>> updates, state = tx.update(jnp.array([0.5, 0.01]), tx.init(params), params)
        >>> gradtx.apply_updates(params, updates)  # |z| <= l1 for the second weight: 0
        Array([0.37251055, 0.        ], dtype=float32)
    """
    where = "ftrl"
    _validate.check_scalar_or_schedule(where, "learning_rate", learning_rate)
    if _validate.is_number(learning_rate) and learning_rate == 0:
        _validate._fail(where, "learning_rate", learning_rate, "> 0 (it divides n_t^-p)")
    _validate.check_finite(where, learning_rate_power=learning_rate_power)
    if _validate.is_number(learning_rate_power) and learning_rate_power > 0:
        _validate._fail(where, "learning_rate_power", learning_rate_power, "<= 0")
    _validate.check_non_negative(
        where,
        initial_accumulator_value=initial_accumulator_value,
        l1=l1,
        l2=l2,
        l2_shrinkage=l2_shrinkage,
        beta=beta,
    )

    def accumulate(g, s, h):
        n = s.n + g * g
        sigma = (n ** (-h.power) - s.n ** (-h.power)) / h.lr
        z = s.z + ((g + 2 * h.l2_shrinkage * h.params) - sigma * h.params)
        return s._replace(n=n, z=z)

    def step(g, s, h):
        quadratic = s.n ** (-h.power) / h.lr + 2 * (h.l2 + h.beta / (2.0 * h.lr))
        new_params = (jnp.clip(s.z, -h.l1, h.l1) - s.z) / quadratic
        return new_params - h.params

    def init(params):
        n = _tree.full_like(params, initial_accumulator_value)
        return FtrlState(_tree.zero_count(), n, _tree.zeros_like(params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                f"{where}: update needs the params (it returns the step to the new weights); "
                "call update(updates, state, params)"
            )
        hyperparams = dict(
            lr=learning_rate_at(learning_rate, state.count),
            power=learning_rate_power,
            l1=l1,
            l2=l2,
            l2_shrinkage=l2_shrinkage,
            beta=beta,
        )
        inputs = {"params": params}
        phases = (accumulate, step)
        updates, state = _tree.lift(where, phases, updates, state, inputs, **hyperparams)
        return updates, state._replace(count=_tree.safe_increment(state.count))

    # Compiled, so that an eager update is the program a jitted one is: u_t = theta_t - theta_(t-1)
    # cancels, and turns an ulp of theta_t (a fused multiply-add, or pow(n, 0.5) made sqrt, under
    # jit) into 1e-12 of u_t where the weights barely move.
    return compiled(transformation(init, update))
