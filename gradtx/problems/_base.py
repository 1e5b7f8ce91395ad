"""The `Problem` record: a loss to minimise, where to start, and what counts as solved.

Every problem is trained the same way. A loop calls `problem.value_and_grad(params, key)`; a
deterministic problem ignores the key, a stochastic one uses it to draw a minibatch
(`batch_loss`) or to corrupt the gradient (`grad_noise`). Progress is always reported with the
full, noise-free `problem.loss(params)`.

Two optional fields express online convex optimisation (Reddi et al. 2018): an online problem
reveals a different loss `online_loss(params, t)` at each step t and is called with the step
number in place of the key, and a constrained problem has a feasible set with a Euclidean
projection `project`, which the loop applies after each update
(`gradtx.training.descend(..., project=problem.project)`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Params = Any  # a pytree of arrays; a 2-D landscape uses one array of shape (2,)
Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A challenge for gradient descent.

    Attributes:
        name: the registry name, e.g. "ravine".
        description: one paragraph: what goes wrong for plain gradient descent here and what
            the literature says helps (shown in the HTML report).
        loss: `loss(params) -> scalar`, the full noise-free objective f. Reported in races.
        start: the starting params (arrays in the default float dtype when the problem was
            built; build inside `jax.enable_x64(True)` for float64).
        tolerance: a run has reached the optimum when `loss - optimum_value <= tolerance`, or,
            with no known `optimum_value`, when `loss <= tolerance`.
        optimum: a global minimiser, or None when unknown.
        optimum_value: f at the optimum, or None when unknown.
        other_optima: further global minimisers (Himmelblau has four).
        bounds: ((xmin, xmax), (ymin, ymax)) for contour plots of a 2-D landscape, else None.
        batch_loss: `batch_loss(params, key) -> scalar`, an unbiased minibatch estimate of f
            whose gradient a stochastic loop follows; None for full-batch problems.
        grad_noise: `grad_noise(grads, key) -> grads`, zero-mean noise added to the gradient.
        sample_start: `sample_start(key) -> params`, a random initialisation (networks).
        metrics: `metrics(params) -> dict` of extra scalars for `evaluate` (accuracies).
        online_loss: `online_loss(params, t) -> scalar`, the loss $f_t$ revealed at step
            t = 0, 1, ... of an online problem; `value_and_grad(params, t)` then takes the step
            number t in place of a key, and `loss` is the average loss the regret compares with.
        project: `project(params) -> params`, the Euclidean projection onto the feasible set of a
            constrained problem (a loop sets theta_{t+1} = Pi(theta_t + u_t)); None when
            unconstrained.
    """

    name: str
    description: str
    loss: Callable[[Params], jax.Array]
    start: Params
    tolerance: float
    optimum: Params | None = None
    optimum_value: float | None = None
    other_optima: tuple[Params, ...] = ()
    bounds: Bounds | None = None
    batch_loss: Callable[[Params, jax.Array], jax.Array] | None = None
    grad_noise: Callable[[Params, jax.Array], Params] | None = None
    sample_start: Callable[[jax.Array], Params] | None = None
    metrics: Callable[[Params], dict[str, jax.Array]] | None = None
    online_loss: Callable[[Params, jax.Array], jax.Array] | None = None
    project: Callable[[Params], Params] | None = None

    @property
    def dim(self) -> int:
        """The number of scalar parameters."""
        return sum(math.prod(jnp.shape(leaf)) for leaf in jax.tree.leaves(self.start))

    @property
    def stochastic(self) -> bool:
        """Whether `value_and_grad` needs a PRNG key."""
        return self.batch_loss is not None or self.grad_noise is not None

    @property
    def online(self) -> bool:
        """Whether `value_and_grad` takes the step number t (an online problem)."""
        return self.online_loss is not None

    def init_params(self, key: jax.Array | None = None) -> Params:
        """`sample_start(key)` when both exist, else the fixed `start`."""
        if key is not None and self.sample_start is not None:
            return self.sample_start(key)
        return self.start

    def value_and_grad(
        self, params: Params, key: jax.Array | None = None
    ) -> tuple[jax.Array, Params]:
        """The value and gradient one training step sees.

        Deterministic problems return (f(params), grad f(params)) and ignore `key`. Stochastic
        ones return the minibatch value and gradient drawn with `key`, plus `grad_noise` if any;
        the noisy-gradient problem reports the noise-free value. Online problems return
        (f_t(params), grad f_t(params)) for the step number t passed as `key`. Pure and jit-able.
        """
        if self.online_loss is not None:
            if key is None:
                raise ValueError(
                    f"Problem {self.name!r} is online and needs the step number t: "
                    "call problem.value_and_grad(params, t), e.g. with t = jnp.arange(steps)[i]."
                )
            return jax.value_and_grad(self.online_loss)(params, key)
        if not self.stochastic:
            return jax.value_and_grad(self.loss)(params)
        if key is None:
            raise ValueError(
                f"Problem {self.name!r} is stochastic and needs a PRNG key: "
                "call problem.value_and_grad(params, jax.random.key(0))."
            )
        batch_key, noise_key = jax.random.split(key)
        if self.batch_loss is None:
            value, grads = jax.value_and_grad(self.loss)(params)
        else:
            value, grads = jax.value_and_grad(self.batch_loss)(params, batch_key)
        if self.grad_noise is not None:
            grads = self.grad_noise(grads, noise_key)
        return value, grads

    @property
    def optima(self) -> tuple[Params, ...]:
        """All known global minimisers: `optimum` then `other_optima`."""
        return () if self.optimum is None else (self.optimum, *self.other_optima)

    def distance_to_optimum(self, params: Params) -> jax.Array:
        """The Euclidean distance ||params - x*|| to the nearest known global minimiser."""
        if self.optimum is None:
            raise ValueError(
                f"Problem {self.name!r} has no known optimum (optimum is None); "
                "compare losses instead, e.g. problem.evaluate(params)."
            )
        return jnp.min(jnp.stack([_distance(params, x) for x in self.optima]))

    def reached(self, params: Params) -> jax.Array:
        """Whether the loss is within `tolerance` of the optimum (see `tolerance`)."""
        floor = 0.0 if self.optimum_value is None else self.optimum_value
        target = floor + self.tolerance
        return self.loss(params) <= target

    def evaluate(self, params: Params) -> dict[str, jax.Array]:
        """Scalars for a report: `loss`, `distance_to_optimum` when known, then `metrics`."""
        out = {"loss": self.loss(params)}
        if self.optimum is not None:
            out["distance_to_optimum"] = self.distance_to_optimum(params)
        if self.metrics is not None:
            out.update(self.metrics(params))
        return out


def _distance(a: Params, b: Params) -> jax.Array:
    squares = jax.tree.map(lambda x, y: jnp.sum((x - jnp.asarray(y, x.dtype)) ** 2), a, b)
    return jnp.sqrt(sum(jax.tree.leaves(squares)))
