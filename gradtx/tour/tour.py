"""The tour: the claims ledger, then every challenge raced by the optimizers that tell its story.

The report opens with the claims ledger (`gradtx.tour.ledger`), each row linked to the section
that shows it; then one section a challenge: the built-in problems at the menu's tuned rates
(`gradtx/tour/menu.py` says how they were tuned), a rotated ravine, and the literature's
counterexamples (`gradtx.problems.COUNTEREXAMPLES`) at their papers' settings. A section's static
text describes only the problem and how it was raced; every sentence about the runs is generated
from their numbers (`gradtx.tour.prose`), and every run is repeated at half and double its rate.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax.numpy as jnp

import gradtx
from gradtx.problems import Problem, get
from gradtx.tour import counterexamples as ce
from gradtx.tour import ledger, prose, race, report
from gradtx.tour.menu import OPTIMIZERS, tuning_grid

NEIGHBOURS = (0.5, 2.0)  # every run again at half and double its rate, with no compilation


class Challenge(NamedTuple):
    """A problem as the tour races it: steps, logging interval and lineup."""

    name: str  # the section's id; the problem's name unless `problem` says otherwise
    steps: int
    log_every: int
    lineup: tuple[str, ...]  # the optimizers that tell the story, by menu name
    problem: str = ""  # the problem, as `gradtx.problems.get` names it; "" for `name`
    variant: Callable[[Problem], Problem] | None = None  # a change to the problem, if any
    entrants: tuple[race.Entrant, ...] = ()  # fixed settings replacing the menu's, by name
    note: str = ""  # how the problem is raced, if not at the menu's tuned rates

    @property
    def source(self) -> str:
        """The registered problem's name, on which the menu's rates were tuned."""
        return self.problem or self.name

    def build(self) -> Problem:
        """The problem, `gradtx.problems.get(source)`, changed by `variant`."""
        problem = get(self.source)
        return problem if self.variant is None else self.variant(problem)

    @property
    def tuned(self) -> bool:
        """Whether its runs use the menu's rates tuned on this very problem."""
        return not self.entrants and self.variant is None


def rotated(problem: Problem, degrees: float = 45.0) -> Problem:
    r"""A 2-D landscape turned by `degrees` about the origin: $g(\theta) = f(R^\top \theta)$.

    The start and minima turn with it; the bounds become the square that holds the turned ones.
    Gradient descent and momentum behave exactly as before (they commute with rotations); a
    per-coordinate step size does not.
    """
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turn = jnp.asarray([[c, -s], [s, c]], jnp.asarray(problem.start).dtype)
    half = max(max(abs(a), abs(b)) for a, b in problem.bounds)
    return dataclasses.replace(
        problem,
        name=f"{problem.name}_rotated",
        description=(
            f"The same {problem.name}, turned by {degrees:g}° about the minimum: "
            f"g(θ) = f(Rᵀθ), with the same curvatures (eigenvalues of the Hessian) and the "
            "start turned with it. Its steep and shallow directions are now diagonal, mixing "
            "both coordinates, so a per-coordinate step size can no longer scale one direction "
            "apart from the other; gradient descent and momentum take exactly the turned path."
        ),
        loss=lambda theta: problem.loss(turn.T @ theta),
        start=turn @ problem.start,
        optimum=turn @ problem.optimum,
        other_optima=tuple(turn @ x for x in problem.other_optima),
        bounds=((-half, half), (-half, half)),
    )


def full_batch(problem: Problem) -> Problem:
    """The problem with its full gradient at every step (no minibatch): GD in place of SGD."""
    return dataclasses.replace(problem, batch_loss=None)


def _reddi_entrants(c: float) -> tuple[race.Entrant, ...]:
    return tuple(
        race.Entrant(name, ce.REDDI_ALPHA, lambda lr, name=name: ce.reddi_optimizer(name, c, lr))
        for name in ("adam", "amsgrad")
    )


def _adagrad_from_zero(learning_rate) -> gradtx.GradientTransformation:
    return gradtx.adagrad(learning_rate, initial_accumulator_value=0.0)


_REDDI_NOTE = (
    "Raced as in the paper: β₁ = 0, β₂ = 1/(1 + C²) and step α/√t with α = {alpha:g} (the "
    "'lr' column), every step projected onto [−1, 1]; 'final x' is the last iterate."
)
_WILSON_NOTE = (
    "Raced with the full gradient from w = 0 at fixed rates (sgd is gradient descent here), "
    "AdaGrad with no initial accumulator, as in the paper's analysis; 'distance' is to the "
    "minimum-norm solution, and the errors are on the training set and on 10,000 fresh draws."
)
_ROTATED_NOTE = (
    "Raced at the rates tuned on the axis-aligned ravine (not re-tuned: the half and double "
    "rates show how much that matters)."
)

