"""The race engine: run optimizers side by side on a challenge problem.

Each optimizer's whole run is one jitted `lax.scan`. The learning rate and the PRNG key are
arguments of the compiled function, not constants baked into it, so one compilation serves every
learning rate and seed, and `vmap` sweeps them (`run_batch`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx._base import GradientTransformation, apply_updates
from gradtx.problems import Problem


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """A named optimizer of the race menu: `build(learning_rate)` and its default rate."""

    name: str
    build: Callable[..., GradientTransformation]
    learning_rate: float
    description: str
    requires: str = ""  # a gradtx attribute the optimizer needs; empty when always available

    @property
    def available(self) -> bool:
        """Whether this gradtx exports what the optimizer needs."""
        return not self.requires or hasattr(gradtx, self.requires)


def _swats(learning_rate):
    return gradtx.swats(learning_rate)  # resolved at run time: swats may land later


def _sgd_clip(learning_rate):
    return gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.sgd(learning_rate))


_MENU = (
    OptimizerSpec("sgd", gradtx.sgd, 0.01, "plain gradient descent, u = -lr g"),
    OptimizerSpec(
        "momentum",
        lambda lr: gradtx.sgd(lr, momentum=0.9),
        0.01,
        "heavy-ball momentum 0.9 (Polyak 1964)",
    ),
    OptimizerSpec(
        "nesterov",
        lambda lr: gradtx.sgd(lr, momentum=0.9, nesterov=True),
        0.01,
        "Nesterov momentum 0.9 (Nesterov 1983; Sutskever et al. 2013)",
    ),
    OptimizerSpec("adagrad", gradtx.adagrad, 0.1, "per-coordinate 1/sqrt(sum g^2) (Duchi 2011)"),
    OptimizerSpec(
        "adadelta", gradtx.adadelta, 1.0, "unit-corrected RMS ratio; lr 1 is Zeiler's rule (2012)"
    ),
    OptimizerSpec("rmsprop", gradtx.rmsprop, 1e-3, "divide by a running RMS of g (Hinton 2012)"),
    OptimizerSpec("adam", gradtx.adam, 1e-3, "bias-corrected moments (Kingma & Ba 2015)"),
    OptimizerSpec("adamax", gradtx.adamax, 2e-3, "Adam with an infinity-norm scale (Kingma & Ba)"),
    OptimizerSpec("nadam", gradtx.nadam, 1e-3, "Adam with Nesterov momentum (Dozat 2016)"),
    OptimizerSpec("amsgrad", gradtx.amsgrad, 1e-3, "Adam with a non-decreasing v (Reddi 2018)"),
    OptimizerSpec(
        "adabound", gradtx.adabound, 1e-3, "Adam's rate clipped into a band -> final_lr (Luo 2019)"
    ),
    OptimizerSpec("amsbound", gradtx.amsbound, 1e-3, "AMSGrad with AdaBound's band (Luo 2019)"),
    OptimizerSpec(
        "swats", _swats, 1e-3, "Adam, then SGD at a learned rate (Keskar & Socher 2017)", "swats"
    ),
    OptimizerSpec(
        "sgd+clip",
        _sgd_clip,
        0.01,
        "gradient clipped to global norm 1, then SGD (Pascanu et al. 2013)",
        "clip_by_global_norm",
    ),
)
OPTIMIZERS: dict[str, OptimizerSpec] = {spec.name: spec for spec in _MENU}


@dataclasses.dataclass(frozen=True)
class Entrant:
    """One runner: a named optimizer and its learning rate.

    `build(learning_rate) -> GradientTransformation` defaults to `OPTIMIZERS[optimizer].build`;
    pass your own to race any chain, e.g. `Entrant("adam-b1=0.5", 0.1, lambda lr:
    gradtx.adam(lr, b1=0.5))`. It must accept a traced learning rate.
    """

    optimizer: str
    learning_rate: float
    build: Callable[[Any], GradientTransformation] | None = None

    def optimizer_at(self, learning_rate: Any) -> GradientTransformation:
        """The optimizer at `learning_rate` (a float or a traced array)."""
        build = self.build or OPTIMIZERS[self.optimizer].build
        return build(learning_rate)


class RunResult(NamedTuple):
    """One optimizer's run. `losses[i]` is the full loss after `i * log_every` steps."""

    entrant: Entrant
    losses: np.ndarray  # shape (records + 1,)
    path: np.ndarray | None  # shape (steps + 1, 2) for a 2-D landscape, else None
    final: dict[str, float]  # problem.evaluate at the last params
    reached_at: int | None  # the first logged step within tolerance, or None
    compile_s: float
    run_s: float


def target(problem: Problem) -> float:
    """The loss at or below which `problem` counts as solved (as `Problem.reached`)."""
    floor = 0.0 if problem.optimum_value is None else problem.optimum_value
    return floor + problem.tolerance


