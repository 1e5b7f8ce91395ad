"""The claims ledger: every claim of the optimizer story, its experiment, numbers and verdict.

Each `Claim` names the experiment that tests it and a `measure` that runs it (seconds, float64;
in `gradtx/tour/experiments.py`), returning named numbers; its `conditions` are stated thresholds
on those numbers. The verdict is computed from the numbers, never written by hand:

* "not resolved at this scale" if a number is NaN or a `resolved` condition fails (the
  measurement cannot decide at the scale run here);
* "holds" if every condition is met;
* "does not hold here" if none is;
* "holds here with a caveat" if some are: the claim holds in part (say, momentum is faster but
  does not escape the local minimum).

Run `python -m gradtx.tour.ledger` to print the table, or `python -m gradtx.tour.ledger --readme
README.md` to rewrite the README's ledger section (between its two marker lines).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import math
import operator
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gradtx.tour import experiments as ex

HOLDS = "holds"
CAVEAT = "holds here with a caveat"
FAILS = "does not hold here"
UNRESOLVED = "not resolved at this scale"
VERDICTS = (HOLDS, CAVEAT, FAILS, UNRESOLVED)

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclasses.dataclass(frozen=True)
class Condition:
    """A stated threshold: `numbers[key] op bound`, e.g. Condition("adam_x", ">", 0.9).

    A string `bound` names another number: Condition("adamax_p95", "<", "adam_p95").
    """

    key: str
    op: str
    bound: float | str

    def met(self, numbers: dict[str, float]) -> bool:
        bound = numbers[self.bound] if isinstance(self.bound, str) else self.bound
        return bool(_OPS[self.op](numbers[self.key], bound))

    def __str__(self) -> str:
        bound = self.bound if isinstance(self.bound, str) else f"{self.bound:g}"
        return f"{self.key} {self.op} {bound}"


def verdict(
    numbers: dict[str, float],
    conditions: Sequence[Condition],
    resolved: Sequence[Condition] = (),
) -> str:
    """The verdict the numbers give under the stated conditions (see the module docstring)."""
    if any(math.isnan(value) for value in numbers.values()):
        return UNRESOLVED
    if not all(c.met(numbers) for c in resolved):
        return UNRESOLVED
    met = sum(c.met(numbers) for c in conditions)
    return HOLDS if met == len(conditions) else FAILS if met == 0 else CAVEAT


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim, the experiment that tests it, and the thresholds its verdict comes from."""

    name: str  # a short identifier, also the row's anchor
    claim: str
    experiment: str
    measure: Callable[[], dict[str, float]]
    conditions: tuple[Condition, ...]
    resolved: tuple[Condition, ...] = ()
    section: str = ""  # where the tour or a notebook shows it

    def threshold(self) -> str:
        text = "holds if " + " and ".join(map(str, self.conditions))
        if self.resolved:
            text += "; resolved only if " + " and ".join(map(str, self.resolved))
        return text


@dataclasses.dataclass(frozen=True)
class Row:
    """A ledger row: what `run` returns for each claim."""

    name: str
    claim: str
    experiment: str
    numbers: dict[str, float]
    threshold: str
    verdict: str
    section: str
    seconds: float


def _round(value: float) -> float:
    """Four significant digits, so the verdict is computed from the numbers as printed."""
    return float(f"{value:.4g}")


