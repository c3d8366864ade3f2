"""The reader (the Datasette plugin in `reader/`) on an archive of both publishers: editions at lasting
addresses, search in editions, navigation, the edition page, metadata for any file name, the feed, and
the layering (no Scrapy behind a page)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from urllib.parse import quote, urlsplit

import pytest
from click.testing import CliRunner
from datasette.utils import tilde_encode
from hypothesis import given, settings
from hypothesis import strategies as st

import storage
from cli.main import main
from reader.diff import _words_diff, edition_entries
from storage.export import copy_database
from storage.search import fts_query

from .conftest import REPO, assert_clean_run, datasette_client, listings_setting, rows, run_crawl


@pytest.fixture()
def datasette(archive):
    return datasette_client(archive)


def search(datasette, query: str, **filters) -> dict:
    arguments = "&".join(f"{name}={quote(str(value))}" for name, value in {"q": query, **filters}.items())
    return datasette(f"/-/search/archive.json?{arguments}").json()


# --- 1. editions at lasting addresses --------------------------------------------------------------


def slugs_by_posts(database) -> dict[str, set[str]]:
    """Each edition's slug with the paths of its posts (the ports differ between two servings)."""
    found: dict[str, set[str]] = {}
    for row in rows(database, "SELECT e.slug, d.url FROM editions e JOIN digests d ON d.edition_id = e.id"):
        found.setdefault(row["slug"], set()).add(row["url"].split("/", 3)[3])
    return found


def test_every_edition_has_a_slug_from_what_it_is(archive):
    editions = rows(archive, "SELECT slug, number, issue_date FROM editions")
    assert all(edition["slug"] for edition in editions)
    for edition in editions:
        if edition["number"] is not None:
            assert re.fullmatch(rf"digest-{edition['number']}(-\d+)?", edition["slug"])
        else:
            assert edition["slug"].startswith(edition["issue_date"])
    two_213s = rows(archive, "SELECT slug, first_published FROM editions WHERE number = 213 ORDER BY slug")
    assert [row["slug"] for row in two_213s] == ["digest-213", "digest-213-2"]
    assert two_213s[0]["first_published"] <= two_213s[1]["first_published"]  # the earlier one keeps the plain slug


def test_slugs_are_the_same_whatever_order_the_listings_were_crawled_and_matched_in(archive, servers, tmp_path):
    reversed_order = tmp_path / "reversed.db"
    nejatngo_first = listings_setting(servers).split("=", 1)[1].split(",")
    result = run_crawl(
        None, reversed_order, "-a", "mode=backfill", "-s", f"DIGEST_LISTINGS={nejatngo_first[1]},{nejatngo_first[0]}"
    )
    assert_clean_run(result)
    assert slugs_by_posts(reversed_order) == slugs_by_posts(archive)
    ids = {row["slug"]: row["id"] for row in rows(archive, "SELECT slug, id FROM editions")}
    ids_reversed = {row["slug"]: row["id"] for row in rows(reversed_order, "SELECT slug, id FROM editions")}
    assert ids != ids_reversed  # the row ids do differ: only the slugs last
    with storage.open_database(archive, create=False) as db:
        storage.rebuild_editions(db)
    assert slugs_by_posts(archive) == slugs_by_posts(reversed_order)


def test_an_old_address_by_row_id_redirects_and_a_wrong_slug_is_404(datasette, archive):
    edition = rows(archive, "SELECT id, slug FROM editions WHERE number = 200")[0]
    response = datasette(f"/-/edition/archive/{edition['id']}", status=301)
    assert response.headers["location"] == f"/-/edition/archive/{edition['slug']}"
    datasette("/-/edition/archive/digest-99999", status=404)
    datasette("/-/edition/archive/99999", status=404)


# --- 2. search in editions -------------------------------------------------------------------------


