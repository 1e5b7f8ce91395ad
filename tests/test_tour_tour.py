"""The tour, `gradtx.tour.tour`: every challenge raced into one self-contained report."""

from gradtx.problems import PROBLEMS
from gradtx.tour import tour
from gradtx.tour.menu import OPTIMIZERS


def test_every_problem_is_a_challenge_with_known_optimizers_at_tuned_rates():
    assert list(tour.CHALLENGES) == list(PROBLEMS)
    for c in tour.CHALLENGES.values():
        assert c.lineup and c.steps % c.log_every == 0, c.name
        for name in c.lineup:
            assert c.name in OPTIMIZERS[name].tuned, f"{name} has no tuned rate on {c.name}"


def test_entrant_takes_the_given_rate_else_the_tuned_one():
    assert tour.entrant("ravine", "sgd").learning_rate == OPTIMIZERS["sgd"].tuned["ravine"]
    assert tour.entrant("ravine", "sgd", 0.5).learning_rate == 0.5


def _shortened(c: tour.Challenge) -> tour.Challenge:
    """A twentieth of the steps (at least two logs) and the first optimizer of the lineup."""
    steps = max(2, c.steps // 20 // c.log_every) * c.log_every
    return c._replace(steps=steps, lineup=c.lineup[:1])


def test_tour_writes_one_self_contained_report(tmp_path, capsys):
    challenges = [_shortened(c) for c in tour.CHALLENGES.values()]

    assert tour.tour(tmp_path, challenges=challenges) == 0

    report = tmp_path / "index.html"
    assert f"report: {report}" in capsys.readouterr().out
    page = report.read_text(encoding="utf-8")
    for name in PROBLEMS:
        assert f"<h2 id='{name}'>" in page
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert page.count("src='data:image/png;base64,") == len(PROBLEMS)
