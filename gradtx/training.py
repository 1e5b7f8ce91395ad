"""Gradient descent loops: `descend`, the one compiled scan, and `fit`, which feeds it batches."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import tree_flatten_with_path

from gradtx import _step, _tree
from gradtx._base import GradientTransformation, OptState, Params, Updates

LAST_BATCH_POLICIES = ("drop", "smaller", "wrap")


class DescentResult(NamedTuple):
    """What `descend` returns; unpacks as `params, opt_state, values, records = descend(...)`."""

    params: Params  # theta_S, the parameters after the last step
    opt_state: OptState  # s_S, the optimizer state after the last step
    values: jax.Array  # shape (S,): f_t, the value returned with g_t, before step t's update
    records: Any  # record(theta_t) at t = 0, k, 2k, ..., S, stacked; None without `record`


def descend(
    value_and_grad: Callable[[Params, Any], tuple[jax.Array, Updates]],
    params: Params,
    opt_state: OptState,
    inputs: Any,
    optimizer: GradientTransformation,
    *,
    record: Callable[[Params], Any] | None = None,
    log_every: int = 1,
    project: Callable[[Params], Params] | None = None,
) -> DescentResult:
    r"""Run S steps of gradient descent with `optimizer`, as one `lax.scan`; unjitted and pure.

    Step t reads its slice $x_t$ of `inputs` (a key, a batch, the step number) and applies

    $$(f_t, g_t) = \mathrm{value\_and\_grad}(\theta_t, x_t), \qquad
    (u_t, s_t) = T(g_t, s_{t-1}, \theta_t), \qquad \theta_{t+1} = \theta_t + u_t$$

    for $t = 0, \dots, S-1$, where $S$ is the leading dimension of `inputs` (with `project`,
    $\theta_{t+1} = \Pi(\theta_t + u_t)$, projected steps onto a feasible set). With `record`, the
    scan runs in chunks of $k$ = `log_every` steps and calls `record` at $\theta_0$ and after
    each chunk, so an expensive measurement (the full-data loss, say) costs $S/k + 1$
    evaluations. Everything but `record`, `log_every` and the shapes may be traced: jit it, vmap
    it over learning rates (build `optimizer` inside from a traced rate) or over seeds.

    Args:
        value_and_grad: `value_and_grad(params, x_t) -> (f_t, g_t)`, e.g.
            `lambda p, key: jax.value_and_grad(loss)(p, batch(key))`; $f_t$ is returned in
            `values` and may be any scalar (a minibatch loss).
        params: the initial parameters $\theta_0$, a pytree of arrays.
        opt_state: the initial optimizer state $s_0$, usually `optimizer.init(params)`.
        inputs: a pytree of arrays whose leaves share their leading dimension S; step t gets
            `jax.tree.map(lambda x: x[t], inputs)`. Per-step keys are
            `jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(S))`.
        optimizer: the transformation T, e.g. `gradtx.sgd(0.1)`.
        record: `record(params) -> pytree of arrays`, measured at $\theta_0$ and every
            `log_every` steps; None records nothing.
        log_every: k, the steps between two records, >= 1; it must divide S when `record` is
            given.
        project: $\Pi$, `project(params) -> params`, applied after each update, e.g. a
            constrained problem's `problem.project`; None leaves the step unprojected.

    Returns:
        `DescentResult(params, opt_state, values, records)`: $\theta_S$, $s_S$, the values
        $f_0, \dots, f_{S-1}$ (shape `(S,)`), and `record`'s outputs at
        $\theta_0, \theta_k, \dots, \theta_S$ stacked along a new leading axis of length
        $S/k + 1$ (None without `record`).

    Raises:
        ValueError: if `inputs` has no arrays or leaves of different lengths, or if `log_every`
            is not an integer >= 1 that divides S.

    Example:
        >>> import functools, gradtx, gradtx.training, jax, jax.numpy as jnp
        >>> def value_and_grad(w, key):  # f(w) = w^2 / 2, with a noisy gradient
        ...     return 0.5 * w**2, w + 0.1 * jax.random.normal(key)
        >>> keys = jax.vmap(functools.partial(jax.random.fold_in, jax.random.key(0)))(
        ...     jnp.arange(100))
        >>> optimizer = gradtx.sgd(0.1)
        >>> w0 = jnp.array(1.0)
        >>> w, _, values, losses = gradtx.training.descend(
        ...     value_and_grad, w0, optimizer.init(w0), keys, optimizer,
        ...     record=lambda w: 0.5 * w**2, log_every=25)
        >>> values.shape, losses.shape, bool(losses[-1] < 0.01 * losses[0])
        ((100,), (5,), True)
    """
    steps = _leading_size(
        "descend", "inputs", inputs, "step", "e.g. jnp.arange(steps) when value_and_grad ignores it"
    )
    _check_log_every(steps, log_every, record)

    def step(carry, x):
        params, opt_state = carry
        value, grads = value_and_grad(params, x)
        params, opt_state = _step.step(optimizer, params, grads, opt_state)
        return (params if project is None else project(params), opt_state), value

    carry = (params, opt_state)
    if record is None:
        carry, values = jax.lax.scan(step, carry, inputs)
        return DescentResult(*carry, values, None)

    def chunk(carry, xs):
        carry, values = jax.lax.scan(step, carry, xs)
        return carry, (values, record(carry[0]))

    chunks = jax.tree.map(lambda x: x.reshape(steps // log_every, log_every, *x.shape[1:]), inputs)
    carry, (values, records) = jax.lax.scan(chunk, carry, chunks)
    records = jax.tree.map(
        lambda first, rest: jnp.concatenate([first[None], rest]), record(params), records
    )
    return DescentResult(*carry, values.reshape(steps), records)


def _check_log_every(steps: int, log_every: Any, record: Any) -> None:
    """Raise a ValueError unless `log_every` is an integer >= 1 dividing `steps` (with `record`)."""
    if not _is_int(log_every) or log_every < 1:
        raise ValueError(f"descend: log_every must be an integer >= 1, got {log_every!r}")
    if record is not None and steps % log_every:
        raise ValueError(
            f"descend: the number of steps ({steps}, the length of inputs) must be a multiple "
            f"of log_every ({log_every}), so that the last step is recorded"
        )


class FitResult(NamedTuple):
    """What `fit` returns; unpacks as `params, opt_state, losses = fit(...)`."""

    params: Params  # the parameters after the last step
    opt_state: OptState  # the optimizer state after the last step
    losses: jax.Array  # shape (epochs, steps per epoch): each step's batch loss, before its update


def fit(
    loss_fn: Callable[[Params, Any], jax.Array],
    params: Params,
    data: Any,
    optimizer: GradientTransformation,
    *,
    epochs: int,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    last_batch: str = "drop",
) -> FitResult:
    r"""Train by batch (`batch_size=None`), stochastic (1) or minibatch (k) gradient descent.

    Each step takes the gradient of the loss on one batch $B_t$ and hands it to `optimizer`:

    $$g_t = \nabla_\theta L(\theta_t; B_t), \qquad (u_t, s_t) = T(g_t, s_{t-1}, \theta_t),
    \qquad \theta_{t+1} = \theta_t + u_t$$

    where $L(\theta; B)$ is `loss_fn(params, batch)`, usually the mean loss over B's examples;
    with `gradtx.sgd(eta)` this is Robbins & Monro's iteration
    $\theta_{t+1} = \theta_t - \eta \frac{1}{|B_t|} \sum_{i \in B_t} \nabla \ell(\theta_t; z_i)$.
    With `batch_size=None`, $B_t$ is the whole dataset (batch gradient descent, one step an
    epoch); otherwise each epoch draws a fresh permutation of the n examples,
    `jax.random.permutation(jax.random.fold_in(key, epoch), n)`, and cuts it into consecutive
    batches of `batch_size` (stochastic gradient descent for 1, minibatch for k). The steps run
    through `descend`; the whole run is one `jax.jit` of a `lax.scan` over epochs around
    `descend`'s scan over batches, compiled once for a given `loss_fn`, `optimizer` (the same
    objects), schedule and data shape: another key, other initial parameters or other data of
    the same shape reuse it.

    When k does not divide n, the last $r = n \bmod k$ examples of a permutation are handled by
    `last_batch`:

    * `"drop"`: skipped for this epoch (other ones next epoch); $\lfloor n/k \rfloor$ steps an
      epoch.
    * `"smaller"`: one more step on a batch of r examples, so that each example is used once an
      epoch and the loss of that step is its own mean over r, not diluted (as `drop_last=False`
      in PyTorch; `loss_fn` is traced for two batch shapes).
    * `"wrap"`: the last batch is completed with the first k - r examples of the same
      permutation, which are then used twice that epoch; every batch has k examples.

    Args:
        loss_fn: `loss_fn(params, batch) -> scalar`, with `batch` shaped like `data` but with
            the batch's examples along the leading axis.
        params: the initial parameters $\theta_0$, a pytree of arrays.
        data: a pytree of arrays sharing their leading (example) dimension n.
        optimizer: the transformation T, e.g. `gradtx.sgd(0.1)`; its state starts at `init`.
        epochs: passes over the data, >= 1.
        batch_size: examples a step; None for the whole dataset, else in [1, n].
        key: a PRNG key for the shuffles; required unless `batch_size` is None.
        last_batch: `"drop"` (default), `"smaller"` or `"wrap"`, as above.

    Returns:
        `FitResult(params, opt_state, losses)`; `losses[e, i]` is the loss of step i of epoch e
        on its batch, at the parameters that step started from (returned by the same
        `jax.value_and_grad` call as the gradient, so it costs no extra evaluation).

    Raises:
        ValueError: naming the first invalid argument (or the leaf of `data` at fault).

    References:
        Robbins & Monro, "A Stochastic Approximation Method", Annals of Mathematical Statistics
        22(3), 1951. Ruder, "An overview of gradient descent optimization algorithms",
        arXiv:1609.04747, 2016, Section 2 (batch, stochastic and mini-batch gradient descent).

    Example:
        >>> import gradtx, gradtx.training, jax, jax.numpy as jnp
        >>> x = jnp.linspace(-1.0, 1.0, 32); data = {"x": x, "y": 3.0 * x}
        >>> loss = lambda w, b: jnp.mean((w * b["x"] - b["y"]) ** 2)
        >>> w, _, losses = gradtx.training.fit(loss, jnp.zeros(()), data, gradtx.sgd(0.5),
        ...                                    epochs=20, batch_size=8, key=jax.random.key(0))
        >>> losses.shape, bool(jnp.abs(w - 3.0) < 1e-3)
        ((20, 4), True)
    """
    n = _leading_size(
        "fit", "data", data, "example", "pass a pytree of arrays, e.g. {'x': x, 'y': y}"
    )
    if n == 0:
        raise ValueError("fit: data has no examples (its leading dimension is 0)")
    _check_schedule(n, epochs, batch_size, key, last_batch)
    params = jax.tree.map(_strong, params)
    opt_state = jax.tree.map(_strong, optimizer.init(params))
    static = {
        "loss_fn": loss_fn,
        "optimizer": optimizer,
        "epochs": epochs,
        "batch_size": batch_size,
        "last_batch": last_batch,
    }
    try:
        hash(tuple(static.values()))
    except TypeError:  # an unhashable loss or optimizer: compile for this call only
        return jax.jit(functools.partial(_loop, **static))(params, opt_state, data, key)
    return _compiled_loop(params, opt_state, data, key, **static)


def _loop(params, opt_state, data, key, *, loss_fn, optimizer, epochs, batch_size, last_batch):
    """`fit`'s schedule around `descend`, traced once per loss, optimizer, schedule and shape."""
    value_and_grad = jax.value_and_grad(loss_fn)
    if batch_size is None:  # one step an epoch, on the whole dataset
        params, opt_state, losses, _ = descend(
            lambda p, _: value_and_grad(p, data), params, opt_state, jnp.arange(epochs), optimizer
        )
        return FitResult(params, opt_state, losses[:, None])

    n = jax.tree.leaves(data)[0].shape[0]
    full, rest = divmod(n, batch_size)

    def batch_value_and_grad(params, index):
        return value_and_grad(params, jax.tree.map(lambda x: jnp.take(x, index, axis=0), data))

    def epoch(carry, e):
        perm = jax.random.permutation(jax.random.fold_in(key, e), n)
        if last_batch == "wrap" and rest:
            order = jnp.concatenate([perm, perm[: batch_size - rest]])
        else:
            order = perm[: full * batch_size]
        params, opt_state, losses, _ = descend(
            batch_value_and_grad, *carry, order.reshape(-1, batch_size), optimizer
        )
        if last_batch == "smaller" and rest:
            params, opt_state, loss, _ = descend(
                batch_value_and_grad, params, opt_state, perm[None, n - rest :], optimizer
            )
            losses = jnp.concatenate([losses, loss])
        return (params, opt_state), losses

    carry, losses = jax.lax.scan(epoch, (params, opt_state), jnp.arange(epochs))
    return FitResult(*carry, losses)


