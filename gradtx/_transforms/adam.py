"""The Adam family: Adam and Nadam, AdaMax, AMSGrad, and Nadam with Dozat's momentum schedule.

Each scales the first moment of the gradients by a second-moment (or infinity-norm) estimate.
Options select the conventions where Optax, torch.optim and Keras differ (see the porting guide).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam` and `scale_by_adamax`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the first moment
    nu: Updates  # v_t, the second moment (Adam) or the infinity norm u_t (AdaMax)


def _epsilon(uncorrected: bool):
    """eps as added to sqrt(v_hat): itself, or eps / sqrt(1 - b2^t) for the uncorrected form."""
    if uncorrected:
        return lambda eps, correction2: eps / jnp.sqrt(correction2)
    return lambda eps, correction2: eps


def _moments(g, s, h):
    """Adam's moments: m_t = b1 m_{t-1} + (1 - b1) g_t, v_t = b2 v_{t-1} + (1 - b2) |g_t|^2."""
    return s._replace(mu=_tree.ema(g, s.mu, h.b1), nu=_tree.ema(_tree.abs_sq(g), s.nu, h.b2))


def _nesterov_mean(m, g, b1, count):
    """Nadam's look-ahead mean: b1 m_t / (1 - b1^{t+1}) + (1 - b1) g_t / (1 - b1^t)."""
    dt = g.dtype
    ahead = _tree.bias_correction(b1, count.astype(dt) + 1, dt)  # t + 1 without int32 overflow
    # Scalar factors first: XLA folds (c * m) / y differently when c is a constant, and an
    # injected (runtime) b1 must give the same bits as a Python float.
    return m * (b1 / ahead) + g * ((1 - b1) / _tree.bias_correction(b1, count, dt))


def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
    eps_uncorrected: bool = False,
) -> GradientTransformation:
    r"""Scale by bias-corrected estimates of the first and second moments (Adam, Nadam).

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
    \\ \hat m_t = m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t), \qquad
    u_t = \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)$$

    With `nesterov` (Nadam), $\hat m_t$ becomes
    $\beta_1 m_t / (1-\beta_1^{t+1}) + (1-\beta_1) g_t / (1-\beta_1^t)$.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root (keeps gradients through the update finite).
        mu_dtype: dtype in which $m_t$ is stored; the params' dtype by default. The update reads
            $m_t$ and $v_t$ as stored (rounded to their dtypes); arithmetic is in float32 or wider.
        nesterov: use Nadam's look-ahead first moment.
        nu_dtype: dtype in which $v_t$ is stored; the params' dtype by default.
        eps_uncorrected: add $\epsilon$ to $\sqrt{v_t}$ before bias correction, i.e. use
            $\epsilon / \sqrt{1-\beta_2^t}$ in place of $\epsilon$ (the paper's Section 2
            $\hat\epsilon$ ordering, used by Keras and the AdaBound reference).

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

    Note:
        Nadam as in Optax and Keras' common simplification: Dozat's momentum schedule
        $\mu_t$ is the constant $\beta_1$, and $\hat v_t$ is not multiplied by $\beta_2$.

    Example:
        >>> import gradtx
        >>> adam = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_adam", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_adam", eps=eps, eps_root=eps_root)
    _validate.check_dtype("scale_by_adam", "mu_dtype", mu_dtype)
    _validate.check_dtype("scale_by_adam", "nu_dtype", nu_dtype)

    _eps = _epsilon(eps_uncorrected)

    def init(params):
        mu, nu = _tree.zeros_like(params, mu_dtype), _tree.zeros_like(params, nu_dtype)
        return ScaleByAdamState(_tree.zero_count(), mu, nu)

    def direction(g, s, h):
        if nesterov:
            m_hat = _nesterov_mean(s.mu, g, h.b1, h.count)
        else:
            m_hat = s.mu / _tree.bias_correction(h.b1, h.count, g.dtype)
        correction2 = _tree.bias_correction(h.b2, h.count, g.dtype)
        return m_hat / (jnp.sqrt(s.nu / correction2 + h.eps_root) + _eps(h.eps, correction2))

    def update(updates, state, params=None):
        del params
        _validate.check_state("scale_by_adam", state, ScaleByAdamState)
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
        phases = (_moments, direction)
        updates, state = _tree.lift("scale_by_adam", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


def scale_by_adamax(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8, *, eps_in_max: bool = True
) -> GradientTransformation:
    r"""Scale by the first moment over an exponentially weighted infinity norm (AdaMax).

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    u^{\infty}_t = \max(\beta_2 u^{\infty}_{t-1}, |g_t| + \epsilon), \qquad
    u_t = \frac{m_t / (1-\beta_1^t)}{u^{\infty}_t}$$

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, added to $|g_t|$ inside the max so that the division is safe.
        eps_in_max: with False, $u^{\infty}_t = \max(\beta_2 u^{\infty}_{t-1}, |g_t|)$ and
            $u_t = \hat m_t / (u^{\infty}_t + \epsilon)$ (Keras).

    Returns:
        A transformation with state `ScaleByAdamState(count, mu, nu)`; nu holds $u^{\infty}$.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1,
        Algorithm 2.

    Note:
        The paper has no $\epsilon$; Optax and torch.optim put it inside the max (the default),
        Keras adds it to the denominator (`eps_in_max=False`).

    Example:
        >>> import gradtx
        >>> adamax = gradtx.chain(gradtx.scale_by_adamax(), gradtx.scale_by_learning_rate(2e-3))
    """
    _validate.check_interval("scale_by_adamax", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_adamax", eps=eps)

    def init(params):
        mu, nu = _tree.zeros_like(params), _tree.zeros_like(params)
        return ScaleByAdamState(_tree.zero_count(), mu, nu)

    def moments(g, s, h):
        inside = h.eps if eps_in_max else 0
        mu = _tree.ema(g, s.mu, h.b1)
        nu = jnp.maximum(jnp.abs(g) + jnp.real(inside), jnp.real(h.b2 * s.nu))
        return s._replace(mu=mu, nu=nu)

    def direction(g, s, h):
        outside = 0 if eps_in_max else h.eps
        return s.mu / _tree.bias_correction(h.b1, h.count, g.dtype) / (s.nu + outside)

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps)
        phases = (moments, direction)
        updates, state = _tree.lift("scale_by_adamax", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


class ScaleByAmsgradState(NamedTuple):
    """State of `scale_by_amsgrad`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t
    nu: Updates  # v_t
    nu_max: Updates  # \hat v^max_t, the running maximum of \hat v_t


