"""After AdaBound: RAdam, AdaBelief, Yogi and ADOPT, four repairs of Adam's step (2018-2024).

RAdam rectifies the variance of the step while the second moment has seen few gradients; AdaBelief
divides by the spread of the gradient around its mean instead of its raw second moment; Yogi
changes the second moment additively, so it cannot forget large gradients too fast; ADOPT
normalizes each gradient by the second moment of the *previous* gradients, before the momentum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation
from gradtx._transforms.adam import ScaleByAdamState, _epsilon, _moments, _nesterov_mean


def _mean_hat(g, m, b1, count, nesterov):
    """m_hat_t = m_t / (1 - b1^t), or Nadam's look-ahead mean (see `scale_by_adam`)."""
    if nesterov:
        return _nesterov_mean(m, g, b1, count)
    return m / _tree.bias_correction(b1, count, g.dtype)


def scale_by_radam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
    eps_uncorrected: bool = False,
    strict_threshold: bool = False,
) -> GradientTransformation:
    r"""Scale by Adam's step rectified for the variance of its adaptive rate (RAdam).

    $$m_t, v_t, \hat m_t, \hat v_t \text{ as in `scale_by_adam`}, \qquad
    \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
    \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},
    \\ r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}},
    \qquad u_t = \begin{cases} r_t \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
    & \rho_t \ge \rho_{min} \\ \hat m_t & \text{otherwise (momentum SGD)} \end{cases}$$

    $\rho_t$ approximates the length of the moving average behind $\hat v_t$; while it is short,
    the variance of the adaptive rate is intractable and the step is plain momentum.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.
        threshold: $\rho_{min}$, at least 4 (where $r_t$ becomes real); the authors' code uses 5.
        nesterov: use Nadam's look-ahead $\hat m_t$ (see `scale_by_adam`).
        eps_uncorrected: use $\epsilon / \sqrt{1-\beta_2^t}$ in place of $\epsilon$, i.e. add
            $\epsilon$ to $\sqrt{v_t}$ before bias correction (torch.optim.RAdam; see
            `scale_by_adam`).
        strict_threshold: rectify only where $\rho_t > \rho_{min}$, not where
            $\rho_t \ge \rho_{min}$ (torch.optim.RAdam's $\rho_t > 5$; the paper's $\rho_t > 4$
            is `threshold=4.0, strict_threshold=True`).

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`.

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2.

    Note:
        The paper rectifies where $\rho_t > 4$; Optax and the authors' code where
        $\rho_t \ge 5$, the default here; torch.optim.RAdam where $\rho_t > 5$, with
        $\epsilon$ added before bias correction (`strict_threshold=True, eps_uncorrected=True`,
        as `gradtx.conventions.torch.RAdam` does). Optax accepts a threshold below 4, where
        $(\rho_t - 4)(\rho_t - 2) < 0$ for $\rho_t$ in $(2, 4)$ and its step is NaN; gradtx raises
        a ValueError instead.

    Example:
        >>> import gradtx
        >>> radam = gradtx.chain(gradtx.scale_by_radam(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_radam", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_radam", eps=eps, eps_root=eps_root)
    _validate.check_interval("scale_by_radam", low=4.0, high=math.inf, threshold=threshold)
    _eps = _epsilon(eps_uncorrected)

    def init(params):
        return ScaleByAdamState(
            _tree.zero_count(), _tree.zeros_like(params), _tree.zeros_like(params)
        )

    def direction(g, s, h):
        dt = g.dtype
        m_hat = _mean_hat(g, s.mu, h.b1, h.count, nesterov)
        correction2 = _tree.bias_correction(h.b2, h.count, dt)
        t = h.count.astype(dt)
        rho_inf = 2 / (1 - h.b2) - 1
        b2_t = h.b2**t
        rho = rho_inf - 2 * t * b2_t / (1 - b2_t)
        tractable = rho > h.threshold if strict_threshold else rho >= h.threshold
        safe_rho = jnp.where(tractable, rho, rho_inf)  # r_t = 1: no NaN in the branch not taken
        r = jnp.sqrt(
            (safe_rho - 4) * (safe_rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe_rho)
        )
        denominator = jnp.sqrt(s.nu / correction2 + h.eps_root) + _eps(h.eps, correction2)
        return jnp.where(tractable, r * m_hat / denominator, m_hat)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
        phases = (_moments, direction)
        updates, state = _tree.lift(
            "scale_by_radam", phases, updates, state, threshold=threshold, **hyperparams
        )
        return updates, state._replace(count=count)

    return transformation(init, update)


class ScaleByBeliefState(NamedTuple):
    """State of `scale_by_belief`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the first moment
    nu: Updates  # s_t, the second moment of the prediction error g_t - m_t (plus eps_root)


