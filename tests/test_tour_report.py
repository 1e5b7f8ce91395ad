"""Race reports (`gradtx.tour.report`, `gradtx.tour.prose`): table, sentences, figures.

Every sentence is generated from the runs' numbers: each test below changes one number and
checks that the sentence about it changes with it. No race runs here but one figure's; the
runs are built by hand.
"""

import math

import matplotlib
import numpy as np
import pytest

import gradtx
from gradtx import problems
from gradtx.tour import prose, race, report
from gradtx.tour.menu import OPTIMIZERS, tuning_grid

matplotlib.use("Agg")


def _fake(name, reached_at, loss, *, lr=0.1, losses=None, path=None, neighbours=(), **final):
    final = {"loss": loss, "distance_to_optimum": 1.0, **final}
    losses = np.array([1.0, loss]) if losses is None else np.asarray(losses, float)
    return race.RunResult(
        race.Entrant(name, lr),
        losses,
        path,
        final,
        reached_at,
        0.5,
        0.01,
        race.diverged_at(losses),
        tuple(neighbours),
    )


def _neighbour(rate, reached_at=None, loss=1.0, diverged_at=None):
    return race.Neighbour(rate, {"loss": loss}, reached_at, diverged_at)


RAVINE = problems.get("ravine")


def _base():
    """Three runs on the ravine: momentum first at step 97, adam at 143, sgd never."""
    return [
        _fake("sgd", None, 3.0, lr=0.0195, neighbours=[_neighbour(0.00975, loss=5.0)] * 2),
        _fake(
            "adam",
            143,
            1e-4,
            lr=0.794,
            neighbours=[_neighbour(0.397, 150, 1e-5), _neighbour(1.59, None, 2.0)],
        ),
        _fake(
            "momentum",
            97,
            1e-5,
            lr=1e-4,
            neighbours=[_neighbour(5e-5, None, 0.5), _neighbour(2e-4, 60, 1e-6)],
        ),
    ]


def test_sentences_from_the_base_runs():
    text = prose.sentences(RAVINE, _base(), 500, grid=tuning_grid("ravine"))

    assert text == [
        "Here momentum reached the tolerance first (step 97), then adam at step 143; sgd did not "
        "within 500 steps.",
        "At half its rate (5e-05) momentum's result is not in 500, f − f* 0.5, at double "
        "(0.0002) step 60 (at its rate: step 97).",
        "momentum's rate 0.0001 is the smallest of the tuning grid, so its best rate may lie "
        "beyond it; at 5e-05, outside the grid, its result is not in 500, f − f* 0.5 (at its "
        "rate: step 97).",
    ]


def _replace(results, i, **changes):
    results = list(results)
    results[i] = results[i]._replace(**changes)
    return results


def _with_neighbour(results, i, k, **changes):
    neighbours = list(results[i].neighbours)
    neighbours[k] = neighbours[k]._replace(**changes)
    return _replace(results, i, neighbours=tuple(neighbours))


PERTURBATIONS = {
    "winner's step": lambda r: _replace(r, 2, reached_at=98),
    "second's step": lambda r: _replace(r, 1, reached_at=144),
    "loser reaches": lambda r: _replace(r, 0, reached_at=400),
    "winner misses": lambda r: _replace(r, 2, reached_at=None),
    "winner's rate": lambda r: _replace(r, 2, entrant=race.Entrant("momentum", 2e-4)),
    "half rate's result": lambda r: _with_neighbour(r, 2, 0, final={"loss": 0.25}),
    "double rate's step": lambda r: _with_neighbour(r, 2, 1, reached_at=61),
    "double rate diverges": lambda r: _with_neighbour(r, 2, 1, reached_at=None, diverged_at=3),
    "edge rate moves inside": lambda r: _replace(r, 2, entrant=race.Entrant("momentum", 0.01)),
    "a rate moves to the edge": lambda r: _replace(r, 1, entrant=race.Entrant("adam", 5.01187)),
}


