"""Muon: momentum orthogonalised by a Newton-Schulz iteration, for the matrices of a network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, compiled, init_empty_state, transformation

DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
NS_COEFFS_PRESETS = {
    "standard": DEFAULT_NS_COEFFS,
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix: `x @ W = y` reduces over `reduction_axis` and
    outputs along `output_axis`; every other axis is a batch of matrices, each orthogonalised on
    its own."""

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


_MATRIX = MuonDimensionNumbers()  # every leaf a matrix (weight_dimension_numbers=None)


def _is_dims(x: Any) -> bool:
    return x is None or isinstance(x, MuonDimensionNumbers)


def per_leaf_dims(where: str, dims: Any, updates: Any) -> list[MuonDimensionNumbers | None]:
    """The dimension numbers of each leaf of `updates`, in flattening order: `dims` is None (every
    leaf a matrix), a tree of `MuonDimensionNumbers` or None (not a matrix: left unchanged) over a
    prefix of `updates`, or a function of the updates returning one."""
    if dims is None:
        return [_MATRIX] * len(jax.tree.leaves(updates))
    dims = dims(updates) if callable(dims) else dims  # None from a function: no matrix at all
    found: list[MuonDimensionNumbers | None] = []
    jax.tree.map(
        lambda d, sub: found.extend([d] * len(jax.tree.leaves(sub))),
        dims,
        updates,
        is_leaf=_is_dims,
    )
    return found


def _axes(ndim: int, axis: Sequence[int] | int) -> tuple[int, ...]:
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _matrix_axes(where: str, x: jax.Array, dims: MuonDimensionNumbers):
    """(batch, reduction, output) axes of `x`."""
    if dims is _MATRIX:
        if x.ndim != 2:
            raise ValueError(
                f"{where}: a leaf of shape {x.shape} is not a matrix; give its "
                "weight_dimension_numbers, or leave it to another transformation"
            )
        dims = MuonDimensionNumbers()
    reduction, output = _axes(x.ndim, dims.reduction_axis), _axes(x.ndim, dims.output_axis)
    if set(reduction) & set(output):
        raise ValueError(
            f"{where}: reduction axes {reduction} and output axes {output} of a leaf of shape "
            f"{x.shape} must be disjoint"
        )
    batch = tuple(a for a in range(x.ndim) if a not in reduction + output)
    return batch, reduction, output


def _fans(where, x, dims):
    _, reduction, output = _matrix_axes(where, x, dims)
    return math.prod(x.shape[a] for a in reduction), math.prod(x.shape[a] for a in output)


def _newton_schulz_step(x, c, first, preconditioning, eps):
    r"""$X \leftarrow c_0 X + (c_1 A + c_2 A^2) X$, $A = X X^H$; the first step of `aol` and
    `schatten` rescales X (and A) first."""
    a = x @ x.T.conj()
    if first and preconditioning == "aol":
        s = jax.lax.rsqrt(jnp.maximum(jnp.abs(a).sum(axis=-1), eps))[:, None]
        x, a = x * s, a * s * s.T
    elif first and preconditioning == "schatten":
        s = jax.lax.rsqrt(jnp.maximum(jnp.linalg.norm(a, "fro"), eps))
        x, a = x * s, a * s**2
    return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def orthogonalize(x, coeffs, preconditioning, eps, eps_floor=False):
    """Newton-Schulz on one matrix, wide side last; `coeffs` holds one row per step. The first
    normalisation divides by norm + eps, or by max(norm, eps) with `eps_floor`."""
    transposed = x.shape[0] > x.shape[1]
    x = x.T if transposed else x
    guard = jnp.maximum if eps_floor else jnp.add
    if preconditioning == "frobenius":
        x = x / guard(jnp.linalg.norm(x, "fro"), eps)
    elif preconditioning == "spectral":
        x = x / guard(jnp.linalg.norm(x, 2), eps)
    for i in range(coeffs.shape[0]):
        x = _newton_schulz_step(x, coeffs[i], i == 0, preconditioning, eps)
    return x.T if transposed else x


