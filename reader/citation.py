"""How to cite an edition or a post: an APA reference, a BibTeX record and the Highwire `citation_*` tags
that reference managers (Zotero) read, all from one set of facts.

Pure functions over plain values: the templates escape the results for HTML. BibTeX is a language of its
own, so its values are escaped here (`bibtex_value`): a brace or backslash in a title would otherwise end
the field or start a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

# The feed's entry ids: a `tag:` URI (RFC 4151) names an edition by the archive's name and its slug, so an
# id is the same whichever host, port or base_url serves the feed. The date is part of the tagging entity
# and never changes.
TAG_AUTHORITY = "digest-archive,2024"


def tag_uri(archive: str, *names: str) -> str:
    """`tag:digest-archive,2024:<archive>/<name>/…`, each part percent-encoded (a tag's specific part
    takes URI path characters)."""
    return f"tag:{TAG_AUTHORITY}:" + "/".join(quote(part, safe="") for part in (archive, *names))


def day_of(value: str | None) -> date | None:
    """The calendar day an ISO 8601 date or timestamp names (its first ten characters), else None."""
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


# LaTeX's special characters in a BibTeX value: braces and the backslash would end the field or start a
# command; the others are errors or surprises when the record is typeset.
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIBTEX_PATTERN = re.compile("|".join(re.escape(character) for character in _BIBTEX_SPECIAL))
# In a URL field the value is taken verbatim by \url, so only what breaks the field is percent-encoded.
_URL_BREAKERS = {"\\": "%5C", "{": "%7B", "}": "%7D", "%": "%25"}


def bibtex_value(text: str) -> str:
    """Text as a BibTeX value that stays one value (every brace balanced by being escaped)."""
    return _BIBTEX_PATTERN.sub(lambda found: _BIBTEX_SPECIAL[found[0]], " ".join(text.split()))


def bibtex_url(url: str) -> str:
    """A URL as a BibTeX `url` value: characters that would break the field, percent-encoded (a `%` already
    encoding a byte stays as it is)."""
    out = []
    for n, character in enumerate(url):
        if character == "%" and re.fullmatch(r"[0-9A-Fa-f]{2}", url[n + 1 : n + 3]):
            out.append(character)
        else:
            out.append(_URL_BREAKERS.get(character, character))
    return "".join(out).replace(" ", "%20")


def _apa_date(day: date | None) -> str:
    return f"{day.year}, {day:%B} {day.day}" if day else "n.d."


def _long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


@dataclass(frozen=True)
class Citation:
    title: str
    publisher: str  # the site that published it
    published: date | None
    original_url: str | None  # where it was published (None: the stored URL is not a web address)
    archived_on: date | None  # when the archive first saw it
    permalink: str  # the archive's lasting, absolute address of the edition
    key: str  # the BibTeX key: the archive's name and the slug

    @property
    def apa(self) -> str:
        """APA 7 for a web page with no named author: title, date, site, URL; then the archived copy."""
        title = self.title.strip().rstrip(".") or "Untitled"
        where = f" {self.original_url}" if self.original_url else ""
        archived = f"archived on {_long_date(self.archived_on)}, at" if self.archived_on else "archived at"
        return f"{title}. ({_apa_date(self.published)}). {self.publisher}.{where} ({archived} {self.permalink})"

    @property
    def bibtex(self) -> str:
        fields = [("title", "{" + bibtex_value(self.title) + "}"), ("publisher", bibtex_value(self.publisher))]
        fields.append(("howpublished", bibtex_value(self.publisher)))
        if self.published:
            fields += [("year", str(self.published.year)), ("month", str(self.published.month))]
            fields.append(("date", self.published.isoformat()))
        if self.original_url:
            fields.append(("url", bibtex_url(self.original_url)))
        note = "Archived"
        if self.archived_on:
            fields.append(("urldate", self.archived_on.isoformat()))
            note += f" on {self.archived_on.isoformat()}"
        fields.append(("note", bibtex_value(note) + r" at \url{" + bibtex_url(self.permalink) + "}"))
        lines = [f"  {name} = {{{value}}}," for name, value in fields]
        return "@misc{" + self.key + ",\n" + "\n".join(lines) + "\n}"

    @property
    def meta(self) -> list[tuple[str, str]]:
        """Highwire Press tags, as Zotero's embedded-metadata translator reads them. The archiving date is
        not among them: `citation_date` is read as the publication date."""
        tags = [("citation_title", self.title), ("citation_publisher", self.publisher)]
        tags.append(("citation_journal_title", self.publisher))
        if self.published:
            tags.append(("citation_publication_date", self.published.strftime("%Y/%m/%d")))
        tags.append(("citation_public_url", self.permalink))
        if self.original_url:
            tags.append(("citation_fulltext_html_url", self.original_url))
        return tags


def bibtex_key(archive: str, slug: str) -> str:
    """A BibTeX key from the archive's name and a slug: letters, digits, `-`, `_`, `:` only."""
    return re.sub(r"[^A-Za-z0-9_:-]+", "-", f"{archive}:{slug}").strip("-") or "digest"
