"""A CDX API's answer: the Internet Archive's wayback-cdx-server (the default), or pywb's.

Pure: `(body bytes) → list[CdxCapture]`. The shapes (../shared/web-archive-facts.md):
- the Internet Archive, `output=json`: ONE JSON array of arrays, its first row the field names; no
  capture is `[]`;
- the Internet Archive, plain text: one capture a line, `urlkey timestamp original mimetype statuscode
  digest length`;
- pywb, `output=json`: one JSON object a line (`timestamp`, `url`, `status`, …).
CDXJ (`urlkey timestamp {json}`, pywb's default output) is refused, not misread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from .errors import ParseError

_TIMESTAMP = re.compile(r"\d{4,14}")
_TEXT_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")


@dataclass(frozen=True)
class CdxCapture:
    timestamp: str  # yyyyMMddhhmmss
    original: str
    status: str | None


def cdx_query(api: str, url: str, not_after: str | None, limit: int = -1) -> str:
    """The CDX API address asking for the 200 captures of `url` not later than the date `not_after`
    (ISO, `2019-09-20`): with `limit=-1` only the last of them (the Internet Archive; pywb reads no
    negative limit, so 0 sends none)."""
    params = {"url": url, "output": "json", "filter": "statuscode:200"}
    if limit:
        params["limit"] = str(limit)
    if not_after:
        params["to"] = _end_of_day(not_after)
    return f"{api}?{urlencode(params)}"


def parse_cdx_answer(body: bytes) -> list[CdxCapture]:
    """Every capture the answer lists, in its order. Raises ParseError for an answer in neither shape."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text.startswith("["):
        rows = _from_json(text)
    elif text.startswith("{"):
        rows = _from_json_lines(text)
    else:
        rows = _from_text(text)
    return [capture for capture in (_capture(*row) for row in rows) if capture]


def _from_json(text: str) -> Iterator[tuple]:
    """(timestamp, original, status) of each row, as the answer gives them (checked by `_capture`)."""
    try:
        rows = json.loads(text)
    except ValueError as error:
        raise ParseError(f"CDX answer is not JSON: {error}") from None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ParseError("CDX answer is not an array of arrays (pywb's format? use the Internet Archive's)")
    if not rows:
        return
    header = [str(name) for name in rows[0]]
    if "timestamp" not in header or "original" not in header:
        raise ParseError(f"CDX answer's first row names no timestamp and original: {header[:8]}")
    for row in rows[1:]:
        fields = dict(zip(header, row, strict=False))
        yield fields.get("timestamp"), fields.get("original"), fields.get("statuscode")


def _from_json_lines(text: str) -> Iterator[tuple]:
    for line in text.splitlines():
        try:
            fields = json.loads(line)
        except ValueError as error:
            raise ParseError(f"CDX answer line is not JSON: {error}") from None
        if not isinstance(fields, dict):
            raise ParseError("CDX answer line is not a JSON object")
        yield fields.get("timestamp"), fields.get("url"), fields.get("status")


def _from_text(text: str) -> Iterator[tuple]:
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) < 3 or parts[2].startswith("{"):
            raise ParseError("CDX answer line is not `urlkey timestamp original …` (CDXJ? use the Internet Archive's)")
        fields = dict(zip(_TEXT_FIELDS, parts, strict=False))
        yield fields.get("timestamp"), fields.get("original"), fields.get("statuscode")


def _capture(timestamp, original, status) -> CdxCapture | None:
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        return None
    if not isinstance(original, str) or not original.startswith(("http://", "https://")):
        return None
    return CdxCapture(timestamp, original, status if isinstance(status, str) else None)


def closest_not_after(captures: list[CdxCapture], not_after: str | None) -> CdxCapture | None:
    """The newest 200 capture not later than the date (a server that ignored `to=` is not trusted)."""
    limit = _end_of_day(not_after) if not_after else None
    fitting = [
        capture
        for capture in captures
        if capture.status in (None, "200") and (limit is None or capture.timestamp.ljust(14, "0") <= limit)
    ]
    return max(fitting, key=lambda capture: capture.timestamp.ljust(14, "0"), default=None)


