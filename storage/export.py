"""Exports: one file per table (CSV, JSON, NDJSON), or a consistent copy of the whole database.

JSON, NDJSON and the copy keep every value exactly. CSV is for spreadsheets, which run a cell that
begins like a formula: what a site wrote there is neutralised (`csv_cell`)."""

from __future__ import annotations

import csv
import json
import os
import secrets
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlite_utils import Database

from .schema import TABLES

# What a reader of the archive wants as files: the digests and their editions, entries and links, the
# runs, and every table of the link check (link_targets, link_checks, and any link table declared later).
EXPORTED_TABLES = (
    "editions",
    "digests",
    "entries",
    "links",
    "digest_revisions",
    "crawl_runs",
    "failures",
    *(table.name for table in TABLES if table.name.startswith("link_")),
    "web_captures",  # what a recovery read from the web archives, and what each capture became
    "sites",  # what each site calls itself: the names the reader shows
)
# The crawl's own bookkeeping, in the sqlite copy only: the fetched pages (compressed bodies), every URL
# form a digest was reached at, what a crawl learnt of each listing's indexes.
NOT_EXPORTED_AS_FILES = ("pages", "digest_urls", "listings")
FORMATS = ("csv", "json", "ndjson", "sqlite")


class OutputRefused(Exception):
    """An export will not write where it was asked: a file or folder it would not write itself is in the
    way, or (`earlier_export`) files of an earlier export are, which only a replacing export overwrites."""

    def __init__(self, message: str, *, earlier_export: bool) -> None:
        super().__init__(message)
        self.earlier_export = earlier_export


# OWASP, "CSV Injection": a cell beginning with one of these is read by Excel, LibreOffice or Google
# Sheets as a formula (`=HYPERLINK(...)` makes a live link; DDE payloads run programs); a leading tab or
# carriage return hides such a start from the eye but not from every spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _table_rows(db: Database, table: str):
    cursor = db.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
    return [c[0] for c in cursor.description], cursor


def export_files(fmt: str, directory: str | Path) -> list[Path]:
    """The files a table export in `fmt` writes into `directory`: `<table>.<fmt>`, one per exported table."""
    return [Path(directory) / f"{table}.{fmt}" for table in EXPORTED_TABLES]


def check_output(fmt: str, output: str | Path, *, replace: bool, source: str | Path | None = None) -> None:
    """Raise `OutputRefused` unless an export in `fmt` may write `output`.

    An export writes only its own files and replaces only those: for csv/json/ndjson the `<table>.<fmt>`
    files inside the folder `output` (other files there are left alone); for sqlite the file `output`, which
    must be new or (with `replace`) a digest archive, a copy an earlier export made. Nothing else is ever
    overwritten, whatever `replace` says: not a file of another kind, a folder, a symbolic link (whose
    target the export did not write), nor the archive itself. `wacz` (the link captures) is one file too,
    replaced only when it is a WACZ.
    """
    output = Path(output)
    if fmt in ("sqlite", "wacz"):
        if output.is_symlink() or output.is_dir():
            raise OutputRefused(f"{output} is {_what(output)}; not overwriting it", earlier_export=False)
        if output.exists() and source is not None and output.resolve() == Path(source).resolve():
            raise OutputRefused(f"{output} is the archive itself", earlier_export=False)
        if output.exists() and not (_is_archive_copy(output) if fmt == "sqlite" else _is_wacz(output)):
            kind = "a copy of a digest archive" if fmt == "sqlite" else "a WACZ"
            raise OutputRefused(f"{output} exists and is not {kind}; not overwriting it", earlier_export=False)
        if output.exists() and not replace:
            raise OutputRefused(f"{output} exists (an earlier export?); not overwriting it", earlier_export=True)
        return
    if output.exists() and not output.is_dir():
        raise OutputRefused(f"{output} is {_what(output)}, not a folder for the {fmt} files", earlier_export=False)
    earlier = []
    for path in export_files(fmt, output):
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise OutputRefused(f"{path} is {_what(path)}; not overwriting it", earlier_export=False)
        if path.exists():
            earlier.append(path)
    if earlier and not replace:
        raise OutputRefused(
            f"{output} holds an earlier export ({earlier[0]}…); not overwriting it", earlier_export=True
        )


def _what(path: Path) -> str:
    if path.is_symlink():
        return "a symbolic link"
    return "a folder" if path.is_dir() else "a file"


def _is_archive_copy(path: Path) -> bool:
    """A SQLite file with the archive's digests table: what an earlier sqlite export wrote."""
    with open(path, "rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            return False
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digests'")
            return found.fetchone() is not None
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return False


def _is_wacz(path: Path) -> bool:
    """A ZIP file with a WACZ's `datapackage.json`: what an earlier --wacz export wrote."""
    try:
        with zipfile.ZipFile(path) as package:
            return "datapackage.json" in package.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


@contextmanager
def _written_whole(path: Path) -> Iterator[IO[str]]:
    """A text file written beside `path` under a name of its own and moved into place when whole: a failed
    export leaves an earlier file as it was, and a file in the way is replaced, never written through."""
    partial = new_partial(path)
    try:
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            yield handle
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def new_partial(path: Path, suffix: str = ".partial") -> Path:
    """A new, empty file beside `path`, made here (so never a file that was there before) with the
    permissions any new file gets (the umask's), to be moved onto `path` when whole."""
    while True:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return partial


def export_tables(db: Database, fmt: str, directory: str | Path, *, replace: bool = False) -> dict[str, int]:
    """Write `<table>.<fmt>` for each exported table (see `check_output`: with `replace`, the files of an
    earlier export are replaced, never another file); returns rows written per table.

    Read inside one transaction, so the files agree with each other even while a crawl writes.
    """
    directory = Path(directory)
    check_output(fmt, directory, replace=replace)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    db.execute("BEGIN")
    try:
        for table, path in zip(EXPORTED_TABLES, export_files(fmt, directory), strict=True):
            columns, cursor = _table_rows(db, table)
            with _written_whole(path) as handle:
                counts[table] = _write(handle, fmt, columns, cursor)
    finally:
        db.execute("COMMIT")
    return counts


def csv_cell(value):
    """A value as a CSV cell: text that a spreadsheet would take for a formula gets a leading `'`
    (OWASP's advice: the cell then shows as text, quote included). Numbers stay numbers; separators,
    quotes and line breaks inside a cell are quoted by the csv module, so no text starts a new cell."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _write(handle, fmt: str, columns: list[str], cursor) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in cursor:
            writer.writerow([csv_cell(value) for value in row])
            count += 1
    elif fmt == "ndjson":
        for row in cursor:
            handle.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "json":
        handle.write("[")
        for row in cursor:
            handle.write(
                ("," if count else "") + "\n" + json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False)
            )
            count += 1
        handle.write("\n]\n")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return count


def copy_database(source: str | Path, destination: str | Path, *, replace: bool = False) -> None:
    """A consistent copy of the whole archive through SQLite's backup API (safe while a crawl writes).

    The copy is written beside the destination and moved into place when whole, so that a failed
    copy leaves an existing destination as it was. With `replace`, an existing destination is replaced
    only when it is itself a copy of a digest archive (`check_output`); never the source, a folder, a
    link or a file of another kind.
    """
    source, destination = Path(source), Path(destination)
    check_output("sqlite", destination, replace=replace, source=source)
    partial = new_partial(destination)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(partial)
        try:
            with dst:
                src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            src.close()
            dst.close()
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
