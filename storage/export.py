"""Exports: one file per table (CSV, JSON, NDJSON), or a consistent copy of the whole database.

JSON, NDJSON and the copy keep every value exactly. CSV is for spreadsheets, which run a cell that
begins like a formula: what a site wrote there is neutralised (`csv_cell`)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from sqlite_utils import Database

EXPORTED_TABLES = ("editions", "digests", "entries", "links", "digest_revisions", "crawl_runs", "failures")
FORMATS = ("csv", "json", "ndjson", "sqlite")

# OWASP, "CSV Injection": a cell beginning with one of these is read by Excel, LibreOffice or Google
# Sheets as a formula (`=HYPERLINK(...)` makes a live link; DDE payloads run programs); a leading tab or
# carriage return hides such a start from the eye but not from every spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _table_rows(db: Database, table: str):
    cursor = db.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
    return [c[0] for c in cursor.description], cursor


def export_tables(db: Database, fmt: str, directory: str | Path) -> dict[str, int]:
    """Write `<table>.<fmt>` for each exported table; returns rows written per table.

    Read inside one transaction, so the files agree with each other even while a crawl writes.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    db.execute("BEGIN")
    try:
        for table in EXPORTED_TABLES:
            columns, cursor = _table_rows(db, table)
            path = directory / f"{table}.{fmt}"
            with open(path, "w", encoding="utf-8", newline="") as handle:
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
    copy leaves an existing destination as it was. Never onto the source itself, nor onto a folder.
    """
    source, destination = Path(source), Path(destination)
    if destination.exists() and (destination.is_dir() or destination.resolve() == source.resolve()):
        raise FileExistsError(f"{destination} is {'a folder' if destination.is_dir() else 'the archive itself'}")
    if destination.exists() and not replace:
        raise FileExistsError(f"{destination} exists; not overwriting it")
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)
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
