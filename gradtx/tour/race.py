"""The race engine: run optimizers side by side on a challenge problem.

Each optimizer's whole run is one jitted `gradtx.training.descend`, the library's one training
scan. The learning rate and the PRNG key are arguments of the compiled function, not constants
baked into it, so one compilation serves every learning rate and seed, and `vmap` sweeps them
(`run_batch`). Step t's gradient is `problem.value_and_grad(params, jax.random.fold_in(key, t))`
(gradient noise or a minibatch), and `descend`'s `record` logs the full loss (and the iterates of
a 2-D landscape).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import training
from gradtx.problems import Problem
from gradtx.tour.menu import OPTIMIZERS


@dataclasses.dataclass(frozen=True)
class Entrant:
    """One runner: a named optimizer and its learning rate.

    `build(learning_rate) -> GradientTransformation` defaults to the menu's
    `OPTIMIZERS[optimizer].build`; pass your own to race any chain, e.g.
    `Entrant("adam-b1=0.5", 0.1, lambda lr: gradtx.adam(lr, b1=0.5))`. It must accept a traced
    learning rate.
    """

    optimizer: str
    learning_rate: float
    build: Callable[[Any], gradtx.GradientTransformation] | None = None

    def optimizer_at(self, learning_rate: Any) -> gradtx.GradientTransformation:
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
    r"""The loss at or below which `problem` counts as solved, as in `Problem.reached`.

    Args:
        problem: the challenge.

    Returns:
        $f^* + \text{tol}$, with $f^* = 0$ where the optimum value is unknown.
    """
    floor = 0.0 if problem.optimum_value is None else problem.optimum_value
    return floor + problem.tolerance


def first_reached(losses: np.ndarray, problem: Problem, log_every: int = 1) -> int | None:
    """The first step whose logged loss is within tolerance.

    Args:
        losses: the logged losses, `losses[i]` after `i * log_every` steps.
        problem: the challenge, for its `target`.
        log_every: steps between two logged losses.

    Returns:
        The step, or None if no logged loss reached the target (NaN never counts).
    """
    hits = np.flatnonzero(np.asarray(losses) <= target(problem))
    return None if hits.size == 0 else int(hits[0]) * log_every


def _dtype(problem: Problem) -> Any:
    return jnp.result_type(*jax.tree.leaves(problem.start))


def make_run(
    problem: Problem, entrant: Entrant, steps: int, *, log_every: int = 1
) -> Callable[[Any, jax.Array, jax.Array], tuple[Any, jax.Array, Any]]:
    r"""An unjitted `run(params, learning_rate, key) -> (params, losses, path)`.

    Step $t$ draws its gradient $g_t$ from `problem.value_and_grad(params,
    jax.random.fold_in(key, t))` (deterministic problems ignore the key) and applies
    $(u_t, s_t) = T_\eta(g_t, s_{t-1}, \theta_t)$, $\theta_{t+1} = \theta_t + u_t$, where
    $T_\eta$ is the entrant's optimizer at learning rate $\eta$: one `gradtx.training.descend`.

    Args:
        problem: the challenge.
        entrant: the optimizer; built inside `run`, so `learning_rate` may be traced.
        steps: steps to run, a multiple of `log_every`.
        log_every: steps between two logged losses.

    Returns:
        `run`, which returns the final params, the full noise-free loss before the first step
        and every `log_every` steps after it (shape `(steps // log_every + 1,)`), and every
        iterate of a 2-D landscape (shape `(steps + 1, 2)`; None for other problems). A 2-D
        landscape records its loss with every iterate, then keeps every `log_every`-th.

    Raises:
        ValueError: if `steps` is not a multiple of `log_every`.
    """
    if steps % log_every:
        raise ValueError(f"steps ({steps}) must be a multiple of log_every ({log_every})")
    keep_path = problem.bounds is not None
    record_every = 1 if keep_path else log_every

    def record(params):
        return problem.loss(params), (params if keep_path else None)

    def body(params, learning_rate, key):
        optimizer = entrant.optimizer_at(learning_rate)
        keys = jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(steps))
        final, _, _, (losses, path) = training.descend(
            problem.value_and_grad,
            params,
            optimizer.init(params),
            keys,
            optimizer,
            record=record,
            log_every=record_every,
        )
        return final, losses[:: log_every // record_every], path

    return body


def run(
    problem: Problem, entrant: Entrant, steps: int, *, seed: int = 0, log_every: int = 1
) -> RunResult:
    """Race one entrant: compile its scan, run it, and time both.

    Args:
        problem: the challenge.
        entrant: the optimizer and its learning rate.
        steps: steps to run, a multiple of `log_every`.
        seed: the start is `problem.init_params(jax.random.key(seed))` (the fixed `start` of a
            landscape) and the gradient noise uses `jax.random.fold_in(jax.random.key(seed), 1)`.
        log_every: steps between two logged losses.

    Returns:
        The `RunResult`, with compile and run times in seconds.
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
    """Run every entrant on `problem` from the same start with the same gradient noise.

    Args:
        problem: the challenge.
        entrants: the optimizers and their learning rates.
        steps: steps to run, a multiple of `log_every`.
        seed: the seed of the start and the noise, as in `run`.
        log_every: steps between two logged losses.
        progress: called with each entrant before its run starts.

    Returns:
        One `RunResult` an entrant, in order.
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

    Args:
        problem: the challenge.
        entrant: the optimizer.
        steps: steps to run, a multiple of `log_every`.
        seeds: each draws its own start (`problem.init_params`) and gradient noise, as in `run`.
        learning_rates: the rates to sweep; defaults to the entrant's own.
        log_every: steps between two logged losses.

    Returns:
        The logged losses, of shape `(len(seeds), len(learning_rates), steps // log_every + 1)`,
        and `problem.evaluate` at the final params, each of shape
        `(len(seeds), len(learning_rates))`.
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
