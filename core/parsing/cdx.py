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
