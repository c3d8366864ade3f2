"""An edition's entries as a reader sees them: the entries its posts share once, and where they differ,
what is only on one post marked, links kept.

Posts are compared entry by entry (by their text); a reworded entry is compared word by word over its
HTML, so that its links survive; the result is sanitised again (the one nh3 policy), which also
balances any tag the word diff split. A post's revisions are compared the same way (`text_diff`): paragraph
by paragraph, a reworded one word by word.
"""

from __future__ import annotations

import difflib
import re

from markupsafe import Markup, escape

from core.sanitise import sanitise_html

# An HTML tag, or a run of text without white space or tags.
_PIECE = re.compile(r"<[^>]+>|[^<\s]+")


def _words_diff(before_html: str, after_html: str) -> Markup:
    """`before` → `after`, word by word over the HTML: removed words in <del>, added ones in <ins>; tags
    (links) are kept from the newer side where the two differ."""
    old, new = _PIECE.findall(before_html), _PIECE.findall(after_html)
    out: list[str] = []

    def mark(pieces: list[str], tag: str) -> None:
        for piece in pieces:
            out.append(piece if piece.startswith("<") else f"<{tag}>{piece}</{tag}>")

    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for operation, i1, i2, j1, j2 in matcher.get_opcodes():
        if operation == "equal":
            out.extend(old[i1:i2])
            continue
        if operation in ("delete", "replace"):
            mark([p for p in old[i1:i2] if not p.startswith("<")], "del")
        if operation in ("insert", "replace"):
            mark(new[j1:j2], "ins")
        elif operation == "delete":
            out.extend(p for p in old[i1:i2] if p.startswith("<"))  # keep the structure of what stays
    html = " ".join(out)
    html = re.sub(r"</del> <del>", " ", html)
    html = re.sub(r"</ins> <ins>", " ", html)
    return Markup(sanitise_html(html))


def edition_entries(entries_of: list[list[dict]]) -> list[dict]:
    """The entries of an edition's posts (each a list of rows with id, section, text, html), aligned:
    `change` is same, reworded, removed (only on the first post) or added (only on the second); `ids` are
    the entry ids the item stands for (anchors for search hits on either site)."""
    if not entries_of:
        return []
    first = entries_of[0]
    if len(entries_of) == 1:
        return [_item("same", e["html"], [e["id"]], e["section"]) for e in first]
    second = entries_of[1]
    out = []
    matcher = difflib.SequenceMatcher(a=[e["text"] for e in first], b=[e["text"] for e in second], autojunk=False)
    for operation, i1, i2, j1, j2 in matcher.get_opcodes():
        if operation == "equal":
            out += [
                _item("same", a["html"], [a["id"], b["id"]], a["section"])
                for a, b in zip(first[i1:i2], second[j1:j2], strict=True)
            ]
            continue
        removed, added = first[i1:i2], second[j1:j2]
        for position in range(max(len(removed), len(added))):
            if position < len(removed) and position < len(added):
                a, b = removed[position], added[position]
                out.append(
                    {
                        "change": "reworded",
                        "html": _words_diff(a["html"], b["html"]),
                        "ids": [a["id"], b["id"]],
                        "section": a["section"],
                    }
                )
            elif position < len(removed):
                a = removed[position]
                out.append(_item("removed", a["html"], [a["id"]], a["section"]))
            else:
                b = added[position]
                out.append(_item("added", b["html"], [b["id"]], b["section"]))
    # Entries of a third or later site (the digest has two publishers) are found by their anchors only.
    for later in entries_of[2:]:
        if out:
            out[-1]["ids"] += [e["id"] for e in later]
    return out


def _item(change: str, html: str, ids: list[int], section: str | None) -> dict:
    return {"change": change, "html": Markup(sanitise_html(html)), "ids": ids, "section": section}


def text_diff(before: str, after: str) -> list[dict]:
    """Two versions of a post's text (plain text, a paragraph a line), paragraph by paragraph as the edition
    page compares entries: `change` same, reworded (word by word, in <del> and <ins>), removed or added;
    `html` each paragraph's text, escaped."""
    old = [line for line in (before or "").splitlines() if line.strip()]
    new = [line for line in (after or "").splitlines() if line.strip()]
    out: list[dict] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for operation, i1, i2, j1, j2 in matcher.get_opcodes():
        if operation == "equal":
            out += [{"change": "same", "html": escape(line)} for line in old[i1:i2]]
            continue
        removed, added = old[i1:i2], new[j1:j2]
        for position in range(max(len(removed), len(added))):
            if position < len(removed) and position < len(added):
                # Escaped first: the word diff reads `<…>` as a tag, and text is never markup.
                html = _words_diff(str(escape(removed[position])), str(escape(added[position])))
                out.append({"change": "reworded", "html": html})
            elif position < len(removed):
                out.append({"change": "removed", "html": escape(removed[position])})
            else:
                out.append({"change": "added", "html": escape(added[position])})
    return out
