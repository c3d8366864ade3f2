"""The archive in SQLite: schema, writes and reads. Every SQL statement of the project lives here."""

from .archives import ArchiveIndex, load_archive_index, save_archive_index
from .editions import EditionsUpdate, rebuild_editions, update_editions
from .queries import (
    CrawlState, RecheckTarget, StoredPage, StoredPost, archive_summary, edition_counts, crawl_state, digest_entries, known_post_keys,
    failures_that_may_mend,
    recheck_targets, settled_failure_keys, stored_pages,
)
from .lock import ArchiveBusy, ArchiveLock
from .schema import ARCHIVE_TABLES, SCHEMA_VERSION, ArchiveError, ensure_schema, open_database, open_for_reading
from .writes import (
    CHANGED, NEW, RUN_COUNTS, SHRUNK, UNCHANGED, RunCounts, WriteBatch, close_abandoned_runs, confirm_unchanged,
    finish_run, mark_gone, mark_not_modified, record_failure,
    remember_urls, remember_urls_of, save_digest, save_page, shrunk_failure, start_run, utc_now,
)

__all__ = [
    "ArchiveBusy", "ArchiveIndex", "ArchiveLock", "StoredPost", "close_abandoned_runs", "confirm_unchanged",
    "load_archive_index", "mark_gone", "save_archive_index", "utc_now", "EditionsUpdate", "rebuild_editions",
    "update_editions", "edition_counts", "RunCounts", "WriteBatch", "shrunk_failure",
    "CrawlState", "RecheckTarget", "StoredPage", "crawl_state", "digest_entries", "mark_not_modified",
    "recheck_targets", "save_page", "settled_failure_keys", "stored_pages",
    "ARCHIVE_TABLES", "CHANGED", "SHRUNK", "NEW", "RUN_COUNTS", "SCHEMA_VERSION", "UNCHANGED", "ArchiveError",
    "archive_summary", "ensure_schema", "failures_that_may_mend", "finish_run", "known_post_keys",
    "open_database", "open_for_reading", "record_failure", "remember_urls", "remember_urls_of", "save_digest", "start_run",
]
