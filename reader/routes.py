"""The reader's addresses, each declared once (the table is `reader.plugin.ROUTES`): Datasette's
`register_routes` and every address the reader makes are derived from it.

A route's pattern is its path with a `{field}` for each variable segment. Its regex (for Datasette's
router, which takes `base_url` off before it matches) and its addresses (for links, redirects, the feed)
come from that one pattern; an address goes through `datasette.urls.path`, which puts `base_url` in front,
as Datasette's own links do. A value is tilde-encoded as Datasette encodes names in its own paths, so
that any database name or slug (a space, a quote, a slash, a dot) is one segment, and the views decode it
the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

from datasette.utils import tilde_encode

_FIELD = re.compile(r"\{(\w+)\*?\}")
# A field written `{name*}` is the rest of the address, slashes and all (a capture's original URL, as the
# Wayback Machine puts it after the timestamp): put in as a URL, percent-encoded where it must be, never
# tilde-encoded; it may only end a pattern.
_REST = re.compile(r"\{(\w+)\*\}$")
# The characters of a URL that stay as they are in a path (RFC 3986's reserved and unreserved, and `%`; a `#`
# is encoded: a stored link has no fragment).
_URL_SAFE = ":/?[]@!$&'()*+,;=%~"


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # e.g. "/-/edition/{database}/{slug}"
    view: Callable
    what: str  # what a reader does there (docs/reading.md's table of pages, by tools/docgen.py)
    formats: tuple[str, ...] = ()  # other forms of the page, `<path>.<format>` (the view reads url_vars["format"])
    shapes: tuple[tuple[str, str], ...] = ()  # (field, regex) for a field narrower than one segment

    @property
    def rest(self) -> str | None:
        """The field that takes the rest of the address (`{url*}`), if any."""
        found = _REST.search(self.pattern)
        return found[1] if found else None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(_FIELD.findall(self.pattern))

    @property
    def regex(self) -> str:
        """The pattern as Datasette's router matches it: each field one segment (a tilde-encoded value has no
        slash). Before an optional `.format` the segment takes no dot either, as Datasette's own database
        segment (tilde-encoding encodes a dot), so that `.json` is the format and not part of the name."""
        pieces = _FIELD.split(self.pattern)  # literal, field, literal, …, literal
        shapes = dict(self.shapes)
        regex = ""
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                regex += re.escape(piece)
            elif piece == self.rest:
                regex += f"(?P<{piece}>.+)"
            elif piece in shapes:
                regex += f"(?P<{piece}>{shapes[piece]})"
            else:
                last = n == len(pieces) - 2 and not pieces[-1]
                regex += f"(?P<{piece}>[^/.]+)" if self.formats and last else f"(?P<{piece}>[^/]+)"
        if self.formats:
            regex += rf"(\.(?P<format>{'|'.join(re.escape(form) for form in self.formats)}))?"
        return f"^{regex}$"

    def path(self, format: str | None = None, **values: object) -> str:
        """The route's path for these values (before base_url): every field given, each tilde-encoded."""
        if set(values) != set(self.fields):
            raise TypeError(f"route {self.name} takes {', '.join(self.fields)}, not {', '.join(values)}")
        if format is not None and format not in self.formats:
            raise ValueError(f"route {self.name} has no .{format} form")

        def value(found: re.Match) -> str:
            text = str(values[found[1]])
            return quote(text, safe=_URL_SAFE) if found[1] == self.rest else tilde_encode(text)

        path = _FIELD.sub(value, self.pattern)
        return f"{path}.{format}" if format else path

    @property
    def shown(self) -> str:
        """The pattern as the docs show it: `/-/edition/<database>/<slug>`."""
        return _FIELD.sub(r"<\1>", self.pattern)


class Routes:
    """The reader's routes by name, in the order they are declared."""

    def __init__(self, *routes: Route) -> None:
        self.by_name = {route.name: route for route in routes}
        if len(self.by_name) != len(routes):
            raise ValueError("two routes of one name")

    def __iter__(self) -> Iterator[Route]:
        return iter(self.by_name.values())

    def __getitem__(self, name: str) -> Route:
        return self.by_name[name]

    def for_datasette(self) -> list[tuple[str, Callable]]:
        """What `register_routes` answers: (regex, view) for each route."""
        return [(route.regex, route.view) for route in self]

    def url(self, datasette, name: str, format: str | None = None, **values: object) -> str:
        """The address of a page of the reader, under Datasette's base_url (a PrefixedUrlString, which
        Datasette's URL helpers and `urls.path` in a template leave as it is)."""
        return datasette.urls.path(self[name].path(format=format, **values))
