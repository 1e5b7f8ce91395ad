"""Learning-rate-free Adam: D-Adaptation and Prodigy learn the step size from the way travelled.

Both keep Adam's moments and a weighted sum $s$ of past steps; their ratio of two inner
products, $\\hat d = r / \\|s\\|_1$, under-estimates the distance $D$ from the start to a
solution, and $d$ only grows towards it. The learning rate $\\gamma_k$ is then a schedule around 1.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, ScalarOrSchedule, Updates, transformation
from gradtx._transforms.scaling import learning_rate_at


def _check(where: str, learning_rate: Any, betas: Any, **values: Any) -> None:
    _validate.check_scalar_or_schedule(where, "learning_rate", learning_rate)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        _validate.fail_type(where, "betas", betas, "a pair (b1, b2)")
    if any(_validate.is_number(b) and not 0 <= b < 1 for b in betas):
        _validate._fail(where, "betas", betas, "a pair (b1, b2) in [0, 1)")
    _validate.check_non_negative(where, **values)


def _scalar_dtype(params: Any) -> Any:
    """The dtype of d and r: the params' compute dtype (float32 or wider)."""
    leaves = jax.tree.leaves(params)
    return jnp.finfo(_tree.compute_dtype(*leaves)).dtype if leaves else jnp.float32


def _l1(tree: Any, dtype: Any) -> jax.Array:
    """The sum of a tree of per-leaf sums, in `dtype`."""
    return sum((x.astype(dtype) for x in jax.tree.leaves(tree)), jnp.zeros([], dtype))


