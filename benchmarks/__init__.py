"""Benchmarks: gradtx beside Optax on the same jitted train step, in one process.

`python -m benchmarks.run` measures; `cases.py` says what (trees, optimizers, the bytes each step
must move), `measure.py` says how (one function per measurement), `run.py` runs and reports.
"""
