"""The sentences a report prints about a race, each generated from the runs' numbers.

Nothing here is written by hand about a run: who reached the tolerance and when, who diverged,
who left the tolerance again, where each run ended, the best test metric, when SWATS switched,
which runs coincide, how the winner fares at half and double its rate, and which rates sit at an
edge of their tuning grid all come from the `RunResult`s (`sentences`). The report's static
text describes only the problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradtx.problems import Problem
from gradtx.tour.race import Neighbour, RunResult, first_reached, target


def number(x: float) -> str:
    if not math.isfinite(x):
        return "diverged" if math.isnan(x) else f"{x}"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def metrics(results: Sequence[RunResult]) -> list[str]:
    """The rates a race reports beside the loss (accuracies or error rates), training first."""
    ends = ("_accuracy", "_error")
    return sorted((k for k in results[0].final if k.endswith(ends)), key=lambda k: k[:5] != "train")


def gap_name(problem: Problem) -> str:
    """What the reports call the loss: "f − f*" where f* is known, else "loss"."""
    return "f − f*" if problem.optimum_value is not None else "loss"


def gap(problem: Problem, loss: float) -> float:
    return loss - (problem.optimum_value or 0.0)


def outcome(problem: Problem, run: RunResult | Neighbour, steps: int) -> str:
    """A run's result in a few words: 'step 97', 'diverged', or the final gap.

    Args:
        problem: the challenge raced.
        run: a run, or the same run at another rate.
        steps: the steps each run took.

    Returns:
        "step N" if it reached the tolerance at step N (and did not diverge), "diverged" if it
        did, else "not in S, f − f* X" (or "loss X" where f* is unknown).
    """
    if run.reached_at is not None:
        return f"step {run.reached_at}"
    if run.diverged_at is not None:
        return "diverged"
    return f"not in {steps}, {gap_name(problem)} {number(gap(problem, run.final['loss']))}"


def sentences(
    problem: Problem,
    results: Sequence[RunResult],
    steps: int,
    *,
    grid: Sequence[float] | None = None,
) -> list[str]:
    """The measured sentences about a race, each generated from the runs' numbers.

    Args:
        problem: the challenge raced.
        results: one run an optimizer.
        steps: the steps each run took.
        grid: the grid the rates were tuned on, if they were: a rate at its edge is pointed out.

    Returns:
        In order, those that apply: who reached the tolerance first and who did not (else the
        lowest final loss and the closest to the optimum); who passed through the tolerance
        but diverged (not counted as reaching); who did not stay within it; the minimum each run
        ended nearest to (several minima); the final x (1-D problems); who left the tolerance
        after reaching it; who ended a thousandfold or more above its lowest loss; the best test
        metric; SWATS' switch; which runs coincide; the winner's result at half and double its
        rate; the rates at an edge of the tuning grid.
    """
    out = [_reach(problem, results, steps)]
    out += _diverged(problem, results)
    out += _stayed(problem, results)
    if len(problem.optima) > 1 and results[0].path is not None and results[0].path.shape[1] == 2:
        out.append(_endpoints(problem, results))
    if results[0].path is not None and results[0].path.shape[1] == 1:
        ends = [f"{r.entrant.optimizer} {float(r.path[-1, 0]):.3g}" for r in results]
        optimum = (
            float(np.asarray(problem.optimum).ravel()[0]) if problem.optimum is not None else None
        )
        where = f" (the optimum is {optimum:g})" if optimum is not None else ""
        out.append(f"Final x: {'; '.join(ends)}{where}.")
    out += _left(problem, results)
    out += _jumps(problem, results)
    out += _test_metric(results)
    out += _switches(results, steps)
    out += _coincide(results)
    out += _sensitivity(problem, results, steps)
    out += _edges(problem, results, steps, grid)
    return out


def _winner(problem: Problem, results: Sequence[RunResult]) -> RunResult:
    """The first to reach the tolerance (earliest step), else the lowest final loss."""
    reached = [r for r in results if r.reached_at is not None]
    if reached:
        return min(reached, key=lambda r: r.reached_at)
    return min(results, key=lambda r: _finite(r.final["loss"]))


def _reach(problem: Problem, results: Sequence[RunResult], steps: int) -> str:
    reached = sorted((r for r in results if r.reached_at is not None), key=lambda r: r.reached_at)
    missed = [r.entrant.optimizer for r in results if r.reached_at is None]
    name = gap_name(problem)
    if reached:
        first = reached[0]
        ties = [r.entrant.optimizer for r in reached if r.reached_at == first.reached_at]
        text = f"Here {join(ties)} reached the tolerance first (step {first.reached_at})"
        later = [f"{r.entrant.optimizer} at step {r.reached_at}" for r in reached[len(ties) :]]
        text += f", then {join(later)}" if later else ""
        return text + (f"; {join(missed)} did not within {steps} steps." if missed else ".")
    best = min(results, key=lambda r: _finite(r.final["loss"]))
    text = (
        f"No optimizer reached the tolerance within {steps} steps; the lowest final {name} was "
        f"{best.entrant.optimizer}'s ({number(gap(problem, best.final['loss']))})"
    )
    others = [r for r in results if r is not best]
    if problem.optimum is not None and others:
        near = min(results, key=lambda r: _finite(r.final["distance_to_optimum"]))
        rest = [_finite(r.final["distance_to_optimum"]) for r in results if r is not near]
        text += (
            f", and the closest to the optimum was {near.entrant.optimizer} (distance "
            f"{number(near.final['distance_to_optimum'])}; "
            + (
                f"others {number(min(rest))} to {number(max(rest))})"
                if min(rest) != max(rest)
                else f"{'the other' if len(rest) == 1 else 'the others'} {number(min(rest))})"
            )
        )
    return text + "."


def _diverged(problem: Problem, results: Sequence[RunResult]) -> list[str]:
    """Runs that passed through the tolerance and then diverged: they do not count."""
    out = []
    for r in results:
        passed = first_reached(r.losses, problem, r.log_every)
        if r.diverged_at is not None and passed is not None:
            out.append(
                f"{r.entrant.optimizer} was within the tolerance at step {passed} but diverged "
                f"(its loss ended above the start's, from step {r.diverged_at}), so it does not "
                "count as reaching it."
            )
    return out


def _stayed(problem: Problem, results: Sequence[RunResult]) -> list[str]:
    """The first to reach the tolerance, if it ended outside it."""
    reached = sorted((r for r in results if r.reached_at is not None), key=lambda r: r.reached_at)
    if not reached or reached[0].final["loss"] <= target(problem):
        return []
    ties = [r.entrant.optimizer for r in reached if r.reached_at == reached[0].reached_at]
    lowest = min(results, key=lambda r: _finite(r.final["loss"]))
    return [
        f"{join(ties)} did not stay within it; the lowest final {gap_name(problem)} was "
        f"{lowest.entrant.optimizer}'s ({number(gap(problem, lowest.final['loss']))})."
    ]


JUMP = 1e3  # a final loss gap this many times its lowest (or more) is reported


def _left(problem: Problem, results: Sequence[RunResult]) -> list[str]:
    """Runs that reached the tolerance, then left it: how far, and whether they came back."""
    out = []
    for r in results:
        if r.reached_at is None:
            continue
        first = r.reached_at // r.log_every
        outside = np.flatnonzero(~(np.asarray(r.losses[first:]) <= target(problem)))
        if not outside.size:
            continue
        peak = first + int(
            np.argmax(np.where(np.isfinite(r.losses[first:]), r.losses[first:], -np.inf))
        )
        text = (
            f"{r.entrant.optimizer} left the tolerance after reaching it ({gap_name(problem)} up "
            f"to {number(gap(problem, r.losses[peak]))} at step {peak * r.log_every}); "
        )
        back = first + int(outside[-1]) + 1
        if back < len(r.losses):
            text += f"it was back within it from step {back * r.log_every}."
        else:
            text += "it ended outside it."
        out.append(text)
    return out


def _jumps(problem: Problem, results: Sequence[RunResult]) -> list[str]:
    """Runs that did not diverge but ended `JUMP` times above their lowest loss gap or more.

    Gaps below a billionth of the tolerance count as that (a rise from an exact 0 to 1e-15 is
    float rounding, not a jump).
    """
    out = []
    floor = problem.tolerance * 1e-9
    for r in results:
        if r.diverged_at is not None or len(r.losses) < 2:
            continue
        gaps = np.maximum(np.asarray(r.losses, float) - (problem.optimum_value or 0.0), floor)
        low = int(np.argmin(gaps))
        if gaps[-1] >= JUMP * gaps[low]:
            lowest = ("at most " if gaps[low] == floor else "") + number(gaps[low])
            out.append(
                f"{r.entrant.optimizer}'s {gap_name(problem)} ended {gaps[-1] / gaps[low]:.0e} "
                f"times above its lowest ({lowest} at step {low * r.log_every}), at "
                f"{number(gaps[-1])}."
            )
    return out


def _test_metric(results: Sequence[RunResult]) -> list[str]:
    """The best test accuracy (or lowest test error), naming everyone who shares it."""
    for key, best_of, word in (("test_accuracy", max, "best"), ("test_error", min, "lowest")):
        if key not in results[0].final:
            continue
        score = {r.entrant.optimizer: round(100 * r.final[key], 1) for r in results}
        top = best_of(score.values())
        best = [name for name, value in score.items() if value == top]
        whose = f"{join(best)}'s" if len(best) == 1 else f"shared by {join(best)}"
        text = f"The {word} {key.replace('_', ' ')} was {whose} ({top:.1f}%)"
        groups: dict[float, list[str]] = {}
        for name, value in score.items():
            if value != top:
                groups.setdefault(value, []).append(name)
        rest = [f"{join(names)} {value:.1f}%" for value, names in groups.items()]
        return [text + (f"; {'; '.join(rest)}." if rest else ".")]
    return []


# Two runs coincide if every logged loss agrees within this relative tolerance: their lines are
# then indistinguishable on a log axis (adam and swats on digits differ by 6e-5, adabound and
# amsbound by 5e-4, without being bit-equal).
COINCIDE_RTOL = 0.01


def _switches(results: Sequence[RunResult], steps: int) -> list[str]:
    """SWATS' switch from Adam to SGD (`race.switch`): its step and learned rate, or none."""
    out = []
    for r in results:
        if "switch_step" not in r.final:
            continue
        k, name = int(r.final["switch_step"]), r.entrant.optimizer
        if k > 0:
            rate = r.final["sgd_lr"]
            out.append(
                f"{name} switched from Adam to SGD after step {k}, at a learned rate {rate:.3g}."
            )
        else:
            out.append(f"{name} never switched from Adam to SGD in {steps} steps: it ran as Adam.")
    return out


