"""Every kind a `failures` row can have, with its meaning: plain data, importable without Scrapy
(the reader package shows it in Datasette; `crawler.failures` classifies errors into these kinds)."""

# A test checks that the code records no other kind.
FAILURE_KINDS = {
    "http_status": "the server answered with an error status (after retries)",
    "timeout": "no complete answer within DOWNLOAD_TIMEOUT (after retries)",
    "data_loss": "the connection broke before the whole page arrived",
    "too_large": "the page is larger than DOWNLOAD_MAXSIZE",
    "redirect_loop": "redirects went round in circles (REDIRECT_MAX_TIMES)",
    "offsite": "the page redirects to, or names itself as, another site's: never fetched nor stored",
    "robots": "robots.txt forbids the page",
    "not_html": "the answer is not an HTML page (e.g. a PDF)",
    "empty": "the answer is empty",
    "parse_error": "an HTML page, but not a readable digest",
    "invalid": "parsed, but without a title or entries",
    "shrunk": "parsed with less than half the entries the archive has: the stored digest was kept",
    "storage": "the archive could not store it (disk full, read-only, locked, a constraint): the run stopped",
    "dns": "the host name could not be resolved",
    "connection": "the server refused the connection",
    "dropped": "requested, but neither a digest, a 304 nor a failure came of it",
    "rest_item": (
        "an item of the REST index with no usable post id (wrong type or out of range) and no link on the "
        "archive's site: nothing to fetch (the message names the link it gave)"
    ),
    "cdx_answer": (
        "a web archive's CDX answer was refused (too large, of another shape, a field of the wrong type): the "
        "recovery failed and asks again next time"
    ),
    "exception": "an unexpected error in the crawler (its type and message): the run stopped, exit code 6",
    "download_error": "any other download error",
}
