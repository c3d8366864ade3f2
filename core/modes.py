"""The kinds of harvest a `digests` crawl runs (`-a mode=`), each with its policies decided here, once.

The spider, the run and the REST plan ask a mode what it does; none compares mode names.
"""

from __future__ import annotations

from enum import Enum


class Mode(str, Enum):
    """A `str`, so that it is stored, logged and compared as the word a user typed."""

    REFRESH = "refresh"  # what changed since the last run; stops where the listing reaches what is stored
    BACKFILL = "backfill"  # every post of the listing; resumable
    RECHECK = "recheck"  # every stored digest again, for edits and for posts gone from the site
    RECOVER = "recover"  # the posts the site lost, from the web's archives (crawler/recover.py)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def named(cls, name: str) -> Mode:
        """The mode a user asked for; ValueError naming the modes there are."""
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown mode {name!r}: use -a mode={', '.join(m.value for m in cls)}") from None

    @property
    def reads_web_archives(self) -> bool:
        """A recovery asks the web archives (DIGEST_WEB_ARCHIVES), never the live site."""
        return self is Mode.RECOVER

    @property
    def stops_at_what_is_stored(self) -> bool:
        """Listings are newest first: a refresh stops following them at the stored frontier, and trusts
        the REST index only from its last sync point on (with an overlap)."""
        return self is Mode.REFRESH

    @property
    def asks_the_feed_first(self) -> bool:
        """The feed's conditional GET (304: nothing changed anywhere) is a refresh's cheapest check."""
        return self is Mode.REFRESH

    @property
    def skips_settled_failures(self) -> bool:
        """A post that failed for good (404, unparseable) is not fetched again by a refresh."""
        return self is Mode.REFRESH

    @property
    def may_build_from_rest_content(self) -> bool:
        """A backfill lists the posts with their content, and builds digests from it once a sample of
        pages gives the same digests; it reads the start page to discover the indexes afresh."""
        return self is Mode.BACKFILL

    @property
    def rechecks_every_stored_digest(self) -> bool:
        """Every stored page again (HTML path), and every stored post the REST index no longer lists is
        asked about before it is marked gone."""
        return self is Mode.RECHECK

    def recheck_limit(self, latest: int) -> int | None:
        """How many stored digests the run re-checks for edits: all (None), none (0), or the `latest`
        newest (`DIGEST_RECHECK_LATEST`)."""
        if self is Mode.RECHECK:
            return None
        if self is Mode.BACKFILL:
            return 0
        return latest
