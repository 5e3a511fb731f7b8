"""Profile one page of the benchmark in-process, to see where its time goes.

    .venv/bin/python bench/profile_page.py "deviation board" [--n 30] [--sort cumulative]

Runs against the plant ``bench/pages.py`` built (database ``--db``, default ``mes_bench``),
with the benchmark settings, through Django's test client as the page's user. Prints the
mean time per request of the page and of the floor, then the cProfile statistics of the page's
requests (the first, warming, request is not profiled).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import open_page  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="a page name from bench/pages.py PAGES")
    parser.add_argument("--db", default="mes_bench")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=45)
    args = parser.parse_args(argv)

    page, client, url = open_page(args.page, db=args.db)
    from django.urls import reverse

    from bench.pages import FLOOR

    def timed(path: str, n: int) -> str:
        """Wall and CPU (this process) ms per request, the best of three rounds: CPU time is
        what rendering costs even when other processes share the machine."""
        best_wall = best_cpu = float("inf")
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
            best_wall = min(best_wall, (time.perf_counter() - wall) / n * 1000)
            best_cpu = min(best_cpu, (time.process_time() - cpu) / n * 1000)
        return f"{best_wall:6.1f} ms (cpu {best_cpu:5.1f})"

    floor = reverse(FLOOR)
    timed(url, 2)
    timed(floor, 2)
    print(f"page {timed(url, args.n)}   floor {timed(floor, args.n)}   {url}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.n):
        client.get(url)
    profiler.disable()
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.lines)


if __name__ == "__main__":
    main()
