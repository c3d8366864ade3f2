"""The README stays true to the code, and the command line behaves as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import storage
from cli.main import main
from crawler.config import PROJECT_SETTINGS

from .test_storage import make_digest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_project_setting_with_its_default():
    for setting in PROJECT_SETTINGS:
        row = next((line for line in README.splitlines() if line.startswith(f"| `{setting.name}` |")), None)
        assert row is not None, f"{setting.name} missing from the README's settings table"
        assert f"`{setting.default}`" in row, f"{setting.name}: README default differs from the code"


def test_readme_make_targets_exist():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))
    for target in set(re.findall(r"`make ([a-z-]+)`", README)) | {"demo", "test"}:
        assert target in targets, target


def test_generated_docs_are_up_to_date():
    """README command help comes from the code (tools/generate_docs.py)."""
    result = subprocess.run(
        [sys.executable, "tools/generate_docs.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_summary_of_a_missing_archive_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["summary", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and "no such archive" in result.output
    assert not (tmp_path / "none.db").exists()


def test_summary_of_a_foreign_file_is_exit_2_and_leaves_it_alone(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = CliRunner().invoke(main, ["summary", "--db", str(path)])
    assert result.exit_code == 2 and "not a SQLite database" in result.output
    assert path.read_text() == "hello"


def test_summary_reports_what_is_stored(tmp_path):
    db = storage.open_database(tmp_path / "a.db")
    storage.save_digest(db, make_digest(200))
    db.close()
    result = CliRunner().invoke(main, ["summary", "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 0, result.output
    assert re.search(r"digests\s+1\b", result.output) and re.search(r"entries\s+2\b", result.output)
    assert "Iran Interlink Weekly Digest \u2013 200" in result.output


def test_readme_lists_every_exit_code_of_every_command():
    from core.exit_codes import MEANINGS

    for code, meaning in MEANINGS.items():
        assert f"| {int(code)} | {meaning} |" in README, code


def test_every_failure_kind_the_code_records_is_documented():
    from crawler.failures import FAILURE_KINDS

    sources = [
        path.read_text(encoding="utf-8")
        for folder in ("crawler", "spiders", "storage")
        for path in (REPO / folder).rglob("*.py")
    ]
    recorded = {kind for text in sources for kind in re.findall(r'kind="([a-z_]+)"', text)}
    returned = set(re.findall(r'return "([a-z_]+)", ', (REPO / "crawler" / "failures.py").read_text()))
    assert recorded and returned
    assert (recorded | returned) <= set(FAILURE_KINDS)