def _c(key: str, op: str, bound: float | str) -> Condition:
    return Condition(key, op, bound)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "learning_rate",
        "A learning rate too small crawls, one too large diverges.",
        "ravine, GD at 0.001, 0.019, 0.021 (stability limit 0.02), 500 steps: steps to tolerance "
        "(501 = never), and the final over the initial loss at 0.021",
        ex.measure_learning_rate,
        (_c("small_steps", ">", 500), _c("good_steps", "<", 500), _c("large_ratio", ">", 1.0)),
        section="ravine",
    ),
    Claim(
        "decay_in_advance",
        "Decay schemes must be set in advance: the best one depends on the run.",
        "noisy, SGD 0.05/(1 + t/tau), tau in 10..10^4, 16 seeds: best tau at 200 and 2,000 steps, "
        "the 2,000-step median loss with the 200-step choice over the best, and whether two "
        "halves of the seeds agree on it (1 = yes)",
        ex.measure_decay_in_advance,
        (_c("penalty_2000", ">", 1.5),),
        resolved=(_c("halves_agree", ">", 0.5),),
        section="noisy",
    ),
    Claim(
        "nonconvexity",
        "Saddles, plateaus and local minima stall gradient descent.",
        "GD, 1,000 steps: steps to tolerance on saddle and plateau (lr 0.1; 1001 = never), final "
        "loss on rastrigin (lr 0.001; 0 at the global minimum)",
        ex.measure_nonconvexity,
        (
            _c("saddle_steps", ">", 100),
            _c("plateau_steps", ">", 500),
            _c("rastrigin_loss", ">", 1.0),
        ),
        section="saddle",
    ),
    Claim(
        "one_learning_rate",
        "One learning rate for all parameters is too large for some and too small for others.",
        "sparse, SGD vs AdaGrad, best of rates 0.1..3, 1,000 steps: excess loss over the optimum",
        ex.measure_one_learning_rate,
        (_c("ratio", "<", 0.5),),
        section="sparse",
    ),
    Claim(
        "exploding_gradients",
        "Exploding gradients throw the iterate away (clipping fixes it); vanishing ones stall it.",
        "cliff, GD lr 0.1 with and without clipping the norm to 1, 2,000 steps to tolerance; "
        "gradient norm at the plateau's start",
        ex.measure_exploding,
        (
            _c("first_step", ">", 10.0),
            _c("clipped_steps", "<", 500),
            _c("sgd_steps", ">", 1000),
            _c("plateau_grad", "<", 1e-2),
        ),
        section="cliff",
    ),
    Claim(
        "momentum",
        "Momentum is faster and escapes local minima.",
        "ravine: GD at 2/(L+mu) vs heavy ball at Polyak's tuning, steps to tolerance; rastrigin: "
        "final loss of GD and momentum 0.9 at lr 0.001, 2,000 steps",
        ex.measure_momentum,
        (_c("speedup", ">", 2.0), _c("momentum_rastrigin", "<", 1.0)),
        section="ravine",
    ),
    Claim(
        "nesterov",
        "Nesterov momentum is more responsive than heavy ball.",
        "ravine, lr 0.01, momentum 0.9, steps to tolerance (2,001 = never)",
        ex.measure_nesterov,
        (_c("nesterov_steps", "<", 0.8 * 2001),),
        resolved=(_c("momentum_steps", "<", 2001),),
        section="ravine",
    ),
    Claim(
        "adagrad",
        "AdaGrad suits sparse data, and its learning rate decays to zero.",
        "sparse (as above), and AdaGrad(0.5) on noisy, one seed: the largest ratio of the "
        "effective rate lr/sqrt(G_t) at step 1,000 to step 10",
        ex.measure_adagrad,
        (_c("adagrad_excess", "<", "sgd_excess"), _c("rate_1000_over_rate_10", "<", 0.5)),
        section="sparse",
    ),
    Claim(
        "adadelta",
        "Adadelta needs no learning rate.",
        "ravine, Adadelta (rho 0.9) with eps from 1e-8 to 1e-2, steps to tolerance (2,001 = never)",
        ex.measure_adadelta,
        tuple(_c(f"steps_eps_{e:g}", "<", 2001) for e in (1e-8, 1e-6, 1e-4, 1e-2)),
        section="ravine",
    ),
    Claim(
        "rmsprop_adadelta",
        "RMSprop is Adadelta with a learning rate in place of its numerator.",
        "ravine, Adadelta defaults, 2,000 steps: spread (max/min) of its numerator "
        "sqrt(E[dx^2] + eps) per coordinate; RMSprop fixes it to one number",
        ex.measure_rmsprop_adadelta,
        (_c("numerator_spread", "<", 10.0),),
        section="ravine",
    ),
    Claim(
        "adam_momentum_rmsprop",
        "Adam is momentum plus RMSprop.",
        "rosenbrock, Adam(0.05) vs RMSprop with momentum 0.9 and decay 0.999, bias-corrected, at "
        "the same step size: steps to tolerance (2,001 = never) and |log10| of their loss ratio "
        "at step 500 (0.301: a factor 2)",
        ex.measure_adam_momentum_rmsprop,
        (_c("abs_log10_loss_ratio_at_500", "<", 0.301), _c("rmsprop_momentum_steps", "<", 2001)),
        section="rosenbrock",
    ),
    Claim(
        "adamax",
        "AdaMax is more robust than Adam (to large gradients).",
        "noisy (Student-t 1.5 gradient noise), lr 0.01, 1,000 steps, 8 seeds: median and 95th "
        "percentile of the final loss",
        ex.measure_adamax,
        (_c("adamax_median", "<", "adam_median"), _c("adamax_p95", "<", "adam_p95")),
        section="noisy",
    ),
    Claim(
        "nadam",
        "Nadam is faster than Adam.",
        "Adam's tuned rate on four landscapes, steps to tolerance: Adam's over Nadam's",
        ex.measure_nadam,
        tuple(_c(f"{n}_speedup", ">", 1.0) for n in ("ravine", "saddle", "plateau", "rosenbrock")),
        section="ravine",
    ),
    Claim(
        "generalisation",
        "Adaptive methods generalise worse than SGD.",
        "wilson (GD 0.5 vs Adam 0.01, 1,500 steps): test error on 10,000 fresh draws; digits "
        "(SGD+momentum 0.1 vs Adam 0.001, 600 steps, one seed): test accuracy gap",
        ex.measure_generalisation,
        (_c("wilson_gap", ">", 0.25), _c("digits_gap", ">", 0.02)),
        section="wilson",
    ),
    Claim(
        "non_convergence",
        "Adam may not converge, even on a convex problem.",
        "reddi (C = 3) and reddi_stochastic (C = 10, delta = 1), beta1 = 0, beta2 = 1/(1 + C^2), "
        "0.5/sqrt(t), 3,000 steps: Adam's final x (optimum -1, worst +1)",
        ex.measure_non_convergence,
        (_c("adam_online_x", ">", 0.9), _c("adam_stochastic_x", ">", 0.9)),
        section="reddi",
    ),
    Claim(
        "fixes",
        "AMSGrad, AdaBound, AMSBound and SWATS close these gaps.",
        "AMSGrad on reddi (as above): final x; each on wilson (lr 0.01, 1,500 steps): test error; "
        "SWATS at its default relative switch tolerance 1e-3: switch step on Rosenbrock (lr 0.01, "
        "float64) and on the tour's digits run (lr 0.01, float32, seed 0), 0 = never",
        ex.measure_fixes,
        (
            _c("amsgrad_reddi_x", "<", -0.9),
            _c("amsgrad_wilson_error", "<", 0.1),
            _c("adabound_wilson_error", "<", 0.1),
            _c("amsbound_wilson_error", "<", 0.1),
            _c("swats_wilson_error", "<", 0.1),
            _c("swats_digits_switch_step", ">", 0),
        ),
        section="reddi",
    ),
)


