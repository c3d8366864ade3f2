"""Reading a listing through WordPress's own REST index: which pages to ask for, which posts to fetch.

The spider asks a `RestPlan` what to request next and tells it what came back; the plan decides,
against the archive's snapshot, which posts are new, changed, unchanged or gone, and whether a
backfill may build digests from the REST API's content (only when a sample of posts gives the same
digest from their pages). No Scrapy and no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from core.items import Digest
from core.modes import Mode
from core.parsing import ParseError
from core.parsing.wordpress import RestPost, RestPostsPage, parse_rest_post, rest_digest_differences, rest_url
from core.snapshot import ListingRecord, StoredPost
from core.text import only_digests

PER_PAGE = 100
INDEX_FIELDS = "id,link,modified_gmt,title"
CONTENT_FIELDS = "id,link,modified_gmt,date,title,content"


def _utc(value: str | None) -> datetime | None:
    """An ISO time as aware UTC (`modified_gmt` has no offset: it is GMT)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class IndexFindings:
    """What one run learnt of a listing's indexes, kept in its `listings` row (the index record) when the run finishes.

    The feed's validators and the REST sync point say "the archive holds the site as of this": they
    are kept only by a run that stored (or failed for good) every post it set out to handle, so that
    a run that left posts behind is followed by one that reads the indexes in full again.
    """

    rest_root: str | None = None  # discovered on the start page (with the two below)
    posts_filter: str | None = None
    feed_url: str | None = None
    discovered_at: str | None = None
    index_used: str | None = None  # "rest" or "html"
    fallback_reason: str | None = None  # why not the REST API, when the run fell back from it
    notes: list[str] = field(default_factory=list)  # for the run's row: why not REST, the sample check, …
    modified_after: bool | None = None  # the REST index says whether /wp/v2/posts takes modified_after
    feed_validators: tuple[str | None, str | None] | None = None  # (ETag, Last-Modified) of the feed
    synced_to: str | None = None  # the newest modification the REST index showed, read to its end
    rest_index_incomplete: bool = False  # the REST index was not read to its end: validators stand for nothing

    @property
    def learnt_anything(self) -> bool:
        return self != IndexFindings()

    def applied_to(self, known: ListingRecord, *, complete: bool) -> ListingRecord:
        """The listing's index record with what this run learnt (validators and sync point only when
        the run was `complete`)."""
        index = known
        if self.discovered_at is not None:
            index = replace(
                index,
                rest_root=self.rest_root,
                posts_filter=self.posts_filter,
                feed_url=self.feed_url,
                discovered_at=self.discovered_at,
            )
        if self.index_used is not None:
            reason = self.fallback_reason if self.index_used == "html" else None
            index = replace(index, index_used=self.index_used, note=reason)
        if self.modified_after is not None:
            index = replace(index, modified_after=self.modified_after)
        complete = complete and not self.rest_index_incomplete
        if complete and self.feed_validators is not None:
            index = replace(index, feed_etag=self.feed_validators[0], feed_last_modified=self.feed_validators[1])
        if complete and self.synced_to is not None:
            index = replace(index, synced_to=self.synced_to)
        return index


@dataclass(frozen=True)
class SampleVerdict:
    """Whether the REST content gave the sampled pages' digests, and the posts that waited to know."""

    trusted: bool
    why: str
    held_back: list[RestPost]


