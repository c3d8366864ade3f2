"""Editions in the archive: which digests are one digest published on several sites.

`update_editions` matches the digests that are new or changed since they were last matched (a crawl
calls it after its final commit); `rebuild_editions` matches every digest again (`digest-archive
match --all`). Every edition has a slug, its lasting address (`slug_base`): the same whatever order the
listings were crawled or matched in, unlike its row id. The rule itself (`core.editions`) is pure;
this module only reads and writes rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date

from sqlite_utils import Database

from core.editions import EditionFields, Member, Post, edition_fields, match

from .rows import inserted_id, utc_now


@dataclass
class EditionsUpdate:
    matched: int = 0  # digests matched in this update
    new: int = 0  # editions created
    changed: int = 0  # editions whose posts or fields changed
    pairs: int = 0  # digests that joined a twin on another site


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


_PENDING = "edition_id IS NULL OR edition_checked IS NULL OR edition_checked < last_changed"
_CHANGED_SINCE_MATCHED = "edition_checked IS NOT NULL AND edition_checked < last_changed"


def update_editions(db: Database, now: str | None = None) -> EditionsUpdate:
    """Match the digests that are new, changed, or in no edition; one transaction."""
    now = now or utc_now()
    with db.atomic():
        return _update(db, now)


def rebuild_editions(db: Database, now: str | None = None) -> EditionsUpdate:
    """Match every digest again, as if none had been matched."""
    now = now or utc_now()
    with db.atomic():
        return _update(db, now, everything=True)


def _update(db: Database, now: str, everything: bool = False) -> EditionsUpdate:
    """One read of the digests, the matching in memory, one `executemany` of the answers and one refresh per
    edition touched: linear in the digests (no statement lists every pending id)."""
    report = EditionsUpdate()
    before: dict[int, int | None] = {}  # digest id → its edition
    changed_content: set[int] = set()
    pending: list[Post] = []
    others: list[Post] = []
    # Matching everything again treats every digest as never matched (so none as changed since its match).
    pending_if, changed_if = ("1", "0") if everything else (_PENDING, _CHANGED_SINCE_MATCHED)
    for digest_id, site, published, issue_date, text, edition_id, is_pending, content_changed in db.execute(
        f"SELECT id, site, published, issue_date, text, edition_id, {pending_if}, {changed_if} FROM digests"
    ):
        before[digest_id] = edition_id
        if content_changed:
            changed_content.add(digest_id)
        post = Post(digest_id, site, _day(published or issue_date), text or "", None if is_pending else edition_id)
        (pending if is_pending else others).append(post)
    if not pending:
        return report
    pending_ids = [post.digest_id for post in pending]
    groups, pairs = match(pending, others)
    report.matched, report.pairs = len(pending), len(pairs)

    # New editions keep the id of the edition their posts were in, when they all were in one.
    new_groups: dict[int, list[int]] = {}
    for digest_id, group in groups.items():
        if group < 0:
            new_groups.setdefault(group, []).append(digest_id)
    in_use = {post.edition_id for post in others if post.edition_id is not None}  # kept by posts not pending
    edition_of_group: dict[int, int] = {}
    reused: set[int] = set()
    for group, members in new_groups.items():
        previous = {before[member] for member in members}
        reusable = next(iter(previous)) if len(previous) == 1 and None not in previous else None
        if reusable is not None and reusable not in in_use and reusable not in reused:
            edition_of_group[group] = reusable
            reused.add(reusable)
        else:
            edition_of_group[group] = inserted_id(
                db.execute("INSERT INTO editions (first_seen, updated, posts) VALUES (?, ?, 0)", [now, now])
            )
            report.new += 1
    db.conn.executemany(
        "UPDATE digests SET edition_id = ?, edition_checked = ? WHERE id = ?",
        [(edition_of_group.get(group, group), now, digest_id) for digest_id, group in groups.items()],
    )

    after = {digest_id: edition_of_group.get(group, group) for digest_id, group in groups.items()}
    touched = {edition for edition in [*(before[d] for d in pending_ids), *after.values()] if edition is not None}
    members_before: dict[int | None, set[int]] = {}
    members_after: dict[int | None, set[int]] = {}
    for digest_id, edition in before.items():
        members_before.setdefault(edition, set()).add(digest_id)
        members_after.setdefault(after.get(digest_id, edition), set()).add(digest_id)
    created = set(edition_of_group.values())
    for edition_id in sorted(touched):
        members_now = members_after.get(edition_id, set())
        if not members_now:
            db.execute("DELETE FROM editions WHERE id = ?", [edition_id])
            continue
        moved = members_now != members_before.get(edition_id, set()) or bool(members_now & changed_content)
        if _refresh_fields(db, edition_id, now, force_update=moved) and edition_id not in created:
            report.changed += 1
    assign_slugs(db)
    return report


def _as_dict(fields: EditionFields) -> dict:
    """The fields by name (plain values: `dataclasses.asdict` would deep-copy each)."""
    return {field.name: getattr(fields, field.name) for field in dataclass_fields(fields)}


_MEMBERS = (
    "SELECT site, number, issue_date, dateline, headline, published, title, url FROM digests WHERE edition_id = ?"
)


def _edition_columns(members: list[Member]) -> dict:
    """An edition's columns from its posts: its fields by the one rule (`edition_fields`), its post
    count and its year."""
    fields = edition_fields(members)
    return {
        **_as_dict(fields),
        "posts": len(members),
        "year": int((fields.issue_date or fields.first_published or "0")[:4]) or None,
    }


def _refresh_fields(db: Database, edition_id: int, now: str, *, force_update: bool) -> bool:
    """Recompute an edition's fields from its posts; True when something a reader sees changed."""
    members = [Member(*row) for row in db.execute(_MEMBERS, [edition_id]).fetchall()]
    values = _edition_columns(members)
    stored = db.execute(f"SELECT {', '.join(values)} FROM editions WHERE id = ?", [edition_id]).fetchone()
    changed = force_update or stored is None or tuple(stored) != tuple(values.values())
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    db.execute(
        f"UPDATE editions SET {assignments}{', updated = :now' if changed else ''} WHERE id = :id",
        {**values, "id": edition_id, "now": now},
    )
    return changed


