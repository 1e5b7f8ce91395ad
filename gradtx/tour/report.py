"""Race reports: a text table, PNG figures, and a self-contained HTML page.

The sentences about a race are generated in `gradtx.tour.prose`; `sentence` joins them.

matplotlib is imported lazily with the Agg backend (no display needed); it is an optional
dependency, `pip install 'gradtx[tour]'`.
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems import Problem
from gradtx.tour import prose
from gradtx.tour.menu import OPTIMIZERS
from gradtx.tour.race import Neighbour, RunResult

_TIMES = (
    "run ms: wall time of the compiled run, all steps; compile s: its compilation (XLA), paid "
    "once per optimizer and problem"
)
_NEIGHBOURS = (
    "lr/2, 2 lr: the same run at half and at double the rate, its step within tolerance, else its "
    "final {gap}"
)


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


def _cell(problem: Problem, run: RunResult | Neighbour) -> str:
    """`outcome` in a table cell: 'step N', 'diverged', or the final gap alone."""
    if run.reached_at is not None:
        return f"step {run.reached_at}"
    return (
        "diverged"
        if run.diverged_at is not None
        else prose.number(prose.gap(problem, run.final["loss"]))
    )


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
    extra = prose.metrics(results)
    one_d = results[0].path is not None and results[0].path.shape[1] == 1
    neighbours = any(len(r.neighbours) >= 2 for r in results)
    head = ["optimizer", "lr", f"final {prose.gap_name(problem)}"]
    head += ["distance"] if problem.optimum is not None else []
    head += ["final x"] if one_d else []
    head += [f"reached ({prose.gap_name(problem)} <= {problem.tolerance:.3g})"]
    head += [k.replace("_", " ") for k in extra]
    head += ["lr/2", "2 lr"] if neighbours else []
    head += ["run ms", "compile s"]
    rows = []
    for r in results:
        row = [r.entrant.optimizer, f"{r.entrant.learning_rate:g}"]
        row.append(prose.number(prose.gap(problem, r.final["loss"])))
        if problem.optimum is not None:
            row.append(prose.number(r.final["distance_to_optimum"]))
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
    note = "distance: to the nearest known minimum; " if problem.optimum is not None else ""
    note += _TIMES + (f"; {_NEIGHBOURS.format(gap=prose.gap_name(problem))}" if neighbours else "")
    lines += textwrap.wrap(note + ".", width=max(len(lines[0]), 60))
    return "\n".join(lines)


def sentence(
    problem: Problem,
    results: Sequence[RunResult],
    steps: int,
    *,
    grid: Sequence[float] | None = None,
) -> str:
    """`prose.sentences` joined into one paragraph (the command line prints it)."""
    return " ".join(prose.sentences(problem, results, steps, grid=grid))


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
        in the table; a gap of exactly 0 marked on the axis' floor, not drawn as a spike), and the
        final error rates from 0 (datasets). Runs whose losses coincide are drawn dashed, and
        the legend says which they equal. The legend sits below the panels, never clipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [_paths] if problem.bounds is not None else []
    panels += [_iterates] if results[0].path is not None and results[0].path.shape[1] == 1 else []
    panels.append(_losses)
    panels += [_errors] if prose.metrics(results) else []
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
    for group in prose.coinciding(results):
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
    """Loss gaps on a log scale; a gap of exactly 0 (or below) is a marker on the floor.

    A log axis cannot show 0, and drawing it at a small number makes a spike down to it: the
    line breaks there instead, and a triangle on the axis' floor marks each such step.
    """
    curves = [r.losses - (problem.optimum_value or 0.0) for r in results]
    positive = np.concatenate([c[np.isfinite(c) & (c > 0)] for c in curves] + [np.ones(1)])
    floor = max(float(positive.min()) / 3, 1e-30)
    zeros = any(np.any(c <= 0) for c in curves)
    styles = _styles(results)
    for r, y in zip(results, curves, strict=True):
        style, same = styles[r.entrant.optimizer]
        steps, c = np.arange(len(y)) * log_every, colour[r.entrant.optimizer]
        gone = f", diverged at {r.diverged_at}" if r.diverged_at is not None else ""
        label = f"{r.entrant.optimizer} (lr {r.entrant.learning_rate:g}{same}{gone})"
        ax.semilogy(steps, np.where(y > 0, y, np.nan), color=c, lw=1.2, ls=style, label=label)
        ax.plot(steps[y <= 0], np.full(int(np.sum(y <= 0)), floor), "v", color=c, ms=3)
    ax.axhline(problem.tolerance, color="k", ls=":", lw=0.8)
    ax.set_ylim(bottom=floor / 2)
    ax.set_xlabel("step")
    name = prose.gap_name(problem) if problem.optimum_value is not None else "training loss"
    ax.set_ylabel(name + (" (▼ on the floor: exactly 0)" if zeros else ""))
    ax.set_title(f"{name}, log scale (dotted: tolerance)", fontsize=9)


def _errors(
    ax, problem: Problem, results: Sequence[RunResult], log_every: int, colour: dict
) -> None:
    names = [r.entrant.optimizer for r in results]
    keys = prose.metrics(results)
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
