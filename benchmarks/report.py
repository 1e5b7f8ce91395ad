"""How a run is shown: the plain-text table `run.py` prints, and the README's Markdown tables.

`python -m benchmarks.report RESULTS.json` prints the Markdown tables of a run's JSON; with
`--readme README.md` it writes them into the README, between the `benchmarks.report` comments
of its Performance section (the prose around them is left as it is).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.cases import GRADTX, GRADTX_FUSED, OPTAX
from benchmarks.measure import ratio
from benchmarks.results import (
    RATIO_FIELDS,
    Result,
    by_case,
    floors,
    ratios,
    targets,
    with_unit,
)

MB = 1e6

# The plain-text table: right-aligned numbers, ratios as 'x'.

COLUMNS = (  # header, field, unit
    ("optimizer", None, None),
    ("tree", None, None),
    ("library", None, None),
    ("step ms", "step_s", "ms"),
    ("IQR ms", "step_iqr_s", "ms"),
    ("/floor", "step_over_floor", "x"),
    ("/C floor", "step_over_floor_c", "x"),
    ("GB/s", "step_gb_per_s", "GB/s"),
    ("dispatch ms", "dispatch_s", "ms"),
    ("lower s", "lower_s", "s"),
    ("compile s", "compile_s", "s"),
    ("temp MB", "temp_bytes", "MB"),
    ("state MB", "state_bytes", "MB"),
    ("peak MB", "peak_rss_bytes", "MB"),
    ("accessed/needed", "accessed_over_necessary", "x"),
    ("eager ms", "eager_s", "ms"),
    ("1st eager s", "eager_first_s", "s"),
)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MB":
        return f"{value / MB:.1f}"
    value = value * 1e3 if unit == "ms" else value
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _result_cells(r: Result) -> list[str]:
    values = r.to_json()
    head = [r.optimizer, r.tree, r.library]
    if r.status != "ok":
        return head + [r.status]
    return head + [_number(values[field], unit) for _, field, unit in COLUMNS[3:]]


def _ratio_cells(row: dict) -> list[str]:
    def cell(field):
        if field not in RATIO_FIELDS or row[field] is None:
            return ""
        return f"{row[field]:.2f}x"

    fields = [field for _, field, _ in COLUMNS[3:]]
    cells = [cell("bytes_accessed" if f == "accessed_over_necessary" else f) for f in fields]
    return ["", "", f"{row['numerator']}/{row['denominator']}"] + cells


def _aligned(lines: list[list[str]]) -> list[str]:
    full = [line for line in lines if len(line) == len(COLUMNS)]  # not a status line
    widths = [max(len(line[i]) for line in (full if i > 2 else lines)) for i in range(len(COLUMNS))]
    text = []
    for line in lines:
        cells = [c.ljust(w) for c, w in zip(line[:3], widths[:3], strict=True)]
        if len(line) < len(COLUMNS):  # a status instead of numbers
            text.append("  ".join(cells + [line[3]]))
            continue
        cells += [c.rjust(w) for c, w in zip(line[3:], widths[3:], strict=True)]
        text.append("  ".join(cells).rstrip())
    return text


def _floor_line(f: dict) -> str:
    line = (
        f"  tree {f['tree']:3}  {f['arrays']:>5} arrays  {f['bytes'] / MB:8.1f} MB  "
        f"XLA {f['median_s'] * 1e3:9.3f} ms  {f['gb_per_s']:6.2f} GB/s  "
        f"accessed/needed {f['accessed_over_bytes']:.2f}x"
    )
    if f["c_median_s"] is not None:
        line += f"  C {f['c_median_s'] * 1e3:9.3f} ms  {f['c_gb_per_s']:6.2f} GB/s"
    return line


def _target_line(t: dict) -> str:
    def shown(value):
        return "-" if value is None else with_unit(value, t["unit"])

    goal = "reported" if t["goal"] is None else f"goal <= {with_unit(t['goal'], t['unit'])}"
    met = {True: "met", False: "NOT met", None: ""}[t["met"]]
    worst = f"worst {shown(t['worst'])} ({t['worst_optimizer']})" if t["optimizers"] > 1 else ""
    note = f"; {t['note']}" if t["note"] else ""
    what = f"{t['what']}, {t['tree']}"
    return f"  {what:42} {t['reference']} {shown(t['value']):>9}  {goal:16} {met:8} {worst}{note}"


def table(results: list[Result]) -> str:
    """One line per result, then one line of ratios per pair of libraries; floors, targets and
    notes underneath."""
    ratio_rows: dict[tuple[str, str], list[dict]] = {}
    for row in ratios(results):
        ratio_rows.setdefault((row["optimizer"], row["tree"]), []).append(row)
    lines, notes = [[name for name, _, _ in COLUMNS]], []
    for case, libs in by_case(results).items():
        for r in libs.values():
            lines.append(_result_cells(r))
            notes += [f"{r.library} {r.optimizer} {r.tree}: {note}" for note in r.notes]
        lines += [_ratio_cells(row) for row in ratio_rows.get(case, [])]
    footer = []
    if floor_lines := [_floor_line(f) for f in floors(results)]:
        footer += ["", "Bandwidth floors (each array read or written once, donated):", *floor_lines]
    target_rows = targets(results)
    if any(t["value"] is not None for t in target_rows):
        footer += ["", "Targets of the fused step (issue 14):", *map(_target_line, target_rows)]
    if notes:
        footer += ["", "Notes:", *(f"  {note}" for note in notes)]
    return "\n".join(_aligned(lines) + footer)


# The README's Markdown tables: gradtx's two steps as ratios to Optax, then the targets.

README_START, README_END = "<!-- benchmarks.report: start -->", "<!-- benchmarks.report: end -->"
STEPS = {GRADTX: "XLA", GRADTX_FUSED: "fused"}
MARKDOWN_COLUMNS = (  # header, tree, field, unit of an absolute value
    *((tree, tree, "step_s", "ms") for tree in ("A", "B", "C", "D", "A16")),
    ("compile C", "C", "lower_compile_s", "s"),
    *((f"eager {tree}", tree, "eager_s", "ms") for tree in ("A", "B", "C")),
)
XLA_PATH = "†"  # the fused step took the XLA path in this case


def _markdown_cell(libs: dict[str, Result], library: str, field: str, unit: str) -> str:
    """ours / Optax; ours alone where Optax has no such optimizer or failed; '—' not measured."""
    ours, theirs = libs.get(library), libs.get(OPTAX)
    if ours is None:
        return "—"
    if ours.status != "ok":
        return "fails"
    value = ours.to_json()[field]
    if value is None:
        return "—"
    mark = XLA_PATH if library == GRADTX_FUSED and ours.fused_calls == 0 else ""
    if theirs is None or theirs.status == "n/a":
        return with_unit(value, unit) + mark
    if theirs.status != "ok":
        return f"{with_unit(value, unit)}{mark} (Optax fails)"
    shown = ratio(value, theirs.to_json()[field])
    return "—" if shown is None else f"{shown:.2f}x{mark}"


def markdown_table(results: list[Result]) -> str:
    cases = by_case(results)
    optimizers = list(dict.fromkeys(r.optimizer for r in results))
    lines = [
        "| optimizer | step | " + " | ".join(h for h, *_ in MARKDOWN_COLUMNS) + " |",
        "|---|---|" + "---|" * len(MARKDOWN_COLUMNS),
    ]
    for optimizer in optimizers:
        for library, step in STEPS.items():
            cells = [
                _markdown_cell(cases.get((optimizer, tree), {}), library, field, unit)
                for _, tree, field, unit in MARKDOWN_COLUMNS
            ]
            lines.append(f"| {optimizer} | {step} | " + " | ".join(cells) + " |")
    if any(XLA_PATH in line for line in lines[2:]):
        lines += ["", f"{XLA_PATH} the fused step took the XLA path (no kernel for this case)."]
    return "\n".join(lines)


def markdown_targets(rows: list[dict]) -> str:
    def shown(value, unit):
        return "—" if value is None else with_unit(value, unit)

    lines = [
        f"| target (issue 14) | tree | {rows[0]['reference'] if rows else ''} | worst | goal |",
        "|---|---|---|---|---|",
    ]
    for t in rows:
        met = {True: " ✓", False: " ✗", None: ""}[t["met"]]
        worst = shown(t["worst"], t["unit"])
        if t["worst_optimizer"] and t["optimizers"] > 1:
            worst += f" ({t['worst_optimizer']})"
        goal = "—" if t["goal"] is None else "≤ " + with_unit(t["goal"], t["unit"])
        note = f" ({t['note']})" if t["note"] else ""
        value = shown(t["value"], t["unit"]) + met + note
        lines.append(f"| {t['what']} | {t['tree']} | {value} | {worst} | {goal} |")
    return "\n".join(lines)


def markdown(document: dict) -> str:
    """The README's tables from a run's JSON document."""
    results = [Result.from_json(row) for row in document["results"]]
    return markdown_table(results) + "\n\n" + markdown_targets(targets(results))


def splice(readme: str, tables: str) -> str:
    """`readme` with the text between its `benchmarks.report` comments replaced by `tables`."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README lacks the {README_START} ... {README_END} comments")
    return readme[: start + len(README_START)] + "\n" + tables + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("results", type=Path, help="a run's JSON (python -m benchmarks.run --json)")
    parser.add_argument("--readme", type=Path, help="write the tables into this README")
    args = parser.parse_args(argv)
    tables = markdown(json.loads(args.results.read_text()))
    if args.readme is None:
        print(tables)
        return
    args.readme.write_text(splice(args.readme.read_text(), tables))
    print(f"Wrote the tables of {args.results} into {args.readme}", file=sys.stderr)


if __name__ == "__main__":
    main()
