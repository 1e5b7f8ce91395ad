"""Sign methods: Rprop's per-parameter step sizes, the sign of the gradient, and Lion.

Each step moves every coordinate by an amount that does not depend on the gradient's size, only on
its sign (and, in Rprop, on whether that sign has changed).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, stateless, transformation

_LION_MODES = ("hard", "smooth", "refined")


def scale_by_sign() -> GradientTransformation:
    r"""Replace each update by its sign: $u_t = \operatorname{sign}(g_t)$.

    Zero stays zero, NaN stays NaN; a complex entry becomes $g / |g|$.

    Returns:
        A stateless transformation (state `EmptyState()`).

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018, Algorithm 1.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_sign()
        >>> tx.update(jnp.array([-3.0, 0.0, 0.5]), tx.init(jnp.zeros(3)))[0]
        Array([-1.,  0.,  1.], dtype=float32)
    """
    return stateless(
        lambda updates, params: _tree.map_leaves(jnp.sign, updates, where="scale_by_sign")
    )


class ScaleByLionState(NamedTuple):
    """State of `scale_by_lion`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the momentum


def scale_by_lion(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: Any = None,
    *,
    mode: Literal["hard", "smooth", "refined"] = "hard",
    smooth_beta: ArrayLike = 1.0,
) -> GradientTransformation:
    r"""Replace updates by the sign of an interpolation of momentum and gradient (Lion).

    $$c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad u_t = \operatorname{sign}(c_t), \qquad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t$$

    The step uses $\beta_1$, the momentum it keeps uses $\beta_2$. With $\beta_1 = \beta_2$,
    $u_t = \operatorname{sign}(m_t)$: Signum.

    Args:
        b1: $\beta_1$, in [0, 1): the weight of the momentum in the step.
        b2: $\beta_2$, in [0, 1): the decay of the momentum $m_t$.
        mu_dtype: dtype in which $m_t$ is stored; the params' dtype by default.
        mode: the sign function: `"hard"`, $\operatorname{sign}(c)$ (the paper); `"smooth"`,
            $\tanh(\beta_s c)$; `"refined"`, $c$ where $|c| < 1$ and $\operatorname{sign}(c)$
            elsewhere (Optax's variants).
        smooth_beta: $\beta_s$, the slope of the `"smooth"` mode.

    Returns:
        A transformation with state `ScaleByLionState(count, mu)`.

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Algorithm 2.

    Example:
        >>> import gradtx
        >>> lion = gradtx.chain(gradtx.scale_by_lion(), gradtx.scale_by_learning_rate(1e-4))
    """
    _validate.check_interval("scale_by_lion", b1=b1, b2=b2)
    _validate.check_finite("scale_by_lion", smooth_beta=smooth_beta)
    _validate.check_dtype("scale_by_lion", "mu_dtype", mu_dtype)
    if mode not in _LION_MODES:
        raise ValueError(f"scale_by_lion: mode must be one of {_LION_MODES}, got {mode!r}")

    def sign(c, h):
        if mode == "smooth":
            return jnp.tanh(h.smooth_beta * c)
        if mode == "refined":
            return jnp.where(jnp.abs(c) < 1, c, jnp.sign(c))
        return jnp.sign(c)

    def direction(g, s, h):
        u = sign(_tree.ema(g, s.mu, h.b1), h)
        return u, s._replace(mu=_tree.ema(g, s.mu, h.b2))

    def init(params):
        return ScaleByLionState(_tree.zero_count(), _tree.zeros_like(params, mu_dtype))

    def update(updates, state, params=None):
        del params
        hyperparams = dict(b1=b1, b2=b2, smooth_beta=smooth_beta)
        updates, state = _tree.lift("scale_by_lion", (direction,), updates, state, **hyperparams)
        return updates, state._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)