def judge(claim: Claim, numbers: dict[str, float]) -> str:
    """The verdict for `claim` given its (rounded) numbers."""
    return verdict(numbers, claim.conditions, claim.resolved)


def run(claims: Sequence[Claim] = CLAIMS) -> list[Row]:
    """Run every claim's experiment and compute its verdict."""
    rows = []
    for claim in claims:
        start = time.perf_counter()
        numbers = {key: _round(float(value)) for key, value in claim.measure().items()}
        rows.append(
            Row(
                claim.name,
                claim.claim,
                claim.experiment,
                numbers,
                claim.threshold(),
                judge(claim, numbers),
                claim.section,
                time.perf_counter() - start,
            )
        )
    return rows


def format_numbers(numbers: dict[str, float]) -> str:
    return "; ".join(f"{key} = {value:g}" for key, value in numbers.items())


def parse_numbers(text: str) -> dict[str, float]:
    """The inverse of `format_numbers`."""
    pairs = (part.split(" = ") for part in text.split("; "))
    return {key.strip(): float(value) for key, value in pairs}


def markdown(rows: Sequence[Row]) -> str:
    """The ledger as a Markdown table."""
    lines = [
        "| claim | experiment | numbers | threshold | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            f"{row.claim} (`{row.name}`)",
            row.experiment,
            format_numbers(row.numbers),
            row.threshold,
            f"**{row.verdict}**",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def html_table(rows: Sequence[Row], anchors: Sequence[str] = ()) -> str:
    """The ledger as an HTML table for the tour's report (one `<tr id="claim-...">` a row).

    A row whose `section` is in `anchors` (the report's section ids, e.g. the challenge names)
    links to it.
    """
    cells = []
    for row in rows:
        claim = html.escape(row.claim)
        if row.section in anchors:
            claim = f"<a href='#{html.escape(row.section)}'>{claim}</a>"
        values = [
            claim,
            html.escape(row.experiment),
            html.escape(format_numbers(row.numbers)),
            html.escape(row.threshold),
            f"<b>{html.escape(row.verdict)}</b>",
        ]
        cells.append(
            f"<tr id='claim-{row.name}'>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("claim", "experiment", "numbers", "threshold", "verdict")
    )
    return f"<table><tr>{head}</tr>" + "".join(cells) + "</table>"


BEGIN = "<!-- ledger: begin (generated by `python -m gradtx.tour.ledger --readme README.md`) -->"
END = "<!-- ledger: end -->"


def parse_markdown(text: str) -> list[tuple[str, dict[str, float], str]]:
    """(name, numbers, verdict) of each row of a ledger table."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"\| .*\(`(\w+)`\) \| .* \| (.*) \| .* \| \*\*(.*)\*\* \|$", line)
        if match:
            rows.append((match[1], parse_numbers(match[2]), match[3]))
    return rows


def write_readme(path: Path, rows: Sequence[Row]) -> None:
    """Replace the table between the README's ledger markers."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    path.write_text(f"{head}{BEGIN}\n{markdown(rows)}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradtx.tour.ledger", description=__doc__)
    parser.add_argument("--readme", type=Path, help="rewrite this README's ledger section")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run()
    print(markdown(rows))
    for row in rows:
        print(f"{row.name}: {row.seconds:.1f} s", file=sys.stderr)
    print(f"ledger: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.readme is not None:
        write_readme(args.readme, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
