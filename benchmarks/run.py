"""Measure gradtx beside Optax: `python -m benchmarks.run [--quick] [--json PATH]`.

Per optimizer and tree, each library's jitted train step (params and state donated, gradients
an input) is compiled, analysed by XLA, and timed in blocks interleaved with the other
libraries, the bandwidth-floor kernels (XLA's and C++'s) and, for gradtx, a step that returns its
arguments untouched (the dispatch floor); then the eager step is timed the same way. The
libraries: gradtx's `update` + `apply_updates` (the XLA path), `gradtx.step` (the fused CPU
kernel), Optax's `update` + `apply_updates`. Tree D (20,000 leaves) runs in child processes under
memory and time caps, so that a library that cannot compile it is reported instead of ending the
run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import optax

import gradtx
from benchmarks import cases, floor_c, measure
from benchmarks.report import table
from benchmarks.results import Result, to_json

ROOT = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "RESULT "


@dataclasses.dataclass(frozen=True)
class Plan:
    """How to time: `warmup` untimed steps each, then `blocks` interleaved blocks of
    `steps_per_block` timed steps each."""

    warmup: int
    blocks: int
    steps_per_block: int

    @classmethod
    def for_steps(cls, steps: int, warmup: int) -> Plan:
        blocks = min(10, max(2, steps // 5))
        return cls(warmup, blocks, math.ceil(steps / blocks))

    def timing_args(self) -> dict[str, int]:
        return {"warmup": self.warmup, "blocks": self.blocks, "steps": self.steps_per_block}


def plans(steps: int) -> tuple[Plan, Plan]:
    """The jitted plan, and the eager one: a tenth of the steps, at least two, after the first
    step (timed apart: it compiles)."""
    return Plan.for_steps(steps, warmup=max(2, steps // 10)), Plan.for_steps(max(2, steps // 10), 0)


STARTED = time.perf_counter()


class Phase:
    """Says on stderr what is about to happen, and when (seconds since start-up), and remembers
    it: progress for the reader, and where a library failed, or a child died, for the report."""

    def __init__(self, *context: str):
        self.context, self.last = context, "start-up"

    def __call__(self, what: str) -> None:
        self.last = what
        elapsed = f"[{time.perf_counter() - STARTED:6.1f} s]"
        print("phase", *self.context, what, elapsed, file=sys.stderr, flush=True)


def _failure(where: str, error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"failed during {where}: {type(error).__name__}: {message[0] if message else ''}"[:300]


def blank_result(opt: cases.Optimizer, tree: cases.Tree, lib: str, status: str = "ok") -> Result:
    arrays = "{}->{}".format(*cases.floor_arity(opt))
    return Result(opt.name, tree.name, lib, cases.necessary_bytes(opt, tree), arrays, status)


def compile_libraries(opt, tree, libs, host_params, grads, results) -> dict:
    """Compile each library's jitted step into `results`; the runners of those that compiled."""
    runners = {}
    # The library compiled first pays more (measured: ~1-2 s at 2,000 leaves), so the order
    # alternates from one optimizer to the next.
    order = list(libs.items())
    if list(cases.OPTIMIZERS).index(opt.name) % 2:
        order.reverse()
    for lib, make in order:
        r = results[lib]
        if make is None:
            r.status = "n/a"
            continue
        phase = Phase(tree.name, opt.name, lib)
        phase("init")
        try:
            tx, params = make(), jax.device_put(host_params)
            step, r.state_bytes, r.notes = measure.jitted_step(
                tx, cases.step_function(lib, tx), params, grads, phase
            )
        except Exception as error:  # a library failing to compile is a result, not a crash
            r.status = _failure(phase.last, error)
            continue
        r.lower_s, r.compile_s, r.fused_calls = step.lower_s, step.compile_s, step.fused_calls
        # XLA's cost analysis does not see into a custom call: no estimate for the fused kernel.
        r.bytes_accessed = None if step.fused_calls else step.bytes_accessed
        if lib == cases.GRADTX_FUSED and not step.fused_calls:
            why = "the kernel is not built" if not gradtx.fused_available() else "no kernel for it"
            r.notes.append(f"gradtx.step took the XLA path ({why})")
        for key, value in step.memory.items():
            setattr(r, key, value)
        runners[lib] = step.run
    return runners


