"""The tour: every built-in challenge raced by the optimizers that tell its story, in one report.

Learning rates were tuned once and are frozen here. For each problem and optimizer, a grid of
rates {1, 2, 5} x 10^k from 1e-4 to 5 was raced (`_race.run_batch`, seeds 1-3 for stochastic
problems, seed 0 otherwise; the tour shows seed 0). Deterministic problems score a rate by the
step from which the loss stays within tolerance, stochastic ones by the mean log loss over the
last tenth of the run, and datasets by the final training loss (coarser grid 1, 3 x 10^k); a rate
counts only as well as the better of its two neighbours, so a lucky isolated rate (Adam's first
step at rate 1 landing exactly on the saddle's minimum) is not chosen. Adadelta keeps rate 1:
Zeiler's rule has none. One exception: SGD on the ravine uses 0.0195, just below the best constant
step for a quadratic, 2 / (lambda_min + lambda_max) = 2/101, which the grid steps over (its best,
0.0126, did not reach the tolerance in 300 steps). AdaBound and AMSBound keep their default
final_lr = 0.1, which is unstable on rosenbrock: they diverge there at every rate of the grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from gradtx import _race, _report
from gradtx.problems import PROBLEMS, Problem, get


class Challenge(NamedTuple):
    """A problem as the tour races it: steps, logging interval, lineup, tuned rates."""

    name: str
    steps: int
    log_every: int
    lineup: tuple[str, ...]  # the optimizers that tell the story; quick mode keeps the first
    rates: dict[str, float]  # the tuned learning rate of every optimizer on this problem

    def build(self) -> Problem:
        """The problem, `gradtx.problems.get(name)`."""
        return get(self.name)


def _rates(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split("=") for item in text.split())}


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_TUNED = (
    Challenge(
        "ravine",
        300,
        1,
        _names("sgd momentum nesterov adagrad rmsprop adam"),
        _rates(
            "sgd=0.0195 momentum=0.00501 nesterov=0.01 adagrad=3.98 adadelta=1 rmsprop=0.0316 "
            "adam=0.794 adamax=1 nadam=3.98 amsgrad=1 adabound=0.794 amsbound=0.794 swats=0.794 "
            "sgd+clip=0.0501"
        ),
    ),
    Challenge(
        "saddle",
        300,
        1,
        _names("sgd momentum nesterov adagrad rmsprop adam"),
        _rates(
            "sgd=0.631 momentum=0.398 nesterov=0.398 adagrad=0.794 adadelta=1 rmsprop=0.0158 "
            "adam=0.501 adamax=0.631 nadam=0.794 amsgrad=0.2 adabound=0.316 amsbound=0.316 "
            "swats=0.501 sgd+clip=0.631"
        ),
    ),
    Challenge(
        "plateau",
        500,
        1,
        _names("sgd momentum nesterov adagrad rmsprop adam"),
        _rates(
            "sgd=1.26 momentum=1.58 nesterov=1 adagrad=1.58 adadelta=1 rmsprop=0.0398 adam=0.794 "
            "adamax=1.58 nadam=0.316 amsgrad=0.794 adabound=0.2 amsbound=0.2 swats=0.794 "
            "sgd+clip=1.26"
        ),
    ),
    Challenge(
        "himmelblau",
        300,
        1,
        _names("sgd momentum adagrad adam"),
        _rates(
            "sgd=0.0126 momentum=0.0126 nesterov=0.00794 adagrad=0.794 adadelta=1 rmsprop=0.2 "
            "adam=0.794 adamax=2 nadam=2.51 amsgrad=0.631 adabound=0.794 amsbound=0.794 "
            "swats=0.794 sgd+clip=0.02"
        ),
    ),
    Challenge(
        "rastrigin",
        300,
        1,
        _names("sgd momentum adagrad adam"),
        _rates(
            "sgd=0.000251 momentum=0.0001 nesterov=0.0001 adagrad=3.98 adadelta=1 rmsprop=0.002 "
            "adam=1.58 adamax=0.00501 nadam=0.00794 amsgrad=0.00631 adabound=0.0001 amsbound=1.58 "
            "swats=0.00501 sgd+clip=0.00251"
        ),
    ),
    Challenge(
        "rosenbrock",
        2000,
        1,
        _names("sgd momentum nesterov adam adamax nadam"),
        _rates(
            "sgd=0.00158 momentum=0.00251 nesterov=0.001 adagrad=0.794 adadelta=1 rmsprop=0.00316 "
            "adam=0.251 adamax=1.58 nadam=0.0316 amsgrad=0.794 adabound=0.0001 amsbound=0.0001 "
            "swats=0.1 sgd+clip=0.00398"
        ),
    ),
    Challenge(
        "cliff",
        500,
        1,
        _names("sgd sgd+clip momentum rmsprop adam"),
        _rates(
            "sgd=0.001 momentum=0.0001 nesterov=0.0001 adagrad=1 adadelta=1 rmsprop=0.0126 "
            "adam=1.58 adamax=0.316 nadam=2 amsgrad=0.316 adabound=0.1 amsbound=0.1 swats=1.58 "
            "sgd+clip=0.794"
        ),
    ),
    Challenge(
        "noisy",
        1000,
        1,
        _names("sgd adam sgd+clip adamax rmsprop momentum"),
        _rates(
            "sgd=0.005 momentum=0.0005 nesterov=0.0005 adagrad=0.5 adadelta=1 rmsprop=0.01 "
            "adam=0.02 adamax=0.2 nadam=0.02 amsgrad=0.05 adabound=0.0001 amsbound=0.0001 "
            "swats=0.02 sgd+clip=0.02"
        ),
    ),
    Challenge(
        "sparse",
        2000,
        10,
        _names("sgd adagrad momentum rmsprop adam"),
        _rates(
            "sgd=2 momentum=0.2 nesterov=0.2 adagrad=1 adadelta=1 rmsprop=0.01 adam=0.01 "
            "adamax=0.05 nadam=0.01 amsgrad=0.02 adabound=0.5 amsbound=0.5 swats=0.01 sgd+clip=2"
        ),
    ),
    Challenge(
        "digits",
        2000,
        20,
        _names("momentum adam sgd amsgrad adabound amsbound swats"),
        _rates(
            "sgd=1 momentum=0.3 nesterov=0.3 adagrad=1 adadelta=1 rmsprop=0.03 adam=0.01 "
            "adamax=0.1 nadam=0.01 amsgrad=0.03 adabound=0.03 amsbound=0.03 swats=0.01 sgd+clip=1"
        ),
    ),
    Challenge(
        "breast_cancer",
        1000,
        10,
        _names("sgd adam momentum adabound swats"),
        _rates(
            "sgd=1 momentum=0.3 nesterov=0.3 adagrad=1 adadelta=1 rmsprop=0.03 adam=0.01 "
            "adamax=0.1 nadam=0.03 amsgrad=0.1 adabound=0.03 amsbound=0.03 swats=0.01 sgd+clip=1"
        ),
    ),
)
CHALLENGES: dict[str, Challenge] = {c.name: c for c in _TUNED}


def challenge(name: str) -> Challenge:
    """The tour's settings for problem `name` (a fallback for problems registered later)."""
    return CHALLENGES.get(name) or Challenge(name, 500, 1, ("sgd", "adam"), {})


