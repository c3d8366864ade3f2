"""Digest titles in every spelling seen on the real sites."""

import pytest

from core.text import match_dateline, parse_date, parse_title

NUMBERED = [
    ("Iran Interlink Weekly Digest \u2013 217", 217),
    ("Iran-Interlink Weekly Digest \u2013 245", 245),
    ("Iran-Interlink Weekly Digest- 6", 6),
    ("Iran Interlink Weekly Digest -7", 7),
    ("Iran Interlink Weekly Digest -54", 54),
    ("Iran Interlink Weekly Digest - 190", 190),
    ("Iran Interlink Weekly Digest \u2014 306", 306),
    ("Iran Interlink Weekly Digest \u2013 167", 167),  # wrong on the real site, kept as published
]


@pytest.mark.parametrize("title,number", NUMBERED)
def test_numbered_titles(title, number):
    parts = parse_title(title)
    assert (parts.number, parts.issue_date, parts.headline) == (number, None, None)


DATED = [
    ("Iran Interlink Weekly Digest \u2013 September 20, 2019", "2019-09-20", None),
    (
        "Rajavi Dynasty Fights Back \u2013 Iran Interlink Weekly Digest \u2013 Sep 10, 2021",
        "2021-09-10",
        "Rajavi Dynasty Fights Back",
    ),
    ("covid-19 MEK Albania (Iran Interlink Weekly Digest \u2013 Apr 24, 2020)", "2020-04-24", "covid-19 MEK Albania"),
    ("MEK and Lebanon \u2013 Iran Interlink Weekly Digest", None, "MEK and Lebanon"),
    (
        "Albania\u2019s Choice \u2013 Iran Interlink Weekly Digest \u2013 Nov 26 2021",
        "2021-11-26",
        "Albania\u2019s Choice",
    ),
    ("Iran Interlink Weekly Digest \u2013 20 September 2019", "2019-09-20", None),
]


@pytest.mark.parametrize("title,issue_date,headline", DATED)
def test_dated_titles_have_no_number(title, issue_date, headline):
    parts = parse_title(title)
    assert (parts.number, parts.issue_date, parts.headline) == (None, issue_date, headline)


@pytest.mark.parametrize(
    "line,text,iso,rest",
    [
        ("Iran Interlink, August 25 2017", "Iran Interlink, August 25 2017", "2017-08-25", ""),
        ("Iran Interlink, September 20\u00a0 2019:", "Iran Interlink, September 20 2019", "2019-09-20", ""),
        ("Iran Interlink, April 24 2020: ++ Reports", "Iran Interlink, April 24 2020", "2020-04-24", "++ Reports"),
    ],
)
def test_datelines(line, text, iso, rest):
    found = match_dateline(line)
    assert (found.text, found.date, found.rest) == (text, iso, rest)


def test_a_sentence_is_not_a_dateline():
    assert match_dateline("Breitbart reported that Iran, May 2 2019, voted") is None


@pytest.mark.parametrize(
    "text,iso",
    [
        ("2017-08-25T09:30:00+00:00", "2017-08-25"),
        ("2019/09/21", "2019-09-21"),
        ("Sept 3, 2018", "2018-09-03"),
        ("February 30, 2019", None),
        ("no date here", None),
    ],
)
def test_dates(text, iso):
    assert parse_date(text) == iso
