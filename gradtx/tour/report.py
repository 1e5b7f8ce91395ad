"""Race reports: a text table, one measured sentence, PNG figures, and a self-contained HTML page.

matplotlib is imported lazily with the Agg backend (no display needed); it is an optional
dependency, `pip install 'gradtx[tour]'`.
"""

from __future__ import annotations

import base64
import html
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems import Problem
from gradtx.tour.menu import OPTIMIZERS
from gradtx.tour.race import Neighbour, RunResult, first_reached, target

_TIMES = (
    "run ms: wall time of the compiled run, all steps; compile s: its compilation (XLA), paid "
    "once per optimizer and problem"
)
_NEIGHBOURS = (
    "lr/2, 2 lr: the same run at half and at double the rate, its step within tolerance, else its "
    "final {gap}"
)


def _number(x: float) -> str:
    if not math.isfinite(x):
        return "diverged" if math.isnan(x) else f"{x}"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def colours(names: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """A colour for each optimizer name of one figure, no two alike.

    Args:
        names: the optimizer names of a figure.

    Returns:
        name -> RGBA: matplotlib's ten "tab10" hues, given to the names in menu order (names off
        the menu after them), then, past ten names, "tab20"'s light hues.
    """
    import matplotlib

    menu = list(OPTIMIZERS)
    unique = list(dict.fromkeys(names))
    order = sorted(
        unique, key=lambda n: (menu.index(n) if n in menu else len(menu), unique.index(n))
    )
    dark, light = matplotlib.colormaps["tab10"], matplotlib.colormaps["tab20"]
    return {n: dark(i) if i < 10 else light((2 * (i - 10) + 1) % 20) for i, n in enumerate(order)}


def metrics(results: Sequence[RunResult]) -> list[str]:
    """The rates a race reports beside the loss (accuracies or error rates), training first."""
    ends = ("_accuracy", "_error")
    return sorted((k for k in results[0].final if k.endswith(ends)), key=lambda k: k[:5] != "train")


def gap_name(problem: Problem) -> str:
    """What the reports call the loss: "f − f*" where f* is known, else "loss"."""
    return "f − f*" if problem.optimum_value is not None else "loss"


def _gap(problem: Problem, loss: float) -> float:
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
    return f"not in {steps}, {gap_name(problem)} {_number(_gap(problem, run.final['loss']))}"


def _cell(problem: Problem, run: RunResult | Neighbour) -> str:
    """`outcome` in a table cell: 'step N', 'diverged', or the final gap alone."""
    if run.reached_at is not None:
        return f"step {run.reached_at}"
    return "diverged" if run.diverged_at is not None else _number(_gap(problem, run.final["loss"]))


def table(problem: Problem, results: Sequence[RunResult], steps: int) -> str:
    """A fixed-width text table of a race, with a footnote on its columns.

    Args:
        problem: the challenge raced.
        results: one run an optimizer.
        steps: the steps each run took.

    Returns:
        A header, a rule, and one row a run: learning rate, final f − f* (final loss where f*
        is unknown), distance to the optimum (where known), the final x (1-D problems), the
        first step within tolerance, the extra metrics (datasets), the result at half and
        double the rate (if run), run and compile time; then the footnote.
    """
    extra = metrics(results)
    one_d = results[0].path is not None and results[0].path.shape[1] == 1
    neighbours = any(len(r.neighbours) >= 2 for r in results)
    head = ["optimizer", "lr", f"final {gap_name(problem)}"]
    head += ["distance"] if problem.optimum is not None else []
    head += ["final x"] if one_d else []
    head += [f"reached ({gap_name(problem)} <= {problem.tolerance:.3g})"]
    head += [k.replace("_", " ") for k in extra]
    head += ["lr/2", "2 lr"] if neighbours else []
    head += ["run ms", "compile s"]
    rows = []
    for r in results:
        row = [r.entrant.optimizer, f"{r.entrant.learning_rate:g}"]
        row.append(_number(_gap(problem, r.final["loss"])))
        if problem.optimum is not None:
            row.append(_number(r.final["distance_to_optimum"]))
        if one_d:
            row.append(f"{float(r.path[-1, 0]):.3g}")
        if r.reached_at is not None:
            row.append(f"step {r.reached_at}")
        elif r.diverged_at is not None:
            row.append(f"diverged (step {r.diverged_at})")
        else:
            row.append(f"not in {steps}")
        row += [f"{100 * r.final[k]:.1f}%" for k in extra]
        if neighbours:
            row += [_cell(problem, n) for n in r.neighbours[:2]] or ["-", "-"]
        row += [f"{1e3 * r.run_s:.1f}", f"{r.compile_s:.2f}"]
        rows.append(row)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = _TIMES + (f"; {_NEIGHBOURS.format(gap=gap_name(problem))}" if neighbours else "")
    lines += textwrap.wrap(note + ".", width=max(len(lines[0]), 60))
    return "\n".join(lines)


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
        ended nearest to (several minima); the final x (1-D problems); whose loss jumped (a
        thousandfold or more over its lowest so far); the best test metric; which runs
        coincide; the winner's result at half and double its rate; the rates at an edge of the
        tuning grid.
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
    out += _jumps(problem, results)
    out += _test_metric(results)
    out += _coincide(results)
    out += _sensitivity(problem, results, steps)
    out += _edges(problem, results, steps, grid)
    return out


def sentence(
    problem: Problem,
    results: Sequence[RunResult],
    steps: int,
    *,
    grid: Sequence[float] | None = None,
) -> str:
    """`sentences` joined into one paragraph."""
    return " ".join(sentences(problem, results, steps, grid=grid))


def _winner(problem: Problem, results: Sequence[RunResult]) -> RunResult:
    """The first to reach the tolerance (earliest step), else the lowest final loss."""
    reached = [r for r in results if r.reached_at is not None]
    if reached:
        return min(reached, key=lambda r: r.reached_at)
    return min(results, key=lambda r: _finite(r.final["loss"]))


def _reach(problem: Problem, results: Sequence[RunResult], steps: int) -> str:
    reached = sorted((r for r in results if r.reached_at is not None), key=lambda r: r.reached_at)
    missed = [r.entrant.optimizer for r in results if r.reached_at is None]
    gap = gap_name(problem)
    if reached:
        first = reached[0]
        ties = [r.entrant.optimizer for r in reached if r.reached_at == first.reached_at]
        text = f"Here {_join(ties)} reached the tolerance first (step {first.reached_at})"
        later = [f"{r.entrant.optimizer} at step {r.reached_at}" for r in reached[len(ties) :]]
        text += f", then {_join(later)}" if later else ""
        return text + (f"; {_join(missed)} did not within {steps} steps." if missed else ".")
    best = min(results, key=lambda r: _finite(r.final["loss"]))
    text = (
        f"No optimizer reached the tolerance within {steps} steps; the lowest final {gap} was "
        f"{best.entrant.optimizer}'s ({_number(_gap(problem, best.final['loss']))})"
    )
    others = [r for r in results if r is not best]
    if problem.optimum is not None and others:
        near = min(results, key=lambda r: _finite(r.final["distance_to_optimum"]))
        rest = [_finite(r.final["distance_to_optimum"]) for r in results if r is not near]
        text += (
            f", and the closest to the optimum was {near.entrant.optimizer} (distance "
            f"{_number(near.final['distance_to_optimum'])}; "
            + (
                f"others {_number(min(rest))} to {_number(max(rest))})"
                if min(rest) != max(rest)
                else f"{'the other' if len(rest) == 1 else 'the others'} {_number(min(rest))})"
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
        f"{_join(ties)} did not stay within it; the lowest final {gap_name(problem)} was "
        f"{lowest.entrant.optimizer}'s ({_number(_gap(problem, lowest.final['loss']))})."
    ]


JUMP = 1e3  # a rise of the loss gap by this factor or more over its lowest so far is reported


def _jumps(problem: Problem, results: Sequence[RunResult]) -> list[str]:
    """Runs whose loss gap rose `JUMP`-fold or more over its lowest value so far.

    Gaps below a billionth of the tolerance count as that (a rise from an exact 0 to 1e-15 is
    float rounding, not a jump); a diverged run is said to have diverged instead.
    """
    out = []
    floor = problem.tolerance * 1e-9
    for r in results:
        if r.diverged_at is not None or len(r.losses) < 2:
            continue
        gap = np.maximum(np.asarray(r.losses, float) - (problem.optimum_value or 0.0), floor)
        low = np.minimum.accumulate(gap)
        rise = gap[1:] / low[:-1]
        t = int(np.argmax(rise))
        if rise[t] >= JUMP:
            out.append(
                f"{r.entrant.optimizer}'s {gap_name(problem)} jumped {rise[t]:.0e}-fold by step "
                f"{(t + 1) * r.log_every}, from {_number(low[t])} to {_number(gap[t + 1])}, and "
                f"ended at {_number(gap[-1])}."
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
        whose = f"{_join(best)}'s" if len(best) == 1 else f"shared by {_join(best)}"
        text = f"The {word} {key.replace('_', ' ')} was {whose} ({top:.1f}%)"
        groups: dict[float, list[str]] = {}
        for name, value in score.items():
            if value != top:
                groups.setdefault(value, []).append(name)
        rest = [f"{_join(names)} {value:.1f}%" for value, names in groups.items()]
        return [text + (f"; {'; '.join(rest)}." if rest else ".")]
    return []


COINCIDE_RTOL = 1e-5  # two runs coincide if every logged loss agrees to this relative tolerance


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
        f"{_join(names)} coincide: every logged loss agrees to {COINCIDE_RTOL:g} relative, so "
        "their lines overlap in the figure (all but the first drawn dashed)."
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
    parts = [f"{_join(names)} at ({x:g}, {y:g})" for (x, y), names in groups.items()]
    return f"Nearest minimum at the end: {'; '.join(parts)}."


def _finite(x: float, bad: float = math.inf) -> float:
    return x if math.isfinite(x) else bad


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def figure(
    problem: Problem, results: Sequence[RunResult], path: Path, *, log_every: int = 1, dpi=90
) -> Path:
    """Draw a race into one PNG.

    Args:
        problem: the challenge raced.
        results: one run an optimizer.
        path: the PNG to write.
        log_every: steps between two logged losses of the runs.
        dpi: resolution of the PNG.

    Returns:
        `path`, holding the paths over the contour map (2-D landscapes) or the iterate against
        the step (1-D problems), the loss curves (log scale; $f - f^*$ where $f^*$ is known, as
        in the table; exact zeros drawn at the axis' floor, which the label states), and the
        final error rates from 0 (datasets). Runs whose losses coincide are drawn dashed, and
        the legend says which they equal. The legend sits below the panels, never clipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [_paths] if problem.bounds is not None else []
    panels += [_iterates] if results[0].path is not None and results[0].path.shape[1] == 1 else []
    panels.append(_losses)
    panels += [_errors] if metrics(results) else []
    colour = colours([r.entrant.optimizer for r in results])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        panel(ax, problem, results, log_every, colour)
    handles, labels = axes[0][panels.index(_losses)].get_legend_handles_labels()
    ncol = max(1, min(len(labels), int(5.2 * len(panels) / 1.9)))
    fig.suptitle(problem.name, fontsize=11)
    fig.tight_layout()
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, fontsize=8
    )
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _styles(results: Sequence[RunResult]) -> dict[str, tuple[str, str]]:
    """name -> (line style, label suffix): a run equal to an earlier one is dashed, and says so."""
    styles = {r.entrant.optimizer: ("-", "") for r in results}
    for group in coinciding(results):
        for k, name in enumerate(group[1:]):
            styles[name] = ((0, (4, 2 + 2 * k)), f", = {group[0]}")
    return styles


def _paths(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    from matplotlib.colors import LogNorm

    (x0, x1), (y0, y1) = problem.bounds
    xs, ys = np.linspace(x0, x1, 160), np.linspace(y0, y1, 160)
    grid = jnp.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    start = jnp.asarray(problem.start)
    z = np.asarray(jax.jit(jax.vmap(problem.loss))(grid.astype(start.dtype))).reshape(160, 160)
    z = z - z.min()
    levels = np.geomspace(max(z.max(), 1e-12) * 1e-4, max(z.max(), 1e-12), 24)
    ax.contourf(
        xs, ys, np.maximum(z, levels[0]), levels=levels, cmap="Greys_r", alpha=0.55, norm=LogNorm()
    )
    ax.contour(xs, ys, z, levels=levels[::3], colors="white", linewidths=0.4)
    styles = _styles(results)
    for r in results:
        p, c = r.path, colour[r.entrant.optimizer]
        ax.plot(p[:, 0], p[:, 1], ls=styles[r.entrant.optimizer][0], lw=1.2, color=c)
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=5, color=c)
    ax.plot(*np.asarray(start), "ks", ms=6)
    for opt in problem.optima:
        ax.plot(*np.asarray(opt), "*", ms=12, color="gold", mec="k")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("paths (square: start, star: minimum, dot: end)", fontsize=9)


def _iterates(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    styles = _styles(results)
    for r in results:
        ax.plot(
            r.path[:, 0],
            color=colour[r.entrant.optimizer],
            lw=1.0,
            ls=styles[r.entrant.optimizer][0],
        )
    for opt in problem.optima:
        ax.axhline(float(np.asarray(opt).ravel()[0]), color="k", ls=":", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("x")
    ax.set_title("iterate x (dotted: the optimum)", fontsize=9)


def _losses(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    curves = [r.losses - (problem.optimum_value or 0.0) for r in results]
    positive = np.concatenate([c[np.isfinite(c) & (c > 0)] for c in curves] + [np.ones(1)])
    floor = max(float(positive.min()) / 3, 1e-30)
    zeros = any(np.any(c <= 0) for c in curves)
    styles = _styles(results)
    for r, y in zip(results, curves, strict=True):
        style, same = styles[r.entrant.optimizer]
        ax.semilogy(
            np.arange(len(y)) * log_every,
            np.maximum(y, floor),
            color=colour[r.entrant.optimizer],
            lw=1.2,
            ls=style,
            label=f"{r.entrant.optimizer} (lr {r.entrant.learning_rate:g}{same})",
        )
    ax.axhline(problem.tolerance, color="k", ls=":", lw=0.8)
    ax.set_ylim(bottom=floor / 2)
    ax.set_xlabel("step")
    name = gap_name(problem) if problem.optimum_value is not None else "training loss"
    ax.set_ylabel(name + (f" (≤ 0 drawn at {floor:.0e})" if zeros else ""))
    ax.set_title(f"{name}, log scale (dotted: tolerance)", fontsize=9)


def _errors(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    names = [r.entrant.optimizer for r in results]
    keys = metrics(results)
    x = np.arange(len(results))
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        values = [100 * (1 - r.final[key] if "accuracy" in key else r.final[key]) for r in results]
        bars = ax.bar(
            x - 0.4 + width * (k + 0.5),
            values,
            width,
            color=[colour[n] for n in names],
            alpha=1.0 if k == 0 else 0.45,
            edgecolor="k",
            lw=0.5,
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_ylim(0, None)
    ax.margins(y=0.15)
    ax.set_xticks(x, names, rotation=30, fontsize=8)
    ax.set_ylabel("error (%), from 0")
    kinds = " and ".join(k.split("_")[0] for k in keys)
    ax.set_title(f"final {kinds} error (%; solid, then pale)", fontsize=9)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem}
img{max-width:100%}h2{border-top:1px solid #ddd;padding-top:1rem}
table{border-collapse:collapse;font-size:.8rem}td,th{border:1px solid #ccc;padding:.3rem;
vertical-align:top;text-align:left}ul.measured li{font-weight:600}"""


def html_page(title: str, intro: str, sections: Sequence[dict], ledger: str = "") -> str:
    """A self-contained HTML page, its figures inlined: the intro, the ledger, then the sections.

    Args:
        title: the page title.
        intro: the paragraph under it.
        sections: one dict a challenge, with keys `name` (its id), `text` (the problem's
            description), `measured` (the sentences generated from the run), `table` (the text
            table) and `png` (a Path), and optionally `note` (how the run was set up) and
            `claims` (the names of the ledger rows that link here).
        ledger: the claims ledger as HTML (`gradtx.tour.ledger.html_table`), shown first.

    Returns:
        The HTML text.
    """
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
    ]
    if ledger:
        parts.append(f"<h2 id='ledger'>Claims ledger</h2>{ledger}")
    parts.append(
        "<h2 id='contents'>Challenges</h2><ul>"
        + "".join(f"<li><a href='#{s['name']}'>{html.escape(s['name'])}</a></li>" for s in sections)
        + "</ul>"
    )
    for s in sections:
        image = base64.b64encode(Path(s["png"]).read_bytes()).decode("ascii")
        measured = "".join(f"<li>{html.escape(m)}</li>" for m in s["measured"])
        parts += [
            f"<h2 id='{s['name']}'>{html.escape(s['name'])}</h2>",
            f"<p>{html.escape(s['text'])}</p>",
            f"<p><i>{html.escape(s['note'])}</i></p>" if s.get("note") else "",
            f"<ul class='measured'>{measured}</ul>",
            f"<img alt='{html.escape(s['name'])}' src='data:image/png;base64,{image}'>",
            f"<pre>{html.escape(s['table'])}</pre>",
        ]
        if s.get("claims"):
            links = ", ".join(f"<a href='#claim-{c}'>{html.escape(c)}</a>" for c in s["claims"])
            parts.append(f"<p>Ledger rows on this challenge: {links}.</p>")
    return "\n".join(p for p in parts if p) + "\n"
