"""Sign and trust-ratio methods (1993, 2017-2023): Rprop, signSGD and Signum, Lion, LARS, LAMB
and Fromage.

Sign methods step by the sign of the gradient (or of a momentum); trust-ratio methods scale each
layer's step to the size of the layer.
"""

from __future__ import annotations

import jax
from jax.typing import ArrayLike, DTypeLike

from gradtx import _validate
from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain, masked
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adam import scale_by_adam
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.factored import ema
from gradtx._transforms.momentum import trace
from gradtx._transforms.scaling import learning_rate_at, scale, scale_by_learning_rate
from gradtx._transforms.sign import scale_by_lion, scale_by_rprop, scale_by_sign
from gradtx._transforms.trust_ratio import scale_by_trust_ratio


@register_alias
@compiles
def rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Rprop: per-parameter step sizes that grow while the gradient's sign holds.

    The chain: `scale_by_rprop`, then `scale(-1.0)`; `learning_rate` is the initial step size.

    References: Riedmiller & Braun, "A Direct Adaptive Method for Faster Backpropagation
    Learning: The RPROP Algorithm", IEEE ICNN 1993.

    Note:
        Optax 0.2.8's `rprop` steps one call late (its first update is zero); see
        `scale_by_rprop`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.rprop(0.1)
        >>> tx.update(jnp.array([2.0, -1.0]), tx.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
        scale(-1.0),
    )


@register_alias
@compiles
def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: steps of the learning rate in the sign of each gradient entry.

    The chain: `scale_by_sign`, then `scale_by_learning_rate`, so $u_t = -\eta_t \,
    \operatorname{sign}(g_t)$.

    References: Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation
    for Non-Convex Problems", ICML 2018, Algorithm 1.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.sign_sgd(0.01)
        >>> tx.update(jnp.array([3.0, -0.2]), tx.init(jnp.zeros(2)))[0]
        Array([-0.01,  0.01], dtype=float32)
    """
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


@register_alias(static=("accumulator_dtype",))
@compiles
def signum(
    learning_rate: ScalarOrSchedule,
    beta: ArrayLike = 0.9,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Signum: signSGD on a momentum, $u_t = -\eta_t \operatorname{sign}(m_t)$ with
    $m_t = \beta m_{t-1} + (1-\beta) g_t$.

    The chain: `ema(beta, debias=False)`, `scale_by_sign`, then `scale_by_learning_rate`. The
    same updates as `lion` with $\beta_1 = \beta_2 = \beta$ and no weight decay.

    References: Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation
    for Non-Convex Problems", ICML 2018, Algorithm 3.

    Example:
        >>> import gradtx
        >>> tx = gradtx.signum(1e-3, beta=0.95)
    """
    return chain(
        ema(beta, False, accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mu_dtype", "mask"))
@compiles
def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Mask = None,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolation of momentum and gradient, with decoupled weight decay.

    The chain: `scale_by_lion`, `add_decayed_weights`, then `scale_by_learning_rate`, so
    $u_t = -\eta_t (\operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t) + \lambda \theta_{t-1})$.
    Its steps are larger than Adam's: its authors use a learning rate 3-10 times smaller and a
    weight decay 3-10 times larger than AdamW's.

    References: Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023,
    Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.lion(1e-4, weight_decay=1e-2)
    """
    return chain(
        scale_by_lion(b1, b2, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("weight_decay_mask", "trust_ratio_mask"))
@compiles
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = True,
    trust_coefficient: ArrayLike = 0.001,
    eps: ArrayLike = 0.0,
    trust_ratio_mask: Mask = True,
    momentum: ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""LARS: SGD with momentum on updates scaled layer by layer to their parameter's norm.

    The chain: `add_decayed_weights`, `scale_by_trust_ratio` (on the leaves `trust_ratio_mask`
    selects), `scale_by_learning_rate`, then `trace`, so the velocity accumulates
    $-\eta_t \, c \|\theta\| / (\|g + \lambda\theta\| + \epsilon) \, (g + \lambda\theta)$.

    References: You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks",
    arXiv:1708.03888, 2017, Algorithm 1.

    Note:
        As in Optax, the momentum follows the learning rate, and `nesterov` is positional.

    Example:
        >>> import gradtx, jax
        >>> matrices = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
        >>> tx = gradtx.lars(1.0, weight_decay=1e-4, trust_ratio_mask=matrices)
    """
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),
        masked(
            scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask
        ),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov),
    )


@register_alias(static=("mask",))
@compiles
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""LAMB: Adam's step with weight decay, scaled layer by layer to its parameter's norm.

    The chain: `scale_by_adam`, `add_decayed_weights`, `scale_by_trust_ratio`, then
    `scale_by_learning_rate`: with $a = \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
    + \lambda \theta$ per leaf, $u_t = -\eta_t \, \|\theta\| / \|a\| \, a$.

    References: You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76
    minutes", ICLR 2020, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.lamb(1e-3, weight_decay=1e-2)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def _contraction(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """Fromage's $1 / \\sqrt{1 + \\eta_t^2}$."""
    return 1 / (1 + learning_rate_at(learning_rate, count) ** 2) ** 0.5


def _shrink(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """Fromage's $1 / \\sqrt{1 + \\eta_t^2} - 1$, written $-\\eta_t^2 / (s (1 + s))$ with
    $s = \\sqrt{1 + \\eta_t^2}$: the difference from 1 cancels all but a few bits in float32
    (about $\\eta^2/2$ against an ulp of 1: a relative error of 6e-4 at $\\eta = 0.01$)."""
    eta = learning_rate_at(learning_rate, count)
    s = (1 + eta**2) ** 0.5
    return -(eta**2) / (s * (1 + s))


@register_alias
@compiles
def fromage(learning_rate: ScalarOrSchedule, min_norm: ArrayLike = 1e-6) -> GradientTransformation:
    r"""Fromage: a step of relative size $\eta_t$ per layer, then a shrink that keeps norms fixed.

    Per leaf, $\theta_t = (\theta_{t-1} - \eta_t \|\theta_{t-1}\| / \|g_t\| \, g_t) /
    \sqrt{1 + \eta_t^2}$, with both norms at least `min_norm`. The chain:
    `scale_by_trust_ratio(min_norm)`, `scale_by_learning_rate` with
    $\eta_t / \sqrt{1 + \eta_t^2}$, then `add_decayed_weights` with
    $1 / \sqrt{1 + \eta_t^2} - 1$ (a negative weight decay: the shrink).

    References: Bernstein, Vahdat, Yue & Liu, "On the distance between two neural networks and
    the stability of learning", NeurIPS 2020, Algorithm 1.

    Note:
        The two scaled rates are schedules of the step count even for a constant learning rate
        (Optax folds a constant into numbers): the same updates, with a step count in the state.
        A parameter at zero has $\|\theta\| = $ `min_norm` and barely moves (as in Optax);
        with `min_norm=0` it takes the plain step $-\eta_t g_t / \sqrt{1 + \eta_t^2}$ instead.

    Example:
        >>> import gradtx
        >>> tx = gradtx.fromage(1e-2)
    """
    _validate.check_scalar_or_schedule("fromage", "learning_rate", learning_rate)
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(
            lambda count: (
                learning_rate_at(learning_rate, count) * _contraction(learning_rate, count)
            )
        ),
        add_decayed_weights(lambda count: _shrink(learning_rate, count)),
    )