def first_reached(losses: np.ndarray, problem: Problem, log_every: int = 1) -> int | None:
    """The first step whose logged loss is within tolerance, or None (NaN never counts)."""
    hits = np.flatnonzero(np.asarray(losses) <= target(problem))
    return None if hits.size == 0 else int(hits[0]) * log_every


def _dtype(problem: Problem) -> Any:
    return jnp.result_type(*jax.tree.leaves(problem.start))


def make_run(
    problem: Problem, entrant: Entrant, steps: int, *, log_every: int = 1
) -> Callable[[Any, jax.Array, jax.Array], tuple[Any, jax.Array, Any]]:
    """An unjitted `run(params, learning_rate, key) -> (params, losses, path)` for `steps` steps.

    Step t draws its gradient with `jax.random.fold_in(key, t)` (ignored by deterministic
    problems). The full, noise-free loss is logged before the first step and every `log_every`
    steps; `path` holds every iterate of a 2-D landscape (None otherwise).
    """
    if steps % log_every:
        raise ValueError(f"steps ({steps}) must be a multiple of log_every ({log_every})")
    keep_path = problem.bounds is not None

    def body(params, learning_rate, key):
        optimizer = entrant.optimizer_at(learning_rate)

        def step(carry, t):
            params, state = carry
            _, grads = problem.value_and_grad(params, jax.random.fold_in(key, t))
            updates, state = optimizer.update(grads, state, params)
            params = apply_updates(params, updates)
            return (params, state), (params if keep_path else None)

        def chunk(carry, t0):
            carry, path = jax.lax.scan(step, carry, t0 + jnp.arange(log_every))
            return carry, (problem.loss(carry[0]), path)

        starts = jnp.arange(0, steps, log_every)
        (final, _), (losses, path) = jax.lax.scan(chunk, (params, optimizer.init(params)), starts)
        losses = jnp.concatenate([problem.loss(params)[None], losses])
        if keep_path:
            path = jnp.concatenate([params[None], path.reshape(steps, -1)])
        return final, losses, path

    return body


def run(
    problem: Problem, entrant: Entrant, steps: int, *, seed: int = 0, log_every: int = 1
) -> RunResult:
    """Race one entrant: compile its scan, run it, and time both.

    The start is `problem.init_params(jax.random.key(seed))` (the fixed `start` for landscapes)
    and the gradient noise uses `jax.random.fold_in(jax.random.key(seed), 1)`.
    """
    key = jax.random.key(seed)
    params = problem.init_params(key)
    learning_rate = jnp.asarray(entrant.learning_rate, _dtype(problem))
    args = (params, learning_rate, jax.random.fold_in(key, 1))
    body = make_run(problem, entrant, steps, log_every=log_every)

    def evaluated(*args):
        final, losses, path = body(*args)
        return problem.evaluate(final), losses, path

    tic = time.perf_counter()
    compiled = jax.jit(evaluated).lower(*args).compile()
    toc = time.perf_counter()
    final, losses, path = jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - toc
    losses = np.asarray(losses)
    return RunResult(
        entrant=entrant,
        losses=losses,
        path=None if path is None else np.asarray(path),
        final={k: float(v) for k, v in final.items()},
        reached_at=first_reached(losses, problem, log_every),
        compile_s=toc - tic,
        run_s=run_s,
    )


def race(
    problem: Problem,
    entrants: Sequence[Entrant],
    steps: int,
    *,
    seed: int = 0,
    log_every: int = 1,
    progress: Callable[[Entrant], None] | None = None,
) -> list[RunResult]:
    """Run every entrant on `problem` for `steps` steps from the same start and seed.

    `progress(entrant)` is called before each run starts.
    """
    results = []
    for entrant in entrants:
        if progress is not None:
            progress(entrant)
        results.append(run(problem, entrant, steps, seed=seed, log_every=log_every))
    return results


def run_batch(
    problem: Problem,
    entrant: Entrant,
    steps: int,
    *,
    seeds: Sequence[int] = (0,),
    learning_rates: Sequence[float] | None = None,
    log_every: int = 1,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run one entrant for every (seed, learning rate) pair at once, vmapped: one compilation.

    Each seed draws its own start (`problem.init_params`) and gradient noise. Returns the logged
    losses of shape (len(seeds), len(learning_rates), records + 1) and `problem.evaluate` at the
    final params, each of shape (len(seeds), len(learning_rates)). `learning_rates` defaults to
    the entrant's own.
    """
    rates = [entrant.learning_rate] if learning_rates is None else list(learning_rates)
    body = make_run(problem, entrant, steps, log_every=log_every)

    def one(key, learning_rate):
        final, losses, _ = body(problem.init_params(key), learning_rate, jax.random.fold_in(key, 1))
        return losses, problem.evaluate(final)

    over_rates = jax.vmap(one, in_axes=(None, 0))
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    losses, final = jax.jit(jax.vmap(over_rates, in_axes=(0, None)))(
        keys, jnp.asarray(rates, _dtype(problem))
    )
    return np.asarray(losses), {k: np.asarray(v) for k, v in final.items()}
