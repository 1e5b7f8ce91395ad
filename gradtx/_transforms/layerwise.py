"""Adaptive steps that share statistics or anchor to the start: NovoGrad and MADGRAD.

NovoGrad keeps one second moment per layer (a scalar per leaf); MADGRAD averages in the dual,
stepping from the initial parameters by a cube-root-scaled sum of gradients.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, OptState, ScalarOrSchedule, Updates, transformation
from gradtx._transforms.scaling import learning_rate_at


class ScaleByNovogradState(NamedTuple):
    """State of `scale_by_novograd`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the momentum of normalized gradients
    nu: OptState  # v_t, one real scalar per leaf: the average squared norm of its gradient


def _real_scalar_like(x: Any) -> jax.Array:
    """A zero in x's real dtype (an integer leaf keeps its dtype, for `update` to refuse)."""
    dtype = jnp.result_type(x)
    return jnp.zeros([], jnp.finfo(dtype).dtype if jnp.issubdtype(dtype, jnp.inexact) else dtype)


def scale_by_novograd(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    r"""Scale each layer's gradient by its own norm, then add momentum (NovoGrad).

    For each leaf (layer) $l$, with $\|g^l_t\|$ the norm of its whole gradient:

    $$v^l_1 = \|g^l_1\|^2, \qquad v^l_t = \beta_2 v^l_{t-1} + (1-\beta_2) \|g^l_t\|^2,
    \\ m^l_1 = \frac{g^l_1}{\sqrt{v^l_1 + \epsilon_{root}} + \epsilon} + \lambda_0 \theta^l_0,
    \qquad m^l_t = \beta_1 m^l_{t-1} + \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}} + \epsilon}
    + \lambda_{t-1} \theta^l_{t-1}, \qquad u^l_t = m^l_t$$

    Args:
        b1: $\beta_1$, in [0, 1): the momentum (not an average: no $1-\beta_1$ factor).
        b2: $\beta_2$, in [0, 1): decay of the per-layer second moment.
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.
        weight_decay: $\lambda$, a non-negative number, an array, or a schedule; a nonzero value
            needs `params` in `update`.
        mu_dtype: dtype in which $m_t$ is stored; the params' dtype by default.

    Returns:
        A transformation with state `ScaleByNovogradState(count, mu, nu)`; `nu` holds one real
        scalar per leaf.

    References:
        Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen,
        "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep
        Networks", arXiv:1905.11286, 2019, Algorithm 1.

    Note:
        The paper has no $\epsilon_{root}$ and writes $\epsilon$ inside the root. Optax 0.2.8's
        `scale_by_novograd` needs `params` even without weight decay and takes no schedule for
        it (`novograd` is typed to accept one, and fails on it); here `params` is needed only for
        a nonzero weight decay, and a schedule is evaluated at $t - 1$.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_novograd(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_novograd", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_novograd", eps=eps, eps_root=eps_root)
    _validate.check_scalar_or_schedule("scale_by_novograd", "weight_decay", weight_decay)
    _validate.check_dtype("scale_by_novograd", "mu_dtype", mu_dtype)
    decays = callable(weight_decay) or not (_validate.is_number(weight_decay) and weight_decay == 0)

    def init(params):
        mu = _tree.zeros_like(params, mu_dtype)
        return ScaleByNovogradState(_tree.zero_count(), mu, jax.tree.map(_real_scalar_like, params))

    def layer_moment(g, nu, first):
        dtype = _tree.compute_dtype(g, nu)
        squared_norm = jnp.sum(jnp.real(_tree.abs_sq(jnp.asarray(g).astype(dtype))))
        nu_ = nu.astype(squared_norm.dtype)  # real, also for a complex leaf
        b2_ = jnp.asarray(b2, squared_norm.dtype)
        return jnp.where(first, squared_norm, _tree.ema(squared_norm, nu_, b2_)).astype(nu.dtype)

    def moments(g, s, h):
        normalized = g / (jnp.sqrt(h.nu + h.eps_root) + h.eps)
        decay = h.weight_decay * h.params if decays else 0
        return s._replace(mu=jnp.where(h.count == 1, 0, h.b1 * s.mu) + normalized + decay)

    def direction(g, s, h):
        return s.mu

    def update(updates, state, params=None):
        if decays and params is None:
            raise ValueError(
                "scale_by_novograd: update needs the params for weight_decay; call "
                "update(updates, state, params)"
            )
        _tree.check_same_structure(
            updates, state.nu, name_a="updates", name_b="nu", where="scale_by_novograd"
        )
        count = _tree.safe_increment(state.count)
        first = count == 1
        nu = jax.tree.map(lambda g, v: layer_moment(g, v, first), updates, state.nu)
        inputs = {"nu": jax.tree.map(lambda g, v: jnp.broadcast_to(v, jnp.shape(g)), updates, nu)}
        if decays:
            inputs["params"] = params
        hyperparams = dict(count=count, b1=b1, eps=eps, eps_root=eps_root)
        hyperparams["weight_decay"] = learning_rate_at(weight_decay, state.count)
        phases = (moments, direction)
        updates, state = _tree.lift(
            "scale_by_novograd", phases, updates, state, inputs, **hyperparams
        )
        return updates, state._replace(count=count, nu=nu)

    return transformation(init, update)


class ScaleByMadgradState(NamedTuple):
    """State of `scale_by_madgrad`."""

    count: jax.Array  # shape (), int32: the step k (updates so far)
    s: Updates  # s_k, the weighted sum of gradients
    nu: Updates  # \nu_k, the weighted sum of squared gradients
    x0: Updates  # x_0, the initial parameters


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
) -> GradientTransformation:
    r"""Step to a momentum average of the dual-averaging iterate (MADGRAD), learning rate included.

    With $k$ the number of earlier updates and $\eta_k$ the learning rate:

    $$\lambda_k = (\eta_k + \epsilon) \sqrt{k+1}, \qquad s_{k+1} = s_k + \lambda_k g_k, \qquad
    \nu_{k+1} = \nu_k + \lambda_k g_k^2,
    \\ z_{k+1} = x_0 - \frac{s_{k+1}}{\nu_{k+1}^{1/3} + \epsilon}, \qquad
    x_{k+1} = \mu x_k + (1-\mu) z_{k+1}, \qquad u_k = x_{k+1} - x_k$$

    Args:
        learning_rate: $\eta$, a non-negative number, an array, or a schedule of k.
        momentum: $\mu = 1 - c$, in [0, 1): the weight of the current iterate.
        eps: $\epsilon$, added to the cube root and to the learning rate.

    Returns:
        A transformation with state `ScaleByMadgradState(count, s, nu, x0)`; `x0` holds the
        params given to `init`, and `update` needs `params`. Its updates already include the
        learning rate and the descent sign: chain no `scale_by_learning_rate` after it.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 23(144), 2022
        (arXiv:2101.11075, 2021), Algorithm 1.

    Note:
        $\epsilon$ is added to the learning rate as in the authors' code and `optax.contrib`,
        not in Algorithm 1: even $\eta = 0$ moves the params. $\lambda_k$ is computed in the
        params' precision; Optax 0.2.8 takes $\sqrt{k+1}$ of its int32 count in float32, so its
        float64 runs carry a float32 rounding of every $\lambda_k$ (relative error ~1e-7).

    Example:
        >>> import gradtx
        >>> tx = gradtx.scale_by_madgrad(1e-2)
    """
    _validate.check_scalar_or_schedule("scale_by_madgrad", "learning_rate", learning_rate)
    _validate.check_interval("scale_by_madgrad", momentum=momentum)
    _validate.check_non_negative("scale_by_madgrad", eps=eps)

    def init(params):
        x0 = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return ScaleByMadgradState(
            _tree.zero_count(), _tree.zeros_like(params), _tree.zeros_like(params), x0
        )

    def sums(g, s, h):
        lamb = (h.learning_rate + h.eps) * jnp.sqrt(h.count.astype(g.dtype) + 1)
        return s._replace(s=s.s + lamb * g, nu=s.nu + lamb * _tree.abs_sq(g))

    def direction(g, s, h):
        z = s.x0 - s.s / (jnp.cbrt(jnp.real(s.nu)).astype(s.nu.dtype) + h.eps)
        return h.momentum * h.params + (1 - h.momentum) * z - h.params

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "scale_by_madgrad: update needs the params (it steps from x_0 to them); call "
                "update(updates, state, params)"
            )
        lr = learning_rate_at(learning_rate, state.count)
        hyperparams = dict(count=state.count, learning_rate=lr, momentum=momentum, eps=eps)
        phases = (sums, direction)
        inputs = {"params": params}
        updates, state = _tree.lift(
            "scale_by_madgrad", phases, updates, state, inputs, **hyperparams
        )
        return updates, state._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)
