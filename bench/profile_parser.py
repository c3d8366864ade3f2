"""Where the parser's time goes, on the saved post pages (for bench/results.md figure 2).

.venv/bin/python bench/profile_parser.py > bench/profile-parser.txt
"""

import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.parsing import parse_digest  # noqa: E402
from fixtures.cases import PAGE_CASES, case_url  # noqa: E402

PAGES = [((case / "page.html").read_bytes(), case_url(case)) for case in PAGE_CASES]
ROUNDS = 40

profile = cProfile.Profile()
profile.enable()
for _ in range(ROUNDS):
    for body, url in PAGES:
        parse_digest(url, body)
profile.disable()

out = io.StringIO()
stats = pstats.Stats(profile, stream=out)
total = stats.total_tt
stats.sort_stats("cumulative").print_stats(r"crawler/parsing|nh3", 16)
print(f"parse_digest over {len(PAGES)} saved pages x {ROUNDS} rounds, cProfile (times inflated by profiling)")
print(out.getvalue())
