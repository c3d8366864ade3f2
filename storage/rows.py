"""What every module that writes rows shares: the clock's timestamp, an INSERT's row id, multi-row INSERTs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from sqlite_utils import Database


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT gave (sqlite3 types it optional: it is None only for other statements)."""
    if cursor.lastrowid is None:
        raise sqlite3.InterfaceError("an INSERT gave no row id")
    return cursor.lastrowid


# Rows in one multi-row INSERT, at most this many (SQLite takes up to 32,766 values in a statement).
ROWS_PER_STATEMENT = 500


def insert_rows(db: Database, insert: str, rows: list[tuple]) -> None:
    """`insert … VALUES` with many rows in one statement, not `executemany`'s statement per row.

    Inside a transaction SQLite opens a statement savepoint for every statement that may need undoing
    alone (one whose trigger writes another table is), and FTS5 writes out what it holds in memory at
    every savepoint: with a statement per entry, the full-text index took a flush per entry, most of the
    time of storing a digest (bench figure 3). One statement per digest flushes once.
    """
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        placeholders = ", ".join(f"({', '.join('?' * len(chunk[0]))})" for _ in chunk)
        db.execute(f"{insert} {placeholders}", [value for row in chunk for value in row])
