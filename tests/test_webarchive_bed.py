"""The web-archive test bed (fixtures/webarchive.py) on its own: the WARC it writes, read back with warcio, and
pywb's way of answering a `showNumPages` query (its captures, one object a line) read as a whole answer.
The bed served by pywb, and the recovery against it, are in tests/e2e/test_recovery_pywb.py."""

from __future__ import annotations

from warcio.archiveiterator import ArchiveIterator

from core.parsing.cdx import parse_cdx_pages, parse_cdx_rows
from fixtures.editions import nejatngo_posts
from fixtures.site import ORIGIN_FORMS
from fixtures.webarchive import recovery_story, write_warc

SERVED_AT = "http://127.0.0.1:8123"


def test_each_capture_is_a_response_record_at_its_capture_date_with_the_bytes_served(tmp_path):
    story = recovery_story()
    path = write_warc(tmp_path / "story.warc.gz", story.captures, SERVED_AT)
    with open(path, "rb") as stream:
        records = [
            (
                record.rec_headers.get_header("WARC-Target-URI"),
                record.rec_headers.get_header("WARC-Date"),
                record.http_headers.get_statuscode(),
                record.http_headers.get_header("Content-Type"),
                record.http_headers.get_header("Date"),
                record.content_stream().read(),
            )
            for record in ArchiveIterator(stream)
            if record.rec_type == "response"
        ]
    assert len(records) == len(story.captures)
    for capture, (uri, warc_date, status, content_type, date, body) in zip(story.captures, records, strict=True):
        assert uri == SERVED_AT + capture.target
        assert warc_date == capture.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert date == capture.at.strftime("%a, %d %b %Y %H:%M:%S GMT")
        assert (int(status), content_type) == (capture.status, capture.content_type)
        expected = capture.body
        for form in ORIGIN_FORMS:
            expected = expected.replace(form.encode(), SERVED_AT.encode())
        assert body == expected
        assert not any(form.encode() in body for form in ORIGIN_FORMS)


def test_the_story_has_every_case_the_recovery_must_meet():
    story = recovery_story()
    assert [c.target for c in story.capture_of(story.amp_only)] == [f"{story.amp_only.path}?amp=1"]
    older, newer = story.twice
    assert len(story.capture_of(newer)) == 2 and older.entries != newer.entries
    assert [c.status for c in story.capture_of(story.not_found)] == [404]
    assert story.not_digest.number is None and "Digest" not in story.not_digest.title
    assert story.live_revised[0].entries != story.live_revised[1].entries
    assert len(story.capture_of(story.live_identical)) == 1
    # Every recovered digest is gone from the live fixture; the live ones are there.
    live = {post.post_id for post in nejatngo_posts()}
    assert not {post.post_id for post in story.recovered} & live
    assert story.live_revised[1].post_id in live and story.live_identical.post_id in live


# What pywb 2.10 answers to `…/cdx?url=…&matchType=prefix&output=json&showNumPages=true` on a collection that
# `wb-manager add` indexed (a CDXJ index, not a paged ZipNum one): the captures, one JSON object a line.
PYWB_ANSWER = (
    b'{"urlkey": "1,0,0,127:33867)/en/posts/7411", "timestamp": "20171029120000", "url": '
    b'"http://127.0.0.1:33867/en/posts/7411", "mime": "text/html", "status": "200", "digest": '
    b'"XUGRPPUYLY4JDLKPT7HPYI5MDTY4ZTAB", "length": "2673", "offset": "24951", "filename": "story.warc.gz", '
    b'"source": "story/indexes/index.cdxj", "source-coll": "story", "access": "allow"}\n'
    b'{"urlkey": "1,0,0,127:33867)/en/posts/7423", "timestamp": "20171104120000", "url": '
    b'"http://127.0.0.1:33867/en/posts/7423", "mime": "text/html", "status": "200", "digest": '
    b'"UBKM2MF5M5HPQWO6PF5CM5DVC5LNA4XT", "length": "2780", "offset": "22171", "filename": "story.warc.gz", '
    b'"source": "story/indexes/index.cdxj", "source-coll": "story", "access": "allow"}\n'
)


def test_pywbs_answer_to_a_page_count_is_its_captures_read_whole():
    assert parse_cdx_pages(PYWB_ANSWER, 10) is None
    assert [row.timestamp for row in parse_cdx_rows(PYWB_ANSWER)] == ["20171029120000", "20171104120000"]
