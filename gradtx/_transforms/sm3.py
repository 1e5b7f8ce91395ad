"""SM3: adaptive step sizes from one accumulator per row and per column (Anil et al. 2019).

A leaf's accumulated squared gradients are bounded, entry by entry, by the smallest of the
maxima kept for its slices along each axis: a matrix of n x m keeps n + m numbers. The
accumulators are not shaped like the params and are updated leaf by leaf by hand; the momentum
that follows is, and runs through the lift.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation
from gradtx._transforms.factored import Statistics, _check_shape, _leaves, _zeros_along


class ScaleBySm3State(NamedTuple):
    """State of `scale_by_sm3`. Optax's `ScaleBySM3State` names these the other way round."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the momentum
    nu: Statistics  # per leaf, a tuple of one accumulator per axis (one scalar for a scalar)


def _expanded(x: jax.Array, axis: int, ndim: int) -> jax.Array:
    """A vector along `axis` of an `ndim`-dimensional leaf, shaped to broadcast against it."""
    return jnp.reshape(x, [1] * axis + [-1] + [1] * (ndim - axis - 1))


def scale_by_sm3(
    b1: ArrayLike = 0.9, b2: ArrayLike = 1.0, eps: ArrayLike = 1e-8
) -> GradientTransformation:
    r"""Scale by SM3's cover-based bound on the accumulated squared gradients.

    Each axis $k$ of a leaf covers it with slices; slice $r$ of axis $k$ keeps one accumulator
    $\mu_{k,t}(r)$ (a scalar leaf keeps one). With $c = 1$ if $\beta_2 = 1$, else $1-\beta_2$:

    $$\nu_t(i) = c\, g_t(i)^2 + \beta_2 \min_{k} \mu_{k,t-1}(i_k), \qquad
    \mu_{k,t}(r) = \max_{i: i_k = r} \nu_t(i), \\
    m_t = \beta_1 m_{t-1} + (1-\beta_1) \frac{g_t}{\sqrt{\nu_t + \epsilon}}
    \ (0 \text{ where } \nu_t = 0), \qquad u_t = m_t$$

    With $\beta_2 = 1$ this is SM3-II; a matrix of $n \times m$ keeps $n + m$ accumulators.

    Args:
        b1: $\beta_1$, in [0, 1): the momentum.
        b2: $\beta_2$, in [0, 1]: 1 sums squared gradients (Adagrad-like), less decays them.
        eps: $\epsilon$, inside the root.

    Returns:
        A transformation with state `ScaleBySm3State(count, mu, nu)`; `nu` holds, per leaf, a
        tuple of accumulators, one per axis, in the param's real dtype.

    References:
        Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019,
        Algorithm SM3-II, with the covers of Section 4 (rows and columns) and momentum.

    Note:
        Optax 0.2.8 fails on a scalar leaf (it indexes an empty list of accumulators) and refuses
        complex params; gradtx gives a scalar one accumulator and a complex leaf real ones.
        Optax's state calls the accumulators `mu` and the momentum `nu`; gradtx follows its
        glossary (`mu` the first moment). Optax decides $c$ with a Python test on $\beta_2$,
        which fails on a traced $\beta_2$; gradtx decides it on the value.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_sm3()
        >>> [a.shape for a in tx.init(jnp.zeros((2, 3))).nu]
        [(2,), (3,)]
    """
    where = "scale_by_sm3"
    _validate.check_interval(where, b1=b1)
    _validate.check_non_negative(where, b2=b2)
    if _validate.is_number(b2) and b2 > 1:
        _validate._fail(where, "b2", b2, "in [0, 1]")
    _validate.check_non_negative(where, eps=eps)

    def init_leaf(x):
        x = jnp.asarray(x)
        real = jnp.real(_tree.zeros_like(x))
        if x.ndim == 0:
            return (real,)
        return tuple(
            _zeros_along(real, tuple(k for k in range(x.ndim) if k != axis))
            for axis in range(x.ndim)
        )

    def init(params):
        nu = jax.tree.map(init_leaf, params)
        return ScaleBySm3State(_tree.zero_count(), _tree.zeros_like(params), nu)

    def accumulate(g, nu):
        """nu_t and the new accumulators, for one leaf in its compute dtype."""
        dtype = _tree.compute_dtype(g, *nu)
        real = jnp.finfo(dtype).dtype
        squares = jnp.real(_tree.abs_sq(g.astype(dtype))).astype(real)
        b2_, eps_ = jnp.asarray(b2).astype(real), jnp.asarray(eps).astype(real)
        if g.ndim == 0:
            bound = nu[0].astype(real)
        else:
            bound = functools.reduce(
                jnp.minimum, [_expanded(a.astype(real), k, g.ndim) for k, a in enumerate(nu)]
            )
        total = jnp.where(b2_ == 1, 1, 1 - b2_) * squares + b2_ * bound  # >= 0: max from 0
        others = lambda axis: tuple(k for k in range(g.ndim) if k != axis)
        if g.ndim == 0:
            new = (total,)
        else:
            new = tuple(jnp.max(total, axis=others(k), initial=0) for k in range(g.ndim))
        inverse_root = jnp.where(total > 0, jax.lax.rsqrt(total + eps_), 0)
        scaled = g.astype(dtype) * inverse_root.astype(dtype)
        return scaled, tuple(_tree.cast_like(n, a) for n, a in zip(new, nu, strict=True))

    def momentum(g, s, h):
        return s._replace(mu=_tree.ema(h.scaled, s.mu, h.b1))

    def direction(g, s, h):
        return s.mu

    def update(updates, state, params=None):
        del params
        treedef, (gs, nus) = _leaves(where, updates, state.nu, names=("nu",))
        for i, (g, nu) in enumerate(zip(gs, nus, strict=True)):
            want = [()] if g.ndim == 0 else [(n,) for n in g.shape]
            if not isinstance(nu, tuple) or len(nu) != len(want):
                _check_shape(where, updates, i, "nu", None, tuple(want))
            for k, (a, shape) in enumerate(zip(nu, want, strict=True)):
                _check_shape(where, updates, i, f"nu[{k}]", a, shape)
        scaled, nu = zip(*map(accumulate, gs, nus), strict=True) if gs else ((), ())
        inputs = {"scaled": treedef.unflatten(scaled)}
        phases = (momentum, direction)
        updates, state = _tree.lift(where, phases, updates, state, inputs, b1=b1)
        count = _tree.safe_increment(state.count)
        return updates, state._replace(count=count, nu=treedef.unflatten(list(nu)))

    return transformation(init, update)