def reference_runners(opt, tree, host_params, grads, with_dispatch: bool) -> dict:
    """The floor kernels (XLA's, and C++'s where it is built) and, `with_dispatch`, the
    dispatch floor over gradtx's arguments."""
    arity = cases.floor_arity(opt)
    runners = {"floor": measure.bandwidth_floor(tree.size, *arity, tree.dtype)}
    if floor_c.load() is None:
        runners["floor_c"] = measure.bandwidth_floor(tree.size, *arity, tree.dtype, c=True)
    if with_dispatch:
        runners["dispatch"] = measure.dispatch_floor(opt.gradtx(), host_params, grads)
    return runners


def time_eager(opt, tree, libs, host_params, grads, plan, results) -> None:
    """The un-jitted steps of the libraries that compiled, timed interleaved, into `results`."""
    Phase(tree.name, opt.name)("eager")
    ok = [lib for lib, r in results.items() if r.status == "ok"]
    try:
        runners = {}
        for lib in ok:
            tx = libs[lib]()
            step = cases.step_function(lib, tx, eager=True)
            runners[lib] = measure.eager_step(tx, step, jax.device_put(host_params), grads)
        for lib, run in runners.items():
            results[lib].eager_first_s = measure.time_once(run)
        timings = measure.time_interleaved(runners, **plan.timing_args())
    except Exception as error:
        for lib in ok:
            results[lib].notes.append(_failure("eager", error))
        return
    for lib, t in timings.items():
        results[lib].eager_s, results[lib].eager_iqr_s = t.median_s, t.iqr_s


def measure_case(
    opt: cases.Optimizer, tree: cases.Tree, libs: dict, steps: int, eager: bool
) -> list[Result]:
    """Every library of `libs` on `tree`: compile each, then time them interleaved with the
    reference kernels; then, if `eager`, time the un-jitted steps interleaved."""
    results = {lib: blank_result(opt, tree, lib) for lib in libs}
    host_params, host_grads = cases.host_tree(tree, seed=0), cases.host_tree(tree, seed=1)
    grads = jax.device_put(host_grads)
    jit_plan, eager_plan = plans(steps)
    runners = compile_libraries(opt, tree, libs, host_params, grads, results)
    if not runners:
        return list(results.values())
    ours = [lib for lib in (cases.GRADTX, cases.GRADTX_FUSED) if lib in runners]
    Phase(tree.name, opt.name)("run")
    try:
        references = reference_runners(opt, tree, jax.device_put(host_params), grads, bool(ours))
        runners |= {name: compiled.run for name, compiled in references.items()}
        timings = measure.time_interleaved(runners, **jit_plan.timing_args())
    except Exception as error:
        for lib in results.keys() & runners.keys():
            results[lib].status = _failure("run", error)
        return list(results.values())
    for lib in results.keys() & timings.keys():
        r, t = results[lib], timings[lib]
        r.step_s, r.step_iqr_s, r.floor_s = t.median_s, t.iqr_s, timings["floor"].median_s
        r.floor_bytes_accessed = references["floor"].bytes_accessed
        r.floor_c_s = timings["floor_c"].median_s if "floor_c" in timings else None
        r.dispatch_s = timings["dispatch"].median_s if lib in ours else None
    del runners, references
    if eager:
        time_eager(opt, tree, libs, host_params, grads, eager_plan, results)
    return list(results.values())


# Child processes: tree D, one case per child (all of tree D in one child with --quick).


