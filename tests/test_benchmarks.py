"""Smoke test of `python -m benchmarks.run --quick`: it runs and writes complete JSON.

No timing is asserted: only that every field the report promises is there and is a finite
positive number (or a non-negative one, where zero is a legitimate answer).
"""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

POSITIVE = (
    "necessary_bytes",
    "step_s",
    "floor_s",
    "floor_bytes_accessed",
    "lower_s",
    "compile_s",
    "argument_bytes",
    "output_bytes",
    "state_bytes",
    "bytes_accessed",
    "step_over_floor",
    "accessed_over_necessary",
    "floor_gb_per_s",
    "step_gb_per_s",
)
NON_NEGATIVE = ("step_iqr_s", "temp_bytes", "alias_bytes")
EAGER = ("eager_s", "eager_iqr_s", "eager_first_s")
RATIOS = ("step_s", "lower_s", "compile_s", "state_bytes", "bytes_accessed")
TREES = ("A", "B", "C", "D", "A16")


def _finite(value, minimum_exclusive=None):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    assert math.isfinite(value), value
    if minimum_exclusive is not None:
        assert value > minimum_exclusive, value
    return value


def test_run_quick_writes_complete_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "gradtx/optax" in proc.stdout
    report = json.loads(out.read_text())

    assert report["meta"]["quick"] is True
    assert {t["name"] for t in report["trees"]} == set(TREES)
    cases = {(r["optimizer"], r["tree"], r["library"]): r for r in report["results"]}
    expected = {
        (opt, tree, lib)
        for opt in ("sgd_momentum", "adam")
        for tree in TREES
        for lib in ("gradtx", "optax")
    }
    assert set(cases) == expected
    for key, r in cases.items():
        assert r["status"] == "ok", (key, r["status"])
        for field in POSITIVE:
            _finite(r[field], 0)
        for field in NON_NEGATIVE:
            assert _finite(r[field]) >= 0, (key, field)
        for field in EAGER:
            if key[1] == "D":  # no eager step on tree D
                assert r[field] is None, (key, field)
            else:
                _finite(r[field], None if field == "eager_iqr_s" else 0)

    ratios = {(r["optimizer"], r["tree"]): r for r in report["ratios"]}
    assert set(ratios) == {(opt, tree) for opt, tree, _ in expected}
    for key, r in ratios.items():
        assert (r["numerator"], r["denominator"]) == ("gradtx", "optax"), key
        for field in RATIOS:
            _finite(r[field], 0)
        if key[1] != "D":
            _finite(r["eager_s"], 0)
            _finite(r["eager_first_s"], 0)

    assert {(f["tree"], f["arrays"]) for f in report["floors"]} == {
        (tree, arrays) for tree in TREES for arrays in ("3->2", "4->3")
    }
    for f in report["floors"]:
        for field in ("bytes", "median_s", "gb_per_s", "accessed_over_bytes"):
            _finite(f[field], 0)