def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    raw_max: bool = False,
    eps_uncorrected: bool = False,
) -> GradientTransformation:
    r"""Scale like Adam, but by the running maximum of the second moment (AMSGrad).

    $$\hat v^{max}_t = \max(\hat v^{max}_{t-1}, \hat v_t), \qquad
    u_t = \hat m_t / (\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon)$$

    with $m_t$, $v_t$ and their bias corrections as in `scale_by_adam`.

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root.
        eps_root: $\epsilon_{root}$, inside the root.
        mu_dtype: dtype in which $m_t$ is stored.
        raw_max: keep the maximum of the uncorrected $v_t$ and bias-correct it afterwards,
            $\hat v^{max}_t = \max_{k \le t} v_k / (1-\beta_2^t)$ (torch.optim, Keras).
        eps_uncorrected: use $\epsilon / \sqrt{1-\beta_2^t}$ in place of $\epsilon$ (Keras), as in
            `scale_by_adam`.

    Returns:
        A transformation with state `ScaleByAmsgradState(count, mu, nu, nu_max)`; nu_max holds
        $\hat v^{max}_t$, or the uncorrected maximum with `raw_max`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.

    Note:
        By default the maximum is taken over bias-corrected $\hat v_t$, as in Optax; the paper uses
        no bias correction; torch.optim and Keras take the maximum of the uncorrected $v_t$.

    Example:
        >>> import gradtx
        >>> amsgrad = gradtx.chain(gradtx.scale_by_amsgrad(), gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_interval("scale_by_amsgrad", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_amsgrad", eps=eps, eps_root=eps_root)
    _validate.check_dtype("scale_by_amsgrad", "mu_dtype", mu_dtype)
    _eps = _epsilon(eps_uncorrected)

    def init(params):
        zeros = lambda: _tree.zeros_like(params)  # one buffer per field, so state can be donated
        mu = _tree.zeros_like(params, mu_dtype)
        return ScaleByAmsgradState(_tree.zero_count(), mu, zeros(), zeros())

    def running_max(g, s, h):
        if raw_max:
            return s._replace(nu_max=jnp.maximum(s.nu_max, s.nu))
        nu_hat = s.nu / _tree.bias_correction(h.b2, h.count, g.dtype)
        return s._replace(nu_max=jnp.maximum(s.nu_max, nu_hat))

    def direction(g, s, h):
        correction2 = _tree.bias_correction(h.b2, h.count, g.dtype)
        nu_max_hat = s.nu_max / correction2 if raw_max else s.nu_max
        m_hat = s.mu / _tree.bias_correction(h.b1, h.count, g.dtype)
        return m_hat / (jnp.sqrt(nu_max_hat + h.eps_root) + _eps(h.eps, correction2))

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        hyperparams = dict(count=count, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
        phases = (_moments, running_max, direction)
        updates, state = _tree.lift("scale_by_amsgrad", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count)

    return transformation(init, update)


class ScaleByNadamState(NamedTuple):
    """State of `scale_by_nadam`."""

    count: jax.Array  # shape (), int32: the step t
    mu_product: jax.Array  # shape (), float: prod_{k<=t} mu_k
    mu: Updates  # m_t
    nu: Updates  # v_t


def scale_by_nadam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    momentum_decay: ArrayLike = 4e-3,
) -> GradientTransformation:
    r"""Scale like Nadam with Dozat's momentum schedule (torch.optim.NAdam, keras Nadam).

    $$\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t \psi}), \qquad
    \Pi_t = \prod_{k \le t} \mu_k, \qquad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
    \\ u_t = \Big(\frac{1-\mu_t}{1-\Pi_t} g_t + \frac{\mu_{t+1}}{1-\Pi_t \mu_{t+1}} m_t\Big)
    \Big/ \big(\sqrt{v_t / (1-\beta_2^t)} + \epsilon\big)$$

    Args:
        b1: $\beta_1$, in [0, 1).
        b2: $\beta_2$, in [0, 1).
        eps: $\epsilon$, outside the root.
        momentum_decay: $\psi$, the speed of the momentum warm-up (torch's momentum_decay; Keras
            fixes it at 0.004).

    Returns:
        A transformation with state `ScaleByNadamState(count, mu_product, mu, nu)`.

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop, Algorithm 2.

    Note:
        `scale_by_adam(nesterov=True)` is Optax's Nadam, with the constant $\mu_t = \beta_1$. Like
        torch and Keras, $\hat v_t$ is not multiplied by $\beta_2$ as in Dozat's Algorithm 2.

    Example:
        >>> import gradtx
        >>> nadam = gradtx.chain(gradtx.scale_by_nadam(), gradtx.scale_by_learning_rate(2e-3))
    """
    _validate.check_interval("scale_by_nadam", b1=b1, b2=b2)
    _validate.check_non_negative("scale_by_nadam", eps=eps, momentum_decay=momentum_decay)

    def init(params):
        product = jnp.ones([], jnp.result_type(float))  # float64 when x64 is on
        mu, nu = _tree.zeros_like(params), _tree.zeros_like(params)
        return ScaleByNadamState(_tree.zero_count(), product, mu, nu)

    def momentum_at(t, dtype):
        (b1_, psi) = _tree.as_dtype(dtype, b1, momentum_decay)
        return b1_ * (1 - 0.5 * jnp.asarray(0.96, dtype) ** (t * psi))

    def direction(g, s, h):
        t = h.count.astype(g.dtype)
        mu_t, mu_next = momentum_at(t, g.dtype), momentum_at(t + 1, g.dtype)
        denominator = jnp.sqrt(s.nu / _tree.bias_correction(h.b2, h.count, g.dtype)) + h.eps
        product = h.product
        mean = (1 - mu_t) / (1 - product) * g + mu_next / (1 - product * mu_next) * s.mu
        return mean / denominator

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        dtype = state.mu_product.dtype
        product = state.mu_product * momentum_at(count.astype(dtype), dtype)
        hyperparams = dict(count=count, product=product, b1=b1, b2=b2, eps=eps)
        phases = (_moments, direction)
        updates, state = _tree.lift("scale_by_nadam", phases, updates, state, **hyperparams)
        return updates, state._replace(count=count, mu_product=product)

    return transformation(init, update)
