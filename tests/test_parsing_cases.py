"""Every saved page parses to exactly its reviewed expectation: every field, none missing, none extra."""

from __future__ import annotations

import pytest

from fixtures.cases import LISTING_CASES, PAGE_CASES, expected, parse_case

CASES = PAGE_CASES + LISTING_CASES


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_case_parses_to_its_expectation(case):
    actual, wanted = parse_case(case), expected(case)
    assert sorted(actual) == sorted(wanted), "fields missing or extra"
    for field in sorted(wanted):
        assert actual[field] == wanted[field], f"{case.name}: {field}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_says_what_it_models(case):
    assert (case / "about.txt").read_text(encoding="utf-8").strip()


def test_there_are_cases_for_every_layout():
    names = {case.name for case in PAGE_CASES}
    for layout in ("nejatngo_", "iran_interlink_", "classic_", "_amp_", "cp1252"):
        assert any(layout in name for name in names), layout
