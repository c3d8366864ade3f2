"""Bytes to text for pages whose declared encoding cannot be trusted."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    # w3lib maps names the way browsers do (latin-1 and ascii are read as windows-1252).
    resolved = resolve_encoding(name)
    if resolved is None:
        return None
    try:
        return codecs.lookup(resolved).name
    except LookupError:
        return None


def decode_html(body: bytes, http_charset: str | None = None) -> str:
    """Decode a page, trying in turn: BOM, the HTTP charset, the `<meta>` charset, UTF-8, windows-1252.

    Each candidate must decode the bytes strictly. A server that says UTF-8 in its header while the
    bytes are windows-1252 (an old WordPress page pasted from Word) therefore falls through to the
    page's own declaration or to windows-1252, instead of filling the text with U+FFFD.
    """
    return _decoded(body, http_charset)[0]


def html_as_utf8(body: bytes, http_charset: str | None = None) -> bytes:
    """The page decoded as `decode_html` decodes it, as UTF-8 bytes: the bytes themselves when that is what
    they are (most pages), which spares encoding the text again for the HTML parser."""
    text, encoding = _decoded(body, http_charset)
    return body if encoding == "utf-8" else text.encode("utf-8")


def _candidate_codecs(body: bytes, http_charset: str | None) -> Iterator[str | None]:
    yield _codec(http_charset)
    # The page's own declaration is sniffed only when the HTTP charset is missing or wrong: the sniff reads
    # the first 4 KB with regular expressions, which costs more than decoding the whole page.
    yield _codec(html_body_declared_encoding(body))
    yield "utf-8"
    yield "cp1252"


def _decoded(body: bytes, http_charset: str | None) -> tuple[str, str | None]:
    """The text and the codec that read it strictly (None when no codec did, or after a BOM)."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return body[len(bom) :].decode(bom_encoding, errors="replace"), None
    tried: set[str] = set()
    for encoding in _candidate_codecs(body, http_charset):
        if not encoding or encoding in tried:
            continue
        tried.add(encoding)
        try:
            return body.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    # cp1252 leaves five byte values undefined; nothing strict is left, so keep what can be read.
    return body.decode("cp1252", errors="replace"), None


def charset_of(content_type: str | bytes | None) -> str | None:
    """The `charset=` of a Content-Type header value, if any."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None
