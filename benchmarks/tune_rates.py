r"""Tune learning rates for the tour by the procedure `gradtx/tour/menu.py` describes; offline.

For each optimizer and challenge, a grid of rates is raced with `race.run_batch` (one
compilation, the rates and seeds vmapped) for the challenge's steps, and each rate is scored:

* deterministic landscapes (seed 0): the step from which the loss stays within tolerance
  (if the last logged loss is not within it: between `steps + 1` and `steps + 2`, increasing
  with the final loss's gap to the optimum, so that runs short of tolerance rank by it); grid
  $10^{k/10}$ from $10^{-4}$ to 5, which holds the menu's rates (0.794, 0.631, 1.58, ...);
* stochastic problems (`noisy`, `sparse`; seeds 1-3): the mean over seeds of the mean log loss
  over the last tenth of the logged run; grid $\{1, 2, 5\} \times 10^k$ from $10^{-4}$ to 5;
* datasets (`digits`, `breast_cancer`; seeds 1-3): the mean final training loss; grid
  $\{1, 3\} \times 10^k$ from $10^{-4}$ to 3.

A NaN or infinite run scores as the worst. A rate counts only as well as the better of its two
neighbours (its effective score is the worse of its own and its best neighbour's), and the chosen
rate is the one with the best effective score (ties: the better own score, then the smaller rate).
Rate-free methods (Adadelta; Prodigy and D-Adaptation, whose rate is a multiplier of an
estimated step) are scored at rate 1 only, as the menu keeps Adadelta's.

The seed's menu entries are scored at their frozen menu rates by the same rules, so that each new
method's best score can be compared with the best of the seed's on every challenge (`--verify
adam` re-tunes a seed entry from scratch, to check that the grid and the rules reproduce its
frozen rates: they mostly do not, see notebook 05). Two scheduled baselines for Schedule-Free's
claim are tuned the same way: Adam and momentum SGD with a cosine decay to zero over the
challenge's steps. Schedule-Free's loss is also scored at its averaged iterate $x_t$
(`gradtx.schedule_free_eval_params`), where the method says it should be evaluated; the race
records the loss at $y_t$, the point where gradients are taken.

The committed `benchmarks/results/tuned_rates.json` came from the first command below, with the
stochastic problems re-run by `--problems noisy,sparse --verify all --update` after a fix (a loss
of exactly 0 had scored as the worst) and the two cosine baselines merged from a `--methods
adam+cosine,momentum+cosine --no-seed` run; its `shifted` entries are the leads of notebook 05
re-tuned with `--shift 3,-2` on the problems where they led.

Usage (about 40 minutes on 2 busy cores with `--verify all`; results are written as JSON)::

    python -m benchmarks.tune_rates --verify all --json benchmarks/results/tuned_rates.json
    python -m benchmarks.tune_rates --methods lion,radam --problems ravine,digits
    python -m benchmarks.tune_rates --verify adam,sgd --json /tmp/verify.json
    python -m benchmarks.tune_rates --methods adam+cosine --no-seed --update --json results.json
    python -m benchmarks.tune_rates --shift 3,-2 --methods fromage --problems plateau --update ...
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import training
from gradtx.problems import Problem
from gradtx.tour import race, tour
from gradtx.tour.menu import OPTIMIZERS


def _muon(learning_rate: Any) -> gradtx.GradientTransformation:
    """`gradtx.muon`, built where its Newton-Schulz table is read eagerly: `scale_by_muon` calls
    `.tolist()` on a jnp array, which fails when the rate (so the build) is traced."""
    with jax.ensure_compile_time_eval():
        return gradtx.muon(learning_rate)


# The methods issue 13 added, each at its defaults but the rate: build(learning_rate).
CANDIDATES: dict[str, Callable[[Any], gradtx.GradientTransformation]] = {
    "radam": gradtx.radam,
    "adabelief": gradtx.adabelief,
    "yogi": gradtx.yogi,
    "adopt": gradtx.adopt,
    "nadamw": gradtx.nadamw,
    "adamaxw": gradtx.adamaxw,
    "adan": gradtx.adan,
    "ademamix": gradtx.ademamix,
    "novograd": gradtx.novograd,
    "madgrad": gradtx.madgrad,
    "lion": gradtx.lion,
    "sign_sgd": gradtx.sign_sgd,
    "signum": gradtx.signum,
    "rprop": gradtx.rprop,
    "lamb": gradtx.lamb,
    "lars": gradtx.lars,
    "fromage": gradtx.fromage,
    "adafactor": gradtx.adafactor,
    "sm3": gradtx.sm3,
    "schedule_free_sgd": gradtx.schedule_free_sgd,
    "schedule_free_adamw": gradtx.schedule_free_adamw,
    "prodigy": gradtx.prodigy,
    "dadapt_adamw": gradtx.dadapt_adamw,
    "muon": _muon,
    "optimistic_gradient_descent": gradtx.optimistic_gradient_descent,
}
# Baselines for Schedule-Free's claim (no schedule needed): a cosine decay to zero over the
# challenge's steps, build(learning_rate, steps).
SCHEDULED: dict[str, Callable[[Any, int], gradtx.GradientTransformation]] = {
    "adam+cosine": lambda lr, steps: gradtx.adam(gradtx.cosine_decay_schedule(lr, steps)),
    "momentum+cosine": lambda lr, steps: gradtx.sgd(
        gradtx.cosine_decay_schedule(lr, steps), momentum=0.9
    ),
}
RATE_FREE = ("adadelta", "prodigy", "dadapt_adamw")
SCHEDULE_FREE = ("schedule_free_sgd", "schedule_free_adamw")
DATASETS = ("digits", "breast_cancer")
STOCHASTIC_SEEDS = (1, 2, 3)


def grid(problem: Problem) -> np.ndarray:
    """The rates raced on `problem` (see the module docstring)."""
    if problem.name in DATASETS:
        return np.array([m * 10.0**k for k in range(-4, 1) for m in (1, 3)])
    if problem.stochastic:
        return np.array([m * 10.0**k for k in range(-4, 1) for m in (1, 2, 5)])
    return np.round(10.0 ** (np.arange(-40, 8) / 10), 12)


def scores(problem: Problem, losses: np.ndarray, final_loss: np.ndarray, log_every: int) -> Any:
    """Each rate's score, lower is better: `losses` is `(seeds, rates, logs)`."""
    if problem.name in DATASETS:
        raw = final_loss.mean(axis=0)
    elif problem.stochastic:
        tail = losses[:, :, -max(1, (losses.shape[-1] - 1) // 10) :]
        raw = np.log(np.maximum(tail, 1e-30)).mean(axis=(0, 2))  # a loss of exactly 0 is best
    else:
        within = losses[0] <= race.target(problem)
        steps = (losses.shape[-1] - 1) * log_every
        last_out = np.where(within, -1, np.arange(losses.shape[-1])).max(axis=1)
        gap = np.maximum(losses[0, :, -1] - race.target(problem) + problem.tolerance, 1e-30)
        short = steps + 1.5 + np.arctan(np.log10(gap)) / np.pi  # in (steps + 1, steps + 2)
        raw = np.where(within[:, -1], (last_out + 1) * log_every, short)
    return np.where(np.isfinite(raw), raw, np.inf)


def effective(raw: np.ndarray) -> np.ndarray:
    """A rate counts only as well as the better of its two neighbours."""
    padded = np.concatenate([[np.inf], raw, [np.inf]])
    best_neighbour = np.minimum(padded[:-2], padded[2:])
    return np.maximum(raw, best_neighbour) if raw.size > 1 else raw


def choose(rates: np.ndarray, raw: np.ndarray) -> int:
    """The index of the chosen rate: best effective score, then best own score, then smallest."""
    eff = effective(raw)
    return int(np.lexsort((rates, raw, eff))[0])


def shifted(problem: Problem, shift: Sequence[float]) -> Problem:
    """`problem` translated by `shift`: f(theta - shift), its start and minima moved with it."""
    c = jnp.asarray(shift, jnp.result_type(problem.start))
    return dataclasses.replace(
        problem,
        loss=lambda p, f=problem.loss: f(p - c),
        start=problem.start + c,
        optimum=None if problem.optimum is None else problem.optimum + c,
        other_optima=tuple(o + c for o in problem.other_optima),
        bounds=None,
    )


def _seeds(problem: Problem) -> tuple[int, ...]:
    return STOCHASTIC_SEEDS if problem.stochastic else (0,)


def _schedule_free_batch(
    problem: Problem, build: Callable, steps: int, seeds: Sequence[int], rates: np.ndarray, every
):
    """`run_batch` for Schedule-Free with the loss logged at its averaged iterate x_t."""
    dtype = jnp.result_type(*jax.tree.leaves(problem.start))

    def one(key, learning_rate):
        optimizer = build(learning_rate)
        params = problem.init_params(key)
        noise = jax.random.fold_in(key, 1)
        keys = jax.vmap(functools.partial(jax.random.fold_in, noise))(jnp.arange(steps))

        def chunk(carry, k):
            params, state = carry
            params, state, _, _ = training.descend(
                problem.value_and_grad, params, state, k, optimizer
            )
            return (params, state), problem.loss(gradtx.schedule_free_eval_params(state, params))

        carry = (params, optimizer.init(params))
        (params, state), losses = jax.lax.scan(chunk, carry, keys.reshape(-1, every))
        x = gradtx.schedule_free_eval_params(state, params)
        return jnp.concatenate([problem.loss(problem.init_params(key))[None], losses]), (
            problem.loss(x)
        )

    over_rates = jax.vmap(one, in_axes=(None, 0))
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    losses, final = jax.jit(jax.vmap(over_rates, in_axes=(0, None)))(
        keys, jnp.asarray(rates, dtype)
    )
    return np.asarray(losses), np.asarray(final)


def tune(name: str, build: Callable, problem: Problem, challenge, *, only_rate=None) -> dict:
    """Race `build` over the grid (or at `only_rate`) on `problem`; the scores and the choice."""
    rates = grid(problem) if only_rate is None else np.array([float(only_rate)])
    seeds = _seeds(problem)
    steps, every = challenge.steps, challenge.log_every
    tic = time.perf_counter()
    losses, final = race.run_batch(
        problem,
        race.Entrant(name, float(rates[0]), build),
        steps,
        seeds=seeds,
        learning_rates=rates,
        log_every=every,
    )
    final_loss = final["train_loss"] if problem.name in DATASETS else final["loss"]
    raw = scores(problem, losses, final_loss, every)
    best = choose(rates, raw)
    out = {
        "rates": rates.tolist(),
        "scores": raw.tolist(),
        "chosen_rate": float(rates[best]),
        "score": float(raw[best]),
        "effective_score": float(effective(raw)[best]),
        "seconds": round(time.perf_counter() - tic, 2),
    }
    if name in SCHEDULE_FREE:
        x_losses, x_final = _schedule_free_batch(problem, build, steps, seeds, rates, every)
        x_raw = scores(problem, x_losses, x_final, every)
        x_best = choose(rates, x_raw)
        out["at_x"] = {
            "scores": x_raw.tolist(),
            "chosen_rate": float(rates[x_best]),
            "score": float(x_raw[x_best]),
        }
    return out


def _rounded(value):
    """Floats to 6 significant digits, to keep the JSON small."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _json_safe(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods", help="comma-separated candidates and/or scheduled baselines (default: all)"
    )
    parser.add_argument("--problems", help="comma-separated challenges (default: all)")
    parser.add_argument("--verify", help="menu entries to re-tune on the grid, or 'all'")
    parser.add_argument("--no-seed", action="store_true", help="skip scoring the seed's menu")
    parser.add_argument(
        "--shift",
        help="X,Y: tune --methods on the 2-D problems translated by (X, Y), into 'shifted'",
    )
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--update", action="store_true", help="update the --json file's entries, keep the rest"
    )
    args = parser.parse_args(argv)
    methods = args.methods.split(",") if args.methods else [*CANDIDATES, *SCHEDULED]
    names = args.problems.split(",") if args.problems else list(tour.CHALLENGES)
    verify = args.verify.split(",") if args.verify else []
    verify = list(OPTIMIZERS) if verify == ["all"] else verify
    results: dict[str, Any] = {"candidates": {}, "seed": {}, "verify": {}}
    if args.update:
        with open(args.json, encoding="utf-8") as f:
            results = json.load(f)
    tic = time.perf_counter()
    for pname in names:
        challenge = tour.CHALLENGES[pname]
        problem = challenge.build()
        if args.shift:
            moved = shifted(problem, [float(x) for x in args.shift.split(",")])
            for m in methods:
                r = tune(m, CANDIDATES[m], moved, challenge)
                results.setdefault("shifted", {}).setdefault(m, {})[pname] = r | {
                    "shift": args.shift
                }
                print(
                    f"shifted {pname:13s} {m:12s} rate {r['chosen_rate']:<8.3g} "
                    f"score {r['score']:.4g}",
                    file=sys.stderr,
                    flush=True,
                )
            continue
        for m in methods:
            rate = 1.0 if m in RATE_FREE else None
            if m in SCHEDULED:
                build = functools.partial(SCHEDULED[m], steps=challenge.steps)
            else:
                build = CANDIDATES[m]
            r = tune(m, build, problem, challenge, only_rate=rate)
            results["candidates"].setdefault(m, {})[pname] = r
            print(
                f"[{time.perf_counter() - tic:6.0f}s] {pname:13s} {m:28s} "
                f"rate {r['chosen_rate']:<8.3g} score {r['score']:.4g}",
                file=sys.stderr,
                flush=True,
            )
        for m in () if args.no_seed else OPTIMIZERS:
            spec = OPTIMIZERS[m]
            r = tune(m, spec.build, problem, challenge, only_rate=spec.tuned[pname])
            results["seed"].setdefault(m, {})[pname] = r
        for m in verify:
            only = 1.0 if m in RATE_FREE else None
            r = tune(m, OPTIMIZERS[m].build, problem, challenge, only_rate=only)
            r["menu_rate"] = OPTIMIZERS[m].tuned[pname]
            results["verify"].setdefault(m, {})[pname] = r
            print(
                f"[{time.perf_counter() - tic:6.0f}s] verify {pname:13s} {m:10s} "
                f"grid {r['chosen_rate']:<8.3g} menu {r['menu_rate']:<8.3g}",
                file=sys.stderr,
                flush=True,
            )
    results["meta"] = results.get("meta", {}) | {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "wall_s" if not args.update else "update_wall_s": round(time.perf_counter() - tic, 1),
        "seeds_stochastic": list(STOCHASTIC_SEEDS),
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(_json_safe(_rounded(results)), f, separators=(",", ":"))
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