class ScaleByRpropState(NamedTuple):
    """State of `scale_by_rprop`."""

    step_sizes: Updates  # Delta_t, the per-parameter step sizes
    prev_updates: Updates  # u_t, the last step taken (0 where the sign changed)


def scale_by_rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Replace updates by per-parameter step sizes in the gradient's sign (Rprop).

    With $s_t = \operatorname{sign}(g_t) \operatorname{sign}(u_{t-1})$ and $\Delta_0 = \eta$,
    $u_0 = 0$:

    $$\Delta_t = \begin{cases}
    \operatorname{clip}(\eta^+ \Delta_{t-1}, \Delta_{min}, \Delta_{max}) & s_t > 0 \\
    \operatorname{clip}(\eta^- \Delta_{t-1}, \Delta_{min}, \Delta_{max}) & s_t < 0 \\
    \Delta_{t-1} & s_t = 0 \end{cases}, \qquad
    u_t = \begin{cases} 0 & s_t < 0 \\ \Delta_t \operatorname{sign}(g_t) & \text{otherwise}
    \end{cases}$$

    A coordinate whose gradient changed sign takes no step, and its next step does not adapt
    ($u_t = 0$ makes $s_{t+1} = 0$). The direction is ascent: follow with `scale(-1.0)`.

    Args:
        learning_rate: $\eta$, the initial step size $\Delta_0$, > 0.
        eta_minus: $\eta^-$, in [0, 1): the factor after a sign change.
        eta_plus: $\eta^+$, > 0 (above 1 in practice): the factor while the sign holds.
        min_step_size: $\Delta_{min}$, >= 0.
        max_step_size: $\Delta_{max}$, > 0.

    Returns:
        A transformation with state `ScaleByRpropState(step_sizes, prev_updates)`.

    References:
        Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation Learning: The
        RPROP Algorithm", IEEE ICNN 1993. The form without weight backtracking is Igel &
        Hüsken's Rprop$^-$ ("Empirical evaluation of the improved Rprop learning algorithms",
        Neurocomputing 50, 2003), as in torch.optim.Rprop.

    Note:
        Optax 0.2.8's `scale_by_rprop` returns the step of the *previous* call, $u_{t-1}$ (zeroed
        where $s_t < 0$), not $u_t$: its first update is zero and every step lags one gradient
        behind. Its state is the same as here. gradtx returns $u_t$, as the paper and
        torch.optim.Rprop do. The sign test multiplies signs, not $g_t u_{t-1}$, which Optax
        multiplies and which underflows to 0 for tiny gradients.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_rprop(0.1)
        >>> tx.update(jnp.array([2.0, -1.0]), tx.init(jnp.zeros(2)))[0]
        Array([ 0.1, -0.1], dtype=float32)
    """
    _validate.check_positive(
        "scale_by_rprop",
        learning_rate=learning_rate,
        eta_plus=eta_plus,
        max_step_size=max_step_size,
    )
    _validate.check_interval("scale_by_rprop", eta_minus=eta_minus)
    _validate.check_non_negative("scale_by_rprop", min_step_size=min_step_size)

    def step(g, s, h):
        agree = jnp.sign(g) * jnp.sign(s.prev_updates)
        factor = jnp.where(agree > 0, h.eta_plus, h.eta_minus)
        adapted = jnp.clip(s.step_sizes * factor, h.min_step_size, h.max_step_size)
        step_sizes = jnp.where(agree == 0, s.step_sizes, adapted)
        u = jnp.where(agree < 0, 0, step_sizes * jnp.sign(g))
        return u, s._replace(step_sizes=step_sizes, prev_updates=u)

    def init(params):
        step_sizes = _tree.full_like(params, learning_rate)
        return ScaleByRpropState(step_sizes, _tree.zeros_like(params))

    def update(updates, state, params=None):
        del params
        hyperparams = dict(
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        )
        return _tree.lift("scale_by_rprop", (step,), updates, state, **hyperparams)

    return transformation(init, update)
