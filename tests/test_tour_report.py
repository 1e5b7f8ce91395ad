"""Race reports, `gradtx.tour.report`: the table, the measured sentence, the colours."""

import math

import numpy as np

import gradtx
from gradtx import problems
from gradtx.tour import race, report
from gradtx.tour.menu import OPTIMIZERS


def _fake(problem, name, reached_at, loss, **final):
    entrant = race.Entrant(name, 0.1)
    final = {"loss": loss, "distance_to_optimum": 1.0, **final}
    return race.RunResult(entrant, np.array([1.0, loss]), None, final, reached_at, 0.5, 0.01)


def test_sentence_names_the_first_to_reach_and_those_that_did_not():
    problem = problems.get("ravine")
    results = [
        _fake(problem, "sgd", None, 3.0),
        _fake(problem, "adam", 143, 1e-4),
        _fake(problem, "momentum", 97, 1e-5),
    ]

    text = report.sentence(problem, results, 500)

    assert text == (
        "Here momentum reached the tolerance first (step 97), then adam at step 143; "
        "sgd did not within 500 steps."
    )


def test_sentence_without_a_winner_names_the_lowest_loss_and_best_accuracy():
    problem = problems.get("ravine")
    results = [
        _fake(problem, "sgd", None, math.nan, test_accuracy=0.5),
        _fake(problem, "adam", None, 2.0, test_accuracy=0.91),
    ]

    text = report.sentence(problem, results, 50)

    assert "lowest final loss was adam's (2)" in text
    assert "best test accuracy was adam's (91.0%)" in text


def test_table_has_a_row_per_optimizer_and_marks_divergence():
    problem = problems.get("ravine")
    results = [_fake(problem, "sgd", None, math.nan), _fake(problem, "adam", 12, 1e-4)]

    lines = report.table(problem, results, 50).splitlines()

    assert len(lines) == 4
    assert lines[2].startswith("sgd") and "diverged" in lines[2] and "not in 50" in lines[2]
    assert lines[3].startswith("adam") and "step 12" in lines[3]


def test_colours_differ_across_the_menu_and_follow_a_name_everywhere():
    names = [*OPTIMIZERS, "half-momentum"]  # one more than the menu

    colour = report.colours(names)

    assert len(set(colour.values())) == len(names)
    assert report.colours(["adam"])["adam"] == colour["adam"]


def test_figure_draws_an_optimizer_off_the_menu(tmp_path):
    problem = problems.get("ravine")
    chain = lambda lr: gradtx.chain(gradtx.trace(0.5), gradtx.scale_by_learning_rate(lr))
    entrants = [race.Entrant("sgd", 0.01), race.Entrant("half-momentum", 0.01, chain)]
    results = race.race(problem, entrants, 10)

    png = report.figure(problem, results, tmp_path / "ravine.png")

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
