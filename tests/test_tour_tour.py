"""The tour, `gradtx.tour.tour`: the claims ledger, then every challenge, in one report.

One shortened tour runs once for the module (the datasets left out, one optimizer a landscape,
the counterexamples at their full length, which takes milliseconds a run) with the ledger's real
claims measured by stand-ins, so that the page's structure and the counterexamples' published
outcomes are checked in one pass.
"""

import dataclasses
import html
import re

import numpy as np
import pytest

from gradtx.problems import COUNTEREXAMPLES, PROBLEMS
from gradtx.tour import ledger, tour
from gradtx.tour.menu import OPTIMIZERS

SKIPPED = ("digits", "breast_cancer")  # seconds of compilation each; their figures are tested apart


def test_every_problem_and_counterexample_is_raced_with_known_optimizers():
    assert list(tour.CHALLENGES) == list(PROBLEMS)  # at the menu's tuned rates
    assert all(c.tuned for c in tour.CHALLENGES.values())
    assert {c.source for c in tour.EXTRAS.values()} == {"ravine", *COUNTEREXAMPLES}
    names = [c.name for c in tour.plan()]
    assert names[:3] == ["ravine", "ravine_rotated", "saddle"]
    assert names[-3:] == list(COUNTEREXAMPLES) and len(names) == len(set(names))
    for c in tour.plan():
        assert c.lineup and c.steps % c.log_every == 0, c.name
        fixed = {e.optimizer for e in c.entrants}
        assert fixed <= set(c.lineup), c.name
        for name in set(c.lineup) - fixed:
            assert c.source in OPTIMIZERS[name].tuned, f"{name} has no tuned rate on {c.name}"


def test_every_ledger_row_links_to_a_challenge_of_the_tour():
    assert {claim.section for claim in ledger.CLAIMS} <= {c.name for c in tour.plan()}


def test_entrant_takes_the_given_rate_else_the_challenge_setting_else_the_tuned_one():
    assert tour.entrant("ravine", "sgd").learning_rate == OPTIMIZERS["sgd"].tuned["ravine"]
    assert tour.entrant("ravine", "sgd", 0.5).learning_rate == 0.5
    assert (
        tour.entrant("ravine_rotated", "adam").learning_rate == OPTIMIZERS["adam"].tuned["ravine"]
    )
    reddi = tour.entrant("reddi", "adam")
    assert reddi.learning_rate == 0.5 and reddi.build is not None
    assert tour.entrant("reddi", "adam", 0.1).build is reddi.build
    assert tour.entrant("reddi", "sgd").learning_rate == OPTIMIZERS["sgd"].learning_rate


def test_rotated_ravine_turns_the_landscape_and_keeps_its_curvatures():
    ravine = tour.CHALLENGES["ravine"].build()
    turned = tour.EXTRAS["ravine_rotated"].build()
    assert float(turned.loss(turned.start)) == pytest.approx(float(ravine.loss(ravine.start)))
    np.testing.assert_allclose(np.asarray(turned.optimum), [0.0, 0.0], atol=1e-12)
    # The steep direction is the diagonal: a step along an axis feels both curvatures.
    e = np.eye(2)
    assert float(turned.loss(e[0])) == pytest.approx(float(turned.loss(e[1])))
    assert float(turned.loss(np.array([1.0, 1.0]) / np.sqrt(2))) == pytest.approx(0.5)