def _explicit_sharding(x):
    """The spec of `x` when it is sharded in its type (on an Explicit mesh axis), else None."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    axis_types = getattr(getattr(sharding, "mesh", None), "axis_types", ())
    explicit = any(t == jax.sharding.AxisType.Explicit for t in axis_types)
    if explicit and any(axis is not None for axis in sharding.spec):
        return sharding.spec
    return None


def _orthogonalize_leaf(where, x, dims, coeffs, preconditioning, eps, eps_floor=False):
    """Each matrix of `x` orthogonalised. With the sharding in the types (Explicit axes), the
    matrix is gathered first, since X X^H of a row-sharded X cannot be sharded on both axes,
    and the result is sharded back like `x`."""
    spec = _explicit_sharding(x)
    if spec is not None:
        replicated = jax.sharding.PartitionSpec()
        x = jax.sharding.reshard(x, replicated)
        out = _orthogonalize_leaf(where, x, dims, coeffs, preconditioning, eps, eps_floor)
        return jax.sharding.reshard(out, spec)
    batch, reduction, output = _matrix_axes(where, x, dims)
    order = batch + reduction + output
    sizes = [tuple(x.shape[a] for a in axes) for axes in (batch, reduction, output)]
    flat = jnp.transpose(x, order).reshape([math.prod(s) for s in sizes])
    ortho = jax.vmap(lambda m: orthogonalize(m, coeffs, preconditioning, eps, eps_floor))(flat)
    inverse = sorted(range(x.ndim), key=order.__getitem__)
    return jnp.transpose(ortho.reshape(sizes[0] + sizes[1] + sizes[2]), inverse)


class ScaleByMuonState(NamedTuple):
    """State of `scale_by_muon`."""

    count: jax.Array  # shape (), int32: the step t
    mu: Updates  # m_t, the momentum


def scale_by_muon(
    ns_coeffs: Sequence[ArrayLike] | Sequence[Sequence[ArrayLike]] = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
    debias: bool = True,
    heavy_ball: bool = False,
    eps_floor: bool = False,
) -> GradientTransformation:
    r"""Replace each matrix's momentum by a near-orthogonal matrix with the same singular vectors.

    $$m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad
    \hat m_t = \frac{m_t}{1-\beta^t} \ \text{ or, with Nesterov, } \
    \hat m_t = \beta \frac{m_t}{1-\beta^{t+1}} + (1-\beta) \frac{g_t}{1-\beta^t},
    \\ X_0 = \hat m_t / (\|\hat m_t\|_F + \epsilon), \qquad
    X_{i+1} = a_i X_i + (b_i A_i + c_i A_i^2) X_i, \ A_i = X_i X_i^H, \qquad u_t = X_n$$

    computed on the wide orientation of each matrix ($X$ transposed when it has more rows than
    columns). $X_n \approx U S' V^\top$ where $\hat m_t = U S V^\top$ and $S'$ is near 1. With
    `adaptive`, $u_t = \langle \hat m_t, X_n \rangle X_n$.

    Framework conventions: without `debias` (torch), $\hat m_t = m_t$, or with Nesterov
    $\hat m_t = \beta m_t + (1-\beta) g_t$; with `heavy_ball` (Keras), $m_t = \beta m_{t-1} + g_t$
    and $\hat m_t = m_t$, or with Nesterov $\hat m_t = g_t + \beta m_t$; with `eps_floor`
    (torch), $X_0 = \hat m_t / \max(\|\hat m_t\|_F, \epsilon)$. The iteration is invariant
    to the scale of $\hat m_t$ except through $\epsilon$, so these matter where
    $\|\hat m_t\|$ is not large against $\epsilon$.

    Args:
        ns_coeffs: $(a, b, c)$ for every step, or one row $(a_i, b_i, c_i)$ per step.
        ns_steps: $n$, the number of steps; ignored when `ns_coeffs` has one row per step.
        beta: $\beta$, in [0, 1).
        eps: $\epsilon$, in the normalisation before the first step.
        mu_dtype: dtype in which $m_t$ is stored; the params' dtype by default.
        nesterov: use the look-ahead $\hat m_t$.
        adaptive: scale by the dual norm $\langle \hat m_t, X_n \rangle$ (Bernstein & Newhouse).
        preconditioning: how $X_0$ is normalised: "frobenius" (above), "spectral" (by
            $\|\hat m_t\|_2$), "aol" (row sums of $|A_0|$) or "schatten" ($\|A_0\|_F$), the last
            two in the first step.
        weight_dimension_numbers: None (every leaf a matrix), a tree of `MuonDimensionNumbers`
            over the params (None for a leaf that is not: its update passes unchanged, and its
            momentum is kept but unused), or a function of the updates giving one.
        debias: divide the average by $1-\beta^t$ (Optax); False for torch's raw average.
        heavy_ball: sum instead of average, $m_t = \beta m_{t-1} + g_t$ (Keras); needs
            `debias=False`.
        eps_floor: normalise by $\max(\|\hat m_t\|, \epsilon)$ instead of
            $\|\hat m_t\| + \epsilon$ (torch).

    Returns:
        A transformation with state `ScaleByMuonState(count, mu)`.

    References:
        Jordan et al., "Muon: An optimizer for hidden layers in neural networks", blog post,
        2024 (the quintic iteration and its coefficients). Bernstein & Newhouse, "Old Optimizer,
        New Norm: An Anthology", arXiv:2409.20325, 2024 (`adaptive`). Boissin et al.,
        arXiv:2512.04632, 2025 ("aol"); Grishina et al., arXiv:2506.10935, 2025 ("schatten");
        Ahn et al., "Dion", arXiv:2504.05295, 2025 (the "dion" table of `muon`).

    Note:
        Arithmetic is in float32 or wider. With one row of coefficients per step, gradtx runs
        every row; Optax 0.2.8 raises "Not enough coeffs" when there are more rows than
        `ns_steps` (e.g. `muon(..., ns_coeffs="dion", ns_steps=3)`). "aol" and "schatten" use
        `eps` where Optax uses a fixed $10^{-8}$. Optax's state also holds the coefficients.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.scale_by_muon(), gradtx.scale_by_learning_rate(0.02))
    """
    where = "scale_by_muon"
    _validate.check_interval(where, beta=beta)
    _validate.check_non_negative(where, eps=eps)
    _validate.check_int(where, 1, ns_steps=ns_steps)
    _validate.check_dtype(where, "mu_dtype", mu_dtype)
    if heavy_ball and debias:
        _validate._fail(
            where,
            "debias",
            debias,
            "False with heavy_ball=True (m_t = beta m_(t-1) + g_t is a sum, not an average "
            "with a bias to correct); pass debias=False",
        )
    if preconditioning not in PRECONDITIONINGS:
        _validate._fail(where, "preconditioning", preconditioning, f"one of {PRECONDITIONINGS}")
    try:  # a ragged list or a string entry raises here
        coeffs = np.asarray(ns_coeffs, np.float64)
    except (TypeError, ValueError):
        coeffs = np.zeros(0)
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        _validate._fail(where, "ns_coeffs", ns_coeffs, "(a, b, c) or one (a, b, c) per step")
    if not np.all(np.isfinite(coeffs)):
        _validate._fail(where, "ns_coeffs", ns_coeffs, "finite numbers")
    table = np.atleast_2d(coeffs).tolist()
    if coeffs.ndim == 1:
        table = table * ns_steps

    def init(params):
        return ScaleByMuonState(_tree.zero_count(), _tree.zeros_like(params, mu_dtype))

    def moments(g, s, h):
        return s._replace(mu=g + h.beta * s.mu if heavy_ball else _tree.ema(g, s.mu, h.beta))

    def direction(g, s, h):
        dt = g.dtype
        if heavy_ball:
            return g + h.beta * s.mu if nesterov else s.mu
        if not debias:
            return _tree.ema(g, s.mu, h.beta) if nesterov else s.mu
        if not nesterov:
            return s.mu / _tree.bias_correction(h.beta, h.count, dt)
        ahead = s.mu / _tree.bias_correction(h.beta, h.count.astype(dt) + 1, dt)
        return h.beta * ahead + (1 - h.beta) * (g / _tree.bias_correction(h.beta, h.count, dt))

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        m_hat, state = _tree.lift(
            where,
            (moments, direction),
            updates,
            state,
            direction_dtype="compute",
            count=count,
            beta=beta,
        )
        leaves, treedef = jax.tree.flatten(m_hat)
        dims = per_leaf_dims(where, weight_dimension_numbers, updates)
        out = []
        for m, d, g in zip(leaves, dims, jax.tree.leaves(updates), strict=True):
            if d is None:
                out.append(g)
                continue
            coeffs, eps_ = jnp.asarray(table, m.dtype), jnp.asarray(eps, m.dtype)
            x = _orthogonalize_leaf(where, m, d, coeffs, preconditioning, eps_, eps_floor)
            if adaptive:
                x = jnp.sum(jnp.real(jnp.conj(m) * x)) * x
            out.append(x.astype(jnp.result_type(g)))
        return treedef.unflatten(out), state._replace(count=count)

    # Compiled, so that an eager update is the program a jitted one is: the iteration amplifies
    # an ulp of difference in m_hat (a fused multiply-add under jit) some hundredfold.
    return compiled(transformation(init, update))


def scale_by_shape(
    weight_dimension_numbers: Any = None, consistent_rms: ArrayLike | None = None
) -> GradientTransformation:
    r"""Scale each matrix's updates by a factor of its shape, $n_{in} \times n_{out}$.

    $$u_t = \sqrt{\max(1, n_{out} / n_{in})}\, g_t \quad \text{(width transfer)}, \qquad
    u_t = \rho \sqrt{\max(n_{in}, n_{out})}\, g_t \quad \text{(consistent RMS } \rho)$$

    Args:
        weight_dimension_numbers: as in `scale_by_muon`; $n_{in}$ is the size of the
            reduction axes, $n_{out}$ of the output axes.
        consistent_rms: $\rho$; None for the width-transfer factor.

    Returns:
        A stateless transformation.

    References:
        Jordan, github.com/KellerJordan/Muon (width transfer); Liu et al., "Muon is Scalable for
        LLM Training", arXiv:2502.16982, 2025 (consistent RMS, $\rho = 0.2$ to match AdamW).

    Example:
        >>> import gradtx
        >>> tx = gradtx.scale_by_shape(consistent_rms=0.2)
    """
    where = "scale_by_shape"
    if consistent_rms is not None:
        _validate.check_non_negative(where, consistent_rms=consistent_rms)

    def update(updates, state, params=None):
        del params
        leaves, treedef = jax.tree.flatten(updates)
        dims = per_leaf_dims(where, weight_dimension_numbers, updates)
        out = []
        for g, d in zip(leaves, dims, strict=True):
            if d is None:
                out.append(g)
                continue
            fan_in, fan_out = _fans(where, jnp.asarray(g), d)
            if consistent_rms is None:
                factor = jnp.asarray(math.sqrt(max(1, fan_out / fan_in)) if fan_in else 1.0)
            else:
                factor = math.sqrt(max(fan_in, fan_out)) * jnp.asarray(consistent_rms)
            wide = _tree.compute_dtype(g)
            out.append((factor.astype(wide) * jnp.asarray(g, wide)).astype(jnp.result_type(g)))
        return treedef.unflatten(out), state

    return transformation(init_empty_state, update)
