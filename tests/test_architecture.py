"""The packages' layers hold at run time, not only in the import contract: what a reader or a script that only
reads the archive loads."""

from __future__ import annotations

import json
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