_LINEUPS = (
    Challenge("ravine", 300, 1, ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")),
    Challenge(
        "ravine_rotated",
        300,
        1,
        ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"),
        problem="ravine",
        variant=rotated,
        note=_ROTATED_NOTE,
    ),
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
    Challenge(
        "reddi",
        ce.REDDI_STEPS,
        10,
        ("adam", "amsgrad"),
        entrants=_reddi_entrants(3.0),
        note=_REDDI_NOTE.format(alpha=ce.REDDI_ALPHA),
    ),
    Challenge(
        "reddi_stochastic",
        ce.REDDI_STEPS,
        10,
        ("adam", "amsgrad"),
        entrants=_reddi_entrants(10.0),
        note=_REDDI_NOTE.format(alpha=ce.REDDI_ALPHA),
    ),
    Challenge(
        "wilson",
        1500,
        10,
        ("sgd", "momentum", "adagrad", "rmsprop", "adam", "amsgrad", "adabound"),
        variant=full_batch,
        entrants=(
            race.Entrant("sgd", 0.5),
            race.Entrant("momentum", 0.05),
            race.Entrant("adagrad", 0.1, _adagrad_from_zero),
            *(race.Entrant(n, 0.01) for n in ("rmsprop", "adam", "amsgrad", "adabound")),
        ),
        note=_WILSON_NOTE,
    ),
)
# The eleven built-in problems at the menu's tuned rates (the command line's `--problem`, and what
# notebook 05 tunes), then the challenges raced at settings of their own.
CHALLENGES: dict[str, Challenge] = {c.name: c for c in _LINEUPS if c.tuned}
EXTRAS: dict[str, Challenge] = {c.name: c for c in _LINEUPS if not c.tuned}


def plan() -> list[Challenge]:
    """What a tour races, in order: each of `CHALLENGES` followed by its variants (`EXTRAS` on
    the same problem), then the other `EXTRAS` (the counterexamples)."""
    out = []
    for c in CHALLENGES.values():
        out += [c, *(e for e in EXTRAS.values() if e.source == c.name)]
    return out + [e for e in EXTRAS.values() if e.source not in CHALLENGES]


def entrant(problem: str, optimizer: str, learning_rate: float | None = None) -> race.Entrant:
    """An optimizer of the menu, ready to race on the challenge `problem`.

    Args:
        problem: the challenge's name (of `CHALLENGES` or `EXTRAS`).
        optimizer: the optimizer's menu name.
        learning_rate: the rate; None for the challenge's setting (a counterexample's) or the
            menu's tuned rate on its problem, else the menu's default.

    Returns:
        The `race.Entrant`.
    """
    challenge = CHALLENGES.get(problem) or EXTRAS.get(problem)
    fixed = {e.optimizer: e for e in challenge.entrants} if challenge else {}
    if optimizer in fixed:
        chosen = fixed[optimizer]
        rate = chosen.learning_rate if learning_rate is None else learning_rate
        return dataclasses.replace(chosen, learning_rate=rate)
    if learning_rate is None:
        spec = OPTIMIZERS[optimizer]
        learning_rate = spec.tuned.get(challenge.source if challenge else problem)
        learning_rate = spec.learning_rate if learning_rate is None else learning_rate
    return race.Entrant(optimizer, learning_rate)


INTRO = (
    "The claims ledger comes first: each claim of the optimizer story, the experiment that "
    "tests it, its numbers and a verdict computed from them (a claim links to the challenge "
    "that shows it). Then each challenge: a problem from gradtx.problems raced by the "
    "optimizers that tell its story, all from the same start with the same gradient noise "
    "(seed {seed}). The rates are the menu's, frozen in gradtx/tour/menu.py after a grid search "
    "per optimizer and problem (landscapes: 10^(k/10) from 1e-4 to 5, scored by the step from "
    "which the loss stays within tolerance; stochastic problems: {{1, 2, 5}}×10^k from 1e-4 to "
    "5, scored by the mean log loss over the last tenth; datasets: {{1, 3}}×10^k from 1e-4 to "
    "3, scored by the final training loss; a rate counts only as well as its better neighbour). "
    "Re-running that search today picks the same rate for 59 of 154 pairs, mostly one grid step "
    "higher otherwise; so every run is repeated at half and double its rate (the table's "
    "'lr/2' and '2 lr'), and a rate at an edge of its grid is named. The counterexamples use "
    "their papers' settings instead. Under each problem's description, the bulleted sentences "
    "are generated from this run's numbers. Losses are reported as f − f* where the optimum "
    "f* is known; 'reached' is the first logged step within the tolerance, and a run that "
    "ends above its starting loss (diverged) never counts as reaching it."
)


LEDGER_NOTE = (
    "Each verdict is computed from the row's numbers and the thresholds beside them: 'holds' if "
    "every condition is met, 'does not hold here' if none is, 'holds here with a caveat' if "
    "some are, and 'not resolved at this scale' if a number is missing or a stated resolution "
    "check fails (gradtx/tour/ledger.py). Each claim links to the challenge that shows it."
)


def race_challenge(
    c: Challenge, *, seed: int = 0, progress: Callable[[race.Entrant], None] | None = None
) -> tuple[Problem, list[race.RunResult]]:
    """Race one challenge's lineup, each run repeated at half and double its rate.

    Args:
        c: the challenge.
        seed: the seed of every start and of the gradient noise.
        progress: called with each entrant before its run.

    Returns:
        The problem and one run an optimizer of the lineup.
    """
    problem = c.build()
    entrants = [entrant(c.name, n) for n in c.lineup]
    results = race.race(
        problem,
        entrants,
        c.steps,
        seed=seed,
        log_every=c.log_every,
        progress=progress,
        neighbours=NEIGHBOURS,
    )
    return problem, results


def section(c: Challenge, problem: Problem, results: Sequence[race.RunResult], png: Path) -> dict:
    """The report's section for a raced challenge (see `report.html_page`)."""
    grid = tuning_grid(c.source) if c.tuned else None
    return dict(
        name=c.name,
        text=problem.description,
        note=c.note,
        measured=prose.sentences(problem, results, c.steps, grid=grid),
        table=report.table(problem, results, c.steps),
        png=png,
    )


class _Background:
    """`fn(*args)` in a daemon thread (an interrupted tour does not wait for it); `result()`."""

    def __init__(self, fn: Callable, *args):
        self._out: list = []
        self._thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable, *args) -> None:
        try:
            self._out.append((fn(*args), None))
        except BaseException as err:  # re-raised in the caller's thread by `result`
            self._out.append((None, err))

    def result(self):
        """Wait for `fn` and return its value, or raise its exception."""
        self._thread.join()
        value, err = self._out[0]
        if err is not None:
            raise err
        return value