def _last_phase(stderr: str | bytes | None) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    phases = [line[6:] for line in (stderr or "").splitlines() if line.startswith("phase ")]
    return phases[-1] if phases else "start-up"


def run_child(spec: dict, args: argparse.Namespace) -> list[Result]:
    """Run `spec`'s cases in a child with an address-space cap and a wall-clock cap; on a crash or
    a timeout every case of the spec is reported failed, with the phase it had reached."""
    spec = {**spec, "memory_bytes": int(args.child_memory_gb * 2**30)}
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", json.dumps(spec)]
    why = None
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=args.child_timeout,
        )
    except subprocess.TimeoutExpired as expired:
        why = f"timed out after {args.child_timeout:g} s during {_last_phase(expired.stderr)}"
    else:
        for line in proc.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                return [Result(**row) for row in json.loads(line[len(RESULT_PREFIX) :])]
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        code = proc.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        why = f"{how} during {_last_phase(proc.stderr)} (cap {args.child_memory_gb:g} GB): {tail}"
    tree = _trees(spec["quick"])[spec["tree"]]
    return [
        blank_result(cases.OPTIMIZERS[name], tree, lib, f"failed: {why}")
        for name, libs in spec["cases"]
        for lib in libs
    ]


def child_main(spec: dict) -> None:
    """Cap the address space (set here, not in a pre-exec hook: forking a process that runs JAX's
    threads and then running Python in the fork can deadlock), run the cases, print the rows."""
    cap = spec["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    tree = _trees(spec["quick"])[spec["tree"]]
    results = []
    for name, lib_names in spec["cases"]:
        opt = cases.OPTIMIZERS[name]
        libs = cases.libraries(opt, compare_flatten=True)
        libs = {lib: libs[lib] for lib in lib_names}
        case = measure_case(opt, tree, libs, spec["steps"], eager=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        for r in case:
            r.peak_rss_bytes = peak if r.status == "ok" else None
        results += case
    print(RESULT_PREFIX + json.dumps([dataclasses.asdict(r) for r in results]), flush=True)


# The run.


def _trees(quick: bool) -> dict[str, cases.Tree]:
    return {t.name: t for t in (cases.QUICK_TREES if quick else cases.FULL_TREES)}


def _isolated_specs(tree: cases.Tree, optimizers: list, args) -> tuple[list[dict], list[Result]]:
    """Child specs for an isolated tree, and the 'n/a' rows that need no child."""
    specs, missing = [], []
    for opt in optimizers:
        for lib, make in cases.libraries(opt, args.compare_flatten).items():
            if make is None:
                missing.append(blank_result(opt, tree, lib, "n/a"))
            else:
                specs.append({"cases": [[opt.name, [lib]]]})
    if args.quick:  # one tiny child for the whole tree
        specs = [{"cases": [case for spec in specs for case in spec["cases"]]}]
    base = {"tree": tree.name, "quick": args.quick, "steps": args.steps}
    return [{**base, **spec} for spec in specs], missing


def run(args: argparse.Namespace) -> list[Result]:
    optimizers = [cases.OPTIMIZERS[name] for name in args.optimizers]
    trees = [_trees(args.quick)[name] for name in args.trees]
    results = []
    for tree in trees:
        if tree.isolate:
            isolated = [o for o in optimizers if args.quick or o.name in args.isolated_optimizers]
            specs, missing = _isolated_specs(tree, isolated, args)
            results += missing
            for spec in specs:
                Phase(tree.name)(f"child process for {spec['cases']}")
                results += run_child(spec, args)
            continue
        for opt in optimizers:
            libs = cases.libraries(opt, args.compare_flatten)
            eager = tree.name != "C" or args.quick or opt.name in args.c_eager_optimizers
            results += measure_case(opt, tree, libs, args.steps, eager=eager)
    order = [(o.name, t.name) for o in optimizers for t in trees]
    return sorted(
        results,
        key=lambda r: (order.index((r.optimizer, r.tree)), cases.LIBRARIES.index(r.library)),
    )


def meta(args: argparse.Namespace, started: float, load_before: tuple) -> dict:
    jit_plan, eager_plan = plans(args.steps)
    return {
        "jax": jax.__version__,
        "optax": optax.__version__,
        "gradtx": gradtx.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "fused_available": gradtx.fused_available(),
        "fused_threads": os.environ.get("GRADTX_FUSED_THREADS", "all processors"),
        "floor_c": floor_c.load() or "built",
        "cpu_count": os.cpu_count(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "quick": args.quick,
        "steps": args.steps,
        "jit_plan": dataclasses.asdict(jit_plan),
        "eager_plan": dataclasses.asdict(eager_plan),
        "child_memory_gb": args.child_memory_gb,
        "child_timeout_s": args.child_timeout,
        "wall_s": time.perf_counter() - started,
        "argv": sys.argv[1:],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny trees, 2 optimizers, <30 s")
    parser.add_argument("--optimizers", help=f"comma-separated, of: {', '.join(cases.OPTIMIZERS)}")
    parser.add_argument("--trees", help="comma-separated, of: A, B, C, D, A16 (default all)")
    parser.add_argument("--steps", type=int, help="timed steps per library (default 30; quick 10)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument(
        "--compare-flatten", action="store_true", help="add optax.flatten(optax.adam) to adam"
    )
    parser.add_argument(
        "--d-optimizers",
        default="adam",
        help="of those run, the ones run on tree D, each library in a capped child (quick: all)",
    )
    parser.add_argument(
        "--c-eager-optimizers",
        default="sgd_momentum,adam",
        help="of those run, the ones whose eager step is timed on tree C (quick: all)",
    )
    parser.add_argument("--child-memory-gb", type=float, default=14.0, help="tree D's cap")
    parser.add_argument("--child-timeout", type=float, default=60.0, help="tree D's cap (s)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: a JSON spec
    args = parser.parse_args(argv)
    default_optimizers = cases.QUICK_OPTIMIZERS if args.quick else tuple(cases.OPTIMIZERS)
    args.optimizers = args.optimizers.split(",") if args.optimizers else list(default_optimizers)
    args.trees = args.trees.split(",") if args.trees else list(cases.TREE_NAMES)
    args.isolated_optimizers = args.d_optimizers.split(",")
    args.c_eager_optimizers = args.c_eager_optimizers.split(",")
    args.steps = (10 if args.quick else 30) if args.steps is None else args.steps
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    for name in args.optimizers + args.isolated_optimizers + args.c_eager_optimizers:
        if name not in cases.OPTIMIZERS:
            parser.error(f"unknown optimizer {name!r}; choose from {', '.join(cases.OPTIMIZERS)}")
    for name in args.trees:
        if name not in cases.TREE_NAMES:
            parser.error(f"unknown tree {name!r}; choose from {', '.join(cases.TREE_NAMES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return
    started, load_before = time.perf_counter(), os.getloadavg()
    if not gradtx.fused_available():
        print("Note: gradtx's fused kernel is not built; gradtx.fused takes the XLA path.")
    if why := floor_c.load():  # built here, before tree D's children look for it
        print(f"Note: the C floor kernel is not built ({why}); going on without it.")
    results = run(args)
    info = meta(args, started, load_before)
    print(table(results))
    busiest = max(info["load_average_before"][0], info["load_average_after"][0])
    if busiest > 0.75 * (os.cpu_count() or 1):
        print(f"\nWarning: load average {busiest:.1f} on {os.cpu_count()} CPUs: timings are noisy.")
    if args.json:
        trees = [_trees(args.quick)[name] for name in args.trees]
        trees = [{**dataclasses.asdict(t), "size": t.size} for t in trees]
        args.json.write_text(to_json(info, trees, results))
        print(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
