"""The race engine: run optimizers side by side on a challenge problem.

Each optimizer's whole run is one jitted `gradtx.training.descend`, the library's one training
scan. The learning rate and the PRNG key are arguments of the compiled function, not constants
baked into it, so one compilation serves every learning rate and seed, and `vmap` sweeps them
(`run_batch`). Step t's gradient is `problem.value_and_grad(params, jax.random.fold_in(key, t))`
(gradient noise or a minibatch; an online problem gets the step number t instead, and a
constrained one has each step projected), and `descend`'s `record` logs the full loss (and the
iterates of a 1-D or 2-D problem).

A run that diverges (a logged loss that is not finite, or a final loss above the starting one)
never counts as having reached the tolerance, even if it passed through it on the way.
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


class Neighbour(NamedTuple):
    """The same run at another learning rate: what its result would have been."""

    learning_rate: float
    final: dict[str, float]  # problem.evaluate at the last params
    reached_at: int | None  # as in `RunResult`
    diverged_at: int | None  # as in `RunResult`


class RunResult(NamedTuple):
    """One optimizer's run. `losses[i]` is the full loss after `i * log_every` steps."""

    entrant: Entrant
    losses: np.ndarray  # shape (records + 1,)
    path: np.ndarray | None  # shape (steps + 1, dim) for a 1-D or 2-D problem, else None
    final: dict[str, float]  # problem.evaluate at the last params, and `switch`'s readings
    reached_at: int | None  # the first logged step within tolerance; None if never or diverged
    compile_s: float
    run_s: float
    diverged_at: int | None = None  # see `diverged_at`; None if the run did not diverge
    neighbours: tuple[Neighbour, ...] = ()  # the same run at other rates, if asked (`run`)
    log_every: int = 1  # steps between two logged losses


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


def diverged_at(losses: np.ndarray, log_every: int = 1) -> int | None:
    """The step from which a run has diverged, or None if it did not.

    A run diverged if its last logged loss is not finite or is above its first (the start's):
    it ended worse than it began. It diverged at the first logged step from which every logged
    loss is non-finite or above the start's.

    Args:
        losses: the logged losses, `losses[i]` after `i * log_every` steps.
        log_every: steps between two logged losses.

    Returns:
        The step, or None.
    """
    losses = np.asarray(losses, dtype=float)
    bad = ~np.isfinite(losses) | (losses > losses[0])
    if not bad[-1]:
        return None
    good = np.flatnonzero(~bad)
    return (int(good[-1]) + 1 if good.size else 0) * log_every


def reached(losses: np.ndarray, problem: Problem, log_every: int = 1) -> int | None:
    """`first_reached`, or None for a run that diverged (`diverged_at`): it did not stay."""
    if diverged_at(losses, log_every) is not None:
        return None
    return first_reached(losses, problem, log_every)


def switch(opt_state: Any, learning_rate: Any) -> dict[str, jax.Array]:
    """SWATS' switch from Adam to SGD (`gradtx.swats_switch`), if the state holds one.

    Args:
        opt_state: an optimizer's state.
        learning_rate: the optimizer's rate, which scales the learned SGD rate.

    Returns:
        `{"switch_step": k, "sgd_lr": r}` (k the last Adam step, 0 if it never switched; r the
        SGD phase's learning rate, 0 before), or {} for a state without a `ScaleBySwatsState`.
    """
    is_swats = lambda x: isinstance(x, gradtx.ScaleBySwatsState)
    if not any(map(is_swats, jax.tree.leaves(opt_state, is_leaf=is_swats))):
        return {}
    read = gradtx.swats_switch(opt_state, learning_rate)
    return {"switch_step": read.step, "sgd_lr": read.sgd_lr}


def keeps_path(problem: Problem) -> bool:
    """Whether a race records every iterate: for 2-D landscapes and 1-D problems."""
    return problem.bounds is not None or problem.dim == 1


def _dtype(problem: Problem) -> Any:
    return jnp.result_type(*jax.tree.leaves(problem.start))


