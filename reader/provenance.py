"""Where a digest came from, as a reader is told: "recovered from the Internet Archive, captured 12 March 2017",
linked to the memento (the web archive's replay of the capture, the address to cite).

A recovered digest (`mode=recover`) carries `recovered_from` (the key of its web archive in the setting
`DIGEST_WEB_ARCHIVES`), `captured_at` (ISO 8601, UTC) and `memento_url`; a digest read from the live site
carries none of them, and the reader says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# The web archives people know by a name a key may not spell (an article, a capital, a dot), looked up by the
# key in lower case with spaces, dots and hyphens as underscores: `Internet Archive` (the setting's default key)
# and `internet_archive` both read "the Internet Archive". Any other key reads as itself with spaces for
# underscores (`my_archive` → "my archive"): the operator chose it.
KNOWN_NAMES = {
    "internet_archive": "the Internet Archive",
    "arquivo_pt": "Arquivo.pt",
    "common_crawl": "Common Crawl",
}
# Addresses a reader may follow: a memento is a web address, never `javascript:` or a data URL.
_WEB_SCHEMES = ("http://", "https://")


def archive_name(key: str) -> str:
    """The display name of a web archive from its key in DIGEST_WEB_ARCHIVES."""
    plain = key.strip()
    return KNOWN_NAMES.get(re.sub(r"[\s_.-]+", "_", plain.lower()), plain.replace("_", " "))


def capture_day(captured_at: str) -> str | None:
    """`12 March 2017` from an ISO 8601 time (`2017-03-12T08:15:00Z` or a date); None when it is not one."""
    try:
        moment = datetime.fromisoformat(captured_at.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return f"{moment.day} {moment:%B %Y}"


@dataclass(frozen=True)
class Provenance:
    archive: str  # display name
    captured: str | None  # `12 March 2017`, None when the stored time is not a time
    memento_url: str | None  # None when the stored address is not a web address (never linked then)

    @property
    def sentence(self) -> str:
        """The words without the link: `recovered from the Internet Archive, captured 12 March 2017`."""
        return f"recovered from {self.archive}" + (f", captured {self.captured}" if self.captured else "")


def provenance_of(row: dict) -> Provenance | None:
    """The provenance of a digest row (with the columns `recovered_from`, `captured_at`, `memento_url`), or
    None for a digest read from the live site (or an archive older than recovery, without those columns)."""
    key = row.get("recovered_from")
    if not key:
        return None
    memento = row.get("memento_url") or None
    if memento is not None and not memento.lower().startswith(_WEB_SCHEMES):
        memento = None
    captured_at = row.get("captured_at")
    return Provenance(archive_name(key), capture_day(captured_at) if captured_at else None, memento)
