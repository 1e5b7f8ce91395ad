"""Race reports: a text table, one measured sentence, PNG figures, and a self-contained HTML page.

matplotlib is imported lazily with the Agg backend (no display needed); it is an optional
dependency, `pip install 'gradtx[tour]'`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems import Problem
from gradtx.tour.menu import OPTIMIZERS
from gradtx.tour.race import RunResult, target

_ACCURACY = ("train_accuracy", "test_accuracy")


def _number(x: float) -> str:
    if not math.isfinite(x):
        return "diverged" if math.isnan(x) else f"{x}"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def colours(names: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """A colour for each optimizer name, the same in every figure.

    Args:
        names: optimizer names; those on the menu keep their menu position, others follow it.

    Returns:
        name -> RGBA: matplotlib's "tab20" colormap cycled, its ten dark hues first, then their
        light twins.
    """
    import matplotlib

    order = [*OPTIMIZERS, *(n for n in dict.fromkeys(names) if n not in OPTIMIZERS)]
    cmap = matplotlib.colormaps["tab20"]
    return {n: cmap((2 * i + i // 10) % cmap.N) for i, n in enumerate(order) if n in names}


def table(problem: Problem, results: Sequence[RunResult], steps: int) -> str:
    """A fixed-width text table of a race.

    Args:
        problem: the challenge raced.
        results: one run an optimizer.
        steps: the steps each run took.

    Returns:
        A header, a rule, and one row a run: learning rate, final loss, distance to the optimum
        (where known), the first step within tolerance, accuracies (datasets), run and compile
        time.
    """
    extra = [k for k in _ACCURACY if k in results[0].final]
    head = ["optimizer", "lr", "final loss"]
    head += ["distance"] if problem.optimum is not None else []
    head += [f"reached (<= {target(problem):.3g})"] + [k.replace("_", " ") for k in extra]
    head += ["run ms", "compile s"]
    rows = []
    for r in results:
        row = [r.entrant.optimizer, f"{r.entrant.learning_rate:g}", _number(r.final["loss"])]
        if problem.optimum is not None:
            row.append(_number(r.final["distance_to_optimum"]))
        row.append(f"step {r.reached_at}" if r.reached_at is not None else f"not in {steps}")
        row += [f"{100 * r.final[k]:.1f}%" for k in extra]
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
    return "\n".join(lines)


def sentence(problem: Problem, results: Sequence[RunResult], steps: int) -> str:
    """One measured sentence about a race.

    Args:
        problem: the challenge raced.
        results: one run an optimizer.
        steps: the steps each run took.

    Returns:
        Who reached the tolerance first and who did not (else the lowest final loss and the
        closest to the optimum), the nearest minimum of each run where there are several, and
        the best test accuracy (datasets).
    """
    reached = sorted((r for r in results if r.reached_at is not None), key=lambda r: r.reached_at)
    missed = [r.entrant.optimizer for r in results if r.reached_at is None]
    if reached:
        first = reached[0]
        ties = [r.entrant.optimizer for r in reached if r.reached_at == first.reached_at]
        text = f"Here {_join(ties)} reached the tolerance first (step {first.reached_at})"
        later = [f"{r.entrant.optimizer} at step {r.reached_at}" for r in reached[len(ties) :]]
        text += f", then {_join(later)}" if later else ""
        text += f"; {_join(missed)} did not within {steps} steps." if missed else "."
    else:
        best = min(results, key=lambda r: _finite(r.final["loss"]))
        text = (
            f"No optimiser reached the tolerance within {steps} steps; the lowest final loss "
            f"was {best.entrant.optimizer}'s ({_number(best.final['loss'])})"
        )
        if problem.optimum is not None:
            near = min(results, key=lambda r: _finite(r.final["distance_to_optimum"]))
            others = [_finite(r.final["distance_to_optimum"]) for r in results if r is not near]
            text += (
                f", and the closest to the optimum was {near.entrant.optimizer} (distance "
                f"{_number(near.final['distance_to_optimum'])}; others "
                f"{_number(min(others))} to {_number(max(others))})"
                if others
                else ""
            )
        text += "."
    if reached and not reached[0].final["loss"] <= target(problem):
        lowest = min(results, key=lambda r: _finite(r.final["loss"]))
        text += (
            f" {_join(ties)} did not stay within it; the lowest final loss was "
            f"{lowest.entrant.optimizer}'s ({_number(lowest.final['loss'])})."
        )
    if len(problem.optima) > 1 and results[0].path is not None:
        text += " " + _endpoints(problem, results)
    if "test_accuracy" in results[0].final:
        score = {r.entrant.optimizer: round(100 * r.final["test_accuracy"], 1) for r in results}
        top = max(score.values())
        best = [name for name, value in score.items() if value == top]
        whose = f"{_join(best)}'s" if len(best) == 1 else f"shared by {_join(best)}"
        text += f" The best test accuracy was {whose} ({top:.1f}%)."
    return text


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
        `path`, holding the paths over the contour map (2-D landscapes), the loss curves (log
        scale; $f - f^*$ where $f^*$ is known), and the final accuracies (datasets).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [_paths] if problem.bounds is not None else []
    panels.append(_losses)
    if "test_accuracy" in results[0].final:
        panels.append(_accuracies)
    colour = colours([r.entrant.optimizer for r in results])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        panel(ax, problem, results, log_every, colour)
    handles, labels = axes[0][panels.index(_losses)].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=8)
    fig.suptitle(problem.name, fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


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
    for r in results:
        p = r.path
        ax.plot(
            p[:, 0], p[:, 1], "-", lw=1.2, color=colour[r.entrant.optimizer], marker=".", ms=2.5
        )
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=5, color=colour[r.entrant.optimizer])
    ax.plot(*np.asarray(start), "ks", ms=6)
    for opt in problem.optima:
        ax.plot(*np.asarray(opt), "*", ms=12, color="gold", mec="k")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("paths (square: start, star: minimum)", fontsize=9)


def _losses(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    floor = problem.optimum_value
    for r in results:
        t = np.arange(len(r.losses)) * log_every
        y = r.losses - (0.0 if floor is None else floor)
        ax.semilogy(
            t,
            np.maximum(y, 1e-16),
            color=colour[r.entrant.optimizer],
            lw=1.2,
            label=f"{r.entrant.optimizer} (lr {r.entrant.learning_rate:g})",
        )
    ax.axhline(problem.tolerance, color="k", ls=":", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("f − f*" if floor is not None else "training loss")
    ax.set_title("loss (dotted: tolerance)", fontsize=9)


def _accuracies(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    names = [r.entrant.optimizer for r in results]
    x = np.arange(len(results))
    for offset, key, alpha in ((-0.2, "train_accuracy", 1.0), (0.2, "test_accuracy", 0.45)):
        values = [100 * r.final[key] for r in results]
        ax.bar(
            x + offset,
            values,
            0.4,
            color=[colour[n] for n in names],
            alpha=alpha,
            edgecolor="k",
            lw=0.5,
        )
    low = min(100 * r.final["test_accuracy"] for r in results)
    ax.set_ylim(max(0.0, low - 5), 100.5)
    ax.set_xticks(x, names, rotation=30, fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("final accuracy: train (solid), test (pale)", fontsize=9)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.8rem}
img{max-width:100%}h2{border-top:1px solid #ddd;padding-top:1rem}"""


def html_page(title: str, intro: str, sections: Sequence[dict]) -> str:
    """A self-contained HTML page, its figures inlined.

    Args:
        title: the page title.
        intro: the paragraph under it.
        sections: one dict a challenge, with keys `name`, `text` (its description),
            `measured` (the measured sentence), `table` (the text table) and `png` (a Path).

    Returns:
        The HTML text.
    """
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
        "<ul>"
        + "".join(f"<li><a href='#{s['name']}'>{s['name']}</a></li>" for s in sections)
        + "</ul>",
    ]
    for s in sections:
        image = base64.b64encode(Path(s["png"]).read_bytes()).decode("ascii")
        parts += [
            f"<h2 id='{s['name']}'>{html.escape(s['name'])}</h2>",
            f"<p>{html.escape(s['text'])} <b>{html.escape(s['measured'])}</b></p>",
            f"<img alt='{html.escape(s['name'])}' src='data:image/png;base64,{image}'>",
            f"<pre>{html.escape(s['table'])}</pre>",
        ]
    return "\n".join(parts) + "\n"