def coinciding(results: Sequence[RunResult]) -> list[list[str]]:
    """Groups of two or more runs whose logged losses all agree to `COINCIDE_RTOL`.

    Their lines coincide in a figure (the figure dashes all but the first).
    """
    groups: list[list[RunResult]] = []
    for r in results:
        for g in groups:
            a, b = g[0].losses, r.losses
            if a.shape == b.shape and np.allclose(a, b, rtol=COINCIDE_RTOL, atol=0, equal_nan=True):
                g.append(r)
                break
        else:
            groups.append([r])
    return [[r.entrant.optimizer for r in g] for g in groups if len(g) > 1]


def _coincide(results: Sequence[RunResult]) -> list[str]:
    return [
        f"{join(names)} coincide: their losses agree within {COINCIDE_RTOL:.0%} at every logged "
        "step, so their lines overlap in the figure (all but the first drawn dashed)."
        for names in coinciding(results)
    ]


def _sensitivity(problem: Problem, results: Sequence[RunResult], steps: int) -> list[str]:
    """The winner's result at half and double its rate."""
    best = _winner(problem, results)
    if len(best.neighbours) < 2:
        return []
    half, double = best.neighbours[:2]
    own = outcome(problem, best, steps)
    return [
        f"At half its rate ({half.learning_rate:.3g}) {best.entrant.optimizer}'s result is "
        f"{outcome(problem, half, steps)}, at double ({double.learning_rate:.3g}) "
        f"{outcome(problem, double, steps)} (at its rate: {own})."
    ]


