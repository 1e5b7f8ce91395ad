"""The fused CPU step beside gradtx's XLA step and Optax: Adam, jitted, donated, one process.

    python -m benchmarks.fused_step                      # trees A, B, C of 4M parameters
    python -m benchmarks.fused_step --size 16000000 --json out.json

Per tree (A: 1 leaf, B: 100 leaves, C: 2,000 leaves; every tree has `--size` float32
parameters), each step is compiled with params and state donated and gradients an input, then
timed in interleaved blocks (`measure.time_interleaved`): `gradtx.step` (the fused kernel),
`gradtx.step(fused=False)` (the XLA path), Optax 0.2.8's `update` + `apply_updates`, and the XLA
bandwidth-floor kernel (4 arrays read, 3 written) over one vector of the same size. The eager
`gradtx.step(donate=True)` is timed on trees A and B. Times are medians; ratios are in one run.
Timed numbers are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import optax

import gradtx
from benchmarks import cases, measure

TREES = {"A": 1, "B": 100, "C": 2_000}


def _steps(tx):
    def fused(params, state, grads):
        return gradtx.step(tx, params, grads, state)

    def xla(params, state, grads):
        return gradtx.step(tx, params, grads, state, fused=False)

    return {"fused": fused, "xla": xla}


OPTAX_ADAM = optax.adam(1e-3)


def _optax_step(params, state, grads):
    updates, state = OPTAX_ADAM.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def _eager(tx, params, grads):
    box = [params, tx.init(params)]

    def run():
        box[0], box[1] = gradtx.step(tx, box[0], grads, box[1], donate=True)
        jax.block_until_ready(box)

    return run


def measure_tree(name: str, leaves: int, size: int, args) -> dict:
    tree = cases.Tree(name, leaves, size // leaves)
    host = cases.host_tree(tree, 0)
    grads = jax.tree.map(lambda x: jax.numpy.asarray(x * 1e-2), host)
    tx = gradtx.adam(1e-3)
    compiled, row = {}, {"tree": name, "leaves": leaves, "size": tree.size}
    plans = {**_steps(tx), "optax": _optax_step}
    for lib, fn in plans.items():
        params = jax.tree.map(jax.numpy.asarray, host)
        state = (OPTAX_ADAM if lib == "optax" else tx).init(params)
        compiled[lib] = c = measure.compile_and_analyse(fn, [params, state, grads], (0, 1), print)
        row[f"{lib}_lower_s"], row[f"{lib}_compile_s"] = c.lower_s, c.compile_s
        row[f"{lib}_temp_bytes"] = c.memory["temp_bytes"]
        row[f"{lib}_alias_bytes"] = c.memory["alias_bytes"]
    runners = {lib: c.run for lib, c in compiled.items()}
    if leaves == 1:
        runners["floor"] = measure.bandwidth_floor(tree.size, 4, 3).run
    if name in args.eager_trees:
        params = jax.tree.map(jax.numpy.asarray, host)
        runners["eager"] = _eager(tx, params, grads)
    timings = measure.time_interleaved(
        runners, warmup=2, blocks=args.blocks, steps=args.steps // args.blocks
    )
    for lib, t in timings.items():
        row[f"{lib}_step_s"], row[f"{lib}_iqr_s"] = t.median_s, t.iqr_s
    row["fused_over_optax"] = row["fused_step_s"] / row["optax_step_s"]
    row["xla_over_optax"] = row["xla_step_s"] / row["optax_step_s"]
    row["fused_compile_over_optax"] = (row["fused_lower_s"] + row["fused_compile_s"]) / (
        row["optax_lower_s"] + row["optax_compile_s"]
    )
    if "floor_step_s" in row:
        row["fused_over_floor"] = row["fused_step_s"] / row["floor_step_s"]
    if "eager_step_s" in row:
        row["eager_over_jitted"] = row["eager_step_s"] / row["fused_step_s"]
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| tree | leaves | fused ms | XLA ms | Optax ms | fused/Optax | XLA/Optax | floor ms "
        "| fused/floor | compile fused s | compile Optax s | eager/jitted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ms(v):
        return "" if v is None else f"{1e3 * v:.2f}"

    def x(v):
        return "" if v is None else f"{v:.2f}x"

    for r in rows:
        lines.append(
            f"| {r['tree']} | {r['leaves']} | {ms(r['fused_step_s'])} | {ms(r['xla_step_s'])} "
            f"| {ms(r['optax_step_s'])} | {x(r['fused_over_optax'])} | {x(r['xla_over_optax'])} "
            f"| {ms(r.get('floor_step_s'))} | {x(r.get('fused_over_floor'))} "
            f"| {r['fused_lower_s'] + r['fused_compile_s']:.2f} "
            f"| {r['optax_lower_s'] + r['optax_compile_s']:.2f} "
            f"| {x(r.get('eager_over_jitted'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4_000_000)
    parser.add_argument("--trees", default="A,B,C")
    parser.add_argument("--eager-trees", default="A,B")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not gradtx.fused_available():
        sys.exit("the fused kernel is not built: python -m gradtx._native.build")
    started, load_before = time.time(), os.getloadavg()
    rows = [measure_tree(t, TREES[t], args.size, args) for t in args.trees.split(",")]
    print(table(rows))
    if args.json:
        meta = {
            "jax": jax.__version__,
            "optax": optax.__version__,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_before_after": [load_before, os.getloadavg()],
            "wall_s": time.time() - started,
            "args": vars(args),
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
