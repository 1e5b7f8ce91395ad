"""The command line: `gradtx list`, `gradtx race`, `gradtx tour` (also `python -m gradtx`).

Bad input (an unknown name, a negative step count, a rate for an optimizer not in the race, an
unwritable folder) ends with one line on stderr that says what is valid, and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import gradtx
from gradtx.problems import PROBLEMS
from gradtx.tour import race, report, tour
from gradtx.tour.menu import MENU, OPTIMIZERS

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _check_rates_name_racers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`--lr sgd=0.1` on a race without sgd would set a rate nobody uses: a usage error."""
    racing = args.optimizers or list(OPTIMIZERS)
    idle = [name for name in args.lr if name is not None and name not in racing]
    if idle:
        parser.error(
            f"argument --lr: sets a rate for {' and '.join(map(repr, idle))}, which "
            f"{'is' if len(idle) == 1 else 'are'} not in this race (--optimizers "
            f"{','.join(racing)}); add {'it' if len(idle) == 1 else 'them'} to --optimizers "
            "or drop the rate"
        )


def _choices(kind: str, valid: Sequence[str]):
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in valid]
        if unknown or not names:
            what = f"unknown {kind} {', '.join(map(repr, unknown))}" if unknown else f"no {kind}"
            raise argparse.ArgumentTypeError(f"{what}; valid: {', '.join(valid)}")
        return names

    return parse


def _problem(text: str) -> str:
    if text not in tour.CHALLENGES:
        valid = ", ".join(tour.CHALLENGES)
        raise argparse.ArgumentTypeError(f"unknown problem {text!r}; valid: {valid}")
    return text


_KINDS = {int: "integer", float: "finite number"}


def _positive(kind: type, what: str):
    """Parse a positive finite `kind`; `what` names the value in the message, which argparse
    prefixes with the option: "argument --steps: the step count must be a positive integer,
    got '-5'"."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(
                f"{what} must be a positive {_KINDS[kind]}, got {text!r}"
            )
        return value

    return parse


def _learning_rates(text: str) -> dict[str | None, float]:
    """'0.1' (every optimizer) or 'adam=0.01,sgd=0.1', or both: '0.1,adam=0.01'."""
    rates: dict[str | None, float] = {}
    for item in (i.strip() for i in text.split(",") if i.strip()):
        name, _, value = item.rpartition("=")
        if name and name not in OPTIMIZERS:
            raise argparse.ArgumentTypeError(
                f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}"
            )
        if not name and value in OPTIMIZERS:
            raise argparse.ArgumentTypeError(f"{value!r} has no rate; write {value}=RATE")
        if (name or None) in rates:
            raise argparse.ArgumentTypeError(f"two rates for {name or 'every optimizer'}: {text}")
        what = f"{name}'s learning rate" if name else "the learning rate"
        rates[name or None] = _positive(float, what)(value)
    if not rates:
        raise argparse.ArgumentTypeError("needs a number or NAME=NUMBER pairs, e.g. 0.01")
    return rates


def _out_dir(text: str) -> Path:
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gradtx-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise argparse.ArgumentTypeError(
            f"cannot write to {text!r} ({err.strerror or err}); pass a writable folder"
        ) from None
    return path


def build_parser() -> argparse.ArgumentParser:
    """The `gradtx` argument parser.

    Returns:
        The parser of the three commands `list`, `race` and `tour`; bad input exits with one
        line on stderr and status 2.
    """
    parser = _Parser(prog="gradtx", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="the optimizers and problems, one line each")

    race_parser = commands.add_parser("race", help="race optimizers on one problem")
    race_parser.add_argument(
        "--problem", required=True, type=_problem, help=", ".join(tour.CHALLENGES)
    )
    race_parser.add_argument(
        "--optimizers",
        type=_choices("optimizer", list(OPTIMIZERS)),
        help="comma-separated names (default: all)",
    )
    race_parser.add_argument(
        "--steps", type=_positive(int, "the step count"), help="default: the tour's"
    )
    race_parser.add_argument(
        "--lr",
        type=_learning_rates,
        default={},
        help="one rate for every optimizer, and/or NAME=RATE pairs (default: the tour's tuned "
        "rate for this problem)",
    )
    race_parser.add_argument("--seed", type=int, default=0, help="start and noise seed (default 0)")
    race_parser.add_argument("--out", type=_out_dir, default="out/race", help="folder for the PNG")
    race_parser.set_defaults(check=lambda args: _check_rates_name_racers(race_parser, args))

    tour_parser = commands.add_parser("tour", help="race every challenge; write one HTML report")
    tour_parser.add_argument(
        "--out", type=_out_dir, default="out/tour", help="folder for the report"
    )
    tour_parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return parser


class Progress:
    """A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def __call__(self, label: str) -> None:
        """Draw the bar for the unit about to run (`label`), then count it as done."""
        if self.enabled:
            filled = 30 * self.done // self.total
            bar = "#" * filled + "." * (30 - filled)
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s {label:<28}")
            self.stream.flush()
        self.done += 1

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def _list() -> int:
    print("optimizers, by chapter of the story:")
    for chapter, names in gradtx.catalog().items():
        print(f"  {chapter}")
        print(f"    {', '.join(names)}")
    print("on the race menu:")
    for spec in MENU:
        print(f"  {spec.name:<10} {spec.description}")
    print("problems:")
    for name, build in PROBLEMS.items():
        print(f"  {name:<14} {(build.__doc__ or '').strip().splitlines()[0]}")
    return 0


def _race_command(args: argparse.Namespace) -> int:
    names = args.optimizers or list(OPTIMIZERS)
    challenge = tour.CHALLENGES[args.problem]
    steps = args.steps or challenge.steps
    log_every = challenge.log_every if steps % challenge.log_every == 0 else 1
    entrants = [tour.entrant(args.problem, n, args.lr.get(n, args.lr.get(None))) for n in names]
    problem = challenge.build()
    progress = Progress(len(entrants))
    tic = time.perf_counter()
    results = race.race(
        problem,
        entrants,
        steps,
        seed=args.seed,
        log_every=log_every,
        progress=lambda e: progress(e.optimizer),
    )
    progress.close()
    png = report.figure(problem, results, args.out / f"{args.problem}.png", log_every=log_every)
    print(f"{args.problem}: {steps} steps, seed {args.seed}")
    print(report.table(problem, results, steps))
    print(report.sentence(problem, results, steps))
    print(f"wrote {png} in {time.perf_counter() - tic:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after `gradtx`; None for `sys.argv[1:]`.

    Returns:
        The exit status: 0 done, 1 the optional dependencies are missing
        (`pip install 'gradtx[tour]'`), 2 bad input, 130 interrupted.
    """
    args = build_parser().parse_args(argv)
    if args.command == "race":
        args.check(args)
    try:
        if args.command == "list":
            return _list()
        if args.command == "race":
            return _race_command(args)
        return tour.tour(args.out, seed=args.seed, progress=Progress)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `gradtx list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ImportError as err:
        print(
            f"gradtx: error: {err}. Install the extras: pip install 'gradtx[tour]'", file=sys.stderr
        )
        return 1