def test_search_gives_one_hit_per_edition_entry_naming_both_sites(datasette, archive):
    found = search(datasette, "Albania")
    # What a reader means: each edition's entry once, however many sites published it; plus titles.
    entries = rows(
        archive,
        "SELECT DISTINCT d.edition_id, lower(e.text) AS text FROM entries_fts "
        "JOIN entries e ON e.rowid = entries_fts.rowid JOIN digests d ON d.id = e.digest_id "
        "WHERE entries_fts MATCH 'Albania'",
    )
    posts = rows(archive, "SELECT count(*) AS n FROM entries_fts WHERE entries_fts MATCH 'Albania'")[0]["n"]
    entry_hits = [hit for hit in found["hits"] if "#entry-" in hit["edition_url"]]
    assert len(entry_hits) == len(entries) < posts
    assert found["total"] >= len(entry_hits)
    assert len({hit["edition_url"] for hit in found["hits"]}) == len(found["hits"])
    assert any(len(hit["sites"]) == 2 for hit in entry_hits)
    assert all("<mark>" in hit["snippet"] for hit in found["hits"])
    assert set(found["hits"][0]) >= {"edition_url", "title", "number", "issue_date", "sites", "snippet"}


def test_search_ranks_by_relevance_and_sorts_by_date(datasette):
    newest = [hit["issue_date"] for hit in search(datasette, "Albania", sort="newest")["hits"]]
    assert newest == sorted(newest, reverse=True)
    oldest = [hit["issue_date"] for hit in search(datasette, "Albania", sort="oldest")["hits"]]
    assert oldest == sorted(oldest)


def test_search_finds_titles_and_headlines(datasette):
    found = search(datasette, "Lebanon")
    assert any(
        hit["title"].startswith("MEK and Lebanon") and "#entry-" not in hit["edition_url"] for hit in found["hits"]
    )


def test_search_filters_by_year_section_and_site(datasette, archive):
    everything = search(datasette, "MEK")["total"]
    in_2021 = search(datasette, "MEK", year=2021)
    assert 0 < in_2021["total"] < everything
    assert all(hit["issue_date"].startswith("2021") for hit in in_2021["hits"])
    site = rows(archive, "SELECT site FROM digests WHERE title LIKE 'MEK and Lebanon%'")[0]["site"]
    on_one_site = search(datasette, "MEK", site=site)["hits"]
    assert on_one_site and all(hit["sites"] == [site] for hit in on_one_site)
    assert search(datasette, "MEK", section="In English")["total"] <= everything


@pytest.mark.parametrize(
    "query",
    [
        "don't",
        "Rajavi's",
        '"camp Ashraf"',
        '"camp Ashraf',
        "al-monitor",
        "(Tirana",
        "Tirana)",
        "AND",
        "OR Tirana",
        "Tirana NOT",
        "NOT",
        "NEAR(a b)",
        "title:Tirana",
        "*",
        '""',
        "'",
        "-",
        "",
        "   ",
        "Tirana OR Durres",
        "MEK NOT Albania",
        "a AND OR b",
        "\u00ab\u00bb",
        "^Tirana",
        "Tir*",
        "Tirana;",
        "💥",
        "camp -",
        "-*",
        "**",
        '-"',
        '"camp"*',
        "Alban**",
        "-(iraq)",
        '"*"',
        'NEAR("camp" "Ashraf", 2)',
        "camp NEAR iraq",
        "-camp -iraq",
        "camp OR -iraq",
        "(camp) -(iraq*)",
    ],
)
def test_whatever_a_reader_types_answers_never_a_400(datasette, query):
    datasette(f"/-/search/archive?q={quote(query)}")
    found = search(datasette, query)
    assert isinstance(found["total"], int)


def test_an_apostrophe_finds_the_word(datasette):
    found = search(datasette, "don't")
    assert found["total"] > 0 and all("don" in hit["snippet"].lower() for hit in found["hits"])


def test_operators_and_phrases_work(datasette):
    either = search(datasette, "Tirana OR Lebanon")["total"]
    assert either >= max(search(datasette, "Tirana")["total"], search(datasette, "Lebanon")["total"])
    assert search(datasette, "MEK NOT Albania")["total"] < search(datasette, "MEK")["total"]
    assert search(datasette, '"Camp Ashraf"')["total"] <= search(datasette, "Camp Ashraf")["total"]


def test_a_hit_links_to_its_entry_on_its_edition_page(datasette):
    hit = next(hit for hit in search(datasette, "Albania")["hits"] if "#entry-" in hit["edition_url"])
    address = urlsplit(hit["edition_url"])
    assert (address.scheme, address.netloc) == ("http", "localhost")  # absolute, from the request's own host
    assert f'id="{address.fragment}"' in datasette(address.path).text


