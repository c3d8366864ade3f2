"""What the docs take from the code, written into them by cog (`make docs`; a test runs `cog --check`).

Each function returns Markdown for one `[[[cog ... ]]]` block of a file in docs/: the command line's
help from click's own list of commands, the settings from their one declaration, the schema of a
freshly created archive, the failure kinds, the exit codes, the link statuses and the reader's pages.
Nothing here is hand-maintained, so a new command, setting, table, column, failure kind, exit code,
link status or reader route reaches the docs by `make docs`.
"""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

PROG = "digest-archive"
WIDTH = 100  # the width the help is wrapped at, whatever the terminal that runs `make docs`


def _cell(value: object) -> str:
    """One Markdown table cell: pipes escaped, no line breaks."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _help(command: click.Command, args: list[str]) -> str:
    from cli.main import main

    result = CliRunner().invoke(main, [*args, "--help"], prog_name=PROG, terminal_width=WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"{PROG} {' '.join(args)} --help failed: {result.output}")
    return "```\n" + result.output.rstrip() + "\n```\n"


def cli_reference() -> str:
    """Every command's `--help`, in the order the commands are declared in cli/main.py."""
    from cli.main import main

    parts = [f"## `{PROG}`\n\n" + _help(main, [])]
    for name, command in main.commands.items():
        if command.hidden:
            continue
        parts.append(f"## `{PROG} {name}`\n\n" + _help(command, [name]))
    return "\n".join(parts)


def _default(value: object) -> str:
    if value == "":
        return "*(empty)*"
    return f"`{_cell(value)}`"


def settings_reference() -> str:
    """The project's settings as declared once in crawler/config.py: name, default, what it takes (the rule
    `check_settings` applies when a spider is built), help."""
    from crawler.config import PROJECT_SETTINGS

    lines = ["| setting | default | takes | meaning |", "|---|---|---|---|"]
    for setting in PROJECT_SETTINGS:
        takes, meaning = _cell(setting.rule.describe()), _cell(setting.help)
        lines.append(f"| `{setting.name}` | {_default(setting.default)} | {takes} | {meaning} |")
    return "\n".join(lines) + "\n"


def _plain(html: str) -> str:
    """The first sentence of a Datasette description, without its markup."""
    text = re.sub(r"<[^>]+>", "", re.sub(r"</?code>", "`", html))
    return text.split(". ")[0].rstrip(".") + "."


def _descriptions() -> dict[str, str]:
    from reader.metadata import database_metadata

    tables = database_metadata(dict.fromkeys(("search", "editions", "report", "links", "feed"), ""))["tables"]
    return {
        name: _plain(meta.get("description") or meta.get("description_html") or "")
        for name, meta in tables.items()
        if meta.get("description") or meta.get("description_html")
    }


def schema_reference() -> str:
    """Every table and view of a freshly created archive, with its columns (storage.ensure_schema on an
    in-memory database), and what a row is (the reader's Datasette descriptions)."""
    from sqlite_utils import Database

    import storage

    db = Database(memory=True)
    storage.ensure_schema(db)
    descriptions = _descriptions()
    version = db.execute("PRAGMA user_version").fetchone()[0]
    shadow = re.compile(r".*_fts_(data|idx|docsize|config|content)$")
    parts = [f"Schema version {version} (`PRAGMA user_version`).\n"]
    for name in db.table_names():
        if shadow.match(name):
            continue
        table = db[name]
        if name.endswith("_fts"):
            indexed = ", ".join(f"`{column.name}`" for column in table.columns)
            parts.append(f"### `{name}`\n\nFull-text index (FTS5, porter) of `{name[: -len('_fts')]}`: {indexed}.\n")
            continue
        foreign = {key.column: f"{key.other_table}.{key.other_column}" for key in table.foreign_keys}
        lines = [f"### `{name}`\n"]
        if name in descriptions:
            lines.append(descriptions[name] + "\n")
        lines += ["| column | type | key |", "|---|---|---|"]
        pks = set(table.pks) - {"rowid"}
        for column in table.columns:
            key = "primary key" if column.name in pks else ""
            if column.name in foreign:
                key = f"→ `{foreign[column.name]}`"
            lines.append(f"| `{column.name}` | {column.type or ''} | {key} |")
        parts.append("\n".join(lines) + "\n")
    for name in db.view_names():
        lines = [f"### `{name}` (view)\n"]
        if name in descriptions:
            lines.append(descriptions[name] + "\n")
        lines.append("Columns: " + ", ".join(f"`{column.name}`" for column in db[name].columns) + ".\n")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def failure_kinds_reference() -> str:
    """Every kind a `failures` row can have (core/failure_kinds.py)."""
    from core.failure_kinds import FAILURE_KINDS

    lines = ["| kind | meaning |", "|---|---|"]
    lines += [f"| `{kind}` | {_cell(meaning)} |" for kind, meaning in FAILURE_KINDS.items()]
    return "\n".join(lines) + "\n"


def exit_codes() -> str:
    """The exit codes of every command: the crawls and `digest-archive` (core/exit_codes.py)."""
    from core.exit_codes import MEANINGS

    lines = ["| code | meaning |", "|---|---|"]
    lines += [f"| {int(code)} | {_cell(meaning)} |" for code, meaning in MEANINGS.items()]
    return "\n".join(lines) + "\n"


def link_statuses() -> str:
    """Every status a link check records, and the state `dead` (core/link_status.py): what it means, what it
    does to the link's run of failing checks, and how the reader shows a link in it."""
    from core.link_status import DEAD, STATUSES

    lines = ["| status | meaning | towards dead | in the reader |", "|---|---|---|---|"]
    for status in [*STATUSES.values(), DEAD]:
        effect = status.effect.value if status.effect else "(a state of the link, not a check's status)"
        shown = f"{status.look.value}: “{status.label}”"
        lines.append(f"| `{status.name}` | {_cell(status.meaning)} | {_cell(effect)} | {_cell(shown)} |")
    return "\n".join(lines) + "\n"


def reader_pages() -> str:
    """The reader's pages, from its one table of routes (reader.plugin.ROUTES)."""
    from reader.plugin import ROUTES

    lines = ["| page | what a reader does there |", "|---|---|"]
    for route in ROUTES:
        shown = ", ".join(f"`{route.shown}{f'.{form}' if form else ''}`" for form in ("", *route.formats))
        lines.append(f"| {shown} | {_cell(route.what)} |")
    return "\n".join(lines) + "\n"


def import_contracts() -> str:
    """The import contracts `make lint` enforces (pyproject.toml, [tool.importlinter]), as a list."""
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: import-linter's own dependency reads TOML there
        import tomli as tomllib

    config = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    lines = []
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "layers":
            layers = " over ".join(
                " \\| ".join(f"`{name.strip()}`" for name in layer.split("|")) for layer in contract["layers"]
            )
            lines.append(
                f"- **{contract['name']}** (layers: each imports only those below it; `|` joins layers that do "
                f"not import each other): {layers}."
            )
        elif contract["type"] == "forbidden":
            sources = ", ".join(f"`{name}`" for name in contract["source_modules"])
            forbidden = ", ".join(f"`{name}`" for name in contract["forbidden_modules"])
            lines.append(f"- **{contract['name']}**: {sources} may not import {forbidden}.")
        else:
            lines.append(f"- **{contract['name']}** ({contract['type']}).")
    return "\n".join(lines) + "\n"
