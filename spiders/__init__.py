"""Scrapy spiders of the project: `digests`."""