def slug_base(number: int | None, issue_date: str | None, first_published: str | None) -> str:
    """What an edition is, as an address: `digest-213` by its number, else `2019-09-20` by its issue date,
    else by its first publication; `undated` if it has none. Never digits alone, so that an old address by
    row id (`/-/edition/archive/37`) is told apart and redirected."""
    if number is not None:
        return f"digest-{number}"
    day = issue_date or (first_published or "")[:10]
    return day or "undated"


def assign_slugs(db: Database) -> None:
    """Give every edition its slug; editions sharing a base (the two 213s) get `-2`, `-3`… in order of their
    earliest publication, then their smallest canonical URL: never by row id or crawl order."""
    rows = db.execute(
        "SELECT e.id, e.number, e.issue_date, e.first_published, e.slug, "
        "(SELECT min(coalesce(published, issue_date, '9999')) FROM digests WHERE edition_id = e.id), "
        "(SELECT min(url) FROM digests WHERE edition_id = e.id) FROM editions e"
    ).fetchall()
    by_base: dict[str, list] = {}
    for row in rows:
        by_base.setdefault(slug_base(row[1], row[2], row[3]), []).append(row)
    wanted: dict[int, str] = {}
    for base, editions in by_base.items():
        editions.sort(key=lambda row: (row[5] or "9999", row[6] or ""))
        for position, row in enumerate(editions, start=1):
            wanted[row[0]] = base if position == 1 else f"{base}-{position}"
    stored = {row[0]: row[4] for row in rows}
    moving = [(edition_id, slug) for edition_id, slug in wanted.items() if stored[edition_id] != slug]
    # Free the slugs first (the column is unique), then give them out.
    db.conn.executemany("UPDATE editions SET slug = NULL WHERE id = ?", [(edition_id,) for edition_id, _ in moving])
    db.conn.executemany(
        "UPDATE editions SET slug = ? WHERE id = ?", [(slug, edition_id) for edition_id, slug in moving]
    )


def refresh_all_editions(db: Database) -> None:
    """Recompute every edition's fields and slug, leaving `updated` alone (a schema migration)."""
    for (edition_id,) in db.execute("SELECT id FROM editions").fetchall():
        members = [Member(*row) for row in db.execute(_MEMBERS, [edition_id]).fetchall()]
        if not members:
            continue
        values = _edition_columns(members)
        db.execute(
            f"UPDATE editions SET {', '.join(f'{n} = :{n}' for n in values)} WHERE id = :id",
            {**values, "id": edition_id},
        )
    assign_slugs(db)
