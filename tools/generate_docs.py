"""Regenerate what the docs take from the code: the README's command help and metadata.json.

    .venv/bin/python tools/generate_docs.py          # rewrite both
    .venv/bin/python tools/generate_docs.py --check  # exit 1 if either is out of date (the tests do this)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.cli import main  # noqa: E402
from storage.datasette import metadata  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- help:start -->", "<!-- help:end -->"
COMMANDS = ([], ["summary"], ["report"], ["match"], ["reparse"], ["export"], ["serve"])


def help_block() -> str:
    runner = CliRunner()
    parts = []
    for args in COMMANDS:
        result = runner.invoke(main, [*args, "--help"], prog_name="digest-archive", terminal_width=100)
        parts.append("```\n" + result.output.rstrip() + "\n```")
    return f"{START}\n" + "\n\n".join(parts) + f"\n{END}"


def readme_with_help(readme: str) -> str:
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return before + help_block() + after


def metadata_json() -> str:
    return json.dumps(metadata("archive"), indent=2, ensure_ascii=False) + "\n"


def main_() -> int:
    readme_path, metadata_path = ROOT / "README.md", ROOT / "metadata.json"
    readme = readme_path.read_text(encoding="utf-8")
    wanted = {readme_path: readme_with_help(readme), metadata_path: metadata_json()}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if "--check" in sys.argv:
        for path in stale:
            print(f"{path.name} is out of date: run .venv/bin/python tools/generate_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"rewrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
