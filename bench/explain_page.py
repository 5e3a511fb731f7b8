"""EXPLAIN (ANALYZE) of the slowest queries one page of the benchmark runs.

    .venv/bin/python bench/explain_page.py "home (QA Reviewer)" [--top 3]

Runs against the plant ``bench/pages.py`` built (database ``--db``, default ``mes_bench``),
with the benchmark settings, through Django's test client as the page's user: the page is
requested once to warm the session, then once more with its queries captured, and the
``--top`` slowest SELECTs are explained. docs/performance.md quotes its output for the pages
that miss their target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import open_page  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="a page name from bench/pages.py PAGES")
    parser.add_argument("--db", default="mes_bench")
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args(argv)

    page, client, url = open_page(args.page, db=args.db)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    selects = [q for q in captured.captured_queries if q["sql"].lstrip().startswith("SELECT")]
    print(f"{page.name}: {len(captured.captured_queries)} queries, "
          f"{sum(float(q['time']) for q in captured.captured_queries) * 1000:.1f} ms in all")
    with connection.cursor() as cursor:
        for query in sorted(selects, key=lambda q: -float(q["time"]))[:args.top]:
            print(f"\n-- {query['sql'][:160]}...")
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + query["sql"])
            for (line,) in cursor.fetchall():
                print(line)


if __name__ == "__main__":
    main()
