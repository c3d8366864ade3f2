"""The project's own settings, each declared once with its default and a line of help.

`crawler/settings.py` takes the defaults from here; docs/reference/settings.md is generated from them (`make docs`).
Override any of them per run with `-s NAME=VALUE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from scrapy.settings import SETTINGS_PRIORITIES

from core import __version__

# The two publishers of the digest (../shared/site-notes.md): nejatngo.org's category, and
# iran-interlink.org's digest listing (an author archive under /wordpress/).
DEFAULT_ARCHIVES = (
    "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest",
    "https://www.iran-interlink.org/wordpress/author/?author=khodaadmin&authorid=1",
)


@dataclass(frozen=True)
class ProjectSetting:
    name: str
    default: object
    help: str


PROJECT_SETTINGS = (
    ProjectSetting(
        "DIGEST_CONTACT",
        "",
        "How a site's operators reach whoever runs the crawl (an e-mail address or a URL), sent in the User-Agent; a "
        "crawl of a real site without it logs a warning.",
    ),
    ProjectSetting(
        "DATABASE", "archive.db", "Path of the SQLite archive a crawl writes to (created with its schema if missing)."
    ),
    ProjectSetting(
        "DIGEST_ARCHIVES",
        ",".join(DEFAULT_ARCHIVES),
        "The archives a crawl covers when no `-a start_url=` is given, one after the other into one archive file "
        "(comma-separated).",
    ),
    ProjectSetting(
        "DIGEST_RECHECK_LATEST",
        3,
        "How many of the newest stored digests a refresh re-checks for edits (conditional requests; 0 = none).",
    ),
    ProjectSetting(
        "DIGEST_RECHECK_MIN_AGE", 6, "Hours before a page served without validators is downloaded again to re-check it."
    ),
    ProjectSetting(
        "DIGEST_REST_SAMPLE",
        3,
        "Posts whose pages a backfill through the REST API fetches to check that the API's content gives the same "
        "digests.",
    ),
    ProjectSetting(
        "DIGEST_REST_OVERLAP",
        24,
        "Hours a refresh reaches back before the last sync when asking the REST API what changed (it compares the "
        "site's local time).",
    ),
    ProjectSetting(
        "DIGEST_RETRY_AFTER_MAX",
        120,
        "Longest wait (seconds) a 429/503 `Retry-After` is honoured for before the page counts as failed; also the "
        "longest robots.txt `Crawl-delay` honoured.",
    ),
    ProjectSetting(
        "DIGEST_MAX_REST_PAGES",
        100,
        "Most pages of the REST index (100 posts each) a run reads; an index that goes on past it fails the run, "
        "whatever the site's headers claim.",
    ),
    ProjectSetting(
        "DIGEST_MAX_POSTS",
        10000,
        "Most posts a run sets out to fetch or build; a listing or index that names more fails the run "
        "(one page may name any number of posts).",
    ),
    ProjectSetting(
        "DIGEST_MAX_LISTING_PAGES",
        1000,
        "Most HTML listing pages a run reads; a listing that goes on past it fails the run.",
    ),
    ProjectSetting(
        "DIGEST_WRITE_BATCH",
        50,
        "Items written per transaction (each digest stays atomic); a kill loses at most this many, to be fetched "
        "again.",
    ),
    ProjectSetting(
        "DIGEST_PROGRESS",
        "auto",
        "Progress display: `auto` (a status line on a terminal, log lines otherwise), `terminal`, `log`, `off`.",
    ),
    ProjectSetting("DIGEST_PROGRESS_INTERVAL", 30, "Seconds between progress log lines when not on a terminal."),
    ProjectSetting(
        "DIGEST_LINK_RECHECK_DAYS",
        30,
        "Days before `scrapy crawl links` checks a link again (a link never checked is always due).",
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_RECHECK_DAYS",
        90,
        "Days before a link already dead is checked again (and its web-archive copy looked up again if none).",
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_AFTER",
        2,
        "Failing checks in a row (gone, soft-404, server-error, timeout, unreachable, redirect-loop) that make a "
        "link dead…",
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_DAYS",
        7,
        "…when at least this many days lie between the first of them and the last.",
    ),
    ProjectSetting(
        "DIGEST_LINK_MAX_BYTES",
        5 * 1024 * 1024,
        "Most bytes of a linked page downloaded; a longer page is checked by its status, not captured.",
    ),
    ProjectSetting(
        "DIGEST_LINK_CAPTURE",
        True,
        "Capture live HTML and PDF pages to WARC beside the archive (`ARCHIVE.captures/`); False turns capture off.",
    ),
    ProjectSetting("DIGEST_LINK_WARC_MAX_MB", 100, "Size (MB) at which a new WARC file of captures is started."),
    ProjectSetting(
        "DIGEST_LINK_CDX_API",
        "https://web.archive.org/cdx/search/cdx",
        "CDX API asked for a copy of a dead link (the Internet Archive's format: `output=json`, `to=`, `limit=-1`); "
        "empty: no lookups.",
    ),
    ProjectSetting(
        "DIGEST_LINK_CDX_LIMIT",
        -1,
        "`limit=` sent to the CDX API: -1 asks the Internet Archive for the last capture only; 0 sends none (pywb's "
        "CDX server reads no negative limit).",
    ),
    ProjectSetting(
        "DIGEST_LINK_REPLAY_PREFIX",
        "https://web.archive.org/web/",
        "Replay address of that archive: the copy's URL is this, its timestamp, `/` and the original URL.",
    ),
)


def project_defaults() -> dict[str, object]:
    return {setting.name: setting.default for setting in PROJECT_SETTINGS}


def apply_project_defaults(settings) -> None:
    """A spider's `update_settings`: the project's own settings get their declared defaults however
    the crawler was made (a test's `get_crawler`, scrapyd), settings of higher priority keep their
    values; the User-Agent carries DIGEST_CONTACT unless USER_AGENT itself was set (`-s`)."""
    settings.setdict(project_defaults(), priority="default")
    if settings.getpriority("USER_AGENT") in (None, SETTINGS_PRIORITIES["default"], SETTINGS_PRIORITIES["project"]):
        settings.set("USER_AGENT", user_agent(settings.get("DIGEST_CONTACT")), priority="spider")


def user_agent(contact: str | None) -> str:
    """The User-Agent: the project and its version, and the contact of whoever runs the crawl, in the
    `(+URL)` form crawlers use (an e-mail address as `+mailto:`). No contact: no invented URL."""
    name = f"digest-archive/{__version__}"
    contact = (contact or "").strip()
    if not contact:
        return name
    if "@" in contact and "://" not in contact and not contact.startswith("mailto:"):
        contact = f"mailto:{contact}"
    return f"{name} (+{contact})"