def marked(hit: dict) -> list[str]:
    """The words a hit's snippet highlights, lower case."""
    return [word.lower() for word in re.findall(r"<mark>(.*?)</mark>", hit["snippet"])]


def every_hit(datasette, query: str, **filters) -> tuple[dict, list[dict]]:
    """The first JSON page of a search, and every hit of every page, by following `next` to the end."""
    first = page = search(datasette, query, **filters)
    hits = list(page["hits"])
    while page["next"]:
        address = urlsplit(page["next"])
        assert (address.scheme, address.netloc) == ("http", "localhost")  # absolute
        page = datasette(f"{address.path}?{address.query}").json()
        assert 0 < len(page["hits"]) <= page["page_size"]
        hits += page["hits"]
    return first, hits


def entry_of(archive, hit: dict) -> dict | None:
    """The entry a hit links (None: a title or headline hit)."""
    fragment = urlsplit(hit["edition_url"]).fragment
    if not fragment:
        return None
    return rows(archive, "SELECT id, text FROM entries WHERE id = ?", [int(fragment.removeprefix("entry-"))])[0]


def test_a_star_ends_a_word_that_longer_words_begin_with(datasette):
    assert search(datasette, "Alban")["total"] == 0  # no word of the archive is "Alban" itself
    found, hits = every_hit(datasette, "Alban*")
    assert found["total"] == len(hits) > 0
    words = {word for hit in hits for word in marked(hit)}
    assert {"albania", "albanian"} <= words and all(word.startswith("alban") for word in words)
    assert found["query"] == '"Alban"*'


def test_a_dash_leaves_a_word_out_and_it_is_never_highlighted(datasette, archive):
    camp = search(datasette, "camp")["total"]
    both = search(datasette, "camp iraq")["total"]
    found, hits = every_hit(datasette, "camp -iraq")
    assert 0 < found["total"] < camp and both > 0
    assert found["total"] + both == camp  # each hit for camp either names Iraq or not
    assert all("iraq" not in marked(hit) and "camp" in " ".join(marked(hit)) for hit in hits)
    texts = [entry["text"] for entry in (entry_of(archive, hit) for hit in hits) if entry]
    assert texts and not any(re.search(r"\biraq\b", text, re.IGNORECASE) for text in texts)
    # a left-out phrase, and several left out, the same way
    assert search(datasette, 'camp -"camp Ashraf"')["total"] < camp
    assert search(datasette, "camp -iraq -ashraf")["total"] <= found["total"]


def test_a_search_that_finds_nothing_says_what_ran_and_what_would_find_something(datasette):
    nothing = search(datasette, "Alban")
    assert nothing["hits"] == [] and nothing["next"] is None
    hint = nothing["hints"][0]
    assert hint["text"] == "Alban*" and hint["total"] == search(datasette, "Alban*")["total"]
    address = urlsplit(hint["url"])
    assert datasette(f"{address.path}?{address.query}").json()["total"] == hint["total"]
    page = datasette("/-/search/archive?q=Alban").text
    assert 'class="searched">Searched for <code>&#34;Alban&#34;</code>' in page
    assert f'<a href="?q=Alban%2A">Alban*</a>: {hint["total"]} hits' in page
    # a filter that leaves nothing: the same search without it
    filtered = search(datasette, "Albania", **{"from": "2999-01-01"})
    assert filtered["total"] == 0 and filtered["filters"] == {"from": "2999-01-01"}
    unfiltered = next(hint for hint in filtered["hints"] if hint["without_filters"])
    assert unfiltered["total"] == search(datasette, "Albania")["total"] and "from=" not in unfiltered["url"]
    # words only to leave out: nothing to search for, and the page says so
    assert search(datasette, "-iraq")["only_left_out"] is True
    assert "Only words to leave out" in datasette("/-/search/archive?q=-iraq").text


