"""Reading an archive through WordPress's own REST index: which pages to ask for, which posts to fetch.

The spider asks a `RestPlan` what to request next and tells it what came back; the plan decides,
against the archive's snapshot, which posts are new, changed, unchanged or gone, and whether a
backfill may build digests from the REST API's content (only when a sample of posts gives the same
digest from their pages). No Scrapy and no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from crawler.items import Digest
from crawler.parsing import ParseError
from crawler.parsing.text import only_digests
from crawler.parsing.wordpress import RestPost, RestPostsPage, parse_rest_post, rest_digest_differences, rest_url
from storage import ArchiveIndex, StoredPost

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
class RestPlan:
    mode: str  # refresh, backfill or recheck
    index: ArchiveIndex
    stored: dict[int, StoredPost]
    sample_size: int = 3
    overlap: timedelta = timedelta(hours=24)
    listed: dict[int, RestPost] = field(default_factory=dict)
    newest_modified: str | None = None
    pages_read: int = 0
    sample_digests: dict[int, Digest] = field(default_factory=dict)  # post id → digest from its REST item
    sample_answers: dict[int, list[str] | None] = field(default_factory=dict)  # differences; None: no page

    # --- the index -------------------------------------------------------------------------------

    @property
    def with_content(self) -> bool:
        """A backfill lists the posts with their content, so digests may be built without their pages."""
        return self.mode == "backfill"

    def _since(self) -> datetime | None:
        """Posts modified before this are known to the archive (a refresh; with an overlap margin)."""
        synced = _utc(self.index.synced_to)
        return synced - self.overlap if self.mode == "refresh" and synced else None

    def index_url(self, page: int) -> str:
        key, value = self.index.posts_filter.split("=", 1)
        params = [(key, value), ("per_page", str(PER_PAGE)), ("page", str(page)),
                  ("_fields", CONTENT_FIELDS if self.with_content else INDEX_FIELDS)]
        since = self._since()
        if since is not None:
            params += [("orderby", "modified"), ("order", "desc")]
            if self.index.modified_after:
                # Compared with the site's local time: the overlap covers any timezone.
                params.append(("modified_after", since.strftime("%Y-%m-%dT%H:%M:%S")))
        return rest_url(self.index.rest_root, "/wp/v2/posts", params)

    def read(self, page: RestPostsPage, number: int) -> int | None:
        """Take one index page; returns the next page to ask for, or None when the index is read."""
        self.pages_read += 1
        for post in page.posts:
            self.listed.setdefault(post.post_id, post)
            if post.modified_gmt and (self.newest_modified is None or post.modified_gmt > self.newest_modified):
                self.newest_modified = post.modified_gmt
        if not page.posts or (page.total_pages is not None and number >= page.total_pages):
            return None
        since = self._since()
        if since is not None and not self.index.modified_after:
            # Newest modification first: a page that reaches back past the last sync ends the walk.
            oldest = min((_utc(post.modified_gmt) for post in page.posts if post.modified_gmt), default=None)
            if oldest is not None and oldest < since:
                return None
        if page.total_pages is None and len(page.posts) < PER_PAGE:
            return None
        return number + 1

    # --- decisions ---------------------------------------------------------------------------------

    def digests(self) -> list[RestPost]:
        """Listed posts that are digests (an author archive also lists its author's other posts)."""
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

    def missing(self) -> list[int]:
        """Stored posts of this site that a complete index (recheck) no longer lists."""
        listed = set(self.listed)
        return sorted(post_id for post_id, stored in self.stored.items() if post_id not in listed and not stored.gone)

    def still_published_url(self, post_ids: list[int]) -> str:
        """Which of these posts the site still publishes (the missing may belong to another archive)."""
        return rest_url(self.index.rest_root, "/wp/v2/posts",
                        [("include", ",".join(map(str, post_ids))), ("per_page", str(PER_PAGE)), ("_fields", "id")])

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

    def check_sample(self, post_id: int, from_page: Digest | None) -> None:
        """A sampled post's page was read (`None`: it could not be)."""
        if post_id in self.sample_answers:
            return
        from_rest = self.sample_digests.get(post_id)
        self.sample_answers[post_id] = None if from_page is None or from_rest is None else \
            rest_digest_differences(from_page, from_rest)

    def sample_done(self, sampled: list[RestPost]) -> bool:
        return all(post.post_id in self.sample_answers for post in sampled)

    def rest_content_trusted(self) -> tuple[bool, str]:
        """(trusted, why): the REST content gives each sampled post's page digest, field by field."""
        compared = {post_id: differences for post_id, differences in self.sample_answers.items()
                    if differences is not None}
        differing = {post_id: differences for post_id, differences in compared.items() if differences}
        if differing:
            post_id, differences = next(iter(differing.items()))
            return False, (f"the REST API's content differs from the page for {len(differing)} of {len(compared)} "
                           f"sampled posts (post {post_id}: {', '.join(differences)})")
        if not compared:
            return False, "no sampled page could be read to check the REST API's content against"
        return True, f"the REST API's content gave the same digest as the page for {len(compared)} sampled posts"