def tour(
    out: Path,
    *,
    seed: int = 0,
    challenges: Iterable[Challenge] | None = None,
    claims: Sequence[ledger.Claim] | None = None,
    progress: Callable[[int], Callable] | None = None,
) -> int:
    """Run the ledger, race every challenge, print each table, write `out/index.html` and PNGs.

    The ledger's experiments run in a background thread while the challenges are raced (on a
    second core they take no extra time; each runs in float64 inside its own
    `jax.enable_x64`, which is local to the thread), and its table is printed last.

    Args:
        out: the folder for the report, which must exist.
        seed: the seed of every start and of the gradient noise.
        challenges: what to race; None for `plan()`: every challenge and extra.
        claims: the ledger's claims to measure; None for every one of `ledger.CLAIMS`.
        progress: `progress(total)` returns a callable `bar(label)` (with `close()`), called
            before each run.

    Returns:
        0, the exit status.
    """
    tic = time.perf_counter()
    raced = plan() if challenges is None else list(challenges)
    claims = ledger.CLAIMS if claims is None else claims
    bar = progress(sum(len(c.lineup) for c in raced)) if progress else None
    measuring = _Background(ledger.run, claims)  # on the other core while the races run
    sections = []
    for c in raced:
        label = (lambda e, c=c: bar(f"{c.name}: {e.optimizer}")) if bar else None
        problem, results = race_challenge(c, seed=seed, progress=label)
        png = report.figure(problem, results, out / f"{c.name}.png", log_every=c.log_every)
        sections.append(section(c, problem, results, png))
        if bar:
            bar.close()
        measured = "\n".join(sections[-1]["measured"])
        print(
            f"\n== {c.name} ({c.steps} steps) ==\n{sections[-1]['table']}\n{measured}", flush=True
        )
    rows = measuring.result()
    print("\n== claims ledger ==", flush=True)
    for row in rows:
        print(f"{row.name:22s} {row.verdict}  ({ledger.format_numbers(row.numbers)})")
    ids = [s["name"] for s in sections]
    for s in sections:
        s["claims"] = [row.name for row in rows if row.section == s["name"]]
    page = out / "index.html"
    page.write_text(
        report.html_page(
            "gradtx optimizer tour",
            INTRO.format(seed=seed),
            sections,
            ledger=f"<p>{LEDGER_NOTE}</p>{ledger.html_table(rows, anchors=ids)}" if rows else "",
        ),
        encoding="utf-8",
    )
    print(
        f"\nreport: {page} ({len(rows)} claims, {len(sections)} challenges, {len(sections)} PNG) "
        f"in {time.perf_counter() - tic:.0f} s"
    )
    return 0