def _end_of_day(day: str) -> str:
    """The last CDX timestamp (`YYYYMMDDhhmmss`) of an ISO date."""
    return day[:10].replace("-", "") + "235959"


def replay_url(prefix: str, capture: CdxCapture) -> str:
    return f"{prefix.rstrip('/')}/{capture.timestamp}/{capture.original}"


# --- a whole site's captures (`-a mode=recover`): typed, bounded rows -------------------------------------

# What one CDX answer may be: a page of the Internet Archive's paged answers is a few thousand rows; an answer
# past these is refused, not read.
MAX_CDX_BYTES = 32 * 1024 * 1024
MAX_CDX_ROWS = 200_000
_MAX_FIELD = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FULL_TIMESTAMP = re.compile(r"[0-9]{14}")
_STATUS = re.compile(r"[1-5][0-9]{2}")
_PAYLOAD_DIGEST = re.compile(r"[A-Za-z0-9+/=:_-]{1,128}")
_MIMETYPE = re.compile(r"[\x21-\x7e]{1,200}")
_PYWB_NAMES = {
    "timestamp": "timestamp",
    "url": "original",
    "mime": "mimetype",
    "status": "statuscode",
    "digest": "digest",
}


@dataclass(frozen=True)
class CdxRow:
    """One capture as a CDX API lists it, every field checked."""

    timestamp: str  # yyyyMMddhhmmss, a real date and time
    original: str  # the URL captured, http(s)
    mimetype: str | None
    status: int | None  # None: `-` (a revisit, a WARC record with no status)
    digest: str | None  # the payload's digest

    @property
    def captured_at(self) -> str:
        """The timestamp as ISO 8601 UTC."""
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).isoformat()

    @property
    def is_html_page(self) -> bool:
        """A 200 of an HTML page (what a digest can be read from)."""
        return self.status == 200 and (self.mimetype is None or "html" in self.mimetype.lower())


def cdx_prefix_query(api: str, url_prefix: str, *, page: int | None = None, num_pages: bool = False) -> str:
    """The CDX API address listing every capture under `url_prefix` (`host/path`, no scheme: the archive
    matches scheme and `www.` as one), page `page` of a paged answer, or (`num_pages`) how many pages
    there are (`showNumPages=true`)."""
    params = {"url": url_prefix, "matchType": "prefix", "output": "json"}
    if num_pages:
        params["showNumPages"] = "true"
    if page is not None:
        params["page"] = str(page)
    return f"{api}?{urlencode(params)}"


def _first_line_is_a_capture(text: str) -> bool:
    try:
        first = json.loads(text.split("\n", 1)[0])
    except (ValueError, RecursionError):
        return False
    return isinstance(first, dict) and "timestamp" in first


def parse_cdx_pages(body: bytes, max_pages: int) -> int | None:
    """How many pages a `showNumPages=true` answer says (the Internet Archive: a number; pywb's paged
    indexes: `{"pages": N, …}`); None when the server answered with the captures themselves (it does not
    page: the answer is whole). Raises ParseError for anything else, or a count past `max_pages`."""
    text = _bounded_text(body)
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        # pywb on a local (CDXJ) index ignores showNumPages and answers its captures, one object a line:
        # more than one JSON value, so no single number or object.
        if _first_line_is_a_capture(text):
            return None
        raise ParseError(f"CDX page count is not a number: {text[:40]!r}") from None
    if isinstance(value, dict) and "pages" in value and "timestamp" not in value:
        value = value["pages"]
    elif isinstance(value, (list, dict)):
        return None  # the captures: the server ignored showNumPages
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParseError(f"CDX page count is not a whole number: {str(value)[:40]!r}")
    if value > max_pages:
        raise ParseError(f"the CDX answer has {value} pages, more than DIGEST_RECOVER_MAX_CDX_PAGES ({max_pages})")
    return value


