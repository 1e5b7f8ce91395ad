"""The results: one row per (optimizer, tree, library), the gradtx/Optax ratios, the table, JSON."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Iterable

from benchmarks.cases import GRADTX
from benchmarks.measure import ratio

MB = 1e6


@dataclasses.dataclass
class Result:
    """One library's optimizer on one tree. Times in seconds, sizes in bytes; None: not measured
    (a failure, 'n/a', or eager on tree D)."""

    optimizer: str
    tree: str
    library: str
    necessary_bytes: int  # bytes one step cannot avoid moving (`cases.necessary_bytes`)
    floor_arrays: str  # the floor kernel's arity, e.g. "4->3"
    status: str = "ok"  # "ok", "n/a" (the library has no such optimizer) or "failed ...: why"
    step_s: float | None = None  # median jitted step (update + apply_updates, donated)
    step_iqr_s: float | None = None
    floor_s: float | None = None  # median floor kernel, timed interleaved with the steps
    floor_bytes_accessed: float | None = None  # XLA cost analysis of the floor kernel
    lower_s: float | None = None
    compile_s: float | None = None
    temp_bytes: int | None = None  # XLA memory analysis of the compiled step
    argument_bytes: int | None = None
    output_bytes: int | None = None
    alias_bytes: int | None = None
    state_bytes: int | None = None  # the optimizer state's arrays
    bytes_accessed: float | None = None  # XLA cost analysis of the compiled step
    eager_s: float | None = None  # median un-jitted step, as in a notebook (not on tree D)
    eager_iqr_s: float | None = None
    eager_first_s: float | None = None  # the first un-jitted step: compiling, then stepping
    notes: list[str] = dataclasses.field(default_factory=list)

    def derived(self) -> dict[str, float | None]:
        return {
            "step_over_floor": ratio(self.step_s, self.floor_s),
            "accessed_over_necessary": ratio(self.bytes_accessed, self.necessary_bytes),
            "floor_gb_per_s": ratio(self.necessary_bytes / 1e9, self.floor_s),
            "step_gb_per_s": ratio(self.necessary_bytes / 1e9, self.step_s),
        }

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), **self.derived()}


RATIO_FIELDS = (
    "step_s",
    "lower_s",
    "compile_s",
    "temp_bytes",
    "state_bytes",
    "bytes_accessed",
    "eager_s",
    "eager_first_s",
)


def by_case(results: Iterable[Result]) -> dict[tuple[str, str], dict[str, Result]]:
    """Results keyed by (optimizer, tree), then by library, in the order they came."""
    cases: dict[tuple[str, str], dict[str, Result]] = {}
    for r in results:
        cases.setdefault((r.optimizer, r.tree), {})[r.library] = r
    return cases


def ratios(results: Iterable[Result]) -> list[dict]:
    """gradtx over each other library measured on the same (optimizer, tree); a field is None
    where either side lacks it or the quotient is undefined (e.g. temp bytes 0 / 0)."""
    rows = []
    for (optimizer, tree), libs in by_case(results).items():
        ours = libs.get(GRADTX)
        for name, theirs in libs.items():
            if name == GRADTX or ours is None or not ours.status == theirs.status == "ok":
                continue
            row = {"optimizer": optimizer, "tree": tree, "numerator": GRADTX, "denominator": name}
            for field in RATIO_FIELDS:
                row[field] = ratio(getattr(ours, field), getattr(theirs, field))
            rows.append(row)
    return rows


def floors(results: Iterable[Result]) -> list[dict]:
    """The floor kernel per (tree, arity): the median over the cases it was timed beside."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        if r.floor_s is not None:
            groups.setdefault((r.tree, r.floor_arrays), []).append(r)
    rows = []
    for (tree, arrays), rs in sorted(groups.items()):
        median_s = statistics.median(r.floor_s for r in rs)
        nbytes = rs[0].necessary_bytes
        rows.append(
            {
                "tree": tree,
                "arrays": arrays,
                "bytes": nbytes,
                "median_s": median_s,
                "gb_per_s": nbytes / 1e9 / median_s,
                "accessed_over_bytes": ratio(rs[0].floor_bytes_accessed, nbytes),
                "cases": len(rs),
            }
        )
    return rows


def to_json(meta: dict, trees: list[dict], results: list[Result]) -> str:
    document = {
        "schema": 1,
        "meta": meta,
        "trees": trees,
        "results": [r.to_json() for r in results],
        "ratios": ratios(results),
        "floors": floors(results),
    }
    return json.dumps(document, indent=1, allow_nan=False)


# The table: plain text, right-aligned numbers, ratios as 'x'.

COLUMNS = (  # header, field, unit
    ("optimizer", None, None),
    ("tree", None, None),
    ("library", None, None),
    ("step ms", "step_s", "ms"),
    ("IQR ms", "step_iqr_s", "ms"),
    ("/floor", "step_over_floor", "x"),
    ("GB/s", "step_gb_per_s", "GB/s"),
    ("lower s", "lower_s", "s"),
    ("compile s", "compile_s", "s"),
    ("temp MB", "temp_bytes", "MB"),
    ("state MB", "state_bytes", "MB"),
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
    values = {**dataclasses.asdict(r), **r.derived()}
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


def table(results: list[Result]) -> str:
    """One line per result, then one line of gradtx/other ratios per case; notes underneath."""
    ratio_rows: dict[tuple[str, str], list[dict]] = {}
    for row in ratios(results):
        ratio_rows.setdefault((row["optimizer"], row["tree"]), []).append(row)
    lines, notes = [[name for name, _, _ in COLUMNS]], []
    for case, libs in by_case(results).items():
        for r in libs.values():
            lines.append(_result_cells(r))
            notes += [f"{r.library} {r.optimizer} {r.tree}: {note}" for note in r.notes]
        lines += [_ratio_cells(row) for row in ratio_rows.get(case, [])]
    full = [line for line in lines if len(line) == len(COLUMNS)]  # not a status line
    widths = [max(len(line[i]) for line in (full if i > 2 else lines)) for i in range(len(COLUMNS))]
    text = []
    for line in lines:
        if len(line) < len(COLUMNS):  # a status instead of numbers
            cells = [c.ljust(w) for c, w in zip(line[:3], widths[:3], strict=True)]
            text.append("  ".join(cells + [line[3]]))
            continue
        cells = [c.ljust(w) for c, w in zip(line[:3], widths[:3], strict=True)]
        cells += [c.rjust(w) for c, w in zip(line[3:], widths[3:], strict=True)]
        text.append("  ".join(cells).rstrip())
    floor_lines = [
        f"  tree {f['tree']}  {f['arrays']:>5} arrays  {f['bytes'] / MB:8.1f} MB  "
        f"{f['median_s'] * 1e3:9.3f} ms  {f['gb_per_s']:6.2f} GB/s  "
        f"accessed/needed {f['accessed_over_bytes']:.2f}x"
        for f in floors(results)
    ]
    footer = []
    if floor_lines:
        footer += ["", "Bandwidth floor (each array read or written once, donated):", *floor_lines]
    if notes:
        footer += ["", "Notes:", *(f"  {note}" for note in notes)]
    return "\n".join(text + footer)
