"""The run owner and the kinds of run: a kind supplies what `RunKind` names and nothing else, and the owner
does the rest (lock, snapshot call, write batch, signals, exceptions, the verdict's frame, row, exit code).

`Notes` is a kind of run that is neither a harvest nor a link check, as a third kind would be: it writes
notes to a table of its own. Driven through Scrapy's real signals, on a real archive file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import scrapy
from scrapy import signals
from scrapy.utils.test import get_crawler
from sqlite_utils import Database

import storage
from crawler.harvest import HarvestRun
from crawler.run import (
    BUSY_EXIT_CODE,
    CRASHED_EXIT_CODE,
    FINISHED_EXIT_CODE,
    INTERRUPTED_EXIT_CODE,
    RUN_FAILED_EXIT_CODE,
    RunOwner,
    RunRefused,
    kind_of,
    run_of,
)

from .conftest import rows


@dataclass(frozen=True)
class Note:
    url: str
    text: str


@dataclass(frozen=True)
class Unknown:
    url: str


class Notes:
    """A kind of run with nothing of a harvest or a link check: only the members of RunKind."""

    mode = "notes"
    start_url = "https://notes.test/"
    lost_on_storage_error: tuple[type, ...] = ()

    def __init__(self, lock_job: str | None = None, verdict: tuple[str, str | None] | None = ("finished", None)):
        self.lock_job = lock_job
        self._verdict = verdict
        self.calls: list[str] = []
        self.owner: RunOwner | None = None
        self.writes = {Note: self._write_note}

    def _write_note(self, item: Note) -> object:
        assert self.owner is not None
        self.owner.batch.write(lambda db: db["notes"].insert({"url": item.url, "text": item.text}))
        return item

    def read_archive(self, db: Database) -> None:
        self.calls.append(f"read_archive: {'crawl_runs' in db.table_names()}")

    def before_last_commit(self, reason: str) -> None:
        self.calls.append(f"before_last_commit: {reason}")

    def after_writes(self) -> None:
        self.calls.append("after_writes")

    def verdict(self, reason: str) -> tuple[str, str | None] | None:
        self.calls.append(f"verdict: {reason}")
        return self._verdict

    def finish(self, db: Database, run_id: int, status: str) -> None:
        # In the transaction that writes the run's row: the row is there, with its status.
        row = db.execute("SELECT status FROM crawl_runs WHERE id = ?", [run_id]).fetchone()
        self.calls.append(f"finish: {status}, row says {row[0]}")

    def summary(self) -> None:
        self.calls.append("summary")


def open_notes(tmp_path, kind: Notes | None = None) -> tuple[scrapy.Spider, Notes, RunOwner]:
    kind = kind or Notes()
    crawler = get_crawler(scrapy.Spider, {"DATABASE": str(tmp_path / "archive.db"), "DIGEST_WRITE_BATCH": 100})
    kind.owner = RunOwner.open(crawler, kind)
    spider = scrapy.Spider(name="notes")
    return spider, kind, kind.owner


def test_a_kind_that_supplies_only_the_protocol_runs_from_the_lock_to_the_exit_code(tmp_path):
    spider, kind, owner = open_notes(tmp_path)
    assert kind.calls == ["read_archive: True"]  # the snapshot is read from the open, locked archive
    assert run_of(owner.crawler) is owner and kind_of(owner.crawler, Notes) is kind
    owner.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    assert rows(tmp_path / "archive.db", "SELECT mode, start_url, status FROM crawl_runs") == [
        {"mode": "notes", "start_url": "https://notes.test/", "status": "running"}
    ]
    for n in range(3):
        assert owner.store(Note(url=f"https://notes.test/{n}", text=f"note {n}")) == Note(
            f"https://notes.test/{n}", f"note {n}"
        )
    assert "notes" not in Database(tmp_path / "archive.db").table_names()  # in the batch, not committed yet
    with pytest.raises(storage.ArchiveBusy):  # the owner holds the archive's lock
        storage.ArchiveLock(tmp_path / "archive.db").acquire()

    owner.crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
    assert kind.calls == [
        "read_archive: True",
        "before_last_commit: finished",
        "after_writes",
        "verdict: finished",
        "finish: finished, row says finished",
        "summary",
    ]
    assert [row["text"] for row in rows(tmp_path / "archive.db", "SELECT text FROM notes")] == [
        "note 0",
        "note 1",
        "note 2",
    ]
    run = rows(tmp_path / "archive.db", "SELECT status, failed, posts_fetched, links_checked FROM crawl_runs")
    assert run == [{"status": "finished", "failed": 0, "posts_fetched": 0, "links_checked": 0}]
    assert owner.exit_code == FINISHED_EXIT_CODE
    storage.ArchiveLock(tmp_path / "archive.db").acquire().release()  # released at the end


def test_an_item_the_kind_has_no_write_for_fails_the_run_as_an_exception(tmp_path):
    spider, kind, owner = open_notes(tmp_path)
    owner.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    with pytest.raises(TypeError, match="not an item of this run \\(Notes\\): Unknown"):
        owner.store(Unknown(url="https://notes.test/x"))
    # What the pipeline's caller (Scrapy) does with it: the item_error signal.
    owner.crashed(TypeError("Unknown"), "https://notes.test/x", "storing an Unknown of")
    owner.crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
    # An exception decides the verdict before the kind is asked, and nothing is done over the writes.
    assert kind.calls == [
        "read_archive: True",
        "before_last_commit: finished",
        "finish: failed, row says failed",
        "summary",
    ]
    assert rows(tmp_path / "archive.db", "SELECT kind, url FROM failures") == [
        {"kind": "exception", "url": "https://notes.test/x"}
    ]
    assert rows(tmp_path / "archive.db", "SELECT status, failed FROM crawl_runs") == [{"status": "failed", "failed": 1}]
    assert owner.exit_code == CRASHED_EXIT_CODE


@pytest.mark.parametrize(
    ("reason", "verdict", "status", "message", "exit_code"),
    [
        (
            "finished",
            ("failed", "the notes were unreadable"),
            "failed",
            "the notes were unreadable",
            RUN_FAILED_EXIT_CODE,
        ),
        ("notes_spent", ("finished", "out of paper"), "finished", "out of paper", FINISHED_EXIT_CODE),
        ("closespider_timeout", None, "failed", "closespider_timeout", RUN_FAILED_EXIT_CODE),
        ("shutdown", ("finished", None), "interrupted", None, INTERRUPTED_EXIT_CODE),
    ],
)
def test_the_kind_decides_the_verdict_within_the_owners_frame(tmp_path, reason, verdict, status, message, exit_code):
    spider, kind, owner = open_notes(tmp_path, Notes(verdict=verdict))
    owner.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    owner.crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason=reason)
    row = rows(tmp_path / "archive.db", "SELECT status, message FROM crawl_runs")[0]
    assert row["status"] == status
    if message is not None:
        assert row["message"] == message
    else:  # an interrupt is the owner's: the kind is not asked
        assert "interrupted" in row["message"] and f"verdict: {reason}" not in kind.calls
    assert owner.exit_code == exit_code


def test_the_kind_names_its_lock(tmp_path):
    database = tmp_path / "archive.db"
    storage.open_database(database).close()
    with storage.ArchiveLock(database):  # a crawl holds the archive's own lock
        with pytest.raises(RunRefused) as refused:
            open_notes(tmp_path, Notes(lock_job=None))
        assert refused.value.exit_code == BUSY_EXIT_CODE
        spider, kind, owner = open_notes(tmp_path, Notes(lock_job="links"))  # a lock of its own: runs beside
        owner.crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
        owner.crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
        assert owner.exit_code == FINISHED_EXIT_CODE


def test_a_middleware_of_one_kind_refuses_a_run_of_another(tmp_path):
    _, _, owner = open_notes(tmp_path)
    with pytest.raises(RuntimeError, match="a Notes, not a HarvestRun"):
        kind_of(owner.crawler, HarvestRun)
    owner._release()
