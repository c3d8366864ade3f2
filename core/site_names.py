"""What the reader calls a site: the name the site gives itself, the operator's `DIGEST_SITE_NAMES`, else its
host without the port; and never the same words for two sites.

Pure rules over plain values, for the crawl (which learns and stores names: core.parsing.site_name reads
them from pages) and the reader (which shows them). A site is named as the archive keys it everywhere
(`digests.site`, core.urls.site_of: host and port, without `www.`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from html import unescape

from .text import fit_text, squash
from .urls import host_of, site_of

# Longer than any site title seen (WordPress's own field is free text); a longer one is cut at a word.
MAX_SITE_NAME = 80
# Where a stored name came from, weakest first: a stronger source replaces a weaker one, never the reverse
# (a REST root's `name` is the site's own setting; `og:site_name` a plugin's copy of it; a title's suffix a
# guess from the theme's layout).
SOURCES = ("title", "og:site_name", "rest")
# Format characters that reorder or hide text (bidirectional overrides, embeddings and isolates): a name
# could otherwise show as another. The joiners (ZWNJ, ZWJ) that Persian and other scripts need are kept.
_KEPT_FORMAT = {"\u200c", "\u200d"}
# A name that is an address (`127.0.0.1:8000`, `https://x.org/`) is what the reader must not show.
_ADDRESS = re.compile(r"^\S*://|^[\w.-]+:[0-9]+$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$")


def source_rank(source: str | None) -> int:
    """How much a name's source is trusted (-1: unknown or none)."""
    return SOURCES.index(source) if source in SOURCES else -1


def clean_site_name(value: object, *, entities: bool = False) -> str | None:
    """A site's name as the reader may show it, or None: text on one line, without control or reordering
    characters, at most MAX_SITE_NAME characters (cut at a word, with `…`), not an address.

    `entities`: the value is HTML text (WordPress keeps its `blogname` with entities: `Nejat &amp; Co`).
    """
    if not isinstance(value, str):
        return None
    text = value[: MAX_SITE_NAME * 20]  # bounded work, whatever the site sends
    if entities:
        text = unescape(text)
    text = "".join(
        character
        for character in fit_text(text)
        if character in _KEPT_FORMAT
        or unicodedata.category(character) not in ("Cc", "Cf", "Co", "Cn", "Cs")
        or character in "\t\n\r"
    )
    text = squash(text)
    if len(text) > MAX_SITE_NAME:
        cut = text[: MAX_SITE_NAME - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut[MAX_SITE_NAME // 2 :] else cut).rstrip() + "…"
    if not any(character.isalnum() for character in text) or _ADDRESS.match(text):
        return None
    return text


def site_key(text: str) -> str | None:
    """A key of DIGEST_SITE_NAMES as the archive names sites: an origin (`https://www.nejatngo.org`) or a host
    with or without its port (`nejatngo.org`, `127.0.0.1:8000`); None when it names no host."""
    text = text.strip()
    if not text or any(character.isspace() for character in text):
        return None
    try:
        key = site_of(text) if "://" in text else host_of(f"//{text}")
    except ValueError:  # a port out of range, a malformed IPv6 literal
        return None
    return key or None


def read_site_names(value: object) -> dict[str, str]:
    """DIGEST_SITE_NAMES: a mapping (or a JSON object) of origins or hosts to names; empty: none. ValueError for
    anything else (a key naming no host, a name the reader could not show)."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        value = json.loads(value)  # a JSONDecodeError is a ValueError
    if not isinstance(value, Mapping):
        raise ValueError("not a mapping")
    names = {}
    for key, name in value.items():
        site = site_key(key) if isinstance(key, str) else None
        cleaned = clean_site_name(name)
        if site is None or cleaned is None or cleaned != name.strip():
            raise ValueError(f"{key!r}: {name!r}")
        names[site] = cleaned
    return names


def chosen_name(site: str, names: Mapping[str, str]) -> str | None:
    """The operator's name for `site`: its own key (host and port), else its host's (a key without a port
    names the host on every port)."""
    return names.get(site) or names.get(host_label(site))


def host_label(site: str) -> str:
    """The host of a site without its port: what the reader shows for a site that gave no name."""
    if site.startswith("["):  # an IPv6 literal: `[::1]:8000`
        return site.split("]", 1)[0] + "]"
    return site.rsplit(":", 1)[0] if site.count(":") == 1 else site


def site_labels(names: Mapping[str, str | None]) -> dict[str, str]:
    """What the reader calls each site (site → its name, else its host): one label per site, never shared.

    A name two sites give (a site naming itself after another, or two sites on one host with no name) is
    followed by the host, `Nejat Society (nejatngo.org)`; when even that is shared (two ports of one host),
    by a number in the order of the sites' addresses, `127.0.0.1 (2)`.
    """
    labels = {site: name or host_label(site) for site, name in names.items()}
    for clash in _clashes(labels):
        for site in clash:
            labels[site] = f"{labels[site]} ({host_label(site)})" if names.get(site) else labels[site]
    for clash in _clashes(labels):
        for number, site in enumerate(sorted(clash), start=1):
            labels[site] = f"{labels[site]} ({number})"
    return labels


def _clashes(labels: Mapping[str, str]) -> list[list[str]]:
    by_label: dict[str, list[str]] = {}
    for site, label in labels.items():
        by_label.setdefault(label.casefold(), []).append(site)
    return [sites for sites in by_label.values() if len(sites) > 1]


def with_site_names(text: str, labels: Mapping[str, str]) -> str:
    """`text` with every site it names (as a whole word: `number: 167 (127.0.0.1:38859)`) replaced by its
    label; the archive's stored notes name sites as `digests.site` does."""
    if not text or not labels:
        return text
    sites = "|".join(re.escape(site) for site in sorted(labels, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.:/-])({sites})(?![\w.:-])")
    return pattern.sub(lambda found: labels[found[1]], text)
