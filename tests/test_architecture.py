"""The packages' layers hold at run time, not only in the import contract: what a reader or a script that only
reads the archive loads."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest

from .conftest import REPO

HEAVY = ("scrapy", "twisted", "lxml")


def modules_loaded_by(statement: str) -> set[str]:
    probe = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in json.loads(result.stdout)}


@pytest.mark.parametrize("package", ["core", "storage", "reader", "cli.main"])
def test_the_lower_packages_load_no_crawl_machinery(package):
    loaded = modules_loaded_by(f"import {package}")
    heavy = set(HEAVY) if package != "core" else {"scrapy", "twisted"}
    assert not loaded & heavy, f"import {package} loads {sorted(loaded & heavy)}"


def test_the_parsers_are_where_lxml_comes_in():
    assert "lxml" in modules_loaded_by("import core.parsing")
    assert "lxml" not in modules_loaded_by("import core.items, core.urls, core.text, core.sanitise, core.editions")


# How SQL is written in this project (upper-case keywords); prose that starts with "Replace" or "Commit" is not.
SQL_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|REPLACE INTO|CREATE|DROP|ALTER TABLE|PRAGMA|BEGIN|COMMIT|"
    r"ROLLBACK|SAVEPOINT|WITH \w+ AS)\b"
)


@pytest.mark.parametrize("package", ["crawler", "spiders", "cli"])
def test_storage_owns_every_sql_statement(package):
    """No string in the packages above storage reads as an SQL statement."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_STATEMENT.match(node.value):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "\n".join(found)