def test_a_date_range_keeps_the_editions_of_those_days(datasette, archive):
    days = sorted(
        row["day"]
        for row in rows(archive, "SELECT coalesce(issue_date, substr(first_published, 1, 10)) AS day FROM editions")
    )
    middle = days[len(days) // 2]
    everything = every_hit(datasette, "MEK")[1]
    since = every_hit(datasette, "MEK", **{"from": middle})[1]
    until = every_hit(datasette, "MEK", to=middle)[1]
    assert since and until and all(hit["day"] >= middle for hit in since) and all(hit["day"] <= middle for hit in until)
    on_the_day = [hit for hit in everything if hit["day"] == middle]
    assert len(since) + len(until) == len(everything) + len(on_the_day)  # both bounds are included
    one_day = search(datasette, "MEK", **{"from": middle, "to": middle})
    assert one_day["total"] == len(on_the_day) and one_day["filters"] == {"from": middle, "to": middle}
    # not a date: no bound (and the answer says which filters ran)
    assert search(datasette, "MEK", **{"from": "2021-02-30", "to": "yesterday"})["filters"] == {}
    form = datasette(f"/-/search/archive?q=MEK&from={middle}").text
    assert f'name="from" value="{middle}"' in form


def test_the_domain_filter_keeps_the_entries_that_cite_it(datasette, archive):
    domain = rows(archive, "SELECT domain FROM links WHERE domain LIKE '%.%' GROUP BY domain ORDER BY count(*) DESC")[
        0
    ]["domain"]
    citing = {row["entry_id"] for row in rows(archive, "SELECT entry_id FROM links WHERE domain = ?", [domain])}
    found, hits = every_hit(datasette, "the", domain=domain)
    assert found["total"] > 0 and found["filters"] == {"domain": domain}
    assert all(entry_of(archive, hit)["id"] in citing for hit in hits)  # an entry hit each, citing the domain
    # as a reader may type it: with www., in capitals, as a whole address
    for typed in (f"www.{domain}", domain.upper(), f"https://www.{domain}/some/page"):
        assert search(datasette, "the", domain=typed)["total"] == found["total"], typed
    assert search(datasette, "the", domain="no-such-domain.example")["total"] == 0
    form = datasette(f"/-/search/archive?q=the&domain={domain}").text
    assert f'name="domain" value="{domain}"' in form and f'<option value="{domain}">' in form


def test_the_json_pages_through_every_hit_once(datasette):
    first, hits = every_hit(datasette, "MEK", sort="newest")
    assert first["page_size"] == 20 and first["total"] > 2 * first["page_size"]
    addresses = [hit["edition_url"] for hit in hits]
    assert len(addresses) == len(set(addresses)) == first["total"]
    assert [hit["day"] or "" for hit in hits] == sorted((hit["day"] or "" for hit in hits), reverse=True)
    assert "sort=newest" in first["next"] and "page=2" in first["next"]
    last_page = -(-first["total"] // first["page_size"])
    past_the_end = search(datasette, "MEK", page=last_page + 1)
    assert past_the_end["hits"] == [] and past_the_end["next"] is None and "hints" not in past_the_end


def _fts_table() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter')")
    connection.execute("INSERT INTO t VALUES ('don''t walk to Tirana; the camp at Ashraf')")
    return connection


FTS = _fts_table()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=6),
            st.sampled_from(
                [
                    '"',
                    "'",
                    "(",
                    ")",
                    "*",
                    ":",
                    "^",
                    "-",
                    "+",
                    "{",
                    "}",
                    " AND ",
                    " OR ",
                    " NOT ",
                    " NEAR ",
                    "AND",
                    "NOT",
                ]
            ),
        ),
        max_size=12,
    ).map("".join)
)
def test_no_input_makes_a_query_fts5_refuses(text):
    query = fts_query(text)
    if query is not None:
        FTS.execute("SELECT count(*) FROM t WHERE t MATCH ?", [query]).fetchone()


def test_the_query_keeps_words_phrases_and_operators():
    assert fts_query("don't") == '"don\'t"'
    assert fts_query('"camp Ashraf" OR Tirana') == '"camp Ashraf" OR "Tirana"'
    assert fts_query("NOT MEK AND") == '"MEK"'
    assert fts_query('a "b c') == '"a" "b" "c"'
    assert fts_query("( ) -- ") is None and fts_query("") is None
    assert fts_query("Alban* -iraq") == '("Alban"*) NOT "iraq"'
    assert fts_query('camp OR tent -"camp Ashraf" --x') == '("camp" OR "tent") NOT "camp Ashraf" NOT "x"'
    assert fts_query("-iraq") is None and fts_query("* - -*") is None
    assert fts_query("al-monitor Tir*ana") == '"al-monitor" "Tir*ana"'  # a dash or star inside is only text


