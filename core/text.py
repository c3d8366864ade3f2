"""Shared cleaners for text cues: whitespace, dates, datelines and digest titles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# What no reader of the archive can take: C0 and C1 controls but tab, line feed and carriage return
# (XML 1.0 forbids most of them, so the Atom feed would not be well-formed), lone surrogates (UTF-8
# cannot encode them: SQLite, JSON and CSV writers fail) and the Unicode noncharacters (U+FDD0–U+FDEF
# and the last two code points of every plane). A site sends them as bytes, as `&#1;` or as `\ud800`.
# One pass of one pattern: a character of one class of ranges (the regex engine tests those fast; a class
# that lists the 32 noncharacters above U+FFFF one by one is seven times slower on a whole page), which,
# when it lies above U+FFFF, must be one of those noncharacters (the look-behind, rarely reached).
_ASTRAL_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
)
_UNFIT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe-\U0010ffff]"
    f"(?<=[\x00-\uffff{_ASTRAL_NONCHARACTERS}])"
)


def fit_text(text: str) -> str:
    """`text` without the characters no reader can take (see `_UNFIT`); everything else kept."""
    return _UNFIT.sub("", text)


# The same characters in UTF-8, for a test of a whole page at memory speed (most pages hold none): the C0
# controls are single bytes; C1 controls are C2 80–9F; U+FDD0–U+FDEF and U+FFFE/F start EF B7 or EF BF; the
# noncharacters above U+FFFF end BF BE or BF BF. A hit sends the page through `fit_text` (a few other
# characters also hit: they only cost that pass); a lone surrogate cannot be encoded at all.
_C0_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# (lead byte, the bytes after it that make a hit, the same as a pattern for a page dense with lead bytes)
_UNFIT_PAIRS = tuple(
    (lead, frozenset(followers), re.compile(re.escape(bytes([lead])) + b"[" + re.escape(bytes(followers)) + b"]"))
    for lead, followers in ((0xC2, range(0x80, 0xA0)), (0xEF, (0xB7, 0xBF)), (0xBF, (0xBE, 0xBF)))
)
# Past this many lead bytes the pattern's one pass beats a look at each of them.
_FEW_LEADS = 64


def fit_utf8(text: str) -> bytes:
    """`fit_text(text)` encoded as UTF-8; `fit_text` runs only when the encoded text may need it."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return fit_text(text).encode("utf-8")
    return data if _fit_already(data) else fit_text(text).encode("utf-8")


def fit_utf8_bytes(data: bytes) -> bytes:
    """`fit_utf8` of text given as its (valid) UTF-8 bytes."""
    return data if _fit_already(data) else fit_text(data.decode("utf-8")).encode("utf-8")


def _fit_already(data: bytes) -> bool:
    """No character `fit_text` removes can be in these UTF-8 bytes (see `_UNFIT_PAIRS`).

    Each test is a search for one byte value (`in` and `find` are memchr; a regular expression steps
    through the page byte by byte, five times slower for the three pairs, and a class of the C0 bytes
    ten times slower than 29 searches)."""
    if any(byte in data for byte in _C0_BYTES):
        return False
    # Pure ASCII (a page writing every other character as a reference) holds no multi-byte sequence.
    return data.isascii() or not any(_has_pair(data, *pair) for pair in _UNFIT_PAIRS)


def _has_pair(data: bytes, lead: int, followers: frozenset[int], pattern: re.Pattern[bytes]) -> bool:
    at = data.find(lead)
    seen = 0
    while at != -1:
        if at + 1 < len(data) and data[at + 1] in followers:
            return True
        seen += 1
        if seen > _FEW_LEADS:  # a page full of no-break spaces, say: the rest in one pass
            return pattern.search(data, at) is not None
        at = data.find(lead, at + 1)
    return False


def fit_optional(text: str | None) -> str | None:
    return None if text is None else fit_text(text)


def squash(text: str) -> str:
    """Collapse runs of white space (no-break spaces too) into one space and trim.

    `str.split()` splits at exactly the characters `\\s` matches (no-break space included), in C; the
    zero-width space and the byte-order mark, which are not white space to Python, are made spaces first.
    """
    if "\u200b" in text or "\ufeff" in text:
        text = text.replace("\u200b", " ").replace("\ufeff", " ")
    return " ".join(text.split())


# --- dates ----------------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?"
    r"|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"

# "August 25 2017", "September 20, 2019", "Sep 10, 2021", "Nov 26 2021" (month first, as on the sites)
# and "25 August 2017" (day first, in case an editor wrote it the British way).
DATE_IN_WORDS = (
    rf"(?i:(?P<m1>{_MONTH})\s+(?P<d1>{_DAY}),?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>{_DAY})\s+(?P<m2>{_MONTH}),?\s+(?P<y2>\d{{4}}))"
)
_DATE_IN_WORDS = re.compile(DATE_IN_WORDS)
_NUMERIC_DATE = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})")


def _iso(year: str, month: int, day: str) -> str | None:
    try:
        return date(int(year), month, int(re.sub(r"\D", "", day))).isoformat()
    except ValueError:
        return None