def _edges(
    problem: Problem, results: Sequence[RunResult], steps: int, grid: Sequence[float] | None
) -> list[str]:
    """Rates at the smallest or largest rate of the tuning grid: the optimum may lie beyond."""
    if grid is None or not len(grid):
        return []
    low, high = min(grid), max(grid)
    out = []
    for r in results:
        rate = r.entrant.learning_rate
        edge = "smallest" if rate <= low * 1.001 else "largest" if rate >= high / 1.001 else None
        if edge is None:
            continue
        beyond = next(
            (n for n in r.neighbours if (n.learning_rate < rate) == (edge == "smallest")), None
        )
        text = (
            f"{r.entrant.optimizer}'s rate {rate:g} is the {edge} of the tuning grid, so its best "
            "rate may lie beyond it"
        )
        if beyond is not None:
            text += (
                f"; at {beyond.learning_rate:.3g}, outside the grid, its result is "
                f"{outcome(problem, beyond, steps)} (at its rate: {outcome(problem, r, steps)})"
            )
        out.append(text + ".")
    return out


def _endpoints(problem: Problem, results: Sequence[RunResult]) -> str:
    """Which minimum each run ended nearest to, e.g. 'sgd ended nearest (3, 2); adam ...'."""
    optima = [np.asarray(x) for x in problem.optima]
    groups: dict[tuple[float, float], list[str]] = {}
    for r in results:
        nearest = min(optima, key=lambda x: float(np.linalg.norm(r.path[-1] - x)))
        groups.setdefault(tuple(np.round(nearest, 2)), []).append(r.entrant.optimizer)
    parts = [f"{join(names)} at ({x:g}, {y:g})" for (x, y), names in groups.items()]
    return f"Nearest minimum at the end: {'; '.join(parts)}."


def _finite(x: float, bad: float = math.inf) -> float:
    return x if math.isfinite(x) else bad


def join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