_compiled_loop = jax.jit(
    _loop, static_argnames=("loss_fn", "optimizer", "epochs", "batch_size", "last_batch")
)


def _strong(x: Any) -> jax.Array:
    """x as an array without a weak type (a Python float, say), so the scan carry keeps its type."""
    return jnp.asarray(x, jnp.result_type(x))


def _leading_size(caller: str, name: str, tree: Any, unit: str, hint: str) -> int:
    """The leading dimension shared by every leaf of `tree` (`name` to the `caller`'s user)."""
    leaves, _ = tree_flatten_with_path(tree)
    if not leaves:
        raise ValueError(f"{caller}: {name} has no arrays; {hint}")
    sizes = []
    for path, leaf in leaves:
        where = f"{name}{_tree.path_name(path)}" if path else name  # a root leaf is `name`
        shape = jnp.shape(leaf)
        if not shape:
            raise ValueError(
                f"{caller}: {where} is a scalar; every leaf of {name} needs a leading dimension "
                f"over the {unit}s"
            )
        sizes.append((where, shape[0]))
    (first, size), *others = sizes
    for where, other in others:
        if other != size:
            raise ValueError(
                f"{caller}: every leaf of {name} must have the same leading ({unit}) dimension, "
                f"but {where} has {other} rows, {first} {size}. Are the leaves indexed by "
                f"{unit} along axis 0?"
            )
    return size


def _check_schedule(n: int, epochs: Any, batch_size: Any, key: Any, last_batch: Any) -> None:
    """Raise a ValueError naming the first invalid argument of `fit`."""
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"fit: epochs must be an integer >= 1, got {epochs!r}")
    if last_batch not in LAST_BATCH_POLICIES:
        valid = ", ".join(repr(p) for p in LAST_BATCH_POLICIES)
        raise ValueError(f"fit: last_batch must be one of {valid}, got {last_batch!r}")
    if batch_size is None:
        return
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(
            f"fit: batch_size must be None (the whole dataset) or an integer >= 1, "
            f"got {batch_size!r}"
        )
    if batch_size > n:
        raise ValueError(
            f"fit: batch_size={batch_size} is larger than the dataset ({n} examples). "
            f"Use batch_size=None for batch gradient descent, or a batch size <= {n}."
        )
    if key is None:
        raise ValueError(
            "fit: minibatch and stochastic gradient descent shuffle the data every epoch and "
            "need a PRNG key, e.g. key=jax.random.key(0)"
        )


def _is_int(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return not isinstance(value, bool)
