"""Regenerate what the docs take from the code: the README's command help.

    .venv/bin/python tools/generate_docs.py          # rewrite it
    .venv/bin/python tools/generate_docs.py --check  # exit 1 if it is out of date (the tests do this)

Datasette's metadata is no longer a file: the reader plugin supplies it for any archive file name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.main import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- help:start -->", "<!-- help:end -->"
COMMANDS = ([], ["summary"], ["report"], ["match"], ["reparse"], ["export"], ["links"], ["serve"])


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


def main_() -> int:
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    wanted = {readme_path: readme_with_help(readme)}
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
