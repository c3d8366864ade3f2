"""The exit codes of every command: `scrapy crawl digests`, `scrapy crawl links` and `digest-archive`.

One table, so that a script or a scheduler reads a code the same way whichever command it ran
(docs/operating.md is generated from it).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    FINISHED = 0
    RUN_FAILED = 1
    USAGE = 2
    BUSY = 3
    STORAGE_FAILED = 4
    INTERRUPTED = 5
    CRASHED = 6


MEANINGS: dict[ExitCode, str] = {
    ExitCode.FINISHED: "done (a crawl's pages that failed are recorded in `failures`)",
    ExitCode.RUN_FAILED: (
        "the run failed because of the site: its listing or REST index could not be read, layout drift, "
        "or a cap reached (`DIGEST_MAX_*`)"
    ),
    ExitCode.USAGE: (
        "a bad or unknown argument, setting or option value, a file it will not overwrite, or a DATABASE that is "
        "missing (`links`, the commands), not SQLite, another program's, or unwritable: refused before any request, "
        "with nothing created"
    ),
    ExitCode.BUSY: (
        "another job of the same kind holds the archive: a crawl (or `digest-archive reparse`), or a link check"
    ),
    ExitCode.STORAGE_FAILED: (
        "a storage error stopped the run: disk full, read-only file, database locked, a constraint"
    ),
    ExitCode.INTERRUPTED: "interrupted (SIGTERM, Ctrl-C): what was done is committed; run the same command again",
    ExitCode.CRASHED: (
        "an unexpected error (an exception in the crawler): recorded as an `exception` failure; please report it"
    ),
}