def make_run(
    problem: Problem, entrant: Entrant, steps: int, *, log_every: int = 1
) -> Callable[[Any, jax.Array, jax.Array], tuple[Any, jax.Array, Any]]:
    r"""An unjitted `run(params, learning_rate, key) -> (params, losses, path, opt_state)`.

    Step $t$ draws its gradient $g_t$ from `problem.value_and_grad(params,
    jax.random.fold_in(key, t))` (deterministic problems ignore the key; an online problem is
    passed t itself) and applies $(u_t, s_t) = T_\eta(g_t, s_{t-1}, \theta_t)$,
    $\theta_{t+1} = \Pi(\theta_t + u_t)$, where $T_\eta$ is the entrant's optimizer at learning
    rate $\eta$ and $\Pi$ the problem's projection (the identity if it has none): one
    `gradtx.training.descend`.

    Args:
        problem: the challenge.
        entrant: the optimizer; built inside `run`, so `learning_rate` may be traced.
        steps: steps to run, a multiple of `log_every`.
        log_every: steps between two logged losses.

    Returns:
        `run`, which returns the final params and optimizer state (last), the full noise-free
        loss before the first step
        and every `log_every` steps after it (shape `(steps // log_every + 1,)`), and every
        iterate of a 1-D or 2-D problem (shape `(steps + 1, dim)`; None for other problems),
        which records its loss with every iterate, then keeps every `log_every`-th.

    Raises:
        ValueError: if `steps` is not a multiple of `log_every`.
    """
    if steps % log_every:
        raise ValueError(f"steps ({steps}) must be a multiple of log_every ({log_every})")
    keep_path = keeps_path(problem)
    record_every = 1 if keep_path else log_every

    def record(params):
        return problem.loss(params), (params if keep_path else None)

    def body(params, learning_rate, key):
        optimizer = entrant.optimizer_at(learning_rate)
        steps_t = jnp.arange(steps)
        keys = (
            steps_t
            if problem.online
            else jax.vmap(functools.partial(jax.random.fold_in, key))(steps_t)
        )
        final, state, _, (losses, path) = training.descend(
            problem.value_and_grad,
            params,
            optimizer.init(params),
            keys,
            optimizer,
            record=record,
            log_every=record_every,
            project=problem.project,
        )
        return final, losses[:: log_every // record_every], path, state

    return body


def run(
    problem: Problem,
    entrant: Entrant,
    steps: int,
    *,
    seed: int = 0,
    log_every: int = 1,
    neighbours: Sequence[float] = (),
) -> RunResult:
    """Race one entrant: compile its scan, run it, and time both.

    Args:
        problem: the challenge.
        entrant: the optimizer and its learning rate.
        steps: steps to run, a multiple of `log_every`.
        seed: the start is `problem.init_params(jax.random.key(seed))` (the fixed `start` of a
            landscape) and the gradient noise uses `jax.random.fold_in(jax.random.key(seed), 1)`.
        log_every: steps between two logged losses.
        neighbours: factors of the learning rate to run again with the same compiled program
            (no compilation; milliseconds), e.g. (0.5, 2.0) for the result at half and double
            the rate: the rate's sensitivity.

    Returns:
        The `RunResult`, with compile and run times in seconds (of the run at the entrant's
        rate only).
    """
    key = jax.random.key(seed)
    params = problem.init_params(key)
    dtype = _dtype(problem)
    args = (params, jnp.asarray(entrant.learning_rate, dtype), jax.random.fold_in(key, 1))
    body = make_run(problem, entrant, steps, log_every=log_every)

    def evaluated(*args):
        final, losses, path, state = body(*args)
        return {**problem.evaluate(final), **switch(state, args[1])}, losses, path

    tic = time.perf_counter()
    compiled = jax.jit(evaluated).lower(*args).compile()
    toc = time.perf_counter()
    final, losses, path = jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - toc
    losses = np.asarray(losses)
    others = []
    for factor in neighbours:
        rate = factor * entrant.learning_rate
        other, other_losses, _ = compiled(args[0], jnp.asarray(rate, dtype), args[2])
        other_losses = np.asarray(other_losses)
        others.append(
            Neighbour(
                rate,
                {k: float(v) for k, v in other.items()},
                reached(other_losses, problem, log_every),
                diverged_at(other_losses, log_every),
            )
        )
    return RunResult(
        entrant=entrant,
        losses=losses,
        path=None if path is None else np.asarray(path),
        final={k: float(v) for k, v in final.items()},
        reached_at=reached(losses, problem, log_every),
        compile_s=toc - tic,
        run_s=run_s,
        diverged_at=diverged_at(losses, log_every),
        neighbours=tuple(others),
        log_every=log_every,
    )


def race(
    problem: Problem,
    entrants: Sequence[Entrant],
    steps: int,
    *,
    seed: int = 0,
    log_every: int = 1,
    progress: Callable[[Entrant], None] | None = None,
    neighbours: Sequence[float] = (),
) -> list[RunResult]:
    """Run every entrant on `problem` from the same start with the same gradient noise.

    Args:
        problem: the challenge.
        entrants: the optimizers and their learning rates.
        steps: steps to run, a multiple of `log_every`.
        seed: the seed of the start and the noise, as in `run`.
        log_every: steps between two logged losses.
        progress: called with each entrant before its run starts.
        neighbours: factors of each entrant's rate to run again, as in `run`.

    Returns:
        One `RunResult` an entrant, in order.
    """
    results = []
    for entrant in entrants:
        if progress is not None:
            progress(entrant)
        results.append(
            run(problem, entrant, steps, seed=seed, log_every=log_every, neighbours=neighbours)
        )
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
        start = problem.init_params(key)
        final, losses, _, _ = body(start, learning_rate, jax.random.fold_in(key, 1))
        return losses, problem.evaluate(final)

    over_rates = jax.vmap(one, in_axes=(None, 0))
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    losses, final = jax.jit(jax.vmap(over_rates, in_axes=(0, None)))(
        keys, jnp.asarray(rates, _dtype(problem))
    )
    return np.asarray(losses), {k: np.asarray(v) for k, v in final.items()}
