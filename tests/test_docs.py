"""The README and the docs stay true to the code, and the command line behaves as documented."""

from __future__ import annotations

import re
import shlex
import shutil
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
DOCS = REPO / "docs"
# Every Markdown file a reader may open: the README, the guides and reference pages, the changelog, the
# benchmark results.
MARKDOWN = sorted(
    [REPO / "README.md", REPO / "CHANGELOG.md", *DOCS.rglob("*.md"), *(REPO / "bench").glob("*.md")],
)
# The files cog writes into (`make docs`).
GENERATED = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def _prose(text: str) -> str:
    """The Markdown outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated heading numbered."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _prose(text), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def test_every_relative_link_in_the_docs_reaches_a_file_and_heading():
    broken = []
    for path in MARKDOWN:
        text = re.sub(r"`[^`\n]*`", "", _prose(path.read_text(encoding="utf-8")))
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO)}: {target}"
            if not linked.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and anchor not in _anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_link_check_sees_a_broken_link(tmp_path):
    """The check above can fail: a missing file and a missing heading are both found."""
    (tmp_path / "a.md").write_text("# Title\n\n## Some `code`, here\n")
    assert _anchors((tmp_path / "a.md").read_text()) == {"title", "some-code-here"}
    assert "missing" not in _anchors("# Title\n```sh\n# missing\n```\n")


def test_settings_reference_documents_every_project_setting_with_its_default():
    """docs/reference/settings.md is generated from the declaration; this checks the generator too."""
    reference = (DOCS / "reference" / "settings.md").read_text(encoding="utf-8")
    for setting in PROJECT_SETTINGS:
        row = next((line for line in reference.splitlines() if line.startswith(f"| `{setting.name}` |")), None)
        assert row is not None, f"{setting.name} missing from docs/reference/settings.md: run make docs"
        default = "*(empty)*" if setting.default == "" else f"`{setting.default}`"
        assert f"| {default} |" in row, f"{setting.name}: documented default differs from the code"
        assert setting.help.split("(")[0].strip() in row, f"{setting.name}: documented help differs"


def test_make_targets_named_in_the_docs_exist():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))
    named = {target for path in MARKDOWN for target in re.findall(r"`make ([a-z0-9-]+)", path.read_text())}
    assert {"demo", "test", "docs"} <= named
    assert named <= targets, named - targets


def test_commands_named_in_the_docs_exist():
    """Every `digest-archive X` and `scrapy crawl X` in the README and the guides is a real command."""
    from scrapy.spiderloader import SpiderLoader
    from scrapy.utils.project import get_project_settings

    spiders = set(SpiderLoader.from_settings(get_project_settings()).list())
    texts = [README, *(path.read_text(encoding="utf-8") for path in DOCS.glob("*.md"))]
    commands = {name for text in texts for name in re.findall(r"(?:bin/|`)digest-archive ([a-z]+)\b", text)}
    crawled = {name for text in texts for name in re.findall(r"scrapy crawl ([a-z]+)\b", text)}
    assert {"export", "serve", "report"} <= commands and crawled == {"digests", "links"}
    assert commands <= set(main.commands), commands - set(main.commands)
    assert crawled <= spiders, crawled - spiders


def _readme_commands() -> list[list[str]]:
    """The `digest-archive` command lines shown in the README's and reading guide's code blocks."""
    lines = []
    for text in (README, (DOCS / "reading.md").read_text(encoding="utf-8")):
        for block in _code_blocks(text):
            for line in block.splitlines():
                line = line.removeprefix("$ ").split("  #")[0].strip()
                if line.startswith(".venv/bin/digest-archive "):
                    lines.append(shlex.split(line)[1:])
    return lines


def test_the_readme_commands_run(backfilled_archive, tmp_path, monkeypatch):
    """Each `digest-archive` line of the README and the reading guide runs as shown, on a real archive
    (serve aside: it does not return; --wacz needs link captures, tested in test_links_spider.py)."""
    commands = _readme_commands()
    assert any(args[:1] == ["export"] for args in commands) and any(args[:1] == ["report"] for args in commands)
    for n, args in enumerate(commands):
        if args[0] == "serve" or "--wacz" in args:
            continue
        work = tmp_path / f"command-{n}"  # each as on a fresh checkout: no earlier export in the way
        work.mkdir()
        monkeypatch.chdir(work)
        archive = next(arg for arg in args if arg.endswith(".db"))
        shutil.copy(backfilled_archive, work / archive)
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, f"digest-archive {' '.join(args)}: {result.output}"


def test_generated_docs_are_up_to_date():
    """The generated parts of the docs (cog blocks, tools/docgen.py) match the code: `make docs`."""
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "-I", ".", *(str(p.relative_to(REPO)) for p in GENERATED)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr + "\nrun make docs"


def test_cli_reference_has_every_command():
    reference = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for name in main.commands:
        assert f"## `digest-archive {name}`" in reference and f"Usage: digest-archive {name} " in reference


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


def test_operating_guide_lists_every_exit_code_of_every_command():
    from core.exit_codes import MEANINGS

    guide = (DOCS / "operating.md").read_text(encoding="utf-8")
    for code, meaning in MEANINGS.items():
        assert f"| {int(code)} | {meaning} |" in guide, code


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