@dataclass
class RestPlan:
    mode: Mode
    index: ListingRecord
    stored: dict[int, StoredPost]
    sample_size: int = 3
    overlap: timedelta = timedelta(hours=24)
    max_pages: int = 100  # DIGEST_MAX_REST_PAGES
    listed: dict[int, RestPost] = field(default_factory=dict)
    seen_ids: set[int] = field(default_factory=set)  # every post id the index named, usable or not
    newest_modified: str | None = None
    pages_read: int = 0
    capped: bool = False  # the walk stopped at max_pages with more pages claimed
    end_note: str | None = None  # why the walk ended early, when it did
    rest_root: str = field(init=False)  # the index's, checked to be there
    posts_filter: str = field(init=False)
    sample_digests: dict[int, Digest] = field(default_factory=dict)  # post id → digest from its REST item
    sample_answers: dict[int, list[str] | None] = field(default_factory=dict)  # differences; None: no page
    sampled: list[RestPost] = field(default_factory=list)  # posts whose pages check the REST content
    held_back: list[RestPost] = field(default_factory=list)  # posts waiting for the sample's verdict

    # --- the index -------------------------------------------------------------------------------

    @property
    def with_content(self) -> bool:
        """A backfill lists the posts with their content, so digests may be built without their pages."""
        return self.mode.may_build_from_rest_content

    def _since(self) -> datetime | None:
        """Posts modified before this are known to the archive (a refresh; with an overlap margin)."""
        synced = _utc(self.index.synced_to)
        return synced - self.overlap if self.mode.stops_at_what_is_stored and synced else None

    def __post_init__(self) -> None:
        if not self.index.rest_root or not self.index.posts_filter or "=" not in self.index.posts_filter:
            raise ValueError(f"no REST index known for {self.index.start_url}")
        self.rest_root, self.posts_filter = self.index.rest_root, self.index.posts_filter

    def index_url(self, page: int) -> str:
        key, value = self.posts_filter.split("=", 1)
        params = [
            (key, value),
            ("per_page", str(PER_PAGE)),
            ("page", str(page)),
            ("_fields", CONTENT_FIELDS if self.with_content else INDEX_FIELDS),
        ]
        since = self._since()
        if since is not None:
            params += [("orderby", "modified"), ("order", "desc")]
            if self.index.modified_after:
                # Compared with the site's local time: the overlap covers any timezone.
                params.append(("modified_after", since.strftime("%Y-%m-%dT%H:%M:%S")))
        return rest_url(self.rest_root, "/wp/v2/posts", params)

    def read(self, page: RestPostsPage, number: int) -> int | None:
        """Take one index page; returns the next page to ask for, or None when the index is read.

        The walk ends at the first of: an empty, short or repeated page; the last page `X-WP-Total`
        and `X-WP-TotalPages` imply (the smaller, when both are given); `max_pages` (then `capped`
        says so). What a site claims never makes the walk longer than that.
        """
        self.pages_read += 1
        ids = [post.post_id for post in page.posts] + [item.post_id for item in page.rejected if item.post_id]
        fresh = [post_id for post_id in ids if post_id not in self.seen_ids]
        self.seen_ids.update(ids)
        for post in page.posts:
            self.listed.setdefault(post.post_id, post)
            if self.newest_modified is None or post.modified_gmt > self.newest_modified:
                self.newest_modified = post.modified_gmt
        items = len(page.posts) + len(page.rejected)
        if items < PER_PAGE:  # an empty or short page is the last
            if page.total is not None and page.total != len(self.seen_ids):
                # Checked against what arrived: an index that lost or invented posts on the way is read
                # again in full by the next run.
                self.end_note = f"X-WP-Total says {page.total} posts, the index listed {len(self.seen_ids)}"
            return None
        if not fresh:
            self.end_note = f"index page {number} repeats posts already listed: the index ends there"
            return None
        claimed = [
            pages
            for pages in (page.total_pages, -(-page.total // PER_PAGE) if page.total else None)
            if pages is not None
        ]
        if claimed and number >= min(claimed):
            return None
        if number >= self.max_pages:
            self.capped = True
            return None
        since = self._since()
        if since is not None and not self.index.modified_after:
            # Newest modification first: a page that reaches back past the last sync ends the walk.
            times = [time for time in (_utc(post.modified_gmt) for post in page.posts) if time is not None]
            if times and min(times) < since:
                return None
        return number + 1

    # --- decisions ---------------------------------------------------------------------------------

    def digests(self) -> list[RestPost]:
        """Listed posts that are digests (an author listing also lists its author's other posts)."""
        return only_digests(list(self.listed.values()), lambda post: post.title)

    def is_current(self, post: RestPost) -> bool:
        """The archive holds this post as the site last modified it."""
        stored = self.stored.get(post.post_id)
        if stored is None:
            return False
        if stored.modified:
            return post.modified_gmt <= stored.modified
        modified, seen = _utc(post.modified_gmt), _utc(stored.last_seen)
        return modified is not None and seen is not None and modified <= seen

    def to_fetch(self) -> list[RestPost]:
        """New posts and posts modified since they were stored, newest first."""
        return [post for post in self.digests() if not self.is_current(post)]

    def unchanged(self) -> dict[int, str]:
        """Post id → modification time of listed posts the archive holds as they are."""
        return {post.post_id: post.modified_gmt for post in self.digests() if self.is_current(post)}

    def read_to_its_end(self) -> bool:
        """The walk ended where the index ends (not at the cap, not at a repeated page)."""
        return not self.capped and self.end_note is None

    def missing(self) -> list[int]:
        """Stored posts of this site that a complete index (recheck) no longer lists."""
        listed = self.seen_ids
        return sorted(post_id for post_id, stored in self.stored.items() if post_id not in listed and not stored.gone)

    def still_published_url(self, post_ids: list[int]) -> str:
        """Which of these posts the site still publishes (the missing may belong to another listing)."""
        return rest_url(
            self.rest_root,
            "/wp/v2/posts",
            [("include", ",".join(map(str, post_ids))), ("per_page", str(PER_PAGE)), ("_fields", "id")],
        )

    # --- the sample check (backfill) ----------------------------------------------------------------

    def sample(self, candidates: list[RestPost]) -> list[RestPost]:
        """Posts whose pages are fetched to check the REST content against: newest, oldest, between."""
        if len(candidates) <= self.sample_size:
            return []  # so few that their pages are the whole work
        step = (len(candidates) - 1) / max(1, self.sample_size - 1)
        chosen = dict.fromkeys(round(i * step) for i in range(self.sample_size))
        for position in chosen:
            post = candidates[position]
            try:
                self.sample_digests[post.post_id] = parse_rest_post(post.item)
            except ParseError:
                self.sample_answers[post.post_id] = ["content"]
        return [candidates[position] for position in chosen]

    def fetch_first(self, to_fetch: list[RestPost]) -> tuple[list[RestPost], list[RestPost]]:
        """(posts to fetch now, posts to hold back until the sample's verdict). Only a run that may build
        digests from the REST content samples; with no sample, every post is fetched now."""
        if not self.with_content:
            return to_fetch, []
        self.sampled = self.sample(to_fetch)
        if not self.sampled:
            return to_fetch, []
        sampled_ids = {post.post_id for post in self.sampled}
        return self.sampled, [post for post in to_fetch if post.post_id not in sampled_ids]

    def hold_back(self, posts: list[RestPost]) -> None:
        """The posts that wait for the sample's verdict (those the run's ledger took)."""
        self.held_back = list(posts)

    def sample_answered(self, post_id: int | None, from_page: Digest | None) -> SampleVerdict | None:
        """A page was read (`None`: it could not be). Once every sampled page is, the verdict, with the
        posts held back for it (handed over once); None while it is not a sampled post or not yet known."""
        if post_id is None or post_id not in {post.post_id for post in self.sampled}:
            return None
        self.check_sample(post_id, from_page)
        if not self.sample_done(self.sampled):
            return None
        trusted, why = self.rest_content_trusted()
        held_back, self.held_back, self.sampled = self.held_back, [], []
        return SampleVerdict(trusted, why, held_back)

    def check_sample(self, post_id: int, from_page: Digest | None) -> None:
        """A sampled post's page was read (`None`: it could not be)."""
        if post_id in self.sample_answers:
            return
        from_rest = self.sample_digests.get(post_id)
        self.sample_answers[post_id] = (
            None if from_page is None or from_rest is None else rest_digest_differences(from_page, from_rest)
        )

    def sample_done(self, sampled: list[RestPost]) -> bool:
        return all(post.post_id in self.sample_answers for post in sampled)

    def rest_content_trusted(self) -> tuple[bool, str]:
        """(trusted, why): the REST content gives each sampled post's page digest, field by field."""
        compared = {
            post_id: differences for post_id, differences in self.sample_answers.items() if differences is not None
        }
        differing = {post_id: differences for post_id, differences in compared.items() if differences}
        if differing:
            post_id, differences = next(iter(differing.items()))
            return False, (
                f"the REST API's content differs from the page for {len(differing)} of {len(compared)} "
                f"sampled posts (post {post_id}: {', '.join(differences)})"
            )
        if not compared:
            return False, "no sampled page could be read to check the REST API's content against"
        return True, f"the REST API's content gave the same digest as the page for {len(compared)} sampled posts"
