"""One job of each kind at a time per archive: an advisory lock on `<archive>.lock` (a digests crawl, a
re-parse) or `<archive>.<job>.lock` (`links`: a link check).

Jobs of different kinds write the same file side by side (WAL mode, short transactions, a busy
timeout: storage/schema.py): an hours-long link check never makes a scheduled refresh fail. Two jobs
of the same kind refuse each other. The operating system drops the lock when the process ends, even
on `kill -9`, so a crash never leaves a stale lock behind. The file itself stays (removing it while
others may open it would let two processes lock two different files), except that a run refused right
after it created the file discards it (`discard()`): a refused DATABASE leaves nothing beside it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .schema import ArchiveError


class ArchiveBusy(ArchiveError):
    """Another process holds the archive's lock."""


class ArchiveLock:
    def __init__(self, database: str | Path, job: str | None = None) -> None:
        self.database = Path(database)
        self.job = job  # None: the archive's own lock (crawl, re-parse); "links": the link check's
        self.path = Path(f"{database}.{job}.lock" if job else f"{database}.lock")
        self._fd: int | None = None
        self.created = False  # this lock made the file (so it may discard it)

    def acquire(self) -> ArchiveLock:
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                self.created = True
            except FileExistsError:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ArchiveError(f"{self.database}: cannot create lock file {self.path}: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            other = "link check" if self.job == "links" else "crawl"
            raise ArchiveBusy(
                f"{self.database} is in use by another {other} (pid {holder}); try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd
        return self

    def discard(self) -> None:
        """Remove the lock file if this lock created it, while still holding it (release follows).
        Every locker asks without waiting (LOCK_NB), so whoever opened the file meanwhile finds it busy
        and stops; only one that opened it just before the removal and asks just after the release
        could lock the removed file, and it is only done for a DATABASE this run refused as unusable,
        which every other crawl refuses too."""
        if self._fd is not None and self.created:
            self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
