"""The project's own settings, each declared once with its default, what it takes and a line of help.

`crawler/settings.py` takes the defaults from here; docs/reference/settings.md is generated from them
(`make docs`); a spider checks every setting against its declaration when it is built
(`check_settings`), so that a bad value stops the crawl with one line before any request.
Override any of them per run with `-s NAME=VALUE`.

A new setting is one `ProjectSetting(...)` line: give it `takes=` (a whole number in a range, a
choice, …); without one, it takes what its default's type says.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scrapy.settings import SETTINGS_PRIORITIES

from core import __version__
from core.link_status import FAILING
from core.netguard import parse_networks
from core.site_names import read_site_names
from core.urls import is_http_url
from core.web_archives import DEFAULT_WEB_ARCHIVES, WebArchive, parse_web_archives

# The two publishers of the digest (../shared/site-notes.md): nejatngo.org's category, and
# iran-interlink.org's digest listing (an author listing under /wordpress/).
DEFAULT_LISTINGS = (
    "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest",
    "https://www.iran-interlink.org/wordpress/author/?author=khodaadmin&authorid=1",
)

# Bounds that keep every value usable where it goes: counts within SQLite's integers and Python's
# timedelta, durations within a century.
MAX_COUNT = 1_000_000_000
CENTURY_DAYS = 36_500
CENTURY_HOURS = CENTURY_DAYS * 24

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadSetting(ValueError):
    """A setting's value is not what its declaration says it takes: the message is one line."""