# --- 3. navigation ---------------------------------------------------------------------------------


def test_the_reading_view_names_its_site_and_links_its_edition_and_the_next_post_on_its_own_site(datasette, archive):
    posts = rows(
        archive,
        "SELECT d.id, d.site, d.edition_id, s.name FROM digests d JOIN sites s ON s.site = d.site "
        "WHERE number = 209 ORDER BY d.site",
    )
    assert {post["name"] for post in posts} == {"Nejat Society", "Iran Interlink"}
    for post in posts:
        html = datasette(f"/-/digest/archive/{post['id']}").text
        # The site by the name it gives itself (its host and port in the title, for whoever hovers).
        assert f'<strong class="site" title="{post["site"]}">{post["name"]}</strong>' in html
        assert 'class="edition-link" href="/-/edition/archive/digest-209"' in html
        next_id = re.search(r'rel="next" href="/-/digest/archive/(\d+)"', html)[1]
        assert rows(archive, "SELECT site FROM digests WHERE id = ?", [int(next_id)])[0]["site"] == post["site"]


def test_the_edition_page_links_the_previous_and_next_edition_by_issue_date(datasette, archive):
    ordered = [
        row["slug"]
        for row in rows(archive, "SELECT slug FROM editions ORDER BY coalesce(issue_date, first_published), slug")
    ]
    middle = ordered.index("digest-209")
    html = datasette("/-/edition/archive/digest-209").text
    assert f'rel="prev" class="previous-edition" href="/-/edition/archive/{ordered[middle - 1]}"' in html
    assert f'rel="next" class="next-edition" href="/-/edition/archive/{ordered[middle + 1]}"' in html
    first = datasette(f"/-/edition/archive/{ordered[0]}").text
    assert 'rel="prev"' not in first


def test_rows_link_editions_and_the_database_page_says_where_to_start(datasette, archive):
    digest = rows(archive, "SELECT id, edition_id FROM digests WHERE number = 200 LIMIT 1")[0]
    row_page = datasette(f"/archive/digests/{digest['id']}").text
    assert f'href="/-/edition/archive/{digest["edition_id"]}"' in row_page  # redirects to the slug
    editions = datasette("/archive/editions").text
    assert 'href="/-/edition/archive/digest-200"' in editions
    start = datasette("/archive").text
    assert "Start here" in start
    for path in ("/-/search/archive", "/archive/editions", "/-/report/archive"):
        assert f'href="{path}"' in start


def test_every_page_header_has_the_search_box(datasette, archive):
    for path in (
        "/",
        "/archive",
        "/archive/digests",
        "/archive/entries",
        "/-/edition/archive/digest-200",
        "/-/digest/archive/1",
        "/-/report/archive",
    ):
        assert 'action="/-/search/archive"' in datasette(path).text, path


def test_the_series_report_page_agrees_with_the_command(datasette, archive):
    html = datasette("/-/report/archive").text
    assert "digest-167" in html and "between sites" in html and "within one post" in html
    assert "8\u201353" in html


# --- 4. the edition page ---------------------------------------------------------------------------


def test_the_legend_shows_only_where_posts_differ(datasette, archive):
    assert 'class="legend"' in datasette("/-/edition/archive/digest-209").text
    texts: dict[str, list] = {}
    for row in rows(
        archive,
        "SELECT e.slug, d.id, group_concat(n.text, '|') AS texts FROM editions e "
        "JOIN digests d ON d.edition_id = e.id JOIN entries n ON n.digest_id = d.id "
        "WHERE e.posts = 2 GROUP BY d.id ORDER BY e.slug, d.id",
    ):
        texts.setdefault(row["slug"], []).append(row["texts"])
    same = [slug for slug, both in texts.items() if both[0] == both[1]]
    differ = [slug for slug, both in texts.items() if both[0] != both[1]]
    assert len(same) > 30 and "digest-209" in differ
    for slug in same:
        assert 'class="legend"' not in datasette(f"/-/edition/archive/{slug}").text, slug
    for slug in differ:
        assert 'class="legend"' in datasette(f"/-/edition/archive/{slug}").text, slug
    html = datasette("/-/edition/archive/digest-209").text
    assert "underlined" not in html  # the style is a highlight, and the legend says so