def iso_from_match(match: re.Match[str]) -> str | None:
    """The ISO date of a match of DATE_IN_WORDS (None for an impossible date such as Feb 30)."""
    month_name = (match.group("m1") or match.group("m2")).rstrip(".").lower()
    day = match.group("d1") or match.group("d2")
    year = match.group("y1") or match.group("y2")
    return _iso(year, _MONTHS[month_name], day)


def parse_date(text: str | None) -> str | None:
    """The first date in `text` as an ISO date: ISO/WordPress (`2019/09/21`) or in words."""
    if not text:
        return None
    numeric = _NUMERIC_DATE.search(text)
    if numeric:
        return _iso(numeric["y"], int(numeric["m"]), numeric["d"])
    words = _DATE_IN_WORDS.search(text)
    if words:
        return iso_from_match(words)
    return None


# --- datelines ------------------------------------------------------------------------------------

# "Iran Interlink, August 25 2017" closes nejatngo digests; "Iran Interlink, September 20 2019:"
# opens iran-interlink.org ones (no comma before the year, and a double space was seen).
_DATELINE = re.compile(
    rf"^\s*(?P<line>(?P<who>[A-Z][\w&'.-]*(?:[ \-][A-Z][\w&'.-]*){{0,3}})\s*,\s*(?P<date>{DATE_IN_WORDS}))"
    r"\s*[:.\u2013\u2014-]?\s*"
)


@dataclass(frozen=True)
class Dateline:
    text: str  # as printed, white space collapsed, without the trailing colon
    date: str | None  # ISO
    rest: str  # text after the dateline on the same line


def match_dateline(text: str) -> Dateline | None:
    """A dateline at the start of `text`, or None."""
    match = _DATELINE.match(text)
    if not match:
        return None
    return Dateline(
        text=squash(match["line"]),
        date=iso_from_match(match),
        rest=text[match.end() :].strip(),
    )


# --- titles ---------------------------------------------------------------------------------------

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
# The series name in every spelling seen: "Iran Interlink Weekly Digest", "Iran-Interlink Weekly Digest".
_SERIES = r"(?:Iran[\s\-\u2010\u2011]*Interlink\s+)?Weekly\s+Digest"
_SERIES_RE = re.compile(_SERIES, re.IGNORECASE)
# "– 217", "- 6", "-7", "-54", "&#8211; 200" (decoded before we see it), "No. 12", "#12";
# a number that starts a date ("20 September 2019") is not an issue number.
_NUMBER_AFTER_SERIES = re.compile(
    rf"{_SERIES}\s*[{_DASHES}:#]*\s*(?:No\.?\s*|#)?(?P<number>\d{{1,4}})\b(?!\s*(?:{_MONTH}|[,/.]\s*\d))",
    re.IGNORECASE,
)
_BRACKETED_SERIES = re.compile(rf"\(\s*({_SERIES}[^)]*)\)", re.IGNORECASE)
_SEPARATORS = f" \t{_DASHES}:|,()[]\u00a0"


@dataclass(frozen=True)
class TitleParts:
    number: int | None
    issue_date: str | None
    headline: str | None


def is_series_name(text: str) -> bool:
    """True when `text` is the series name and nothing else (a category line or a caption)."""
    return bool(_SERIES_RE.fullmatch(squash(text).strip(_SEPARATORS)))


def mentions_series(text: str) -> bool:
    return bool(_SERIES_RE.search(text))


def only_digests(items: list, title_of) -> list:
    """The items whose title names the series, when any does; else all of them.

    A listing whose titles name the series may hold a post whose title does not (an "About" post in
    an author listing, a sticky notice): that is not a digest. A listing where no title names the
    series (a theme that shows none) is taken as it is.
    """
    naming = [item for item in items if mentions_series(title_of(item))]
    return naming if naming else list(items)


def parse_title(title: str) -> TitleParts:
    """Number, issue date and headline from a digest title, in every spelling seen.

    Numbered: `Iran Interlink Weekly Digest – 217`, `Iran-Interlink Weekly Digest- 6`.
    Dated: `Iran Interlink Weekly Digest – September 20, 2019`,
    `<Headline> – Iran Interlink Weekly Digest – Sep 10, 2021`,
    `covid-19 MEK Albania (Iran Interlink Weekly Digest – Apr 24, 2020)`,
    `MEK and Lebanon – Iran Interlink Weekly Digest` (no date at all).
    The number is kept as published: the real archive has a 167 where 196 belongs.
    """
    title = squash(title)
    number_match = _NUMBER_AFTER_SERIES.search(title)
    number = int(number_match["number"]) if number_match else None

    rest = title
    if number_match:
        rest = rest[: number_match.start()] + " " + rest[number_match.end() :]
    date_match = _DATE_IN_WORDS.search(rest) if number is None else None
    issue_date = iso_from_match(date_match) if date_match else None
    if date_match:
        rest = rest[: date_match.start()] + " " + rest[date_match.end() :]

    # What remains once the series name, number and date are gone is the headline.
    rest = _BRACKETED_SERIES.sub(" ", rest)
    rest = _SERIES_RE.sub(" ", rest)
    pieces = [squash(p).strip(_SEPARATORS) for p in re.split(rf"\s[{_DASHES}]+\s|\s\|\s", rest)]
    headline = " \u2013 ".join(p for p in pieces if p) or None
    return TitleParts(number=number, issue_date=issue_date, headline=headline)
