"""The tour: every built-in challenge raced by the optimizers that tell its story, in one report.

The learning rates are the menu's tuned ones (`gradtx/tour/menu.py`, which says how they were
tuned).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from gradtx.problems import Problem, get
from gradtx.tour import race, report
from gradtx.tour.menu import OPTIMIZERS


class Challenge(NamedTuple):
    """A problem as the tour races it: steps, logging interval and lineup."""

    name: str  # the problem, as `gradtx.problems.get` names it
    steps: int
    log_every: int
    lineup: tuple[str, ...]  # the optimizers that tell the story, by menu name

    def build(self) -> Problem:
        """The problem, `gradtx.problems.get(name)`."""
        return get(self.name)


_LINEUPS = (
    Challenge("ravine", 300, 1, ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")),
    Challenge("saddle", 300, 1, ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")),
    Challenge(
        "plateau", 500, 1, ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "rprop")
    ),
    Challenge("himmelblau", 300, 1, ("sgd", "momentum", "adagrad", "adam")),
    Challenge("rastrigin", 300, 1, ("sgd", "momentum", "adagrad", "adam")),
    Challenge("rosenbrock", 2000, 1, ("sgd", "momentum", "nesterov", "adam", "adamax", "nadam")),
    Challenge("cliff", 500, 1, ("sgd", "sgd+clip", "momentum", "rmsprop", "adam")),
    Challenge(
        "noisy", 1000, 1, ("sgd", "adam", "sgd+clip", "adamax", "rmsprop", "momentum", "sign_sgd")
    ),
    Challenge("sparse", 2000, 10, ("sgd", "adagrad", "momentum", "rmsprop", "adam")),
    Challenge(
        "digits", 2000, 20, ("momentum", "adam", "sgd", "amsgrad", "adabound", "amsbound", "swats")
    ),
    Challenge("breast_cancer", 1000, 10, ("sgd", "adam", "momentum", "adabound", "swats")),
)
CHALLENGES: dict[str, Challenge] = {c.name: c for c in _LINEUPS}


def entrant(problem: str, optimizer: str, learning_rate: float | None = None) -> race.Entrant:
    """An optimizer of the menu, ready to race on `problem`.

    Args:
        problem: the problem's name.
        optimizer: the optimizer's menu name.
        learning_rate: the rate; None for the menu's tuned rate on `problem`, else its default.

    Returns:
        The `race.Entrant`.
    """
    if learning_rate is None:
        spec = OPTIMIZERS[optimizer]
        learning_rate = spec.tuned.get(problem, spec.learning_rate)
    return race.Entrant(optimizer, learning_rate)


INTRO = (
    "Each challenge below is a problem from gradtx.problems raced by the optimizers that tell "
    "its story, all from the same start with the same gradient noise (seed {seed}). Learning "
    "rates were tuned once per optimizer and problem on a grid and frozen in "
    "gradtx/tour/menu.py (details there); a poorly tuned rate would make any optimizer look bad. "
    "Each paragraph is the problem's description followed, in bold, by a sentence generated from "
    "this run. Distances are to the nearest global minimum; 'reached' is the first logged step "
    "whose loss is within the problem's tolerance."
)


def tour(
    out: Path,
    *,
    seed: int = 0,
    challenges: Iterable[Challenge] | None = None,
    progress: Callable[[int], Callable] | None = None,
) -> int:
    """Race every challenge, print each table, write `out/index.html` and one PNG a challenge.

    Args:
        out: the folder for the report, which must exist.
        seed: the seed of every start and of the gradient noise.
        challenges: what to race; None for every one of `CHALLENGES`.
        progress: `progress(total)` returns a callable `bar(label)` (with `close()`), called
            before each run.

    Returns:
        0, the exit status.
    """
    tic = time.perf_counter()
    plan = list(CHALLENGES.values() if challenges is None else challenges)
    bar = progress(sum(len(c.lineup) for c in plan)) if progress else None
    sections = []
    for c in plan:
        problem = c.build()
        results = race.race(
            problem,
            [entrant(c.name, n) for n in c.lineup],
            c.steps,
            seed=seed,
            log_every=c.log_every,
            progress=(lambda e, c=c: bar(f"{c.name}: {e.optimizer}")) if bar else None,
        )
        png = report.figure(problem, results, out / f"{c.name}.png", log_every=c.log_every)
        measured = report.sentence(problem, results, c.steps)
        text_table = report.table(problem, results, c.steps)
        if bar:
            bar.close()
        print(f"\n== {c.name} ({c.steps} steps) ==\n{text_table}\n{measured}", flush=True)
        sections.append(
            dict(
                name=c.name, text=problem.description, measured=measured, table=text_table, png=png
            )
        )
    page = out / "index.html"
    page.write_text(
        report.html_page("gradtx optimizer tour", INTRO.format(seed=seed), sections),
        encoding="utf-8",
    )
    print(
        f"\nreport: {page} ({len(sections)} challenges, {len(sections)} PNG) "
        f"in {time.perf_counter() - tic:.0f} s"
    )
    return 0
