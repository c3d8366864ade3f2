"""Crawl runs and their failures: a run's row from start to finish, one row per failure."""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlite_utils import Database

from core.items import PageFailure
from core.ledger import RunCounts
from core.urls import post_key

from .rows import inserted_id, utc_now


def record_failure(db: Database, crawl_run_id: int | None, failure: PageFailure, now: str | None = None) -> None:
    with db.atomic():
        db.execute(
            "INSERT INTO failures (crawl_run_id, url, url_key, kind, http_status, message, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                crawl_run_id,
                failure.url,
                post_key(failure.url),
                failure.kind,
                failure.http_status,
                failure.message,
                now or utc_now(),
            ],
        )


def close_abandoned_runs(db: Database, now: str | None = None, *, link_check: bool = False) -> int:
    """Runs of this kind of job (link checks, or the others) left `running` by a process that ended
    without closing them (kill -9, power loss) are marked `killed`. Call it holding that kind's lock
    (storage.ArchiveLock): then no other run of its kind is really running; one of the other kind may be."""
    with db.atomic():
        return db.execute(
            "UPDATE crawl_runs SET status = 'killed', finished = ?, message = 'the crawl process ended without "
            "closing its run (killed, or the machine stopped); what it committed is kept' "
            "WHERE status = 'running' AND (mode = 'links') = ?",
            [now or utc_now(), link_check],
        ).rowcount


def start_run(db: Database, mode: str, start_url: str, now: str | None = None) -> int:
    with db.atomic():
        return inserted_id(
            db.execute(
                "INSERT INTO crawl_runs (mode, start_url, started, status) VALUES (?, ?, ?, 'running')",
                [mode, start_url, now or utc_now()],
            )
        )


def rollback_open_transaction(db: Database) -> None:
    """Roll back whatever transaction the connection has open (a run closing after an unexpected error
    writes its row on a clean slate)."""
    if db.conn.in_transaction:
        db.execute("ROLLBACK")


def note_run_index(db: Database, crawl_run_id: int, index_used: str | None, index_note: str | None) -> None:
    """Which index a harvest used (`rest` or `html`) and what it found of the listing's indexes."""
    with db.atomic():
        db.execute(
            "UPDATE crawl_runs SET index_used = ?, index_note = ? WHERE id = ?", [index_used, index_note, crawl_run_id]
        )


def finish_run(
    db: Database,
    crawl_run_id: int,
    status: str,
    counts: RunCounts,
    message: str | None = None,
    now: str | None = None,
    failure_kinds: dict[str, int] | None = None,
    index_used: str | None = None,
    index_note: str | None = None,
) -> None:
    values = asdict(counts)
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with db.atomic():
        db.execute(
            f"UPDATE crawl_runs SET finished = :finished, status = :status, message = :message, "
            f"failure_kinds = :failure_kinds, index_used = :index_used, index_note = :index_note, {assignments} "
            f"WHERE id = :id",
            {
                **values,
                "finished": now or utc_now(),
                "status": status,
                "message": message,
                "id": crawl_run_id,
                "failure_kinds": json.dumps(failure_kinds or {}, sort_keys=True),
                "index_used": index_used,
                "index_note": index_note,
            },
        )
