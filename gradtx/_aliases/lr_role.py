"""Methods that change the learning rate's role: Schedule-Free SGD and AdamW (2024), where a
constant rate averages instead of decaying, and SGD with the Polyak step size (2021) and MoMo
(2024), where the loss sets the step."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gradtx import _validate
from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._schedules import warmup_constant_schedule
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.moments import scale_by_rms
from gradtx._transforms.momo import scale_by_momo, scale_by_momo_adam
from gradtx._transforms.polyak import scale_by_polyak
from gradtx._transforms.scaling import scale, scale_by_learning_rate
from gradtx._transforms.schedule_free import schedule_free


def _warmed_up(where: str, learning_rate: ArrayLike, warmup_steps: int | None) -> ScalarOrSchedule:
    """`learning_rate`, or a linear warm-up from 0 to it over `warmup_steps`, then constant."""
    if warmup_steps is None:
        return learning_rate
    _validate.check_int(where, low=1, warmup_steps=warmup_steps)
    return warmup_constant_schedule(0.0, learning_rate, warmup_steps)


@register_alias(static=("warmup_steps", "state_dtype"))
@compiles
def schedule_free_sgd(
    learning_rate: ArrayLike = 1.0,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    weight_decay: ArrayLike | None = None,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Schedule-Free SGD: plain SGD steps z, y interpolates z and its average x.

    The chain: `schedule_free` around `add_decayed_weights` (L2 at $y_t$, multiplied by the
    learning rate as in torch) then `scale_by_learning_rate`, optionally warmed up linearly from
    0 over `warmup_steps`. Evaluate at `schedule_free_eval_params(state, params)`.

    References: Defazio et al., "The Road Less Scheduled", NeurIPS 2024, Algorithm 1.

    Note:
        With `warmup_steps`, gradtx weights each step's average by the rate that made the step;
        Optax 0.2.8 by the next step's rate (see `schedule_free`). With a constant rate the two
        agree to rounding.

    Example:
        >>> import gradtx
        >>> tx = gradtx.schedule_free_sgd(0.5, warmup_steps=100)
    """
    learning_rate = _warmed_up("schedule_free_sgd", learning_rate, warmup_steps)
    return schedule_free(
        chain(add_decayed_weights(weight_decay or 0.0), scale_by_learning_rate(learning_rate)),
        learning_rate,
        b1,
        weight_lr_power,
        state_dtype,
    )


@register_alias(static=("warmup_steps", "state_dtype"))
@compiles
def schedule_free_adamw(
    learning_rate: ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Schedule-Free AdamW: Adam without momentum steps z, y interpolates z and its average x.

    The chain: `schedule_free` around `scale_by_rms` (bias-corrected, $\epsilon$ outside the
    root: Adam with $\beta_1 = 0$), `add_decayed_weights` (decoupled, at $y_t$) and
    `scale_by_learning_rate`, optionally warmed up linearly from 0 over `warmup_steps`.

    References: Defazio et al., "The Road Less Scheduled", NeurIPS 2024, Algorithm 1 (AdamW).

    Note:
        With `warmup_steps`, gradtx weights each step's average by the rate that made the step;
        Optax 0.2.8 by the next step's rate (see `schedule_free`). The authors' AdamW folds
        $\sqrt{1-\beta_2^t}$ into the rate and the weights; gradtx, like Optax, divides $v_t$ by
        $1-\beta_2^t$ instead.

    Example:
        >>> import gradtx
        >>> tx = gradtx.schedule_free_adamw(1e-3, warmup_steps=100, weight_decay=1e-4)
    """
    learning_rate = _warmed_up("schedule_free_adamw", learning_rate, warmup_steps)
    return schedule_free(
        chain(
            scale_by_rms(b2, eps, 0.0, False, True),
            add_decayed_weights(weight_decay),
            scale_by_learning_rate(learning_rate),
        ),
        learning_rate,
        b1,
        weight_lr_power,
        state_dtype,
    )


@register_alias(static=("variant",))
@compiles
def polyak_sgd(
    max_learning_rate: ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ArrayLike = 0.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with the Polyak step size: $u_t = -s_t \min\big((f - f^*)/(\|g_t\|^2 + \epsilon),
    \gamma_{max}\big)\, g_t$, the loss passed as `update(..., value=loss)`.

    The chain: `scale_by_polyak`, then `scale_by_learning_rate(scaling)`.

    References: Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD:
    An Adaptive Learning Rate for Fast Convergence", AISTATS 2021, Eq. (5).

    Note:
        Optax 0.2.8 scales by `scaling` *before* measuring the gradient, so its step is
        $s \min\big((f - f^*)/(s^2\|g_t\|^2 + \epsilon), \gamma_{max}\big)$: below the cap,
        `scaling` divides the step instead of multiplying it, unlike its own docstring. gradtx
        takes the formula as written; with `scaling=1` (the default) the two agree.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx, x = gradtx.polyak_sgd(), jnp.asarray([1.0, 2.0, 3.0])
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> updates, state = tx.update(grad, tx.init(x), x, value=value)
        >>> f(gradtx.apply_updates(x, updates))
        Array(3.5, dtype=float32)
    """
    return chain(
        scale_by_polyak(f_min, max_learning_rate, eps, variant), scale_by_learning_rate(scaling)
    )


@register_alias
@compiles
def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: ArrayLike = 0.9,
    lower_bound: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    *,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo: SGD with momentum at a Polyak step size capped by the learning rate,
    $u_k = -\tau_k d_k - \frac{\alpha_k\lambda}{1 + \alpha_k\lambda} x_k$, the loss passed as
    `update(..., value=loss)`.

    The chain: `scale_by_momo`, then `scale(-1.0)`. A large learning rate (1, the default) is
    the intended use: the Polyak term sets the step. The switch `adapt_lower_bound` is
    keyword-only (positional in Optax 0.2.8).

    References: Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for
    Adaptive Learning Rates", ICML 2024.

    Example:
        >>> import gradtx, jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx, x = gradtx.momo(), jnp.asarray([1.0, 2.0, 3.0])
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> updates, state = tx.update(grad, tx.init(x), x, value=value)
        >>> f(gradtx.apply_updates(x, updates))
        Array(3.5, dtype=float32)
    """
    return chain(
        scale_by_momo(
            learning_rate, beta, lower_bound, weight_decay, adapt_lower_bound=adapt_lower_bound
        ),
        scale(-1.0),
    )


@register_alias
@compiles
def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    lower_bound: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    *,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo-Adam: Adam's direction at a Polyak step size capped by the learning rate, with
    AdamW's decoupled weight decay; the loss passed as `update(..., value=loss)`.

    The chain: `scale_by_momo_adam`, then `scale(-1.0)`. The switch `adapt_lower_bound` is
    keyword-only (positional in Optax 0.2.8).

    References: Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for
    Adaptive Learning Rates", ICML 2024, MoMo-Adam.

    Example:
        >>> import gradtx
        >>> tx = gradtx.momo_adam()
    """
    return chain(
        scale_by_momo_adam(
            learning_rate,
            b1,
            b2,
            eps,
            lower_bound,
            weight_decay,
            adapt_lower_bound=adapt_lower_bound,
        ),
        scale(-1.0),
    )
