"""The floor for benchmark 1: a bare Scrapy spider that fetches the same listing and post pages as the
project's backfill and does nothing with them. Run outside the project:

    scrapy runspider bench/bare_spider.py -a start_url=http://127.0.0.1:PORT/en/topic/iran-interlink-weekly-digest

`post_css` and `next_css` name the theme's post title links and "next page" link (the defaults are
the fixture archive's markup; bench/wordpress_pages.py gives the WordPress themes').
"""

import scrapy


class BareSpider(scrapy.Spider):
    name = "bare"
    # Same politeness switches as the project (robots.txt obeyed), nothing else.
    custom_settings = {"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": True}

    def __init__(self, start_url: str, post_css: str = "h2.post-box-title a", next_css: str = "a.next", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.post_css = post_css
        self.next_css = next_css

    def parse(self, response):
        for href in response.css(f"{self.post_css}::attr(href)").getall():
            yield response.follow(href.split("?")[0], callback=self.ignore)
        next_page = response.css(f"{self.next_css}::attr(href)").get()
        if next_page:
            yield response.follow(next_page, callback=self.parse)

    def ignore(self, response):
        pass