def _estimate(d: jax.Array, numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """$\\max(d, \\text{numerator} / \\text{denominator})$, keeping d where the ratio is 0/0."""
    defined = denominator > 0
    return jnp.where(defined, jnp.maximum(d, numerator / jnp.where(defined, denominator, 1)), d)


def _moment_dtype(x: Any) -> Any:
    """The dtype of Prodigy's moments of $d g$: the leaf's, or float32 for a float16 leaf, in which
    $v \\approx d_0^2 g^2 = 10^{-12} g^2$ would underflow to 0."""
    dtype = jnp.result_type(x)
    return jnp.dtype(jnp.float32) if dtype == jnp.float16 else dtype


def _needs_params(where: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{where}: update needs the params (it measures the distance travelled and decays "
            "the weights); call update(updates, state, params)"
        )


def _step_size(d, learning_rate, state_count, count, b1, b2):
    """$\\eta_k = d_k \\gamma_k \\sqrt{1-\\beta_2^k} / (1-\\beta_1^k)$, in d's dtype, with
    $\\gamma_k$ the learning rate after `state_count` earlier updates."""
    dtype = d.dtype
    gamma = learning_rate_at(learning_rate, state_count).astype(dtype)
    b1, b2 = _tree.as_dtype(dtype, b1, b2)
    correction = jnp.sqrt(_tree.bias_correction(b2, count, dtype))
    return d * gamma * (correction / _tree.bias_correction(b1, count, dtype))


class ScaleByProdigyState(NamedTuple):
    """State of `scale_by_prodigy`."""

    count: jax.Array  # shape (), int32: the step k
    d: jax.Array  # shape (): d_k, the estimate of the distance to a solution
    numerator: jax.Array  # shape (): r_k, the weighted sum of <g, x_0 - x>
    mu: Updates  # m_k, the first moment of d g
    nu: Updates  # v_k, the second moment of d g
    grad_sum: Updates  # s_k, the weighted sum of steps
    params0: Updates  # x_0, the params at init


def scale_by_prodigy(
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
    r"""Scale updates to Adam's step at a learned size $d_k$ times $\gamma_k$ (Prodigy).

    With $\eta_k = d_k \gamma_k \sqrt{1-\beta_2^k} / (1-\beta_1^k)$ and $x_k$ the params:

    $$m_k = \beta_1 m_{k-1} + (1-\beta_1) d_k g_k, \qquad
    v_k = \beta_2 v_{k-1} + (1-\beta_2) d_k^2 g_k^2,
    \\ s_k = \beta_3 s_{k-1} + \frac{\eta_k d_k}{d_0} g_k, \qquad
    r_k = \beta_3 r_{k-1} + \frac{d_k \eta_k}{d_0} \langle g_k, x_0 - x_k \rangle, \qquad
    d_{k+1} = \max\big(d_k, c\, r_k / \|s_k\|_1\big)
    \\ u_k = \lambda \eta_k x_k + \eta_k m_k / (\sqrt{v_k} + d_{k+1} \epsilon)$$

    The inner product and the $\ell_1$ norm run over the whole tree. `u_k` is the step to
    subtract: chain `scale(-1.0)` to descend, as `prodigy` does.

    Args:
        learning_rate: $\gamma_k$, a number or a schedule; 1 is the base value.
        betas: $(\beta_1, \beta_2)$, each in [0, 1).
        beta3: $\beta_3$, the decay of $s$ and $r$; $\sqrt{\beta_2}$ by default.
        eps: $\epsilon$, scaled by $d_{k+1}$ in the denominator.
        estim_lr0: $d_0$, the initial under-estimate of $D$.
        estim_lr_coef: $c$, multiplies each estimate.
        weight_decay: $\lambda$, decoupled weight decay, scaled by $\eta_k$.
        safeguard_warmup: use $d_k^2 / d_0$ in place of $\eta_k d_k / d_0$ in $s_k$, so that a
            warm-up of $\gamma_k$ does not inflate the estimate.

    Returns:
        A transformation with state
        `ScaleByProdigyState(count, d, numerator, mu, nu, grad_sum, params0)`; its update needs
        the params.

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
        ICML 2024, Algorithm 4 (Adam version).

    Note:
        As in Optax and the authors' PyTorch code (not Algorithm 4): $s$ and $r$ drop the
        factor $1-\beta_3$ and are measured in units of $d_0$, $\eta_k$ carries Adam's bias
        correction, and $\epsilon$ is scaled by the new $d_{k+1}$. Where $\|s_k\|_1 = 0$ (only
        zero gradients so far) $d$ keeps its value; Optax 0.2.8 divides 0 by 0 there and every
        later step is NaN. $d$ and $r$ are stored in the params' compute dtype (at least
        float32), not in the lowest params dtype as Optax does, and $m$ and $v$ of float16
        params in float32: with $d_0 = 10^{-6}$, $v$ would underflow to 0 and the step overflow.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_prodigy(), gradtx.scale(-1.0))
    """
    where = "scale_by_prodigy"
    _check(where, learning_rate, betas, eps=eps, estim_lr_coef=estim_lr_coef)
    _validate.check_non_negative(where, weight_decay=weight_decay)
    _validate.check_positive(where, estim_lr0=estim_lr0)
    if beta3 is not None:
        _validate.check_interval(where, beta3=beta3)
    b1, b2 = betas
    b3 = b2**0.5 if beta3 is None else beta3

    def init(params):
        dtype = _scalar_dtype(params)
        d0, r0 = jnp.asarray(estim_lr0, dtype), jnp.zeros([], dtype)
        zeros = lambda: _tree.zeros_like(params)  # one buffer per field, so state can be donated
        moments = lambda: jax.tree.map(lambda x: _tree.zeros_like(x, _moment_dtype(x)), params)
        params0 = jax.tree.map(lambda x: jnp.array(x, jnp.result_type(x), copy=True), params)
        state = (d0, r0, moments(), moments(), zeros(), params0)
        return ScaleByProdigyState(_tree.zero_count(), *state)

    def moments(g, s, h):
        dg = h.d * g
        weight = h.d if safeguard_warmup else h.eta
        grad_sum = h.b3 * s.grad_sum + weight * dg / h.d0
        return s._replace(
            mu=h.b1 * s.mu + (1 - h.b1) * dg,
            nu=h.b2 * s.nu + (1 - h.b2) * jnp.conj(dg) * dg,
            grad_sum=grad_sum,
        )

    def l1(g, s, h):
        return jnp.sum(jnp.abs(s.grad_sum))

    def direction(g, s, h):
        return h.weight_decay * h.eta * h.params + h.eta * s.mu / (jnp.sqrt(s.nu) + h.d * h.eps)

    def update(updates, state, params=None):
        _needs_params(where, params)
        count = _tree.safe_increment(state.count)
        d, dtype = state.d, state.d.dtype
        eta = _step_size(d, learning_rate, state.count, count, b1, b2)
        travelled = _tree.map_leaves(
            lambda x0, x: x0.astype(_tree.compute_dtype(x0)) - x.astype(_tree.compute_dtype(x0)),
            state.params0,
            params,
            where=where,
            names=("params",),
        )
        inner = _tree.vdot(travelled, updates, dtype)
        hyperparams = dict(d=d, eta=eta, d0=estim_lr0, b1=b1, b2=b2, b3=b3)
        sums, state = _tree.lift(
            where, (moments, l1), updates, state, direction_dtype="compute", **hyperparams
        )
        d0, coef = _tree.as_dtype(dtype, estim_lr0, estim_lr_coef)
        numerator = _tree.as_dtype(dtype, b3)[0] * state.numerator + d / d0 * eta * inner
        d_next = _estimate(d, coef * numerator, _l1(sums, dtype))
        updates, state = _tree.lift(
            where,
            (direction,),
            updates,
            state,
            {"params": params},
            d=d_next,
            eta=eta,
            eps=eps,
            weight_decay=weight_decay,
        )
        return updates, state._replace(count=count, d=d_next, numerator=numerator)

    return transformation(init, update)


class ScaleByDadaptAdamwState(NamedTuple):
    """State of `scale_by_dadapt_adamw`."""

    count: jax.Array  # shape (), int32: the step k
    d: jax.Array  # shape (): d_k, the estimate of the distance to a solution
    numerator: jax.Array  # shape (): r_k, the weighted sum of <g, s / (sqrt(v) + eps)>
    mu: Updates  # m_k, the first moment of eta g
    nu: Updates  # v_k, the second moment of g
    grad_sum: Updates  # s_k, the weighted sum of steps


def scale_by_dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scale updates to Adam's step at a size $d_k \gamma_k$ learned by D-Adaptation.

    With $\eta_k = d_k \gamma_k \sqrt{1-\beta_2^k} / (1-\beta_1^k)$, $\beta_3 = \sqrt{\beta_2}$
    and $x_k$ the params:

    $$r_k = \beta_3 r_{k-1} + (1-\beta_3)\, \eta_k
    \big\langle g_k, s_{k-1} / (\sqrt{v_{k-1}} + \epsilon) \big\rangle,
    \\ m_k = \beta_1 m_{k-1} + (1-\beta_1) \eta_k g_k, \qquad
    v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2, \qquad
    s_k = \beta_3 s_{k-1} + (1-\beta_3) \eta_k g_k,
    \\ d_{k+1} = \max\Big(d_k, \frac{r_k}{(1-\beta_3) \|s_k\|_1}\Big), \qquad
    u_k = \lambda \eta_k x_k + m_k / (\sqrt{v_k} + \epsilon)$$

    The inner product and the $\ell_1$ norm run over the whole tree. `u_k` is the step to
    subtract: chain `scale(-1.0)` to descend, as `dadapt_adamw` does.

    Args:
        learning_rate: $\gamma_k$, a number or a schedule; 1 is the base value.
        betas: $(\beta_1, \beta_2)$, each in [0, 1).
        eps: $\epsilon$.
        estim_lr0: $d_0$, the initial under-estimate of $D$.
        weight_decay: $\lambda$, decoupled weight decay, scaled by $\eta_k$.

    Returns:
        A transformation with state `ScaleByDadaptAdamwState(count, d, numerator, mu, nu,
        grad_sum)`; its update needs the params (for the weight decay).

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
        Algorithm 4 (Adam version, with the authors' decoupled weight decay).

    Note:
        As in Optax and the authors' PyTorch code, $\eta_k$ carries Adam's bias correction.
        Where $\|s_k\|_1 = 0$ (only zero gradients so far) $d$ keeps its value; Optax 0.2.8
        divides 0 by 0 there and every later step is NaN. $d$ and $r$ are stored in the params'
        compute dtype (at least float32), not in the lowest params dtype as Optax does.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_dadapt_adamw(), gradtx.scale(-1.0))
    """
    where = "scale_by_dadapt_adamw"
    _check(where, learning_rate, betas, eps=eps, weight_decay=weight_decay)
    _validate.check_positive(where, estim_lr0=estim_lr0)
    b1, b2 = betas
    b3 = b2**0.5

    def init(params):
        dtype = _scalar_dtype(params)
        d0, r0 = jnp.asarray(estim_lr0, dtype), jnp.zeros([], dtype)
        zeros = lambda: _tree.zeros_like(params)  # one buffer per field, so state can be donated
        return ScaleByDadaptAdamwState(_tree.zero_count(), d0, r0, zeros(), zeros(), zeros())

    def weighted_sum(g, s, h):
        return s.grad_sum / (jnp.sqrt(s.nu) + h.eps)

    def moments(g, s, h):
        return s._replace(
            mu=h.b1 * s.mu + (1 - h.b1) * h.eta * g,
            nu=h.b2 * s.nu + (1 - h.b2) * jnp.conj(g) * g,
            grad_sum=h.b3 * s.grad_sum + (1 - h.b3) * h.eta * g,
        )

    def l1(g, s, h):
        return jnp.sum(jnp.abs(s.grad_sum))

    def direction(g, s, h):
        return h.weight_decay * h.eta * h.params + s.mu / (jnp.sqrt(s.nu) + h.eps)

    def update(updates, state, params=None):
        _needs_params(where, params)
        count = _tree.safe_increment(state.count)
        d, dtype = state.d, state.d.dtype
        eta = _step_size(d, learning_rate, state.count, count, b1, b2)
        weighted, _ = _tree.lift(
            where, (weighted_sum,), updates, state, direction_dtype="compute", eps=eps
        )
        inner = _tree.vdot(weighted, updates, dtype)
        hyperparams = dict(eta=eta, b1=b1, b2=b2, b3=b3)
        sums, state = _tree.lift(
            where, (moments, l1), updates, state, direction_dtype="compute", **hyperparams
        )
        b3_ = _tree.as_dtype(dtype, b3)[0]
        numerator = b3_ * state.numerator + (1 - b3_) * eta * inner
        d_next = _estimate(d, numerator, (1 - b3_) * _l1(sums, dtype))
        updates, state = _tree.lift(
            where,
            (direction,),
            updates,
            state,
            {"params": params},
            eta=eta,
            eps=eps,
            weight_decay=weight_decay,
        )
        return updates, state._replace(count=count, d=d_next, numerator=numerator)

    return transformation(init, update)
