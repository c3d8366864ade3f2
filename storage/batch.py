"""The write batch: several items' writes in one transaction, each of them still atomic."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import TypeVar

from sqlite_utils import Database

T = TypeVar("T")


class _InBatch(Database):
    """The archive as a write inside a `WriteBatch` sees it: `atomic()` opens no savepoint.

    A savepoint makes SQLite's full-text index (FTS5) write out what it holds in memory as a new
    segment: with one per digest, every digest cost a segment of its own and the merges of them
    (bench figure 3). The batch keeps each write atomic another way (see WriteBatch).
    """

    @contextmanager
    def atomic(self) -> Generator[Database, None, None]:
        yield self


class WriteBatch:
    """Several items' writes in one transaction, committed every `max_items` writes or `max_seconds`.

    Each write stays atomic without a savepoint of its own (a savepoint costs a full-text segment,
    see `_InBatch`): the batch keeps the writes of its open transaction, and when one raises, the
    transaction is rolled back, taking the failed write's rows with it, and the writes before it are
    run again, in order and from the same rows, before anything else is written or committed. So
    the failed item leaves nothing and the others are kept, as if it had never been written. A kill
    loses at most the uncommitted batch (a resumed crawl fetches it again), never half an item.
    Committing per item costs a transaction per write (see bench/results.md).
    """

    def __init__(self, db: Database, max_items: int = 50, max_seconds: float = 2.0) -> None:
        self.db = db
        self.max_items = max(1, max_items)
        self.max_seconds = max_seconds
        self.opened_at = 0.0
        # The same connection, without savepoints (no plugins, no pragma: `db` has set them up).
        self._in_batch = _InBatch(db.conn, recursive_triggers=False, execute_plugins=False)
        self._done: list[Callable[[Database], object]] = []  # the open transaction's writes, in order
        self._undone = False  # a write failed: the transaction was rolled back and `_done` awaits a redo

    @property
    def pending(self) -> int:
        """Writes not committed yet."""
        return len(self._done)

    def write(self, write: Callable[[Database], T]) -> T:
        """Run one item's writes, `write(db)`, in the batch and return what it returns.

        `write` may be run again if a later write of the batch fails, against the same rows as the first
        time, so it must only write rows from what it holds: its timestamps chosen before (not read from
        the clock inside), no files, no counters. An exception from it leaves none of its rows.
        """
        self._open()
        try:
            result = write(self._in_batch)
        except BaseException:
            self._undo()
            raise
        self._done.append(write)
        if len(self._done) >= self.max_items or time.monotonic() - self.opened_at >= self.max_seconds:
            self.commit()
        return result

    def commit_if_stale(self) -> None:
        """Commit writes held `max_seconds` or longer. Called on a timer: a crawl waiting on the network
        must not hold the archive's write lock meanwhile (another job writes the same file)."""
        if self._done and time.monotonic() - self.opened_at >= self.max_seconds:
            self.commit()

    def commit(self) -> None:
        """Commit the batch (after a failed write, the writes before it are run again first)."""
        if self._undone:
            self._redo()
        if self.db.conn.in_transaction:
            self.db.execute("COMMIT")
        self._done.clear()

    def rollback(self) -> None:
        """Give up the uncommitted items (after a storage error the next crawl fetches them again)."""
        self._done.clear()
        self._undone = False
        if self.db.conn.in_transaction:
            self.db.execute("ROLLBACK")

    def _open(self) -> None:
        if self._undone:
            self._redo()
        elif not self.db.conn.in_transaction:
            # IMMEDIATE: the write lock now, waiting for another job's commit (storage.ArchiveDatabase).
            self.db.execute("BEGIN IMMEDIATE")
            self.opened_at = time.monotonic()

    def _undo(self) -> None:
        """After a failed write: nothing of it may stay. Some errors (a full disk, RAISE(ROLLBACK))
        have rolled the transaction back already; others leave its first statements in it."""
        self._undone = True
        if self.db.conn.in_transaction:
            self.db.execute("ROLLBACK")

    def _redo(self) -> None:
        """The writes the rollback took, run again. Should one fail now (the disk is full), nothing of
        the batch is kept and the error is raised: the caller treats it as a failed commit."""
        self._undone = False
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.opened_at = time.monotonic()
            for write in self._done:
                write(self._in_batch)
        except BaseException:
            self.rollback()
            raise
