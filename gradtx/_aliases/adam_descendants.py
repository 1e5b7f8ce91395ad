"""Adam's descendants (2019-2024): Adan, AdEMAMix, NovoGrad and MADGRAD."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adan import (
    scale_by_adan,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
)
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.layerwise import scale_by_madgrad, scale_by_novograd
from gradtx._transforms.scaling import scale_by_learning_rate


@register_alias(static=("mask",))
@compiles
def adan(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""Adan: Adam's step from a Nesterov estimate built of gradient differences.

    The chain: `scale_by_adan`, `add_decayed_weights`, then `scale_by_learning_rate`, so the
    step is $-\eta_t (u_t + \lambda \theta_{t-1})$ with $u_t$ Adan's direction.

    References: Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
    Optimizing Deep Models", IEEE TPAMI 2024, Algorithm 1.

    Note:
        As in Optax, the weight decay is decoupled (AdamW's); Algorithm 1 applies it as a
        proximal step, $\theta_t = (\theta_{t-1} - \eta u_t) / (1 + \lambda \eta)$, which differs
        at order $(\lambda\eta)^2$. `eps_root` defaults to 1e-8 here and to 0 in `scale_by_adan`,
        as in Optax 0.2.8.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adan(1e-2, weight_decay=0.02)
    """
    return chain(
        scale_by_adan(b1, b2, b3, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mu_dtype", "mask"))
@compiles
def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""AdEMAMix: AdamW whose numerator mixes a fast and a slow gradient average.

    The chain: `scale_by_ademamix`, `add_decayed_weights`, then `scale_by_learning_rate`. `b3`
    and `alpha` may be schedules (the paper warms both up; see `scale_by_ademamix`).

    References: Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
    arXiv:2409.03137, 2024, Algorithm 1.

    Example:
        >>> import gradtx
        >>> tx = gradtx.ademamix(1e-3, alpha=gradtx.linear_schedule(0.0, 5.0, 1000))
    """
    return chain(
        scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mask",))
@compiles
def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.99,
    b2: ArrayLike = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: one undamped momentum buffer plus $\alpha$ times the gradient.

    The chain: `scale_by_simplified_ademamix`, `add_decayed_weights`, then
    `scale_by_learning_rate`. Its momentum is a sum, not an average (steady size
    $1/(1-\beta_1)$, 100 at the default $\beta_1 = 0.99$), so its learning rates are about that
    much smaller than Adam's.

    References: Morwani et al., "Connections between Schedule-Free Optimizers, AdEMAMix, and
    Accelerated SGD Variants", arXiv:2502.02431, 2025.

    Example:
        >>> import gradtx
        >>> tx = gradtx.simplified_ademamix(1e-5, alpha=2.0, weight_decay=1e-2)
    """
    return chain(
        scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""NovoGrad: momentum over gradients normalized by their layer's (leaf's) norm.

    The chain: `scale_by_novograd` (weight decay inside the momentum, as in the paper), then
    `scale_by_learning_rate`.

    References: Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive Moments
    for Training of Deep Networks", arXiv:1905.11286, 2019, Algorithm 1.

    Example:
        >>> import gradtx
        >>> tx = gradtx.novograd(1e-2, weight_decay=1e-3)
    """
    return chain(
        scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    eps: ArrayLike = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD: momentumized dual averaging with a cube-root adaptive scale.

    The chain: `add_decayed_weights` (L2 on the gradient, as in the authors' code), then
    `scale_by_madgrad`, which includes the learning rate. Like Optax (`optax.contrib.madgrad`),
    it needs `params` in every `update`.

    References: Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive,
    Dual Averaged Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.madgrad(1e-2)
        >>> params = jnp.zeros(2)
        >>> tx.update(jnp.ones(2), tx.init(params), params)[0].shape
        (2,)
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_madgrad(learning_rate, momentum, eps),
    )
