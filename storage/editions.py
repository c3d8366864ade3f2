"""Editions in the archive: which digests are one digest published on several sites.

`update_editions` matches the digests that are new or changed since they were last matched (a crawl
calls it after its final commit); `rebuild_editions` matches every digest again (`digest-archive
match --all`). Every edition has a slug, its lasting address (`slug_base`): the same whatever order the
archives were crawled or matched in, unlike its row id. The rule itself (`crawler.editions`) is pure;
this module only reads and writes rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from sqlite_utils import Database

from crawler.editions import Member, Post, edition_fields, match

from .writes import inserted_id, utc_now


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


def _posts(db: Database, where: str, params=()) -> list[Post]:
    return [
        Post(digest_id, site, _day(published or issue_date), text or "", edition_id)
        for digest_id, site, published, issue_date, text, edition_id in db.execute(
            f"SELECT id, site, published, issue_date, text, edition_id FROM digests WHERE {where}", params
        )
    ]


_PENDING = "edition_id IS NULL OR edition_checked IS NULL OR edition_checked < last_changed"


def update_editions(db: Database, now: str | None = None) -> EditionsUpdate:
    """Match the digests that are new, changed, or in no edition; one transaction."""
    now = now or utc_now()
    with db.atomic():
        return _update(db, now)


def rebuild_editions(db: Database, now: str | None = None) -> EditionsUpdate:
    """Match every digest again, as if none had been matched."""
    now = now or utc_now()
    with db.atomic():
        db.execute("UPDATE digests SET edition_checked = NULL")
        return _update(db, now)


def _update(db: Database, now: str) -> EditionsUpdate:
    report = EditionsUpdate()
    before = dict(db.execute("SELECT id, edition_id FROM digests").fetchall())  # digest id → its edition
    changed_content = {
        row[0]
        for row in db.execute(
            "SELECT id FROM digests WHERE edition_checked IS NOT NULL AND edition_checked < last_changed"
        )
    }
    pending_ids = [row[0] for row in db.execute(f"SELECT id FROM digests WHERE {_PENDING}")]
    if not pending_ids:
        return report
    placeholders = ", ".join("?" for _ in pending_ids)
    db.execute(f"UPDATE digests SET edition_id = NULL WHERE id IN ({placeholders})", pending_ids)
    pending = _posts(db, f"id IN ({placeholders})", pending_ids)
    others = _posts(db, f"id NOT IN ({placeholders})", pending_ids)
    groups, pairs = match(pending, others)
    report.matched, report.pairs = len(pending), len(pairs)

    # New editions keep the id of the edition their posts were in, when they all were in one.
    new_groups: dict[int, list[int]] = {}
    for digest_id, group in groups.items():
        if group < 0:
            new_groups.setdefault(group, []).append(digest_id)
    in_use = {row[0] for row in db.execute("SELECT DISTINCT edition_id FROM digests WHERE edition_id IS NOT NULL")}
    edition_of_group: dict[int, int] = {}
    for group, members in new_groups.items():
        previous = {before[member] for member in members}
        reusable = next(iter(previous)) if len(previous) == 1 and None not in previous else None
        if reusable is not None and reusable not in in_use and reusable not in edition_of_group.values():
            edition_of_group[group] = reusable
        else:
            edition_of_group[group] = inserted_id(
                db.execute("INSERT INTO editions (first_seen, updated, posts) VALUES (?, ?, 0)", [now, now])
            )
            report.new += 1
    db.conn.executemany(
        "UPDATE digests SET edition_id = ?, edition_checked = ? WHERE id = ?",
        [(edition_of_group.get(group, group), now, digest_id) for digest_id, group in groups.items()],
    )

    touched = {before[digest_id] for digest_id in pending_ids} | {
        edition_of_group.get(group, group) for group in groups.values()
    }
    touched.discard(None)
    members_before: dict[int, set[int]] = {}
    for digest_id, edition in before.items():
        members_before.setdefault(edition, set()).add(digest_id)
    for edition_id in sorted(touched):
        members_now = {row[0] for row in db.execute("SELECT id FROM digests WHERE edition_id = ?", [edition_id])}
        if not members_now:
            db.execute("DELETE FROM editions WHERE id = ?", [edition_id])
            continue
        moved = members_now != members_before.get(edition_id, set()) or bool(members_now & changed_content)
        if _refresh_fields(db, edition_id, now, force_update=moved) and edition_id not in edition_of_group.values():
            report.changed += 1
    assign_slugs(db)
    return report


_MEMBERS = (
    "SELECT site, number, issue_date, dateline, headline, published, title, url FROM digests WHERE edition_id = ?"
)


def _refresh_fields(db: Database, edition_id: int, now: str, *, force_update: bool) -> bool:
    """Recompute an edition's fields from its posts; True when something a reader sees changed."""
    members = [Member(*row) for row in db.execute(_MEMBERS, [edition_id]).fetchall()]
    fields = edition_fields(members)
    values = {
        **asdict(fields),
        "posts": len(members),
        "year": int((fields.issue_date or fields.first_published or "0")[:4]) or None,
    }
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
        fields = edition_fields(members)
        values = {
            **asdict(fields),
            "posts": len(members),
            "year": int((fields.issue_date or fields.first_published or "0")[:4]) or None,
        }
        db.execute(
            f"UPDATE editions SET {', '.join(f'{n} = :{n}' for n in values)} WHERE id = :id",
            {**values, "id": edition_id},
        )
    assign_slugs(db)
