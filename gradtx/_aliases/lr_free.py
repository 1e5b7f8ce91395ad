"""No learning rate, the line Adadelta began: D-Adaptation (2023) and Prodigy (2024); and Muon
(2024), whose orthogonalised step takes its size from the matrix's shape; COCOB (2017), DoG and
DoWG (2023), which need no learning rate either."""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from gradtx import _validate
from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule, identity
from gradtx._combine import chain, multi_transform
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adam import scale_by_adam
from gradtx._transforms.cocob import scale_by_cocob
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.distance import scale_by_dog, scale_by_dowg
from gradtx._transforms.lr_free import scale_by_dadapt_adamw, scale_by_prodigy
from gradtx._transforms.muon import (
    DEFAULT_NS_COEFFS,
    NS_COEFFS_PRESETS,
    MuonDimensionNumbers,
    scale_by_muon,
    scale_by_shape,
)
from gradtx._transforms.scaling import scale, scale_by_learning_rate


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


def _muon_labels(dims):
    """A function of the params: "muon" for each matrix leaf, "adam" for the others."""

    def labels(params):
        if dims is None:
            return jax.tree.map(lambda x: "muon" if jnp.ndim(x) == 2 else "adam", params)
        resolved = dims(params) if callable(dims) else dims
        return jax.tree.map(
            lambda d, sub: jax.tree.map(lambda _: "adam" if d is None else "muon", sub),
            resolved,
            params,
            is_leaf=lambda x: x is None or isinstance(x, MuonDimensionNumbers),
        )

    return labels


@register_alias(
    static=(
        "ns_coeffs",
        "ns_steps",
        "weight_decay_mask",
        "mu_dtype",
        "muon_weight_dimension_numbers",
    )
)
@compiles
def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_decay_mask: Any = None,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ArrayLike = 0.9,
    adam_b2: ArrayLike = 0.999,
    adam_eps_root: ArrayLike = 0.0,
    adam_weight_decay: ArrayLike = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: ArrayLike | None = None,
) -> GradientTransformation:
    r"""Muon: orthogonalised momentum for the matrices, AdamW for every other leaf.

    The chain, per parameter group (`multi_transform`): matrices (2-D leaves, or those with
    `muon_weight_dimension_numbers`) get `scale_by_muon`, `scale_by_shape`,
    `add_decayed_weights(weight_decay, weight_decay_mask)` and `scale_by_learning_rate`; the
    others get AdamW (`scale_by_adam` with `adam_b1`, `adam_b2`, `eps`, `adam_eps_root`,
    `nesterov`; `add_decayed_weights(adam_weight_decay)`; `adam_learning_rate`, by default
    `learning_rate`). `ns_coeffs` may name a preset: "standard" or "dion" (one row per step).
    Optax: `optax.contrib.muon`.

    References: Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024.

    Example:
        >>> import gradtx
        >>> tx = gradtx.muon(0.02)
    """
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS_PRESETS:
            _validate._fail("muon", "ns_coeffs", ns_coeffs, f"one of {sorted(NS_COEFFS_PRESETS)}")
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    adam_learning_rate = learning_rate if adam_learning_rate is None else adam_learning_rate
    dims = muon_weight_dimension_numbers
    return multi_transform(
        {
            "muon": chain(
                scale_by_muon(
                    ns_coeffs,
                    ns_steps,
                    beta,
                    eps,
                    mu_dtype,
                    nesterov=nesterov,
                    adaptive=adaptive,
                    preconditioning=preconditioning,
                    weight_dimension_numbers=dims,
                ),
                scale_by_shape(dims, consistent_rms),
                add_decayed_weights(weight_decay, weight_decay_mask),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": chain(
                scale_by_adam(adam_b1, adam_b2, eps, adam_eps_root, mu_dtype, nesterov=nesterov),
                add_decayed_weights(adam_weight_decay),
                scale_by_learning_rate(adam_learning_rate),
            ),
        },
        _muon_labels(dims),
    )


@register_alias(static=("mask",))
@compiles
def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: ArrayLike = 100.0,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""COCOB-Backprop: each parameter bets a fraction of the reward it has won, betting against
    the gradients seen so far; no learning rate to tune.

    The chain: `add_decayed_weights(weight_decay, mask)`, then `scale_by_learning_rate(
    learning_rate, flip_sign=False)` (a factor on the gradient, 1 by default, e.g. for a
    schedule), then `scale_by_cocob(alpha, eps)`, whose update is already a descent step.

    References: Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
    Betting", NeurIPS 2017, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.cocob()
    """
    return chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps),
    )


def _decay_or_identity(weight_decay: Any, mask: Mask) -> GradientTransformation:
    """`add_decayed_weights(weight_decay, mask)`, or nothing when weight_decay is None."""
    return identity() if weight_decay is None else add_decayed_weights(weight_decay, mask)


@register_alias(static=("init_step", "mask"))
@compiles
def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple[Literal["distance", "learning_rate", "heuristic"], ArrayLike] = (
        "heuristic",
        1e-6,
    ),
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule | None = None,
    mask: Mask = None,
) -> GradientTransformation:
    r"""DoG: SGD whose step size is the largest distance travelled from the initial params over
    the root of the summed squared gradient norms, $u_t = -\gamma_t \bar r_t g_t /
    \sqrt{G_t + \epsilon}$.

    The chain: `add_decayed_weights(weight_decay, mask)` (absent when `weight_decay` is None),
    then `scale_by_dog(init_step, eps)`, then `scale_by_learning_rate` ($\gamma_t$, 1 by
    default). Pass the actual params to `init`: the default heuristic measures them.

    References: Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step
    Size Schedule", ICML 2023.

    Example:
        >>> import gradtx
        >>> tx = gradtx.dog()
    """
    return chain(
        _decay_or_identity(weight_decay, mask),
        scale_by_dog(init_step, eps),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mask",))
@compiles
def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: ArrayLike | None = None,
    eps: ArrayLike = 1e-4,
    weight_decay: ScalarOrSchedule | None = None,
    mask: Mask = None,
) -> GradientTransformation:
    r"""DoWG: DoG with each squared gradient norm weighted by the squared distance travelled
    when it was seen, $u_t = -\gamma_t \bar r_t^2 g_t / (\sqrt{v_t} + \epsilon)$.

    The chain: `add_decayed_weights(weight_decay, mask)` (absent when `weight_decay` is None),
    then `scale_by_dowg(init_estim_sq_dist, eps)`, then `scale_by_learning_rate` ($\gamma_t$,
    1 by default).

    References: Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal
    Parameter-Free Gradient Descent Method", NeurIPS 2023.

    Example:
        >>> import gradtx
        >>> tx = gradtx.dowg()
    """
    return chain(
        _decay_or_identity(weight_decay, mask),
        scale_by_dowg(init_estim_sq_dist, eps),
        scale_by_learning_rate(learning_rate),
    )