def parse_cdx_rows(body: bytes, max_rows: int = MAX_CDX_ROWS) -> list[CdxRow]:
    """Every capture of a CDX answer, checked field by field: the Internet Archive's JSON (an array of
    arrays, the field names first; a resume key after an empty row is left out) or pywb's (a JSON object a
    line). Raises ParseError, naming the first thing wrong, for an answer too large, of another shape,
    with too many rows or a field of the wrong type: an answer is read whole or refused."""
    text = _bounded_text(body)
    if not text:
        return []
    if text.startswith("["):
        records = _records_of_array(text)
    elif text.startswith("{"):
        records = _records_of_lines(text)
    else:
        raise ParseError("CDX answer is neither a JSON array nor JSON lines (ask with output=json)")
    rows = []
    for number, record in enumerate(records, start=1):
        if number > max_rows:
            raise ParseError(f"CDX answer has more than {max_rows} rows")
        rows.append(_typed_row(number, record))
    return rows


def _bounded_text(body: bytes) -> str:
    if len(body) > MAX_CDX_BYTES:
        raise ParseError(f"CDX answer of {len(body)} bytes, more than {MAX_CDX_BYTES}")
    try:
        return body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ParseError("CDX answer is not UTF-8") from None


def _records_of_array(text: str) -> Iterator[dict]:
    try:
        rows = json.loads(text)
    except (ValueError, RecursionError):
        raise ParseError("CDX answer is not JSON") from None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ParseError("CDX answer is not an array of arrays")
    if not rows:
        return
    header = rows[0]
    if not all(isinstance(name, str) for name in header) or not {"timestamp", "original"} <= set(header):
        raise ParseError("CDX answer's first row does not name its fields (timestamp, original, …)")
    for row in rows[1:]:
        if not row:
            return  # what follows an empty row is the resume key (`showResumeKey`), not a capture
        if len(row) != len(header):
            raise ParseError(f"CDX answer has a row of {len(row)} fields under a header of {len(header)}")
        yield dict(zip(header, row, strict=True))


def _records_of_lines(text: str) -> Iterator[dict]:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except (ValueError, RecursionError):
            raise ParseError("CDX answer line is not JSON") from None
        if not isinstance(fields, dict):
            raise ParseError("CDX answer line is not a JSON object")
        yield {_PYWB_NAMES[name]: value for name, value in fields.items() if name in _PYWB_NAMES}


def _typed_row(number: int, record: dict) -> CdxRow:
    def text(name: str, pattern: re.Pattern[str] | None, required: bool = False) -> str | None:
        value = record.get(name)
        if value is None or value == "-":
            if required:
                raise ParseError(f"CDX row {number}: no {name}")
            return None
        if not isinstance(value, str) or len(value) > _MAX_FIELD or _CONTROL.search(value):
            raise ParseError(f"CDX row {number}: {name} is not text on one line")
        if pattern is not None and not pattern.fullmatch(value):
            raise ParseError(f"CDX row {number}: {name} {value[:40]!r} is not what a CDX {name} is")
        return value

    timestamp = text("timestamp", _FULL_TIMESTAMP, required=True)
    assert timestamp is not None
    try:
        datetime.strptime(timestamp, "%Y%m%d%H%M%S")
    except ValueError:
        raise ParseError(f"CDX row {number}: timestamp {timestamp} is no date") from None
    original = text("original", None, required=True)
    assert original is not None
    if not original.lower().startswith(("http://", "https://")):
        raise ParseError(f"CDX row {number}: original {original[:40]!r} is not an http(s) URL")
    status = text("statuscode", _STATUS)
    return CdxRow(
        timestamp=timestamp,
        original=original,
        mimetype=text("mimetype", _MIMETYPE),
        status=int(status) if status is not None else None,
        digest=text("digest", _PAYLOAD_DIGEST),
    )