def test_entry_markers_are_not_styled_as_changes(datasette):
    html = datasette("/-/edition/archive/digest-209").text
    marker = re.search(r"\.entry::before \{[^}]*color: (#[0-9a-f]+)", html)[1]
    insertion = re.search(r"ins \{ background: (#[0-9a-f]+)", html)[1]
    assert marker != insertion and marker == "#999"


def test_a_reworded_entry_keeps_its_links():
    before = '<p>Read <a href="https://example.org/a">the report</a> on the camp.</p>'
    after = '<p>Read <a href="https://example.org/a">the full report</a> on the camp today.</p>'
    html = str(_words_diff(before, after))
    assert 'href="https://example.org/a"' in html and "<ins>full</ins>" in html
    assert re.search(r"<ins>[^<]*today\.</ins>", html)
    entries = edition_entries(
        [[{"id": 1, "section": None, "text": "Only here", "html": '<a href="https://x.org/">Only here</a>'}], []]
    )
    assert entries[0]["change"] == "removed" and 'href="https://x.org/"' in str(entries[0]["html"])


def test_every_edition_field_comes_from_one_post_by_one_rule(archive):
    from core.editions import Member, edition_fields

    undated = [
        Member("b.org", 7, None, None, None, None, "Digest \u2013 7", "https://b.org/7"),
        Member("a.org", 8, None, None, None, None, "Digest \u2013 8", "https://a.org/8"),
    ]
    fields = edition_fields(undated)
    assert (fields.title, fields.number) == ("Digest \u2013 8", 8)  # both from a.org's post
    assert edition_fields(list(reversed(undated))) == fields
    for edition in rows(archive, "SELECT id, title, number FROM editions WHERE number IS NOT NULL"):
        titles = {
            row["title"]
            for row in rows(
                archive,
                "SELECT title FROM digests WHERE edition_id = ? AND number = ?",
                [edition["id"], edition["number"]],
            )
        }
        assert edition["title"] in titles


def test_reparse_rematches_the_editions_of_what_it_changed(archive):
    post = rows(archive, "SELECT id, edition_id FROM digests WHERE number = 200 ORDER BY id LIMIT 1")[0]
    with sqlite3.connect(archive) as connection:  # as an older parser might have stored it
        connection.execute("UPDATE digests SET content_hash = 'old', title = 'Wrong title' WHERE id = ?", [post["id"]])
        connection.execute("UPDATE editions SET title = 'Wrong title' WHERE id = ?", [post["edition_id"]])
    result = CliRunner().invoke(main, ["reparse", str(archive)])
    assert result.exit_code == 0, result.output
    assert "editions re-matched" in result.output
    edition = rows(archive, "SELECT title, slug FROM editions WHERE id = ?", [post["edition_id"]])[0]
    assert edition == {"title": "Iran Interlink Weekly Digest \u2013 200", "slug": "digest-200"}


# --- 5. metadata for any file name -----------------------------------------------------------------


def test_any_file_name_gets_the_descriptions_facets_and_canned_queries(archive, tmp_path):
    renamed = tmp_path / "whatever-it-is-called.db"
    copy_database(archive, renamed)
    get = datasette_client(renamed)
    name = "whatever-it-is-called"
    database = get(f"/{name}.json").json()
    assert "missing_numbers" in {query["name"] for query in database["queries"]}
    assert "Start here" in get(f"/{name}").text
    editions = get(f"/{name}/editions.json?_size=0").json()
    assert (
        set(editions["facets"] if "facets" in editions else []) >= set()
        and "Search the editions" in get(f"/{name}/editions").text
    )
    missing = get(f"/{name}/missing_numbers.json?_shape=array").json()
    assert missing[0] == {"first": 8, "last": 53, "missing": 46}
    assert get("/-/metadata.json").json()["title"] == "Iran Interlink Weekly Digest archive"


