r"""The optimizer menu of the race and the tour: each optimizer declared once, here.

An entry names the optimizer, builds it at a learning rate, gives its default rate and one line
of description, and lists the rate the tour uses on each challenge. Everything else derives from
`MENU`: the command line's choices, the report's colours, and the benchmark cases
(`benchmarks/cases.py`).

The tour's learning rates were tuned once, offline, and are frozen here. For each problem and
optimizer a grid of rates was raced (`race.run_batch`; seeds 1-3 for stochastic problems and
datasets, seed 0 otherwise; the tour shows seed 0), and each rate scored: deterministic
landscapes by the step from which the loss stays within tolerance, on the grid $10^{k/10}$ from
$10^{-4}$ to 5.01 (k = -40, ..., 7: 0.794, 0.631, 1.58, ...); stochastic problems by the mean
log loss over the last tenth of the run, on $\{1, 2, 5\} \times 10^k$ from $10^{-4}$ to 5;
datasets by the final training loss, on $\{1, 3\} \times 10^k$ from $10^{-4}$ to 3 (`GRIDS`). A
rate counts only as well as the better of its two neighbours, so a lucky isolated rate (Adam's
first step at rate 1 landing exactly on the saddle's minimum) is not chosen. Adadelta keeps rate
1: Zeiler's rule has none. One exception: SGD on the ravine uses 0.0195, just below the best
constant step for a quadratic, $2 / (\lambda_{min} + \lambda_{max}) = 2/101$, which the grid
steps over. AdaBound and AMSBound keep their default `final_lr = 0.1`, which is unstable on
rosenbrock: they diverge there at every rate of the grid.

The frozen rates are not all what this procedure gives today: re-running it as a script
(`benchmarks/tune_rates.py --verify all`, results in `benchmarks/results/tuned_rates.json`)
chose the same rate for 59 of the 154 optimizer-problem pairs, one grid step higher for 70, two
for 8, and a rate farther away for the other 17. Several frozen rates sit at the grid's smallest
rate, 1e-4 (momentum and Nesterov on rastrigin and cliff, AdaBound on rastrigin, rosenbrock and
noisy, AMSBound on rosenbrock and noisy): no optimum inside the grid was found there. The tour
names each rate at an edge of its grid (`tuning_grid`) and reports every run's result at half
and double its rate.

The entries after `sgd+clip` are the methods issue 13 added that answer some challenge better
than every seed entry (at least 20% fewer steps to tolerance, or a 20% lower loss), a lead that
survives moving the problem's minimum off the origin (notebook 05): Rprop on the plateau and
signSGD on the heavy-tailed noise. Their rates were tuned by `benchmarks/tune_rates.py`, the
procedure above run as a script (its docstring gives the grids and scores; results in
`benchmarks/results/tuned_rates.json`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gradtx


class OptimizerSpec(NamedTuple):
    """A named optimizer of the menu."""

    name: str
    build: Callable[[Any], gradtx.GradientTransformation]  # build(learning_rate), maybe traced
    learning_rate: float  # the default rate, where no tuned rate applies
    description: str
    tuned: Mapping[str, float]  # the tour's learning rate on each challenge, by problem name


def _rates(text: str) -> dict[str, float]:
    """'ravine=0.1 saddle=1' -> {'ravine': 0.1, 'saddle': 1.0}."""
    return {k: float(v) for k, v in (item.split("=") for item in text.split())}


def _sgd_clip(learning_rate: Any) -> gradtx.GradientTransformation:
    return gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.sgd(learning_rate))


# fmt: off
MENU: tuple[OptimizerSpec, ...] = (
    OptimizerSpec(
        "sgd", gradtx.sgd, 0.01, "plain gradient descent, u = -lr g",
        _rates("ravine=0.0195 saddle=0.631 plateau=1.26 himmelblau=0.0126 rastrigin=0.000251 "
               "rosenbrock=0.00158 cliff=0.001 noisy=0.005 sparse=2 digits=1 breast_cancer=1"),
    ),
    OptimizerSpec(
        "momentum", lambda lr: gradtx.sgd(lr, momentum=0.9), 0.01,
        "heavy-ball momentum 0.9 (Polyak 1964)",
        _rates("ravine=0.00501 saddle=0.398 plateau=1.58 himmelblau=0.0126 rastrigin=0.0001 "
               "rosenbrock=0.00251 cliff=0.0001 noisy=0.0005 sparse=0.2 digits=0.3 "
               "breast_cancer=0.3"),
    ),
    OptimizerSpec(
        "nesterov", lambda lr: gradtx.sgd(lr, momentum=0.9, nesterov=True), 0.01,
        "Nesterov momentum 0.9 (Nesterov 1983; Sutskever et al. 2013)",
        _rates("ravine=0.01 saddle=0.398 plateau=1 himmelblau=0.00794 rastrigin=0.0001 "
               "rosenbrock=0.001 cliff=0.0001 noisy=0.0005 sparse=0.2 digits=0.3 "
               "breast_cancer=0.3"),
    ),
    OptimizerSpec(
        "adagrad", gradtx.adagrad, 0.1, "per-coordinate 1/sqrt(sum g^2) (Duchi 2011)",
        _rates("ravine=3.98 saddle=0.794 plateau=1.58 himmelblau=0.794 rastrigin=3.98 "
               "rosenbrock=0.794 cliff=1 noisy=0.5 sparse=1 digits=1 breast_cancer=1"),
    ),
    OptimizerSpec(
        "adadelta", gradtx.adadelta, 1.0, "unit-corrected RMS ratio; lr 1 is Zeiler's rule (2012)",
        _rates("ravine=1 saddle=1 plateau=1 himmelblau=1 rastrigin=1 rosenbrock=1 cliff=1 "
               "noisy=1 sparse=1 digits=1 breast_cancer=1"),
    ),
    OptimizerSpec(
        "rmsprop", gradtx.rmsprop, 1e-3, "divide by a running RMS of g (Hinton 2012)",
        _rates("ravine=0.0316 saddle=0.0158 plateau=0.0398 himmelblau=0.2 rastrigin=0.002 "
               "rosenbrock=0.00316 cliff=0.0126 noisy=0.01 sparse=0.01 digits=0.03 "
               "breast_cancer=0.03"),
    ),
    OptimizerSpec(
        "adam", gradtx.adam, 1e-3, "bias-corrected moments (Kingma & Ba 2015)",
        _rates("ravine=0.794 saddle=0.501 plateau=0.794 himmelblau=0.794 rastrigin=1.58 "
               "rosenbrock=0.251 cliff=1.58 noisy=0.02 sparse=0.01 digits=0.01 "
               "breast_cancer=0.01"),
    ),
    OptimizerSpec(
        "adamax", gradtx.adamax, 2e-3, "Adam with an infinity-norm scale (Kingma & Ba)",
        _rates("ravine=1 saddle=0.631 plateau=1.58 himmelblau=2 rastrigin=0.00501 "
               "rosenbrock=1.58 cliff=0.316 noisy=0.2 sparse=0.05 digits=0.1 breast_cancer=0.1"),
    ),
    OptimizerSpec(
        "nadam", gradtx.nadam, 1e-3, "Adam with Nesterov momentum (Dozat 2016)",
        _rates("ravine=3.98 saddle=0.794 plateau=0.316 himmelblau=2.51 rastrigin=0.00794 "
               "rosenbrock=0.0316 cliff=2 noisy=0.02 sparse=0.01 digits=0.01 "
               "breast_cancer=0.03"),
    ),
    OptimizerSpec(
        "amsgrad", gradtx.amsgrad, 1e-3, "Adam with a non-decreasing v (Reddi 2018)",
        _rates("ravine=1 saddle=0.2 plateau=0.794 himmelblau=0.631 rastrigin=0.00631 "
               "rosenbrock=0.794 cliff=0.316 noisy=0.05 sparse=0.02 digits=0.03 "
               "breast_cancer=0.1"),
    ),
    OptimizerSpec(
        "adabound", gradtx.adabound, 1e-3, "Adam's rate clipped into a band -> final_lr (Luo 2019)",
        _rates("ravine=0.794 saddle=0.316 plateau=0.2 himmelblau=0.794 rastrigin=0.0001 "
               "rosenbrock=0.0001 cliff=0.1 noisy=0.0001 sparse=0.5 digits=0.03 "
               "breast_cancer=0.03"),
    ),
    OptimizerSpec(
        "amsbound", gradtx.amsbound, 1e-3, "AMSGrad with AdaBound's band (Luo 2019)",
        _rates("ravine=0.794 saddle=0.316 plateau=0.2 himmelblau=0.794 rastrigin=1.58 "
               "rosenbrock=0.0001 cliff=0.1 noisy=0.0001 sparse=0.5 digits=0.03 "
               "breast_cancer=0.03"),
    ),
    OptimizerSpec(
        "swats", gradtx.swats, 1e-3, "Adam, then SGD at a learned rate (Keskar & Socher 2017)",
        _rates("ravine=0.794 saddle=0.501 plateau=0.794 himmelblau=0.794 rastrigin=0.00501 "
               "rosenbrock=0.1 cliff=1.58 noisy=0.02 sparse=0.01 digits=0.01 "
               "breast_cancer=0.01"),
    ),
    OptimizerSpec(
        "sgd+clip", _sgd_clip, 0.01,
        "gradient clipped to global norm 1, then SGD (Pascanu et al. 2013)",
        _rates("ravine=0.0501 saddle=0.631 plateau=1.26 himmelblau=0.02 rastrigin=0.00251 "
               "rosenbrock=0.00398 cliff=0.794 noisy=0.02 sparse=2 digits=1 breast_cancer=1"),
    ),
    OptimizerSpec(
        "rprop", gradtx.rprop, 0.01,
        "per-coordinate steps that grow x1.2 while the sign holds (Riedmiller & Braun 1993)",
        _rates("ravine=2.51 saddle=0.2 plateau=1 himmelblau=0.251 rastrigin=0.0001 rosenbrock=0.02 "
               "cliff=0.0631 noisy=0.02 sparse=0.5 digits=0.1 breast_cancer=0.1"),
    ),
    OptimizerSpec(
        "sign_sgd", gradtx.sign_sgd, 0.01, "u = -lr sign(g): only the sign (Bernstein et al. 2018)",
        _rates("ravine=0.0501 saddle=0.0316 plateau=0.0398 himmelblau=0.0158 rastrigin=0.00158 "
               "rosenbrock=0.00126 cliff=0.0398 noisy=0.01 sparse=0.005 digits=0.01 "
               "breast_cancer=0.003"),
    ),
)
# fmt: on
OPTIMIZERS: dict[str, OptimizerSpec] = {spec.name: spec for spec in MENU}

# The grids the rates were tuned on (see the module docstring), by kind of problem.
GRIDS: dict[str, tuple[float, ...]] = {
    "landscape": tuple(float(f"{10 ** (k / 10):.6g}") for k in range(-40, 8)),
    "stochastic": tuple(float(f"{m}e{e}") for e in range(-4, 1) for m in (1, 2, 5)),
    "dataset": tuple(float(f"{m}e{e}") for e in range(-4, 1) for m in (1, 3)),
}
_GRID_KIND = {"noisy": "stochastic", "sparse": "stochastic", "digits": "dataset"}
_GRID_KIND["breast_cancer"] = "dataset"


def tuning_grid(problem: str) -> tuple[float, ...]:
    """The grid of rates the menu's rates on `problem` (a challenge's name) were tuned on."""
    return GRIDS[_GRID_KIND.get(problem, "landscape")]
