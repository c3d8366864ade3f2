"""digest-archive: a Scrapy crawler that keeps an SQLite archive of the Iran Interlink Weekly Digest."""

# The one place the version is written: pyproject.toml, `digest-archive --version`, the User-Agent
# and the scrapyd egg all read it from here (CHANGELOG.md says what each version brought).
__version__ = "0.2.0"
