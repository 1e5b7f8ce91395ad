"""The command line, `gradtx.tour.cli`, run as a user runs it: `python -m gradtx ...` in a
subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gradtx
from gradtx import _registry
from gradtx.problems import PROBLEMS
from gradtx.tour import cli, ledger, tour
from gradtx.tour.menu import OPTIMIZERS

ROOT = Path(__file__).resolve().parents[1]


def gradtx_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "gradtx", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def test_list_names_every_optimizer_and_problem():
    done = gradtx_cli("list")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in [*OPTIMIZERS, *PROBLEMS]:
        assert any(line.split()[:1] == [name] for line in lines), name
    listed = {name for line in lines for name in line.replace(",", " ").split()}
    for chapter, aliases in gradtx.catalog().items():
        assert f"  {chapter}" in lines
        assert set(aliases) <= listed, chapter
    assert {a for names in gradtx.catalog().values() for a in names} == set(_registry.ALIASES)


def test_race_prints_a_row_per_optimizer_and_writes_the_figure(tmp_path):
    names = list(OPTIMIZERS)

    done = gradtx_cli(
        "race",
        "--problem",
        "ravine",
        "--optimizers",
        ",".join(names),
        "--steps",
        "20",
        "--lr",
        "0.01,adam=0.1",
        "--out",
        str(tmp_path / "o"),
    )

    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line.strip()}
    assert set(names) <= set(rows)
    assert rows["adam"] == "0.1" and rows["sgd"] == "0.01"  # --lr 0.01,adam=0.1
    png = tmp_path / "o" / "ravine.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, expected",
    [
        (["race", "--problem", "ravine", "--optimizers", "sgd,adamm"], ["'adamm'", "adam", "sgd"]),
        (["race", "--problem", "ravin"], ["'ravin'", "ravine", "digits"]),
        (["race", "--problem", "ravine", "--steps", "-5"], ["--steps", "positive", "-5"]),
        (["race", "--problem", "ravine", "--lr", "fast"], ["learning rate", "'fast'"]),
        (["race", "--problem", "ravine", "--lr", "sgdd=0.1"], ["'sgdd'", "nesterov"]),
        (["tour", "--out", "README.md/sub"], ["cannot write", "README.md/sub"]),
        (["sprint"], ["'sprint'", "race", "tour", "list"]),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_status_2(args, expected):
    done = gradtx_cli(*args)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for text in expected:
        assert text in done.stderr


def test_tour_command_races_the_challenges_into_the_out_folder(tmp_path, monkeypatch, capsys):
    ravine = tour.CHALLENGES["ravine"]._replace(steps=10, lineup=("sgd", "adam"))
    monkeypatch.setattr(tour, "CHALLENGES", {"ravine": ravine})
    monkeypatch.setattr(tour, "EXTRAS", {})
    monkeypatch.setattr(ledger, "CLAIMS", ())  # the ledger takes a minute; test_tour_tour runs it

    assert cli.main(["tour", "--out", str(tmp_path / "t")]) == 0

    out = capsys.readouterr().out
    assert "== ravine (10 steps) ==" in out and f"report: {tmp_path / 't' / 'index.html'}" in out
    assert (tmp_path / "t" / "ravine.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, message",
    [
        # Each value once: before, "the learning rate '-1' must be a positive float, got '-1'".
        (
            ["--lr", "-1"],
            "argument --lr: the learning rate must be a positive finite number, got '-1'",
        ),
        (
            ["--lr", "0.1,adam=nan"],
            "argument --lr: adam's learning rate must be a positive finite number, got 'nan'",
        ),
        (["--lr", "0.1,adam"], "argument --lr: 'adam' has no rate; write adam=RATE"),
        (["--lr", "adam=0.1,adam=1"], "argument --lr: two rates for adam: adam=0.1,adam=1"),
        (
            ["--lr", "0.1,adam=1,0.2"],
            "argument --lr: two rates for every optimizer: 0.1,adam=1,0.2",
        ),
        (
            ["--steps", "2.5"],
            "argument --steps: the step count must be a positive integer, got '2.5'",
        ),
        # A rate for an optimizer that is not racing: before, silently unused.
        (
            ["--optimizers", "adam", "--lr", "sgd=0.1"],
            "argument --lr: sets a rate for 'sgd', which is not in this race (--optimizers adam); "
            "add it to --optimizers or drop the rate",
        ),
        (
            ["--optimizers", "adam,sgd", "--lr", "0.1,rmsprop=1,nesterov=2"],
            "argument --lr: sets a rate for 'rmsprop' and 'nesterov', which are not in this race "
            "(--optimizers adam,sgd); add them to --optimizers or drop the rate",
        ),
    ],
)
def test_race_usage_errors_read_once_and_exactly(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["race", "--problem", "ravine", *args])

    assert exit_.value.code == cli.USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"gradtx race: error: {message} (see gradtx race --help)\n"


def test_a_rate_for_a_racing_optimizer_is_accepted(monkeypatch):
    """The check above refuses only rates nobody would use (no --optimizers: all race)."""
    raced = []
    monkeypatch.setattr(cli, "_race_command", lambda args: raced.append(args) or 0)

    assert cli.main(["race", "--problem", "ravine", "--lr", "sgd=0.1"]) == 0
    assert cli.main(["race", "--problem", "ravine", "--optimizers", "sgd", "--lr", "sgd=0.1"]) == 0
    assert [args.lr for args in raced] == [{"sgd": 0.1}, {"sgd": 0.1}]


def test_list_into_a_pipe_closed_early_ends_quietly():
    """`gradtx list | head -1` printed a BrokenPipeError traceback."""
    result = subprocess.run(
        f"{sys.executable} -m gradtx list | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.startswith("optimizers")
    assert result.stderr == ""