@pytest.mark.parametrize("change", PERTURBATIONS, ids=list(PERTURBATIONS))
def test_each_sentence_changes_with_its_numbers(change):
    grid = tuning_grid("ravine")
    base = prose.sentences(RAVINE, _base(), 500, grid=grid)

    changed = prose.sentences(RAVINE, PERTURBATIONS[change](_base()), 500, grid=grid)

    assert changed != base


def test_sentence_without_a_winner_names_the_lowest_gap_the_closest_and_their_rates():
    results = [
        _fake("sgd", None, 3.0, distance_to_optimum=2.0),
        _fake("adam", None, 2.0, distance_to_optimum=0.5),
        _fake("momentum", None, 2.5, distance_to_optimum=1.5),
    ]

    text = prose.sentences(RAVINE, results, 50)[0]

    assert text == (
        "No optimizer reached the tolerance within 50 steps; the lowest final f − f* was adam's "
        "(2), and the closest to the optimum was adam (distance 0.5; others 1.5 to 2)."
    )
    results = _replace(results, 2, final={"loss": 1.0, "distance_to_optimum": 0.1})
    assert "was momentum's (1)" in prose.sentences(RAVINE, results, 50)[0]


def test_a_run_that_passes_the_tolerance_then_diverges_does_not_count_as_reaching_it():
    losses = [1.0, 1e-4, 1e-5, 3.0, np.inf]  # within tolerance at step 1, ends above the start
    assert race.diverged_at(losses) == 3 and race.reached(losses, RAVINE) is None
    assert race.first_reached(losses, RAVINE) == 1
    assert race.diverged_at([1.0, 2.0, 0.5]) is None  # ends below its start: not diverged
    assert race.diverged_at([1.0, np.nan]) == 1 and race.diverged_at([1.0, 1e-4], 10) is None
    results = [
        _fake("adabound", None, math.inf, losses=losses),
        _fake("adam", 30, 1e-4, losses=[1.0, 1e-4]),
    ]

    text = prose.sentences(RAVINE, results, 4)

    assert (
        text[0]
        == "Here adam reached the tolerance first (step 30); adabound did not within 4 steps."
    )
    assert text[1] == (
        "adabound was within the tolerance at step 1 but diverged (its loss ended above the "
        "start's, from step 3), so it does not count as reaching it."
    )
    assert "diverged (step 3)" in report.table(RAVINE, results, 4).splitlines()[2]


def test_the_first_to_reach_that_does_not_stay_is_named_with_the_lowest_final_gap():
    results = [_fake("adamax", 135, 0.05), _fake("sign_sgd", 707, 7.2e-3)]

    text = prose.sentences(problems.get("noisy"), results, 1000)

    assert text[1] == (
        "adamax did not stay within it; the lowest final f − f* was sign_sgd's (0.0072)."
    )


def test_test_metric_sentence_names_the_best_and_the_others():
    results = [
        _fake("sgd", 100, 1e-3, test_accuracy=0.971, train_accuracy=1.0),
        _fake("adam", 120, 2e-3, test_accuracy=0.967, train_accuracy=1.0),
    ]
    problem = RAVINE  # any problem: the metrics are the runs' own
    assert prose.sentences(problem, results, 2000)[-1] == (
        "The best test accuracy was sgd's (97.1%); adam 96.7%."
    )
    results = _replace(results, 1, final={**results[1].final, "test_accuracy": 0.971})
    assert prose.sentences(problem, results, 2000)[-1] == (
        "The best test accuracy was shared by sgd and adam (97.1%)."
    )
    errors = [_fake("sgd", 10, 0.0, test_error=0.0), _fake("adam", 20, 0.0, test_error=0.4484)]
    assert "The lowest test error was sgd's (0.0%); adam 44.8%." in prose.sentences(
        problems.get("wilson"), errors, 1500
    )


