"""The archive in SQLite: schema, writes and reads. Every SQL statement of the project lives here."""

from .queries import archive_summary, known_post_keys, known_post_keys_at
from .schema import ARCHIVE_TABLES, SCHEMA_VERSION, ArchiveError, ensure_schema, open_database
from .writes import (
    CHANGED, NEW, RUN_COUNTS, UNCHANGED, finish_run, record_failure, remember_urls, remember_urls_of, save_digest, start_run,
)

__all__ = [
    "ARCHIVE_TABLES", "CHANGED", "NEW", "RUN_COUNTS", "SCHEMA_VERSION", "UNCHANGED", "ArchiveError",
    "archive_summary", "ensure_schema", "finish_run", "known_post_keys", "known_post_keys_at",
    "open_database", "record_failure", "remember_urls", "remember_urls_of", "save_digest", "start_run",
]
