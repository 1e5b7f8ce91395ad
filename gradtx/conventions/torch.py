"""torch.optim's optimizers as gradtx chains: same names, argument names and defaults.

Every function returns a `GradientTransformation` whose trajectory matches torch.optim's
single-tensor implementation (torch 2.13) to 1e-10 relative in float64 (tested against golden
fixtures). Weight decay is torch's: added to the gradient (L2) unless the optimizer decouples it.
"""

from __future__ import annotations

import jax

from gradtx import _validate
from gradtx._aliases.adaptive import adadelta, rmsprop
from gradtx._aliases.sign_and_trust import rprop
from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._combine import chain
from gradtx._schedules import inverse_time_decay
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from gradtx._transforms.adaptive import scale_by_radam
from gradtx._transforms.averaging import average_params
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.factored import (
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from gradtx._transforms.moments import scale_by_rss
from gradtx._transforms.momentum import trace
from gradtx._transforms.muon import (
    DEFAULT_NS_COEFFS,
    MuonDimensionNumbers,
    scale_by_muon,
    scale_by_shape,
)
from gradtx._transforms.scaling import scale, scale_by_learning_rate
from gradtx.conventions._common import relative_step_size, with_weight_decay

Betas = tuple[float, float]


def SGD(  # noqa: N802 - torch's name
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> GradientTransformation:
    """torch.optim.SGD: L2 decay, `trace(momentum, nesterov, dampening=...)`, learning rate."""
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"torch.SGD: nesterov needs momentum > 0 and dampening 0, got momentum={momentum!r}, "
            f"dampening={dampening!r}"
        )
    velocity = trace(momentum, nesterov, dampening=dampening) if momentum else identity()
    return chain(add_decayed_weights(weight_decay), velocity, scale_by_learning_rate(lr))


def Adagrad(  # noqa: N802
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> GradientTransformation:
    """torch.optim.Adagrad: eps outside the root; lr_decay as an `inverse_time_decay`."""
    rate = inverse_time_decay(lr, 1, lr_decay) if lr_decay else lr
    scaler = scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=False)
    return with_weight_decay(scaler, rate, weight_decay, decoupled=False)


def Adadelta(  # noqa: N802
    lr: ScalarOrSchedule = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0
) -> GradientTransformation:
    """torch.optim.Adadelta: gradtx's `adadelta` (the same equations), L2 decay."""
    return adadelta(lr, rho, eps, weight_decay)


def RMSprop(  # noqa: N802
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> GradientTransformation:
    """torch.optim.RMSprop: eps outside the root, L2 decay.

    torch applies the learning rate outside its momentum buffer, gradtx (like Optax and Keras)
    inside: identical for a constant learning rate, which is why `lr` takes no schedule here.
    """
    decayed = add_decayed_weights(weight_decay)
    return chain(
        decayed,
        rmsprop(lr, alpha, eps, eps_in_sqrt=False, centered=centered, momentum=momentum or None),
    )


def Adam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> GradientTransformation:
    """torch.optim.Adam: L2 decay; with amsgrad, the maximum of the uncorrected $v_t$."""
    return with_weight_decay(_adam(betas, eps, amsgrad), lr, weight_decay, decoupled=False)


def AdamW(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> GradientTransformation:
    """torch.optim.AdamW: decoupled decay, theta (1 - lr wd) before the Adam step."""
    return with_weight_decay(_adam(betas, eps, amsgrad), lr, weight_decay, decoupled=True)


def Adamax(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """torch.optim.Adamax: gradtx's `scale_by_adamax` (eps inside the max), L2 decay."""
    return with_weight_decay(scale_by_adamax(*betas, eps), lr, weight_decay, decoupled=False)


def NAdam(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """torch.optim.NAdam: Dozat's momentum schedule `scale_by_nadam(momentum_decay=...)`."""
    scaler = scale_by_nadam(*betas, eps, momentum_decay)
    return with_weight_decay(scaler, lr, weight_decay, decoupled=decoupled_weight_decay)


def _adam(betas: Betas, eps: float, amsgrad: bool) -> GradientTransformation:
    if amsgrad:
        return scale_by_amsgrad(*betas, eps, raw_max=True)
    return scale_by_adam(*betas, eps)


def RAdam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: Betas = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """torch.optim.RAdam: `scale_by_radam` rectified where rho_t > 5, eps before bias correction.

    u = -lr r_t m_hat sqrt(1 - b2^t) / (sqrt(v_t) + eps) where rho_t > 5, else -lr m_hat:
    gradtx's `radam` rectifies where rho_t >= 5 and adds eps to sqrt(v_hat)
    (`strict_threshold=True, eps_uncorrected=True` here). Weight decay is L2, or decoupled
    (theta (1 - lr wd) before the step) with `decoupled_weight_decay`.
    """
    b1, b2 = betas
    arguments = {"lr": lr, "betas[0]": b1, "betas[1]": b2, "eps": eps, "weight_decay": weight_decay}
    with _validate.calling("torch.RAdam", arguments):
        scaler = scale_by_radam(b1, b2, eps, eps_uncorrected=True, strict_threshold=True)
        return with_weight_decay(scaler, lr, weight_decay, decoupled=decoupled_weight_decay)


def Rprop(  # noqa: N802
    lr: float = 1e-2,
    etas: Betas = (0.5, 1.2),
    step_sizes: Betas = (1e-6, 50.0),
) -> GradientTransformation:
    """torch.optim.Rprop: gradtx's `rprop` (Rprop without weight backtracking), whose initial
    step size is lr clamped to step_sizes, as torch clamps it at its first step.

    torch tests the sign of g_t g_{t-1}, gradtx sign(g_t) sign(u_{t-1}): the same unless the
    product underflows to 0 (|g_t g_{t-1}| below the smallest subnormal), where torch neither
    adapts nor skips the step.
    """
    eta_minus, eta_plus = etas
    if all(map(_validate.is_number, etas)) and not 0.0 < eta_minus < 1.0 < eta_plus:
        raise ValueError(f"torch.Rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got {etas!r}")
    low, high = step_sizes
    arguments = {"lr": lr, "etas[0]": eta_minus, "etas[1]": eta_plus}
    arguments |= {"step_sizes[0]": low, "step_sizes[1]": high}
    with _validate.calling("torch.Rprop", arguments):
        _validate.check_non_negative("torch.Rprop", lr=lr)
        initial = min(max(lr, low), high)
        return rprop(initial, eta_minus, eta_plus, low, high)


def ASGD(  # noqa: N802
    lr: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """torch.optim.ASGD: SGD with L2 terms wd and lambd, the step size
    lr / (1 + lambd lr (t - 1))^alpha, and the average of the iterates from step t0 + 2 on
    (gradtx has no ASGD alias of its own).

    theta_t = theta_{t-1} (1 - lambd eta_t) - eta_t (g_t + wd theta_{t-1}) is
    `add_decayed_weights(weight_decay)`, `add_decayed_weights(lambd)` and
    `scale_by_learning_rate(inverse_time_decay(lr, 1, lambd lr, power=alpha))`; torch's `ax` is
    `average_params(start=t0 + 2)`, read with `gradtx.averaged_params(state)`. The chain must be
    the whole optimizer: the average is of the params after each step.
    """
    arguments = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay}
    with _validate.calling("torch.ASGD", arguments):
        _validate.check_non_negative("torch.ASGD", **arguments)
        rate = inverse_time_decay(lr, 1, lambd * lr, power=alpha) if lambd * lr and alpha else lr
        return chain(
            add_decayed_weights(weight_decay),
            add_decayed_weights(lambd),
            scale_by_learning_rate(rate),
            average_params(start=t0 + 2),
        )


def Adafactor(  # noqa: N802
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""torch.optim.Adafactor: `scale_by_factored_rms` with torch's conventions, then update
    clipping, the relative step size and decoupled weight decay.

    $\hat\beta_{2t} = 1 - t^{\tau}$ ($\tau$ = `beta2_decay`); every leaf of two or more axes is
    factored along its last two (`last_axes`), with $\epsilon_1$ as a floor (`eps_floor`;
    None: the machine epsilon of the param's dtype); $\hat U_t = U_t / \max(1, RMS(U_t)/d)$;
    $\theta_t = \theta_{t-1}(1 - \eta\lambda) - \max(\epsilon_2, RMS(\theta_{t-1}))\, \rho_t
    \hat U_t$ with $\rho_t = \min(\eta, 1/\sqrt t)$ (`relative_step_size`).

    Differs from gradtx's `adafactor` (Optax's) in: the epsilon floor instead of
    $g^2 + \epsilon_1$, the factored axes (last two, any size, instead of the two largest of at
    least 128), the step size $\rho_t$ (gradtx: the learning rate alone), and weight decay
    scaled by $\eta$ and applied to $\theta_{t-1}$. `lr` is a number here (torch's schedulers
    change it between steps; pass a constant).
    """
    where = "torch.Adafactor"
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        _validate._fail(where, "eps", eps, "a pair (eps1 or None, eps2)")
    eps1, eps2 = eps
    _validate.check_non_negative(where, lr=lr, weight_decay=weight_decay, eps2=eps2)
    if eps1 is not None:
        _validate.check_non_negative(where, eps1=eps1)
    _validate.check_finite(where, beta2_decay=beta2_decay)
    if _validate.is_number(beta2_decay) and beta2_decay > 0:
        _validate._fail(where, "beta2_decay", beta2_decay, "<= 0")
    if _validate.is_number(d) and not d >= 1:
        _validate._fail(where, "d", d, ">= 1 (the clipping threshold)")
    second_moment = scale_by_factored_rms(
        decay_rate=-beta2_decay,
        min_dim_size_to_factor=0,
        epsilon=eps1,
        last_axes=True,
        eps_floor=True,
    )
    return chain(
        second_moment,
        clip_by_block_rms(d),
        scale_by_param_block_rms(eps2),
        scale_by_learning_rate(relative_step_size(lr), flip_sign=False),
        add_decayed_weights(lr * weight_decay),
        scale(-1),
    )


# torch's weights are (out_features, in_features): y = x W^T reduces over axis 1.
TORCH_LAYOUT = MuonDimensionNumbers(reduction_axis=1, output_axis=0)
MUON_LR_ADJUSTMENTS = (None, "original", "match_rms_adamw")


def Muon(  # noqa: N802
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFS,
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
) -> GradientTransformation:
    r"""torch.optim.Muon for matrices: `scale_by_muon` with torch's conventions, the shape
    factor, decoupled weight decay, the learning rate.

    $B_t = \mu B_{t-1} + (1-\mu) g_t$, $\tilde B_t = \mu B_t + (1-\mu) g_t$ (Nesterov) or
    $B_t$ (`debias=False`); $O_t$ = 5 quintic Newton-Schulz steps from
    $\tilde B_t / \max(\|\tilde B_t\|_F, \epsilon)$ (`eps_floor`); $\theta_t = \theta_{t-1}(1 -
    \eta\lambda) - \eta s O_t$ with $s = \sqrt{\max(1, A/B)}$ ("original", the default) or
    $0.2\sqrt{\max(A, B)}$ ("match_rms_adamw") for a param of shape (A, B) (`scale_by_shape` with
    torch's (out, in) layout, `TORCH_LAYOUT`).

    Every leaf must be a matrix, as in torch. Differs from gradtx's `muon` in: no bias
    correction of the momentum, the epsilon floor, the shape factor read as (out, in), and
    weight decay before the step; other leaves are not sent to AdamW. Not reproduced: torch
    runs the Newton-Schulz iteration in bfloat16 (a cast before it, whatever the param's dtype);
    gradtx runs it in the param's dtype (float32 or wider), so the two differ by bfloat16's
    rounding (about 2^-8 relative in O_t; see docs/porting.md). `lr` is a number here.
    """
    where = "torch.Muon"
    _validate.check_non_negative(where, lr=lr, weight_decay=weight_decay)
    if adjust_lr_fn not in MUON_LR_ADJUSTMENTS:
        _validate._fail(where, "adjust_lr_fn", adjust_lr_fn, f"one of {MUON_LR_ADJUSTMENTS}")
    _validate.check_int(where, 1, ns_steps=ns_steps)
    if ns_steps >= 100:
        _validate._fail(where, "ns_steps", ns_steps, "< 100 (torch's limit)")
    if len(tuple(ns_coefficients)) != 3:
        _validate._fail(where, "ns_coefficients", ns_coefficients, "three numbers (a, b, c)")
    with _validate.calling(where, {"momentum": momentum, "eps": eps}):
        orthogonal = scale_by_muon(
            tuple(ns_coefficients),
            ns_steps,
            beta=momentum,
            eps=eps,
            nesterov=nesterov,
            debias=False,
            eps_floor=True,
        )
    layout = lambda updates: jax.tree.map(lambda _: TORCH_LAYOUT, updates)  # noqa: E731
    rms = 0.2 if adjust_lr_fn == "match_rms_adamw" else None
    return chain(
        orthogonal,
        scale_by_shape(layout, rms),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