def test_runs_that_coincide_are_said_to_and_drawn_dashed():
    same = [1.0, 0.5, 0.25]
    results = [
        _fake("adabound", 2, 0.25, losses=same),
        _fake("amsbound", 2, 0.25, losses=[1.0, 0.5, 0.25 * (1 + 1e-7)]),
        _fake("adam", 2, 0.2, losses=[1.0, 0.4, 0.2]),
    ]

    text = prose.sentences(RAVINE, results, 2)

    assert prose.coinciding(results) == [["adabound", "amsbound"]]
    assert any(s.startswith("adabound and amsbound coincide") for s in text)
    styles = report._styles(results)
    assert styles["adabound"] == ("-", "") and styles["adam"] == ("-", "")
    assert styles["amsbound"][0] != "-" and styles["amsbound"][1] == ", = adabound"
    results = _replace(results, 1, losses=np.array([1.0, 0.5, 0.26]))
    assert prose.coinciding(results) == []


def test_final_x_of_a_one_dimensional_problem():
    path = np.array([[1.0], [0.5], [-0.994]])
    results = [
        _fake("adam", None, 0.3, path=np.array([[1.0], [1.0], [1.0]])),
        _fake("amsgrad", 2, -0.33, path=path),
    ]
    problem = problems.get("reddi")

    text = prose.sentences(problem, results, 2)

    assert "Final x: adam 1; amsgrad -0.994 (the optimum is -1)." in text
    assert report.table(problem, results, 2).splitlines()[3].split()[4] == "-0.994"


def test_table_has_a_row_per_optimizer_its_neighbours_and_a_footnote():
    results = [_fake("sgd", None, math.nan), *_base()[1:]]

    lines = report.table(RAVINE, results, 50).splitlines()

    assert len(lines) > 5 and lines[0].split()[:4] == ["optimizer", "lr", "final", "f"]
    assert lines[2].split()[2:4] == ["diverged", "1"] and "diverged (step 1)" in lines[2]
    adam = lines[3].split()  # ... reached, lr/2, 2 lr, run ms, compile s
    assert adam[-7:-2] == ["step", "143", "step", "150", "2"]
    assert lines[5].startswith("distance: to the nearest known minimum; run ms: wall time")
    assert "lr/2, 2 lr" in " ".join(lines[5:])
    assert max(map(len, lines[5:])) <= len(lines[0])


def test_colours_differ_within_a_figure():
    names = [*OPTIMIZERS, "half-momentum"]  # one more than the menu

    colour = report.colours(names)

    assert len(set(colour.values())) == len(names)
    lineup = ["momentum", "adam", "sgd", "amsgrad", "adabound", "amsbound", "swats"]
    assert len(set(report.colours(lineup).values())) == len(lineup)
    assert report.colours(["adam", "sgd"]) == report.colours(["sgd", "adam"])


def test_figure_draws_an_optimizer_off_the_menu(tmp_path):
    problem = problems.get("ravine")
    chain = lambda lr: gradtx.chain(gradtx.trace(0.5), gradtx.scale_by_learning_rate(lr))
    entrants = [race.Entrant("sgd", 0.01), race.Entrant("half-momentum", 0.01, chain)]
    results = race.race(problem, entrants, 10)

    png = report.figure(problem, results, tmp_path / "ravine.png")

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_panel_marks_exact_zeros_on_its_floor_and_error_bars_start_at_zero():
    import matplotlib.pyplot as plt

    problem = problems.get("wilson")
    results = [
        _fake("sgd", 1, 0.0, losses=[0.5, 0.0, 1e-9, 0.0], train_error=0.0, test_error=0.0),
        _fake("adam", 1, 0.0, losses=[0.5, 1e-3, 1e-6, 0.0], train_error=0.0, test_error=0.45),
    ]
    colour = report.colours(["sgd", "adam"])
    fig, (left, right) = plt.subplots(1, 2)

    report._losses(left, problem, results, 1, colour)
    report._errors(right, problem, results, 1, colour)

    assert left.get_ylabel() == "f − f* (▼ on the floor: exactly 0)"
    assert left.get_legend_handles_labels()[1] == ["sgd (lr 0.1)", "adam (lr 0.1)"]
    line, marks = left.get_lines()[:2]  # sgd: its line breaks at the zeros, marked on the floor
    np.testing.assert_array_equal(line.get_ydata()[[0, 2]], [0.5, 1e-9])
    assert np.isnan(line.get_ydata()[[1, 3]]).all()
    np.testing.assert_array_equal(marks.get_xdata(), [1, 3])
    assert marks.get_ydata() == pytest.approx([1e-9 / 3] * 2)  # below the smallest positive gap
    assert right.get_ylim()[0] == 0 and "error" in right.get_ylabel()
    heights = [bar.get_height() for bar in right.patches]
    assert heights == pytest.approx([0.0, 0.0, 0.0, 45.0])  # train errors, then test errors
    right.clear()
    accuracies = [
        _fake("sgd", 1, 0.0, train_accuracy=1.0, test_accuracy=0.971),
        _fake("adam", 1, 0.0, train_accuracy=0.99, test_accuracy=0.967),
    ]
    report._errors(right, RAVINE, accuracies, 1, colour)
    left.clear()
    diverged = [_fake("adabound", None, np.nan, losses=[1.0, 2.0, np.nan])]
    report._losses(left, RAVINE, diverged, 1, report.colours(["adabound"]))
    assert left.get_legend_handles_labels()[1] == ["adabound (lr 0.1, diverged at 1)"]
    heights = [bar.get_height() for bar in right.patches]
    assert heights == pytest.approx([0.0, 1.0, 2.9, 3.3])  # errors, 100 - accuracy
    plt.close(fig)


