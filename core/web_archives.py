"""The web archives a run may ask (`DIGEST_WEB_ARCHIVES`): each a name, a CDX API and a replay prefix.

    {"Internet Archive": {"cdx": "https://web.archive.org/cdx/search/cdx",
                          "replay": "https://web.archive.org/web/"}}

A capture's bytes as captured are at `{replay}{timestamp}id_/{url}`; the address a person reads (and
cites) is `{replay}{timestamp}/{url}` (../shared/web-archive-facts.md). The recovery (`-a mode=recover`)
asks every one of them, in the order given; the link check's archived-copy lookup asks the first.
Pure: no Scrapy, no I/O. A value that is not what this says is refused with a one-line reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

INTERNET_ARCHIVE = "Internet Archive"
DEFAULT_WEB_ARCHIVES = {
    INTERNET_ARCHIVE: {"cdx": "https://web.archive.org/cdx/search/cdx", "replay": "https://web.archive.org/web/"}
}
# Bounds on the setting: a handful of archives, names fit for a log line and a column.
MAX_WEB_ARCHIVES = 20
MAX_NAME_LENGTH = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_KEYS = frozenset({"cdx", "replay"})


@dataclass(frozen=True)
class WebArchive:
    name: str
    cdx: str  # the CDX API's address (`?url=…` is added)
    replay: str  # the replay prefix, ending in `/`

    def raw_url(self, timestamp: str, url: str) -> str:
        """The capture's bytes as captured (no banner, no rewritten links)."""
        return f"{self.replay}{timestamp}id_/{url}"

    def memento_url(self, timestamp: str, url: str) -> str:
        """The capture as a person reads and cites it (the human replay address)."""
        return f"{self.replay}{timestamp}/{url}"

    @property
    def origins(self) -> tuple[str, str]:
        """The CDX API's and the replay's addresses (for the origins a run may reach)."""
        return self.cdx, self.replay


def _http_url(value: object, what: str) -> str:
    if not isinstance(value, str) or _CONTROL.search(value) or len(value) > 2048:
        raise ValueError(f"{what} must be an http(s) URL on one line")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{what} is not a URL: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError(f"{what} must be an http(s) URL without user or password, got {value!r}")
    return value.strip()


def parse_web_archives(value: object) -> tuple[WebArchive, ...]:
    """The archives of the setting's value: a dict, or its JSON (as `-s` gives it); `{}` or an empty string
    names none. Raises ValueError, in one line, for anything else."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('not JSON: give a JSON object, name → {"cdx": URL, "replay": URL}') from None
    if not isinstance(value, Mapping):
        raise ValueError('must be an object: name → {"cdx": URL, "replay": URL}')
    if len(value) > MAX_WEB_ARCHIVES:
        raise ValueError(f"names {len(value)} web archives, at most {MAX_WEB_ARCHIVES}")
    archives = []
    for name, entry in value.items():
        if not isinstance(name, str) or not name.strip() or _CONTROL.search(name) or len(name) > MAX_NAME_LENGTH:
            raise ValueError(f"a web archive's name must be text on one line, 1 to {MAX_NAME_LENGTH} characters")
        if not isinstance(entry, Mapping) or set(entry) != _KEYS:
            raise ValueError(f'{name!r} must be {{"cdx": URL, "replay": URL}}, nothing else')
        cdx = _http_url(entry["cdx"], f"{name!r} cdx")
        replay = _http_url(entry["replay"], f"{name!r} replay")
        archives.append(WebArchive(name.strip(), cdx, replay.rstrip("/") + "/"))
    if len({archive.name for archive in archives}) != len(archives):
        raise ValueError("two web archives have one name")
    return tuple(archives)