def scale_by_belief(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Scale by the first moment over the spread of gradients around it (AdaBelief).

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    s_t = \beta_2 s_{t-1} + (1-\beta_2) (g_t - m_t)^2 + \epsilon_{root},
    \\ u_t = \frac{m_t / (1-\beta_1^t)}{\sqrt{s_t / (1-\beta_2^t)} + \epsilon}$$

    A gradient close to its prediction $m_t$ ("belief") gets a large step, a surprising one a
    small step.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, added to $s_t$ at every step (and kept in the state).
        nesterov: use Nadam's look-ahead first moment (see `scale_by_adam`).

    Returns:
        A transformation with state `ScaleByBeliefState(count, mu, nu)`; nu holds $s_t$.

    References:
        Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
        Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020, Algorithm 2.

    Example:
        >>> import gradtx
        >>> adabelief = gradtx.chain(gradtx.scale_by_belief(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_belief", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_belief", eps=eps, eps_root=eps_root)

    def init(params):
        zeros = _tree.zero_count(), _tree.zeros_like(params), _tree.zeros_like(params)
        return ScaleByBeliefState(*zeros)

    def moments(g, s, h):
        mu = _tree.ema(g, s.mu, h.b1)
        nu = _tree.ema(_tree.abs_sq(g - mu), s.nu, h.b2) + h.eps_root
        return s._replace(mu=mu, nu=nu)

    def direction(g, s, h):
        m_hat = _mean_hat(g, s.mu, h.b1, h.count, nesterov)
        s_hat = s.nu / _tree.bias_correction(h.b2, h.count, g.dtype)
        return m_hat / (jnp.sqrt(s_hat) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
        phases = (moments, direction)
        updates, state = _tree.lift("scale_by_belief", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


def scale_by_yogi(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
    eps_root: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 1e-6,
    *,
    initial_mu: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scale like Adam with an additive, sign-controlled second moment (Yogi).

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    v_t = v_{t-1} - (1-\beta_2)\, \mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2,
    \\ u_t = \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}$$

    Adam's $v_t - v_{t-1} = -(1-\beta_2)(v_{t-1} - g_t^2)$ shrinks $v$ in proportion to $v$
    itself; Yogi's change is at most $(1-\beta_2) g_t^2$, so a rare large gradient is not
    forgotten within a few steps.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root (the paper's $10^{-3}$).
        eps_root: $\epsilon_{root}$, inside the root.
        initial_accumulator_value: $v_0$.
        initial_mu: $m_0$; 0 as in the paper. Optax 0.2.8 starts $m_0$ at
            `initial_accumulator_value` too: pass `initial_mu=1e-6` for its trajectory.

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`.

    References:
        Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
        NeurIPS 2018, Algorithm 2.

    Note:
        Algorithm 2 has no bias correction; as in Optax and TensorFlow Addons, $m_t$ and $v_t$ are
        divided by $1-\beta_1^t$ and $1-\beta_2^t$. Optax also starts the first moment at
        $m_0 = v_0 = 10^{-6}$, which moves a parameter whose gradients are all zero (by about
        $3 \cdot 10^{-4}$ times the learning rate at the first step); gradtx starts at $m_0 = 0$,
        as the paper and TensorFlow Addons do.

    Example:
        >>> import gradtx
        >>> yogi = gradtx.chain(gradtx.scale_by_yogi(), gradtx.scale_by_learning_rate(1e-2))
    """
    _validate.check_interval("scale_by_yogi", b1=b1, b2=b2)
    _validate.check_non_negative(
        "scale_by_yogi",
        eps=eps,
        eps_root=eps_root,
        initial_accumulator_value=initial_accumulator_value,
    )
    _validate.check_finite("scale_by_yogi", initial_mu=initial_mu)

    def init(params):
        mu = _tree.full_like(params, initial_mu)
        return ScaleByAdamState(
            _tree.zero_count(), mu, _tree.full_like(params, initial_accumulator_value)
        )

    def moments(g, s, h):
        g2 = _tree.abs_sq(g)
        nu = s.nu - (1 - h.b2) * jnp.sign(s.nu - g2) * g2
        return s._replace(mu=_tree.ema(g, s.mu, h.b1), nu=nu)

    def direction(g, s, h):
        m_hat = s.mu / _tree.bias_correction(h.b1, h.count, g.dtype)
        v_hat = s.nu / _tree.bias_correction(h.b2, h.count, g.dtype)
        return m_hat / (jnp.sqrt(v_hat + h.eps_root) + h.eps)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
        phases = (moments, direction)
        updates, state = _tree.lift("scale_by_yogi", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


def scale_by_adopt(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.9999,
    eps: ArrayLike = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> GradientTransformation:
    r"""Scale by a momentum of gradients normalized by the previous second moment (ADOPT).

    Step $t = 0$ only measures the gradient, $v_0 = g_0^2$, and returns $u_0 = 0$. Then, for
    $t \ge 1$:

    $$\tilde g_t = \mathrm{clip}\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon),\ c_t\big), \qquad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) \tilde g_t, \qquad u_t = m_t,
    \\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$$

    with $\mathrm{clip}(x, c) = \min(\max(x, -c), c)$ and $c_t = t^{1/4}$. $v_{t-1}$ does not
    depend on $g_t$, which removes the correlation that makes Adam diverge for some $\beta_2$.
    With `nesterov`, $u_t = \beta_1 m_t + (1-\beta_1) \tilde g_t$.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, the floor of $\sqrt{v_{t-1}}$.
        mu_dtype: dtype in which $m_t$ is stored; the params' dtype by default.
        nesterov: return the look-ahead momentum $\beta_1 m_t + (1-\beta_1) \tilde g_t$.
        use_clipping: clip $g_t / \max(\sqrt{v_{t-1}}, \epsilon)$ to $[-c_t, c_t]$.
        clip_value_fn: $c_t$ as a function of the int32 step $t$; None is $t^{1/4}$ (Optax's
            default `lambda x: x**0.25`, written as None so that a config can hold it).

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`.

    References:
        Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa & Matsuo,
        "ADOPT: Modified Adam Can Converge with Any $\beta_2$ with the Optimal Rate",
        NeurIPS 2024, arXiv:2411.02853: the ADOPT algorithm, with $c_t = t^{1/4}$ as in the
        authors' code (github.com/iShohei220/adopt).

    Note:
        Nesterov momentum is Optax's addition (optax.contrib), not the paper's.

    Example:
        >>> import gradtx
        >>> adopt = gradtx.chain(gradtx.scale_by_adopt(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_adopt", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_adopt", eps=eps)
    _validate.check_dtype("scale_by_adopt", "mu_dtype", mu_dtype)
    if clip_value_fn is not None and not callable(clip_value_fn):
        _validate.fail_type(
            "scale_by_adopt", "clip_value_fn", clip_value_fn, "None or a function of the step"
        )

    def init(params):
        mu, nu = _tree.zeros_like(params, mu_dtype), _tree.zeros_like(params)
        return ScaleByAdamState(_tree.zero_count(), mu, nu)

    def normalized(g, s, h):
        """g_t / max(sqrt(v_{t-1}), eps), clipped to [-c_t, c_t]."""
        x = g / jnp.maximum(jnp.sqrt(s.nu), h.eps)
        if not use_clipping:
            return x
        c = h.count.astype(g.dtype) ** 0.25 if clip_value_fn is None else h.clip.astype(g.dtype)
        return jnp.clip(x, -c, c)

    def first_moment(g, s, h):
        b1_ = jnp.where(h.count > 0, h.b1, 1)  # m_0 = 0: step 0 moves nothing
        return s._replace(mu=_tree.ema(normalized(g, s, h), s.mu, b1_))

    def direction(g, s, h):
        """u_t from m_t as stored; then v_t (s.nu is still v_{t-1} here)."""
        b1_ = jnp.where(h.count > 0, h.b1, 1)
        b2_ = jnp.where(h.count > 0, h.b2, 0)  # v_0 = g_0^2
        u = _tree.ema(normalized(g, s, h), s.mu, b1_) if nesterov else s.mu
        return u, s._replace(nu=_tree.ema(_tree.abs_sq(g), s.nu, b2_))

    def update(updates, state, params=None):
        del params
        extra = {} if clip_value_fn is None else dict(clip=jnp.asarray(clip_value_fn(state.count)))
        hyperparams = dict(count=state.count, b1=b1, b2=b2, eps=eps, **extra)
        phases = (first_moment, direction)
        updates, new = _tree.lift("scale_by_adopt", phases, updates, state, **hyperparams)
        return updates, new._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)
