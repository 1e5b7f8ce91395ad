"""Memory-savers: Adafactor and SM3 (2018-2019), adaptive methods whose second-moment state is
sublinear in the size of a matrix."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule, identity
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.factored import (
    clip_by_block_rms,
    ema,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from gradtx._transforms.scaling import scale, scale_by_learning_rate
from gradtx._transforms.sm3 import scale_by_sm3


@register_alias(static=("min_dim_size_to_factor", "dtype_momentum", "weight_decay_mask"))
@compiles
def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ArrayLike = 0.8,
    decay_offset: ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ArrayLike | None = 1.0,
    momentum: ArrayLike | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Mask = None,
) -> GradientTransformation:
    r"""Adafactor: Adam-like steps from factored second moments, relative to each param's scale.

    The chain: `scale_by_factored_rms`, `clip_by_block_rms(clipping_threshold)`, the learning
    rate (no sign flip yet), `scale_by_param_block_rms` (with `multiply_by_parameter_scale`),
    `ema(momentum, debias=False)`, `add_decayed_weights(weight_decay_rate)`, then `scale(-1)`;
    a link whose argument is None (or False) is left out. Optax 0.2.8's order and defaults.

    References: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    ICML 2018, Algorithms 4 and 5.

    Note: with `learning_rate=None` the step is not scaled at all, as in Optax: each step moves a
    parameter by up to its own RMS. The paper's relative step size
    $\rho_t = \min(10^{-2}, 1/\sqrt t)$ is `learning_rate=lambda count: jnp.minimum(1e-2,
    jax.lax.rsqrt(count + 1.0))`. Weight decay is added after the learning rate, so
    `weight_decay_rate` is not multiplied by it. The momentum buffer is stored in
    `dtype_momentum` (float32 by default, also for float64 params), and gradtx's update is that
    buffer as stored, where Optax's is the buffer before rounding.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adafactor(learning_rate=1e-2, momentum=0.9)
    """
    return chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
        identity() if clipping_threshold is None else clip_by_block_rms(clipping_threshold),
        identity()
        if learning_rate is None
        else scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_param_block_rms() if multiply_by_parameter_scale else identity(),
        identity()
        if momentum is None
        else ema(momentum, debias=False, accumulator_dtype=dtype_momentum),
        identity()
        if weight_decay_rate is None
        else add_decayed_weights(weight_decay_rate, weight_decay_mask),
        scale(-1),
    )


@register_alias
@compiles
def sm3(learning_rate: ScalarOrSchedule, momentum: ArrayLike = 0.9) -> GradientTransformation:
    r"""SM3: Adagrad-like steps from one accumulator per row and per column, with momentum.

    The chain: `scale_by_sm3(momentum)`, then `scale_by_learning_rate`.

    References: Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS
    2019, SM3-II.

    Note: Optax 0.2.8's `sm3` takes an array learning rate only; gradtx also takes a schedule.

    Example:
        >>> import gradtx
        >>> tx = gradtx.sm3(0.1)
    """
    return chain(scale_by_sm3(momentum), scale_by_learning_rate(learning_rate))