def entrant(problem: str, optimizer: str, learning_rate: float | None = None) -> _race.Entrant:
    """`optimizer` at `learning_rate`, else its tuned rate on `problem`, else its default."""
    if learning_rate is None:
        learning_rate = challenge(problem).rates.get(optimizer)
    if learning_rate is None:
        learning_rate = _race.OPTIMIZERS[optimizer].learning_rate
    return _race.Entrant(optimizer, learning_rate)


INTRO = (
    "Each challenge below is a problem from gradtx.problems raced by the optimizers that tell "
    "its story, all from the same start with the same gradient noise (seed {seed}). Learning "
    "rates were tuned once per optimizer and problem on a grid and frozen in gradtx/_tour.py "
    "(details there); a poorly tuned rate would make any optimizer look bad. Each paragraph is "
    "the problem's description followed, in bold, by a sentence generated from this run. "
    "Distances are to the nearest global minimum; 'reached' is the first logged step whose "
    "loss is within the problem's tolerance."
)


def tour(
    out: Path, *, seed: int = 0, quick: bool = False, progress: Callable[[int], Callable] | None
) -> int:
    """Race every challenge, print each table, write `out/index.html` and one PNG a challenge.

    `progress(total)` returns a callable `bar(label)` (with `close()`), called before each run.
    Quick mode (for tests) runs a twentieth of the steps and only the first optimizer.
    """
    tic = time.perf_counter()
    plan = []
    for name in PROBLEMS:
        c = challenge(name)
        lineup = [n for n in c.lineup if _race.OPTIMIZERS[n].available][: 1 if quick else None]
        steps = max(2, c.steps // 20 // c.log_every) * c.log_every if quick else c.steps
        plan.append((c, lineup, steps))
    bar = progress(sum(len(lineup) for _, lineup, _ in plan)) if progress else None
    sections = []
    for c, lineup, steps in plan:
        problem = c.build()
        results = _race.race(
            problem,
            [entrant(c.name, n) for n in lineup],
            steps,
            seed=seed,
            log_every=c.log_every,
            progress=(lambda e, c=c: bar(f"{c.name}: {e.optimizer}")) if bar else None,
        )
        png = _report.figure(problem, results, out / f"{c.name}.png", log_every=c.log_every)
        measured = _report.sentence(problem, results, steps)
        text_table = _report.table(problem, results, steps)
        if bar:
            bar.close()
        print(f"\n== {c.name} ({steps} steps) ==\n{text_table}\n{measured}", flush=True)
        sections.append(
            dict(
                name=c.name, text=problem.description, measured=measured, table=text_table, png=png
            )
        )
    report = out / "index.html"
    report.write_text(
        _report.html_page("gradtx optimizer tour", INTRO.format(seed=seed), sections),
        encoding="utf-8",
    )
    print(
        f"\nreport: {report} ({len(sections)} challenges, {len(sections)} PNG) "
        f"in {time.perf_counter() - tic:.0f} s"
    )
    return 0
