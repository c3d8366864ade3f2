"""A linked article's page, read only for what says whether it is still there: its title and first heading.

Pure: `(html bytes, declared encoding) → LinkedPage`. A page lxml cannot read gives empty fields,
never an error (the link answered; what it says is only a hint for `soft-404`).
"""

from __future__ import annotations

from dataclasses import dataclass

import lxml.html
from lxml import etree

from ..text import fit_text, squash
from .decoding import decode_html

# Enough of a page for its <title> and first <h1> (a soft-404 page says so at the top).
_HEAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class LinkedPage:
    title: str | None
    heading: str | None


def parse_linked_page(body: bytes, encoding: str | None = None) -> LinkedPage:
    """The title and the first <h1> of a page, squashed to one line each."""
    if not body.strip():
        return LinkedPage(None, None)
    try:
        root = lxml.html.document_fromstring(decode_html(body[:_HEAD_BYTES], encoding))
    except (etree.ParserError, ValueError, LookupError):
        return LinkedPage(None, None)
    return LinkedPage(_text_of(root.find(".//title")), _text_of(root.find(".//h1")))


def _text_of(element) -> str | None:
    if element is None:
        return None
    text = squash(element.text_content() or "")
    return fit_text(text)[:300] or None