def test_leaving_the_tolerance_and_ending_far_above_the_lowest_loss_are_reported():
    results = [
        _fake("adam", 2, 1e-8, losses=[1.0, 1e-3, 1e-9, 1e-12, 1e-8]),
        _fake("nesterov", 1, 1e-6, losses=[1.0, 1e-4, 0.5, 0.2, 1e-6]),
        _fake("sgd", 3, 1e-6, losses=[1.0, 1e-2, 1e-2, 1e-6, 1e-6]),
    ]

    text = prose.sentences(RAVINE, results, 4)

    assert (
        "adam's f − f* ended 1e+04 times above its lowest (at most 1.00e-12 at step 3), at "
        "1.00e-08."
    ) in text
    assert (
        "nesterov left the tolerance after reaching it (f − f* up to 0.5 at step 2); it was "
        "back within it from step 4."
    ) in text
    assert not any(s.startswith("sgd") for s in text)
    lower = _replace(results, 0, losses=np.array([1.0, 1e-3, 1e-9, 1e-12, 5e-10]))
    assert not any("times above" in s for s in prose.sentences(RAVINE, lower, 4))
    stays_out = _replace(results, 1, losses=np.array([1.0, 1e-4, 0.5, 0.2, 0.1]))
    assert any(
        s.startswith("nesterov left") and s.endswith("it ended outside it.")
        for s in prose.sentences(RAVINE, stays_out, 4)
    )


def test_swats_switch_is_reported_from_its_state():
    results = [
        _fake("swats", 50, 1e-4, lr=0.01, switch_step=145.0, sgd_lr=0.3),
        _fake("adam", 60, 2e-4, lr=0.01),
    ]

    text = prose.sentences(RAVINE, results, 2000)

    assert "swats switched from Adam to SGD after step 145, at a learned rate 0.3." in text
    never = _replace(results, 0, final={"loss": 1e-4, "switch_step": 0.0, "sgd_lr": 0.0})
    assert "swats never switched from Adam to SGD in 2000 steps: it ran as Adam." in (
        prose.sentences(RAVINE, never, 2000)
    )


def test_race_reads_the_switch_from_the_swats_state_only():
    from gradtx.tour.counterexamples import SWATS_SETTING as setting  # a documented switch

    problem = problems.get(setting["problem"])
    swats = race.Entrant("swats", setting["learning_rate"])

    result = race.run(problem, swats, setting["steps"])

    state = gradtx.swats(setting["learning_rate"]).init(problem.start)
    read = gradtx.swats_switch(state, setting["learning_rate"])
    assert 0 < result.final["switch_step"] < setting["steps"] and result.final["sgd_lr"] > 0
    assert race.switch(state, 0.01) == {"switch_step": read.step, "sgd_lr": read.sgd_lr}
    assert race.switch(gradtx.adam(0.1).init(problem.start), 0.1) == {}