@dataclass(frozen=True)
class WholeNumber:
    minimum: int
    maximum: int = MAX_COUNT

    def read(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError
        if isinstance(value, str):
            if not _INTEGER.fullmatch(value.strip()):
                raise ValueError
            value = int(value.strip())
        if not self.minimum <= value <= self.maximum:
            raise ValueError
        return value

    def describe(self) -> str:
        return f"a whole number from {self.minimum} to {self.maximum}"


@dataclass(frozen=True)
class Number:
    minimum: float
    maximum: float
    above_minimum: bool = False  # the minimum itself is not allowed

    def read(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        if isinstance(value, str) and not _DECIMAL.fullmatch(value.strip()):
            raise ValueError
        number = float(value)
        if not math.isfinite(number) or number > self.maximum or number < self.minimum:
            raise ValueError
        if self.above_minimum and number == self.minimum:
            raise ValueError
        return number

    def describe(self) -> str:
        if self.above_minimum:
            return f"a number above {_plain(self.minimum)}, at most {_plain(self.maximum)}"
        return f"a number from {_plain(self.minimum)} to {_plain(self.maximum)}"


@dataclass(frozen=True)
class Flag:
    def read(self, value: object) -> bool:
        # What Scrapy's `getbool` reads, and nothing it would read by accident ("5" as True).
        if value in (True, 1, "1", "True", "true"):
            return True
        if value in (False, 0, "0", "False", "false"):
            return False
        raise ValueError

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def read(self, value: object) -> str:
        if value not in self.values:
            raise ValueError
        return str(value)

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Text:
    required: bool = False  # an empty value is refused

    def read(self, value: object) -> str:
        # No control characters: the value goes into a header (the User-Agent) or a file name.
        if not isinstance(value, str) or _CONTROL.search(value) or (self.required and not value.strip()):
            raise ValueError
        return value

    def describe(self) -> str:
        return "text on one line" + (", not empty" if self.required else "")


@dataclass(frozen=True)
class HttpUrl:
    optional: bool = False  # empty: the feature is off
    words: tuple[str, ...] = ()  # words taken besides a URL (`auto`)

    def read(self, value: object) -> str:
        if not isinstance(value, str) or _CONTROL.search(value):
            raise ValueError
        if value.strip() in self.words:
            return value.strip()
        if not (self.optional and not value.strip()) and not is_http_url(value.strip()):
            raise ValueError
        return value

    def describe(self) -> str:
        words = "".join(f", `{word}`" for word in self.words)
        return "an http(s) URL" + words + (", or empty" if self.optional else "")


@dataclass(frozen=True)
class WebArchives:
    def read(self, value: object) -> tuple[WebArchive, ...]:
        return parse_web_archives(value)  # the one reading of the value (core.web_archives)

    def describe(self) -> str:
        return 'a JSON object: name → {"cdx": CDX API URL, "replay": replay prefix URL}'


@dataclass(frozen=True)
class HttpUrls:
    def read(self, value: object) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Sequence):
            raise ValueError
        urls = [item.strip() for item in items if isinstance(item, str) and item.strip()]
        if len(urls) != len([item for item in items if not isinstance(item, str) or item.strip()]):
            raise ValueError
        if any(_CONTROL.search(url) or not is_http_url(url) for url in urls):
            raise ValueError
        return urls

    def describe(self) -> str:
        return "http(s) URLs, comma-separated"


@dataclass(frozen=True)
class Networks:
    def read(self, value: object) -> tuple:
        if isinstance(value, str) and _CONTROL.search(value):
            raise ValueError
        return parse_networks(value)  # the link check's own reading of the value: one rule

    def describe(self) -> str:
        return "networks in CIDR notation (comma-separated or a JSON list), or empty"


@dataclass(frozen=True)
class SiteNames:
    def read(self, value: object) -> dict[str, str]:
        return read_site_names(value)  # the rule the crawl applies: one reading of the value

    def describe(self) -> str:
        return (
            'a JSON object of origins or hosts to names, e.g. {"https://www.nejatngo.org": "Nejat Society"} '
            "(each name on one line, not an address), or empty"
        )


Takes = WholeNumber | Number | Flag | Choice | Text | HttpUrl | HttpUrls | Networks | SiteNames | WebArchives


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def _takes_of_default(default: object) -> Takes:
    """What a setting declared without `takes=` accepts: its default's type, from 0 up for numbers."""
    if isinstance(default, bool):
        return Flag()
    if isinstance(default, int):
        return WholeNumber(0)
    if isinstance(default, float):
        return Number(0, MAX_COUNT)
    return Text()


@dataclass(frozen=True)
class ProjectSetting:
    name: str
    default: object
    help: str
    takes: Takes | None = None

    @property
    def rule(self) -> Takes:
        return self.takes if self.takes is not None else _takes_of_default(self.default)

    def check(self, value: object) -> None:
        """Raise BadSetting, in one line, unless `value` is one this setting takes."""
        try:
            self.rule.read(value)
        except (ValueError, TypeError):
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise BadSetting(f"bad setting {self.name}={shown}: it takes {self.rule.describe()}") from None


PROJECT_SETTINGS = (
    ProjectSetting(
        "DIGEST_CONTACT",
        "",
        "How a site's operators reach whoever runs the crawl (an e-mail address or a URL), sent in the User-Agent; a "
        "crawl of a real site without it logs a warning.",
        takes=Text(),
    ),
    ProjectSetting(
        "DATABASE",
        "archive.db",
        "Path of the SQLite archive a crawl writes to (created with its schema if missing).",
        takes=Text(required=True),
    ),
    ProjectSetting(
        "DIGEST_LISTINGS",
        ",".join(DEFAULT_LISTINGS),
        "Start URLs of the WordPress listings (category, tag or author) a crawl covers when no `-a start_url=` is "
        "given, one after the other into one archive file (comma-separated). The old name DIGEST_ARCHIVES is still "
        "accepted, with a warning.",
        takes=HttpUrls(),
    ),
    ProjectSetting(
        "DIGEST_SITE_NAMES",
        "",
        "What the reader calls each site, over the name the site gives itself (its WordPress title): a JSON object "
        'of origins or hosts to names, e.g. `{"iran-interlink.org": "Iran Interlink"}`; a host without a port '
        "names it on every port. A crawl writes its own site's name.",
        takes=SiteNames(),
    ),
    ProjectSetting(
        "DIGEST_RECHECK_LATEST",
        3,
        "How many of the newest stored digests a refresh re-checks for edits (conditional requests; 0 = none).",
        takes=WholeNumber(0),
    ),
    ProjectSetting(
        "DIGEST_RECHECK_MIN_AGE",
        6,
        "Hours before a page served without validators is downloaded again to re-check it.",
        takes=Number(0, CENTURY_HOURS),
    ),
    ProjectSetting(
        "DIGEST_REST_SAMPLE",
        3,
        "Posts whose pages a backfill through the REST API fetches to check that the API's content gives the same "
        "digests.",
        takes=WholeNumber(0),
    ),
    ProjectSetting(
        "DIGEST_REST_OVERLAP",
        24,
        "Hours a refresh reaches back before the last sync when asking the REST API what changed (it compares the "
        "site's local time).",
        takes=Number(0, CENTURY_HOURS),
    ),
    ProjectSetting(
        "DIGEST_RETRY_AFTER_MAX",
        120,
        "Longest wait (seconds) a 429/503 `Retry-After` is honoured for before the page counts as failed; also the "
        "longest robots.txt `Crawl-delay` honoured.",
        takes=Number(0, 86_400),
    ),
    ProjectSetting(
        "DIGEST_MAX_REST_PAGES",
        100,
        "Most pages of the REST index (100 posts each) a run reads; an index that goes on past it fails the run, "
        "whatever the site's headers claim.",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_MAX_POSTS",
        10000,
        "Most posts a run sets out to fetch or build; a listing or index that names more fails the run "
        "(one page may name any number of posts).",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_MAX_LISTING_PAGES",
        1000,
        "Most HTML listing pages a run reads; a listing that goes on past it fails the run.",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_WRITE_BATCH",
        50,
        "Items written per transaction (each digest stays atomic); a kill loses at most this many, to be fetched "
        "again.",
        takes=WholeNumber(1, 100_000),
    ),
    ProjectSetting(
        "DIGEST_PROGRESS",
        "auto",
        "Progress display: `auto` (a status line on a terminal, log lines otherwise), `terminal`, `log`, `off`.",
        takes=Choice(("auto", "terminal", "log", "off")),
    ),
    ProjectSetting(
        "DIGEST_PROGRESS_INTERVAL",
        30,
        "Seconds between progress log lines when not on a terminal.",
        takes=Number(0, 86_400, above_minimum=True),
    ),
    ProjectSetting(
        "DIGEST_LINK_RECHECK_DAYS",
        30,
        "Days before `scrapy crawl links` checks a link again (a link never checked is always due).",
        takes=Number(0, CENTURY_DAYS),
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_RECHECK_DAYS",
        90,
        "Days before a link already dead is checked again (and its web-archive copy looked up again if none).",
        takes=Number(0, CENTURY_DAYS),
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_AFTER",
        2,
        f"Failing checks in a row ({', '.join(FAILING)}) that make a link dead…",
        takes=WholeNumber(1, 1000),
    ),
    ProjectSetting(
        "DIGEST_LINK_DEAD_DAYS",
        7,
        "…when at least this many days lie between the first of them and the last.",
        takes=Number(0, CENTURY_DAYS),
    ),
    ProjectSetting(
        "DIGEST_LINK_MAX_BYTES",
        5 * 1024 * 1024,
        "Most bytes of a linked page read, counted on the wire and again decoded (gzip, br, …); a longer page is "
        "checked by its status, not captured.",
        takes=WholeNumber(1, 2**40),
    ),
    ProjectSetting(
        "DIGEST_LINK_MAX_CAPTURE_BYTES",
        1024 * 1024 * 1024,
        "Most bytes of pages one link check captures (at least DIGEST_LINK_MAX_BYTES); the page that would pass it "
        "ends the run (exit 0), and it and the links not checked stay due for the next run.",
        takes=WholeNumber(1, 2**50),
    ),
    ProjectSetting(
        "DIGEST_LINK_MAX_PER_HOST",
        500,
        "Most links of one host one link check takes (those checked longest ago first); the others stay due for "
        "the next run.",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_LINK_MAX_SECONDS",
        7200,
        "Seconds a link check may run; then it ends with what it has checked (exit 0), the requests in flight are "
        "cut, and the rest stays due for the next run.",
        takes=Number(0, 10 * 365 * 86_400, above_minimum=True),
    ),
    ProjectSetting(
        "DIGEST_LINK_CAPTURE",
        True,
        "Capture live HTML and PDF pages to WARC beside the archive (`ARCHIVE.captures/`); False turns capture off.",
        takes=Flag(),
    ),
    ProjectSetting(
        "DIGEST_LINK_WARC_MAX_MB",
        100,
        "Size (MB) at which a new WARC file of captures is started.",
        takes=Number(0, 1_000_000, above_minimum=True),
    ),
    ProjectSetting(
        "DIGEST_LINK_CDX_API",
        "auto",
        "CDX API the link check asks for a copy of a failing link, from its first failing check (the Internet "
        "Archive's format: `output=json`, `to=`, `limit=-1`): `auto`, the first of DIGEST_WEB_ARCHIVES; a URL, that "
        "one (the setting of older versions); empty: no lookups.",
        takes=HttpUrl(optional=True, words=("auto",)),
    ),
    ProjectSetting(
        "DIGEST_LINK_CDX_LIMIT",
        -1,
        "`limit=` sent to the CDX API: -1 asks the Internet Archive for the last capture only; 0 sends none (pywb's "
        "CDX server reads no negative limit).",
        takes=WholeNumber(-MAX_COUNT),
    ),
    ProjectSetting(
        "DIGEST_LINK_ALLOW_NETWORKS",
        "",
        "Private networks the link check may reach anyway (CIDRs, comma-separated or a JSON list, e.g. "
        "`10.1.0.0/16,fd00::/8`); by default it reaches only public addresses and the archive's own origins.",
        takes=Networks(),
    ),
    ProjectSetting(
        "DIGEST_LINK_REPLAY_PREFIX",
        "auto",
        "Replay address of the link check's CDX API when DIGEST_LINK_CDX_API names one: the copy's URL is this, its "
        "timestamp, `/` and the original URL; `auto`: the replay prefix of the first of DIGEST_WEB_ARCHIVES.",
        takes=HttpUrl(words=("auto",)),
    ),
    ProjectSetting(
        "DIGEST_WEB_ARCHIVES",
        json.dumps(DEFAULT_WEB_ARCHIVES),
        "The web archives asked by `-a mode=recover` (every one, in order) and by the link check's lookup (the "
        "first): name → its CDX API and replay prefix (a capture's bytes are at `{replay}{timestamp}id_/{url}`); "
        "JSON on the command line.",
        takes=WebArchives(),
    ),
    ProjectSetting(
        "DIGEST_WEB_ARCHIVE_DELAY",
        3.0,
        "Seconds between two requests to one web archive, one at a time (the Internet Archive refuses clients "
        "past about 24 requests a minute); robots.txt and Retry-After are honoured on top.",
        takes=Number(0, 86_400),
    ),
    ProjectSetting(
        "DIGEST_RECOVER_MAX_CANDIDATES",
        5000,
        "Most posts one recovery considers (from captured listings and the prefix query); past it the run fails "
        "(exit 1) and says so.",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_RECOVER_MAX_CAPTURES",
        1000,
        "Most captures one recovery downloads; past it the run fails (exit 1), and the next run goes on where it "
        "stopped (captures read are remembered).",
        takes=WholeNumber(1),
    ),
    ProjectSetting(
        "DIGEST_RECOVER_MAX_CDX_PAGES",
        100,
        "Most pages of one CDX answer a recovery reads (`showNumPages`, `page=`); a longer answer fails the run.",
        takes=WholeNumber(1, 100_000),
    ),
)


# Old names users may have set (`-s`, scrapyd, a settings file), each with the setting that replaced it.
# `setting_value` resolves them, in this one place.
RENAMED_SETTINGS = {"DIGEST_ARCHIVES": "DIGEST_LISTINGS"}

_warned_about: set[str] = set()


def setting_value(settings, name: str) -> tuple[str, object]:
    """A project setting's value and the name it was read under: its old name when only that was set
    (with a deprecation warning, once per process). Both names set is a BadSetting: which one was meant
    cannot be known."""
    old = next((old for old, new in RENAMED_SETTINGS.items() if new == name), None)
    if old is None or settings.get(old) is None:
        return name, settings.get(name)
    declared = next(setting for setting in PROJECT_SETTINGS if setting.name == name)
    # The new name counts as set when given above the project's own defaults (settings.py) or changed.
    new_given = settings.getpriority(name) is not None and (
        settings.getpriority(name) > SETTINGS_PRIORITIES["project"] or settings.get(name) != declared.default
    )
    if new_given:
        raise BadSetting(f"both {name} and its old name {old} are set: keep {name} only")
    if old not in _warned_about:
        _warned_about.add(old)
        logging.getLogger(__name__).warning("%s is the old name of %s, which replaces it: please rename it", old, name)
    return old, settings.get(old)


def listing_urls(settings) -> list[str]:
    """DIGEST_LISTINGS (or its old name, DIGEST_ARCHIVES), read: the start URLs of the listings to crawl."""
    declared = next(setting for setting in PROJECT_SETTINGS if setting.name == "DIGEST_LISTINGS")
    name, value = setting_value(settings, declared.name)
    value = declared.default if value is None else value
    ProjectSetting(name, declared.default, declared.help, declared.takes).check(value)
    return declared.rule.read(value)  # type: ignore[return-value]


def check_settings(settings) -> None:
    """Every project setting against its declaration, and no `DIGEST_*` setting the project does not
    declare (a typo would otherwise be ignored and the default used). Raises BadSetting, in one line.
    Called when a spider is built, before the run opens the archive or makes any request."""
    declared = {setting.name: setting for setting in PROJECT_SETTINGS}
    for name in sorted(settings):
        if name.startswith("DIGEST_") and name not in declared and name not in RENAMED_SETTINGS:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise BadSetting(f"unknown setting {name}{hint}: the project's settings are listed in the README")
    for setting in PROJECT_SETTINGS:
        setting.check(settings.get(setting.name, setting.default))
    listing_urls(settings)  # the old name's value, and both names at once


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


def web_archives_of(settings) -> tuple[WebArchive, ...]:
    """DIGEST_WEB_ARCHIVES, read (check_settings has refused a bad value before the run)."""
    return parse_web_archives(settings.get("DIGEST_WEB_ARCHIVES", json.dumps(DEFAULT_WEB_ARCHIVES)))


def link_lookup_archive(settings) -> WebArchive | None:
    """The web archive the link check asks for copies of failing links: the first of DIGEST_WEB_ARCHIVES,
    unless DIGEST_LINK_CDX_API (the older setting) names a CDX API of its own; None: no lookups."""
    cdx = (settings.get("DIGEST_LINK_CDX_API") or "").strip()
    replay = (settings.get("DIGEST_LINK_REPLAY_PREFIX") or "auto").strip()
    archives = web_archives_of(settings)
    first = archives[0] if archives else None
    if cdx == "auto":
        if first is None:
            return None
        return first if replay == "auto" else WebArchive(first.name, first.cdx, replay.rstrip("/") + "/")
    if not cdx:
        return None
    if replay == "auto":
        replay = first.replay if first is not None else DEFAULT_WEB_ARCHIVES["Internet Archive"]["replay"]
    return WebArchive("DIGEST_LINK_CDX_API", cdx, replay.rstrip("/") + "/")
