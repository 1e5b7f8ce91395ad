"""After Adam, more momentum: Adan's Nesterov estimate and AdEMAMix's mixture of two averages.

Both keep Adam's bias-corrected second moment and change what it divides: Adan adds the
average of gradient differences (a look-ahead), AdEMAMix adds a slow, uncorrected average.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, ScalarOrSchedule, Updates, transformation
from gradtx._transforms.scaling import learning_rate_at


class ScaleByAdanState(NamedTuple):
    """State of `scale_by_adan`."""

    count: jax.Array  # shape (), int32: the step t
    m: Updates  # m_t, the average of gradients
    v: Updates  # v_t, the average of gradient differences
    n: Updates  # n_t, the average of squared look-ahead gradients
    prev_grad: Updates  # g_{t-1}, the previous gradient


def scale_by_adan(
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scale by Adan's Nesterov momentum estimate over its second moment (Adan).

    $$\Delta_t = g_t - g_{t-1} \ (\Delta_1 = 0), \qquad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) \Delta_t,
    \\ n_t = \beta_3 n_{t-1} + (1-\beta_3) \big(g_t + (1-\beta_2) \Delta_t\big)^2,
    \\ u_t = \frac{\hat m_t + (1-\beta_2) \hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon},
    \qquad \hat m_t = \frac{m_t}{1-\beta_1^t}, \ \hat v_t = \frac{v_t}{1-\beta_2^t},
    \ \hat n_t = \frac{n_t}{1-\beta_3^t}$$

    Args:
        b1: $\beta_1$, in [0, 1): decay of the gradient average $m_t$.
        b2: $\beta_2$, in [0, 1): decay of the difference average $v_t$.
        b3: $\beta_3$, in [0, 1): decay of the squared average $n_t$.
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.

    Returns:
        A transformation with state `ScaleByAdanState(count, m, v, n, prev_grad)`.

    References:
        Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
        Optimizing Deep Models", IEEE TPAMI 2024 (arXiv:2208.06677), Algorithm 1.

    Note:
        The paper writes its decays the other way round, $m_t = (1-\beta_1) m_{t-1} + \beta_1 g_t$
        with $\beta_1 = 0.02$; here, as in Optax's code and the authors' PyTorch code,
        $\beta$ is the weight of the past (0.98 = 1 - 0.02). Optax 0.2.8's `adan` docstring shows
        the paper's form beside code that uses this one. The bias corrections are those of the
        authors' code; Algorithm 1 has none. The first difference is 0 ($g_0 = g_1$), as there.

    Example:
        >>> import gradtx
        >>> adan = gradtx.chain(gradtx.scale_by_adan(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_adan", b1=b1, b2=b2, b3=b3)
    _validate.check_non_negative("scale_by_adan", eps=eps, eps_root=eps_root)

    def init(params):
        zeros = lambda: _tree.zeros_like(params)  # one buffer per field, so state can be donated
        return ScaleByAdanState(_tree.zero_count(), zeros(), zeros(), zeros(), zeros())

    def moments(g, s, h):
        delta = jnp.where(h.count == 1, 0, g - s.prev_grad)
        look_ahead = g + (1 - h.b2) * delta
        return s._replace(
            m=_tree.ema(g, s.m, h.b1),
            v=_tree.ema(delta, s.v, h.b2),
            n=_tree.ema(_tree.abs_sq(look_ahead), s.n, h.b3),
            prev_grad=g,
        )

    def direction(g, s, h):
        m_hat = s.m / _tree.bias_correction(h.b1, h.count, g.dtype)
        v_hat = s.v / _tree.bias_correction(h.b2, h.count, g.dtype)
        n_hat = s.n / _tree.bias_correction(h.b3, h.count, g.dtype)
        return (m_hat + (1 - h.b2) * v_hat) / (jnp.sqrt(n_hat + h.eps_root) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root)
        phases = (moments, direction)
        updates, state = _tree.lift("scale_by_adan", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


class ScaleByAdemamixState(NamedTuple):
    """State of `scale_by_ademamix`."""

    count: jax.Array  # shape (), int32: the step t
    m1: Updates  # m^{(1)}_t, the fast average of gradients
    m2: Updates  # m^{(2)}_t, the slow average of gradients
    nu: Updates  # \nu_t, the second moment


def scale_by_ademamix(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    r"""Scale by a mixture of a fast and a slow gradient average over Adam's second moment.

    $$m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \qquad
    m^{(2)}_t = \beta_{3,t} m^{(2)}_{t-1} + (1-\beta_{3,t}) g_t, \qquad
    \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,
    \\ u_t = \frac{m^{(1)}_t / (1-\beta_1^t) + \alpha_t m^{(2)}_t}
    {\sqrt{\nu_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}$$

    The slow average $m^{(2)}$ is not bias-corrected: it fills slowly on purpose.

    Args:
        b1: $\beta_1$, in [0, 1): decay of the fast average.
        b2: $\beta_2$, in [0, 1): decay of the second moment.
        b3: $\beta_3$, in [0, 1), or a schedule $\beta_{3,t}$ of the step count. The paper warms
            it up from $\beta_1$ to $\beta_3$ over $T$ steps so that the half-life grows
            linearly: $\beta_{3,t} = \min(\exp(\frac{\ln\beta_1 \ln\beta_3}
            {(1-t/T)\ln\beta_3 + (t/T)\ln\beta_1}), \beta_3)$.
        alpha: $\alpha \ge 0$, the weight of the slow average, or a schedule $\alpha_t$ (the paper
            warms it up linearly over $T_\alpha$ steps, e.g. `gradtx.linear_schedule(0, 5, T)`).
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.
        mu_dtype: dtype in which both averages are stored; the params' dtype by default.

    Returns:
        A transformation with state `ScaleByAdemamixState(count, m1, m2, nu)`. Schedules are
        evaluated at the number of earlier updates, $t - 1$.

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
        arXiv:2409.03137, 2024, Algorithm 1.

    Note:
        Optax 0.2.8 (`optax.contrib`) also stores $\nu_t$ in `mu_dtype` and keeps two step
        counts that are always equal; here $\nu_t$ follows the params and one count serves both.
        Its `scale_by_ademamix` defaults to $\alpha = 6$ and its `ademamix` to $\alpha = 5$; both
        defaults are kept.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_ademamix(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_ademamix", b1=b1, b2=b2)
    if not callable(b3):
        _validate.check_interval("scale_by_ademamix", b3=b3)
    _validate.check_scalar_or_schedule("scale_by_ademamix", "alpha", alpha)
    _validate.check_non_negative("scale_by_ademamix", eps=eps, eps_root=eps_root)
    _validate.check_dtype("scale_by_ademamix", "mu_dtype", mu_dtype)

    def init(params):
        m1, m2 = _tree.zeros_like(params, mu_dtype), _tree.zeros_like(params, mu_dtype)
        return ScaleByAdemamixState(_tree.zero_count(), m1, m2, _tree.zeros_like(params))

    def moments(g, s, h):
        return s._replace(
            m1=_tree.ema(g, s.m1, h.b1),
            m2=_tree.ema(g, s.m2, h.b3),
            nu=_tree.ema(_tree.abs_sq(g), s.nu, h.b2),
        )

    def direction(g, s, h):
        m1_hat = s.m1 / _tree.bias_correction(h.b1, h.count, g.dtype)
        nu_hat = s.nu / _tree.bias_correction(h.b2, h.count, g.dtype)
        return (m1_hat + h.alpha * s.m2) / (jnp.sqrt(nu_hat + h.eps_root) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(
            count=count,
            b1=b1,
            b2=b2,
            b3=learning_rate_at(b3, state.count),
            alpha=learning_rate_at(alpha, state.count),
            eps=eps,
            eps_root=eps_root,
        )
        phases = (moments, direction)
        updates, state = _tree.lift("scale_by_ademamix", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


class ScaleBySimplifiedAdemamixState(NamedTuple):
    """State of `scale_by_simplified_ademamix`."""

    count: jax.Array  # shape (), int32: the step t
    m: Updates  # m_t, the undamped sum of past gradients
    n: Updates  # n_t, the second moment


def scale_by_simplified_ademamix(
    b1: ArrayLike = 0.99,
    b2: ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scale by one undamped gradient average plus $\alpha$ times the gradient, over Adam's root.

    $$m_t = \beta_1 m_{t-1} + g_t, \qquad n_t = \beta_2 n_{t-1} + (1-\beta_2) g_t^2,
    \\ u_t = \frac{m_t + \alpha_t g_t}
    {\sqrt{n_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}$$

    AdEMAMix with its fast average replaced by the current gradient and its slow average left
    undamped (no $1-\beta_1$ factor, no bias correction): one buffer instead of two. With
    $\alpha = 0$ it is Adam's rule on an accumulated (heavy-ball) momentum, whose steady size is
    $1/(1-\beta_1)$ times Adam's: scale the learning rate down accordingly.

    Args:
        b1: $\beta_1$, in [0, 1): decay of the gradient sum.
        b2: $\beta_2$, in [0, 1): decay of the second moment.
        alpha: $\alpha \ge 0$, the weight of the current gradient, or a schedule $\alpha_t$
            evaluated at the number of earlier updates, $t - 1$.
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.

    Returns:
        A transformation with state `ScaleBySimplifiedAdemamixState(count, m, n)`.

    References:
        Morwani, Vyas, Kakade et al., "Connections between Schedule-Free Optimizers, AdEMAMix,
        and Accelerated SGD Variants", arXiv:2502.02431, 2025 (Simplified-AdEMAMix).

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(
        ...     gradtx.scale_by_simplified_ademamix(alpha=2.0), gradtx.scale_by_learning_rate(1e-4)
        ... )
    """
    where = "scale_by_simplified_ademamix"
    _validate.check_interval(where, b1=b1, b2=b2)
    _validate.check_scalar_or_schedule(where, "alpha", alpha)
    _validate.check_non_negative(where, eps=eps, eps_root=eps_root)

    def init(params):
        m, n = _tree.zeros_like(params), _tree.zeros_like(params)
        return ScaleBySimplifiedAdemamixState(_tree.zero_count(), m, n)

    def moments(g, s, h):
        return s._replace(m=h.b1 * s.m + g, n=_tree.ema(_tree.abs_sq(g), s.n, h.b2))

    def direction(g, s, h):
        n_hat = s.n / _tree.bias_correction(h.b2, h.count, g.dtype)
        return (s.m + h.alpha * g) / (jnp.sqrt(n_hat + h.eps_root) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        alpha_t = learning_rate_at(alpha, state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, alpha=alpha_t, eps=eps, eps_root=eps_root)
        phases = (moments, direction)
        updates, state = _tree.lift(where, phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)
