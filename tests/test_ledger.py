"""The claims ledger (`gradtx.tour.ledger`): verdicts follow from numbers and thresholds.

No experiment runs here (the whole ledger takes about a minute); the README's committed table is
checked instead: each verdict is the one its printed numbers give, changing the numbers changes
it, and the table is exactly what the ledger prints for those numbers.
"""

import math
from pathlib import Path

import pytest

from gradtx.tour import ledger

README = Path(__file__).resolve().parents[1] / "README.md"

# The claims issue 15 lists, each a row of the ledger.
ISSUE_CLAIMS = {
    "learning_rate",
    "decay_in_advance",
    "nonconvexity",
    "one_learning_rate",
    "exploding_gradients",
    "momentum",
    "nesterov",
    "adagrad",
    "adadelta",
    "rmsprop_adadelta",
    "adam_momentum_rmsprop",
    "adamax",
    "nadam",
    "generalisation",
    "non_convergence",
    "fixes",
}
CLAIMS = {claim.name: claim for claim in ledger.CLAIMS}


def _readme_rows():
    text = README.read_text(encoding="utf-8")
    table = text.split(ledger.BEGIN)[1].split(ledger.END)[0]
    return table.strip(), ledger.parse_markdown(table)


def _set(numbers, condition, met):
    """Numbers in which `condition` is met (or not), everything else unchanged."""
    numbers = dict(numbers)
    bound = condition.bound
    reference = numbers[bound] if isinstance(bound, str) else bound
    up = reference + abs(reference) + 1.0
    down = reference - abs(reference) - 1.0
    above = condition.op in (">", ">=")
    numbers[condition.key] = up if above == met else down
    assert condition.met(numbers) == met
    return numbers


def test_every_claim_of_the_issue_has_a_row_with_stated_thresholds():
    assert set(CLAIMS) == ISSUE_CLAIMS
    for claim in ledger.CLAIMS:
        assert claim.conditions and claim.claim and claim.experiment
        assert claim.threshold().startswith("holds if ")


def test_verdict_rule():
    conditions = (ledger.Condition("a", ">", 1.0), ledger.Condition("b", "<", "c"))
    assert ledger.verdict({"a": 2.0, "b": 0.0, "c": 1.0}, conditions) == ledger.HOLDS
    assert ledger.verdict({"a": 0.0, "b": 0.0, "c": 1.0}, conditions) == ledger.CAVEAT
    assert ledger.verdict({"a": 0.0, "b": 2.0, "c": 1.0}, conditions) == ledger.FAILS
    assert ledger.verdict({"a": math.nan, "b": 0.0, "c": 1.0}, conditions) == ledger.UNRESOLVED
    resolved = (ledger.Condition("c", ">", 5.0),)
    assert ledger.verdict({"a": 2.0, "b": 0.0, "c": 1.0}, conditions, resolved) == (
        ledger.UNRESOLVED
    )
    assert str(conditions[1]) == "b < c" and str(conditions[0]) == "a > 1"


def test_readme_ledger_has_every_claim_in_order():
    _, rows = _readme_rows()
    assert [name for name, _, _ in rows] == [claim.name for claim in ledger.CLAIMS]


@pytest.mark.parametrize("name", [claim.name for claim in ledger.CLAIMS])
def test_readme_verdict_follows_from_its_numbers_and_changes_with_them(name):
    claim = CLAIMS[name]
    numbers, printed = next((n, v) for row, n, v in _readme_rows()[1] if row == name)
    assert printed in ledger.VERDICTS
    assert ledger.judge(claim, numbers) == printed
    # Every condition met, none met, or a NaN: the verdict moves with the numbers.
    all_met, none_met = dict(numbers), dict(numbers)
    for condition in claim.conditions:
        all_met = _set(all_met, condition, True)
        none_met = _set(none_met, condition, False)
    for condition in claim.resolved:
        all_met, none_met = _set(all_met, condition, True), _set(none_met, condition, True)
    assert ledger.judge(claim, all_met) == ledger.HOLDS
    assert ledger.judge(claim, none_met) == ledger.FAILS
    if len(claim.conditions) > 1:
        some = _set(all_met, claim.conditions[0], False)
        assert ledger.judge(claim, some) == ledger.CAVEAT
    for condition in claim.resolved:
        assert ledger.judge(claim, _set(all_met, condition, False)) == ledger.UNRESOLVED
    assert ledger.judge(claim, {**numbers, claim.conditions[0].key: math.nan}) == (
        ledger.UNRESOLVED
    )


def test_readme_table_is_what_the_ledger_prints_for_those_numbers():
    table, parsed = _readme_rows()
    rows = [
        ledger.Row(
            name,
            CLAIMS[name].claim,
            CLAIMS[name].experiment,
            numbers,
            CLAIMS[name].threshold(),
            ledger.judge(CLAIMS[name], numbers),
            CLAIMS[name].section,
            0.0,
        )
        for name, numbers, _ in parsed
    ]
    assert ledger.markdown(rows) == table


def test_numbers_round_trip_through_the_table():
    numbers = {"a": 0.1234, "b": 1.923e41, "c": -3.0, "d": 2001.0}
    assert ledger.parse_numbers(ledger.format_numbers(numbers)) == numbers


def test_html_table_links_rows_to_report_sections_and_escapes_text():
    row = ledger.Row("x", "a < b", "exp", {"n": 1.0}, "holds if n > 0", ledger.HOLDS, "ravine", 0)
    other = ledger.Row("y", "c", "exp", {"n": -1.0}, "holds if n > 0", ledger.FAILS, "wilson", 0)
    page = ledger.html_table([row, other], anchors=["ravine"])
    assert "<tr id='claim-x'><td><a href='#ravine'>a &lt; b</a></td>" in page
    assert "<tr id='claim-y'><td>c</td>" in page and "<b>does not hold here</b>" in page
