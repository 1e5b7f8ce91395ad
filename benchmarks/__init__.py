"""Benchmarks: gradtx's XLA and fused steps beside Optax's, on the same jitted train step.

`python -m benchmarks.run` measures; `cases.py` says what (trees, optimizers, libraries, the
bytes each step must move), `measure.py` says how (one function per measurement), `floor_c.py`
builds the C++ bandwidth floor (`floor_kernel.cc`), `results.py` holds what a run found (rows,
ratios, floors, targets, JSON), `report.py` shows it (the printed table, the README's tables).
"""
