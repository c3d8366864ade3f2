"""The floor for benchmark 1: a bare Scrapy spider that fetches the same listing and post pages as the
project's backfill and does nothing with them. Run outside the project:

    scrapy runspider bench/bare_spider.py -a start_url=http://127.0.0.1:PORT/en/topic/iran-interlink-weekly-digest
"""

import scrapy


class BareSpider(scrapy.Spider):
    name = "bare"
    # Same politeness switches as the project (robots.txt obeyed), nothing else.
    custom_settings = {"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": True}

    def __init__(self, start_url: str, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start_url]

    def parse(self, response):
        # The fixture listing's own markup: post titles in h2.post-box-title, "next" in a.next.
        for href in response.css("h2.post-box-title a::attr(href)").getall():
            yield response.follow(href.split("?")[0], callback=self.ignore)
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page, callback=self.parse)

    def ignore(self, response):
        pass
