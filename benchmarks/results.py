"""What a run found: one row per (optimizer, tree, library), the ratios, the floors, the
targets of the fused step, and the JSON document that holds them (`benchmarks/README.md`)."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Iterable

from benchmarks.cases import GRADTX, GRADTX_FUSED, OPTAX
from benchmarks.measure import ratio


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
    step_s: float | None = None  # median jitted step (params and state donated)
    step_iqr_s: float | None = None
    floor_s: float | None = None  # median floor kernel, timed interleaved with the steps
    floor_bytes_accessed: float | None = None  # XLA cost analysis of the floor kernel
    floor_c_s: float | None = None  # median C++ floor kernel (`floor_c`), timed the same way
    dispatch_s: float | None = None  # gradtx rows: a step returning its donated args untouched
    fused_calls: int | None = None  # gradtx's FFI custom calls in the step (0: the XLA path)
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
    peak_rss_bytes: int | None = None  # tree D: the child's peak resident memory after the case
    notes: list[str] = dataclasses.field(default_factory=list)

    def derived(self) -> dict[str, float | None]:
        return {
            "step_over_floor": ratio(self.step_s, self.floor_s),
            "step_over_floor_c": ratio(self.step_s, self.floor_c_s),
            "dispatch_share": ratio(self.dispatch_s, self.step_s),
            "eager_over_step": ratio(self.eager_s, self.step_s),
            "lower_compile_s": _sum(self.lower_s, self.compile_s),
            "accessed_over_necessary": ratio(self.bytes_accessed, self.necessary_bytes),
            "floor_gb_per_s": ratio(self.necessary_bytes / 1e9, self.floor_s),
            "step_gb_per_s": ratio(self.necessary_bytes / 1e9, self.step_s),
        }

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), **self.derived()}

    @classmethod
    def from_json(cls, row: dict) -> Result:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


RATIO_FIELDS = (
    "step_s",
    "lower_s",
    "compile_s",
    "lower_compile_s",
    "temp_bytes",
    "state_bytes",
    "bytes_accessed",
    "eager_s",
    "eager_first_s",
    "peak_rss_bytes",
)
OURS = (GRADTX, GRADTX_FUSED)


def by_case(results: Iterable[Result]) -> dict[tuple[str, str], dict[str, Result]]:
    """Results keyed by (optimizer, tree), then by library, in the order they came."""
    cases: dict[tuple[str, str], dict[str, Result]] = {}
    for r in results:
        cases.setdefault((r.optimizer, r.tree), {})[r.library] = r
    return cases


def _pairs(libs: dict[str, Result]) -> list[tuple[str, str]]:
    """(numerator, denominator): each gradtx step over each other library, then fused / XLA."""
    pairs = [(ours, other) for ours in OURS for other in libs if other not in OURS]
    return [*pairs, (GRADTX_FUSED, GRADTX)]


def ratio_row(ours: Result, theirs: Result) -> dict:
    a, b = ours.to_json(), theirs.to_json()
    row = {"optimizer": ours.optimizer, "tree": ours.tree}
    row |= {"numerator": ours.library, "denominator": theirs.library}
    return row | {field: ratio(a[field], b[field]) for field in RATIO_FIELDS}


def ratios(results: Iterable[Result]) -> list[dict]:
    """gradtx's steps (XLA, fused) over each other library measured on the same (optimizer,
    tree), and fused over XLA; a field is None where either side lacks it or the quotient is
    undefined (e.g. temp bytes 0 / 0)."""
    rows = []
    for libs in by_case(results).values():
        for numerator, denominator in _pairs(libs):
            ours, theirs = libs.get(numerator), libs.get(denominator)
            if ours is not None and theirs is not None and ours.status == theirs.status == "ok":
                rows.append(ratio_row(ours, theirs))
    return rows


def floors(results: Iterable[Result]) -> list[dict]:
    """The floor kernels per (tree, arity): the median over the cases they were timed beside."""
    groups: dict[tuple[str, str], dict[str, Result]] = {}
    for r in results:
        if r.floor_s is not None:  # one row per case: every library's row holds the same floor
            groups.setdefault((r.tree, r.floor_arrays), {}).setdefault(r.optimizer, r)
    rows = []
    for (tree, arrays), case_rows in sorted(groups.items()):
        rs = list(case_rows.values())
        nbytes = rs[0].necessary_bytes
        median_s = statistics.median(r.floor_s for r in rs)
        c_times = [r.floor_c_s for r in rs if r.floor_c_s is not None]
        c_median_s = statistics.median(c_times) if c_times else None
        rows.append(
            {
                "tree": tree,
                "arrays": arrays,
                "bytes": nbytes,
                "median_s": median_s,
                "gb_per_s": nbytes / 1e9 / median_s,
                "accessed_over_bytes": ratio(rs[0].floor_bytes_accessed, nbytes),
                "c_median_s": c_median_s,
                "c_gb_per_s": ratio(nbytes / 1e9, c_median_s),
                "cases": len(rs),
            }
        )
    return rows


# The targets of the fused step (issue 14), as ratios in one run; never asserted in tests.

REFERENCE = "adam"  # the optimizer the targets were set on


@dataclasses.dataclass(frozen=True)
class Target:
    """`field` of the gradtx.fused row on `tree` (`ratio` True: of fused / Optax), at most
    `goal` (None: reported only) in `unit`."""

    what: str
    tree: str
    field: str
    goal: float | None
    unit: str = "x"
    ratio: bool = False


TARGETS = (
    Target("step, fused / Optax", "A", "step_s", 0.70, ratio=True),
    Target("step, fused / Optax", "B", "step_s", 0.75, ratio=True),
    Target("step, fused / Optax", "A16", "step_s", 0.60, ratio=True),
    Target("step, fused / Optax", "C", "step_s", 0.90, ratio=True),
    Target("dispatch share of the fused step", "C", "dispatch_share", None, "%"),
    Target("step, fused / C floor kernel", "A", "step_over_floor_c", 1.15),
    Target("lower + compile, fused / Optax", "C", "lower_compile_s", 0.30, ratio=True),
    Target("lower + compile, fused", "D", "lower_compile_s", 60.0, "s"),
    Target("peak memory, fused", "D", "peak_rss_bytes", 4e9, "GB"),
    Target("eager step(donate=True) / jitted", "A", "eager_over_step", 1.30),
    Target("eager step(donate=True) / jitted", "B", "eager_over_step", 1.30),
)


def _target_value(target: Target, libs: dict[str, Result]) -> float | None:
    ours, theirs = libs.get(GRADTX_FUSED), libs.get(OPTAX)
    if ours is None or ours.status != "ok":
        return None
    if not target.ratio:
        return ours.to_json()[target.field]
    if theirs is None or theirs.status != "ok":
        return None
    return ratio(ours.to_json()[target.field], theirs.to_json()[target.field])


def _optax_note(target: Target, libs: dict[str, Result]) -> str | None:
    """On tree D, what Optax did: its value, or how it failed."""
    theirs = libs.get(OPTAX)
    if target.tree != "D" or theirs is None:
        return None
    if theirs.status != "ok":
        status = theirs.status.split(" (cap")[0]  # the child's last words are in the rows
        return f"Optax {status}"[:120]
    value = theirs.to_json()[target.field]
    return None if value is None else f"Optax {with_unit(value, target.unit)}"


def targets(results: Iterable[Result]) -> list[dict]:
    """Each target's value for `REFERENCE`, the worst over the optimizers measured, and whether
    the reference meets it (None: not measured, or no goal)."""
    cases = by_case(results)
    rows = []
    for target in TARGETS:
        values = {
            optimizer: value
            for (optimizer, tree), libs in cases.items()
            if tree == target.tree and (value := _target_value(target, libs)) is not None
        }
        reference = values.get(REFERENCE)
        worst = max(values, key=values.__getitem__) if values else None
        met = None if reference is None or target.goal is None else reference <= target.goal
        libs = cases.get((REFERENCE, target.tree), {})
        rows.append(
            {
                **dataclasses.asdict(target),
                "reference": REFERENCE,
                "value": reference,
                "met": met,
                "worst": values.get(worst),
                "worst_optimizer": worst,
                "optimizers": len(values),
                "note": _optax_note(target, libs),
            }
        )
    return rows


SCHEMA = 2


def to_json(meta: dict, trees: list[dict], results: list[Result]) -> str:
    document = {
        "schema": SCHEMA,
        "meta": meta,
        "trees": trees,
        "results": [r.to_json() for r in results],
        "ratios": ratios(results),
        "floors": floors(results),
        "targets": targets(results),
    }
    return json.dumps(document, indent=1, allow_nan=False)


def with_unit(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:.0f}%"
    if unit == "GB":
        return f"{value / 1e9:.2f} GB"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "ms":
        return f"{value * 1e3:.3g} ms" if value < 0.1 else f"{value * 1e3:.0f} ms"
    return f"{value:.2f}x"
