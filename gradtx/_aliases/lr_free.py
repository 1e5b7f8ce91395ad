"""No learning rate, the line Adadelta began: D-Adaptation (2023) and Prodigy (2024)."""

from __future__ import annotations

from jax.typing import ArrayLike

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.lr_free import scale_by_dadapt_adamw, scale_by_prodigy
from gradtx._transforms.scaling import scale


@register_alias
@compiles
def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""D-Adapt AdamW: AdamW whose step size $d_k$ grows towards the distance to a solution.

    The chain: `scale_by_dadapt_adamw`, then `scale(-1.0)`; `learning_rate` is a schedule around
    1 (a warm-up and a decay to 0 are recommended). Optax: `optax.contrib.dadapt_adamw`.

    References: Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023.

    Example:
        >>> import gradtx
        >>> tx = gradtx.dadapt_adamw(weight_decay=1e-2)
    """
    return chain(
        scale_by_dadapt_adamw(learning_rate, betas, eps, estim_lr0, weight_decay), scale(-1.0)
    )


@register_alias
@compiles
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    beta3: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    estim_lr_coef: ArrayLike = 1.0,
    weight_decay: ArrayLike = 0.0,
    *,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Prodigy: D-Adaptation's AdamW with estimates that weigh recent steps more, growing faster.

    The chain: `scale_by_prodigy`, then `scale(-1.0)`; `learning_rate` is a schedule around 1.
    Optax: `optax.contrib.prodigy`, which also takes `safeguard_warmup` by position; here, as
    every switch of gradtx, it is keyword-only.

    References: Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner", ICML 2024, Algorithm 4.

    Example:
        >>> import gradtx
        >>> tx = gradtx.prodigy(weight_decay=1e-2)
    """
    return chain(
        scale_by_prodigy(
            learning_rate,
            betas,
            beta3,
            eps,
            estim_lr0,
            estim_lr_coef,
            weight_decay,
            safeguard_warmup=safeguard_warmup,
        ),
        scale(-1.0),
    )
