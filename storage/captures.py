"""Captures of live linked pages in WARC files beside the archive, through warcio.

    archive.db  ──►  archive.captures/links-00001.warc.gz, links-00002.warc.gz, …   (rotated by size)
                     archive.captures/index.cdxj                                    (cdxj-indexer, sorted)

Each record is its own gzip member (warcio's `gzip=True`), so a record is read from its offset alone.
A page whose payload is the same as the link's last capture is written as a `revisit` record
(profile "identical payload digest"), not stored again.

Scrapy hands over the body decoded (Content-Encoding removed) and no raw header bytes: the record holds
the status, the headers Scrapy kept and the body, without `Content-Encoding`, `Transfer-Encoding` and
`Content-Length` (warcio writes a Content-Length of its own), so that it reads back consistently.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from core import __version__
from core.items import LinkPage

_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
_WARC_NAME = re.compile(r"links-(\d{5})\.warc\.gz$")
INDEX_NAME = "index.cdxj"


def captures_folder(database: str | Path) -> Path:
    """The folder of an archive's captures: beside it, named after it (`archive.db` → `archive.captures`)."""
    path = Path(database)
    return path.with_name(f"{path.stem}.captures")


def payload_digest(body: bytes) -> str:
    """The WARC-Payload-Digest of a body: `sha1:` and the base32 SHA-1, as warcio and pywb write it."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


@dataclass(frozen=True)
class CaptureWritten:
    warc: str  # file name inside the captures folder
    offset: int  # where its record starts
    digest: str
    kind: str  # "response" or "revisit"


class CaptureStore:
    """The WARC files of one archive's captures; rotated when the current one reaches `max_bytes`."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def warc_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(path for path in self.folder.iterdir() if _WARC_NAME.search(path.name))

    def _current(self) -> Path:
        files = self.warc_files()
        if files and files[-1].stat().st_size < self.max_bytes:
            return files[-1]
        number = int(_WARC_NAME.search(files[-1].name).group(1)) + 1 if files else 1  # type: ignore[union-attr]
        return self.folder / f"links-{number:05d}.warc.gz"

    def write(
        self,
        page: LinkPage,
        at: datetime,
        *,
        previous_digest: str | None = None,
        previous_date: str | None = None,
        previous_uri: str | None = None,
    ) -> CaptureWritten:
        """Write the page (or a revisit record when its payload is the previous capture's)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._current()
        new_file = not path.exists()
        digest = payload_digest(page.body)
        warc_date = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        if new_file:
            writer.write_record(
                writer.create_warcinfo_record(
                    path.name, {"software": f"digest-archive/{__version__} (warcio)", "format": "WARC File Format 1.1"}
                )
            )
        offset_in_buffer = buffer.tell()
        http_headers = StatusAndHeaders(
            f"{page.http_status} {page.reason or 'OK'}",
            [(name, value) for name, value in page.headers if name.lower() not in _DROPPED_HEADERS],
            protocol="HTTP/1.1",
        )
        if previous_digest == digest and previous_date:
            record = writer.create_revisit_record(
                page.url,
                digest,
                previous_uri or page.url,
                previous_date,
                http_headers=http_headers,
                warc_headers_dict={"WARC-Date": warc_date},
            )
            kind = "revisit"
        else:
            record = writer.create_warc_record(
                page.url,
                "response",
                payload=io.BytesIO(page.body),
                length=len(page.body),
                http_headers=http_headers,
                warc_headers_dict={"WARC-Date": warc_date, "WARC-Payload-Digest": digest},
            )
            kind = "response"
        writer.write_record(record)
        with open(path, "ab") as handle:
            start = handle.tell()
            handle.write(buffer.getvalue())
        return CaptureWritten(path.name, start + offset_in_buffer, digest, kind)

    def index(self) -> Path | None:
        """Write `index.cdxj` (cdxj-indexer, sorted) over every WARC file; None when there is none."""
        files = self.warc_files()
        if not files:
            return None
        from cdxj_indexer.main import write_cdx_index  # imported late: only runs that captured need it

        target = self.folder / INDEX_NAME
        partial = target.with_suffix(".cdxj.partial")
        with open(partial, "w", encoding="utf-8") as out:
            write_cdx_index(out, [str(path) for path in files], {"sort": True, "dir_root": str(self.folder)})
        partial.replace(target)
        return target
