"""Smoke test of `python -m benchmarks.run --quick`: it runs and writes complete JSON, and
`benchmarks.report` renders the README's tables from it.

No timing is asserted: only that every field the report promises is there and is a finite
positive number (or a non-negative one, where zero is a legitimate answer), and None exactly
where the README of benchmarks/ says it is.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gradtx
from benchmarks import report
from benchmarks.results import SCHEMA, TARGETS

ROOT = Path(__file__).resolve().parents[1]

POSITIVE = (
    "necessary_bytes",
    "step_s",
    "floor_s",
    "floor_c_s",
    "floor_bytes_accessed",
    "lower_s",
    "compile_s",
    "argument_bytes",
    "output_bytes",
    "state_bytes",
    "step_over_floor",
    "step_over_floor_c",
    "floor_gb_per_s",
    "step_gb_per_s",
    "lower_compile_s",
)
NON_NEGATIVE = ("step_iqr_s", "temp_bytes", "alias_bytes")
EAGER = ("eager_s", "eager_iqr_s", "eager_first_s", "eager_over_step")
XLA_COST = ("bytes_accessed", "accessed_over_necessary")  # None where a custom call hides it
OURS = ("gradtx", "gradtx.fused")
LIBRARIES = (*OURS, "optax")
PAIRS = {("gradtx", "optax"), ("gradtx.fused", "optax"), ("gradtx.fused", "gradtx")}
RATIOS = ("step_s", "lower_s", "compile_s", "lower_compile_s", "state_bytes")
TREES = ("A", "B", "C", "D", "A16")


def _finite(value, minimum_exclusive=None):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    assert math.isfinite(value), value
    if minimum_exclusive is not None:
        assert value > minimum_exclusive, value
    return value


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def _check_row(key, r, fused: bool, floor_c: bool):
    assert r["status"] == "ok", (key, r["status"])
    for field in POSITIVE:
        if "floor_c" in field and not floor_c:
            assert r[field] is None, (key, field)
        else:
            _finite(r[field], 0)
    for field in NON_NEGATIVE:
        assert _finite(r[field]) >= 0, (key, field)
    calls = r["fused_calls"]
    if key[2] == "gradtx.fused" and fused:  # every quick case has a kernel
        assert _finite(calls, 0) and all(r[field] is None for field in XLA_COST), key
    else:
        assert calls == 0 and all(_finite(r[field], 0) for field in XLA_COST), key
    for field in ("dispatch_s", "dispatch_share"):
        if key[2] in OURS:
            _finite(r[field], 0)
        else:
            assert r[field] is None, (key, field)
    for field in EAGER:
        if key[1] == "D":  # no eager step on tree D, which runs in a child with a memory cap
            assert r[field] is None, (key, field)
        else:
            _finite(r[field], None if field == "eager_iqr_s" else 0)
    if key[1] == "D":
        _finite(r["peak_rss_bytes"], 0)
    else:
        assert r["peak_rss_bytes"] is None, key


def test_run_quick_writes_complete_json(quick_run):
    stdout, report_ = quick_run
    assert "gradtx.fused/optax" in stdout and "Targets of the fused step" in stdout
    assert report_["schema"] == SCHEMA == 2
    meta = report_["meta"]
    assert meta["quick"] is True
    # Where the compiler exists ($CXX, else g++) the C floor kernel must build; without it the
    # run goes on without it.
    compiler = os.environ.get("CXX") or "g++"
    has_compiler = shutil.which(compiler) is not None or os.path.isfile(compiler)
    assert (meta["floor_c"] == "built") == has_compiler, meta["floor_c"]
    assert {t["name"] for t in report_["trees"]} == set(TREES)
    cases = {(r["optimizer"], r["tree"], r["library"]): r for r in report_["results"]}
    expected = {(o, t, lib) for o in ("sgd_momentum", "adam") for t in TREES for lib in LIBRARIES}
    assert set(cases) == expected
    for key, r in cases.items():
        _check_row(key, r, meta["fused_available"], meta["floor_c"] == "built")

    ratios = {
        (r["optimizer"], r["tree"], r["numerator"], r["denominator"]): r for r in report_["ratios"]
    }
    assert set(ratios) == {(o, t, *pair) for o, t, _ in expected for pair in PAIRS}
    for key, r in ratios.items():
        for field in RATIOS:
            _finite(r[field], 0)
        if key[1] != "D":
            _finite(r["eager_s"], 0)
            _finite(r["eager_first_s"], 0)
        else:
            _finite(r["peak_rss_bytes"], 0)

    assert {(f["tree"], f["arrays"]) for f in report_["floors"]} == {
        (tree, arrays) for tree in TREES for arrays in ("3->2", "4->3")
    }
    for f in report_["floors"]:
        for field in ("bytes", "median_s", "gb_per_s", "accessed_over_bytes"):
            _finite(f[field], 0)
        assert (f["c_median_s"] is None) is (meta["floor_c"] != "built"), f

    assert [(t["what"], t["tree"]) for t in report_["targets"]] == [
        (t.what, t.tree) for t in TARGETS
    ]
    for t in report_["targets"]:  # every target is measured by the quick run, for adam
        if "C floor" in t["what"] and meta["floor_c"] != "built":
            assert t["value"] is None, t
            continue
        assert t["reference"] == "adam" and _finite(t["value"], 0), t
        assert t["met"] is (None if t["goal"] is None else t["value"] <= t["goal"]), t
        assert t["worst"] >= t["value"], t


def test_report_renders_the_readme_tables(quick_run):
    _, document = quick_run
    tables = report.markdown(document)
    lines = tables.splitlines()
    assert lines[0].startswith("| optimizer | step | A | B | C | D | A16 | compile C |")
    for optimizer in ("sgd_momentum", "adam"):
        for step in ("XLA", "fused"):
            row = next(line for line in lines if line.startswith(f"| {optimizer} | {step} |"))
            # every cell a ratio to Optax, marked † where the fused step took the XLA path
            fell_back = step == "fused" and not gradtx.fused_available()
            assert row.count("x† |" if fell_back else "x |") == 9, row
    assert sum(line.startswith("| step, fused / Optax |") for line in lines) == 4

    readme = (ROOT / "README.md").read_text()
    spliced = report.splice(readme, tables)
    start, end = spliced.index(report.README_START), spliced.index(report.README_END)
    assert spliced[start:end].strip().endswith(tables.strip())
    assert (
        spliced[:start] == readme[:start]
        and spliced[end:] == readme[readme.index(report.README_END) :]
    )
    with pytest.raises(ValueError, match="benchmarks.report"):
        report.splice("no markers here", tables)
