"""Scrapy settings for digest-archive: polite defaults for the real site, all overridable with `-s`."""

from crawler.config import project_defaults, user_agent

BOT_NAME = "digest-archive"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
# Our `crawl` command: Scrapy's, exiting with the run's verdict (0–6; see crawler/commands/crawl.py).
COMMANDS_MODULE = "crawler.commands"

# DATABASE, DIGEST_LISTINGS, …: see crawler/config.py (declared there once, with help).
globals().update(project_defaults())

# Who we are: the project and its version, and (with `-s DIGEST_CONTACT=…`) how to reach whoever runs
# the crawl; the spider rebuilds it from DIGEST_CONTACT unless USER_AGENT itself is set (config.py).
USER_AGENT = user_agent(None)

# Politeness: the real site is a small NGO's WordPress; one request at a time, adaptively slowed.
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_DELAY = 1.0
CONCURRENT_REQUESTS_PER_DOMAIN = 2
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# Transient failures are retried (5xx, 408, 429 and timeouts by Scrapy's RetryMiddleware).
RETRY_ENABLED = True
RETRY_TIMES = 3
# A page that still fails after its retries is a recorded failure (kind + message in the archive and
# the closing summary), not an error of the crawl: ERROR stays for what needs a person's attention.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
DOWNLOAD_TIMEOUT = 60
# A digest page is well under 1 MB; anything far larger is not a digest.
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.StayOnSite": 40,
    "crawler.middlewares.SkipStoredPosts": 45,
    # After Scrapy's RobotsTxtMiddleware (100): waits between requests as robots.txt's Crawl-delay asks.
    "crawler.middlewares.CrawlDelay": 110,
    # Retry-After honoured: waited for just before Scrapy's RetryMiddleware (550) sees the answer.
    "crawler.middlewares.WaitForRetryAfter": 560,
}

EXTENSIONS = {
    "crawler.progress.CrawlProgress": 500,
}
# What every spider's crawl needs, whatever the spider's own EXTENSIONS: Scrapy's robots.txt download
# errors at INFO, without a traceback (crawler/logfilters.py).
ADDONS = {
    "crawler.logfilters.EveryCrawl": 0,
}

ITEM_PIPELINES = {
    "crawler.pipelines.ValidateDigest": 100,
    "crawler.pipelines.DedupeDigests": 200,
    "crawler.pipelines.StoreInArchive": 300,
}

LOG_LEVEL = "INFO"
# An exception in a callback or a pipeline is the run's to record (one ERROR line, a `failures` row,
# the crawl stops): Scrapy's own traceback line goes to DEBUG, without the item (see crawler/logformatter.py).
LOG_FORMATTER = "crawler.logformatter.RunLogFormatter"
FEED_EXPORT_ENCODING = "utf-8"
