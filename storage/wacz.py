"""The archive's link captures packaged as a WACZ (the `wacz` package), for ReplayWeb.page and pywb.

Pages (`pages/pages.jsonl`): every link whose newest capture is in the WARC files, with its capture
time and the digest-archive's status, so a reader opening the WACZ sees the captured articles listed.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import redirect_stdout
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path

from sqlite_utils import Database

from .export import new_partial


class NothingToPackage(Exception):
    """The archive has no captures (no `links` run yet, or capture turned off)."""


def export_wacz(db: Database, captures: Path, output: Path, *, title: str) -> int:
    """Write the WACZ; returns how many pages it lists. Raises NothingToPackage without WARC files.

    Written beside `output` and moved onto it when whole (the caller has checked that `output` is new or
    an earlier WACZ: storage.export.check_output)."""
    warcs = sorted(str(path) for path in captures.glob("links-*.warc.gz")) if captures.is_dir() else []
    if not warcs:
        raise NothingToPackage(f"no captures in {captures}: run `scrapy crawl links` first")
    from wacz.main import main as wacz_main  # imported late: only this command needs it

    rows = db.execute(
        "SELECT url, final_url, captured_at, status FROM link_targets WHERE capture_warc IS NOT NULL ORDER BY url"
    ).fetchall()
    with tempfile.TemporaryDirectory() as folder:
        pages = Path(folder) / "pages.jsonl"
        with open(pages, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Captured links"}) + "\n")
            for url, final_url, captured_at, status in rows:
                when = datetime.fromisoformat(captured_at).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                page = {"url": final_url or url, "ts": when, "title": f"{url} ({status})"}
                handle.write(json.dumps(page, ensure_ascii=False) + "\n")
        partial = new_partial(output, ".partial.wacz")  # the wacz package wants its file to end in .wacz
        try:
            arguments = ["create", "-o", str(partial), "-p", str(pages), "--title", title, *warcs]
            with redirect_stdout(StringIO()):  # the wacz package prints its progress
                code = wacz_main(arguments)
            if code:
                raise RuntimeError(f"wacz create failed (exit {code})")
            partial.replace(output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return len(rows)