def test_a_foreign_database_gets_no_archive_metadata(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    get = datasette_client(other)
    assert get("/other.json").json()["queries"] == []


# --- 6. reports ------------------------------------------------------------------------------------


def _section(output: str, title: str) -> list[str]:
    """The lines of the command's section `title`: its own line, then its indented lines."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"{title}: "))
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith("  ")), len(lines))
    return lines[start:end]


def test_report_and_summary_agree_and_cover_every_listing_in_the_file(archive):
    report = CliRunner().invoke(main, ["report", str(archive)]).output
    summary = CliRunner().invoke(main, ["summary", str(archive)]).output
    runs = _section(report, "Last run of each archive")
    assert len(runs) == 3 and runs == _section(summary, "Last run of each archive")
    failures = _section(report, "Pages that failed and are not stored")
    assert len(failures) == 3 and failures == _section(summary, "Pages that failed and are not stored")
    assert not re.search(r"\b1 editions\b", report)
    for line in failures[1:]:
        url = re.search(r"https?://\S+", line)[0].rstrip(":")
        assert line.count(url) == 1, line
    between = "\n".join(_section(report, "Conflicts between sites"))
    within = "\n".join(_section(report, "Conflicts within one post"))
    assert "digest-167" in between and "digest-250" in within and "digest-250" not in between


def test_the_web_report_has_the_commands_sections_in_its_order_and_every_number_linked(datasette, archive):
    """One report: the page's sections are the command's (both from storage.report.SECTIONS), and on the page
    every number opens what it counts (an edition, a post, a filtered table, a canned query, the dead links)."""
    from lxml import html as lxml_html

    output = CliRunner().invoke(main, ["report", str(archive)]).output.splitlines()
    assert output[0].startswith("Series report for ")
    cli_titles = [line.split(": ", 1)[0] for line in output[1:] if not line.startswith("  ")]
    page = lxml_html.fromstring(datasette("/-/report/archive").text)
    assert [h2.text_content() for h2 in page.xpath('//section[@class="report-section"]/h2')] == cli_titles
    assert {
        "Digests without a number (dated titles)",
        "Digests with no entries",
        "Digests with no date",
        "Links",
    } <= set(cli_titles)
    # The same text, section by section (the page's pieces joined are the command's lines).
    for section in page.xpath('//section[@class="report-section"]'):
        title = section.xpath("string(h2)")
        summary = section.xpath('string(p[@class="summary"])')
        lines = ["  " + li.text_content() for li in section.xpath("ul/li")]
        assert _section("\n".join(output), title) == [f"{title}: {summary}", *lines], title
    # Every number is linked, and every link answers.
    for text in page.xpath('//section[@class="report-section"]//text()[not(ancestor::a)][not(ancestor::h2)]'):
        for number in re.findall(r"(?<![\w:/.-])\d+(?![\w.:/-])", text):
            raise AssertionError(f"unlinked number {number} in {text!r}")
    addresses = set(page.xpath('//section[@class="report-section"]//a/@href'))
    assert any(a.startswith("/-/edition/archive/") for a in addresses)
    assert any(a.startswith("/archive/digests?number=") for a in addresses)
    for address in sorted(addresses):
        datasette(address)


def test_entries_per_section_per_year_counts_each_edition_entry_once(datasette, archive):
    counted = datasette("/archive/entries_per_section_per_year.json?_shape=array").json()
    total = sum(row["entries"] for row in counted)
    posts = rows(archive, "SELECT count(*) AS n FROM entries")[0]["n"]
    assert total < posts * 0.6  # most entries are on both sites


def test_export_refuses_to_overwrite_unless_told_to(archive, tmp_path):
    out = tmp_path / "export"
    assert CliRunner().invoke(main, ["export", str(archive), "--format", "csv", "--output", str(out)]).exit_code == 0
    again = CliRunner().invoke(main, ["export", str(archive), "--format", "csv", "--output", str(out)])
    assert again.exit_code == 2 and "not overwriting" in again.output
    forced = CliRunner().invoke(main, ["export", str(archive), "--format", "csv", "--output", str(out), "--force"])
    assert forced.exit_code == 0


def test_a_forced_sqlite_export_never_replaces_the_archive_itself_or_a_folder(archive, tmp_path):
    before = archive.read_bytes()
    onto_itself = CliRunner().invoke(
        main, ["export", str(archive), "--format", "sqlite", "--output", str(archive), "--force"]
    )
    assert onto_itself.exit_code == 2 and "the archive itself" in onto_itself.output, onto_itself.output
    assert archive.read_bytes() == before
    folder = tmp_path / "a-folder"
    folder.mkdir()
    onto_folder = CliRunner().invoke(main, ["export", str(archive), "--format", "sqlite", "--output", str(folder)])
    assert onto_folder.exit_code == 2 and "a folder" in onto_folder.output, onto_folder.output
    copy = tmp_path / "copy.db"
    for _ in range(2):  # the second replaces the first, as --force says
        done = CliRunner().invoke(
            main, ["export", str(archive), "--format", "sqlite", "--output", str(copy), "--force"]
        )
        assert done.exit_code == 0, done.output
    assert rows(copy, "SELECT count(*) AS n FROM digests") == rows(archive, "SELECT count(*) AS n FROM digests")


def test_the_feed_pages_back(datasette, archive):
    first = datasette("/-/editions/archive.atom").text
    total = rows(archive, "SELECT count(*) AS n FROM editions")[0]["n"]
    assert ('rel="next"' in first) == (total > 50)
    second = datasette("/-/editions/archive.atom?page=2").text
    assert 'rel="previous"' in second


def test_the_feed_template_escapes_every_value_and_drops_what_xml_cannot_carry(archive):
    """The feed is a Jinja template (reader/templates/editions_feed.xml) rendered by Datasette's environment,
    which autoescapes every template, .xml ones too: markup in a title stays text, a quote cannot end an
    attribute, and characters XML 1.0 cannot carry (NUL, other controls, U+FFFE) are left out."""
    from datasette.app import Datasette
    from lxml import etree

    hostile = "A & B </title><script>x</script> \"quoted\" 'single' \x00\x0b\ufffe end"
    slug = 'x"><entry>&amp;'
    with sqlite3.connect(archive) as connection:
        newest = connection.execute("SELECT id FROM editions ORDER BY updated DESC, id DESC LIMIT 1").fetchone()[0]
        connection.execute("UPDATE editions SET title = ?, slug = ? WHERE id = ?", [hostile, slug, newest])
    response = asyncio.run(Datasette([str(archive)]).client.get("/-/editions/archive.atom"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(response.content, etree.XMLParser(recover=False, resolve_entities=False))
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [entry.findtext(f"{atom}title") for entry in root.iter(f"{atom}entry")]
    assert "A & B </title><script>x</script> \"quoted\" 'single'  end" in titles
    hrefs = [link.get("href") for link in root.iter(f"{atom}link") if link.get("rel") == "alternate"]
    assert any(href.endswith("/-/edition/archive/" + tilde_encode(slug)) for href in hrefs)
    assert len(root.findall(f"{atom}entry")) == min(50, rows(archive, "SELECT count(*) AS n FROM editions")[0]["n"])


# --- 7. layering -----------------------------------------------------------------------------------


def test_the_reader_plugin_does_not_import_scrapy_or_twisted():
    code = (
        "import sys, datasette.app, reader, reader.plugin; "
        "print(sorted(m for m in ('scrapy', 'twisted') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- schema migration (3 → 4) ----------------------------------------------------------------------


def test_an_archive_of_schema_3_gets_slugs_when_opened(archive):
    expected = slugs_by_posts(archive)
    with sqlite3.connect(archive) as connection:
        connection.execute("DROP INDEX idx_editions_slug")
        connection.execute("DROP INDEX editions_day_slug")  # schema 5's, on the slug
        for column in ("slug", "conflicts_between_sites", "conflicts_within_post"):
            connection.execute(f"ALTER TABLE editions DROP COLUMN {column}")
        connection.execute("PRAGMA user_version = 3")
    updated = rows(archive, "SELECT id, updated FROM editions ORDER BY id")
    db = storage.open_database(archive, create=False)
    triggers = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    db.close()
    assert {"digests_ai", "digests_ad", "digests_au", "entries_ai"} <= triggers
    assert slugs_by_posts(archive) == expected
    assert rows(archive, "SELECT id, updated FROM editions ORDER BY id") == updated