def _short(c: tour.Challenge) -> tour.Challenge:
    """A twentieth of a landscape's steps and one optimizer; counterexamples in full."""
    if c.source in COUNTEREXAMPLES:
        return c._replace(lineup=c.lineup[:1] + ("adam",)) if c.name == "wilson" else c
    steps = max(2, c.steps // 20 // c.log_every) * c.log_every
    return c._replace(steps=steps, lineup=c.lineup[:1])


def _stand_in(claim: ledger.Claim) -> ledger.Claim:
    """The claim, measured by a stand-in: every number 1 (milliseconds, not a minute)."""
    keys = {c.key for c in (*claim.conditions, *claim.resolved)}
    keys |= {c.bound for c in (*claim.conditions, *claim.resolved) if isinstance(c.bound, str)}
    return dataclasses.replace(claim, measure=lambda: dict.fromkeys(keys, 1.0))


class _Bar:
    """A progress bar that records what it is told."""

    calls: list = []

    def __init__(self, total):
        self.calls.append(total)

    def __call__(self, label):
        self.calls.append(label)

    def close(self):
        pass


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    plan = [_short(c) for c in tour.plan() if c.name not in SKIPPED]
    claims = [_stand_in(c) for c in ledger.CLAIMS]
    assert tour.tour(out, challenges=plan, claims=claims, progress=_Bar) == 0
    return out, plan, (out / "index.html").read_text(encoding="utf-8")


def test_tour_writes_one_self_contained_report(page):
    out, plan, text = page
    for c in plan:
        assert f"<h2 id='{c.name}'>" in text
        assert (out / f"{c.name}.png").stat().st_size > 10_000
    assert text.count("src='data:image/png;base64,") == len(plan)


def test_report_opens_with_the_ledger_and_every_row_links_to_a_section(page):
    _, plan, text = page
    ledger_at = text.index("<h2 id='ledger'>")
    first_section = min(text.index(f"<h2 id='{c.name}'>") for c in plan)
    assert ledger_at < text.index("<table") < text.index("</table>") < first_section
    assert text.index("<h2") == ledger_at  # nothing before the ledger but the title and intro
    rows = re.findall(r"<tr id='claim-(\w+)'><td><a href='#(\w+)'>", text)
    assert [name for name, _ in rows] == [claim.name for claim in ledger.CLAIMS]
    ids = set(re.findall(r" id='([\w-]+)'", text))
    for _, target in rows:
        assert target in ids
    for claim in ledger.CLAIMS:  # and each section links back to its rows
        assert f"<a href='#claim-{claim.name}'>" in text


def _section(text: str, name: str) -> str:
    start = text.index(f"<h2 id='{name}'>")
    end = text.find("<h2", start + 1)
    return html.unescape(text[start : end if end > 0 else None])


def test_counterexamples_reproduce_their_papers_in_the_tour(page):
    _, _, text = page
    for name in ("reddi", "reddi_stochastic"):
        section = _section(text, name)
        found = re.search(r"Final x: adam (\S+); amsgrad (\S+) \(the optimum is -1\)\.", section)
        adam, amsgrad = float(found[1]), float(found[2])
        assert adam > 0.99 and amsgrad < -0.99, (name, adam, amsgrad)  # Adam +1, AMSGrad -1
        assert "amsgrad reached the tolerance first" in section and "adam did not" in section
    wilson = _section(text, "wilson")
    found = re.search(r"The lowest test error was sgd's \((\S+)%\); adam (\S+)%\.", wilson)
    assert float(found[1]) == 0.0 and float(found[2]) > 40.0  # 1 - p of fresh draws err
    assert "Raced with the full gradient" in wilson


def test_a_section_shows_the_sensitivity_and_explains_its_columns(page):
    _, _, text = page
    ravine = _section(text, "ravine")
    assert "lr/2" in ravine and "run ms: wall time of the compiled run" in " ".join(ravine.split())
    assert "At half its rate" in ravine


def test_progress_counts_each_run(page):
    _, plan, _ = page
    labels = [f"{c.name}: {name}" for c in plan for name in c.lineup]
    assert _Bar.calls == [len(labels), *labels]


def test_a_failing_claim_fails_the_tour_in_the_callers_thread(tmp_path):
    def broken():
        raise RuntimeError("measurement failed")

    claim = dataclasses.replace(ledger.CLAIMS[0], measure=broken)

    with pytest.raises(RuntimeError, match="measurement failed"):
        tour.tour(tmp_path, challenges=[], claims=[claim])
