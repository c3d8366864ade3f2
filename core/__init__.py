"""The Scrapy-free core: items, URL/text/number rules, parsers, edition matching, link-status rules,
failure kinds, validation, the REST plan and the run ledger. It imports no Scrapy, Twisted, SQL or Datasette."""

# The one place the version is written: pyproject.toml, `digest-archive --version`, the User-Agent
# and the scrapyd egg all read it from here (CHANGELOG.md says what each version brought).
__version__ = "0.2.0"
