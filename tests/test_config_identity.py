"""Who the crawler says it is: one version everywhere, a User-Agent with the operator's contact, a
license; and the code's own checks are configured to run."""

from __future__ import annotations

import logging
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner
from scrapy import signals
from scrapy.utils.test import get_crawler

import spiders.digests
from cli.main import main
from core import __version__
from crawler.config import user_agent
from spiders.digests import DigestsSpider

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once_and_read_everywhere():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "core.__version__"}
    assert version("digest-archive") == __version__  # what the installed package (and an egg) says
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    assert f"## {__version__}" in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "contact, expected",
    [
        (None, f"digest-archive/{__version__}"),
        ("", f"digest-archive/{__version__}"),
        ("ops@example.org", f"digest-archive/{__version__} (+mailto:ops@example.org)"),
        ("https://example.org/crawler", f"digest-archive/{__version__} (+https://example.org/crawler)"),
    ],
)
def test_the_user_agent_names_the_project_and_the_contact_it_was_given(contact, expected):
    assert user_agent(contact) == expected


def test_no_user_agent_invents_a_url():
    assert "http" not in user_agent(None) and "github" not in user_agent(None)


def _crawler_settings(tmp_path, **settings):
    crawler = get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / "a.db"), **settings})
    return crawler


def test_the_contact_setting_reaches_the_user_agent_of_a_crawl(tmp_path):
    crawler = _crawler_settings(tmp_path, DIGEST_CONTACT="ops@example.org")
    assert crawler.settings.get("USER_AGENT") == f"digest-archive/{__version__} (+mailto:ops@example.org)"


def test_a_user_agent_given_on_the_command_line_is_kept(tmp_path):
    crawler = get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / "a.db")}, prevent_warnings=False)
    crawler.settings.frozen = False
    crawler.settings.set("USER_AGENT", "their-own/1.0", priority="cmdline")
    DigestsSpider.update_settings(crawler.settings)
    assert crawler.settings.get("USER_AGENT") == "their-own/1.0"


def _open_spider(crawler, start_url):
    spider = DigestsSpider.from_crawler(crawler, start_url=start_url)
    crawler.signals.send_catch_log(signals.spider_opened, spider=spider)
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="shutdown")


def test_a_crawl_of_a_real_site_without_a_contact_warns_once(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(spiders.digests, "_warned_about_contact", False)
    with caplog.at_level(logging.WARNING):
        for name in ("a", "b"):  # two listings in one process (DIGEST_LISTINGS): one warning
            _open_spider(
                get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / f"{name}.db")}),
                "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest",
            )
    warnings = [r.getMessage() for r in caplog.records if "DIGEST_CONTACT" in r.getMessage()]
    assert len(warnings) == 1 and "-s DIGEST_CONTACT=" in warnings[0], warnings


def test_no_warning_with_a_contact_or_for_the_loopback_fixture_sites(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(spiders.digests, "_warned_about_contact", False)
    with caplog.at_level(logging.WARNING):
        _open_spider(
            get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / "a.db"), "DIGEST_CONTACT": "x@y.org"}),
            "https://www.nejatngo.org/en/topic/iran-interlink-weekly-digest",
        )
        _open_spider(
            get_crawler(DigestsSpider, {"DATABASE": str(tmp_path / "b.db")}),
            "http://127.0.0.1:9/en/topic/iran-interlink-weekly-digest",
        )
    assert not [r for r in caplog.records if "DIGEST_CONTACT" in r.getMessage()]


def test_a_license_of_the_ecosystem_is_there_and_named():
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0" in license_text
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    assert "Apache License 2.0" in (REPO / "README.md").read_text(encoding="utf-8")


def test_make_test_runs_the_code_checks_first():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test: setup lint$", makefile, re.MULTILINE)
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in lint and "ruff format --check" in lint and "mypy" in lint
    assert "ignore_errors" not in (REPO / "pyproject.toml").read_text(encoding="utf-8")
